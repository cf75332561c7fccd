"""Validation of dataset specs: value checks and the canonical form of the shared sections.

Every builder module canonicalises its own kind with these helpers (see
:mod:`invtransfer.datasets.kinds`); :func:`invtransfer.datasets.spec.canonicalize_spec` dispatches
to it. Every error is a :class:`~invtransfer.errors.ConfigError` whose message names the offending
key (``objects.names[3]``, ``transform_options.pixelate_fraction``, ...).

Keys that start with ``"_"`` (e.g. ``"_root"``) are carried through unchanged but excluded from the
name hash: they say *where* something lives, not *what* the data are (:func:`underscored`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from invtransfer.assets.backgrounds import (
    CROPS,
    DEFAULT_SPLIT_PHOTOS,
    SPLIT_PHOTOS_MODES,
    resolve_crops,
)
from invtransfer.errors import ConfigError

__all__ = [
    "BACKGROUND_SOURCES",
    "CLASS_BALANCE",
    "DEFAULT_CLASS_BALANCE",
    "DEFAULT_RANDOM_PIXELS",
    "DEFAULT_SPLITS",
    "MAX_SEED",
    "OBJECT_SOURCES",
    "RANDOM_PIXELS",
    "RESAMPLE_MODES",
    "SPLITS",
    "UNIVERSAL_KEYS",
    "canonical_backgrounds",
    "canonical_objects",
    "canonical_splits",
    "canonical_transform_options",
    "canonical_transforms",
    "canonical_universal",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_mapping",
    "check_seed",
    "check_str",
    "crops_entry",
    "fail",
    "location",
    "max_size_entry",
    "pixels_entry",
    "underscored",
]

SPLITS = ("train", "val", "test")
DEFAULT_SPLITS = {"train": 50_000, "val": 10_000, "test": 10_000}
OBJECT_SOURCES = ("bundle", "si-score", "folder", "emoji")
PHOTO_BACKGROUND_SOURCES = ("bundle", "si-score", "folder")
BACKGROUND_SOURCES = (*PHOTO_BACKGROUND_SOURCES, "random", "black")
RESAMPLE_MODES = ("reference", "bilinear", "bicubic", "nearest")  # prototype_resample
# Structured random pixels: uniform (the paper) | the reference's float32 bytes read as RGB
RANDOM_PIXELS = ("uniform", "float32-bytes")
DEFAULT_RANDOM_PIXELS = "uniform"
CLASS_BALANCE = ("iid", "exact")
DEFAULT_CLASS_BALANCE = "iid"  # paper: "P_O samples objects uniformly at random"
MAX_SEED = (1 << 63) - 1

#: Keys every kind understands (validated by :func:`canonical_universal`).
UNIVERSAL_KEYS = ("kind", "transforms", "transform_options", "seed", "transform_seed", "shard_size")


# --------------------------------------------------------------------------------------------
# small validators (public so that builder modules can validate their own keys the same way)
# --------------------------------------------------------------------------------------------
def fail(key: str, message: str) -> ConfigError:
    """A :class:`ConfigError` naming the spec key."""
    return ConfigError(f"dataset spec key {key!r}: {message}")


def check_int(
    value: Any, key: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An ``int`` (not ``bool``; an integral float such as ``5.0`` is accepted) within bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(key, f"expected an integer, got {value!r} ({type(value).__name__})")
    if isinstance(value, float):
        if not value.is_integer():
            raise fail(key, f"expected an integer, got {value!r}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise fail(key, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise fail(key, f"must be <= {maximum}, got {value}")
    return int(value)


def check_float(
    value: Any,
    key: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite number within ``[low, high]`` (ends made open by ``low_open``/``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(key, f"expected a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise fail(key, f"must be finite, got {value}")
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if lo_bad or hi_bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise fail(key, f"must be in {lo}{low}, {high}{hi}, got {value}")
    return value


def check_bool(value: Any, key: str) -> bool:
    """``True`` or ``False`` (no truthy strings or ints)."""
    if not isinstance(value, bool):
        raise fail(key, f"expected true or false, got {value!r}")
    return value


def check_choice(value: Any, key: str, choices: Sequence[Any]) -> Any:
    """One of ``choices``."""
    if value not in choices:
        raise fail(key, f"must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_str(value: Any, key: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise fail(key, f"expected a non-empty string, got {value!r}")
    return value


def check_mapping(value: Any, key: str, allowed: Sequence[str]) -> dict[str, Any]:
    """A mapping whose keys are all in ``allowed`` (``_``-prefixed keys are always allowed)."""
    if not isinstance(value, Mapping):
        raise fail(key, f"expected a mapping, got {value!r} ({type(value).__name__})")
    for k in value:
        if not isinstance(k, str):
            raise fail(key, f"keys must be strings, got {k!r}")
        if k not in allowed and not k.startswith("_"):
            raise fail(
                f"{key}.{k}" if key else k,
                f"unknown key (allowed here: {', '.join(sorted(allowed))})",
            )
    return dict(value)


def check_seed(value: Any, key: str) -> int:
    """A seed: an int in [0, 2^63 - 1]."""
    return check_int(value, key, minimum=0, maximum=MAX_SEED)


def location(section: Mapping[str, Any], name: str) -> Any:
    """A location key of a section: ``name`` (part of the name hash) or ``_name`` (not hashed).

    Planners give machine-specific locations (asset folders, fonts) as ``_path``/``_font`` so that
    moving the data does not rename every dataset; a user may give ``path`` to make it part of
    the dataset's identity.
    """
    value = section.get(name)
    return section.get(f"_{name}") if value is None else value


def _check_location(given: Mapping[str, Any], name: str, key: str) -> None:
    if given.get(name) is not None and given.get(f"_{name}") is not None:
        raise fail(f"{key}._{name}", f"give {key}.{name} or {key}._{name}, not both")


def underscored(src: Mapping[str, Any]) -> dict[str, Any]:
    """The ``_``-prefixed (location) keys of ``src``, deep-copied."""
    return {k: copy.deepcopy(v) for k, v in src.items() if k.startswith("_")}


# --------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------
def canonical_transforms(value: Any, key: str = "transforms") -> list[str]:
    """A list of distinct registered transformation names (``[]`` = no transformation)."""
    from invtransfer.transforms import TRANSFORMS

    if isinstance(value, str) or not isinstance(value, Sequence):
        raise fail(key, f"expected a list of transformation names, got {value!r}")
    names: list[str] = []
    for i, name in enumerate(value):
        k = f"{key}[{i}]"
        if name == "none":
            raise fail(k, "'none' is not a transformation; use an empty list for no transformation")
        if not isinstance(name, str) or name not in TRANSFORMS:
            raise fail(k, f"unknown transformation {name!r}; known: {', '.join(TRANSFORMS)}")
        if name in names:
            raise fail(k, f"transformation {name!r} is listed twice")
        names.append(name)
    return names


def _literal_choices(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) is typing.Literal:
        return typing.get_args(tp)
    return None


@functools.cache
def _option_fields(cls: type) -> tuple[dict[str, dataclasses.Field], dict[str, Any]]:
    """The dataclass fields and resolved type hints of ``cls`` (resolved once: planning a
    paper-scale config canonicalises thousands of specs)."""
    return {f.name: f for f in dataclasses.fields(cls)}, typing.get_type_hints(cls)


def canonical_transform_options(value: Any, key: str = "transform_options") -> dict[str, Any]:
    """Every ``TransformOptions`` field, defaults filled, checked by type, choice and range.

    Literal-typed fields must be one of their choices; float fields named ``*_fraction``,
    ``*probability`` or ``p``/``p_*`` must lie in [0, 1]. ``TransformOptions`` may add its own checks in
    ``__post_init__``; those errors are re-raised naming ``transform_options``.
    """
    from invtransfer.transforms import TransformOptions

    fields, hints = _option_fields(TransformOptions)
    given = check_mapping({} if value is None else value, key, tuple(fields))
    out: dict[str, Any] = {}
    for name, field in fields.items():
        k = f"{key}.{name}"
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = dataclasses.MISSING
        if name not in given:
            if default is dataclasses.MISSING:
                raise fail(k, "is required")
            out[name] = default
            continue
        v = given[name]
        tp = hints.get(name)
        choices = _literal_choices(tp)
        if choices is not None:
            v = check_choice(v, k, choices)
        elif tp is bool or isinstance(default, bool):
            v = check_bool(v, k)
        elif tp is int or (isinstance(default, int) and not isinstance(default, bool)):
            v = check_int(v, k)
        elif tp is float or isinstance(default, float):
            probability = (
                name.endswith(("_fraction", "probability")) or name == "p" or name.startswith("p_")
            )
            v = check_float(
                v, k, low=0.0 if probability else None, high=1.0 if probability else None
            )
        out[name] = v
    try:
        TransformOptions(**{k: v for k, v in out.items() if not k.startswith("_")})
    except (TypeError, ValueError) as exc:
        raise fail(key, str(exc)) from exc
    out.update(underscored(given))
    return out


def canonical_splits(value: Any, key: str = "splits") -> dict[str, int]:
    """Any non-empty subset of train/val/test with counts >= 1, in that order."""
    given = check_mapping(value, key, SPLITS)
    counts = {s: check_int(given[s], f"{key}.{s}", minimum=1) for s in SPLITS if s in given}
    if not counts:
        raise fail(key, f"give at least one of {', '.join(SPLITS)} with a count >= 1")
    return counts


def canonical_objects(value: Any, kind: str, seed: int, key: str = "objects") -> dict[str, Any]:
    """The ``objects`` section: object images (``kind`` ``"t2d"``) or random patterns (``"random"``)."""
    if kind == "random":
        default = {"source": "random"}
        given = check_mapping(
            default if value is None else value,
            key,
            ("source", "count", "seed", "pattern_fraction", "pixels"),
        )
        source = given.get("source", "random")
        if source != "random":
            raise fail(
                f"{key}.source",
                f"kind 'random' uses random patterns (source 'random'), got {source!r}; "
                "use kind 't2d' for object images",
            )
        out = {
            "source": "random",
            "count": check_int(given.get("count", 30), f"{key}.count", minimum=1),
            "seed": check_seed(given.get("seed", seed), f"{key}.seed"),
            "pattern_fraction": check_float(
                given.get("pattern_fraction", 0.7),
                f"{key}.pattern_fraction",
                low=0.0,
                high=1.0,
                low_open=True,
            ),
        }
        out.update(pixels_entry(given.get("pixels", DEFAULT_RANDOM_PIXELS), key))
        out.update(underscored(given))
        return out

    given = check_mapping(
        {"source": "bundle"} if value is None else value,
        key,
        ("source", "names", "path", "font", "count", "download", "max_size"),
    )
    source = given.get("source", "bundle")
    if source == "random":
        raise fail(f"{key}.source", "random patterns need kind 'random', not 't2d'")
    check_choice(source, f"{key}.source", OBJECT_SOURCES)
    out: dict[str, Any] = {"source": source}
    names = given.get("names")
    if names is not None:
        if isinstance(names, str) or not isinstance(names, Sequence) or not names:
            raise fail(f"{key}.names", f"expected a non-empty list of object names, got {names!r}")
        seen: set[str] = set()
        for i, n in enumerate(names):
            check_str(n, f"{key}.names[{i}]")
            if n in seen:
                raise fail(f"{key}.names[{i}]", f"object {n!r} is listed twice")
            seen.add(n)
        out["names"] = list(names)
    else:
        out["names"] = None
    for name in ("path", "font"):
        value = given.get(name)
        out[name] = None if value is None else check_str(str(value), f"{key}.{name}")
        _check_location(given, name, key)
    count = given.get("count")
    out["count"] = None if count is None else check_int(count, f"{key}.count", minimum=1)
    if out["names"] is not None and out["count"] is not None:
        raise fail(f"{key}.count", "give either objects.names or objects.count, not both")
    if source == "folder" and location(given, "path") is None:
        raise fail(f"{key}.path", "source 'folder' needs a path (or _path) to the object images")
    out["download"] = check_bool(given.get("download", False), f"{key}.download")
    out.update(max_size_entry(given.get("max_size"), key))
    out.update(underscored(given))
    return out


def max_size_entry(value: Any, key: str) -> dict[str, Any]:
    """The ``max_size`` entry of an object or photo spec (decode larger images at most this many
    pixels on the longest side, then build as usual): ``{}`` when absent (null), so specs without
    it keep their hashes; it changes the pixels, so it is part of the spec when set."""
    if value is None:
        return {}
    return {"max_size": check_int(value, f"{key}.max_size", minimum=8)}


def pixels_entry(pixels: Any, key: str) -> dict[str, Any]:
    """The ``pixels`` entry of a random pattern/background spec: ``{"pixels": …}`` when it is not
    the default, else ``{}`` — so the default's specs (their hashes, the rules' params) stay as
    they were before the key existed. Planners and canonicalization both write it this way."""
    pixels = check_choice(pixels, f"{key}.pixels", RANDOM_PIXELS)
    return {} if pixels == DEFAULT_RANDOM_PIXELS else {"pixels": pixels}


def crops_entry(crops: Any, source: str, key: str) -> dict[str, Any]:
    """The ``crops`` entry of a photo-background spec, ``auto`` resolved for ``source``
    (:func:`~invtransfer.assets.backgrounds.resolve_crops`): ``{}`` for random crops of the
    bundle or a folder, so their specs (and hashes) stay as they were before the key existed;
    written out otherwise, SI-Score's random crops included (canonicalization is idempotent
    and an SI-Score dataset built before ``top-left`` became its default gets a new name)."""
    resolved = resolve_crops(check_choice(crops, f"{key}.crops", CROPS), source)
    return {} if resolved == "random" and source != "si-score" else {"crops": resolved}


def canonical_backgrounds(
    value: Any, default_source: str, seed: int, key: str = "backgrounds"
) -> dict[str, Any]:
    """Photo backgrounds (with bank parameters), per-sample ``random`` pixels or uniform ``black``."""
    given = check_mapping(
        {"source": default_source} if value is None else value,
        key,
        ("source", "path", "bank_size", "split_photos", "crops", "seed", "pixels", "max_size"),
    )
    source = check_choice(given.get("source", default_source), f"{key}.source", BACKGROUND_SOURCES)
    if source in ("random", "black"):
        used = ("source", "pixels") if source == "random" else ("source",)
        extra = [k for k in given if k not in used and not k.startswith("_")]
        if extra:
            raise fail(f"{key}.{extra[0]}", f"not used with background source {source!r}")
        out: dict[str, Any] = {"source": source}
        if source == "random":
            out.update(pixels_entry(given.get("pixels", DEFAULT_RANDOM_PIXELS), key))
    elif "pixels" in given:
        raise fail(f"{key}.pixels", f"only random backgrounds have pixels, not source {source!r}")
    else:
        path = given.get("path")
        out = {
            "source": source,
            "path": None if path is None else check_str(str(path), f"{key}.path"),
            "bank_size": check_int(given.get("bank_size", 867), f"{key}.bank_size", minimum=1),
            "split_photos": check_choice(
                given.get("split_photos", DEFAULT_SPLIT_PHOTOS),
                f"{key}.split_photos",
                SPLIT_PHOTOS_MODES,
            ),
            "seed": check_seed(given.get("seed", seed), f"{key}.seed"),
        }
        out.update(crops_entry(given.get("crops", "auto"), source, key))
        out.update(max_size_entry(given.get("max_size"), key))
        _check_location(given, "path", key)
        if source == "folder" and location(given, "path") is None:
            raise fail(
                f"{key}.path", "source 'folder' needs a path (or _path) to the background photos"
            )
    out.update(underscored(given))
    return out


def canonical_universal(given: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of :data:`UNIVERSAL_KEYS`, checked and with their defaults."""
    seed = check_seed(given.get("seed", 0), "seed")
    return {
        "kind": given["kind"],
        "transforms": canonical_transforms(given.get("transforms", [])),
        "transform_options": canonical_transform_options(given.get("transform_options")),
        "seed": seed,
        "transform_seed": check_seed(given.get("transform_seed", seed), "transform_seed"),
        "shard_size": check_int(given.get("shard_size", 10_000), "shard_size", minimum=1),
    }
