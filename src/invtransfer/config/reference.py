"""The configuration reference (``docs/CONFIG.md``), generated from the schema.

``python -m invtransfer config --reference > docs/CONFIG.md`` writes it: every key of
``config.schema.yaml`` with its default, what values it accepts and its description, one table per
section. ``tests/test_config_reference.py`` fails when the committed file differs from
:func:`config_reference`'s output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from invtransfer.config.schema import _resolve, _schema

__all__ = ["config_reference"]

HEADER = """\
# Configuration reference

<!-- Generated from src/invtransfer/config.schema.yaml by
     `python -m invtransfer config --reference > docs/CONFIG.md`. Do not edit by hand:
     tests/test_config_reference.py fails when this file is out of date. -->

{description}

Every key below has one default, written once in `src/invtransfer/config.schema.yaml` (the
paper's settings, where the paper is silent the reference implementation's). A configuration is
composed from layers, later wins:

    schema defaults < config.yaml < profiles/<preset>/overrides.yaml < each --configfile < --config

Mappings merge key by key; lists and scalars replace. Several overlays go after one flag,
`--configfile a.yaml b.yaml`: Snakemake keeps only the last of repeated `--configfile` flags.
In a host workflow that uses this one as a
module (`module invtransfer: ... config: <mapping>`), the mapping takes the place of the files:
schema defaults < the preset it names < the mapping. Every configuration is validated the same
way: unknown keys (with a "did you mean"), types and ranges by the schema, then the cross-field
checks of `invtransfer.config.check_config`; each error names the key. Print the effective
configuration, with every key described, for a preset and your overlays:

    python -m invtransfer config [--profile profiles/quick] [--configfile my.yaml]
"""


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("...").strip()


def _bound(node: Mapping[str, Any]) -> str:
    lo = (
        f"≥ {node['minimum']}"
        if "minimum" in node
        else (f"> {node['exclusiveMinimum']}" if "exclusiveMinimum" in node else "")
    )
    hi = (
        f"≤ {node['maximum']}"
        if "maximum" in node
        else (f"< {node['exclusiveMaximum']}" if "exclusiveMaximum" in node else "")
    )
    return ", ".join(p for p in (lo, hi) if p)


def _accepts(node: Mapping[str, Any]) -> str:
    """What values a schema node accepts, in words."""
    node = _resolve(node)
    if "const" in node:
        return f"`{_flow(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{_flow(v)}`" for v in node["enum"])
    if "oneOf" in node:
        return " or ".join(_accepts(alt) for alt in node["oneOf"])
    types = node.get("type", "any")
    types = [types] if isinstance(types, str) else list(types)
    words = []
    for t in types:
        if t == "null":
            continue
        if t == "array":
            items = _resolve(node.get("items", {}))
            item = items.get("description") or _accepts(items)
            extra = []
            if node.get("minItems"):
                extra.append(f"at least {node['minItems']}")
            if node.get("uniqueItems"):
                extra.append("no repeats")
            words.append(f"list of ({item})" + (f", {', '.join(extra)}" if extra else ""))
        elif t == "object":
            words.append("mapping" if node.get("additionalProperties", True) else "section")
        else:
            word = {"integer": "integer", "number": "number", "string": "string",
                    "boolean": "`true` or `false`"}.get(t, t)  # fmt: skip
            bound = _bound(node)
            if "pattern" in node:
                bound = ", ".join(p for p in (bound, f"matching `{node['pattern']}`") if p)
            words.append(f"{word} {bound}".strip())
    text = " or ".join(words) or "any value"
    return text + (" or `null`" if "null" in types else "")


def _cell(text: str) -> str:
    """Markdown table cell: one line, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    node = _resolve(node)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        path = f"{prefix}.{key}" if prefix else key
        description = sub.get("description", "")
        if "properties" in sub:
            yield f"`{path}`", "", "section", description
            yield from _rows(sub, path)
        else:
            default = f"`{_flow(sub['default'])}`" if "default" in sub else "(required)"
            yield f"`{path}`", default, _accepts(sub), description


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    out = ["| key | default | accepts | description |", "|---|---|---|---|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def config_reference() -> str:
    """The Markdown reference of every configuration key (``docs/CONFIG.md``)."""
    schema = _schema()
    lines = [HEADER.format(description=" ".join(schema.get("description", "").split()))]
    top = {k: _resolve(v) for k, v in schema["properties"].items()}
    scalars = [k for k, v in top.items() if "properties" not in v]
    sections = [k for k, v in top.items() if "properties" in v]
    lines += ["## Contents", "", "- [Top-level keys](#top-level-keys)"]
    lines += [f"- [{k}](#{k}): {_cell(top[k].get('description', ''))}" for k in sections]
    lines += ["", "## Top-level keys", ""]
    lines += _table(list(_rows({"properties": {k: schema["properties"][k] for k in scalars}}, "")))
    for key in sections:
        node = top[key]
        lines += ["", f"## {key}", "", " ".join(node.get("description", "").split()) + ".", ""]
        lines += _table(list(_rows(node, key)))
    return "\n".join(lines) + "\n"
