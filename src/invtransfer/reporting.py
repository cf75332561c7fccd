"""Paper artifacts from tidy tables: which plot/table function draws each figure/table, with what.

The workflow hands over the tidy tables an artifact depends on (``results/tables/<key>.csv``, see
:mod:`invtransfer.targets`) keyed by file stem; this module concatenates them per kind (``tvo``,
``it``, ``tm``, ``ife``, ``ife_sens``), works out why absent parts are absent (from the config),
and calls :mod:`invtransfer.plots`, :mod:`invtransfer.tables` or :mod:`invtransfer.scorecard`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from invtransfer.aggregation import IT_EVALS, TRANSFORM_ORDER, TVO_FAMILIES, canonical_arch
from invtransfer.config import resolve_arch

__all__ = ["figure", "scorecard", "table"]

_TVO_FIGS = {
    "fig2": ("t2d", "lp"),
    "fig7": ("cifar10", "lp"),
    "fig8": ("cifar100", "lp"),
    "fig9": ("t2d", "ft-low"),
    "fig10": ("cifar10", "ft-low"),
    "fig11": ("cifar100", "ft-low"),
}
_DIFF_FIGS = {"fig3": "lp", "fig12": "ft-low", "fig13": "ft-high"}
_IT_TABLES = {"table3": "vgg11", "table4": "densenet", "table5": "vit"}


def _by_kind(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Concatenate ``tvo_t2d_lp``, ``tvo_cifar10_lp``, … into ``tvo`` (likewise it, tm, ife)."""
    groups: dict[str, list[pd.DataFrame]] = {}
    for key, df in tables.items():
        kind = "ife_sens" if key.startswith("ife_sens_") else key.split("_", 1)[0]
        groups.setdefault(kind, []).append(df)
    out = {k: pd.concat(v, ignore_index=True) for k, v in groups.items()}
    if "tvo" in out:
        out["tvo"]["value"] = out["tvo"]["value"].astype(str)
    return out


def _first_arch(config: Mapping[str, Any], family: str) -> str | None:
    archs = config["experiments"].get(family, {}).get("architectures", [])
    return resolve_arch(archs[0], config) if archs else None


def _arch_labels(config: Mapping[str, Any]) -> dict[str, str]:
    labels = {
        "densenet_cifar": "DenseNet (densenet_cifar, growth 12: the reference's 'DenseNet-121')",
        "densenet121": "DenseNet-121 (growth 32)",
        "resnet18": "ResNet-18",
        "resnet50": "ResNet-50",
        "vgg11": "VGG-11",
        "vit": "ViT",
    }
    for name, kwargs in config.get("models", {}).get("arch_kwargs", {}).items():
        if kwargs:
            extra = ", ".join(f"{k}={v}" for k, v in kwargs.items())
            labels[name] = f"{labels.get(name, name)} ({extra})"
    if config.get("models", {}).get("densenet") == "densenet121":
        labels["densenet"] = labels["densenet121"]
    else:
        labels["densenet"] = labels["densenet_cifar"]
    return labels


def _reasons(config: Mapping[str, Any], notes: Mapping[str, str]) -> dict[str, str]:
    """Why parts of an artifact are absent, keyed the way plots/tables/scorecard look them up."""
    exps = config["experiments"]
    reasons: dict[str, str] = {}
    families = exps.get("tvo", {}).get("families", [])
    for fam in TVO_FAMILIES:
        if fam not in families:
            reasons[fam] = f"{fam} not in experiments.tvo.families of this run"
    evals = exps.get("it", {}).get("evals", [])
    for ev in IT_EVALS:
        if ev not in evals:
            why = f"{ev} not in experiments.it.evals of this run"
            if ev.startswith("cifar"):
                why += " (needs CIFAR data; see README)"
            reasons[ev] = why
            for table in ("table2", "table3", "table4", "table5"):
                reasons[f"{table}:{ev}"] = why
    for fam in ("it", "tm", "ife"):
        if not exps.get(fam, {}).get("enabled", False):
            reasons[fam] = f"experiments.{fam}.enabled is false in this run"
    reasons.update({k: v for k, v in notes.items() if k not in reasons})
    return reasons


_CIFAR_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_TVO_FIG_OF = {(fam, reg): fig for fig, (fam, reg) in _TVO_FIGS.items()}
_PAPER_TM = {"fig18a": "vgg11", "fig18b": "densenet", "fig18c": "vit"}


def _cifar_hint(dataset: str) -> str:
    """How to get a CIFAR data set, for reasons that depend on it."""
    folder = "cifar-10-batches-py/" if dataset == "cifar10" else "cifar-100-python/"
    return (
        f"needs {_CIFAR_NAMES.get(dataset, dataset)}: {folder} in assets.cifar.path "
        "(or $INVTRANSFER_CIFAR_DIR), or assets.cifar.download: true"
    )


def panel_reasons(config: Mapping[str, Any]) -> dict[str, str]:
    """Why a paper panel, column or row is absent in a run of ``config``, keyed the way the
    scorecard looks reasons up (``fig7a``, ``fig13b:arch``, ``table3``, ``table2:cifar10``,
    ``fig16:shear``, ``fig14a``): the config key that leaves it empty and how to get it."""
    from invtransfer.scorecard import ARTIFACTS as PANELS

    exps = config["experiments"]
    tvo = exps.get("tvo", {})
    families, regimes = tvo.get("families", []), tvo.get("regimes", ["lp"])
    out: dict[str, str] = {}

    def tvo_reason(family: str, regime: str) -> str | None:
        if family not in families:
            hint = f"; {_cifar_hint(family)}" if family in _CIFAR_NAMES else ""
            return f"{family} is not in experiments.tvo.families (add it{hint})"
        if regime not in regimes:
            return f"{regime} is not in experiments.tvo.regimes (add it)"
        return None

    for name, spec in PANELS.items():
        if spec.source == "tvo":
            why = tvo_reason(spec.params["family"], spec.params["regime"])
            if why:
                out[name] = why
    for fam in ("it", "tm", "ife"):
        if not exps.get(fam, {}).get("enabled", False):
            hint = (
                f"; IFE pastes objects on CIFAR-10: {_cifar_hint('cifar10')}"
                if fam == "ife"
                else ""
            )
            why = f"experiments.{fam}.enabled is false (set it to true{hint})"
            for name, spec in PANELS.items():
                if spec.source == fam or (fam == "ife" and name == "table1"):
                    out[name] = why
    it = exps.get("it", {})
    if it.get("enabled", False):
        it_archs = [resolve_arch(a, config) for a in it.get("architectures", [])]
        for table, arch in _IT_TABLES.items():
            if resolve_arch(arch, config) not in it_archs:
                out[table] = f"{arch} is not in experiments.it.architectures (add it)"
        evals = it.get("evals", list(IT_EVALS))
        for ev in IT_EVALS:
            if ev not in evals:
                hint = f"; {_cifar_hint(ev)}" if ev in _CIFAR_NAMES else ""
                for table in ("table2", *_IT_TABLES):
                    out.setdefault(
                        f"{table}:{ev}", f"{ev} is not in experiments.it.evals (add it{hint})"
                    )
        transforms = it.get("transforms", "all")
        if transforms != "all":
            for t in TRANSFORM_ORDER:
                if t not in transforms:
                    for fig in ("fig16", "fig17"):
                        out[f"{fig}:{t}"] = f"{t} is not in experiments.it.transforms (add it)"
    tm = exps.get("tm", {})
    if tm.get("enabled", False):
        tm_archs = [resolve_arch(a, config) for a in tm.get("architectures", [])]
        for fig, arch in _PAPER_TM.items():
            if resolve_arch(arch, config) not in tm_archs:
                out[fig] = f"{arch} is not in experiments.tm.architectures (add it)"
    ife = exps.get("ife", {})
    if ife.get("enabled", False):
        variants = ife.get("variants", ["fixed", "translate"])
        if "translate" not in variants:
            out["table1"] = "translate is not in experiments.ife.variants (add it)"
        sweeps = [("relevance", "correlations")] * 2 + [("availability", "availabilities")] * 2
        for letter, (sweep, key) in zip("abcd", sweeps, strict=True):
            if "fixed" not in variants:
                out[f"fig14{letter}"] = "fixed is not in experiments.ife.variants (add it)"
            elif not ife.get(key):
                out[f"fig14{letter}"] = f"experiments.ife.{key} is empty (list the {sweep} values)"
    return out


def _stem(out: Path) -> Path:
    return out.with_suffix("")


def figure(
    artifact: str,
    tables: Mapping[str, pd.DataFrame],
    out_pdf: Path,
    *,
    notes: Mapping[str, str],
    config: Mapping[str, Any],
) -> None:
    """Draw ``figures/<artifact>.pdf`` (and its PNG twin) from the tidy tables it depends on."""
    from invtransfer import plots

    data = _by_kind(tables)
    reasons = _reasons(config, notes)
    labels = _arch_labels(config)
    stem = _stem(Path(out_pdf))
    empty = {
        "tvo": pd.DataFrame(columns=["family", "regime", "factor", "value", "value_order",
                                     "relation", "seed", "training_acc", "transfer_acc"]),
        "tm": pd.DataFrame(columns=["arch", "seed", "n_train_transforms", "n_target_transforms",
                                    "accuracy"]),
        "ife": pd.DataFrame(columns=["seed", "variant", "experiment", "sweep_value", "pretrain",
                                     "target", "accuracy"]),
        "it": pd.DataFrame(columns=["arch", "seed", "model_type", "train_transform", "eval",
                                    "target_transform", "sens"]),
    }  # fmt: skip

    def get(kind: str) -> pd.DataFrame:
        return data.get(kind, empty[kind])

    if artifact in _TVO_FIGS:
        family, regime = _TVO_FIGS[artifact]
        plots.fig_tvo_factors(get("tvo"), family, regime, stem, labels=labels, reasons=reasons)
    elif artifact in _DIFF_FIGS:
        plots.fig_tvo_diff(get("tvo"), _DIFF_FIGS[artifact], stem, reasons=reasons)
    elif artifact == "fig4":
        arch = _first_arch(config, "tm") or "resnet18"
        plots.fig_tm(get("tm"), arch, stem, labels=labels, reasons=reasons)
    elif artifact == "fig18":
        archs = [resolve_arch(a, config) for a in ("vgg11", "densenet", "vit")]
        plots.fig_tm(get("tm"), archs, stem, labels=labels, reasons=reasons)
    elif artifact == "fig14":
        plots.fig_ife_sweeps(get("ife"), stem, variant="fixed", reasons=reasons)
    elif artifact in ("fig16", "fig17"):
        arch = _first_arch(config, "it") or "resnet18"
        model_type = "image" if artifact == "fig16" else "random"
        plots.fig_it_heatmap(
            get("it"), model_type, stem, arch=arch, arch_label=labels.get(arch, arch),
            reason=reasons.get("it"),
        )  # fmt: skip
    else:
        raise ValueError(f"no figure recipe for {artifact!r}")


def table(
    artifact: str,
    tables: Mapping[str, pd.DataFrame],
    out_md: Path,
    *,
    notes: Mapping[str, str],
    config: Mapping[str, Any],
) -> None:
    """Write ``tables/<artifact>.{md,tex,csv}`` from the tidy tables it depends on."""
    from invtransfer import tables as tab

    if artifact == "scorecard":
        scorecard(tables, Path(out_md), notes=notes, config=config)
        return
    data = _by_kind(tables)
    reasons = _reasons(config, notes)
    labels = _arch_labels(config)
    if artifact == "table1":
        empty_ife = pd.DataFrame(
            columns=[
                "seed",
                "variant",
                "experiment",
                "sweep_value",
                "pretrain",
                "target",
                "accuracy",
            ]
        )
        empty_sens = pd.DataFrame(columns=["seed", "variant", "pretrain", "changed", "sens"])
        result = tab.table1(
            data.get("ife", empty_ife), data.get("ife_sens", empty_sens), "translate",
            reasons=reasons, name="Table 1",
        )  # fmt: skip
    elif artifact == "table2" or artifact in _IT_TABLES:
        if artifact == "table2":
            arch = _first_arch(config, "it") or "resnet18"
        else:
            arch = resolve_arch(_IT_TABLES[artifact], config)
        it = data.get("it")
        if it is None:
            it = pd.DataFrame(columns=["arch", "seed", "model_type", "train_transform", "eval",
                                       "target_transform", "sens"])  # fmt: skip
        result = tab.table_it(
            it, arch, reasons=reasons, arch_label=labels.get(arch, arch),
            name=f"Table {artifact[5:]}",
        )  # fmt: skip
    else:
        raise ValueError(f"no table recipe for {artifact!r}")
    tab.write_table(result, _stem(Path(out_md)))


def scorecard(
    tables: Mapping[str, pd.DataFrame],
    out_md: Path,
    *,
    notes: Mapping[str, str],
    config: Mapping[str, Any],
) -> None:
    """``tables/scorecard.md``: every paper number beside ours, and each claim's verdict.

    The paper's main-text artifacts are ResNet-18 runs. When a preset trains a different first
    architecture (e.g. the quick preset's small CNN), its results stand in for ResNet-18 in the
    comparison, and the scorecard header says so.
    """
    from invtransfer.scorecard import build_scorecard

    data = _by_kind(tables)
    labels: dict[str, str] = {}
    for fam in ("it", "tm"):
        first = _first_arch(config, fam)
        if first and canonical_arch(first) != "resnet18" and fam in data:
            df = data[fam]
            present = set(df["arch"].map(canonical_arch))
            if "resnet18" not in present:
                df = df.copy()
                df.loc[df["arch"] == first, "arch"] = "resnet18"
                data[fam] = df
                labels[f"resnet18 ({fam})"] = f"{first}, this preset's stand-in for ResNet-18"
    arch_labels = {**labels, "densenet": _arch_labels(config)["densenet"]}
    reasons = {**notes, **panel_reasons(config)}
    build_scorecard(data, out_md, reasons=reasons, arch_labels=arch_labels)
