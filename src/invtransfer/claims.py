"""The paper's qualitative claims as rules, checked on numbers in the paper-numbers format.

``invtransfer/resources/paper_claims.yaml`` lists the claims (kinds in :data:`CLAIM_KINDS`);
each reads cells of paper panels (:data:`invtransfer.artifacts.PANELS`, passed to
:func:`load_claims`). :func:`evaluate_claims` checks them on any frame with columns artifact,
row, column, statistic, value — this run's numbers (:func:`invtransfer.scorecard.measured_numbers`)
or the paper's own. A claim holds or fails only when every comparison it makes has data;
otherwise it is *not checked*, with the reasons.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from invtransfer.resources import resources_dir

__all__ = [
    "CLAIM_KINDS",
    "FAILS",
    "HOLDS",
    "NOT_CHECKED",
    "STATUSES",
    "Claim",
    "ClaimResult",
    "WhyMissing",
    "claim_counts",
    "claims_header",
    "evaluate_claims",
    "format_headroom",
    "load_claims",
]

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
    # where to look when the claim fails in a run (what the claim presumes, which numbers
    # separate "the paper's effect is absent" from "the run is too small"); "" if none
    diagnosis: str = ""


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
    # how far the closest comparison is from the claim's threshold, in the units the threshold
    # is stated in (sens, accuracy; a fraction for ``fraction_within``): positive = holds with
    # that much room, negative = the worst comparison misses by that much; None if not checked
    headroom: float | None = None

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


def load_claims(
    path: str | os.PathLike[str] | None = None, *, panels: Collection[str]
) -> list[Claim]:
    """Read and validate ``paper_claims.yaml``; every artifact a claim reads must be one of
    ``panels`` (the paper panels, :data:`invtransfer.artifacts.PANELS`)."""
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
        if not isinstance(arts, list) or not arts or any(a not in panels for a in arts):
            raise ValueError(
                f"{where} ({cid}): artifacts must be a non-empty list of {sorted(panels)}"
            )
        params = dict(item.get("params") or {})
        lacking = [k for k in _REQUIRED_PARAMS[item["kind"]] if k not in params]
        if lacking:
            raise ValueError(f"{where} ({cid}): kind {item['kind']} needs params {lacking}")
        if item["kind"] == "nested_subset_below":
            fewest = params.get("min_missing", 1)
            if isinstance(fewest, bool) or not isinstance(fewest, int) or fewest < 1:
                raise ValueError(
                    f"{where} ({cid}): min_missing must be an int >= 1, got {fewest!r}"
                )
        if item["kind"] == "abs_diff_at_most" and ("rows" in params) == ("pairs" in params):
            raise ValueError(f"{where} ({cid}): abs_diff_at_most needs 'rows' or 'pairs', not both")
        for ref in _refs(params):
            if len(ref) == 3 and ref[0] not in panels:
                raise ValueError(f"{where} ({cid}): cell {ref} names unknown artifact {ref[0]!r}")
        diagnosis = item.get("diagnosis", "")
        if not isinstance(diagnosis, str):
            raise ValueError(
                f"{where} ({cid}): diagnosis must be text, got {type(diagnosis).__name__}"
            )
        claims.append(Claim(cid, tuple(arts), item["kind"], str(item["statement"]).strip(),
                            str(item["source"]), params, " ".join(diagnosis.split())))  # fmt: skip
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
    headrooms: list[float] = field(default_factory=list)  # each check's distance to its threshold

    def check(self, ok: bool, text: str, *, headroom: float, unit: bool = True) -> None:
        """One comparison: ``headroom`` is its signed distance to the threshold (> 0 where it
        holds with room, < 0 by how much it misses; 0 at the threshold, where ``ok`` decides)."""
        self.units += int(unit)
        self.headrooms.append(float(headroom))
        if ok:
            self.passes.append(text)
        else:
            miss = _amount(-headroom)
            self.failures.append(
                f"{text}, misses by {miss}" if miss != "0" else f"{text}, exactly at the threshold"
            )

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


def _amount(v: float) -> str:
    """A distance to a threshold: 3 decimals, more where 3 would round it to 0.000; "0" within
    the comparisons' float tolerance (1e-12)."""
    if v < 1e-12:
        return "0"
    if v >= 0.0005:
        return f"{v:.3f}"
    return f"{v:.1g}" if v < 0.00005 else f"{v:.4f}"


def format_headroom(h: float | None) -> str:
    """A claim's headroom for reports: signed, 3 decimals (more close to 0); "" if None."""
    if h is None:
        return ""
    text = _amount(abs(h))
    return text if text == "0" else ("+" if h > 0 else "−") + text


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
                tally.check(ok, f"{label}: {_f(vx)} vs {_f(vy)}", headroom=vy - lhs)
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
                    f"{tag}min {p['high']} {_f(hmin)} vs max {p['low']} {_f(lmax)}",
                    headroom=hmin - lmax - margin)  # fmt: skip
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
                d = abs(vx - vy)
                tally.check(d <= tol + 1e-12, f"{label}: {_f(d)}", headroom=tol - d)
    elif kind == "cells_at_least":
        for ref in p["cells"]:
            addr = _addr(artifact, ref)
            label = f"{tag}{_name(artifact, addr)}"
            v = _get_or_miss(look, tally, addr, label)
            if v is not None:
                low = float(p["threshold"])
                tally.check(v >= low - 1e-12, f"{label}: {_f(v)}", headroom=v - low)
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
        tol = float(p["tol"])
        tally.check(spread <= tol + 1e-12,
                    f"{label} over {len(vals)} values ({', '.join(cols)}): {_f(spread)}",
                    headroom=tol - spread)  # fmt: skip
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
            low = float(p["threshold"])
            for k, j in sorted(c for c in cells if c[1] <= c[0]):
                tally.check(cells[(k, j)] >= low - 1e-12,
                            f"{tag}train {k} → target {j}: {_f(cells[(k, j)])}",
                            headroom=cells[(k, j)] - low)  # fmt: skip
        elif kind == "nested_subset_below":
            # the models missing at least ``min_missing`` of target j's transformations against
            # every model trained on all of them (k ≥ j)
            fewest = int(p.get("min_missing", 1))
            if len(index) <= fewest:  # no target can have a model that misses that many
                tally.missing.append((
                    f"{tag}a target whose models miss {fewest} of its transformations",
                    (f"{artifact} nests {len(index)} transformations; this claim needs at least "
                     f"{fewest + 1} (experiments.tm.n_transforms)",),
                ))  # fmt: skip
            for j in index:
                below = [k for k in index if k <= j - fewest]
                above = [k for k in index if k >= j]
                if not below or any((k, j) not in cells for k in below + above):
                    continue
                lo = max(cells[(k, j)] for k in below)
                hi = min(cells[(k, j)] for k in above)
                subset = f"k<{j}" if fewest == 1 else f"k≤{j - fewest}"
                tally.check(lo + margin < hi,
                            f"{tag}target {j}: max({subset}) {_f(lo)} vs min(k≥{j}) {_f(hi)}",
                            headroom=hi - lo - margin)  # fmt: skip
        else:
            slack = float(p["slack"])
            for j in index:
                ks = [k for k in index if k <= j]
                for k1, k2 in itertools.pairwise(ks):
                    if (k1, j) in cells and (k2, j) in cells:
                        a, b = cells[(k1, j)], cells[(k2, j)]
                        tally.check(a < b + slack,
                                    f"{tag}target {j}: train {k1} {_f(a)} vs train {k2} {_f(b)}",
                                    headroom=b + slack - a)  # fmt: skip
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
                tally.check(v + margin < m, f"{tag}{t}: diagonal {_f(v)} vs row mean {_f(m)}",
                            headroom=m - v - margin)  # fmt: skip
            else:
                ref = _get_or_miss(look, tally, (artifact, p["ref_row"], t),
                                   f"{tag}{p['ref_row']}/{t}")  # fmt: skip
                if ref is not None:
                    tally.check(v + margin < ref,
                                f"{tag}{t}: diagonal {_f(v)} vs {p['ref_row']} {_f(ref)}",
                                headroom=ref - v - margin)  # fmt: skip
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
            need = float(claim.params["min_fraction"])
            tally.check(frac >= need,
                        f"{inside} of {len(diffs)} differences in [{lo:g}, {hi:g}] "
                        f"(min {_f(min(diffs))}, max {_f(max(diffs))})",
                        headroom=frac - need, unit=False)  # fmt: skip
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
    headroom = None if status == NOT_CHECKED else min(tally.headrooms)
    return ClaimResult(claim, status, " | ".join(parts), tally.units, total,
                       len(tally.failures), reasons, headroom)  # fmt: skip


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
