"""Benchmark: materialize Transforms-2D datasets end to end and report speed and peak memory.

Each configuration runs in a fresh child process (so its peak RSS is its own) with
``torch.set_num_threads(THREADS)``; the child builds the dataset with
:func:`invtransfer.datasets.materialize` into a temporary folder and reports wall time (from the
start of ``materialize``, asset loading included; interpreter and import time excluded and given
separately), images/s and peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``).

Usage::

    python bench/bench_datasets.py                  # typical + heavy, 50k/10k/10k, 2 threads
    python bench/bench_datasets.py --configs large  # 500k/10k/10k: peak RSS must stay < 2 GiB
    python bench/bench_datasets.py --scale 0.1      # quick look at 5k/1k/1k

Goal (issue §4): 50k/10k/10k in <= 30 s on 2 cores; peak RSS < 2 GiB whatever the size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from _common import fmt, machine, run_children

CONFIGS = {
    # a typical 3-transform set (one per category), the paper's 30 object classes
    "typical": {"transforms": ["rotate", "hue", "blur"], "train": 50_000},
    # the heaviest set: elastic (full-resolution displacement field) and noise
    "heavy": {"transforms": ["elastic", "noise"], "train": 50_000},
    # no transformation: the cost of sampling, compositing and storage alone
    "none": {"transforms": [], "train": 50_000},
    # streaming check at the largest pretraining size of the paper (TvO samples factor: 500k);
    # no transformation, so it finishes in minutes: the transforms only change per-chunk memory
    "large": {"transforms": [], "train": 500_000},
}


def child(config: dict) -> None:
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(config["threads"])
    from invtransfer.datasets import materialize

    t_import = time.perf_counter() - t_start
    spec = {
        "kind": config.get("kind", "t2d"),
        "transforms": config["transforms"],
        "splits": {
            "train": config["train"],
            "val": config["val"],
            "test": config["test"],
        },
        "seed": 0,
    }
    if spec["kind"] == "t2d":
        spec["objects"] = {"source": "bundle", "count": 30}
    with tempfile.TemporaryDirectory(dir=config.get("tmp")) as tmp:
        t0 = time.perf_counter()
        manifest = materialize(
            spec, Path(tmp) / "ds", chunk_size=config["chunk_size"], progress=False
        )
        wall = time.perf_counter() - t0
        build = json.loads((Path(tmp) / "ds" / "build.json").read_text())  # workers, timings
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # forked generation workers, reaped
    peak = usage.ru_maxrss * 1024  # Linux: KiB
    n = sum(manifest["counts"].values())
    print(
        json.dumps(
            {
                "images": n,
                "wall_s": wall,
                "images_per_s": n / wall,
                "peak_rss_mib": peak / 2**20,
                "import_s": t_import,
                # CPU seconds of the whole child (imports included, ~3 s): on a shared machine
                # this is far less inflated than wall time
                "cpu_s": usage.ru_utime + usage.ru_stime + workers.ru_utime + workers.ru_stime,
                "worker_peak_rss_mib": workers.ru_maxrss / 1024,
                "workers": build["workers"],
                "load_avg_end": os.getloadavg()[0],
                "name": manifest["name"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="typical,heavy", help=f"comma list of {list(CONFIGS)}")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply all split sizes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--tmp", default=None, help="folder for the temporary datasets")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    print(f"# machine: {machine()}")
    print(f"# threads={args.threads} chunk_size={args.chunk_size} repeats={args.repeats}")
    print(
        "# wall s: materialize() call; CPU s: user+sys of the benchmark child and its workers (imports included); "
        "CPU s/thr: CPU s divided by the thread budget, the wall time that many uncontended cores would need if all were kept busy; "
        "peak RSS: main process (+ per forked worker, shared copy-on-write pages counted in both); "
        "load: 1-min load average when the run ended"
    )
    header = (
        f"{'config':<8} {'transforms':<16} {'images':>7} {'wall s':>12} {'img/s':>10} "
        f"{'CPU s':>9} {'CPU s/thr':>9} {'workers':>7} {'peak RSS MiB':>16} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for name in args.configs.split(","):
        base = CONFIGS[name]
        config = {
            **base,
            "train": max(1, round(base["train"] * args.scale)),
            "val": max(1, round(10_000 * args.scale)),
            "test": max(1, round(10_000 * args.scale)),
            "threads": args.threads,
            "chunk_size": args.chunk_size,
            "tmp": args.tmp,
        }
        runs = run_children(__file__, config, args.repeats, name)
        walls = [r["wall_s"] for r in runs]
        rates = [r["images_per_s"] for r in runs]

        cpus = [r["cpu_s"] for r in runs]
        rss = f"{max(r['peak_rss_mib'] for r in runs):.0f}"
        if runs[0]["workers"] > 1:
            rss += f" + {max(r['worker_peak_rss_mib'] for r in runs):.0f}/w"
        print(
            f"{name:<8} {'+'.join(config['transforms']) or 'none':<16} {runs[0]['images']:>7} "
            f"{fmt(walls, 1):>12} {fmt(rates, 0):>10} {fmt(cpus, 1):>9} "
            f"{sum(cpus) / len(cpus) / args.threads:>9.1f} "
            f"{runs[0]['workers']:>7} {rss:>16} {runs[-1]['load_avg_end']:>5.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
