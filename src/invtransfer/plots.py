"""The paper's figures (2, 3, 4, 7–14, 16–18) from tidy results.

Every function takes a tidy frame (schemas in :mod:`invtransfer.aggregation`), draws with seaborn
on a matplotlib ``Figure`` (Agg canvas, no pyplot state, so figures never leak between calls) and
writes ``<stem>.pdf`` and ``<stem>.png`` atomically. Lines show the mean with seaborn's 95 %
bootstrap CI over seeds (``n_boot=1000`` and a fixed ``seed``: the same inputs give byte-identical
files). Panels whose data are absent are drawn empty with a "not run: <reason>" note, never left
out; the caller passes the reasons. Every ``fig_*`` has a ``draw_*`` twin that returns the
``Figure`` instead of writing it (notebooks, tests).

Paper ↔ function:

* Fig. 2 / 7 / 8 (linear probe) and 9 / 10 / 11 (full fine-tuning, low data): :func:`fig_tvo_factors`
* Fig. 3 (probe), 12 (fine-tuning, low data), 13 (high data): :func:`fig_tvo_diff`
* Fig. 4 (ResNet-18) and 18 (VGG-11, DenseNet, ViT): :func:`fig_tm`
* Fig. 14: :func:`fig_ife_sweeps`; Fig. 16 / 17: :func:`fig_it_heatmap`

Why one module of ~570 lines: the figure families share the helpers that make every figure read
the same (the "not run" panels and their wrapping, label fitting, legends below the panels,
byte-identical saving), about a third of the module; a module per family would leave each with
~100 lines and move those helpers into yet another module.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from invtransfer.aggregation import (
    IFE_LABELS,
    TRANSFORM_ORDER,
    TVO_FACTORS,
    TVO_FAMILIES,
    canonical_arch,
    ife_sweep,
    it_heatmap,
    tvo_diff,
    validate_frame,
)
from invtransfer.io import atomic_path

__all__ = [
    "DEFAULT_VALUE_LABELS",
    "draw_ife_sweeps",
    "draw_it_heatmap",
    "draw_tm",
    "draw_tvo_diff",
    "draw_tvo_factors",
    "fig_ife_sweeps",
    "fig_it_heatmap",
    "fig_tm",
    "fig_tvo_diff",
    "fig_tvo_factors",
    "save_figure",
]

# Tick labels for factor values / architectures; callers add or override entries (e.g. to say
# which DenseNet a run used: {"densenet": "DN (densenet_cifar)"}).
DEFAULT_VALUE_LABELS: dict[str, str] = {
    "resnet18": "ResNet18",
    "resnet18_w": "ResNet18 (narrow)",
    "vgg11_w": "VGG11 (narrow)",
    "resnet50": "ResNet50",
    "densenet": "DenseNet",
    "densenet121": "DN121",
    "densenet_cifar": "DN (cifar)",
    "vgg11": "VGG11",
    "vit": "ViT",
}
FACTOR_LABELS = {"class_rel": "Class Rel.", "arch": "Architecture", "pt_samples": "PT Samples"}
FAMILY_LABELS = {"t2d": "Transforms-2D", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_PALETTE = sns.color_palette("deep")
REL_COLORS = {"same": _PALETTE[0], "disjoint": _PALETTE[1]}  # paper: blue = same, orange = disjoint
_STYLE = {**sns.axes_style("whitegrid"), "font.size": 9, "axes.titlesize": 10}
_CI = ("ci", 95)
_DOTTED = (1, 1.5)  # training curves (paper: dotted); in units of the line width
_N_BOOT = 1000


def save_figure(fig: Figure, stem: str | os.PathLike[str], *, dpi: int = 150) -> dict[str, Path]:
    """Write ``<stem>.pdf`` and ``<stem>.png`` atomically (PDF without a creation date, so reruns
    are byte-identical); returns the two paths."""
    stem = Path(stem)
    if stem.suffix in (".pdf", ".png"):
        raise ValueError(f"stem must not carry a suffix (got {stem}); pass e.g. figures/fig2")
    FigureCanvasAgg(fig)
    paths = {ext: stem.with_name(f"{stem.name}.{ext}") for ext in ("pdf", "png")}
    with atomic_path(paths["pdf"]) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None}, bbox_inches="tight")
    with atomic_path(paths["png"]) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return paths


def _new_figure(
    ncols: int, panel: tuple[float, float], nrows: int = 1
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.ravel())


_NOT_RUN_FONTSIZE = 8


def _wrap(text: str, width_in: float, fontsize: float) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``fontsize`` points (a glyph
    is at most ~0.6 em wide on average in DejaVu Sans); existing line breaks are kept."""
    chars = max(10, int(width_in * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.splitlines())


def _not_run(ax: Axes, reason: str, *, width_in: float) -> None:
    """An empty panel that says why it is empty, wrapped to the panel (``width_in``: the panel's
    width in inches). Kept out of the layout computation so a long reason cannot squeeze the
    other panels."""
    ax.text(
        0.5, 0.5, _wrap(f"not run: {reason}", 0.8 * width_in, _NOT_RUN_FONTSIZE), ha="center",
        va="center", transform=ax.transAxes, fontsize=_NOT_RUN_FONTSIZE, color="0.35",
        in_layout=False,
    )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _reason(reasons: Mapping[str, str] | None, keys: Sequence[str], default: str) -> str:
    for key in keys:
        if reasons and key in reasons:
            return str(reasons[key])
    return default


def _value_label(value: str, labels: Mapping[str, str] | None) -> str:
    if labels and value in labels:
        return labels[value]
    return DEFAULT_VALUE_LABELS.get(value, value)


def _fit_labels(labels: Sequence[str], slot_in: float, fontsize: float = 9) -> list[str]:
    """Tick labels broken at spaces so that each fits its slot (``slot_in`` inches per tick)."""
    return [_wrap(label, slot_in, fontsize) for label in labels]


# ----------------------------------------------------------------------------------------------
# TvO


def draw_tvo_factors(
    tvo_df: pd.DataFrame,
    family: str,
    regime: str,
    *,
    labels: Mapping[str, str] | None = None,
    reasons: Mapping[str, str] | None = None,
    seed: int = 0,
    n_boot: int = _N_BOOT,
) -> Figure:
    """Fig. 2 (T2D), 7 (CIFAR-10), 8 (CIFAR-100) for ``regime="lp"``; 9 / 10 / 11 for ``"ft-low"``.

    Three panels (class relationship, architecture, pretraining samples); x = factor value in
    ``value_order``; lines = {same (blue), disjoint (orange)} × {training (dotted), transfer
    (solid)} with the 95 % bootstrap CI over seeds. ``labels`` maps values to tick labels;
    ``reasons`` maps a factor (or ``"*"``) to why its panel is empty.
    """
    df = validate_frame(tvo_df, "tvo")
    df = df[(df["family"] == family) & (df["regime"] == regime)]
    long = df.melt(
        id_vars=["factor", "value", "value_order", "relation", "seed"],
        value_vars=["training_acc", "transfer_acc"],
        var_name="metric",
        value_name="accuracy",
    )
    long["metric"] = long["metric"].str.replace("_acc", "", regex=False)
    panel = (4.0, 3.0)
    with mpl.rc_context(_STYLE):
        fig, axes = _new_figure(3, panel)
        for ax, factor in zip(axes, TVO_FACTORS, strict=True):
            sub = long[long["factor"] == factor]
            if sub.empty:
                default = f"no {family}/{regime} results for {FACTOR_LABELS[factor]}"
                _not_run(ax, _reason(reasons, [factor, "*"], default), width_in=panel[0])
                ax.set_xlabel(FACTOR_LABELS[factor])
                continue
            order = sub.drop_duplicates("value").sort_values("value_order", kind="stable")
            pos = {v: i for i, v in enumerate(order["value"])}
            sub = sub.assign(x=sub["value"].map(pos))
            sns.lineplot(
                data=sub, x="x", y="accuracy", hue="relation", hue_order=["same", "disjoint"],
                style="metric", style_order=["transfer", "training"],
                dashes={"transfer": "", "training": _DOTTED}, markers={"transfer": "o", "training": "s"},
                palette=REL_COLORS, errorbar=_CI, n_boot=n_boot, seed=seed, ax=ax, legend=False,
            )  # fmt: skip
            ticks = [_value_label(v, labels) for v in pos]
            ax.set_xticks(range(len(pos)), _fit_labels(ticks, 0.8 * panel[0] / len(pos)))
            xlabel = FACTOR_LABELS[factor]
            if factor == "pt_samples" and family != "t2d":
                xlabel += " per class"
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Accuracy")
        handles = [
            Line2D([], [], color=REL_COLORS[rel], ls="-" if met == "transfer" else (0, _DOTTED),
                   marker="o" if met == "transfer" else "s", label=f"{rel}, {met}")
            for rel in ("same", "disjoint") for met in ("transfer", "training")
        ]  # fmt: skip
        fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncols=4)
        fig.suptitle(f"{FAMILY_LABELS.get(family, family)} — {_REGIME_TITLES.get(regime, regime)}")
        return fig


_REGIME_TITLES = {
    "lp": "linear probe",
    "ft-low": "full fine-tuning, low data",
    "ft-high": "full fine-tuning, high data",
}


def draw_tvo_diff(
    tvo_df: pd.DataFrame,
    regime: str,
    *,
    families: Sequence[str] = TVO_FAMILIES,
    reasons: Mapping[str, str] | None = None,
) -> Figure:
    """Fig. 3 (``regime="lp"``), 12 (``"ft-low"``), 13 (``"ft-high"``): one panel per family.

    Per factor three bars (:func:`invtransfer.aggregation.tvo_diff`): orange = span of the
    disjoint models' mean transfer accuracy over the factor's values (dot at the mean), blue = the
    same for same-transformation models, black = |mean same − mean disjoint|; every bar is
    labelled with its length. ``reasons`` maps a family (or ``"<family>:<factor>"``) to why it is
    empty.
    """
    df = validate_frame(tvo_df, "tvo")
    width = 0.26  # bar slot (data units); the bar labels are narrower than a slot
    panel = (4.5, 3.2)
    with mpl.rc_context(_STYLE):
        fig, axes = _new_figure(len(families), panel)
        for ax, family in zip(axes, families, strict=True):
            ax.set_title(FAMILY_LABELS.get(family, family))
            stats = tvo_diff(df, family, regime)
            if stats.empty:
                why = _reason(reasons, [family], f"no {family}/{regime} results")
                _not_run(ax, why, width_in=panel[0])
                continue
            by_factor = {r["factor"]: r for r in stats.to_dict("records")}
            lows, highs = [], []
            for i, factor in enumerate(TVO_FACTORS):
                row = by_factor.get(factor)
                if row is None:
                    note = _reason(reasons, [f"{family}:{factor}", family], "no results")
                    slot = 0.8 * panel[0] / len(TVO_FACTORS)
                    ax.text(i, 0.5, _wrap(f"not run: {note}", 0.9 * slot, 7), ha="center",
                            va="center", fontsize=7, color="0.35", in_layout=False,
                            transform=ax.get_xaxis_transform())  # fmt: skip
                    continue
                bars = [
                    (i - width, row["disjoint_min"], row["disjoint_span"], REL_COLORS["disjoint"], row["disjoint_mean"]),
                    (i, row["same_min"], row["same_span"], REL_COLORS["same"], row["same_mean"]),
                    (i + width, min(row["same_mean"], row["disjoint_mean"]), row["gap"], "black", None),
                ]  # fmt: skip
                for x, bottom, height, color, dot in bars:
                    ax.bar(x, height, bottom=bottom, width=width * 0.8, color=color)
                    if dot is not None:
                        ax.plot([x], [dot], marker="o", color="white", mec="black", ms=4, zorder=3)
                    ax.annotate(
                        f"{height:.2f}", (x, bottom + height), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6.5,
                    )  # fmt: skip
                    lows.append(bottom)
                    highs.append(bottom + height)
            if lows:
                pad = max(0.02, 0.15 * (max(highs) - min(lows)))
                ax.set_ylim(min(lows) - pad, max(highs) + pad)
            ax.set_xlim(-0.5, len(TVO_FACTORS) - 0.5)
            ax.set_xticks(range(len(TVO_FACTORS)), [FACTOR_LABELS[f] for f in TVO_FACTORS])
            ax.set_ylabel("Accuracy")
        handles = [
            Patch(color=REL_COLORS["disjoint"], label="within disjoint"),
            Patch(color=REL_COLORS["same"], label="within same"),
            Patch(color="black", label="same vs. disjoint"),
        ]
        fig.legend(handles=handles, title="Differences", fontsize=7, title_fontsize=7,
                   loc="outside lower center", ncols=3)  # fmt: skip
        fig.suptitle(f"Transfer accuracy differences — {_REGIME_TITLES.get(regime, regime)}")
        return fig


# ----------------------------------------------------------------------------------------------
# TM


def draw_tm(
    tm_df: pd.DataFrame,
    archs: str | Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    reasons: Mapping[str, str] | None = None,
    seed: int = 0,
    n_boot: int = _N_BOOT,
) -> Figure:
    """Fig. 4 (``archs="resnet18"``) and Fig. 18 (``["vgg11", "densenet", "vit"]``, one panel
    each): x = number of transfer (target) transformations, y = transfer accuracy, one line per
    number of training transformations (tab10), 95 % bootstrap CI over seeds."""
    df = validate_frame(tm_df, "tm")
    arch_list = [archs] if isinstance(archs, str) else list(archs)
    if not arch_list:
        raise ValueError("fig_tm: archs must name at least one architecture")
    panel = (4.5, 3.5)
    with mpl.rc_context(_STYLE):
        fig, axes = _new_figure(len(arch_list), panel)
        for k, (ax, arch) in enumerate(zip(axes, arch_list, strict=True)):
            sub = df[df["arch"].map(canonical_arch) == canonical_arch(arch)]
            title = _value_label(arch, labels)
            if len(arch_list) > 1:
                title = f"({'abcdefgh'[k]}) {title}"
            ax.set_title(title)
            if sub.empty:
                why = _reason(reasons, [arch], f"no invariance-mismatch results for {arch}")
                _not_run(ax, why, width_in=panel[0])
                continue
            sub = sub.assign(train=sub["n_train_transforms"].astype(int).astype(str))
            hue_order = [str(k) for k in sorted(sub["n_train_transforms"].astype(int).unique())]
            sns.lineplot(
                data=sub, x="n_target_transforms", y="accuracy", hue="train", hue_order=hue_order,
                palette="tab10", errorbar=_CI, n_boot=n_boot, seed=seed, marker="o", ms=3, ax=ax,
            )  # fmt: skip
            ax.set_xlabel("# Transfer Transforms")
            ax.set_ylabel("Transfer accuracy")
            ax.set_xticks(sorted(sub["n_target_transforms"].astype(int).unique()))
            ax.legend(title="# Training\nTransforms", fontsize=7, title_fontsize=7,
                      loc="center left", bbox_to_anchor=(1.0, 0.5))  # fmt: skip
        return fig


# ----------------------------------------------------------------------------------------------
# IFE sweeps

_IFE_REF_LABELS = {
    "C+O/C": "mixed CIFAR labels",
    "C/C": "CIFAR-only",
    "C+O/O": "mixed object labels",
    "O/O": "objects-only",
}
_IFE_PANELS = (
    ("relevance", "C+O/C", "CIFAR-Object Label Correlation α", "CIFAR Accuracy"),
    ("relevance", "C+O/O", "CIFAR-Object Label Correlation α", "Objects Accuracy"),
    ("availability", "C+O/C", "Object Availability β", "CIFAR Accuracy"),
    ("availability", "C+O/O", "Object Availability β", "Objects Accuracy"),
)


def draw_ife_sweeps(
    ife_df: pd.DataFrame,
    *,
    variant: str = "fixed",
    reasons: Mapping[str, str] | None = None,
    seed: int = 0,
    n_boot: int = _N_BOOT,
) -> Figure:
    """Fig. 14: transfer accuracy on C+O data with CIFAR labels (a, c) and object labels (b, d)
    for models pretrained across the relevance sweep α (a, b) and the availability sweep β (c, d).
    The swept models (normally C+O/C) are solid lines with the 95 % CI; the Table 1 models of the
    same variant (C/C, C+O/O, O/O) are dashed horizontal reference lines. ``reasons`` maps
    ``"relevance"`` / ``"availability"`` to why a sweep is empty."""
    df = validate_frame(ife_df, "ife")
    refs = df[(df["experiment"] == "table1") & (df["variant"] == variant)]
    # paper legend order: mixed CIFAR labels (the swept C+O/C models, blue), CIFAR-only,
    # mixed object labels, objects-only
    colors = {"C+O/C": _PALETTE[0], "C/C": _PALETTE[1], "C+O/O": _PALETTE[2], "O/O": _PALETTE[3]}
    panel = (3.3, 2.8)
    with mpl.rc_context(_STYLE):
        fig, axes = _new_figure(4, panel)
        for k, (ax, (experiment, target, xlabel, ylabel)) in enumerate(
            zip(axes, _IFE_PANELS, strict=True)
        ):
            ax.set_title(f"({'abcd'[k]}) {experiment} → {target}", fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            sub = df[
                (df["experiment"] == experiment)
                & (df["variant"] == variant)
                & (df["target"] == target)
            ]
            if sub.empty:
                default = f"no {experiment} sweep results ({variant})"
                _not_run(ax, _reason(reasons, [experiment], default), width_in=panel[0])
                continue
            swept = ife_sweep(df, experiment, target, variant)["pretrain"].unique()
            for pre in swept:
                rows = sub[sub["pretrain"] == pre]
                sns.lineplot(
                    data=rows, x="sweep_value", y="accuracy", errorbar=_CI, n_boot=n_boot, seed=seed,
                    color=colors.get(pre, "C0"), marker="o", ms=3, ax=ax,
                    label=f"{_IFE_REF_LABELS.get(pre, pre)} ({pre}, swept)",
                )  # fmt: skip
            for pre in IFE_LABELS:
                if pre in swept:
                    continue
                acc = refs.loc[(refs["pretrain"] == pre) & (refs["target"] == target), "accuracy"]
                if len(acc):
                    ax.axhline(float(acc.mean()), ls="--", lw=1.2, color=colors[pre],
                               label=f"{_IFE_REF_LABELS[pre]} ({pre})")  # fmt: skip
            ax.legend(fontsize=6)
        return fig


# ----------------------------------------------------------------------------------------------
# IT heatmaps


def draw_it_heatmap(
    it_df: pd.DataFrame,
    model_type: str,
    *,
    arch: str = "resnet18",
    eval_name: str = "in_dist",
    arch_label: str | None = None,
    reason: str | None = None,
    cells_reason: str | None = None,
) -> Figure:
    """Fig. 16 (``model_type="image"``) / 17 (``"random"``): 19×18 heatmap of mean sens over seeds,
    rows = training transformation (18 + none), columns = target transformation, annotated with two
    decimals, reversed magma (low = invariant = light). Cells without data stay blank and are
    counted in the footer with ``cells_reason`` (else ``reason``); an entirely empty matrix is
    drawn as "not run: <reason>"."""
    matrix = it_heatmap(it_df, model_type, arch, eval_name)
    title = f"{arch_label or _value_label(arch, None)}, {model_type} models, {eval_name}"
    panel = (11.0, 10.0)
    with mpl.rc_context({**_STYLE, "axes.grid": False}):
        fig, axes = _new_figure(1, panel)
        ax = axes[0]
        ax.set_title(title)
        if matrix.isna().all().all():
            why = reason or f"no {model_type}-model sens results for {arch} ({eval_name})"
            _not_run(ax, why, width_in=panel[0])
            return fig
        sns.heatmap(
            matrix, annot=True, fmt=".2f", cmap="magma_r", ax=ax, annot_kws={"fontsize": 8},
            cbar_kws={"shrink": 0.8}, xticklabels=list(TRANSFORM_ORDER),
            yticklabels=[*TRANSFORM_ORDER, "none"], linewidths=0,
        )  # fmt: skip
        ax.set_xlabel("Target Transformations")
        ax.set_ylabel("Training Transformations")
        missing = int(np.isnan(matrix.to_numpy()).sum())
        if missing:
            why = cells_reason or reason or "not part of this run"
            note = _wrap(f"{missing} of {matrix.size} cells without data ({why})", panel[0], 8)
            fig.supxlabel(note, x=0.01, ha="left", fontsize=8, color="0.35")
        return fig


# ----------------------------------------------------------------------------------------------
# file-writing entry points (one per paper figure family)


def fig_tvo_factors(
    tvo_df: pd.DataFrame,
    family: str,
    regime: str,
    stem: str | os.PathLike[str],
    *,
    labels: Mapping[str, str] | None = None,
    reasons: Mapping[str, str] | None = None,
    seed: int = 0,
    n_boot: int = _N_BOOT,
    dpi: int = 150,
) -> dict[str, Path]:
    """Draw with :func:`draw_tvo_factors` and write ``<stem>.pdf`` / ``<stem>.png``."""
    with mpl.rc_context(_STYLE):
        return save_figure(
            draw_tvo_factors(
                tvo_df, family, regime, labels=labels, reasons=reasons, seed=seed, n_boot=n_boot
            ),
            stem,
            dpi=dpi,
        )


def fig_tvo_diff(
    tvo_df: pd.DataFrame,
    regime: str,
    stem: str | os.PathLike[str],
    *,
    families: Sequence[str] = TVO_FAMILIES,
    reasons: Mapping[str, str] | None = None,
    dpi: int = 150,
) -> dict[str, Path]:
    """Draw with :func:`draw_tvo_diff` and write ``<stem>.pdf`` / ``<stem>.png``."""
    with mpl.rc_context(_STYLE):
        return save_figure(
            draw_tvo_diff(tvo_df, regime, families=families, reasons=reasons), stem, dpi=dpi
        )


def fig_tm(
    tm_df: pd.DataFrame,
    archs: str | Sequence[str],
    stem: str | os.PathLike[str],
    *,
    labels: Mapping[str, str] | None = None,
    reasons: Mapping[str, str] | None = None,
    seed: int = 0,
    n_boot: int = _N_BOOT,
    dpi: int = 150,
) -> dict[str, Path]:
    """Draw with :func:`draw_tm` and write ``<stem>.pdf`` / ``<stem>.png``."""
    with mpl.rc_context(_STYLE):
        return save_figure(
            draw_tm(tm_df, archs, labels=labels, reasons=reasons, seed=seed, n_boot=n_boot),
            stem,
            dpi=dpi,
        )


def fig_ife_sweeps(
    ife_df: pd.DataFrame,
    stem: str | os.PathLike[str],
    *,
    variant: str = "fixed",
    reasons: Mapping[str, str] | None = None,
    seed: int = 0,
    n_boot: int = _N_BOOT,
    dpi: int = 150,
) -> dict[str, Path]:
    """Draw with :func:`draw_ife_sweeps` and write ``<stem>.pdf`` / ``<stem>.png``."""
    with mpl.rc_context(_STYLE):
        return save_figure(
            draw_ife_sweeps(ife_df, variant=variant, reasons=reasons, seed=seed, n_boot=n_boot),
            stem,
            dpi=dpi,
        )


def fig_it_heatmap(
    it_df: pd.DataFrame,
    model_type: str,
    stem: str | os.PathLike[str],
    *,
    arch: str = "resnet18",
    eval_name: str = "in_dist",
    arch_label: str | None = None,
    reason: str | None = None,
    cells_reason: str | None = None,
    dpi: int = 150,
) -> dict[str, Path]:
    """Draw with :func:`draw_it_heatmap` and write ``<stem>.pdf`` / ``<stem>.png``."""
    with mpl.rc_context(_STYLE):
        return save_figure(
            draw_it_heatmap(
                it_df,
                model_type,
                arch=arch,
                eval_name=eval_name,
                arch_label=arch_label,
                reason=reason,
                cells_reason=cells_reason,
            ),
            stem,
            dpi=dpi,
        )
