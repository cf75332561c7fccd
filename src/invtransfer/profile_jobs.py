"""The workflow's profile jobs: the config's ``profile`` section (``profile.models`` entries and
the settings beside them) checked at parse time (:func:`profile_entries`), the files a job reads
(:func:`profile_input_files`) and one job (:func:`profile_job`: load the model, measure with
:func:`invtransfer.profile.profile_model`, write its folder). The measurements themselves are
:mod:`invtransfer.profile`'s; ``workflow/rules/common.smk`` and ``steps.profile_model`` use this
module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from invtransfer.profile import ProfileOptions, ProfileResult, profile_model, write_profile

__all__ = [
    "MODEL_ENTRY_KEYS",
    "SETTING_KEYS",
    "profile_entries",
    "profile_input_files",
    "profile_job",
]

#: Keys of one entry of the config's ``profile.models`` list (the arguments of load_embedder).
MODEL_ENTRY_KEYS = ("model", "weights", "random_init", "input_size", "mean", "std", "layer",
                    "pool", "label")  # fmt: skip
#: Keys of the config's ``profile`` section besides ``models`` (ProfileOptions' fields).
SETTING_KEYS = ("transforms", "pairs", "seed", "chunk_size", "bins", "spec")


def profile_job(
    entry: Mapping[str, Any], settings: Mapping[str, Any], out_dir: str | os.PathLike[str],
    *, device: str = "auto",
) -> ProfileResult:  # fmt: skip
    """One workflow job: profile the model of a config entry (``profile.models[i]``) with the
    section's settings and write ``out_dir`` (:func:`write_profile`). Unknown keys are a
    ``ValueError`` naming them and the valid ones."""
    from invtransfer.embedders import load_embedder

    for given, valid, where in ((entry, MODEL_ENTRY_KEYS, "profile.models[]"),
                                (settings, SETTING_KEYS, "profile")):  # fmt: skip
        unknown = sorted(set(given) - set(valid))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; valid: {', '.join(valid)}")
    if "model" not in entry:
        raise ValueError("profile.models[]: every entry needs 'model' (e.g. torchvision:resnet50)")
    embedder = load_embedder(**dict(entry), device=device)
    transforms = settings.get("transforms", "all")
    options = ProfileOptions(
        transforms=None if transforms == "all" else tuple(transforms),
        n_pairs=int(settings.get("pairs", ProfileOptions.n_pairs)),
        seed=int(settings.get("seed", ProfileOptions.seed)),
        chunk_size=int(settings.get("chunk_size", ProfileOptions.chunk_size)),
        bins=int(settings.get("bins", ProfileOptions.bins)),
        spec=settings.get("spec"),
    )
    result = profile_model(embedder, options)
    write_profile(result, out_dir)
    return result


def profile_entries(models: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The config's ``profile.models`` keyed by label (``label`` or
    :func:`~invtransfer.embedders.default_label`), checked at parse time: known keys, ``model``
    given, exactly one of ``weights``/``random_init`` for torchvision/timm models and none for
    the others, unique labels. A model folder that does not exist yet is fine (the workflow may
    train it)."""
    from invtransfer.embedders import default_label

    out: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(models):
        where = f"profile.models[{i}]"
        if not isinstance(entry, Mapping) or not entry.get("model"):
            raise ValueError(f"{where}: needs a 'model' (e.g. torchvision:resnet50)")
        unknown = sorted(set(entry) - set(MODEL_ENTRY_KEYS))
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {unknown}; valid: {', '.join(MODEL_ENTRY_KEYS)}"
            )
        model = str(entry["model"])
        hub = model.split(":", 1)[0] in ("torchvision", "timm")
        given = ("weights" in entry) + ("random_init" in entry)
        if hub and given != 1:
            raise ValueError(f"{where}: {model} needs exactly one of weights and random_init")
        if not hub and given:
            raise ValueError(
                f"{where}: weights/random_init apply to torchvision:/timm: models only"
            )
        if "label" in entry:
            label = str(entry["label"])
        elif hub or model.startswith("torchscript:"):
            label = default_label(model, entry.get("weights"), entry.get("random_init"))
        else:  # a folder or file that the workflow may still build
            label = Path(model).stem if Path(model).suffix in (".pt", ".pth") else Path(model).name
        if label in out:
            raise ValueError(f"{where}: label {label!r} is taken by another entry; set 'label'")
        out[label] = dict(entry)
    return out


def profile_input_files(entry: Mapping[str, Any]) -> list[str]:
    """The files a profile job of ``entry`` reads (a rule's inputs): the weights file, the
    TorchScript file, or a model folder's ``model.pt``."""
    model = str(entry["model"])
    if "weights" in entry:
        return [str(entry["weights"])]
    kind, _, rest = model.partition(":")
    if kind in ("torchvision", "timm"):
        return []
    path = Path(rest if kind == "torchscript" else model)
    if kind == "torchscript" or path.suffix in (".pt", ".pth"):
        return [str(path)]
    return [str(path / "model.pt")]
