"""The scorecard: every number the paper reports next to ours, and the paper's claims checked.

Inputs:

* ``resources/paper_numbers.csv`` — every number printed in the paper (Table 1–5 cells, the bar
  labels of Fig. 3/12/13, the Fig. 16/17 heatmaps) plus a few values read off the reference's
  saved figures (Fig. 2, Fig. 4), whose note says APPROXIMATE. Columns: artifact, row, column,
  statistic (mean | std | value), value, note.
* ``resources/paper_claims.yaml`` — the paper's qualitative claims as rules (kinds in
  :data:`CLAIM_KINDS`).
* ``results`` — the tidy tables of this run (keys ``tvo``, ``ife``, ``ife_sens``, ``it``, ``tm``;
  any may be missing).

The paper panels (``table2``, ``fig2a``, …) and where their numbers come from are the registry's
:data:`invtransfer.artifacts.PANELS`.

:func:`measured_numbers` turns the tidy tables into the same long format as the paper numbers
(through :mod:`invtransfer.aggregation`, like the tables and figures), :func:`evaluate_claims`
checks the rules on any such frame, and :func:`build_scorecard` writes the Markdown report (and a
CSV twin). A paper number whose cell this run did not produce is listed as "not run" with the
reason; nothing about our results is hard-coded here.
"""

from __future__ import annotations

import io as _io
import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from invtransfer.aggregation import (
    canonical_arch,
    ife_sweep,
    it_heatmap,
    it_summary,
    table1_summary,
    tm_matrix,
    tvo_curves,
    tvo_diff,
    validate_frame,
)
from invtransfer.artifacts import PANELS, Panel
from invtransfer.io import atomic_write_text

__all__ = [
    "CLAIM_KINDS",
    "FAILS",
    "HOLDS",
    "NOT_CHECKED",
    "STATUSES",
    "Claim",
    "ClaimResult",
    "build_scorecard",
    "claim_counts",
    "claims_header",
    "compare_numbers",
    "evaluate_claims",
    "load_claims",
    "load_paper_numbers",
    "measured_numbers",
    "resources_dir",
]

ENV_RESOURCES = "INVTRANSFER_RESOURCES"
NUMBER_COLUMNS = ("artifact", "row", "column", "statistic", "value")


def resources_dir() -> Path:
    """``$INVTRANSFER_RESOURCES`` if set, else the checkout's ``resources/`` folder."""
    env = os.environ.get(ENV_RESOURCES)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "resources"


def load_paper_numbers(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read and validate ``paper_numbers.csv`` (all columns as text except ``value``)."""
    path = Path(path) if path is not None else resources_dir() / "paper_numbers.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: paper numbers not found; use a checkout's resources/ folder "
            f"(or set ${ENV_RESOURCES})"
        )
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (*NUMBER_COLUMNS, "note") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing (have {list(df.columns)})")
    try:
        df["value"] = df["value"].astype(float)
    except ValueError as exc:
        raise ValueError(f"{path}: non-numeric value ({exc})") from exc
    unknown = sorted(set(df["artifact"]) - set(PANELS))
    if unknown:
        raise ValueError(f"{path}: unknown artifacts {unknown}; known: {sorted(PANELS)}")
    bad = sorted(set(df["statistic"]) - {"mean", "std", "value"})
    if bad:
        raise ValueError(f"{path}: statistic must be mean, std or value, got {bad}")
    dup = df.duplicated(list(NUMBER_COLUMNS[:4]), keep=False)
    if dup.any():
        raise ValueError(
            f"{path}: duplicate cells {df.loc[dup, list(NUMBER_COLUMNS[:4])].values[:3].tolist()}"
        )
    return df


# ----------------------------------------------------------------------------------------------
# our numbers in the paper's long format


def _fmt_sweep(v: float) -> str:
    return f"{float(v):g}"


def _rows_for(
    artifact: str,
    spec: Panel,
    results: Mapping[str, pd.DataFrame],
    gaps: dict[tuple[str, str, str], str],
) -> list[dict]:
    """Our numbers of one paper artifact; ``gaps`` receives (artifact, row, column) -> why a
    number that the data could seem to give is left out."""
    p = spec.params
    out: list[dict] = []

    def add(row: str, column: str, stat: str, value: float, n: int) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out.append(dict(artifact=artifact, row=str(row), column=str(column), statistic=stat,
                            value=float(value), n=int(n)))  # fmt: skip

    if spec.source == "ife" and artifact == "table1":
        if "ife" not in results or "ife_sens" not in results:
            return out
        for r in table1_summary(results["ife"], results["ife_sens"], p["variant"]).itertuples():
            add(r.pretrain, r.column, "mean", r.mean, r.n)
            add(r.pretrain, r.column, "std", r.std, r.n)
    elif spec.source == "ife":
        for r in ife_sweep(results["ife"], p["experiment"], p["target"], p["variant"]).itertuples():
            add(r.pretrain, _fmt_sweep(r.sweep_value), "value", r.mean, r.n)
    elif spec.source == "it" and artifact.startswith("table"):
        for r in it_summary(results["it"], p["arch"]).itertuples():
            add(f"{r.model_type}:{r.relation}", r.eval, "mean", r.mean, r.n)
            add(f"{r.model_type}:{r.relation}", r.eval, "std", r.std, r.n)
    elif spec.source == "it":
        matrix = it_heatmap(results["it"], p["model_type"], p["arch"])
        it = validate_frame(results["it"], "it")
        counts = it[
            (it["arch"].map(canonical_arch) == canonical_arch(p["arch"]))
            & (it["model_type"] == p["model_type"])
            & (it["eval"] == "in_dist")
        ]
        n = counts.groupby(["train_transform", "target_transform"]).size()  # fmt: skip
        for train in matrix.index:
            for target in matrix.columns:
                add(train, target, "value", matrix.loc[train, target], n.get((train, target), 0))
    elif spec.source == "tm":
        for r in tm_matrix(results["tm"], p["arch"]).itertuples():
            add(int(r.n_train_transforms), int(r.n_target_transforms), "value", r.mean, r.n)
    elif spec.source == "tvo" and "factor" in p:
        curves = tvo_curves(results["tvo"], p["family"], p["regime"])
        for r in curves[curves["factor"] == p["factor"]].itertuples():
            column = canonical_arch(r.value) if p["factor"] == "arch" else r.value
            add(f"{r.relation}, {r.metric}", column, "value", r.mean, r.n)
    elif spec.source == "tvo":
        diff = tvo_diff(results["tvo"], p["family"], p["regime"])
        tvo = validate_frame(results["tvo"], "tvo")
        tvo = tvo[(tvo["family"] == p["family"]) & (tvo["regime"] == p["regime"])]
        for r in diff.to_dict("records"):
            n = int(tvo.loc[tvo["factor"] == r["factor"], "seed"].nunique())
            for rel in ("disjoint", "same"):
                col = f"{rel}_span"
                if r[f"{rel}_n_values"] < 2:  # one value: nothing varies, no span to compare
                    gaps[(artifact, r["factor"], col)] = (
                        f"{artifact}: the {r['factor']} factor has {r[f'{rel}_n_values']} value "
                        f"for {p['family']}/{p['regime']} in this run; a span needs at least 2"
                    )
                    continue
                add(r["factor"], col, "value", r[col], n)
            add(r["factor"], "gap", "value", r["gap"], n)
    return out


def _measure(
    results: Mapping[str, pd.DataFrame],
) -> tuple[pd.DataFrame, dict[tuple[str, str, str], str]]:
    rows: list[dict] = []
    gaps: dict[tuple[str, str, str], str] = {}
    for artifact, spec in PANELS.items():
        if spec.source not in results:
            continue
        rows.extend(_rows_for(artifact, spec, results, gaps))
    return pd.DataFrame(rows, columns=[*NUMBER_COLUMNS, "n"]), gaps


def measured_numbers(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Our numbers for every paper artifact, in the paper-numbers format plus ``n`` (runs behind
    each number). Artifacts whose results table is absent contribute no rows; a Fig. 3/12/13
    span over a factor with a single value in this run is left out (nothing varies)."""
    return _measure(results)[0]


# ----------------------------------------------------------------------------------------------
# comparison


class _WhyMissing:
    """Why one of our numbers is absent, as precisely as the inputs allow: the caller's reason
    for the cell, column, row or panel (from the config: ``reasons["table2:cifar10"]``,
    ``reasons["fig16:shear"]``, ``reasons["fig7a"]``), else what the data lack (the results table,
    the panel's rows, the row, the column — naming what this run has instead)."""

    def __init__(
        self,
        results: Mapping[str, pd.DataFrame],
        ours: pd.DataFrame,
        reasons: Mapping[str, str] | None = None,
        gaps: Mapping[tuple[str, str, str], str] | None = None,
    ):
        self.results = set(results)
        self.reasons = dict(reasons or {})
        self.gaps = dict(gaps or {})
        self.rows: dict[str, dict[str, list[str]]] = {}
        for a, r, c in zip(ours["artifact"], ours["row"], ours["column"], strict=True):
            cols = self.rows.setdefault(str(a), {}).setdefault(str(r), [])
            if str(c) not in cols:
                cols.append(str(c))

    def __call__(
        self, artifact: str, row: str | None = None, column: str | None = None
    ) -> tuple[str, ...]:
        """Every caller reason that applies (the panel's, the column's, the row's, the cell's:
        all of them stand between this run and the value), else one derived from the data."""
        keys = [artifact, *(f"{artifact}:{x}" for x in (column, row) if x is not None)]
        if row is not None and column is not None:
            keys.append(f"{artifact}:{row}:{column}")
        given = tuple(dict.fromkeys(str(self.reasons[k]) for k in keys if k in self.reasons))
        return given or (self._derived(artifact, row, column),)

    def _derived(self, artifact: str, row: str | None, column: str | None) -> str:
        if row is not None and column is not None and (artifact, row, column) in self.gaps:
            return self.gaps[(artifact, row, column)]
        spec = PANELS[artifact]
        needed = ["ife", "ife_sens"] if artifact == "table1" else [spec.source]
        absent = [k for k in needed if k not in self.results]
        if absent:
            return f"results[{absent[0]!r}] not provided: the experiment was not part of this run"
        where = ", ".join(f"{k}={v}" for k, v in spec.params.items())
        have = self.rows.get(artifact)
        if not have:
            return f"{artifact}: no rows for {where} in results[{spec.source!r}]"
        if row is not None and row not in have:
            return f"{artifact}: no row {row!r} in this run (it has {_listing(have)})"
        if row is not None and column is not None:
            return (
                f"{artifact}: no value at {row}/{column} in this run "
                f"(row {row} has {_listing(have[row])})"
            )
        return f"{artifact}: no value for {where} in results[{spec.source!r}]"


def _listing(items: Sequence[str], limit: int = 8) -> str:
    items = list(items)
    text = ", ".join(items[:limit])
    return text + (f", … ({len(items)} in all)" if len(items) > limit else "")


def compare_numbers(
    paper: pd.DataFrame,
    ours: pd.DataFrame,
    results: Mapping[str, pd.DataFrame],
    reasons: Mapping[str, str] | None = None,
    gaps: Mapping[tuple[str, str, str], str] | None = None,
) -> pd.DataFrame:
    """One line per paper number: paper value, ours (NaN if not run), difference (ours − paper),
    runs behind ours, whether |diff| ≤ the paper's std for the same cell, and the reason when
    not run (see :class:`_WhyMissing`; ``gaps``: numbers :func:`measured_numbers` left out on
    purpose, with why)."""
    reasons = dict(reasons or {})
    key = list(NUMBER_COLUMNS[:4])
    merged = paper.merge(
        ours.rename(columns={"value": "ours"}), on=key, how="left", validate="one_to_one"
    )
    merged = merged.rename(columns={"value": "paper"})
    merged["diff"] = merged["ours"] - merged["paper"]
    std = paper[paper["statistic"] == "std"].set_index(["artifact", "row", "column"])["value"]
    within = []
    for r in merged.itertuples():
        s = std.get((r.artifact, r.row, r.column)) if r.statistic == "mean" else None
        within.append(
            "" if s is None or math.isnan(r.diff) else ("yes" if abs(r.diff) <= s else "no")
        )
    merged["within_paper_std"] = within
    merged["status"] = np.where(merged["ours"].isna(), "not run", "compared")
    why = _WhyMissing(results, ours, reasons, gaps)
    merged["reason"] = [
        "; ".join(why(r.artifact, r.row, r.column)) if r.status == "not run" else ""
        for r in merged.itertuples()
    ]
    merged["n"] = merged["n"].fillna(0).astype(int)
    return merged[
        [*key, "paper", "ours", "diff", "n", "within_paper_std", "status", "reason", "note"]
    ]


# ----------------------------------------------------------------------------------------------
# claims

HOLDS, FAILS, NOT_CHECKED = "holds", "fails", "not checked"
STATUSES = (HOLDS, FAILS, NOT_CHECKED)


@dataclass(frozen=True)
class Claim:
    id: str
    artifacts: tuple[str, ...]
    kind: str
    statement: str
    source: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of one claim. ``status`` is ``holds`` / ``fails`` only when every comparison
    the claim makes had data; with any comparison missing it is ``not checked``, whatever the
    available comparisons say (``failures`` still counts the ones that fail)."""

    claim: Claim
    status: str  # holds | fails | not checked
    evidence: str
    available: int  # comparisons with data
    total: int  # comparisons the claim makes (available + missing)
    failures: int  # available comparisons that fail
    missing_reasons: tuple[str, ...] = ()  # distinct reasons, for not checked

    @property
    def missing(self) -> int:
        return self.total - self.available


CLAIM_KINDS = (
    "cell_less_than",
    "min_greater_than_max",
    "abs_diff_at_most",
    "cells_at_least",
    "range_at_most",
    "fraction_within",
    "nested_superset_at_least",
    "nested_subset_below",
    "nested_monotone",
    "diagonal_below_row_mean",
    "diagonal_below_row",
)
_REQUIRED_PARAMS = {
    "cell_less_than": ("comparisons",),
    "min_greater_than_max": ("high", "low"),
    "abs_diff_at_most": ("tol",),
    "cells_at_least": ("cells", "threshold"),
    "range_at_most": ("row", "tol"),
    "fraction_within": ("rows", "low", "high", "min_fraction"),
    "nested_superset_at_least": ("threshold",),
    "nested_subset_below": (),
    "nested_monotone": ("slack",),
    "diagonal_below_row_mean": (),
    "diagonal_below_row": ("ref_row",),
}


def load_claims(path: str | os.PathLike[str] | None = None) -> list[Claim]:
    """Read and validate ``paper_claims.yaml``."""
    path = Path(path) if path is not None else resources_dir() / "paper_claims.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: claims file not found")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of claims, got {type(data).__name__}")
    claims: list[Claim] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        where = f"{path}: claim #{i}"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be a mapping")
        for key in ("id", "artifacts", "kind", "statement", "source"):
            if key not in item:
                raise ValueError(f"{where} ({item.get('id', '?')}) lacks {key!r}")
        cid = str(item["id"])
        if cid in seen:
            raise ValueError(f"{where}: duplicate id {cid!r}")
        seen.add(cid)
        if item["kind"] not in CLAIM_KINDS:
            raise ValueError(f"{where} ({cid}): kind {item['kind']!r} not in {CLAIM_KINDS}")
        arts = item["artifacts"]
        if not isinstance(arts, list) or not arts or any(a not in PANELS for a in arts):
            raise ValueError(
                f"{where} ({cid}): artifacts must be a non-empty list of {sorted(PANELS)}"
            )
        params = dict(item.get("params") or {})
        lacking = [k for k in _REQUIRED_PARAMS[item["kind"]] if k not in params]
        if lacking:
            raise ValueError(f"{where} ({cid}): kind {item['kind']} needs params {lacking}")
        if item["kind"] == "abs_diff_at_most" and ("rows" in params) == ("pairs" in params):
            raise ValueError(f"{where} ({cid}): abs_diff_at_most needs 'rows' or 'pairs', not both")
        for ref in _refs(params):
            if len(ref) == 3 and ref[0] not in PANELS:
                raise ValueError(f"{where} ({cid}): cell {ref} names unknown artifact {ref[0]!r}")
        claims.append(Claim(cid, tuple(arts), item["kind"], str(item["statement"]).strip(),
                            str(item["source"]), params))  # fmt: skip
    return claims


def _refs(params: Mapping[str, Any]) -> list[Sequence[str]]:
    refs: list[Sequence[str]] = []
    for a, b in params.get("comparisons", []):
        refs += [a, b]
    refs += list(params.get("cells", []))
    for a, b in params.get("pairs", []):
        refs += [a, b]
    return refs


# Why a value is missing: (artifact, row or None, column or None) -> reason.
WhyMissing = Callable[[str, "str | None", "str | None"], "tuple[str, ...]"]


def _default_why(artifact: str, row: str | None, column: str | None) -> tuple[str, ...]:
    where = "/".join(x for x in (row, column) if x is not None)
    return (f"no value for {artifact}{' ' + where if where else ''}",)


class _Lookup:
    """Values of one statistic, addressable by (artifact, row, column)."""

    def __init__(self, numbers: pd.DataFrame, statistic: str):
        sub = numbers[numbers["statistic"] == statistic]
        self.values: dict[tuple[str, str, str], float] = {
            (str(a), str(r), str(c)): float(v)
            for a, r, c, v in zip(
                sub["artifact"], sub["row"], sub["column"], sub["value"], strict=True
            )
            if not math.isnan(float(v))
        }
        self.columns: dict[tuple[str, str], list[str]] = {}
        self.rows: dict[str, list[str]] = {}
        for a, r, c in self.values:
            self.columns.setdefault((a, r), []).append(c)
            if r not in self.rows.setdefault(a, []):
                self.rows[a].append(r)

    def get(self, artifact: str, row: str, column: str) -> float | None:
        return self.values.get((artifact, str(row), str(column)))

    def has(self, artifact: str) -> bool:
        return artifact in self.rows

    def all_columns(self, artifact: str) -> list[str]:
        out: list[str] = []
        for r in self.rows.get(artifact, []):
            out += [c for c in self.columns[(artifact, r)] if c not in out]
        return out


@dataclass
class _Tally:
    """Comparisons of one claim: each is available (then ok or not) or missing (with a reason).
    Aggregate kinds (``fraction_within``) add units without a verdict and one final check."""

    why: WhyMissing
    units: int = 0  # comparisons with data
    passes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    missing: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (what, reasons)
    diffs: list[float] = field(default_factory=list)  # fraction_within: the differences

    def check(self, ok: bool, text: str, *, unit: bool = True) -> None:
        self.units += int(unit)
        (self.passes if ok else self.failures).append(text)

    def miss(self, what: str, artifact: str, row: str | None, column: str | None) -> None:
        self.missing.append((what, self.why(artifact, row, column)))


def _addr(artifact: str, ref: Sequence[str]) -> tuple[str, str, str]:
    if len(ref) == 3:
        return (str(ref[0]), str(ref[1]), str(ref[2]))
    if len(ref) == 2:
        return (artifact, str(ref[0]), str(ref[1]))
    raise ValueError(f"cell reference must be [row, column] or [artifact, row, column], got {ref}")


def _f(v: float) -> str:
    return f"{v:.3f}"


def _name(artifact: str, addr: tuple[str, str, str]) -> str:
    return "/".join(addr[1:]) if addr[0] == artifact else "/".join(addr)


def _get_or_miss(
    look: _Lookup, tally: _Tally, addr: tuple[str, str, str], what: str
) -> float | None:
    v = look.get(*addr)
    if v is None:
        tally.miss(what, addr[0], addr[1], addr[2])
    return v


def _pairs(
    look: _Lookup, artifact: str, a_ref: Sequence[str], b_ref: Sequence[str], tally: _Tally,
    tag: str,
) -> list[tuple[tuple[str, str, str], tuple[str, str, str]]]:  # fmt: skip
    """Expand ``[row, "*"]`` references: every column either row has in its artifact (a column
    one row lacks becomes a missing comparison). A row pair with no column at all is one missing
    comparison ("all columns")."""
    a, b = _addr(artifact, a_ref), _addr(artifact, b_ref)
    if a[2] != "*" and b[2] != "*":
        return [(a, b)]
    cols = list(look.columns.get((a[0], a[1]), []))
    cols += [c for c in look.columns.get((b[0], b[1]), []) if c not in cols]
    if not cols:
        what = f"{tag}{_name(artifact, (*a[:2], '*'))} vs {_name(artifact, (*b[:2], '*'))}"
        art = a[0] if not look.has(a[0]) or look.has(b[0]) else b[0]
        row = None if not look.has(art) else (a[1] if art == a[0] else b[1])
        tally.miss(what + " (all columns)", art, row, None)
        return []
    return [((a[0], a[1], c), (b[0], b[1], c)) for c in cols]


def _int_cells(look: _Lookup, artifact: str) -> tuple[list[int], dict[tuple[int, int], float]]:
    cells = {(int(r), int(c)): v for (a, r, c), v in look.values.items()
             if a == artifact and _is_int(r) and _is_int(c)}  # fmt: skip
    index = sorted({k for k, _ in cells} | {j for _, j in cells})
    return index, cells


def _check_artifact(claim: Claim, artifact: str, look: _Lookup, tally: _Tally) -> None:
    p = claim.params
    kind = claim.kind
    tag = f"{artifact}: " if len(claim.artifacts) > 1 else ""
    margin = float(p.get("margin", 0.0))
    if kind == "cell_less_than":
        factor = float(p.get("factor", 1.0))
        strict = not p.get("or_equal", False)
        op = "<" if strict else "≤"
        scale = f"{factor:g} × " if factor != 1 else ""
        shift = f" {'+' if margin >= 0 else '−'} {abs(margin):g}" if margin else ""
        for a_ref, b_ref in p["comparisons"]:
            for x, y in _pairs(look, artifact, a_ref, b_ref, tally, tag):
                label = f"{tag}{scale}{_name(artifact, x)}{shift} {op} {_name(artifact, y)}"
                vx = _get_or_miss(look, tally, x, label)
                vy = _get_or_miss(look, tally, y, label) if vx is not None else None
                if vx is None or vy is None:
                    continue
                lhs = factor * vx + margin
                ok = lhs < vy if strict else lhs <= vy + 1e-12
                tally.check(ok, f"{label}: {_f(vx)} vs {_f(vy)}")
    elif kind == "min_greater_than_max":
        high_cols = look.columns.get((artifact, p["high"]), [])
        low_cols = look.columns.get((artifact, p["low"]), [])
        if not high_cols or not low_cols:
            row = None if not look.has(artifact) else (p["high"] if not high_cols else p["low"])
            tally.miss(f"{tag}rows {p['high']!r} / {p['low']!r}", artifact, row, None)
            return
        cols = list(dict.fromkeys([*high_cols, *low_cols]))
        lacking = [(r, c) for c in cols for r in (p["high"], p["low"])
                   if look.get(artifact, r, c) is None]  # fmt: skip
        for r, c in lacking:
            tally.miss(f"{tag}{r}/{c}", artifact, r, c)
        if lacking:
            return
        hmin = min(look.get(artifact, p["high"], c) for c in cols)  # type: ignore[type-var]
        lmax = max(look.get(artifact, p["low"], c) for c in cols)  # type: ignore[type-var]
        tally.check(hmin > lmax + margin,
                    f"{tag}min {p['high']} {_f(hmin)} vs max {p['low']} {_f(lmax)}")  # fmt: skip
    elif kind == "abs_diff_at_most":
        tol = float(p["tol"])
        if "rows" in p:
            ra, rb = p["rows"]
            cols = p.get("columns", "*")
            refs = [([ra, str(c)], [rb, str(c)]) for c in cols] if cols != "*" else [
                ([ra, "*"], [rb, "*"])]  # fmt: skip
        else:
            refs = [(a, b) for a, b in p["pairs"]]
        for a_ref, b_ref in refs:
            for x, y in _pairs(look, artifact, a_ref, b_ref, tally, tag):
                label = f"{tag}|{_name(artifact, x)} − {_name(artifact, y)}|"
                vx = _get_or_miss(look, tally, x, label)
                vy = _get_or_miss(look, tally, y, label) if vx is not None else None
                if vx is None or vy is None:
                    continue
                tally.check(abs(vx - vy) <= tol + 1e-12, f"{label}: {_f(abs(vx - vy))}")
    elif kind == "cells_at_least":
        for ref in p["cells"]:
            addr = _addr(artifact, ref)
            label = f"{tag}{_name(artifact, addr)}"
            v = _get_or_miss(look, tally, addr, label)
            if v is not None:
                tally.check(v >= float(p["threshold"]) - 1e-12, f"{label}: {_f(v)}")
    elif kind == "range_at_most":
        every = p.get("columns", "*") == "*"
        cols = look.columns.get((artifact, p["row"]), []) if every else list(map(str, p["columns"]))
        if "below" in p:
            cols = [c for c in cols if _is_float(c) and float(c) < float(p["below"])]
        label = f"{tag}range of {p['row']}"
        if every and len(cols) < 2:
            tally.miss(f"{label} (needs ≥ 2 values, has {len(cols)})", artifact,
                       p["row"] if look.has(artifact) else None, None)  # fmt: skip
            return
        vals = [_get_or_miss(look, tally, (artifact, p["row"], c), f"{label} at {c}") for c in cols]
        if any(v is None for v in vals):
            return
        spread = max(vals) - min(vals)  # type: ignore[type-var,operator]
        tally.check(spread <= float(p["tol"]) + 1e-12,
                    f"{label} over {len(vals)} values ({', '.join(cols)}): {_f(spread)}")  # fmt: skip
    elif kind == "fraction_within":
        ra, rb = p["rows"]  # difference = value(rb) − value(ra), per column
        diffs: list[float] = []
        for x, y in _pairs(look, artifact, [ra, "*"], [rb, "*"], tally, tag):
            label = f"{tag}{y[1]} − {x[1]} at {x[2]}"
            vx = _get_or_miss(look, tally, x, label)
            vy = _get_or_miss(look, tally, y, label) if vx is not None else None
            if vx is not None and vy is not None:
                diffs.append(vy - vx)
                tally.units += 1
        tally.diffs.extend(diffs)  # judged together in _summarise
    elif kind in ("nested_superset_at_least", "nested_subset_below", "nested_monotone"):
        index, cells = _int_cells(look, artifact)
        if not cells:
            tally.miss(f"{tag}invariance-mismatch matrix", artifact, None, None)
            return
        lacking = [(k, j) for k in index for j in index if (k, j) not in cells]
        for k, j in lacking:
            tally.miss(f"{tag}train {k} → target {j}", artifact, str(k), str(j))
        if kind == "nested_superset_at_least":
            for k, j in sorted(c for c in cells if c[1] <= c[0]):
                tally.check(cells[(k, j)] >= float(p["threshold"]) - 1e-12,
                            f"{tag}train {k} → target {j}: {_f(cells[(k, j)])}")  # fmt: skip
        elif kind == "nested_subset_below":
            for j in index:
                below = [k for k in index if k < j]
                above = [k for k in index if k >= j]
                if not below or any((k, j) not in cells for k in below + above):
                    continue
                lo = max(cells[(k, j)] for k in below)
                hi = min(cells[(k, j)] for k in above)
                tally.check(lo + margin < hi,
                            f"{tag}target {j}: max(k<{j}) {_f(lo)} vs min(k≥{j}) {_f(hi)}")  # fmt: skip
        else:
            slack = float(p["slack"])
            for j in index:
                ks = [k for k in index if k <= j]
                for k1, k2 in itertools.pairwise(ks):
                    if (k1, j) in cells and (k2, j) in cells:
                        a, b = cells[(k1, j)], cells[(k2, j)]
                        tally.check(a < b + slack,
                                    f"{tag}target {j}: train {k1} {_f(a)} vs train {k2} {_f(b)}")  # fmt: skip
    elif kind in ("diagonal_below_row_mean", "diagonal_below_row"):
        targets = look.all_columns(artifact)
        if not targets:
            tally.miss(f"{tag}heatmap", artifact, None, None)
            return
        for t in targets:
            v = _get_or_miss(look, tally, (artifact, t, t), f"{tag}{t}/{t}")
            if v is None:
                continue
            if kind == "diagonal_below_row_mean":
                row = [(c, look.get(artifact, t, c)) for c in targets if c != t]
                absent = [c for c, x in row if x is None]
                for c in absent:
                    tally.miss(f"{tag}{t}/{c}", artifact, t, c)
                if absent or not row:
                    continue
                m = float(np.mean([x for _, x in row]))
                tally.check(v + margin < m, f"{tag}{t}: diagonal {_f(v)} vs row mean {_f(m)}")
            else:
                ref = _get_or_miss(look, tally, (artifact, p["ref_row"], t),
                                   f"{tag}{p['ref_row']}/{t}")  # fmt: skip
                if ref is not None:
                    tally.check(v + margin < ref,
                                f"{tag}{t}: diagonal {_f(v)} vs {p['ref_row']} {_f(ref)}")  # fmt: skip
    else:  # pragma: no cover - load_claims validates kinds
        raise ValueError(f"unknown claim kind {kind!r}")


def _is_int(text: str) -> bool:
    return str(text).isdigit()


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _summarise(claim: Claim, tally: _Tally) -> ClaimResult:
    if claim.kind == "fraction_within":
        diffs = tally.diffs
        if diffs and not tally.missing:
            lo, hi = float(claim.params["low"]), float(claim.params["high"])
            inside = sum(lo - 1e-12 <= d <= hi + 1e-12 for d in diffs)
            frac = inside / len(diffs)
            tally.check(frac >= float(claim.params["min_fraction"]),
                        f"{inside} of {len(diffs)} differences in [{lo:g}, {hi:g}] "
                        f"(min {_f(min(diffs))}, max {_f(max(diffs))})", unit=False)  # fmt: skip
    total = tally.units + len(tally.missing)
    reasons = tuple(dict.fromkeys(r for _, rs in tally.missing for r in rs))
    if total == 0:  # a kind found nothing to compare and nothing to ask for
        return ClaimResult(claim, NOT_CHECKED, "no comparisons", 0, 0, 0, ("no data",))
    if tally.missing:
        status = NOT_CHECKED
        missing_what = "; ".join(w for w, _ in tally.missing[:3])
        more = f" and {len(tally.missing) - 3} more" if len(tally.missing) > 3 else ""
        parts = [f"{tally.units} of {total} comparisons available; missing: {missing_what}{more}"]
        if tally.failures:
            parts.append(f"{len(tally.failures)} of the available fail: {tally.failures[0]}")
    elif tally.failures:
        status = FAILS
        n_checks = len(tally.passes) + len(tally.failures)
        parts = [f"{len(tally.failures)} of {n_checks} comparisons fail: "
                 + "; ".join(tally.failures[:4])]  # fmt: skip
    else:
        status = HOLDS
        n_checks = len(tally.passes)
        parts = [f"all {n_checks} comparisons hold: " + "; ".join(tally.passes[:3])]
    return ClaimResult(claim, status, " | ".join(parts), tally.units, total,
                       len(tally.failures), reasons)  # fmt: skip


def evaluate_claims(
    claims: Sequence[Claim], numbers: pd.DataFrame, *, why_missing: WhyMissing | None = None
) -> list[ClaimResult]:
    """Check every claim on ``numbers`` (paper-numbers format: artifact, row, column, statistic,
    value). Status: ``holds`` (every comparison the claim makes had data and holds), ``fails``
    (every comparison had data and at least one fails), ``not checked`` (some comparison had no
    data: the claim is never reported as holding on partial data). ``why_missing(artifact, row,
    column)`` returns the reasons a value is missing (row/column None: the whole panel/row).
    """
    why = why_missing or _default_why
    out: list[ClaimResult] = []
    for claim in claims:
        look = _Lookup(numbers, str(claim.params.get("statistic", "value")))
        tally = _Tally(why)
        refs = _refs(claim.params)
        explicit = bool(refs) and all(len(r) == 3 for r in refs)
        for artifact in claim.artifacts[:1] if explicit else claim.artifacts:
            _check_artifact(claim, artifact, look, tally)
        out.append(_summarise(claim, tally))
    return out


# ----------------------------------------------------------------------------------------------
# report


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(v: float, digits: int = 3) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def claim_counts(results: Sequence[ClaimResult]) -> dict[str, int]:
    """The scorecard header's numbers: ``claims``, ``checked`` (= ``holds`` + ``fails``),
    ``holds``, ``fails``, ``not checked``."""
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    return {"claims": len(results), "checked": counts[HOLDS] + counts[FAILS], **counts}


def claims_header(results: Sequence[ClaimResult]) -> str:
    c = claim_counts(results)
    return (
        f"Claims: {c['claims']} from the paper; {c['checked']} checked, {c[HOLDS]} holding, "
        f"{c[FAILS]} failing; {c[NOT_CHECKED]} not checkable at this scale"
    )


def build_scorecard(
    results: Mapping[str, pd.DataFrame],
    out_md: str | os.PathLike[str],
    *,
    reasons: Mapping[str, str] | None = None,
    paper_numbers: pd.DataFrame | None = None,
    claims: Sequence[Claim] | None = None,
    arch_labels: Mapping[str, str] | None = None,
    title: str = "Scorecard: this run vs. the paper",
) -> tuple[pd.DataFrame, list[ClaimResult]]:
    """Write ``out_md`` (and ``<out_md stem>.csv`` with one line per paper number).

    ``results``: tidy tables by key (``tvo``, ``ife``, ``ife_sens``, ``it``, ``tm``), each
    validated against :data:`invtransfer.aggregation.SCHEMAS`; absent keys are experiments not run.
    ``reasons``: why a panel (``"table3"``, ``"fig7a"``), a column (``"table2:cifar10"``), a row
    or column label (``"fig16:shear"``) or a cell was not run; otherwise the reason is derived
    from what is missing. ``arch_labels``: e.g.
    ``{"densenet": "densenet_cifar (the reference's 'DenseNet-121')"}``, printed in the header.
    Returns the comparison frame and the claim results.
    """
    results = {k: validate_frame(v, k) for k, v in results.items()}
    paper = load_paper_numbers() if paper_numbers is None else paper_numbers
    claims = load_claims() if claims is None else list(claims)
    ours, gaps = _measure(results)
    comp = compare_numbers(paper, ours, results, reasons, gaps)
    verdicts = evaluate_claims(claims, ours, why_missing=_WhyMissing(results, ours, reasons, gaps))

    out_md = Path(out_md)
    lines = [f"# {title}", ""]
    n_cmp = int((comp["status"] == "compared").sum())
    lines += [
        f"**{claims_header(verdicts)}.**",
        f"**Paper numbers: {n_cmp} of {len(comp)} compared.**",
        "",
        "A claim is checked only when every comparison it makes has data in this run; with any "
        'comparison missing it is *not checked* (never "holds" on partial data), and the '
        "section after the claims says what is missing and why.",
        "",
        f"Paper numbers: {len(paper)} (of which "
        f"{int(paper['note'].str.contains('APPROXIMATE').sum())} approximate read-offs of the "
        f"reference's figures). Results provided: {', '.join(sorted(results)) or 'none'}.",
    ]
    if arch_labels:
        lines.append(
            "Architectures: " + "; ".join(f"{k} = {v}" for k, v in arch_labels.items()) + "."
        )
    lines.append(
        "Diff = ours − paper. Ours: mean over this run's seeds (n = runs behind the number)."
    )
    lines += [
        "",
        "## Claims",
        "",
        "| claim | artifacts | statement | status | evidence |",
        "|---|---|---|---|---|",
    ]
    for r in verdicts:
        lines.append(
            f"| `{r.claim.id}` | {', '.join(r.claim.artifacts)} | {_md(r.claim.statement)} "
            f"<br><sub>{_md(r.claim.source)}</sub> | **{r.status}** | {_md(r.evidence)} |"
        )
    unchecked = [r for r in verdicts if r.status == NOT_CHECKED]
    lines += ["", "## Not checkable at this scale", ""]
    if not unchecked:
        lines.append("Every claim was checked.")
    for r in unchecked:
        lines.append(
            f"- `{r.claim.id}` ({r.available} of {r.total} comparisons available): "
            + "; ".join(_md(x) for x in r.missing_reasons)
        )
    lines += ["", "## Summary per artifact", "",
              "| artifact | paper numbers | compared | not run | mean abs diff | max abs diff |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for art in dict.fromkeys(comp["artifact"]):
        sub = comp[comp["artifact"] == art]
        d = sub["diff"].abs().dropna()
        lines.append(
            f"| {art} | {len(sub)} | {len(d)} | {len(sub) - len(d)} | "
            f"{_num(d.mean()) if len(d) else ''} | {_num(d.max()) if len(d) else ''} |"
        )
    lines += ["", "## Numbers", ""]
    for art in dict.fromkeys(comp["artifact"]):
        sub = comp[comp["artifact"] == art]
        lines += [f"### {art} — {PANELS[art].title}", ""]
        notes = list(dict.fromkeys(sub["note"]))
        lines += [f"Source: {_md(n)}" for n in notes if n]
        not_run = sub[sub["status"] == "not run"]
        for reason in dict.fromkeys(not_run["reason"]):
            k = int((not_run["reason"] == reason).sum())
            lines.append(f"Not run ({k} numbers): {_md(reason)}")
        lines += ["", "| row | column | stat | paper | ours | diff | n | within paper std |",
                  "|---|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
        for r in sub.itertuples():
            ours_txt = "not run" if r.status == "not run" else _num(r.ours)
            lines.append(
                f"| {_md(r.row)} | {_md(r.column)} | {r.statistic} | {_num(r.paper)} | {ours_txt} | "
                f"{_num(r.diff)} | {r.n} | {r.within_paper_std} |"
            )
        lines.append("")
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    buf = _io.StringIO()
    comp.to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(out_md.with_suffix(".csv"), buf.getvalue())
    return comp, verdicts
