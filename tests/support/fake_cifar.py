"""Fake CIFAR releases for tests and benchmarks (test support, not part of the package).

:func:`write_fake_cifar` writes a release in the exact official pickle layout (learnable
synthetic images, or black ones for tests that only need the label counts of a release of the
real size); :func:`read_png_fixture` reads the 20 real CIFAR-10 test images kept in
``tests/fixtures/cifar``. Tests import it as ``support.fake_cifar`` (pytest puts ``tests/`` on
the path); bench scripts add ``tests/`` to ``sys.path`` first (``bench/_common.py``).
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from invtransfer.datasets.cifar import IMAGE_SHAPE, NUM_CLASSES, cifar_archive
from invtransfer.errors import AssetError
from invtransfer.rng import derive_seed

__all__ = ["FIXTURE", "OBJECTS", "read_png_fixture", "write_fake_cifar"]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cifar"
_PIXELS = 32 * 32 * 3

#: Ten bundled objects for the CIFAR+objects datasets of the tests and the benchmarks (any ten
#: distinct classes would do; one list, so both build the same datasets).
OBJECTS = [
    "banana",
    "binoculars",
    "broccoli",
    "candle",
    "cello",
    "hammer",
    "koala",
    "lemon",
    "magpie",
    "teapot",
]

_FIXTURE_NAME = re.compile(r"^cifar10_(\d+)_(\d+)\.png$")


def read_png_fixture(folder: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read ``cifar10_{NN}_{label}.png`` files (foolbox's real CIFAR-10 test images #0–19).

    Returns ``(images uint8 N×32×32×3, labels int64)`` ordered by ``NN``.
    """
    from PIL import Image

    folder = Path(folder)
    entries = []
    for path in folder.iterdir() if folder.is_dir() else []:
        match = _FIXTURE_NAME.match(path.name)
        if match:
            entries.append((int(match.group(1)), int(match.group(2)), path))
    if not entries:
        raise AssetError(f"{folder}: no cifar10_NN_LABEL.png files found")
    images, labels = [], []
    for _, label, path in sorted(entries):
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
        if arr.shape != IMAGE_SHAPE:
            raise AssetError(f"{path}: expected a 32×32 RGB image, got shape {arr.shape}")
        images.append(arr)
        labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _fake_images(labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Class-dependent smooth colour patterns plus per-image noise and brightness (learnable)."""
    n = labels.shape[0]
    coarse = np.random.default_rng(derive_seed("fake-cifar-classes", n_classes)).random(
        (n_classes, 4, 4, 3), dtype=np.float32
    )
    # Nearest 4×4 → 32×32 upsampling keeps it cheap; per-image jitter makes images distinct.
    patterns = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    out = np.empty((n, 32, 32, 3), dtype=np.uint8)
    step = 4096
    for start in range(0, n, step):
        lab = labels[start : start + step]
        m = lab.shape[0]
        gain = rng.uniform(0.6, 1.0, (m, 1, 1, 1)).astype(np.float32)
        noise = rng.normal(0.0, 0.08, (m, 32, 32, 3)).astype(np.float32)
        img = np.clip(patterns[lab] * gain + noise, 0.0, 1.0)
        out[start : start + m] = np.rint(img * 255.0).astype(np.uint8)
    return out


def _balanced_labels(n_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), per_class)
    return labels[rng.permutation(labels.size)]


def _to_rows(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(images.shape[0], _PIXELS))


def _dump(path: Path, obj: dict[bytes, Any]) -> None:
    # Protocol 2 and bytes keys: what the official Python-2 pickles decode to with encoding="bytes".
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_fake_cifar(
    root: str | os.PathLike[str],
    dataset: str,
    n_train_per_class: int,
    n_test_per_class: int,
    seed: int,
    *,
    real_test_images: tuple[np.ndarray, np.ndarray] | None = None,
    blank: bool = False,
) -> Path:
    """Write a small CIFAR release in the exact official pickle layout; return its folder.

    Images are synthetic (a smooth per-class colour pattern with per-image noise), so a model
    can learn the classes; ``blank=True`` writes black images instead (fast: for tests that only
    need the label counts of a release of the real size). ``real_test_images`` — e.g.
    :func:`read_png_fixture` of the real foolbox images — are placed first in the test set with
    their labels. CIFAR-10 training images are spread over ``data_batch_1..5`` as in the release.
    Deterministic in ``seed``.
    """
    arch = cifar_archive(dataset)
    n_classes = NUM_CLASSES[dataset]
    if n_train_per_class < 1 or n_test_per_class < 0:
        raise ValueError(
            f"need n_train_per_class >= 1 and n_test_per_class >= 0, got "
            f"{n_train_per_class}, {n_test_per_class}"
        )
    rng = np.random.default_rng(derive_seed(seed, "fake-cifar", dataset))

    def images(labels: np.ndarray) -> np.ndarray:
        if blank:
            return np.zeros((labels.size, *IMAGE_SHAPE), dtype=np.uint8)
        return _fake_images(labels, n_classes, rng)

    train_labels = _balanced_labels(n_classes, n_train_per_class, rng)
    train_images = images(train_labels)
    test_labels = _balanced_labels(n_classes, n_test_per_class, rng)
    test_images = images(test_labels)
    if real_test_images is not None:
        real_images, real_labels = real_test_images
        if real_images.dtype != np.uint8 or real_images.shape[1:] != IMAGE_SHAPE:
            raise TypeError(f"real_test_images must be uint8 N×32×32×3, got {real_images.shape}")
        test_images = np.concatenate([real_images, test_images])
        test_labels = np.concatenate([np.asarray(real_labels, dtype=np.int64), test_labels])

    folder = Path(root) / arch.folder
    folder.mkdir(parents=True, exist_ok=True)
    names = _fake_class_names(dataset)
    if dataset == "cifar10":
        _dump(
            folder / arch.meta_file,
            {
                b"num_cases_per_batch": len(train_labels) // 5,
                b"label_names": names,
                b"num_vis": _PIXELS,
            },
        )
        for i, chunk in enumerate(np.array_split(np.arange(train_labels.size), 5), start=1):
            _dump(
                folder / f"data_batch_{i}",
                _batch10(f"training batch {i} of 5", train_images[chunk], train_labels[chunk]),
            )
        _dump(folder / "test_batch", _batch10("testing batch 1 of 1", test_images, test_labels))
    else:
        _dump(
            folder / arch.meta_file,
            {
                b"fine_label_names": names,
                b"coarse_label_names": [b"superclass_%d" % i for i in range(20)],
            },
        )
        _dump(folder / "train", _batch100("training", train_images, train_labels))
        _dump(folder / "test", _batch100("testing", test_images, test_labels))
    return folder


def _fake_class_names(dataset: str) -> list[bytes]:
    if dataset == "cifar10":
        return [
            n.encode()
            for n in (
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            )
        ]
    return [b"class_%02d" % i for i in range(NUM_CLASSES[dataset])]


def _batch10(label: str, images: np.ndarray, labels: np.ndarray) -> dict[bytes, Any]:
    return {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": _to_rows(images),
        b"filenames": [b"fake_%05d.png" % i for i in range(labels.size)],
    }


def _batch100(label: str, images: np.ndarray, labels: np.ndarray) -> dict[bytes, Any]:
    return {
        b"filenames": [b"fake_%05d.png" % i for i in range(labels.size)],
        b"batch_label": label.encode(),
        b"fine_labels": [int(v) for v in labels],
        b"coarse_labels": [int(v) // 5 for v in labels],
        b"data": _to_rows(images),
    }
