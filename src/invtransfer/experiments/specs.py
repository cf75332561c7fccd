"""Shared helpers of the experiment families: dataset specs from the config, seeds and draws.

The spec builders return the datasets package's spec dicts (see
:mod:`invtransfer.datasets.spec`); keys starting with ``_`` (paths) are locations, not content,
and stay out of the dataset's name hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from invtransfer.config import CIFAR_CLASSES
from invtransfer.datasets.validate import pixels_entry
from invtransfer.errors import ConfigError
from invtransfer.rng import derive_seed

__all__ = [
    "CIFAR_CLASSES",
    "all_transforms",
    "categories",
    "check_background_bank",
    "cifar_spec",
    "draw_objects",
    "ife_spec",
    "object_pool",
    "random_spec",
    "rng",
    "seed_list",
    "t2d_spec",
    "twin_seed",
]

#: data.transform_options keys that only whole images (CIFAR) use.
_WHOLE_IMAGE_OPTIONS = ("cifar_translate", "image_translate_fraction")


def rng(*parts: int | str) -> np.random.Generator:
    """A numpy generator seeded by :func:`invtransfer.rng.derive_seed` of ``parts``."""
    return np.random.default_rng(derive_seed(*parts))


def seed_list(config: Mapping[str, Any]) -> list[int]:
    start = int(config["seed_offset"])
    return list(range(start, start + int(config["seeds"])))


def twin_seed(seed: int, which: str = "b") -> int:
    """The transformation seed of a sens twin (same objects and backgrounds, new draws)."""
    return derive_seed("twin", which, seed) & 0x7FFFFFFF


def categories() -> dict[str, tuple[str, ...]]:
    from invtransfer.transforms import CATEGORIES

    return dict(CATEGORIES)


def all_transforms() -> list[str]:
    from invtransfer.transforms import TRANSFORMS

    return list(TRANSFORMS)


def object_pool(config: Mapping[str, Any]) -> list[str]:
    """The object classes the config selects (``assets.objects``: count or names), in order."""
    from invtransfer.assets import selected_object_names

    return selected_object_names(config["assets"]["objects"])


def check_background_bank(config: Mapping[str, Any]) -> None:
    """With ``top-left`` crops (the reference's one background per photo; ``auto`` for
    SI-Score) the bank cannot be larger than the photos a split may use: a
    :class:`ConfigError` naming both numbers at plan time, not when the first dataset builds."""
    from invtransfer.assets import background_photo_names, resolve_crops, split_photo_counts

    bg = config["assets"]["backgrounds"]
    crops = resolve_crops(bg["crops"], bg["source"])
    if crops != "top-left":
        return
    counts = split_photo_counts(len(background_photo_names(bg)), bg["split_photos"])
    split, fewest = min(counts.items(), key=lambda kv: kv[1])
    if int(bg["bank_size"]) > fewest:
        how = "" if bg["crops"] == "top-left" else f" ({bg['crops']!r} for source {bg['source']!r})"
        where = "" if bg["split_photos"] == "shared" else f" (split_photos: disjoint, {split})"
        raise ConfigError(
            f"config key 'assets.backgrounds.bank_size': {bg['bank_size']} backgrounds, but "
            f"assets.backgrounds.crops is 'top-left'{how}, one background per photo, and the "
            f"source has {fewest} photos{where}; set assets.backgrounds.bank_size to at most "
            f"{fewest}, add photos, or set assets.backgrounds.crops: random"
        )


def draw_objects(
    pool: Sequence[str], n: int, generator: np.random.Generator, key: str
) -> list[str]:
    """``n`` distinct objects of ``pool`` drawn with ``generator``; too few is a
    :class:`ConfigError` naming ``key`` (the config key that asks for ``n``) and both numbers."""
    if n > len(pool):
        raise ConfigError(
            f"config key '{key}': needs {n} distinct objects, but assets.objects provides only "
            f"{len(pool)} ({', '.join(pool[:5])}{', ...' if len(pool) > 5 else ''}); use a source "
            f"with more classes (assets.objects), or lower {key}"
        )
    return [pool[i] for i in generator.choice(len(pool), size=n, replace=False)]


def _transform_options(config: Mapping[str, Any], whole_image: bool = False) -> dict:
    opts = config["data"]["transform_options"]
    out = {k: v for k, v in opts.items() if k not in _WHOLE_IMAGE_OPTIONS}
    if whole_image:
        out["translate"] = opts["cifar_translate"]
        out["image_translate_fraction"] = opts["image_translate_fraction"]
    return out


def _splits(config: Mapping[str, Any], n_train: int | None = None, test_only: bool = False) -> dict:
    d = config["data"]
    if test_only:
        return {"test": int(d["n_test"])}
    return {
        "train": int(n_train if n_train is not None else d["n_train"]),
        "val": int(d["n_val"]),
        "test": int(d["n_test"]),
    }


def _common(config: Mapping[str, Any]) -> dict:
    d = config["data"]
    return {
        "image_size": int(config["image_size"]),
        "object_scale": float(d["object_scale"]),
        "squash_aspect": bool(d["squash_aspect"]),
        "prototype_resample": d["prototype_resample"],
        "class_balance": d["class_balance"],
        "shard_size": int(d["shard_size"]),
    }


def _generated(
    config: Mapping[str, Any],
    transforms: list[str],
    seed: int,
    n_train: int | None,
    test_only: bool,
    transform_seed: int | None,
) -> dict:
    """The keys a generated dataset (Transforms-2D or structured random) has besides its objects
    and backgrounds: transformations and their options, splits, seeds."""
    return {
        "transforms": list(transforms),
        "transform_options": _transform_options(config),
        "splits": _splits(config, n_train, test_only),
        "seed": int(seed),
        "transform_seed": int(seed if transform_seed is None else transform_seed),
    }


# Keys of how object prototypes are made: structured-random patterns are drawn at canvas
# resolution (their size is the pattern fraction), so random specs do not take them.
_OBJECT_ONLY_KEYS = ("object_scale", "squash_aspect", "prototype_resample")


def _object_source(config: Mapping[str, Any]) -> dict:
    src = config["assets"]["objects"]
    out = {"source": src["source"]}
    for key in ("path", "font"):
        if src[key]:
            out["_" + key] = src[key]  # location, not content: excluded from the name hash
    if src["max_size"] is not None:
        out["max_size"] = int(src["max_size"])  # changes the pixels: hashed
    return out


# The seed of the background bank when it is the same for every experiment seed: the paper uses
# one set of 867 backgrounds for every D(O,T) (Sec. 3.3, App. A.1).
FIXED_BANK_SEED = 0


def _background_source(config: Mapping[str, Any], seed: int) -> dict:
    bg = config["assets"]["backgrounds"]
    out = {
        "source": bg["source"],
        "bank_size": int(bg["bank_size"]),
        "split_photos": bg["split_photos"],
        "crops": bg["crops"],
        "seed": FIXED_BANK_SEED if bg["bank_seed"] == "fixed" else int(seed),
    }
    if bg["path"]:
        out["_path"] = bg["path"]
    if bg["max_size"] is not None:
        out["max_size"] = int(bg["max_size"])  # changes the pixels: hashed
    return out


def t2d_spec(
    config: Mapping[str, Any],
    objects: list[str],
    transforms: list[str],
    seed: int,
    *,
    n_train: int | None = None,
    test_only: bool = False,
    transform_seed: int | None = None,
) -> dict:
    """A Transforms-2D dataset D(O, T): ``objects`` on photo backgrounds, ``transforms``."""
    return {
        "kind": "t2d",
        "objects": {**_object_source(config), "names": list(objects)},
        "backgrounds": _background_source(config, seed),
        **_generated(config, transforms, seed, n_train, test_only, transform_seed),
        **_common(config),
    }


def random_spec(
    config: Mapping[str, Any],
    n_classes: int,
    pattern_seed: int,
    transforms: list[str],
    seed: int,
    *,
    n_train: int | None = None,
    test_only: bool = False,
    transform_seed: int | None = None,
) -> dict:
    """Structured-random data: ``n_classes`` random patterns on random backgrounds."""
    extra = pixels_entry(config["data"]["random_pixels"], "data.random_pixels")
    return {
        "kind": "random",
        "objects": {
            "source": "random",
            "count": int(n_classes),
            "seed": int(pattern_seed),
            **extra,
        },
        "backgrounds": {"source": "random", **extra},
        **_generated(config, transforms, seed, n_train, test_only, transform_seed),
        **{k: v for k, v in _common(config).items() if k not in _OBJECT_ONLY_KEYS},
    }


def cifar_spec(
    config: Mapping[str, Any],
    dataset: str,
    classes: list[int],
    transforms: list[str],
    seed: int,
    *,
    samples_per_class: int | str | None = None,
    test_only: bool = False,
    transform_seed: int | None = None,
) -> dict:
    """CIFAR-10/100 ``classes`` with ``transforms`` applied to the whole image."""
    spc = None if samples_per_class in (None, "all") else int(samples_per_class)
    return {
        "kind": "cifar",
        "dataset": dataset,
        "classes": [int(c) for c in classes],
        "samples_per_class": {"train": spc},
        "splits": ({"test": None} if test_only else {"train": None, "val": None, "test": None}),
        "val_fraction": float(config["assets"]["cifar"]["val_fraction"]),
        "transforms": list(transforms),
        "transform_options": _transform_options(config, whole_image=True),
        "seed": int(seed),
        "transform_seed": int(seed if transform_seed is None else transform_seed),
        "image_size": int(config["image_size"]),
        "shard_size": int(config["data"]["shard_size"]),
        "_root": str(config["assets"]["cifar"]["path"]),
    }


def ife_spec(
    config: Mapping[str, Any],
    variant: str,
    objects: list[str],
    seed: int,
    *,
    placement: str,
    correlation: float = 0.0,
    availability: float = 1.0,
    cifar_seed: int | None = None,
    object_seed: int | None = None,
    test_only: bool = False,
) -> dict:
    """CIFAR-10 with pasted objects (paper App. A.2): ``variant`` is one of C/C, C+O/C, C+O/O,
    O/O (features / labels); ``correlation`` and ``availability`` are the Fig 14 sweeps (0 and 1
    = the plain datasets)."""
    spec = {
        "kind": "cifar_objects",
        "variant": variant,
        "objects": {**_object_source(config), "names": list(objects)},
        "placement": placement,
        "correlation": float(correlation),
        "availability": float(availability),
        "splits": ({"test": None} if test_only else {"train": None, "val": None, "test": None}),
        "val_fraction": float(config["assets"]["cifar"]["val_fraction"]),
        "seed": int(seed),
        "cifar_seed": int(seed if cifar_seed is None else cifar_seed),
        "object_seed": int(seed if object_seed is None else object_seed),
        "image_size": int(config["image_size"]),
        "shard_size": int(config["data"]["shard_size"]),
        "_root": str(config["assets"]["cifar"]["path"]),
    }
    n_train = config["experiments"]["ife"]["n_train"]
    if n_train and not test_only:
        spec["splits"]["train"] = int(n_train)
    return spec
