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


def frozen_speed(steps: int = 300, warmup: int = 3) -> float:
    """Training img/s of a fixed network built here from ``torch.nn`` alone: the ``cnn4`` of
    2026-12-01 (four conv→BN→ReLU→max-pool blocks of 16/32/64/128 channels, global average pool,
    a 30-way linear head), batch 128 of uint8 images normalised to [0, 1], bf16 autocast,
    channels-last, Adam, 1 thread. No project code runs in it, so it reads the same on the same
    machine whatever the project's models become: the day-to-day comparison number (the
    project-``cnn4`` probe above moves with the model, e.g. x1.17 on 2026-12-02)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            layers: list[nn.Module] = []
            for c_in, c_out in ((3, 16), (16, 32), (32, 64), (64, 128)):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
                layers += [nn.ReLU(), nn.MaxPool2d(2)]
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 30)]
            model = nn.Sequential(*layers).to(memory_format=torch.channels_last).train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            images = torch.randint(0, 256, (128, 32, 32, 3), dtype=torch.uint8)
            labels = torch.randint(0, 30, (128,))
            start = 0.0
            for i in range(warmup + steps):
                if i == warmup:
                    start = time.perf_counter()
                x = images.permute(0, 3, 1, 2).float().div_(255.0)
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits = model(x)
                loss = F.cross_entropy(logits.float(), labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return 128 * steps / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


def _speeds() -> tuple[float, float]:
    return machine_speed(), frozen_speed()


def snakemake_command(target: str, profile: str, overlays: list[Path]) -> list[str]:
    """The Snakemake call for one target. Every overlay goes after one ``--configfile`` (later
    files win per key): Snakemake keeps only the last of repeated ``--configfile`` flags, so
    ``--configfile a.yaml --configfile b.yaml`` would silently drop ``a.yaml``."""
    cmd = [sys.executable, "-m", "snakemake", target, "--profile", profile]
    return cmd + (["--configfile", *map(str, overlays)] if overlays else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=DEFAULT_TARGETS)
    ap.add_argument("--profile", default="profiles/quick")
    ap.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it")
    ap.add_argument(
        "--configfile",
        type=Path,
        action="append",
        default=[],
        help="an overlay for every target (repeatable; later files win per key), e.g. "
        "seed_offset: 15 to time the preset on seeds it does not run",
    )
    args = ap.parse_args()
    overlays = [p.resolve() for p in args.configfile]
    missing = [str(p) for p in overlays if not p.is_file()]
    if missing:
        sys.exit(f"--configfile: no such file: {', '.join(missing)}")
    tmp = None
    if args.keep:
        wf = args.keep
        wf.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        wf = Path(tmp.name)
    copy_workflow(wf)
    print(f"# quick preset from scratch ({args.profile}) in {wf}")
    for overlay in overlays:
        print(f"overlay {overlay}:\n{overlay.read_text().rstrip()}")
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, "
        f"load average before start {os.getloadavg()[0]:.2f}"
    )
    speed_before, frozen_before = _speeds()
    print(
        f"machine speed before: {speed_before:,.0f} img/s (project cnn4 training, 1 thread, "
        f"bf16), frozen network {frozen_before:,.0f} img/s"
    )
    rows = []
    for target in args.targets:
        t0 = time.perf_counter()
        proc = subprocess.run(
            snakemake_command(target, args.profile, overlays),
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
    speed_after, frozen_after = _speeds()
    print(
        f"\nmachine speed: {speed_before:,.0f} img/s before, {speed_after:,.0f} after "
        "(project cnn4 training, 1 thread, bf16); frozen network "
        f"{frozen_before:,.0f} before, {frozen_after:,.0f} after (no project code: compare "
        "runs of different days through it)"
    )
    tvo = wf / "results/tables/tvo_t2d_lp.csv"
    if tvo.exists():
        df = pd.read_csv(tvo)
        means = df.groupby(["factor", "value", "relation"])["transfer_acc"].mean().unstack()
        means["gap"] = means["same"] - means["disjoint"]
        print("\nFig 2 data, transfer accuracy (mean over seeds):\n")
        print(means.round(3).to_string())
    scorecard = wf / "tables/scorecard.md"
    if scorecard.exists():
        lines = scorecard.read_text().splitlines()
        head = next((ln for ln in lines if "**Claims:" in ln), "")
        print(f"\nscorecard: {head.strip('*')}")
        for prefix in ("**Failing by:", "**Resampling the", "**Per seed:"):
            line = next((ln for ln in lines if ln.startswith(prefix)), "")
            if line:
                print(f"scorecard: {line.strip('*')}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
