"""CIFAR-10/100 with the Transforms-2D transformations as augmentations (dataset kind ``"cifar"``).

The paper checks its Transforms-2D findings on real images by applying the same 18
transformations to whole CIFAR images (§4.1, App. C.1, D.1; reference ``utils/data.py``): the
image is an object layer with alpha = 1 everywhere, transformed with the same parameter
distributions, and composited onto black, so regions uncovered by geometric transformations are
black. ``translate`` moves the whole image by up to 30 % of its size in either direction per axis
(``transform_options.translate = "image"``); the reference's right/down-only 4–13 px shift is
``"image-reference"``.

Spec (all keys but ``kind`` and ``dataset`` have defaults)::

    {"kind": "cifar", "dataset": "cifar10" | "cifar100",
     "classes": [3, 5, ...] | null,          # original class ids; labels are 0..k-1 in this order
     "samples_per_class": {"train": 200, "val": null, "test": null} | null,
     "splits": {"train": null, "val": null, "test": 10000},   # null = all, int = count,
                                                              # float in (0, 1] = fraction
     "val_fraction": 0.1,                    # seeded train/val split of the official training set
     "image_size": 32,                       # != 32 resizes (antialiased bilinear) before transforming
     "transforms": [...], "transform_options": {...},
     "seed": 0, "transform_seed": 0, "shard_size": 10000,
     "_root": "data/cifar", "_download": false}   # "_" keys are not hashed

Which images, and in which order, depend on ``(dataset, classes, samples_per_class, splits,
val_fraction, seed)`` only (:func:`invtransfer.datasets.cifar.select_indices`); the transformation
of each image on ``(transform_seed, dataset, split, cifar_index)``. A *twin* for the sens metric is
the same spec with another ``transform_seed``: same image at every index, new transformation draws.
Per-sample parameters are stored in ``samples.parquet`` next to ``cifar_index`` (the image's index
in the official training file for train/val, in the test file for test) and ``cifar_label``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from invtransfer.datasets import cifar
from invtransfer.datasets.base import BuildPlan
from invtransfer.datasets.cifar_download import ensure_cifar
from invtransfer.datasets.compose import whole_image_layer
from invtransfer.datasets.render import EpochRenderer, epoch_transform_seed, render_layers
from invtransfer.datasets.validate import (
    MAX_SEED,
    UNIVERSAL_KEYS,
    canonical_transform_options,
    canonical_transforms,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_mapping,
    fail,
)
from invtransfer.rng import CounterRNG, derive_seed

__all__ = [
    "CIFAR_KEYS",
    "SPEC_KEYS",
    "CifarRenderer",
    "CifarSelection",
    "build",
    "canonical_cifar_keys",
    "canonical_locations",
    "canonicalize_spec",
    "select_split",
]

log = logging.getLogger("invtransfer.datasets.cifar_aug")

SPLIT_NAMES = ("train", "val", "test")
#: Keys shared by both CIFAR kinds (which images, from where); see :func:`canonical_cifar_keys`.
CIFAR_KEYS = ("dataset", "classes", "samples_per_class", "splits", "val_fraction", "image_size")
SPEC_KEYS = (*UNIVERSAL_KEYS, *CIFAR_KEYS)


def _split_size(value: Any, key: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, float) and value == 1.0:
        raise fail(key, "1.0 is ambiguous: use null for every image or the int 1 for one image")
    if isinstance(value, float) and not value.is_integer():
        return check_float(value, key, low=0.0, high=1.0, low_open=True)
    return check_int(value, key, minimum=1)


def canonical_cifar_keys(
    spec: Mapping[str, Any], default_dataset: str | None = None
) -> dict[str, Any]:
    """Validate and fill the keys in :data:`CIFAR_KEYS` (both CIFAR kinds use them).

    ``splits`` values: ``null`` (every selected image), an int count, or a fraction in (0, 1)
    (``1.0`` is rejected as ambiguous). ``samples_per_class`` maps a split to images per class (``null`` = all);
    every split is listed in the canonical form.
    """
    if "dataset" not in spec and default_dataset is None:
        raise fail("dataset", f"is required (one of {', '.join(cifar.CIFAR_DATASETS)})")
    dataset = check_choice(spec.get("dataset", default_dataset), "dataset", cifar.CIFAR_DATASETS)
    n_classes = cifar.NUM_CLASSES[dataset]

    classes = spec.get("classes")
    if classes is None:
        classes = list(range(n_classes))
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise fail("classes", f"expected a non-empty list of class ids, got {classes!r}")
    canonical_classes: list[int] = []
    for i, c in enumerate(classes):
        c = check_int(c, f"classes[{i}]", minimum=0, maximum=n_classes - 1)
        if c in canonical_classes:
            raise fail(f"classes[{i}]", f"class {c} is listed twice")
        canonical_classes.append(c)

    given_splits = spec.get("splits", dict.fromkeys(SPLIT_NAMES))
    given_splits = check_mapping(given_splits, "splits", SPLIT_NAMES)
    splits = {
        s: _split_size(given_splits[s], f"splits.{s}") for s in SPLIT_NAMES if s in given_splits
    }
    if not splits:
        raise fail("splits", f"give at least one of {', '.join(SPLIT_NAMES)}")

    spc_given = spec.get("samples_per_class")
    spc_given = check_mapping(
        {} if spc_given is None else spc_given, "samples_per_class", SPLIT_NAMES
    )
    samples_per_class = {
        s: None
        if spc_given.get(s) is None
        else check_int(spc_given[s], f"samples_per_class.{s}", minimum=1)
        for s in SPLIT_NAMES
    }
    return {
        "dataset": dataset,
        "classes": canonical_classes,
        "samples_per_class": samples_per_class,
        "splits": splits,
        "val_fraction": check_float(
            spec.get("val_fraction", cifar.VAL_FRACTION),
            "val_fraction",
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
        ),
        "image_size": check_int(spec.get("image_size", 32), "image_size", minimum=4, maximum=4096),
    }


def canonical_locations(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The ``_``-prefixed keys of a CIFAR spec (``_root``, ``_download``: not hashed), checked."""
    out = {k: v for k, v in spec.items() if k.startswith("_")}
    if "_download" in out:
        check_bool(out["_download"], "_download")
    return out


def canonicalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Kind ``cifar``'s ``canonicalize`` (see :mod:`invtransfer.datasets.kinds`): the canonical spec.

    ``transform_options.translate = "object"`` (the Transforms-2D default) is mapped to
    ``"image"``: a whole image has no object to place, and the paper's CIFAR translation is the
    image shift. Idempotent.
    """
    check_mapping(spec, "", SPEC_KEYS)
    if spec.get("kind", "cifar") != "cifar":
        raise fail("kind", f"cifar_aug builds kind 'cifar', got {spec.get('kind')!r}")
    seed = check_int(spec.get("seed", 0), "seed", minimum=0, maximum=MAX_SEED)
    options = canonical_transform_options(spec.get("transform_options"))
    if options["translate"] == "object":
        options["translate"] = "image"
    out: dict[str, Any] = {
        "kind": "cifar",
        "transforms": canonical_transforms(spec.get("transforms", [])),
        "transform_options": options,
        "seed": seed,
        "transform_seed": check_int(
            spec.get("transform_seed", seed), "transform_seed", minimum=0, maximum=MAX_SEED
        ),
        "shard_size": check_int(spec.get("shard_size", 10_000), "shard_size", minimum=1),
        **canonical_cifar_keys(spec),
    }
    out.update(canonical_locations(spec))
    return out


# -- selecting the images of a split -------------------------------------------------------------


@dataclass(frozen=True)
class CifarSelection:
    """The CIFAR images of one dataset split, in dataset order (gathered lazily, chunk by chunk)."""

    source: cifar.CifarData  # the official file (train for train/val, test for test), shared
    cifar_index: np.ndarray  # int64 (n,), rows of ``source`` in dataset order
    cifar_label: np.ndarray  # int64 (n,), original class ids
    label: np.ndarray  # int64 (n,), position of cifar_label in spec["classes"]
    class_names: tuple[str, ...]  # names of spec["classes"], in order

    def __len__(self) -> int:
        return int(self.cifar_index.shape[0])

    def images(self, part: slice = slice(None)) -> np.ndarray:
        """uint8 ``n×32×32×3`` images of ``part`` (a fresh array)."""
        return self.source.images[self.cifar_index[part]]


def _root(spec: Mapping[str, Any]) -> Any:
    root = cifar.resolve_root(spec.get("_root"))
    return ensure_cifar(root, spec["dataset"], download=bool(spec.get("_download", False))).parent


def select_split(
    spec: Mapping[str, Any], split: str, order_seed: int | None = None
) -> CifarSelection:
    """The images of ``split`` for a canonical CIFAR spec (``order_seed`` defaults to ``seed``).

    Same selection as :func:`invtransfer.datasets.cifar.load_cifar_split` followed by
    :func:`~invtransfer.datasets.cifar.select_indices`, without copying the split's images: only
    row indices are kept and images are gathered per chunk from the (cached) official file.
    """
    if split not in spec["splits"]:
        raise ValueError(f"split {split!r} is not in this dataset (has {list(spec['splits'])})")
    order_seed = spec["seed"] if order_seed is None else order_seed
    dataset = spec["dataset"]
    raw = cifar.load_raw_split(_root(spec), dataset, "test" if split == "test" else "train")
    if split == "test":
        candidates = np.arange(len(raw), dtype=np.int64)
    else:
        train_idx, val_idx = cifar.train_val_indices(raw.labels, spec["seed"], spec["val_fraction"])
        candidates = train_idx if split == "train" else val_idx
    pos = cifar.select_indices(
        raw.labels[candidates],
        candidates,
        spec["classes"],
        seed=spec["seed"],
        order_seed=order_seed,
        stream=f"{dataset}/{split}",
        per_class=spec["samples_per_class"][split],
        count=spec["splits"][split],
    )
    rows = candidates[pos].astype(np.int64)
    lut = np.full(cifar.NUM_CLASSES[dataset], -1, dtype=np.int64)
    lut[spec["classes"]] = np.arange(len(spec["classes"]))
    labels = raw.labels[rows].astype(np.int64)
    return CifarSelection(
        source=raw,
        cifar_index=rows,
        cifar_label=labels,
        label=lut[labels],
        class_names=tuple(raw.class_names[c] for c in spec["classes"]),
    )


# -- image helpers -------------------------------------------------------------------------------


# -- the plan ------------------------------------------------------------------------------------


class _CifarAugPlan(BuildPlan):
    """Chunks of one augmented CIFAR dataset; the selection of every split is made up front."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self._selection: dict[str, CifarSelection] = {}
        counts = {}
        names: tuple[str, ...] = ()
        for split in spec["splits"]:
            sel = select_split(spec, split)
            self._selection[split] = sel
            counts[split] = len(sel)
            names = sel.class_names
        super().__init__(
            class_names=list(names),
            splits=counts,
            info={
                "cifar": {
                    "dataset": spec["dataset"],
                    "classes": [
                        {"label": i, "cifar_label": c, "name": n}
                        for i, (c, n) in enumerate(zip(spec["classes"], names, strict=True))
                    ],
                    "counts": counts,
                }
            },
        )

    def chunks(
        self, split: str, chunk_size: int = 256
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """Images and metadata of ``split`` in index order, ``chunk_size`` at a time."""
        from invtransfer.transforms import TransformOptions

        if split not in self._selection:
            raise ValueError(
                f"split {split!r} is not in this dataset (has {list(self._selection)})"
            )
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        spec, sel = self.spec, self._selection[split]
        size, names = spec["image_size"], spec["transforms"]
        options = TransformOptions(
            **{k: v for k, v in spec["transform_options"].items() if not k.startswith("_")}
        )
        key = self.transform_key(split, spec["transform_seed"])
        class_names = np.array(self.class_names, dtype=object)
        n = len(sel)
        for start in range(0, n, chunk_size):
            s = slice(start, min(n, start + chunk_size))
            meta: dict[str, Any] = {
                "index": np.arange(s.start, s.stop, dtype=np.int64),
                "split": np.full(s.stop - s.start, split, dtype=object),
                "label": sel.label[s],
                "class_name": class_names[sel.label[s]],
                "cifar_index": sel.cifar_index[s],
                "cifar_label": sel.cifar_label[s],
            }
            source = sel.images(s)
            if not names and size == source.shape[1]:
                images = source  # exact: no float round trip
            else:
                layer = whole_image_layer(source, size)
                black = torch.zeros(layer.shape[0], size, size, 3)
                rng = CounterRNG(key, sel.cifar_index[s])
                out, columns = render_layers(layer, black, names, rng, options, overwrite=True)
                meta.update({c: np.asarray(v) for c, v in columns.items()})
                images = out.contiguous().numpy()
            yield images, pd.DataFrame(meta)

    def transform_key(self, split: str, transform_seed: int) -> int:
        """The ``CounterRNG`` key of a split's transformation draws (indexed by CIFAR index)."""
        return derive_seed(transform_seed, self.spec["dataset"], split, "cifar-transforms")

    def renderer(self, split: str, device: torch.device | str, *, name: str) -> CifarRenderer:
        """Per-epoch rendering of ``split`` on ``device`` (see :mod:`~invtransfer.datasets.render`)."""
        if split not in self._selection:
            raise ValueError(
                f"split {split!r} is not in this dataset (has {list(self._selection)})"
            )
        return CifarRenderer(self, split, torch.device(device), name=name)


class CifarRenderer(EpochRenderer):
    """Epoch ``e`` of an augmented CIFAR split: the split's base images stay resident on the
    device as ``uint8``; each batch becomes an opaque layer, is transformed with the epoch's draws
    (keyed by CIFAR index, like :meth:`_CifarAugPlan.chunks`) and composited onto black."""

    def __init__(self, plan: _CifarAugPlan, split: str, device: torch.device, *, name: str):
        sel = plan._selection[split]
        super().__init__(
            dataset=name,
            spec=plan.spec,
            split=split,
            labels=sel.label,
            counters=sel.cifar_index,
            class_names=plan.class_names,
            device=device,
        )
        self._plan_key = plan.transform_key
        self._images = torch.from_numpy(np.ascontiguousarray(sel.images())).to(device)

    def transform_key(self, epoch: int) -> int:
        return self._plan_key(self.split, epoch_transform_seed(self.spec["transform_seed"], epoch))

    def _layers(self, rows: torch.Tensor) -> torch.Tensor:
        return whole_image_layer(self._images[rows], self.image_shape[0])

    def _backgrounds(self, rows: torch.Tensor) -> torch.Tensor:
        size = self.image_shape[0]
        return torch.zeros(rows.shape[0], size, size, 3, device=self.device)


def build(spec: Mapping[str, Any]) -> BuildPlan:
    """The build plan of a ``cifar`` spec (reads the CIFAR files; raises AssetError if absent)."""
    return _CifarAugPlan(canonicalize_spec(spec))
