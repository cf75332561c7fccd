"""Time the quick preset from a fresh copy of the workflow (no results yet), target by target.

Goal (issue): ``figures/fig2.pdf`` within 10 minutes on a 2-core machine; ``tables/table2.md``,
``figures/fig4.pdf`` and ``figures/fig16.pdf`` within a few minutes more each. Run from the
repository root (the package must be installed):

    python bench/bench_quick.py [--targets figures/fig2.pdf tables/table2.md ...] [--keep DIR]

Targets are built one after the other in the same folder, so each time is the *extra* work that
target needs. Prints a Markdown table of wall times and job counts, plus the same-vs-disjoint gap
of Fig 2's data so the figure's claim can be checked at a glance.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import copy_workflow, cpu_name

DEFAULT_TARGETS = ["figures/fig2.pdf", "tables/table2.md", "figures/fig4.pdf", "figures/fig16.pdf"]


def machine_speed(steps: int = 300) -> float:
    """Training img/s of the preset's ``cnn4`` (width 16, batch 128, bf16 autocast, 1 thread) on
    random images (``bench_training.step_throughput``), run alone: this VM's speed varies by
    ~1.4x over a day, so runs measured at different times are compared through this number
    (printed before and after the targets). It trains the project's own ``cnn4``, so a change to
    that model moves it too: pooling before the ReLU (2026-12-02) made it read ~1.17x higher on
    the same machine (bench/RESULTS.md)."""
    import torch
    from bench_training import step_throughput

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rate, _ = step_throughput("cnn4", torch.device("cpu"), 128, 3, steps, bf16=True)
        return rate
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=DEFAULT_TARGETS)
    ap.add_argument("--profile", default="profiles/quick")
    ap.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it")
    args = ap.parse_args()
    tmp = None
    if args.keep:
        wf = args.keep
        wf.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        wf = Path(tmp.name)
    copy_workflow(wf)
    print(f"# quick preset from scratch ({args.profile}) in {wf}")
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, "
        f"load average before start {os.getloadavg()[0]:.2f}"
    )
    speed_before = machine_speed()
    print(f"machine speed before: {speed_before:,.0f} img/s (cnn4 training, 1 thread, bf16)")
    rows = []
    for target in args.targets:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "--profile", args.profile, target],
            cwd=wf,
            capture_output=True,
            text=True,
        )
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"{target} failed:\n{proc.stderr[-4000:]}")
        m = re.search(r"(\d+) of (\d+) steps \(100%\) done", proc.stderr)
        rows.append((target, dt, m.group(2) if m else "0"))
        print(f"{target}: {dt:.0f} s", flush=True)
    print("\n| target | wall time | jobs |\n|---|---|---|")
    total = 0.0
    for target, dt, jobs in rows:
        total += dt
        print(f"| {target} | {dt / 60:.1f} min ({dt:.0f} s) | {jobs} |")
    print(f"| total | {total / 60:.1f} min | |")
    speed_after = machine_speed()
    print(
        f"\nmachine speed: {speed_before:,.0f} img/s before, {speed_after:,.0f} after "
        "(cnn4 training, 1 thread, bf16; compare runs of different days through it)"
    )
    tvo = wf / "results/tables/tvo_t2d_lp.csv"
    if tvo.exists():
        df = pd.read_csv(tvo)
        means = df.groupby(["factor", "value", "relation"])["transfer_acc"].mean().unstack()
        means["gap"] = means["same"] - means["disjoint"]
        print("\nFig 2 data, transfer accuracy (mean over seeds):\n")
        print(means.round(3).to_string())
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
