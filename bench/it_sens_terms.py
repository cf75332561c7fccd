"""Split the invariance-transfer sens values of a finished run into the two expectations of Eq. 1.

sens = E‖g(x1) − g(x2)‖ / E‖g(x) − g(x')‖: a model can look less invariant on new data because a
transformation moves its representations more there (the numerator) or because the new data's
representations lie closer together (the denominator). For every invariance-transfer model of a
run and every evaluation it was measured on, this recomputes both terms with the run's own sens
settings (pairs, estimator rows, layer, bf16) from its kept checkpoints and evaluation sets,
checks that their ratio is the sens value the run recorded, and prints, per model kind (the
model trained on the target transformation, "Same", and the one trained on none), the mean of
each term and how each changes from the first evaluation to the second:

    python bench/it_sens_terms.py RUN_DIR --profile profiles/quick --configfile overlay.yaml \\
        --evals in_dist mild_ood --csv terms.csv

RUN_DIR is a workflow copy whose ``results/`` holds the run (``bench_quick.py --keep``); the
config options are those the run used, so the plan names the same models and evaluation sets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from invtransfer.checkpoint import load_model
from invtransfer.config import load_config, profile_settings, resolve_arch
from invtransfer.datasets import store
from invtransfer.device import resolve_bf16
from invtransfer.errors import CheckpointError
from invtransfer.experiments import build_plan
from invtransfer.features import compute_features
from invtransfer.sensitivity import sens_terms

TOLERANCE = 1e-9  # |recomputed − recorded| sens: the same features, rows and pairs


def run_config(run_dir: Path, profile: str | None, configfiles: Sequence[str]):
    """The run's configuration, composed as ``snakemake`` composed it in ``run_dir``."""
    settings = profile_settings(str(run_dir / profile)) if profile else None
    files = [*(settings["configfiles"] if settings else []), *configfiles]
    overrides = {k: v for k, v in (settings["config"] if settings else {}).items() if k != "preset"}
    return load_config(
        run_dir / "config.yaml",
        *files,
        preset=settings["preset"] if settings else None,
        overrides=overrides,
        workdir=run_dir,
    )


def terms_table(run_dir: Path, config, evals: Sequence[str], arch: str | None) -> pd.DataFrame:
    """One row per (model, evaluation, target transformation) of the run's invariance-transfer
    sens jobs whose model is the target's (Same) or none's: both terms and the recorded sens."""
    plan = build_plan(config)
    records = {
        r["model"]: r
        for table, rows in plan.records.items()
        if table.startswith("it_")
        for r in rows
        if arch is None or r["arch"] == resolve_arch(arch, config)
    }
    if not records:
        which = f" of architecture {arch}" if arch else ""
        raise SystemExit(
            f"the run's config plans no invariance-transfer models{which} (experiments.it)"
        )
    cpu = torch.device("cpu")
    bf16 = resolve_bf16(config["training"]["bf16"], cpu)
    rows = []
    for group, job in sorted(plan.sens.items()):
        if job.estimator != "global":
            raise SystemExit(f"sens group {group}: estimator {job.estimator!r} has no two terms")
        for model, pairs in sorted(job.models.items()):
            rec = records.get(model)
            if rec is None:
                continue
            wanted = [
                p
                for p in pairs
                if p.eval in evals and rec["train_transform"] in (p.target_transform, "none")
            ]
            if not wanted:
                continue
            recorded = pd.read_csv(run_dir / "results" / "sens" / group / f"{model}.csv")
            net = load_model(run_dir / "results" / "models" / model / "model.pt", cpu)
            for p in wanted:
                folder = run_dir / "results" / "evalsets" / p.evalset
                f1, f2 = (
                    compute_features(
                        net,
                        store.load_split(folder / member, "test").images,
                        device=cpu,
                        layer=job.layer,
                        bf16=bf16,
                    )
                    for member in (p.a, p.b)
                )
                num, den = sens_terms(f1, f2, n_pairs=job.n_pairs, seed=0)
                sel = recorded[
                    (recorded["eval"] == p.eval)
                    & (recorded["target_transform"] == p.target_transform)
                ]
                if len(sel) != 1:
                    raise SystemExit(
                        f"{group}/{model}.csv: no single row for {p.eval}/{p.target_transform}"
                    )
                rows.append(
                    {
                        "seed": rec["seed"],
                        "model_type": rec["model_type"],
                        "kind": "none" if rec["train_transform"] == "none" else "same",
                        "target_transform": p.target_transform,
                        "eval": p.eval,
                        "numerator": num,
                        "denominator": den,
                        "sens": num / den,
                        "recorded_sens": float(sel["sens"].iloc[0]),
                    }
                )
            print(f"{model}: {len(wanted)} values", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, evals: Sequence[str]) -> str:
    """Markdown: per model type and kind, each term's mean per evaluation and the ratio of the
    second evaluation's to the first's (mean over target transformations of the seed means)."""
    first, second = evals[0], evals[-1]
    per_t = (
        table.groupby(["model_type", "kind", "target_transform", "eval"])[
            ["numerator", "denominator", "sens"]
        ]
        .mean()
        .unstack("eval")
    )
    lines = [
        f"| models | kind | numerator {first} → {second} | × | denominator {first} → {second} "
        f"| × | sens {first} → {second} |",
        "|---|---|---|---:|---|---:|---|",
    ]
    for (mtype, kind), g in per_t.groupby(level=["model_type", "kind"]):
        cells = []
        for term in ("numerator", "denominator"):
            a, b = g[(term, first)], g[(term, second)]
            cells += [f"{a.mean():.2f} → {b.mean():.2f}", f"{(b / a).mean():.2f}"]
        sa, sb = g[("sens", first)].mean(), g[("sens", second)].mean()
        lines.append(f"| {mtype} | {kind} | {' | '.join(cells)} | {sa:.3f} → {sb:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="the workflow copy that holds results/")
    ap.add_argument("--profile", help="the run's profile, relative to RUN_DIR (profiles/quick)")
    ap.add_argument("--configfile", action="append", default=[], help="the run's overlays")
    ap.add_argument("--evals", nargs=2, default=["in_dist", "mild_ood"], metavar="EVAL")
    ap.add_argument("--arch", help="only this architecture (default: every one the run has)")
    ap.add_argument("--csv", type=Path, help="write every value here")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    config = run_config(args.run_dir, args.profile, args.configfile)
    try:
        table = terms_table(args.run_dir, config, args.evals, args.arch)
    except (FileNotFoundError, CheckpointError) as exc:
        raise SystemExit(
            f"{exc}\nthe plan of these options names a file the run does not have: give the "
            "run's own --profile and --configfile, or build its table2 first"
        ) from exc
    if table.empty:
        raise SystemExit(f"no sens values of Same or none models on {args.evals} in the run")
    worst = float(np.max(np.abs(table["sens"] - table["recorded_sens"])))
    if worst > TOLERANCE:
        raise SystemExit(
            f"the recomputed sens differs from the run's by up to {worst:.3g}: the options given "
            "are not the run's, or its files changed since"
        )
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(f"{len(table)} values; each ratio equals the run's recorded sens (within {worst:.1e})")
    print(summary(table, args.evals), end="")
    return table


if __name__ == "__main__":
    main()
