"""CIFAR-10/100 loader: the official python-pickle releases, seeded splits and class draws.

The paper validates its Transforms-2D findings on CIFAR-10 and CIFAR-100 (§4.1, App. C.1) and
builds its irrelevant-feature datasets on CIFAR-10 (§4.2, App. A.2). Everything here reads the
standard releases (``cifar-10-batches-py/``, ``cifar-100-python/``) from a folder given in the
config — overridable with ``INVTRANSFER_CIFAR_DIR`` — and never touches the network: fetching
and verifying the official archives is :mod:`invtransfer.datasets.cifar_download`.

Splits and class draws are pure functions of the seed (counter-based :mod:`invtransfer.rng`):

- ``test`` is the official test set; ``train``/``val`` are a seeded 90 %/10 % split of the official
  training set, stratified by class (4,500/500 per CIFAR-10 class, 450/50 per CIFAR-100 class;
  proportional on fixtures);
- :func:`draw_class_split` draws the target/pretraining halves (C10 5/5, C100 50/50) and the
  subset/superset variants the paper uses (C10 2 of 5 / all 10, C100 17 of 50 / all 100);
- :func:`select_indices` subsamples per class and orders a split (nested: the 10 images kept per
  class are among the 50 kept with the same seed).

Pickles are read with a restricted unpickler that only rebuilds NumPy arrays, so a tampered file
cannot run code. Tests write small releases in the exact format with ``tests/support/fake_cifar.py``.

Why one module of ~530 lines: the release layout, the reader and the seeded selection rules (split,
class draw, per-class subsampling) are the one contract both CIFAR dataset kinds rely on; half of
the lines are input checks with their error messages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from invtransfer.errors import AssetError, ConfigError
from invtransfer.rng import CounterRNG, derive_seed

__all__ = [
    "ARCHIVES",
    "CIFAR_DATASETS",
    "ENV_VAR",
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "RELATIONSHIPS",
    "SAMPLES_PER_CLASS",
    "TARGET_CLASS_COUNT",
    "VAL_FRACTION",
    "CifarArchive",
    "CifarData",
    "ClassSplit",
    "check_available",
    "cifar_archive",
    "cifar_folder",
    "class_names",
    "draw_class_split",
    "how_to_get",
    "load_cifar_split",
    "load_raw_split",
    "resolve_root",
    "select_indices",
    "train_val_indices",
]

log = logging.getLogger("invtransfer.datasets.cifar")

ENV_VAR = "INVTRANSFER_CIFAR_DIR"
CIFAR_DATASETS: tuple[str, ...] = ("cifar10", "cifar100")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
TARGET_CLASS_COUNT = {"cifar10": 5, "cifar100": 50}  # paper §4.1: transfer to the other half
# Pretraining samples per class swept in Fig 7 / Fig 8 (reference SAMPLE_COUNTS_PT).
SAMPLES_PER_CLASS = {"cifar10": (10, 50, 200, 1000, 4500), "cifar100": (10, 50, 100, 250, 500)}
RELATIONSHIPS: tuple[str, ...] = ("subset", "disjoint", "same", "superset")
VAL_FRACTION = 0.1  # 5k of the 50k official training images
IMAGE_SHAPE = (32, 32, 3)
_PIXELS = 32 * 32 * 3

Split = Literal["train", "val", "test"]
RawSplit = Literal["train", "test"]


@dataclass(frozen=True)
class CifarArchive:
    """One official release: where it lives, its checksums and its layout once extracted."""

    dataset: str
    url: str
    md5: str  # published on https://www.cs.toronto.edu/~kriz/cifar.html
    sha256: str | None  # not published by the authors; recorded by Keras and torchvision
    size: int | None  # bytes
    folder: str  # top-level folder inside the archive
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, *self.test_files, self.meta_file)


ARCHIVES: dict[str, CifarArchive] = {
    "cifar10": CifarArchive(
        dataset="cifar10",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        # SHA-256 as pinned by tf.keras.datasets.cifar10 and torchvision's prototype datasets.
        sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        size=170_498_071,
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        meta_file="batches.meta",
        label_key="labels",
        names_key="label_names",
    ),
    "cifar100": CifarArchive(
        dataset="cifar100",
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        # SHA-256 as pinned by tf.keras.datasets.cifar100 and torchvision's prototype datasets.
        sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        size=169_001_437,
        folder="cifar-100-python",
        train_files=("train",),
        test_files=("test",),
        meta_file="meta",
        label_key="fine_labels",
        names_key="fine_label_names",
    ),
}


def cifar_archive(dataset: str) -> CifarArchive:
    """The :class:`CifarArchive` of ``dataset``; an unknown name raises ``ValueError``."""
    if dataset not in ARCHIVES:
        raise ValueError(f"dataset must be one of {list(CIFAR_DATASETS)}, got {dataset!r}")
    return ARCHIVES[dataset]


# -- locating the data ------------------------------------------------------------------------


def resolve_root(configured: str | os.PathLike[str] | None) -> Path:
    """The folder that holds the CIFAR releases: ``$INVTRANSFER_CIFAR_DIR`` if set, else ``configured``.

    The environment variable wins so that one machine can point every config at its own copy
    without editing configs (dataset names do not depend on it: specs keep the folder in ``_root``).
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    if configured is None or str(configured).strip() == "":
        raise ConfigError(
            "no CIFAR folder configured: set the CIFAR root in the config (spec key '_root') "
            f"or the environment variable {ENV_VAR} to the folder that holds "
            "cifar-10-batches-py/ or cifar-100-python/"
        )
    return Path(configured).expanduser()


def cifar_folder(root: str | os.PathLike[str], dataset: str) -> Path:
    """``root/cifar-10-batches-py`` or ``root/cifar-100-python``."""
    return Path(root) / cifar_archive(dataset).folder


def how_to_get(root: Path, arch: CifarArchive) -> str:
    """How to put the release ``arch`` under ``root`` (for error messages)."""
    return (
        f"Get it by setting 'download: true' for CIFAR in the config (fetches {arch.url}, "
        f"md5 {arch.md5}), or by hand: download {arch.filename}, check `md5sum` prints {arch.md5}, "
        f"and run `tar -xzf {arch.filename} -C {root}`; or point {ENV_VAR} at a folder that "
        f"already holds {arch.folder}/."
    )


def check_available(root: str | os.PathLike[str], dataset: str) -> Path:
    """Return the release folder, or raise one :class:`AssetError` naming what is missing and how to get it."""
    arch = cifar_archive(dataset)
    root = Path(root)
    folder = root / arch.folder
    missing = [name for name in arch.files if not (folder / name).is_file()]
    if missing:
        what = (
            "folder is missing" if not folder.is_dir() else f"files missing: {', '.join(missing)}"
        )
        raise AssetError(
            f"{dataset} not found: expected {folder} with {', '.join(arch.files)} ({what}). "
            + how_to_get(root, arch)
        )
    return folder


# -- reading the pickles -------------------------------------------------------------------------


def _numpy_multiarray() -> str:
    try:
        import numpy._core.multiarray  # noqa: F401  (NumPy >= 2)

        return "numpy._core.multiarray"
    except ImportError:  # pragma: no cover - NumPy 1.x
        return "numpy.core.multiarray"


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and plain containers only: a tampered pickle cannot run code."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only NumPy arrays)")
        if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            module = _numpy_multiarray()  # old pickles name numpy.core, which NumPy 2 deprecates
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            obj = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError as exc:
        raise AssetError(f"{path}: file not found") from exc
    except Exception as exc:  # any unpickling failure means a corrupt or foreign file
        raise AssetError(
            f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: {exc}); the file is "
            "corrupt or truncated — delete the release folder and download it again"
        ) from exc
    if not isinstance(obj, dict):
        raise AssetError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _field(path: Path, batch: dict[str, Any], key: str) -> Any:
    if key not in batch:
        raise AssetError(f"{path}: key {key!r} missing (keys: {sorted(batch)}); not a CIFAR file")
    return batch[key]


def _read_batch(path: Path, label_key: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _read_pickle(path)
    data = _field(path, batch, "data")
    labels = np.asarray(_field(path, batch, label_key))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise AssetError(
            f"{path}: 'data' must be a uint8 array of shape (N, {_PIXELS}), got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if data.shape[1] != _PIXELS:
        raise AssetError(
            f"{path}: 'data' has shape {data.shape}, expected (N, {_PIXELS}) (32×32×3)"
        )
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise AssetError(
            f"{path}: {label_key!r} has shape {labels.shape}, expected ({data.shape[0]},) "
            "(one label per image)"
        )
    if labels.size and (
        not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= n_classes
    ):
        raise AssetError(f"{path}: {label_key!r} must hold integers in [0, {n_classes})")
    # Rows are channel-planar (1024 R, 1024 G, 1024 B), each plane row-major.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


@dataclass(frozen=True)
class CifarData:
    """Images of one split with their labels (read-only arrays; the class names come from the meta)."""

    images: np.ndarray  # uint8 N×32×32×3
    labels: np.ndarray  # int64 (N,), original class ids
    class_names: tuple[str, ...]  # indexed by original class id

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def class_names(root: str | os.PathLike[str], dataset: str) -> tuple[str, ...]:
    """The class names from the release's meta file, indexed by original class id."""
    arch = cifar_archive(dataset)
    path = check_available(root, dataset) / arch.meta_file
    names = _field(path, _read_pickle(path), arch.names_key)
    if not isinstance(names, list) or len(names) != NUM_CLASSES[dataset]:
        raise AssetError(
            f"{path}: {arch.names_key!r} must list {NUM_CLASSES[dataset]} class names, "
            f"got {len(names) if isinstance(names, list) else type(names).__name__}"
        )
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


_CACHE: dict[tuple[Any, ...], CifarData] = {}
_CACHE_SIZE = 2  # the training set is 150 MB; train and val builds reuse it


def load_raw_split(root: str | os.PathLike[str], dataset: str, split: RawSplit) -> CifarData:
    """The official ``train`` (all batches, in file order) or ``test`` set.

    Results are cached per (folder, split, file sizes and mtimes), so building the train and val
    splits of one dataset reads the pickles once.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' (official files), got {split!r}")
    arch = cifar_archive(dataset)
    folder = check_available(root, dataset)
    files = arch.train_files if split == "train" else arch.test_files
    paths = [folder / name for name in files]
    stats = tuple(
        (p.stat().st_size, p.stat().st_mtime_ns) for p in [*paths, folder / arch.meta_file]
    )
    key = (str(folder.resolve()), split, stats)
    if key in _CACHE:
        return _CACHE[key]
    names = class_names(root, dataset)
    parts = [_read_batch(p, arch.label_key, NUM_CLASSES[dataset]) for p in paths]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    images.setflags(write=False)
    labels.setflags(write=False)
    data = CifarData(images, labels, names)
    while len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = data
    return data


# -- seeded splits and class draws ----------------------------------------------------------------


def _sort_by_keys(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions sorting ``keys`` ascending, ties (astronomically rare) broken by ``ids``."""
    return np.lexsort((ids, keys))


def train_val_indices(
    labels: np.ndarray, seed: int, val_fraction: float = VAL_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of the official training set, stratified by class: (train, val) indices,
    each ascending.

    Per class with ``n_c`` images, the ``round(val_fraction · n_c)`` with the smallest keys under
    ``(seed, n)`` go to val: 500 of each CIFAR-10 class's 5,000 (4,500 stay in train, the paper's
    largest per-class grid value, Fig 7) and 50 of each CIFAR-100 class's 500. The reference's
    ``random_split(45k, 5k)`` was not stratified, which leaves most seeds with some classes below
    4,500 training images (docs/FIDELITY.md).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise TypeError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    key = (
        hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64)).digest(),
        seed,
        val_fraction,
    )
    if key not in _SPLIT_CACHE:
        while len(_SPLIT_CACHE) >= _SPLIT_CACHE_SIZE:
            _SPLIT_CACHE.pop(next(iter(_SPLIT_CACHE)))
        _SPLIT_CACHE[key] = _stratified_split(labels, seed, val_fraction)
    train, val = _SPLIT_CACHE[key]
    return train.copy(), val.copy()


_SPLIT_CACHE: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}
_SPLIT_CACHE_SIZE = 64  # (labels, seed) pairs: every dataset of a seed reuses its split


def _stratified_split(
    labels: np.ndarray, seed: int, val_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    n = labels.size
    ids = np.arange(n)
    keys = CounterRNG(derive_seed(seed, "cifar-train-val", n), ids).permutation_keys("split")
    order = _sort_by_keys(keys, ids)
    # rank of each image among the images of its class, in key order
    by_class = order[np.argsort(labels[order], kind="stable")]
    counts = np.bincount(labels, minlength=int(labels.max()) + 1 if n else 0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[by_class] = np.arange(n) - np.repeat(starts, counts)
    n_val = np.floor(val_fraction * counts + 0.5).astype(np.int64)  # round half up, per class
    is_val = rank < n_val[labels]
    return ids[~is_val], ids[is_val]


def load_cifar_split(
    root: str | os.PathLike[str],
    dataset: str,
    split: Split,
    seed: int,
    *,
    val_fraction: float = VAL_FRACTION,
) -> tuple[CifarData, np.ndarray]:
    """One of the paper's splits and the index of each image in its official file.

    ``test`` is the official test set; ``train``/``val`` come from :func:`train_val_indices`
    (``val_fraction`` of each class of the official training set goes to val).
    Returns ``(data, source_index)`` where ``source_index[i]`` is the position of image ``i`` in
    the official training set (train, val) or test set (test) — the ``cifar_index`` column.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be one of train, val, test, got {split!r}")
    if split == "test":
        data = load_raw_split(root, dataset, "test")
        return data, np.arange(len(data))
    full = load_raw_split(root, dataset, "train")
    train_idx, val_idx = train_val_indices(full.labels, seed, val_fraction)
    idx = train_idx if split == "train" else val_idx
    return CifarData(full.images[idx], full.labels[idx], full.class_names), idx


@dataclass(frozen=True)
class ClassSplit:
    """One seed's class draw (original class ids, in draw order).

    ``target`` is the transfer task; pretraining uses ``pretraining(relationship)``: ``same`` (the
    target classes), ``disjoint`` (the other half), ``subset`` (the first ``max(2, round(k/3))``
    target classes: C10 2 of 5, C100 17 of 50) or ``superset`` (all classes, target first).
    """

    dataset: str
    target: tuple[int, ...]
    disjoint: tuple[int, ...]
    subset: tuple[int, ...]
    superset: tuple[int, ...]

    def pretraining(self, relationship: str) -> tuple[int, ...]:
        if relationship == "same":
            return self.target
        if relationship in ("subset", "disjoint", "superset"):
            return getattr(self, relationship)  # type: ignore[no-any-return]
        raise ValueError(f"relationship must be one of {list(RELATIONSHIPS)}, got {relationship!r}")


def draw_class_split(dataset: str, seed: int) -> ClassSplit:
    """Draw the target/pretraining classes for one seed (a pure function of ``(dataset, seed)``)."""
    n = NUM_CLASSES[cifar_archive(dataset).dataset]
    k = TARGET_CLASS_COUNT[dataset]
    ids = np.arange(n)
    keys = CounterRNG(derive_seed(seed, "cifar-classes", dataset), ids).permutation_keys("classes")
    perm = tuple(int(c) for c in ids[_sort_by_keys(keys, ids)])
    target, disjoint = perm[:k], perm[k : 2 * k]
    return ClassSplit(dataset, target, disjoint, target[: max(2, round(k / 3))], perm)


def select_indices(
    labels: np.ndarray,
    source_index: np.ndarray,
    classes: Sequence[int],
    *,
    seed: int,
    order_seed: int,
    stream: str,
    per_class: int | None = None,
    count: int | float | None = None,
) -> np.ndarray:
    """Positions (into ``labels``) of the images a dataset keeps, in dataset order.

    1. keep images whose label is in ``classes``;
    2. ``per_class``: per class, the ``per_class`` images with the smallest keys under
       ``(seed, stream)`` — keyed by ``source_index``, so smaller draws are nested in larger ones;
    3. order the rest by keys under ``(order_seed, stream)`` (changing ``order_seed`` alone only
       permutes the same images);
    4. ``count``: keep the first ``count`` (an int) or ``round(count · n)`` (a float in (0, 1]).
    """
    labels = np.asarray(labels)
    source_index = np.asarray(source_index)
    if labels.shape != source_index.shape or labels.ndim != 1:
        raise TypeError(
            f"labels {labels.shape} and source_index {source_index.shape} must be 1-D and equal"
        )
    class_arr = np.asarray(list(classes), dtype=np.int64)
    if class_arr.size == 0 or np.unique(class_arr).size != class_arr.size:
        raise ValueError(f"classes must be a non-empty list without repeats, got {list(classes)}")
    pool = np.flatnonzero(np.isin(labels, class_arr))
    if per_class is not None:
        if (
            isinstance(per_class, bool)
            or not isinstance(per_class, (int, np.integer))
            or per_class < 1
        ):
            raise ValueError(f"samples per class must be a positive int or null, got {per_class!r}")
        keys = CounterRNG(derive_seed(seed, "cifar-subsample", stream), source_index[pool])
        sub_keys = keys.permutation_keys("subsample")
        kept = []
        for c in class_arr:
            members = np.flatnonzero(labels[pool] == c)
            if members.size < per_class:
                raise ValueError(
                    f"{stream}: class {int(c)} has {members.size} images, fewer than the "
                    f"{per_class} samples per class requested"
                )
            best = members[
                _sort_by_keys(sub_keys[members], source_index[pool][members])[:per_class]
            ]
            kept.append(pool[best])
        pool = np.sort(np.concatenate(kept))
    rng = CounterRNG(derive_seed(order_seed, "cifar-order", stream), source_index[pool])
    pool = pool[_sort_by_keys(rng.permutation_keys("order"), source_index[pool])]
    if count is None:
        return pool
    if isinstance(count, bool):
        raise ValueError(f"{stream}: split size must be an int, a fraction or null, got {count!r}")
    if isinstance(count, (int, np.integer)):
        if not 0 <= count <= pool.size:
            raise ValueError(
                f"{stream}: {count} samples requested but only {pool.size} are available"
            )
        return pool[: int(count)]
    if isinstance(count, float) and 0.0 < count <= 1.0:
        return pool[: round(count * pool.size)]
    raise ValueError(
        f"{stream}: split size must be a non-negative int, a fraction in (0, 1] or null, got {count!r}"
    )
