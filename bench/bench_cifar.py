"""Benchmark: materialize 50k-image augmented CIFAR-10 datasets and compare with Transforms-2D.

A fake CIFAR-10 release of the real size (50,000 training images, 5,000 per class; written once
by ``write_fake_cifar`` of ``tests/support/fake_cifar.py``, so no download is needed) is the source.
Each configuration builds train (45k) + val (5k) = 50,000 images with
:func:`invtransfer.datasets.materialize` in a fresh child process with
``torch.set_num_threads(THREADS)``, and reports the wall time of ``materialize`` (pickle loading,
selection, transformation, compositing, NPY/Parquet writing, preview; imports excluded), images/s
and peak RSS. ``t2d-typical`` builds a 50k Transforms-2D dataset with the same transformations in
the same session, so the two rates are comparable on a shared machine.

Usage::

    python bench/bench_cifar.py                              # typical, heavy, none, objects, t2d-typical
    python bench/bench_cifar.py --configs typical --repeats 3
    python bench/bench_cifar.py --scale 0.1                  # quick look (5k images)
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from _common import fmt, machine, run_children
from support.fake_cifar import OBJECTS, write_fake_cifar  # tests/support, via _common

CONFIGS = {
    # one transformation per category, as in the TvO experiments (same as bench_datasets typical)
    "typical": {"kind": "cifar", "transforms": ["rotate", "hue", "blur"]},
    # the heaviest pair: elastic (displacement field) and noise
    "heavy": {"kind": "cifar", "transforms": ["elastic", "noise"]},
    # IT's CIFAR translate (both directions, up to 30 % of the image)
    "translate": {"kind": "cifar", "transforms": ["translate"]},
    # no transformation: loading, selection and storage only (images are copied exactly)
    "none": {"kind": "cifar", "transforms": []},
    # CIFAR + pasted objects (Table 1's translate variant: random positions)
    "objects": {"kind": "cifar_objects", "transforms": []},
    # the Transforms-2D reference with the typical transformations, 50k training images
    "t2d-typical": {"kind": "t2d", "transforms": ["rotate", "hue", "blur"]},
}
DEFAULT = "typical,heavy,translate,none,objects,t2d-typical"


def child(config: dict) -> None:
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(config["threads"])
    from invtransfer.datasets import materialize

    t_import = time.perf_counter() - t_start
    kind = config["kind"]
    if kind == "t2d":
        spec = {
            "kind": "t2d",
            "transforms": config["transforms"],
            "objects": {"source": "bundle", "count": 30},
            "splits": {"train": config["images"]},
            "seed": 0,
        }
    else:
        spec = {"kind": kind, "seed": 0, "_root": config["root"]}
        # all of train (45k) and val (5k): 50k images; --scale takes a seeded subset of each
        scale = config["scale"]
        spec["splits"] = (
            {"train": None, "val": None}
            if scale == 1.0
            else {"train": round(45_000 * scale), "val": round(5_000 * scale)}
        )
        if kind == "cifar":
            spec.update({"dataset": "cifar10", "transforms": config["transforms"]})
        else:
            spec.update(
                {
                    "variant": "C+O/C",
                    "placement": "random",
                    "objects": {"source": "bundle", "names": OBJECTS},
                }
            )
    with tempfile.TemporaryDirectory(dir=config.get("tmp")) as tmp:
        t0 = time.perf_counter()
        manifest = materialize(
            spec, Path(tmp) / "ds", chunk_size=config["chunk_size"], progress=False
        )
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    n = sum(manifest["counts"].values())
    print(
        json.dumps(
            {
                "images": n,
                "wall_s": wall,
                "images_per_s": n / wall,
                "peak_rss_mib": peak / 2**20,
                "import_s": t_import,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=DEFAULT, help=f"comma list of {list(CONFIGS)}")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 50k images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--tmp", default=None, help="folder for the fake release and the datasets")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    print(f"# machine: {machine()}")
    print(
        f"# threads={args.threads} chunk_size={args.chunk_size} repeats={args.repeats} scale={args.scale}"
    )
    if args.tmp:
        Path(args.tmp).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as root:
        t0 = time.perf_counter()
        write_fake_cifar(root, "cifar10", 5000, 1000, seed=0)
        print(
            f"# fake CIFAR-10 release (50k train, 10k test) written in {time.perf_counter() - t0:.1f} s"
        )
        header = f"{'config':<12} {'kind':<14} {'transforms':<18} {'images':>7} {'wall s':>11} {'img/s':>11} {'peak RSS MiB':>13}"
        print(header)
        print("-" * len(header))
        for name in args.configs.split(","):
            config = {
                **CONFIGS[name],
                "images": max(1, round(50_000 * args.scale)),
                "scale": args.scale,
                "root": root,
                "threads": args.threads,
                "chunk_size": args.chunk_size,
                "tmp": args.tmp,
            }
            runs = run_children(__file__, config, args.repeats, name)
            walls = [r["wall_s"] for r in runs]
            rates = [r["images_per_s"] for r in runs]
            print(
                f"{name:<12} {config['kind']:<14} {'+'.join(config['transforms']) or '-':<18} "
                f"{runs[0]['images']:>7} {fmt(walls, 1):>11} {fmt(rates, 0):>11} "
                f"{max(r['peak_rss_mib'] for r in runs):>13.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
