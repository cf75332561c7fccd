"""The invariance-profile figure: one heatmap row per model for each measure, and the per-magnitude
sens curves of every transformation (one line per model).

Drawn like :mod:`invtransfer.plots` (Agg canvas, no pyplot state) and written with
:func:`invtransfer.plots.save_figure` (``<stem>.pdf`` without creation date + ``<stem>.png``,
atomically; the same tables give the same bytes).
"""

from __future__ import annotations

import math
import os

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

__all__ = ["MEASURES", "draw_profile", "fig_profile"]

#: (column, title, colormap): every map is light where a model is invariant.
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("sens", "sens (paper Eq. 1; 0 = invariant)", "magma_r"),
    ("rel_inv", "cosine relative invariance (Bouchacourt et al. 2021; 1 = invariant)", "magma"),
    ("cka", "debiased linear CKA between twins (Kornblith et al. 2019; 1 = invariant)", "magma"),
    ("flip_rate", "prediction flip rate (0 = invariant; blank: no classifier)", "magma_r"),
)
_STYLE = {**sns.axes_style("whitegrid"), "font.size": 8, "axes.titlesize": 9}
_CURVE_COLS = 6


def _order(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    from invtransfer.transforms import canonical_order

    models = list(dict.fromkeys(table["model"].astype(str)))
    transforms = canonical_order(list(dict.fromkeys(table["transform"].astype(str))))
    return models, transforms


def draw_profile(table: pd.DataFrame, curves: pd.DataFrame) -> Figure:
    """The profile figure of the models in ``table`` (rows in table order, columns in the
    registry's transformation order)."""
    if table.empty:
        raise ValueError("the profile table is empty: nothing to draw")
    models, transforms = _order(table)
    heat_h = 0.32 * len(models) + 0.9
    curve_rows = math.ceil(len(transforms) / _CURVE_COLS)
    heights = [heat_h] * len(MEASURES) + [0.35] + [1.9] * curve_rows
    width = max(12.0, 0.55 * len(transforms) + 3.0)
    with mpl.rc_context({**_STYLE, "axes.grid": False}):
        fig = Figure(figsize=(width, sum(heights) + 0.4 * len(heights)), layout="constrained")
        grid = fig.add_gridspec(len(heights), _CURVE_COLS, height_ratios=heights)
        for row, (column, title, cmap) in enumerate(MEASURES):
            ax = fig.add_subplot(grid[row, :])
            matrix = (
                table.pivot_table(index="model", columns="transform", values=column, dropna=False)
                .reindex(index=models, columns=transforms)
                .astype(float)
            )
            ax.set_title(title, loc="left")
            if matrix.isna().all().all():
                ax.text(0.5, 0.5, "no values (no model has a classifier)", ha="center",
                        va="center", transform=ax.transAxes, color="0.4")  # fmt: skip
                ax.set_axis_off()
                continue
            # fixed scales, so that the colours of two figures compare: [0, 1] widened to the data
            values = matrix.to_numpy()[np.isfinite(matrix.to_numpy())]
            sns.heatmap(
                matrix, ax=ax, annot=True, fmt=".2f", cmap=cmap, annot_kws={"fontsize": 7},
                vmin=min(0.0, float(values.min())), vmax=max(1.0, float(values.max())),
                cbar_kws={"shrink": 0.9, "pad": 0.01}, linewidths=0, xticklabels=transforms,
                yticklabels=models,
            )  # fmt: skip
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
            ax.tick_params(axis="y", labelrotation=0, labelsize=7)
        header = fig.add_subplot(grid[len(MEASURES), :])
        header.set_axis_off()
        header.text(0, 0.1, "sens per magnitude bin (x: how far apart the twins' draws are)",
                    fontsize=9, transform=header.transAxes)  # fmt: skip
        palette = sns.color_palette("deep", n_colors=max(len(models), 1))
        with mpl.rc_context({"axes.grid": True}):
            for i, transform in enumerate(transforms):
                ax = fig.add_subplot(grid[len(MEASURES) + 1 + i // _CURVE_COLS, i % _CURVE_COLS])
                part = curves[curves["transform"] == transform]
                for color, model in zip(palette, models, strict=False):
                    line = part[part["model"] == model].sort_values("bin")
                    if len(line):
                        ax.plot(line["x_mean"], line["sens"], marker="o", ms=3, lw=1.2,
                                color=color, label=model)  # fmt: skip
                ax.set_title(transform)
                if len(part):
                    ax.set_xlabel(str(part["x_name"].iloc[0]), fontsize=7)
                    if part["x_name"].iloc[0].startswith("twins applied"):
                        ax.set_xticks([0, 1, 2])
                ax.tick_params(labelsize=6)
                if i % _CURVE_COLS == 0:
                    ax.set_ylabel("sens", fontsize=7)
        handles = [
            mpl.lines.Line2D([], [], color=c, marker="o", ms=3, label=m)
            for c, m in zip(palette, models, strict=False)
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(models), 4),
                   fontsize=8, frameon=False)  # fmt: skip
    return fig


def fig_profile(
    table: pd.DataFrame, curves: pd.DataFrame, stem: str | os.PathLike[str]
) -> dict[str, os.PathLike[str]]:
    """Write ``<stem>.pdf`` and ``<stem>.png`` of :func:`draw_profile`."""
    from invtransfer.plots import save_figure

    return save_figure(draw_profile(table, curves), stem)
