"""Configuration layers: config.yaml, a preset's overlay, the user's files and ``--config``.

Later wins; mappings merge key by key, lists and scalars replace. ``assets.objects.count`` and
``names`` are alternatives: a layer that sets one unsets the other inherited from earlier layers.
"""

from __future__ import annotations

import copy
import difflib
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from invtransfer.config.checks import check_config
from invtransfer.config.schema import Config
from invtransfer.errors import ConfigError

__all__ = [
    "ALTERNATIVES",
    "compose_layers",
    "deep_merge",
    "load_config",
    "preset_file",
    "profile_settings",
    "workflow_config",
]

#: Keys of one mapping that are alternatives: a layer setting one unsets the others it inherits.
ALTERNATIVES: dict[tuple[str, ...], tuple[str, ...]] = {("assets", "objects"): ("count", "names")}


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
    config = check_config(compose_layers(layers), local=local)
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
    # as Snakemake: a path that exists inside the profile folder is taken from there
    configfiles = [str(folder / p) if (folder / p).exists() else str(p) for p in configfiles]
    return {"preset": values.get("preset"), "config": values, "configfiles": configfiles}


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
