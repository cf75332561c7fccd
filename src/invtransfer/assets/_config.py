"""Validation shared by the object and background loaders (``config["assets"][...]`` sections).

The loaders take the config section as a plain mapping. Keys that belong to another source must be
absent or null (``download: false`` is also accepted, it is the schema default), so a typo or a
forgotten ``source:`` line fails loudly instead of being ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from invtransfer.errors import ConfigError

__all__ = ["check_section", "close_matches", "select_names"]


def close_matches(word: str, choices: Sequence[str]) -> str:
    """``"close matches: a, b"`` or a hint to list the choices, for error messages."""
    near = difflib.get_close_matches(word, list(choices), n=5, cutoff=0.6)
    return f"close matches: {', '.join(near)}" if near else "no close matches"


def check_section(
    cfg: Mapping[str, Any],
    keys_by_source: Mapping[str, frozenset[str]],
    *,
    section: str,
    tolerated: frozenset[str] = frozenset(),
) -> tuple[str, dict[str, Any]]:
    """Validate ``cfg``; return ``(source, {key: value})`` with only the keys the source uses.

    ``tolerated`` keys are accepted for every source and dropped (they configure the caller, e.g.
    ``bank_size`` of the backgrounds section).
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f"{section} must be a mapping, got {type(cfg).__name__}")
    source = cfg.get("source", "bundle")
    if source not in keys_by_source:
        raise ConfigError(
            f"{section}.source: unknown source {source!r}; choose one of "
            f"{', '.join(keys_by_source)} ({close_matches(str(source), list(keys_by_source))})"
        )
    known = set().union(*keys_by_source.values()) | {"source"} | tolerated
    for key in cfg:
        if key not in known:
            raise ConfigError(
                f"{section}.{key}: unknown key ({close_matches(str(key), sorted(known))}); "
                f"allowed keys: {', '.join(sorted(known))}"
            )
    used = keys_by_source[source]
    out = {}
    for key, value in cfg.items():
        if key == "source" or key in tolerated:
            continue
        if key in used:
            out[key] = value
        elif value is not None and value is not False:
            owners = [s for s, ks in keys_by_source.items() if key in ks]
            raise ConfigError(
                f"{section}.{key}={value!r} has no effect with source {source!r} (it applies to "
                f"{', '.join(owners)}); remove it or set it to null"
            )
    return source, out


def positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    return value


def optional_path(value: Any, key: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)):
        raise ConfigError(f"{key} must be a path string, got {type(value).__name__} {value!r}")
    return Path(value).expanduser()


def select_names(
    available: Sequence[str],
    *,
    count: Any,
    names: Any,
    default_count: int,
    section: str,
    source: str,
) -> list[str]:
    """The class names to load, in order: ``names`` as given, else the first ``count`` available."""
    if count is not None and names is not None:
        raise ConfigError(f"{section}: give either count ({count!r}) or names, not both")
    if names is not None:
        if isinstance(names, str) or not isinstance(names, Sequence) or not names:
            raise ConfigError(f"{section}.names must be a non-empty list of names, got {names!r}")
        index = set(available)
        unknown = [n for n in names if n not in index]
        if unknown:
            details = "; ".join(f"{n!r} ({close_matches(str(n), available)})" for n in unknown)
            raise ConfigError(
                f"{section}.names: unknown object name(s) for source {source!r}: {details}. "
                "available_object_names(cfg) lists the valid names"
            )
        seen: set[str] = set()
        dupes = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
        if dupes:
            raise ConfigError(f"{section}.names: names listed twice: {dupes}")
        return list(names)
    if count is None:
        count = default_count
    if isinstance(count, bool) or not isinstance(count, int):
        raise ConfigError(f"{section}.count must be an integer, got {count!r}")
    if not 1 <= count <= len(available):
        raise ConfigError(
            f"{section}.count={count} is out of range: source {source!r} has "
            f"{len(available)} objects, so count must be in 1..{len(available)}"
        )
    return list(available[:count])
