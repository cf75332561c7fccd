"""The paper's tables (1–5) from tidy results, written as Markdown, LaTeX and CSV.

A :class:`Table` is plain data (labels and :class:`Cell`s); the writers only format it. Cells
without data are never dropped: they show "—" with a footnote giving the reason (passed by the
caller, e.g. "CIFAR-100 is not part of the quick preset"; a generic "no results" reason otherwise).
Numbers are mean ± std over runs (ddof 1, as in the reference), computed in
:mod:`invtransfer.aggregation` so that tables, figures and the scorecard agree.
"""

from __future__ import annotations

import io as _io
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from invtransfer.aggregation import (
    IFE_LABELS,
    IT_EVALS,
    IT_MODEL_TYPES,
    IT_RELATIONS,
    canonical_arch,
    it_summary,
    table1_summary,
)
from invtransfer.io import atomic_write_text

__all__ = [
    "IT_EVAL_LABELS",
    "Cell",
    "Table",
    "table1",
    "table_it",
    "to_csv",
    "to_latex",
    "to_markdown",
    "write_table",
]

IT_EVAL_LABELS: dict[str, str] = {
    "in_dist": "In-Distribution",
    "mild_ood": "Mild OOD",
    "strong_ood": "Strong OOD",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
}
_MODEL_TYPE_LABELS = {"image": "Image", "random": "Random"}
ABSENT = "—"


@dataclass(frozen=True)
class Cell:
    """One table cell: statistics over ``n`` runs; ``n == 0`` means no data (shown as "—")."""

    mean: float = math.nan
    std: float = math.nan
    n: int = 0
    bold: bool = False
    reason: str | None = None  # why the cell is empty (footnote), only when n == 0

    @property
    def absent(self) -> bool:
        return self.n == 0


@dataclass(frozen=True)
class Table:
    """A rectangular table with multi-level row labels and multi-level column headers."""

    name: str
    caption: str
    row_header: tuple[str, ...]  # names of the row-label levels
    row_labels: tuple[tuple[str, ...], ...]  # one tuple (one entry per level) per row
    col_keys: tuple[str, ...]  # machine-readable column keys
    col_header: tuple[tuple[str, ...], ...]  # header levels, each with one label per column
    cells: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()  # extra lines under the table (besides the absent-cell footnotes)
    decimals: int = 2

    def __post_init__(self) -> None:
        n_rows, n_cols = len(self.row_labels), len(self.col_keys)
        if len(self.cells) != n_rows or any(len(r) != n_cols for r in self.cells):
            raise ValueError(f"table {self.name}: cells must be {n_rows}×{n_cols}")
        if any(len(level) != n_cols for level in self.col_header):
            raise ValueError(f"table {self.name}: every header level needs {n_cols} labels")
        if any(len(r) != len(self.row_header) for r in self.row_labels):
            raise ValueError(f"table {self.name}: row labels need {len(self.row_header)} levels")

    def _markers(self) -> dict[str, str]:
        """Footnote letter per distinct empty-cell reason, in reading order."""
        reasons: list[str] = []
        for row in self.cells:
            for cell in row:
                text = cell.reason or "no results"
                if cell.absent and text not in reasons:
                    reasons.append(text)
        return {r: "abcdefghijklmnopqrstuvwxyz"[i % 26] for i, r in enumerate(reasons)}

    def marker(self, cell: Cell) -> str:
        return self._markers()[cell.reason or "no results"] if cell.absent else ""

    def footnotes(self) -> list[str]:
        return [f"({m}) {ABSENT}: {reason}" for reason, m in self._markers().items()]

    def cell_text(self, cell: Cell) -> str:
        if cell.absent:
            return ABSENT
        d = self.decimals
        if math.isnan(cell.std):
            return f"{cell.mean:.{d}f}"
        return f"{cell.mean:.{d}f} ± {cell.std:.{d}f}"


def _reason(reasons: Mapping[str, str] | None, keys: Sequence[str], default: str) -> str:
    for key in keys:
        if reasons and key in reasons:
            return str(reasons[key])
    return default


def _bold_min(cells: list[Cell]) -> list[Cell]:
    present = [c.mean for c in cells if not c.absent]
    if not present:
        return cells
    low = min(present)
    return [
        Cell(c.mean, c.std, c.n, bold=True) if not c.absent and c.mean == low else c for c in cells
    ]


def table_it(
    it_df: pd.DataFrame,
    arch: str,
    *,
    reasons: Mapping[str, str] | None = None,
    arch_label: str | None = None,
    name: str | None = None,
) -> Table:
    """Tables 2–5: sens under distribution shift for architecture ``arch``.

    Rows: Same / Other / None for image and for random models; columns: In-Distribution, Mild OOD,
    Strong OOD, CIFAR-10, CIFAR-100 (see :func:`invtransfer.aggregation.it_relation_values`).
    Cells: mean ± std over seeds × target transformations. Bold: the lowest (most invariant) mean
    per column within each model type. ``reasons`` explains empty cells, looked up as
    ``"<model_type>:<eval>"``, then ``"<eval>"``, then ``"<model_type>"``.
    """
    summary = it_summary(it_df, arch)
    label = arch_label or arch
    lookup = {
        (r.model_type, r.relation, r.eval): Cell(float(r.mean), float(r.std), int(r.n))
        for r in summary.itertuples(index=False)
    }
    rows: list[tuple[str, ...]] = []
    grid: list[list[Cell]] = []
    for mt in IT_MODEL_TYPES:
        block: list[list[Cell]] = []
        for rel in IT_RELATIONS:
            row = []
            for ev in IT_EVALS:
                cell = lookup.get((mt, rel, ev))
                if cell is None:
                    default = f"no {mt}-model results for {IT_EVAL_LABELS[ev]} ({label})"
                    cell = Cell(reason=_reason(reasons, [f"{mt}:{ev}", ev, mt], default))
                row.append(cell)
            block.append(row)
            rows.append((_MODEL_TYPE_LABELS[mt], rel))
        columns = [
            _bold_min([block[r][c] for r in range(len(block))]) for c in range(len(IT_EVALS))
        ]
        grid.extend([[columns[c][r] for c in range(len(IT_EVALS))] for r in range(len(block))])
    seeds = sorted(
        set(it_df.loc[it_df["arch"].map(canonical_arch) == canonical_arch(arch), "seed"])
    )
    return Table(
        name=name or f"table_it_{arch}",
        caption=(
            f"Invariance transfer under distribution shift ({label}): sens (lower = more invariant), "
            f"mean ± std over {len(seeds)} seed(s) × target transformations; bold = most invariant "
            "per column within each model type."
        ),
        row_header=("Model type", "Transformation relationship"),
        row_labels=tuple(rows),
        col_keys=IT_EVALS,
        col_header=(
            ("Synthetic datasets",) * 3 + ("Real-world datasets",) * 2,
            tuple(IT_EVAL_LABELS[e] for e in IT_EVALS),
        ),
        cells=tuple(tuple(r) for r in grid),
        notes=(
            "Same: model trained on t, measured on t. Other: mean over the models trained on the "
            "other transformations (not 'none'), measured on t. None: model trained without "
            "transformations.",
        ),
    )


_T1_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    # key, block, X, Y
    ("acc:C/C", "Accuracy", "C", "C"),
    ("acc:C+O/C", "Accuracy", "C+O", "C"),
    ("acc:C+O/O", "Accuracy", "C+O", "O"),
    ("acc:O/O", "Accuracy", "O", "O"),
    ("sens:cifar", "Sensitivity", "C+O", "C"),
    ("sens:objects", "Sensitivity", "C+O", "O"),
)


def table1(
    ife_df: pd.DataFrame,
    ife_sens_df: pd.DataFrame,
    variant: str,
    *,
    reasons: Mapping[str, str] | None = None,
    name: str | None = None,
) -> Table:
    """Table 1 (irrelevant features) for ``variant`` (``fixed``: objects in the upper-right corner;
    ``translate``: at a random position — the paper's Table 1).

    Rows: pretraining (X, Y). Accuracy columns: transfer accuracy of a linear probe on (X, Y) ∈
    {C/C, C+O/C, C+O/O, O/O}. Sensitivity columns: sens on C+O data when the CIFAR image changes
    (Y = C column) and when the pasted object changes (Y = O column). mean ± std over seeds.
    ``reasons`` explains empty cells, looked up by column key (e.g. ``"sens:cifar"``) then by
    pretraining label.
    """
    summary = table1_summary(ife_df, ife_sens_df, variant)
    lookup = {
        (r.pretrain, r.column): Cell(float(r.mean), float(r.std), int(r.n))
        for r in summary.itertuples(index=False)
    }
    grid = []
    for pre in IFE_LABELS:
        row = []
        for key, block, x, y in _T1_COLUMNS:
            cell = lookup.get((pre, key))
            if cell is None:
                default = (
                    f"no {block.lower()} results for pretraining {pre} on X={x}, Y={y} ({variant})"
                )
                cell = Cell(reason=_reason(reasons, [key, pre], default))
            row.append(cell)
        grid.append(tuple(row))
    max_runs = int(summary["n"].max()) if len(summary) else 0
    return Table(
        name=name or f"table1_{variant}",
        caption=(
            f"The impact of irrelevant features on downstream performance and invariance "
            f"({variant} objects): transfer accuracy and sens, mean ± std over up to {max_runs} "
            "seed(s). Rows: pretraining features X and labels Y."
        ),
        row_header=("X", "Y"),
        row_labels=tuple(tuple(label.split("/")) for label in IFE_LABELS),
        col_keys=tuple(c[0] for c in _T1_COLUMNS),
        col_header=(
            tuple(c[1] for c in _T1_COLUMNS),
            tuple(f"X={c[2]}" for c in _T1_COLUMNS),
            tuple(f"Y={c[3]}" for c in _T1_COLUMNS),
        ),
        cells=tuple(grid),
        notes=(
            "Sensitivity: sens on C+O data when changing the CIFAR image with the objects fixed "
            "(Y=C) and when changing the pasted object with the CIFAR image fixed (Y=O).",
        ),
    )


# ----------------------------------------------------------------------------------------------
# writers


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: Table) -> str:
    """GitHub Markdown: header levels joined with ``<br>``, absent cells "—" with a footnote."""
    header = [*table.row_header]
    for j in range(len(table.col_keys)):
        header.append("<br>".join(_md_escape(level[j]) for level in table.col_header))
    lines = [f"**{table.name}.** {table.caption}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(table.row_header) + "---:|" * len(table.col_keys))
    for labels, row in zip(table.row_labels, table.cells, strict=True):
        texts = []
        for cell in row:
            text = table.cell_text(cell)
            if cell.bold:
                text = f"**{text}**"
            if cell.absent:
                text += f"<sup>{table.marker(cell)}</sup>"
            texts.append(text)
        lines.append("| " + " | ".join([*map(_md_escape, labels), *texts]) + " |")
    extra = [*table.footnotes(), *table.notes]
    if extra:
        lines.append("")
        lines.extend(extra)
    return "\n".join(lines) + "\n"


_TEX_SPECIAL = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}"}


def _tex(text: str) -> str:
    out = "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$").replace("—", "---")


def _merge_runs(labels: Sequence[str]) -> list[tuple[str, int]]:
    runs: list[tuple[str, int]] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1] + 1)
        else:
            runs.append((label, 1))
    return runs


def to_latex(table: Table) -> str:
    """A booktabs ``table`` environment; repeated header labels merged with ``\\multicolumn``."""
    n_lab, n_col = len(table.row_header), len(table.col_keys)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_tex(table.caption)}}}",
        rf"\label{{tab:{re.sub(r'[^A-Za-z0-9:_-]+', '-', table.name)}}}",
        rf"\begin{{tabular}}{{{'l' * n_lab}{'c' * n_col}}}",
        r"\toprule",
    ]
    for depth, level in enumerate(table.col_header):
        lead = (
            [_tex(h) for h in table.row_header]
            if depth == len(table.col_header) - 1
            else [""] * n_lab
        )
        parts = [
            rf"\multicolumn{{{span}}}{{c}}{{{_tex(label)}}}" if span > 1 else _tex(label)
            for label, span in _merge_runs(level)
        ]
        lines.append(" & ".join([*lead, *parts]) + r" \\")
    lines.append(r"\midrule")
    previous: tuple[str, ...] | None = None
    for labels, row in zip(table.row_labels, table.cells, strict=True):
        if previous is not None and labels[0] != previous[0]:
            lines.append(r"\midrule")
        shown = [
            "" if previous is not None and i == 0 and labels[0] == previous[0] else _tex(lab)
            for i, lab in enumerate(labels)
        ]
        texts = []
        for cell in row:
            text = _tex(table.cell_text(cell))
            if cell.bold:
                text = rf"\textbf{{{text}}}"
            if cell.absent:
                text += rf"\textsuperscript{{{table.marker(cell)}}}"
            texts.append(text)
        lines.append(" & ".join([*shown, *texts]) + r" \\")
        previous = labels
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    for note in [*table.footnotes(), *table.notes]:
        lines.append(rf"\par\footnotesize {_tex(note)}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """Tidy CSV: one line per cell with the row labels, column key/label, mean, std, n, bold, the
    displayed text and, for empty cells, the reason."""
    records = []
    for labels, row in zip(table.row_labels, table.cells, strict=True):
        for j, cell in enumerate(row):
            rec: dict[str, object] = {"table": table.name}
            rec.update(dict(zip(table.row_header, labels, strict=True)))
            rec.update(
                column=table.col_keys[j],
                column_label=" / ".join(level[j] for level in table.col_header),
                mean=None if cell.absent else cell.mean,
                std=None if cell.absent or math.isnan(cell.std) else cell.std,
                n=cell.n,
                bold=cell.bold,
                display=table.cell_text(cell),
                note=(cell.reason or "no results") if cell.absent else "",
            )
            records.append(rec)
    buf = _io.StringIO()
    pd.DataFrame(records).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def write_table(table: Table, stem: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``<stem>.md``, ``<stem>.tex`` and ``<stem>.csv`` atomically; returns the paths."""
    stem = Path(stem)
    if stem.suffix in (".md", ".tex", ".csv"):
        raise ValueError(f"stem must not carry a suffix (got {stem}); pass e.g. tables/table2")
    paths = {ext: stem.with_name(f"{stem.name}.{ext}") for ext in ("md", "tex", "csv")}
    atomic_write_text(paths["md"], to_markdown(table))
    atomic_write_text(paths["tex"], to_latex(table))
    atomic_write_text(paths["csv"], to_csv(table))
    return paths
