"""The scorecard: every number the paper reports next to ours, and the paper's claims checked.

Inputs:

* ``invtransfer/resources/paper_numbers.csv`` — every number printed in the paper (Table 1–5 cells, the bar
  labels of Fig. 3/12/13, the Fig. 16/17 heatmaps) plus a few values read off the reference's
  saved figures (Fig. 2, Fig. 4), whose note says APPROXIMATE. Columns: artifact, row, column,
  statistic (mean | std | value), value, note.
* ``invtransfer/resources/paper_claims.yaml`` — the paper's qualitative claims as rules, checked by
  :mod:`invtransfer.claims`.
* ``results`` — the tidy tables of this run (keys ``tvo``, ``ife``, ``ife_sens``, ``it``, ``tm``;
  any may be missing).

The paper panels (``table2``, ``fig2a``, …) and where their numbers come from (:class:`Panel`)
are declared by the artifact registry (:data:`invtransfer.artifacts.PANELS`), which passes them
in: this module does not import the registry (the registry's scorecard entry renders through
:func:`render_scorecard`).

:func:`measured_numbers` turns the tidy tables into the same long format as the paper numbers
(through :mod:`invtransfer.aggregation`, like the tables and figures),
:func:`invtransfer.claims.evaluate_claims` checks the rules on it, and :func:`build_scorecard` writes the Markdown report (and a
CSV twin). A paper number whose cell this run did not produce is listed as "not run" with the
reason; nothing about our results is hard-coded here.

The claims are checked on the mean over the run's seeds, as the paper reports them, and again on
each seed's numbers alone (:func:`per_seed_verdicts`): the report's "Per seed" section and
``<stem>_claims.csv`` (one row per claim and scope, ``mean`` or one seed) show whether a claim that
holds on the mean holds on every seed. :func:`seed_resampling` checks each claim again on the
mean over resamples of the run's seeds drawn with replacement (the paper's bootstrap over seeds):
how often it holds, and the interval of its headroom, say whether a verdict depends on the seeds
a run happens to draw. It describes the verdict and never changes it.
"""

from __future__ import annotations

import io as _io
import itertools
import logging
import math
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
from invtransfer.claims import (
    FAILS,
    HOLDS,
    NOT_CHECKED,
    Claim,
    ClaimResult,
    claims_header,
    evaluate_claims,
    format_headroom,
    load_claims,
)
from invtransfer.io import atomic_write_text
from invtransfer.resources import ENV_RESOURCES, resources_dir

__all__ = [
    "Panel",
    "SeedResampling",
    "build_scorecard",
    "claims_csv_path",
    "claims_frame",
    "compare_numbers",
    "load_paper_numbers",
    "measured_numbers",
    "per_seed_verdicts",
    "render_scorecard",
    "seed_resamples",
    "seed_resampling",
]

log = logging.getLogger(__name__)

# how many resamples of the run's seeds :func:`seed_resampling` checks the claims on (all distinct
# ones when there are no more than this many), and the interval of the headroom it reports
SEED_RESAMPLES = 200
SEED_INTERVAL = 95.0

NUMBER_COLUMNS = ("artifact", "row", "column", "statistic", "value")


@dataclass(frozen=True)
class Panel:
    """A paper panel whose numbers the scorecard compares: which tidy table kind (``source``) and
    which slice of it (``params``) give them. The artifact registry declares them per artifact."""

    source: str  # tvo | it | tm | ife
    title: str
    params: Mapping[str, Any] = field(default_factory=dict)


def load_paper_numbers(
    path: str | os.PathLike[str] | None = None, *, panels: Collection[str]
) -> pd.DataFrame:
    """Read and validate ``paper_numbers.csv`` (all columns as text except ``value``); every
    artifact it names must be one of ``panels`` (:data:`invtransfer.artifacts.PANELS`)."""
    path = Path(path) if path is not None else resources_dir() / "paper_numbers.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: paper numbers not found; they ship in the package "
            f"(invtransfer/resources/): reinstall it, or set ${ENV_RESOURCES} to such a folder"
        )
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (*NUMBER_COLUMNS, "note") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing (have {list(df.columns)})")
    try:
        df["value"] = df["value"].astype(float)
    except ValueError as exc:
        raise ValueError(f"{path}: non-numeric value ({exc})") from exc
    unknown = sorted(set(df["artifact"]) - set(panels))
    if unknown:
        raise ValueError(f"{path}: unknown artifacts {unknown}; known: {sorted(panels)}")
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
    results: Mapping[str, pd.DataFrame], panels: Mapping[str, Panel]
) -> tuple[pd.DataFrame, dict[tuple[str, str, str], str]]:
    rows: list[dict] = []
    gaps: dict[tuple[str, str, str], str] = {}
    for artifact, spec in panels.items():
        if spec.source not in results:
            continue
        rows.extend(_rows_for(artifact, spec, results, gaps))
    return pd.DataFrame(rows, columns=[*NUMBER_COLUMNS, "n"]), gaps


def measured_numbers(
    results: Mapping[str, pd.DataFrame], *, panels: Mapping[str, Panel]
) -> pd.DataFrame:
    """Our numbers for every paper panel in ``panels``, in the paper-numbers format plus ``n``
    (runs behind each number). Panels whose results table is absent contribute no rows; a Fig.
    3/12/13 span over a factor with a single value in this run is left out (nothing varies)."""
    return _measure(results, panels)[0]


def run_seeds(results: Mapping[str, pd.DataFrame]) -> list[int]:
    """The seeds that occur in any of the tidy tables, ascending."""
    seeds: set[int] = set()
    for frame in results.values():
        if "seed" in frame.columns:
            seeds.update(int(s) for s in frame["seed"].dropna().unique())
    return sorted(seeds)


def per_seed_verdicts(
    results: Mapping[str, pd.DataFrame],
    claims: Sequence[Claim],
    *,
    panels: Mapping[str, Panel],
) -> dict[int, list[ClaimResult]]:
    """Every claim checked on each seed's numbers alone: ``{seed: results in claims' order}``.

    Each tidy table is cut to the seed's rows and measured exactly as the whole run is
    (:func:`measured_numbers`), so a seed's verdict is the verdict a run of that one seed would
    get. A table with no row of the seed is absent for it (its claims are not checked there).
    """
    out: dict[int, list[ClaimResult]] = {}
    for seed in run_seeds(results):
        cut = {k: f[f["seed"] == seed] for k, f in results.items() if "seed" in f.columns}
        cut = {k: f for k, f in cut.items() if len(f)}
        out[seed] = evaluate_claims(claims, measured_numbers(cut, panels=panels))
    return out


def _enumerated(n_seeds: int, n_resamples: int) -> bool:
    """Whether :func:`seed_resamples` lists every distinct resample of ``n_seeds`` seeds (there
    are ``comb(2n - 1, n)``) rather than drawing ``n_resamples`` at random."""
    return math.comb(2 * n_seeds - 1, n_seeds) <= n_resamples


def seed_resamples(
    seeds: Sequence[int], n_resamples: int = SEED_RESAMPLES, *, rng_seed: int = 0
) -> list[tuple[tuple[int, ...], float]]:
    """Resamples of ``seeds`` drawn with replacement (as many as there are seeds), as ``(sorted
    seeds, probability)`` pairs whose probabilities sum to 1.

    Exact when the distinct resamples (multisets: ``comb(2n - 1, n)`` for n seeds; 10 for 3, 126
    for 5) number at most ``n_resamples``: each with its probability under drawing n seeds
    uniformly with replacement (``n! / prod(k_i!) / n**n``). Otherwise ``n_resamples`` draws
    from a generator seeded with ``rng_seed`` (the same seeds give the same resamples), each
    distinct resample with its share of the draws.
    """
    seeds = sorted(seeds)
    n = len(seeds)
    if n == 0:
        return []
    if n_resamples < 1:
        raise ValueError(f"seed_resamples: n_resamples must be >= 1, got {n_resamples}")
    if _enumerated(n, n_resamples):
        out = []
        for combo in itertools.combinations_with_replacement(seeds, n):
            ways = math.factorial(n)
            for k in Counter(combo).values():
                ways //= math.factorial(k)
            out.append((combo, ways / n**n))
        return out
    rng = np.random.default_rng(rng_seed)
    draws = Counter(
        tuple(sorted(int(s) for s in rng.choice(seeds, size=n))) for _ in range(n_resamples)
    )
    return [(combo, k / n_resamples) for combo, k in sorted(draws.items())]


def _resampled(
    results: Mapping[str, pd.DataFrame], combo: Sequence[int]
) -> dict[str, pd.DataFrame]:
    """The tidy tables of a resample: each drawn seed's rows once per draw, the i-th draw
    relabelled seed i, so a seed drawn twice counts twice in every mean over seeds."""
    out: dict[str, pd.DataFrame] = {}
    for key, frame in results.items():
        if "seed" not in frame.columns:
            out[key] = frame
            continue
        parts = [frame[frame["seed"] == s].assign(seed=i) for i, s in enumerate(combo)]
        parts = [p for p in parts if len(p)]
        if parts:
            out[key] = pd.concat(parts, ignore_index=True)
    return out


@dataclass(frozen=True)
class SeedResampling:
    """One claim checked on resamples of the run's seeds (:func:`seed_resampling`)."""

    resamples: int  # distinct resamples it was checked on
    exact: bool  # every distinct resample with its probability (else drawn at random)
    holds: float  # probability (share of draws) that the claim holds on a resample's mean
    checked: float  # share of draws on which it is checked at all (1 unless data is missing)
    low: float | None  # the headroom's SEED_INTERVAL percentile interval over checked draws
    high: float | None


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` (the inverse of the weighted
    empirical distribution; no interpolation between resamples)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, q * cum[-1] - 1e-12))
    return float(values[order][min(i, len(values) - 1)])


def seed_resampling(
    results: Mapping[str, pd.DataFrame],
    claims: Sequence[Claim],
    verdicts: Sequence[ClaimResult],
    *,
    panels: Mapping[str, Panel],
    n_resamples: int = SEED_RESAMPLES,
    rng_seed: int = 0,
) -> list[SeedResampling | None]:
    """Every claim checked on the mean over resamples of the run's seeds (:func:`seed_resamples`),
    in ``claims``' order; ``verdicts`` are the claims' results on the run's mean.

    A resample's tables are measured exactly as the run's (:func:`measured_numbers`), a seed drawn
    twice counting twice in every mean (and in a std over seeds; no claim reads one). ``holds``
    is the probability that a run of as many seeds, drawn from this run's, would see the claim
    hold; ``low``/``high`` the :data:`SEED_INTERVAL` percentile interval of its headroom. None for
    a claim not checked on the mean, and for every claim when the run has fewer than two seeds or
    ``n_resamples`` is 0 (nothing to resample).
    """
    if n_resamples < 0:
        raise ValueError(f"seed_resampling: n_resamples must be >= 0, got {n_resamples}")
    seeds = run_seeds(results)
    idx = [i for i, r in enumerate(verdicts) if r.status != NOT_CHECKED]
    out: list[SeedResampling | None] = [None] * len(claims)
    if len(seeds) < 2 or n_resamples == 0 or not idx:
        return out
    draws = seed_resamples(seeds, n_resamples, rng_seed=rng_seed)
    exact = _enumerated(len(seeds), n_resamples)
    sub = [claims[i] for i in idx]
    weights = np.array([w for _, w in draws])
    heads = np.full((len(draws), len(idx)), np.nan)
    holds = np.zeros((len(draws), len(idx)), dtype=bool)
    step = max(10, len(draws) // 10)  # progress on long resamplings only
    for d, (combo, _) in enumerate(draws):
        if d and d % step == 0:
            log.info("scorecard: seed resample %d of %d", d, len(draws))
        for j, r in enumerate(evaluate_claims(sub, measured_numbers(_resampled(results, combo),
                                                                   panels=panels))):  # fmt: skip
            holds[d, j] = r.status == HOLDS
            if r.status != NOT_CHECKED and r.headroom is not None:
                heads[d, j] = r.headroom
    edge = (100 - SEED_INTERVAL) / 200
    for j, i in enumerate(idx):
        ok = ~np.isnan(heads[:, j])
        low = high = None
        if ok.any():
            low = _weighted_quantile(heads[ok, j], weights[ok], edge)
            high = _weighted_quantile(heads[ok, j], weights[ok], 1 - edge)
        out[i] = SeedResampling(
            resamples=len(draws), exact=exact, holds=float(weights[holds[:, j]].sum()),
            checked=float(weights[ok].sum()), low=low, high=high,
        )  # fmt: skip
    return out


def _share(p: float) -> str:
    """A probability as a percentage: whole percent, but never rounded to 0 % or 100 % unless
    it is exactly that."""
    pct = 100 * p
    if pct > 1e-9 and round(pct) == 0:
        return "< 1 %"
    if pct < 100 - 1e-9 and round(pct) == 100:
        return "> 99 %"
    return f"{round(pct)} %"


def _resampling_cell(s: SeedResampling | None) -> str:
    if s is None:
        return ""
    text = f"holds in {_share(s.holds)}"
    if s.checked < 1 - 1e-9:
        text += f" (checked in {_share(s.checked)})"
    if s.low is not None:
        low, high = format_headroom(s.low), format_headroom(s.high)
        text += f"; {low}" if low == high else f"; {low} to {high}"
    return text


def _resampling_line(
    verdicts: Sequence[ClaimResult], resampling: Sequence[SeedResampling | None], n_seeds: int
) -> str | None:
    """The header's summary of :func:`seed_resampling`: how many checked claims hold in at least
    95 % of the resamples, fail in at least 95 %, or go either way."""
    shown = [
        s
        for r, s in zip(verdicts, resampling, strict=True)
        if s is not None and r.status != NOT_CHECKED
    ]
    if not shown:
        return None
    robust = sum(s.holds >= 0.95 - 1e-12 for s in shown)
    fail = sum(s.checked - s.holds >= 0.95 - 1e-12 for s in shown)
    how = (
        f"all {shown[0].resamples} distinct resamples, exact"
        if shown[0].exact
        else f"{shown[0].resamples} distinct resamples drawn at random"
    )
    return (
        f"Resampling the {n_seeds} seeds with replacement ({how}), of {len(shown)} checked "
        f"claims: holding in at least 95 % of resamples {robust}, failing in at least 95 % "
        f"{fail}, either way {len(shown) - robust - fail}"
    )


def _seed_cell(r: ClaimResult) -> str:
    if r.status == HOLDS:
        return f"holds ({format_headroom(r.headroom)})"
    if r.status == FAILS:
        return f"**fails** ({r.failures} of {r.total}; {format_headroom(r.headroom)})"
    return f"not checked ({r.available} of {r.total})"


def _per_seed_lines(
    verdicts: Sequence[ClaimResult], seeds: Mapping[int, list[ClaimResult]]
) -> list[str]:
    """The report's "Per seed" section: the claims checked on the mean, again on every seed."""
    checked = [i for i, r in enumerate(verdicts) if r.status != NOT_CHECKED]
    lines = ["", "## Per seed", ""]
    if len(seeds) < 2:
        only = f"seed {next(iter(seeds))}" if seeds else "no seed"
        return [*lines, f"This run has one seed ({only}): the verdicts above are that seed's."]
    names = ", ".join(str(s) for s in seeds)
    lines += [
        f"The verdicts above use the mean over the {len(seeds)} seeds of these results ({names}); "
        "here each claim checked there is checked again on every seed's numbers alone, as a run "
        "of that one seed would be. One seed is noisier than a mean (the paper averages 10): a "
        "claim that holds on the mean but fails on some seeds depends on the seeds a run draws. "
        "In brackets: the headroom, as in the table above.",
        "",
    ]
    per = []
    for seed, rs in seeds.items():
        k = sum(rs[i].status == HOLDS for i in checked)
        per.append(f"seed {seed} {k} of {len(checked)} holding")
    every = sum(all(rs[i].status == HOLDS for rs in seeds.values()) for i in checked)
    lines += [
        f"**Per seed: {'; '.join(per)}; {every} of {len(checked)} claims hold on every seed.**",
        "",
        "| claim | mean | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|---|" + "---|" * len(seeds),
    ]
    for i in checked:
        cells = [_seed_cell(rs[i]) for rs in seeds.values()]
        lines.append(
            f"| `{verdicts[i].claim.id}` | {_seed_cell(verdicts[i])} | " + " | ".join(cells) + " |"
        )
    failing = [
        (seed, rs[i]) for i in checked for seed, rs in seeds.items() if rs[i].status == FAILS
    ]
    if failing:
        lines += ["", "Where a claim fails on one seed:", ""]
        lines += [f"- `{r.claim.id}`, seed {seed}: {_md(r.evidence)}" for seed, r in failing]
    return lines


CLAIM_COLUMNS = (
    "claim", "scope", "seed", "status", "available", "total", "failures", "headroom",
    "resampled_holds", "resampled_low", "resampled_high", "evidence",
)  # fmt: skip


def claims_frame(
    verdicts: Sequence[ClaimResult],
    seeds: Mapping[int, Sequence[ClaimResult]],
    resampling: Sequence[SeedResampling | None] | None = None,
) -> pd.DataFrame:
    """One row per claim and scope (``mean``: the run's mean over seeds; ``seed``: one seed).
    The mean's rows carry :func:`seed_resampling`'s numbers (``resampled_holds``: the probability
    that the claim holds on a resample; ``resampled_low``/``_high``: its headroom's interval),
    empty where there are none."""
    rows = []
    scopes: list[tuple[str, int | None, Sequence[ClaimResult]]] = [("mean", None, verdicts)]
    scopes += [("seed", s, rs) for s, rs in seeds.items()]
    for scope, seed, rs in scopes:
        for i, r in enumerate(rs):
            res = resampling[i] if resampling is not None and scope == "mean" else None
            rows.append(dict(claim=r.claim.id, scope=scope, seed=seed, status=r.status,
                             available=r.available, total=r.total, failures=r.failures,
                             headroom=r.headroom,
                             resampled_holds=None if res is None else res.holds,
                             resampled_low=None if res is None else res.low,
                             resampled_high=None if res is None else res.high,
                             evidence=r.evidence))  # fmt: skip
    frame = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


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
        panels: Mapping[str, Panel],
        reasons: Mapping[str, str] | None = None,
        gaps: Mapping[tuple[str, str, str], str] | None = None,
    ):
        self.results = set(results)
        self.panels = panels
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
        spec = self.panels[artifact]
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
    *,
    panels: Mapping[str, Panel],
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
    why = _WhyMissing(results, ours, panels, reasons, gaps)
    merged["reason"] = [
        "; ".join(why(r.artifact, r.row, r.column)) if r.status == "not run" else ""
        for r in merged.itertuples()
    ]
    merged["n"] = merged["n"].fillna(0).astype(int)
    return merged[
        [*key, "paper", "ours", "diff", "n", "within_paper_std", "status", "reason", "note"]
    ]


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
    panels: Mapping[str, Panel],
    reasons: Mapping[str, str] | None = None,
    paper_numbers: pd.DataFrame | None = None,
    claims: Sequence[Claim] | None = None,
    arch_labels: Mapping[str, str] | None = None,
    title: str = "Scorecard: this run vs. the paper",
    seed_resamples: int = SEED_RESAMPLES,
) -> tuple[pd.DataFrame, list[ClaimResult]]:
    """Write ``out_md``, ``<out_md stem>.csv`` (one line per paper number) and
    ``<out_md stem>_claims.csv`` (:func:`claims_frame`: every claim on the mean and on each seed).

    ``results``: tidy tables by key (``tvo``, ``ife``, ``ife_sens``, ``it``, ``tm``), each
    validated against :data:`invtransfer.aggregation.SCHEMAS`; absent keys are experiments not run.
    ``panels``: the paper panels to compare (:data:`invtransfer.artifacts.PANELS`).
    ``reasons``: why a panel (``"table3"``, ``"fig7a"``), a column (``"table2:cifar10"``), a row
    or column label (``"fig16:shear"``) or a cell was not run; otherwise the reason is derived
    from what is missing. ``arch_labels``: e.g.
    ``{"densenet": "densenet_cifar (the reference's 'DenseNet-121')"}``, printed in the header.
    ``seed_resamples``: how many resamples of the seeds :func:`seed_resampling` checks the claims
    on (0: none). Returns the comparison frame and the claim results.
    """
    results = {k: validate_frame(v, k) for k, v in results.items()}
    paper = load_paper_numbers(panels=panels) if paper_numbers is None else paper_numbers
    claims = load_claims(panels=panels) if claims is None else list(claims)
    ours, gaps = _measure(results, panels)
    comp = compare_numbers(paper, ours, results, reasons, gaps, panels=panels)
    why = _WhyMissing(results, ours, panels, reasons, gaps)
    verdicts = evaluate_claims(claims, ours, why_missing=why)
    seeds = per_seed_verdicts(results, claims, panels=panels)
    resampling = seed_resampling(
        results, claims, verdicts, panels=panels, n_resamples=seed_resamples
    )

    out_md = Path(out_md)
    lines = [f"# {title}", ""]
    n_cmp = int((comp["status"] == "compared").sum())
    lines.append(f"**{claims_header(verdicts)}.**")
    failing = [r for r in verdicts if r.status == FAILS]
    if failing:
        lines.append(
            "**Failing by: "
            + "; ".join(f"{r.claim.id} {format_headroom(r.headroom)}" for r in failing)
            + ".**"
        )
    resampled = _resampling_line(verdicts, resampling, len(seeds))
    if resampled:
        lines.append(f"**{resampled}.**")
    lines += [
        f"**Paper numbers: {n_cmp} of {len(comp)} compared.**",
        "",
        "A claim is checked only when every comparison it makes has data in this run; with any "
        'comparison missing it is *not checked* (never "holds" on partial data), and the '
        "section after the claims says what is missing and why. Headroom: how far the claim's "
        "closest comparison is from its threshold, in the threshold's units (sens or accuracy; "
        "a fraction for a fraction of differences): + holds with that much room, − the worst "
        "comparison misses by that much."
        + (
            " Seeds resampled: the claim checked again on the mean over resamples of this run's "
            f"{len(seeds)} seeds drawn with replacement (the paper's bootstrap over seeds): how "
            f"often it holds, and the {SEED_INTERVAL:g} % interval of its headroom. A claim that "
            "holds or fails in only part of them depends on the seeds a run draws; the status "
            "is the mean's either way. With few seeds the resamples are few and the interval is "
            "about as wide as the seeds are far apart."
            if resampled
            else ""
        ),
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
        "| claim | artifacts | statement | status | headroom | seeds resampled | evidence |",
        "|---|---|---|---|---:|---|---|",
    ]
    for r, res in zip(verdicts, resampling, strict=True):
        lines.append(
            f"| `{r.claim.id}` | {', '.join(r.claim.artifacts)} | {_md(r.claim.statement)} "
            f"<br><sub>{_md(r.claim.source)}</sub> | **{r.status}** | "
            f"{format_headroom(r.headroom)} | {_resampling_cell(res)} | {_md(r.evidence)} |"
        )
    if failing:
        lines += ["", "## Failing claims: where to look", ""]
        lines += [
            f"- `{r.claim.id}`: "
            + (
                _md(r.claim.diagnosis)
                if r.claim.diagnosis
                else "no diagnosis recorded; see its evidence above."
            )
            for r in failing
        ]
    lines += _per_seed_lines(verdicts, seeds)
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
        lines += [f"### {art} — {panels[art].title}", ""]
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
    buf = _io.StringIO()
    claims_frame(verdicts, seeds, resampling).to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(claims_csv_path(out_md), buf.getvalue())
    return comp, verdicts


def claims_csv_path(out_md: str | os.PathLike[str]) -> Path:
    """Where :func:`build_scorecard` writes the claims table: ``<stem>_claims.csv``."""
    out_md = Path(out_md)
    return out_md.with_name(f"{out_md.stem}_claims.csv")


def render_scorecard(
    frames: Mapping[str, pd.DataFrame],
    settings: Mapping[str, Any],
    out: str | os.PathLike[str],
    *,
    panels: Mapping[str, Panel],
    title: str | None = None,
    seed_resamples: int = SEED_RESAMPLES,
) -> tuple[pd.DataFrame, list[ClaimResult]]:
    """The registry's scorecard renderer: ``tables/scorecard.md`` from the tidy tables by kind
    and the entry's settings (``stand_in``, ``densenet``: a label or empty, ``reasons``);
    returns :func:`build_scorecard`'s comparison and claim results.

    When a run trains a different first architecture than ResNet-18 (e.g. the quick preset's
    small CNN), its results stand in for ResNet-18 in the comparison, and the header says so.
    """
    data = dict(frames)
    labels: dict[str, str] = {}
    for fam, first in settings.get("stand_in", {}).items():
        if fam in data and "resnet18" not in set(data[fam]["arch"].map(canonical_arch)):
            df = data[fam].copy()
            df.loc[df["arch"] == first, "arch"] = "resnet18"
            data[fam] = df
            labels[f"resnet18 ({fam})"] = f"{first}, standing in for ResNet-18"
    if settings.get("densenet"):
        labels["densenet"] = settings["densenet"]
    return build_scorecard(data, out, panels=panels, reasons=settings["reasons"],
                           arch_labels=labels, seed_resamples=seed_resamples,
                           **({"title": title} if title else {}))  # fmt: skip
