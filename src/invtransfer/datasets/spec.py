"""Dataset specs: the canonical form, and the names derived from it.

A dataset spec is a plain JSON-able dict (see ``docs/ARCHITECTURE.md``, "Datasets on disk").
:func:`canonicalize_spec` looks the spec's ``kind`` up in the registry
(:data:`invtransfer.datasets.kinds.DATASET_KINDS`) and lets that kind fill every default, check
every value and reject unknown keys (with the helpers of :mod:`invtransfer.datasets.validate`),
so two specs that describe the same data have the same canonical JSON and therefore the same
:func:`dataset_name`. Every error is a :class:`~invtransfer.errors.ConfigError` whose message
names the offending key (``objects.names[3]``, ``transform_options.pixelate_fraction``, ...).

Keys that start with ``"_"`` (e.g. ``"_root"``) are carried through unchanged but excluded from the
name hash (:func:`spec_digest`): they say *where* something lives, not *what* the data are.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from invtransfer.datasets.kinds import DATASET_KINDS, get_dataset_kind
from invtransfer.datasets.validate import fail, underscored
from invtransfer.errors import ConfigError

__all__ = [
    "canonical_json",
    "canonicalize_spec",
    "dataset_name",
    "hashed_part",
    "spec_digest",
]


def canonicalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of ``spec``: defaults filled, values checked, unknown keys rejected.

    Idempotent: ``canonicalize_spec(canonicalize_spec(s)) == canonicalize_spec(s)``.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"dataset spec must be a mapping, got {type(spec).__name__}")
    if "kind" not in spec:
        raise fail("kind", f"is required (one of {', '.join(DATASET_KINDS)})")
    kind = get_dataset_kind(spec["kind"])
    out = kind.canonicalize(spec)
    if not isinstance(out, dict):
        raise TypeError(f"dataset kind {kind.name!r}: canonicalize must return a dict")
    out.update(underscored({k: v for k, v in spec.items() if k not in out}))
    return out


def hashed_part(spec: Mapping[str, Any]) -> Any:
    """``spec`` without ``_``-prefixed keys, at every nesting level."""
    if isinstance(spec, Mapping):
        return {k: hashed_part(v) for k, v in spec.items() if not str(k).startswith("_")}
    if isinstance(spec, (list, tuple)):
        return [hashed_part(v) for v in spec]
    return spec


def canonical_json(spec: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON of the hashed part of a canonical spec."""
    return json.dumps(hashed_part(spec), sort_keys=True, separators=(",", ":"), allow_nan=False)


def spec_digest(spec: Mapping[str, Any], length: int = 10) -> str:
    """First ``length`` hex digits of the SHA-256 of :func:`canonical_json` of the canonical spec."""
    canonical = canonicalize_spec(spec)
    return hashlib.sha256(canonical_json(canonical).encode()).hexdigest()[:length]


def _count(n: Any) -> str:
    if n is None:  # builders may allow "every image" (CIFAR)
        return "all"
    if isinstance(n, float):  # or a fraction
        return f"{n:g}"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def dataset_name(spec: Mapping[str, Any]) -> str:
    """``<kind>[-<dataset>-<variant>]-<transforms>-<n_train>-s<seed>[-t<transform_seed>]-<hash10>``.

    Path- and wildcard-safe (``[a-z0-9+_-]``, plus the kind's characters).

    The readable parts help a person; the hash (of the whole canonical spec) makes the name unique.
    """
    canonical = canonicalize_spec(spec)
    names = canonical["transforms"]
    if not names:
        tpart = "none"
    elif len(names) <= 3:
        tpart = "+".join(names)
    else:
        tpart = "+".join(names[:3]) + f"+{len(names) - 3}more"
    parts = [canonical["kind"].replace("_", "-")]
    for key in ("dataset", "variant"):  # CIFAR kinds: cifar10 / cifar100, IFE variant (C+O/O)
        if isinstance(canonical.get(key), str):
            parts.append(re.sub(r"[^a-z0-9+]+", "_", canonical[key].lower()).strip("_"))
    parts.append(tpart.replace("_", ""))
    splits = canonical.get("splits")
    if isinstance(splits, Mapping) and splits:
        first = "train" if "train" in splits else next(iter(splits))
        count = _count(splits[first])
        parts.append(count if first == "train" else f"{first}{count}")
    parts.append(f"s{canonical['seed']}")
    if canonical["transform_seed"] != canonical["seed"]:
        parts.append(f"t{canonical['transform_seed']}")
    parts.append(spec_digest(canonical))
    return "-".join(parts)
