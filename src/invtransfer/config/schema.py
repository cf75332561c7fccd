"""The configuration schema (package data) and the read-only :class:`Config`.

``config.schema.yaml`` holds every key with its description and its one default;
:func:`schema_defaults` is the configuration with nothing set, :func:`describe_config` prints one
with each key's description.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import yaml

__all__ = ["SCHEMA_RESOURCE", "Config", "describe_config", "load_schema", "schema_defaults"]

SCHEMA_RESOURCE = "config.schema.yaml"


# -- the schema -----------------------------------------------------------------------------------
@functools.cache
def _schema() -> dict[str, Any]:
    text = importlib.resources.files("invtransfer").joinpath(SCHEMA_RESOURCE).read_text()
    return yaml.safe_load(text)


def load_schema() -> dict[str, Any]:
    """The configuration schema (a copy: callers may not change the cached one)."""
    return copy.deepcopy(_schema())


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with a local ``$ref`` merged in (the node's own keys win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = _schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}


def _fill(node: Mapping[str, Any], value: Any) -> Any:
    """``value`` with the schema defaults of every missing key filled in (recursively)."""
    node = _resolve(node)
    props = node.get("properties")
    if not props or not isinstance(value, Mapping):
        return value  # a wrong type is left for the validator to name
    out = dict(value)
    for key, sub in props.items():
        sub = _resolve(sub)
        if key in out:
            out[key] = _fill(sub, out[key])
        elif "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        elif "properties" in sub:
            out[key] = _fill(sub, {})
    return out


def schema_defaults() -> dict[str, Any]:
    """The configuration with nothing set: every key at its default."""
    return _fill(_schema(), {})


def _describe(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    node = _resolve(node)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        path = f"{prefix}.{key}" if prefix else key
        yield path, sub.get("default", None), " ".join(str(sub.get("description", "")).split())
        if "properties" in sub:
            yield from _describe(sub, path)


def describe_config(config: Mapping[str, Any] | None = None) -> str:
    """YAML of ``config`` (default: the defaults) with each key's description as a comment."""
    values = config if config is not None else schema_defaults()
    lines: list[str] = []
    for path, _default, text in _describe(_schema()):
        parts = path.split(".")
        node: Any = values
        for part in parts:
            node = node.get(part) if isinstance(node, Mapping) else None
        indent = "  " * (len(parts) - 1)
        if isinstance(node, Mapping) and _resolve(_lookup_schema(parts)).get("properties"):
            lines.append(f"{indent}{parts[-1]}:  # {text}" if text else f"{indent}{parts[-1]}:")
            continue
        shown = yaml.safe_dump(_thaw(node), default_flow_style=True, width=10_000).strip()
        shown = shown.removesuffix("\n...").removesuffix("...").strip()
        lines.append(f"{indent}{parts[-1]}: {shown}" + (f"  # {text}" if text else ""))
    return "\n".join(lines) + "\n"


def _lookup_schema(parts: Sequence[str]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = _schema()
    for part in parts:
        node = _resolve(node)["properties"][part]
    return node


# -- the validated configuration ----------------------------------------------------------------
def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


class Config(Mapping[str, Any]):
    """A validated configuration with every default filled in; read-only (nested mappings are
    read-only views, lists are tuples). Build it with :func:`check_config` or
    :func:`load_config`; :meth:`to_dict` gives a plain, mutable copy (e.g. Snakemake's ``config``).
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any], *, _validated: bool = False) -> None:
        if not _validated:
            raise TypeError("build a Config with invtransfer.config.check_config(mapping)")
        self._data: Mapping[str, Any] = _freeze(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        return _thaw(self._data)

    def section(self, dotted: str) -> Any:
        """The value at a dotted key, e.g. ``config.section("experiments.tvo.n_classes")``."""
        node: Any = self
        for part in dotted.split("."):
            node = node[part]
        return node
