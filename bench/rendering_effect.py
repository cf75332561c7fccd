"""Does Fig 2c's conclusion depend on fixed vs per-epoch rendering? (issue 13)

Repeats the PT-samples panel of Fig 2c (Transforms-2D, linear probe) at the quick preset's scale
(``config.yaml`` with the ``quick`` preset: 3 seeds, cnn4 width 16, pretraining on 5k / 10k /
15k images, at least 590 steps) twice: pretraining on the fixed n-sample datasets (the paper's
D(O, T), the workflow default) and with per-epoch rendering (fresh transformation draws every
epoch). Everything else — datasets, seeds, models, probes, bf16 autocast — is the workflow's
plan and runtime for that panel, so the fixed runs are the workflow's own models (the same
training history, bit for bit); the target datasets and probes always use materialized data.

    nice -n 10 python bench/rendering_effect.py [--out results/rendering_effect] [--jobs 1]

Writes ``<out>/rendering_effect.csv`` (tidy: one row per seed × pt_samples × relation ×
rendering, with the pretraining test accuracy and the transfer accuracy) and
``<out>/rendering_effect.{png,pdf}`` (transfer accuracy vs pretraining samples, same vs
disjoint transformations, one panel per rendering). Intermediate datasets, models and probes
live in ``<out>/work`` and are reused by a rerun. About 16 min on the 2-core CPU with ``--jobs 2``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RENDERINGS = ("fixed", "per-epoch")


def panel_jobs(config_paths: list[Path], preset: str | None) -> tuple[list[dict[str, Any]], Any]:
    """The pt_samples runs of the t2d linear-probe TvO table of the plan: one dict per
    (seed, value, relation) with the model job, its dataset and the probe's target dataset."""
    from invtransfer.config import load_config
    from invtransfer.experiments import build_plan

    config = load_config(*config_paths, preset=preset)
    plan = build_plan(config)
    jobs = []
    for rec in plan.records.get("tvo_t2d_lp", []):
        if rec["factor"] != "pt_samples":
            continue
        model = rec["model"]
        target = Path(rec["transfer_path"]).parent.name
        jobs.append(
            {
                "seed": rec["seed"],
                "pt_samples": int(rec["value"]),
                "relation": rec["relation"],
                "model": model,
                "job": plan.models[model].to_params(),
                "probe": plan.probes[model].settings(),
                "target": target,
            }
        )
    if not jobs:
        sys.exit("the config's plan has no t2d pt_samples runs (experiments.tvo.pt_samples.t2d)")
    # the workflow's runtime settings for these jobs (steps._runtime): bf16 autocast and compile
    # as the config says, so the fixed runs are the workflow's own models, bit for bit
    runtime = {k: config["training"][k] for k in ("bf16", "compile")}
    for item in jobs:
        item["runtime"] = runtime
    return jobs, plan


def _dataset(plan_datasets: dict[str, dict], name: str, work: Path) -> Path:
    from invtransfer.datasets import materialize

    out = work / "datasets" / name
    if not (out / "manifest.json").is_file():
        materialize(plan_datasets[name], out, progress=False)
    return out


def run_one(item: dict[str, Any], rendering: str, work: str, datasets: dict[str, dict]) -> dict:
    """Pretrain, extract features and probe one (run, rendering); reuses finished steps."""
    import torch

    from invtransfer.features import extract_features
    from invtransfer.pretraining import pretrain
    from invtransfer.probing import linear_probe

    torch.set_num_threads(1)
    work_dir = Path(work)
    job = dict(item["job"])
    job.pop("rendering", None)  # this script chooses
    data_dir = _dataset(datasets, job.pop("dataset"), work_dir)
    target_dir = _dataset(datasets, item["target"], work_dir)
    model_dir = work_dir / "models" / rendering / item["model"]
    runtime = item["runtime"]
    if not (model_dir / "metrics.json").is_file():
        pretrain(data_dir, model_dir, rendering=rendering, device="cpu", **runtime, **job)
    features = work_dir / "features" / rendering / item["model"]
    if not (features / "manifest.json").is_file():
        extract_features(
            model_dir / "model.pt", target_dir, features, device="cpu", bf16=runtime["bf16"]
        )
    probe_dir = work_dir / "probes" / rendering / item["model"]
    if not (probe_dir / "metrics.json").is_file():
        linear_probe(features, probe_dir, device="cpu", **item["probe"])
    trained = json.loads((model_dir / "metrics.json").read_text())
    probe = json.loads((probe_dir / "metrics.json").read_text())
    return {
        "seed": item["seed"],
        "pt_samples": item["pt_samples"],
        "relation": item["relation"],
        "rendering": rendering,
        "training_acc": trained["test_accuracy"],
        "transfer_acc": probe["test_accuracy"],
        "pretrain_s": trained["wall_time_s"],
    }


def draw(frame: Any, stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    colours = {"same": "tab:blue", "disjoint": "tab:orange"}
    for ax, rendering in zip(axes, RENDERINGS, strict=True):
        sub = frame[frame["rendering"] == rendering]
        for relation, colour in colours.items():
            rows = sub[sub["relation"] == relation]
            stats = rows.groupby("pt_samples")["transfer_acc"].agg(["mean", "std"]).reset_index()
            ax.errorbar(
                stats["pt_samples"], stats["mean"], yerr=stats["std"].fillna(0.0), marker="o",
                capsize=3, color=colour, label=f"{relation} transformations",
            )  # fmt: skip
        ax.set_title(f"{rendering} rendering")
        ax.set_xlabel("pretraining samples")
        ax.set_xticks(sorted(frame["pt_samples"].unique()))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("transfer accuracy (linear probe)")
    axes[0].legend(loc="lower right", fontsize=8)
    seeds = frame["seed"].nunique()
    fig.suptitle(f"Fig 2c (PT samples) at quick scale, mean ± std over {seeds} seeds", fontsize=10)
    fig.tight_layout()
    for suffix in ("png", "pdf"):
        fig.savefig(stem.with_suffix(f".{suffix}"), dpi=150, metadata={"CreationDate": None}
                    if suffix == "pdf" else None)  # fmt: skip
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "rendering_effect"))
    ap.add_argument("--config", nargs="+", default=[str(ROOT / "config.yaml")])
    ap.add_argument("--preset", default="quick", help="profiles/<preset>/overrides.yaml on top")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (one thread each)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import pandas as pd

    from invtransfer.io import atomic_write_text

    out = Path(args.out)
    (out / "work").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    jobs, plan = panel_jobs([Path(p) for p in args.config], args.preset or None)
    print(f"{len(jobs)} runs × {len(RENDERINGS)} renderings; work in {out / 'work'}", flush=True)
    tasks = [(item, rendering) for item in jobs for rendering in RENDERINGS]
    rows = []
    if args.jobs > 1:
        # datasets first, in this process, so parallel runs never build the same one
        for item in jobs:
            _dataset(plan.datasets, item["job"]["dataset"], out / "work")
            _dataset(plan.datasets, item["target"], out / "work")
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [
                pool.submit(run_one, item, r, str(out / "work"), plan.datasets) for item, r in tasks
            ]
            rows = [f.result() for f in futures]
    else:
        for i, (item, rendering) in enumerate(tasks, start=1):
            rows.append(run_one(item, rendering, str(out / "work"), plan.datasets))
            print(f"  {i}/{len(tasks)} {rendering} seed {item['seed']} n {item['pt_samples']} "
                  f"{item['relation']}: transfer {rows[-1]['transfer_acc']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    frame = pd.DataFrame(rows).sort_values(["rendering", "pt_samples", "relation", "seed"])
    atomic_write_text(out / "rendering_effect.csv", frame.to_csv(index=False, float_format="%.6g"))
    draw(frame, out / "rendering_effect")
    summary = (
        frame.groupby(["rendering", "pt_samples", "relation"])["transfer_acc"]
        .agg(["mean", "std", "count"])
        .unstack("relation")
    )
    print(summary.round(3).to_string())
    print(f"wrote {out / 'rendering_effect.csv'} and .png/.pdf in {time.perf_counter() - t0:.0f} s;"
          f" load average {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
