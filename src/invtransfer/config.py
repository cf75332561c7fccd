"""Workflow configuration: layers, defaults from the schema, and one validation naming the key.

The JSON schema ``config.schema.yaml`` (shipped inside the package) holds every key with its
description and its one default. A configuration is composed from layers, later wins:

    schema defaults < config.yaml < profiles/<preset>/overrides.yaml < each --configfile < --config

Mappings merge key by key; lists and scalars replace (Snakemake's own ``--configfile``
semantics). ``assets.objects.count`` and ``assets.objects.names`` are alternatives: a layer that
sets one unsets the other inherited from earlier layers. :func:`check_config` then fills every
default, validates once (schema, then the cross-field checks a schema cannot express) and returns
a read-only :class:`Config`; every error names the key and says what would be valid.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib.resources
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from invtransfer.errors import ConfigError

__all__ = [
    "Config",
    "check_config",
    "check_device",
    "compose_layers",
    "deep_merge",
    "describe_config",
    "load_config",
    "load_schema",
    "preset_file",
    "profile_settings",
    "resolve_arch",
    "schema_defaults",
    "transform_names",
    "workflow_config",
]

SCHEMA_RESOURCE = "config.schema.yaml"
#: Keys of one mapping that are alternatives: a layer setting one unsets the others it inherits.
ALTERNATIVES: dict[tuple[str, ...], tuple[str, ...]] = {("assets", "objects"): ("count", "names")}
#: Per-class training images of the CIFAR releases before the train/val split.
CIFAR_TRAIN_PER_CLASS = {"cifar10": 5000, "cifar100": 500}
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}


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


# -- layers ---------------------------------------------------------------------------------------
def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (overlay wins), the same semantics as Snakemake's ``--configfile``."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _get(mapping: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def compose_layers(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge config layers in order (later wins); see the module docstring for the rules."""
    out: dict[str, Any] = {}
    for layer in layers:
        out = deep_merge(out, layer)
        for path, keys in ALTERNATIVES.items():
            section = _get(layer, path)
            if not isinstance(section, Mapping):
                continue
            given = [k for k in keys if section.get(k) is not None]
            if len(given) == 1:
                merged = _get(out, path)
                for other in keys:
                    if other != given[0] and other not in section:
                        merged[other] = None
    return out


def _read_yaml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} {path} must hold a mapping, got {type(data).__name__}")
    return dict(data)


def preset_file(name: str, workdir: str | Path = ".") -> Path:
    """``<workdir>/profiles/<name>/overrides.yaml``; an unknown preset is a :class:`ConfigError`."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError(f"config key 'preset': {name!r} is not a preset name (e.g. tiny, quick)")
    path = Path(workdir) / "profiles" / name / "overrides.yaml"
    if not path.is_file():
        known = sorted(p.parent.name for p in (Path(workdir) / "profiles").glob("*/overrides.yaml"))
        hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        raise ConfigError(
            f"config key 'preset': no preset {name!r} ({path} does not exist)"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f"; presets here: {', '.join(known) or 'none'}"
        )
    return path


def _layers(
    base: Sequence[str | Path],
    configfiles: Sequence[str | Path],
    overrides: Mapping[str, Any] | None,
    preset: str | None,
    workdir: str | Path,
) -> list[dict[str, Any]]:
    """The layers in order, with the preset's overlay between the base files and the user's."""
    below = [_read_yaml(p) for p in base]
    above = [_read_yaml(p) for p in configfiles]
    if overrides:
        above.append(dict(overrides))
    if preset is None:
        preset = compose_layers([*below, *above]).get("preset")
    if preset is None:
        return [*below, *above]
    overlay = _read_yaml(preset_file(preset, workdir), "preset overlay")
    if "preset" in overlay:
        raise ConfigError(
            f"preset overlay {preset_file(preset, workdir)}: config key 'preset' cannot be set "
            "inside a preset"
        )
    return [*below, overlay, *above, {"preset": preset}]


def load_config(
    *paths: str | Path,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    workdir: str | Path | None = None,
) -> Config:
    """Compose ``paths`` (in order: e.g. ``config.yaml`` then overlays), the ``preset``'s overlay
    (between the first file and the rest) and ``overrides`` (last), then :func:`check_config`.

    ``workdir`` (default: the folder of the first file) holds ``profiles/<preset>/``.
    """
    if not paths:
        raise ValueError("load_config needs at least one YAML file (e.g. config.yaml)")
    root = Path(workdir) if workdir is not None else Path(paths[0]).parent
    return check_config(compose_layers(_layers(paths[:1], paths[1:], overrides, preset, root)))


def workflow_config(
    base: str | Path,
    *,
    configfiles: Sequence[str | Path],
    overrides: Mapping[str, Any],
    basedir: str | Path,
    local: bool = False,
    argv: Sequence[str] | None = None,
) -> Config:
    """The configuration of a Snakemake run: ``base`` (the Snakefile's ``configfile:``), the
    preset named by the ``preset`` key, the command line's ``--configfile`` files and
    ``--config`` values, in that order.

    ``basedir`` holds ``profiles/<preset>/``. ``local``: the jobs run on this machine, so the
    ``device`` is checked now (otherwise each job checks it when it starts). Snakemake replaces a
    profile's ``config:`` with the command line's ``--config``; with ``argv`` (the main
    process's command line) a preset that a ``--profile`` set and the command line dropped is an
    error instead of a silent switch to the paper's scale.
    """
    layers = _layers([base], configfiles, overrides, None, basedir)
    config = check_config(compose_layers(layers), local=local, workdir=basedir)
    if argv is not None:
        for profile, settings in _argv_profiles(argv):
            wanted = settings.get("preset")
            if wanted is not None and config["preset"] != wanted:
                raise ConfigError(
                    f"config key 'preset': profile {profile} sets preset={wanted}, but the command "
                    f"line's --config replaced the profile's `config:` (Snakemake does not merge "
                    f"them) and the preset is now {config['preset']!r}: add preset={wanted} to "
                    "--config, or put your values in a --configfile (files add to the preset)"
                )
    return config


def profile_settings(profile: str | Path) -> dict[str, Any]:
    """``{"preset": ..., "configfiles": [...]}`` as set by a Snakemake profile folder (or file)."""
    path = Path(profile)
    folder = path if path.is_dir() else path.parent
    file = path if path.is_file() else folder / "config.yaml"
    data = _read_yaml(file, "profile")
    values: dict[str, Any] = {}
    raw = data.get("config") or {}
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        raw = dict(item.split("=", 1) for item in raw if "=" in item)
    for key, value in dict(raw).items():
        values[key] = yaml.safe_load(value) if isinstance(value, str) else value
    configfiles = data.get("configfile") or data.get("configfiles") or []
    if isinstance(configfiles, str):
        configfiles = shlex.split(configfiles)
    return {
        "preset": values.get("preset"),
        "config": values,
        "configfiles": [p if Path(p).is_absolute() else str(p) for p in configfiles],
    }


def _argv_profiles(argv: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """The profiles named on a ``snakemake`` command line, with their settings, when the command
    line also gives ``--config`` (which replaces theirs)."""
    args = list(argv)
    if not any(a in ("--config", "-C") or a.startswith("--config=") for a in args):
        return []
    profiles = []
    for i, arg in enumerate(args):
        value = None
        if arg in ("--profile", "--profiles") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--profile="):
            value = arg.split("=", 1)[1]
        if value and (Path(value).is_dir() or Path(value).is_file()):
            try:
                profiles.append((value, profile_settings(value)))
            except ConfigError:
                continue  # not one of ours; Snakemake reports a broken profile itself
    return profiles


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


# -- validation -----------------------------------------------------------------------------------
def _key_path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _schema_errors(config: Mapping[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
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
        return str(config["models"]["densenet"])
    return name


def _unknown(kind: str, key: str, value: str, valid: Sequence[str]) -> str:
    hint = difflib.get_close_matches(str(value), list(valid), n=1)
    return (
        f"config key '{key}': unknown {kind} {value!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + f"; valid: {', '.join(valid)}"
    )


def check_device(value: str, key: str = "device") -> None:
    """Raise :class:`ConfigError` naming ``key`` when this machine cannot run on ``value``
    (e.g. ``cuda`` without CUDA). Called at parse time for local runs and at every job's start."""
    import socket

    from invtransfer.device import resolve_device

    try:
        resolve_device(value)
    except (ValueError, TypeError) as exc:
        reason = (
            str(exc)
            .removeprefix("device: ")
            .replace("this machine", f"this machine ({socket.gethostname()})")
        )
        raise ConfigError(
            f"config key '{key}': {reason}; set {key}: auto (or cpu), or run the jobs on a "
            "machine with CUDA"
        ) from None


def _check_arch_kwargs(config: Mapping[str, Any], archs: Sequence[str]) -> list[str]:
    from invtransfer.models import MODELS

    errors = []
    for name, kwargs in config["models"]["arch_kwargs"].items():
        key = f"models.arch_kwargs.{name}"
        if name not in archs:
            errors.append(_unknown("architecture", key, name, archs))
            continue
        accepted = MODELS[resolve_arch(name, config)].defaults
        for arg, value in kwargs.items():
            if arg not in accepted:
                valid = sorted(accepted)
                hint = difflib.get_close_matches(arg, valid, n=1)
                errors.append(
                    f"config key '{key}.{arg}': {name} has no argument {arg!r}"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                    + f"; its arguments: {', '.join(valid) or 'none'}"
                )
                continue
            default = accepted[arg]
            int_for_float = isinstance(default, float) and type(value) is int
            if default is not None and type(value) is not type(default) and not int_for_float:
                errors.append(
                    f"config key '{key}.{arg}': expected {type(default).__name__} "
                    f"(like the default {default!r}), got {value!r}"
                )
    return errors


def _object_needs(exps: Mapping[str, Any]) -> dict[str, int]:
    """Distinct objects each enabled experiment draws, by the config key that sets the number."""
    needs = {}
    if "t2d" in exps["tvo"]["families"]:
        needs["experiments.tvo.n_classes.t2d"] = 2 * exps["tvo"]["n_classes"]["t2d"]
    if exps["it"]["enabled"]:
        needs["experiments.it.n_classes"] = 2 * exps["it"]["n_classes"]
    if exps["tm"]["enabled"]:
        needs["experiments.tm.n_classes"] = exps["tm"]["n_classes"]
    if exps["ife"]["enabled"]:
        needs["experiments.ife.n_objects"] = exps["ife"]["n_objects"]
    return needs


def _cifar_train_per_class(config: Mapping[str, Any], family: str) -> int:
    """Training images per class of a CIFAR release after the (stratified) train/val split."""
    total = CIFAR_TRAIN_PER_CLASS[family]
    return total - round(total * config["assets"]["cifar"]["val_fraction"])


def _check_sample_counts(config: Mapping[str, Any]) -> list[str]:
    errors = []
    tvo = config["experiments"]["tvo"]
    for family in tvo["families"]:
        if family == "t2d":
            available, what = config["data"]["n_train"], "data.n_train"
        else:
            per_class = _cifar_train_per_class(config, family)
            k = tvo["n_classes"][family]
            available = per_class * k
            what = (
                f"{k} classes (experiments.tvo.n_classes.{family}) x {per_class} training images "
                f"per class of {family}"
            )
            values = [*tvo["pt_samples"][family], tvo["default_pt_samples"][family]]
            keys = [f"experiments.tvo.pt_samples.{family}[{i}]" for i in range(len(values) - 1)]
            keys.append(f"experiments.tvo.default_pt_samples.{family}")
            for key, n in zip(keys, values, strict=True):
                if n != "all" and n > per_class:
                    errors.append(
                        f"config key '{key}': {n} images per class, but {family} has only "
                        f"{per_class} training images per class (assets.cifar.val_fraction="
                        f"{config['assets']['cifar']['val_fraction']}); use at most {per_class} "
                        "or 'all'"
                    )
        for regime in tvo["regimes"]:
            if regime == "lp":
                continue
            n = tvo["finetune_samples"][family][regime]
            if isinstance(n, int) and n > available:
                errors.append(
                    f"config key 'experiments.tvo.finetune_samples.{family}.{regime}': {n} "
                    f"samples, but the target's training split has only {available} images "
                    f"({what}); use at most {available}, or a fraction in (0, 1]"
                )
    ife = config["experiments"]["ife"]
    if ife["enabled"] and ife["n_train"] is not None:
        available = _cifar_train_per_class(config, "cifar10") * CIFAR_CLASSES["cifar10"]
        if ife["n_train"] > available:
            errors.append(
                f"config key 'experiments.ife.n_train': {ife['n_train']} images, but CIFAR-10 "
                f"has {available} training images (assets.cifar.val_fraction="
                f"{config['assets']['cifar']['val_fraction']}); use at most {available} or null"
            )
    return errors


def _cross_checks(config: Mapping[str, Any]) -> list[str]:
    from invtransfer.models import MODELS

    errors: list[str] = []
    tnames = transform_names()
    archs = [*MODELS, "densenet"]
    exps = config["experiments"]

    def check_arch(key: str, name: str) -> None:
        if name not in archs:
            errors.append(_unknown("architecture", key, name, archs))

    for fam in ("tvo", "it", "tm"):
        for i, arch in enumerate(exps[fam]["architectures"]):
            check_arch(f"experiments.{fam}.architectures[{i}]", arch)
    check_arch("experiments.tvo.default_arch", exps["tvo"]["default_arch"])
    check_arch("experiments.ife.arch", exps["ife"]["arch"])
    errors += _check_arch_kwargs(config, archs)

    if exps["it"]["transforms"] != "all":
        for i, name in enumerate(exps["it"]["transforms"]):
            if name not in tnames:
                errors.append(
                    _unknown("transformation", f"experiments.it.transforms[{i}]", name, tnames)
                )
    if exps["tm"]["n_transforms"] > len(tnames):
        errors.append(
            f"config key 'experiments.tm.n_transforms': {exps['tm']['n_transforms']} exceeds the "
            f"{len(tnames)} available transformations"
        )

    objects = config["assets"]["objects"]
    if objects["count"] is not None and objects["names"] is not None:
        errors.append(
            "config keys 'assets.objects.count' and 'assets.objects.names': give one of them, not "
            "both (a layer that sets one unsets the other inherited from earlier layers)"
        )
    # Class counts against the objects the run may draw from (the pool is known here when the
    # config names it; otherwise the plan checks against the source's classes).
    pool = len(objects["names"]) if objects["names"] is not None else objects["count"]
    if pool is not None:
        for key, need in _object_needs(exps).items():
            if need > pool:
                errors.append(
                    f"config key '{key}': needs {need} distinct objects but assets.objects "
                    f"provides {pool} (raise assets.objects.count or lower {key})"
                )
    errors += _check_sample_counts(config)
    if exps["it"]["enabled"] and config["data"]["n_test"] < 2:
        errors.append(
            f"config key 'data.n_test': {config['data']['n_test']} test image, but sens "
            "(experiments.it) needs at least 2 per evaluation set"
        )
    vit, pre = config["training"]["vit"], config["training"]["pretrain"]
    uses_vit = any(
        "vit" in exps[f]["architectures"] for f in ("it", "tm", "tvo") if _enabled(exps, f)
    ) or (_enabled(exps, "tvo") and exps["tvo"]["default_arch"] == "vit")
    if uses_vit and vit["min_lr"] > pre["lr"]:
        errors.append(
            f"config key 'training.vit.min_lr': {vit['min_lr']} is above the learning rate it "
            f"decays from (training.pretrain.lr = {pre['lr']})"
        )
    return errors


def _enabled(exps: Mapping[str, Any], family: str) -> bool:
    if family == "tvo":
        return bool(exps["tvo"]["families"])
    return bool(exps[family]["enabled"])


def check_config(
    config: Mapping[str, Any], *, local: bool = False, workdir: str | Path | None = None
) -> Config:
    """Fill the schema defaults into ``config``, validate it once and return a :class:`Config`.

    Raises :class:`ConfigError` listing every problem, each naming its key. With ``local=True``
    (the jobs run on this machine) the ``device`` is checked here too. ``workdir`` is where
    ``profiles/<preset>/`` lives; a ``preset`` set in ``config`` itself must exist there.
    """
    if isinstance(config, Config):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"the configuration must be a mapping, got {type(config).__name__}")
    filled = _fill(_schema(), config)
    errors = _schema_errors(filled)
    if not errors:
        errors = _cross_checks(filled)
    if not errors and filled["preset"] is not None and workdir is not None:
        try:
            preset_file(filled["preset"], workdir)
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))
    if local and filled["device"] not in ("auto", "cpu"):
        check_device(filled["device"])
    return Config(filled, _validated=True)
