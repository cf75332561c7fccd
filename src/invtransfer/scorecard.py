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

:func:`measured_numbers` turns the tidy tables into the same long format as the paper numbers
(through :mod:`invtransfer.aggregation`, like the tables and figures), :func:`evaluate_claims`
checks the rules on any such frame, and :func:`build_scorecard` writes the Markdown report (and a
CSV twin). A paper number whose cell this run did not produce is listed as "not run" with the
reason; nothing about our results is hard-coded here.
"""

from __future__ import annotations

import io as _io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from invtransfer.aggregation import (
    TVO_FACTORS,
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
from invtransfer.io import atomic_write_text

__all__ = [
    "ARTIFACTS",
    "CLAIM_KINDS",
    "Claim",
    "ClaimResult",
    "build_scorecard",
    "compare_numbers",
    "evaluate_claims",
    "load_claims",
    "load_paper_numbers",
    "measured_numbers",
    "resources_dir",
]

ENV_RESOURCES = "INVTRANSFER_RESOURCES"
NUMBER_COLUMNS = ("artifact", "row", "column", "statistic", "value")


@dataclass(frozen=True)
class ArtifactSpec:
    """Where a paper artifact's numbers come from in this run."""

    source: str  # results key
    title: str
    params: Mapping[str, Any] = field(default_factory=dict)


def _artifacts() -> dict[str, ArtifactSpec]:
    specs: dict[str, ArtifactSpec] = {
        "table1": ArtifactSpec("ife", "Table 1 — irrelevant features (RN18, translate variant)",
                               {"variant": "translate"}),
        "table2": ArtifactSpec("it", "Table 2 — invariance transfer, ResNet-18", {"arch": "resnet18"}),
        "table3": ArtifactSpec("it", "Table 3 — invariance transfer, VGG-11", {"arch": "vgg11"}),
        "table4": ArtifactSpec("it", "Table 4 — invariance transfer, DenseNet", {"arch": "densenet"}),
        "table5": ArtifactSpec("it", "Table 5 — invariance transfer, ViT", {"arch": "vit"}),
        "fig4": ArtifactSpec("tm", "Fig. 4 — invariance mismatch, ResNet-18", {"arch": "resnet18"}),
        "fig18a": ArtifactSpec("tm", "Fig. 18a — invariance mismatch, VGG-11", {"arch": "vgg11"}),
        "fig18b": ArtifactSpec("tm", "Fig. 18b — invariance mismatch, DenseNet", {"arch": "densenet"}),
        "fig18c": ArtifactSpec("tm", "Fig. 18c — invariance mismatch, ViT", {"arch": "vit"}),
        "fig16": ArtifactSpec("it", "Fig. 16 — sens heatmap, RN18 image models, in-distribution",
                              {"arch": "resnet18", "model_type": "image"}),
        "fig17": ArtifactSpec("it", "Fig. 17 — sens heatmap, RN18 random models, in-distribution",
                              {"arch": "resnet18", "model_type": "random"}),
    }  # fmt: skip
    factor_figs = {
        ("t2d", "lp"): "fig2", ("cifar10", "lp"): "fig7", ("cifar100", "lp"): "fig8",
        ("t2d", "ft-low"): "fig9", ("cifar10", "ft-low"): "fig10", ("cifar100", "ft-low"): "fig11",
    }  # fmt: skip
    names = {"t2d": "Transforms-2D", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
    regimes = {
        "lp": "linear probe",
        "ft-low": "fine-tuning (low data)",
        "ft-high": "fine-tuning (high data)",
    }
    for (family, regime), fig in factor_figs.items():
        for letter, factor in zip("abc", TVO_FACTORS, strict=True):
            specs[f"{fig}{letter}"] = ArtifactSpec(
                "tvo", f"Fig. {fig[3:]}{letter} — {names[family]}, {regimes[regime]}, {factor}",
                {"family": family, "regime": regime, "factor": factor},
            )  # fmt: skip
    for fig, regime in (("fig3", "lp"), ("fig12", "ft-low"), ("fig13", "ft-high")):
        for letter, family in zip("abc", ("t2d", "cifar10", "cifar100"), strict=True):
            specs[f"{fig}{letter}"] = ArtifactSpec(
                "tvo", f"Fig. {fig[3:]}{letter} — differences, {names[family]}, {regimes[regime]}",
                {"family": family, "regime": regime},
            )  # fmt: skip
    panels = (("relevance", "C+O/C"), ("relevance", "C+O/O"), ("availability", "C+O/C"),
              ("availability", "C+O/O"))  # fmt: skip
    for letter, (experiment, target) in zip("abcd", panels, strict=True):
        specs[f"fig14{letter}"] = ArtifactSpec(
            "ife", f"Fig. 14{letter} — {experiment} sweep, transfer to {target}",
            {"experiment": experiment, "target": target, "variant": "fixed"},
        )  # fmt: skip
    return specs


ARTIFACTS: dict[str, ArtifactSpec] = _artifacts()


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
    unknown = sorted(set(df["artifact"]) - set(ARTIFACTS))
    if unknown:
        raise ValueError(f"{path}: unknown artifacts {unknown}; known: {sorted(ARTIFACTS)}")
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


def _rows_for(artifact: str, spec: ArtifactSpec, results: Mapping[str, pd.DataFrame]) -> list[dict]:
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
            for col in ("disjoint_span", "same_span", "gap"):
                add(r["factor"], col, "value", r[col], n)
    return out


def measured_numbers(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Our numbers for every paper artifact, in the paper-numbers format plus ``n`` (runs behind
    each number). Artifacts whose results table is absent contribute no rows."""
    rows: list[dict] = []
    for artifact, spec in ARTIFACTS.items():
        if spec.source not in results:
            continue
        rows.extend(_rows_for(artifact, spec, results))
    return pd.DataFrame(rows, columns=[*NUMBER_COLUMNS, "n"])


# ----------------------------------------------------------------------------------------------
# comparison


def _missing_reason(
    artifact: str, column: str, results: Mapping[str, pd.DataFrame], ours: pd.DataFrame,
    reasons: Mapping[str, str],
) -> str:  # fmt: skip
    for key in (f"{artifact}:{column}", artifact):
        if key in reasons:
            return str(reasons[key])
    spec = ARTIFACTS[artifact]
    needed = ["ife", "ife_sens"] if artifact == "table1" else [spec.source]
    absent = [k for k in needed if k not in results]
    if absent:
        return f"results[{absent[0]!r}] not provided: the experiment was not part of this run"
    where = ", ".join(f"{k}={v}" for k, v in spec.params.items())
    if not (ours["artifact"] == artifact).any():
        return f"no rows for {where} in results[{spec.source!r}]"
    return f"this cell ({column}) is not in results[{spec.source!r}] for {where}"


def compare_numbers(
    paper: pd.DataFrame,
    ours: pd.DataFrame,
    results: Mapping[str, pd.DataFrame],
    reasons: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One line per paper number: paper value, ours (NaN if not run), difference (ours − paper),
    runs behind ours, whether |diff| ≤ the paper's std for the same cell, and the reason when
    not run."""
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
    merged["reason"] = [
        _missing_reason(r.artifact, r.column, results, ours, reasons)
        if r.status == "not run"
        else ""
        for r in merged.itertuples()
    ]
    merged["n"] = merged["n"].fillna(0).astype(int)
    return merged[
        [*key, "paper", "ours", "diff", "n", "within_paper_std", "status", "reason", "note"]
    ]


# ----------------------------------------------------------------------------------------------
# claims


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
    claim: Claim
    verdict: str  # holds | fails | not evaluable
    evidence: str
    checks: int  # comparisons evaluated
    failures: int
    missing: int  # comparisons without data


CLAIM_KINDS = (
    "cell_less_than",
    "min_greater_than_max",
    "abs_diff_at_most",
    "cells_at_least",
    "range_at_most",
    "nested_superset_at_least",
    "nested_subset_below",
    "diagonal_below_row_mean",
    "diagonal_below_row",
)
_REQUIRED_PARAMS = {
    "cell_less_than": ("comparisons",),
    "min_greater_than_max": ("high", "low"),
    "abs_diff_at_most": ("rows", "tol"),
    "cells_at_least": ("cells", "threshold"),
    "range_at_most": ("row", "tol"),
    "nested_superset_at_least": ("threshold",),
    "nested_subset_below": (),
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
        if not isinstance(arts, list) or not arts or any(a not in ARTIFACTS for a in arts):
            raise ValueError(
                f"{where} ({cid}): artifacts must be a non-empty list of {sorted(ARTIFACTS)}"
            )
        params = dict(item.get("params") or {})
        lacking = [k for k in _REQUIRED_PARAMS[item["kind"]] if k not in params]
        if lacking:
            raise ValueError(f"{where} ({cid}): kind {item['kind']} needs params {lacking}")
        claims.append(Claim(cid, tuple(arts), item["kind"], str(item["statement"]).strip(),
                            str(item["source"]), params))  # fmt: skip
    return claims


class _Lookup:
    """Values of one statistic, addressable by (artifact, row, column)."""

    def __init__(self, numbers: pd.DataFrame, statistic: str):
        sub = numbers[numbers["statistic"] == statistic]
        self.values: dict[tuple[str, str, str], float] = {
            (str(a), str(r), str(c)): float(v)
            for a, r, c, v in zip(
                sub["artifact"], sub["row"], sub["column"], sub["value"], strict=True
            )
        }
        self.columns: dict[tuple[str, str], list[str]] = {}
        self.rows: dict[str, list[str]] = {}
        for a, r, c in self.values:
            self.columns.setdefault((a, r), []).append(c)
            if r not in self.rows.setdefault(a, []):
                self.rows[a].append(r)

    def get(self, artifact: str, row: str, column: str) -> float | None:
        return self.values.get((artifact, str(row), str(column)))


@dataclass
class _Tally:
    checks: int = 0
    failures: list[str] = field(default_factory=list)
    passes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.checks += 1
        (self.passes if ok else self.failures).append(text)


def _addr(artifact: str, ref: Sequence[str]) -> tuple[str, str, str]:
    if len(ref) == 3:
        return (str(ref[0]), str(ref[1]), str(ref[2]))
    if len(ref) == 2:
        return (artifact, str(ref[0]), str(ref[1]))
    raise ValueError(f"cell reference must be [row, column] or [artifact, row, column], got {ref}")


def _f(v: float) -> str:
    return f"{v:.3f}"


def _check_artifact(claim: Claim, artifact: str, look: _Lookup, tally: _Tally) -> None:
    p = claim.params
    kind = claim.kind
    tag = f"{artifact}: " if len(claim.artifacts) > 1 else ""
    if kind == "cell_less_than":
        margin = float(p.get("margin", 0.0))
        for a_ref, b_ref in p["comparisons"]:
            a, b = _addr(artifact, a_ref), _addr(artifact, b_ref)
            if a[2] == "*" or b[2] == "*":
                cols_a = look.columns.get((a[0], a[1]), [])
                cols_b = set(look.columns.get((b[0], b[1]), []))
                cols = [c for c in cols_a if c in cols_b]
                if not cols:
                    tally.missing.append(f"{tag}{a[1]} vs {b[1]} (no common columns)")
                pairs = [((a[0], a[1], c), (b[0], b[1], c)) for c in cols]
            else:
                pairs = [(a, b)]
            for x, y in pairs:
                vx, vy = look.get(*x), look.get(*y)
                label = f"{tag}{'/'.join(x[1:]) if x[0] == artifact else '/'.join(x)} < " \
                        f"{'/'.join(y[1:]) if y[0] == artifact else '/'.join(y)}"  # fmt: skip
                if vx is None or vy is None:
                    tally.missing.append(label)
                    continue
                tally.check(vx + margin < vy, f"{label}: {_f(vx)} vs {_f(vy)}")
    elif kind == "min_greater_than_max":
        high = {
            c: look.get(artifact, p["high"], c) for c in look.columns.get((artifact, p["high"]), [])
        }
        low = {
            c: look.get(artifact, p["low"], c) for c in look.columns.get((artifact, p["low"]), [])
        }
        if not high or not low:
            tally.missing.append(f"{tag}rows {p['high']!r} / {p['low']!r}")
            return
        hmin, lmax = min(high.values()), max(low.values())
        tally.check(hmin > lmax, f"{tag}min {p['high']} {_f(hmin)} vs max {p['low']} {_f(lmax)}")
    elif kind == "abs_diff_at_most":
        ra, rb = p["rows"]
        cols = [
            c
            for c in look.columns.get((artifact, ra), [])
            if c in look.columns.get((artifact, rb), [])
        ]
        if not cols:
            tally.missing.append(f"{tag}{ra} vs {rb}")
        for c in cols:
            d = abs(look.get(artifact, ra, c) - look.get(artifact, rb, c))  # type: ignore[operator]
            tally.check(d <= float(p["tol"]), f"{tag}|{ra} − {rb}| at {c}: {_f(d)}")
    elif kind == "cells_at_least":
        for ref in p["cells"]:
            addr = _addr(artifact, ref)
            v = look.get(*addr)
            if v is None:
                tally.missing.append(f"{tag}{'/'.join(addr[1:])}")
                continue
            tally.check(v >= float(p["threshold"]), f"{tag}{'/'.join(addr[1:])}: {_f(v)}")
    elif kind == "range_at_most":
        cols = p.get("columns", "*")
        cols = look.columns.get((artifact, p["row"]), []) if cols == "*" else [str(c) for c in cols]
        vals = [v for c in cols if (v := look.get(artifact, p["row"], c)) is not None]
        if len(vals) < 2:
            tally.missing.append(f"{tag}{p['row']} (needs ≥ 2 values)")
            return
        spread = max(vals) - min(vals)
        tally.check(
            spread <= float(p["tol"]),
            f"{tag}range of {p['row']} over {len(vals)} values: {_f(spread)}",
        )
    elif kind == "nested_superset_at_least":
        cells = [(r, c) for (a, r, c) in look.values if a == artifact and _is_int(r) and _is_int(c)]
        sel = [(r, c) for r, c in cells if int(c) <= int(r)]
        if not sel:
            tally.missing.append(f"{tag}cells with target ≤ training transforms")
        for r, c in sorted(sel, key=lambda t: (int(t[0]), int(t[1]))):
            v = look.get(artifact, r, c)
            tally.check(v >= float(p["threshold"]), f"{tag}train {r} → target {c}: {_f(v)}")  # type: ignore[operator]
    elif kind == "nested_subset_below":
        cells = {(int(r), int(c)): v for (a, r, c), v in look.values.items()
                 if a == artifact and _is_int(r) and _is_int(c)}  # fmt: skip
        targets = sorted({c for _, c in cells})
        any_check = False
        for j in targets:
            below = [v for (k, c), v in cells.items() if c == j and k < j]
            above = [v for (k, c), v in cells.items() if c == j and k >= j]
            if below and above:
                any_check = True
                tally.check(max(below) < min(above),
                            f"{tag}target {j}: max(k<{j}) {_f(max(below))} vs min(k≥{j}) {_f(min(above))}")  # fmt: skip
        if not any_check:
            tally.missing.append(f"{tag}no target with both subset and superset models")
    elif kind in ("diagonal_below_row_mean", "diagonal_below_row"):
        rows = look.rows.get(artifact, [])
        diag = [r for r in rows if look.get(artifact, r, r) is not None]
        if not diag:
            tally.missing.append(f"{tag}no diagonal cells")
        for t in diag:
            v = look.get(artifact, t, t)
            if kind == "diagonal_below_row_mean":
                others = [
                    look.get(artifact, t, c) for c in look.columns.get((artifact, t), []) if c != t
                ]
                if not others:
                    tally.missing.append(f"{tag}{t}: no off-diagonal cells")
                    continue
                m = float(np.mean(others))
                tally.check(v < m, f"{tag}{t}: diagonal {_f(v)} vs row mean {_f(m)}")  # type: ignore[operator]
            else:
                ref = look.get(artifact, p["ref_row"], t)
                if ref is None:
                    tally.missing.append(f"{tag}{p['ref_row']}/{t}")
                    continue
                tally.check(v < ref, f"{tag}{t}: diagonal {_f(v)} vs {p['ref_row']} {_f(ref)}")  # type: ignore[operator]
    else:  # pragma: no cover - load_claims validates kinds
        raise ValueError(f"unknown claim kind {kind!r}")


def _is_int(text: str) -> bool:
    return str(text).isdigit()


def evaluate_claims(claims: Sequence[Claim], numbers: pd.DataFrame) -> list[ClaimResult]:
    """Check every claim on ``numbers`` (paper-numbers format: artifact, row, column, statistic,
    value). Verdict: ``holds`` (every evaluable comparison holds), ``fails`` (at least one fails),
    ``not evaluable`` (no comparison had data). The evidence lists failures first, then a sample
    of passing comparisons, and how many comparisons lacked data."""
    out: list[ClaimResult] = []
    for claim in claims:
        look = _Lookup(numbers, str(claim.params.get("statistic", "value")))
        tally = _Tally()
        for artifact in claim.artifacts:
            _check_artifact(claim, artifact, look, tally)
        if tally.checks == 0:
            verdict = "not evaluable"
            evidence = "no data for: " + "; ".join(tally.missing[:4])
        else:
            verdict = "fails" if tally.failures else "holds"
            parts = []
            if tally.failures:
                parts.append(
                    f"{len(tally.failures)} of {tally.checks} checks fail: "
                    + "; ".join(tally.failures[:4])
                )
            else:
                parts.append(f"all {tally.checks} checks hold: " + "; ".join(tally.passes[:3]))
            if tally.missing:
                parts.append(f"{len(tally.missing)} checks without data (e.g. {tally.missing[0]})")
            evidence = " | ".join(parts)
        out.append(ClaimResult(claim, verdict, evidence, tally.checks, len(tally.failures),
                               len(tally.missing)))  # fmt: skip
    return out


# ----------------------------------------------------------------------------------------------
# report


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(v: float, digits: int = 3) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


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
    ``reasons``: why an artifact (``"table3"``) or a cell column (``"table2:cifar10"``) was not
    run; otherwise the reason is derived from what is missing. ``arch_labels``: e.g.
    ``{"densenet": "densenet_cifar (the reference's 'DenseNet-121')"}``, printed in the header.
    Returns the comparison frame and the claim results.
    """
    results = {k: validate_frame(v, k) for k, v in results.items()}
    paper = load_paper_numbers() if paper_numbers is None else paper_numbers
    claims = load_claims() if claims is None else list(claims)
    ours = measured_numbers(results)
    comp = compare_numbers(paper, ours, results, reasons)
    verdicts = evaluate_claims(claims, ours)

    out_md = Path(out_md)
    lines = [f"# {title}", ""]
    lines.append(
        f"Paper numbers: {len(paper)} (of which {int(paper['note'].str.contains('APPROXIMATE').sum())} "
        "approximate read-offs of the reference's figures); claims: "
        f"{len(claims)}. Results provided: {', '.join(sorted(results)) or 'none'}."
    )
    if arch_labels:
        lines.append(
            "Architectures: " + "; ".join(f"{k} = {v}" for k, v in arch_labels.items()) + "."
        )
    lines.append(
        "Diff = ours − paper. Ours: mean over this run's seeds (n = runs behind the number)."
    )
    counts = {v: sum(r.verdict == v for r in verdicts) for v in ("holds", "fails", "not evaluable")}
    n_cmp = int((comp["status"] == "compared").sum())
    lines += [
        "",
        f"**{n_cmp} of {len(comp)} paper numbers compared; claims: {counts['holds']} hold, "
        f"{counts['fails']} fail, {counts['not evaluable']} not evaluable.**",
        "",
        "## Claims",
        "",
        "| claim | artifacts | statement | verdict | evidence |",
        "|---|---|---|---|---|",
    ]
    for r in verdicts:
        lines.append(
            f"| `{r.claim.id}` | {', '.join(r.claim.artifacts)} | {_md(r.claim.statement)} "
            f"<br><sub>{_md(r.claim.source)}</sub> | **{r.verdict}** | {_md(r.evidence)} |"
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
        lines += [f"### {art} — {ARTIFACTS[art].title}", ""]
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
