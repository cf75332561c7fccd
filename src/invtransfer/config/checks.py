"""One validation of a composed configuration: the schema, then the cross-field checks.

Every error names its key (and, for counts, the numbers) and says what would be valid.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from invtransfer.config.schema import Config, _fill, _schema
from invtransfer.errors import ConfigError

__all__ = [
    "CIFAR_CLASSES",
    "CIFAR_TRAIN_PER_CLASS",
    "check_config",
    "check_device",
    "resolve_arch",
    "transform_names",
]

#: Per-class training images of the CIFAR releases before the train/val split.
CIFAR_TRAIN_PER_CLASS = {"cifar10": 5000, "cifar100": 500}
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}


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


def check_config(config: Mapping[str, Any], *, local: bool = False) -> Config:
    """Fill the schema defaults into ``config``, validate it once and return a :class:`Config`.

    Raises :class:`ConfigError` listing every problem, each naming its key. With ``local=True``
    (the jobs run on this machine) the ``device`` is checked here too. (A ``preset`` is
    resolved when the layers are composed, :mod:`invtransfer.config.layers`.)
    """
    if isinstance(config, Config):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"the configuration must be a mapping, got {type(config).__name__}")
    filled = _fill(_schema(), config)
    errors = _schema_errors(filled)
    if not errors:
        errors = _cross_checks(filled)
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))
    if local and filled["device"] not in ("auto", "cpu"):
        check_device(filled["device"])
    return Config(filled, _validated=True)
