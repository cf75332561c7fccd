"""Workflow configuration: schema validation with messages that name the key, plus cross-field checks.

``config.yaml`` holds the paper's settings; presets overlay it (``--configfile``). The JSON schema in
``workflow/schemas/config.schema.yaml`` rejects unknown keys, wrong types and out-of-range values;
:func:`check_config` runs it with a message naming the offending key path, then checks what a schema
cannot (transformation and architecture names, class counts against available objects).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from invtransfer.errors import ConfigError

__all__ = [
    "SCHEMA_PATH",
    "check_config",
    "deep_merge",
    "load_config",
    "resolve_arch",
    "transform_names",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (overlay wins), the same semantics as Snakemake's ``--configfile``."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Load and merge YAML files in order, then :func:`check_config` the result."""
    if not paths:
        raise ValueError("load_config needs at least one YAML file")
    config: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, Mapping):
            raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
        config = deep_merge(config, data)
    check_config(config)
    return config


def _key_path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _schema_errors(config: Mapping[str, Any]) -> list[str]:
    import jsonschema

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        where = _key_path(list(err.absolute_path))
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            for key in extra:
                hint = difflib.get_close_matches(key, allowed, n=1)
                full = f"{where}.{key}" if where != "<top level>" else key
                messages.append(
                    f"config key '{full}': unknown key"
                    + (f" (did you mean '{hint[0]}'?)" if hint else "")
                    + f"; allowed here: {', '.join(allowed)}"
                )
        elif err.validator == "oneOf" and err.context:
            messages.append(
                f"config key '{where}': {err.instance!r} is not valid "
                f"({'; '.join(sorted({c.message for c in err.context}))})"
            )
        else:
            messages.append(f"config key '{where}': {err.message}")
    return messages


def transform_names() -> list[str]:
    from invtransfer.transforms import TRANSFORMS

    return list(TRANSFORMS)


def resolve_arch(name: str, config: Mapping[str, Any]) -> str:
    """Map the config alias ``densenet`` to the configured DenseNet variant."""
    if name == "densenet":
        return str(config.get("models", {}).get("densenet", "densenet_cifar"))
    return name


def _unknown(kind: str, key: str, value: str, valid: Sequence[str]) -> str:
    hint = difflib.get_close_matches(str(value), list(valid), n=1)
    return (
        f"config key '{key}': unknown {kind} {value!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + f"; valid: {', '.join(valid)}"
    )


def _cross_checks(config: Mapping[str, Any]) -> list[str]:
    from invtransfer.models import MODELS

    errors: list[str] = []
    tnames = transform_names()
    archs = [*MODELS, "densenet"]
    exps = config.get("experiments", {})

    def check_arch(key: str, name: str) -> None:
        if name not in archs:
            errors.append(_unknown("architecture", key, name, archs))

    for fam in ("tvo", "it", "tm"):
        for i, arch in enumerate(exps.get(fam, {}).get("architectures", [])):
            check_arch(f"experiments.{fam}.architectures[{i}]", arch)
    if "default_arch" in exps.get("tvo", {}):
        check_arch("experiments.tvo.default_arch", exps["tvo"]["default_arch"])
    if "arch" in exps.get("ife", {}):
        check_arch("experiments.ife.arch", exps["ife"]["arch"])
    for i, name in enumerate(config.get("models", {}).get("arch_kwargs", {})):
        if name not in archs:
            errors.append(_unknown("architecture", f"models.arch_kwargs[{i}]", name, archs))

    it_t = exps.get("it", {}).get("transforms", "all")
    if it_t != "all":
        for i, name in enumerate(it_t):
            if name not in tnames:
                errors.append(
                    _unknown("transformation", f"experiments.it.transforms[{i}]", name, tnames)
                )
    tm = exps.get("tm", {})
    if tm.get("n_transforms", 0) > len(tnames):
        errors.append(
            f"config key 'experiments.tm.n_transforms': {tm['n_transforms']} exceeds the "
            f"{len(tnames)} available transformations"
        )

    # Class counts against the number of objects the run may draw from.
    count = config.get("assets", {}).get("objects", {}).get("count")
    names = config.get("assets", {}).get("objects", {}).get("names")
    pool = len(names) if names else count
    if pool is not None:
        needs = {
            "experiments.tvo.n_classes.t2d": 2
            * exps.get("tvo", {}).get("n_classes", {}).get("t2d", 0)
            if "t2d" in exps.get("tvo", {}).get("families", [])
            else 0,
            "experiments.it.n_classes": 2 * exps.get("it", {}).get("n_classes", 0)
            if exps.get("it", {}).get("enabled")
            else 0,
            "experiments.tm.n_classes": exps.get("tm", {}).get("n_classes", 0)
            if exps.get("tm", {}).get("enabled")
            else 0,
            "experiments.ife.n_objects": exps.get("ife", {}).get("n_objects", 0)
            if exps.get("ife", {}).get("enabled")
            else 0,
        }
        for key, need in needs.items():
            if need > pool:
                errors.append(
                    f"config key '{key}': needs {need} distinct objects but "
                    f"assets.objects provides {pool} (raise assets.objects.count or lower {key})"
                )
    return errors


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every problem, each naming its key."""
    errors = _schema_errors(config)
    if not errors:
        errors = _cross_checks(config)
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))
