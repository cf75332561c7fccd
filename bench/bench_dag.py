"""Time `snakemake -n` (DAG construction) for every figure and table at the paper's scale.

Goal (issue): <= 30 s on the 2-core machine. Run from the repository root:

    python bench/bench_dag.py [--repeats 3]

It dry-runs in a private copy of the workflow files so nothing is written into the repository,
and prints the job counts per rule plus wall time (mean ± std over the repeats).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import copy_workflow, cpu_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", default=None, help="e.g. profiles/quick (default: paper config)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wf = Path(tmp)
        copy_workflow(wf)
        cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "8"]
        if args.profile:
            cmd += ["--profile", args.profile]
        times, out = [], ""
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=wf, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                sys.exit(f"snakemake -n failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            out = proc.stdout
    counts = {}
    for line in out.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m:
            counts[m.group(1)] = int(m.group(2))
    print(f"# snakemake -n, {'paper config' if not args.profile else args.profile}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print("| rule | jobs |\n|---|---|")
    for rule, n in counts.items():
        print(f"| {rule} | {n} |")
    sd = statistics.stdev(times) if len(times) > 1 else 0.0
    print(
        f"\nDAG + dry run wall time: {statistics.mean(times):.1f} ± {sd:.1f} s over {len(times)} runs"
    )


if __name__ == "__main__":
    main()
