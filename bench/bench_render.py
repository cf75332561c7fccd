"""Per-epoch rendering (issue 13): rendering throughput, and pretraining time fixed vs per-epoch.

    python bench/bench_render.py throughput [--device cpu|cuda] [--images 50000] [--batch 512 4096]
    python bench/bench_render.py training [--device cpu] [--images 3000] [--epochs 10] [--repeats 3]

``throughput``: img/s of :class:`~invtransfer.datasets.render.EpochRenderer` batches (random rows
of a Transforms-2D training split, a fresh epoch per pass, layers + backgrounds gathered on the
device, transformed, composited and quantised to uint8) over "the Transforms-2D mix": the
transformation sets the TvO experiment draws (one geometric + one photometric + one corruption
type, "same" and "disjoint" sets of seeds 0..4: 10 sets of 3). Goal on a GPU: >= 1M img/s. On
CUDA the time is wall clock around synchronised passes; on the CPU one torch thread by default.

``training``: the quick-preset-sized pretraining (cnn4 width 16, a Transforms-2D dataset of
``--images`` 32-px images with a TvO transformation set, batch 128, ``--epochs`` epochs, one torch
thread on the CPU) run through :func:`invtransfer.pretraining.pretrain` with ``rendering="fixed"``
and ``"per-epoch"`` side by side in one process, alternating which goes first, ``--repeats``
times; each time covers the whole call (loading the dataset folder, building and checking the
renderer, training, evaluation, writing the run folder). Goal on the 2-core CPU: per-epoch <=
1.3x fixed; on a GPU with ``--arch resnet18``: within 10 %.

The machine line, load average and code version are printed with the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import machine

from invtransfer.datasets import materialize
from invtransfer.datasets.epochs import build_renderer
from invtransfer.experiments import draw_tvo_transforms
from invtransfer.pretraining import pretrain

ROOT = Path(__file__).resolve().parents[1]


def code_version() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def tvo_mix(seeds: int = 5) -> list[list[str]]:
    """The transformation sets of the TvO experiment (same and disjoint) for seeds 0..seeds-1."""
    sets = []
    for seed in range(seeds):
        same, disjoint = draw_tvo_transforms(seed, "t2d")
        sets += [same, disjoint]
    return sets


def t2d_spec(transforms: list[str], n_train: int, *, n_val: int = 500, seed: int = 0) -> dict:
    return {
        "kind": "t2d",
        "objects": {"source": "bundle", "count": 10},
        "backgrounds": {"source": "bundle"},
        "transforms": list(transforms),
        "splits": {"train": n_train, "val": n_val, "test": n_val},
        "seed": seed,
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def render_throughput(
    device: str = "cuda",
    images: int = 50_000,
    batch: int = 512,
    passes: int = 3,
    sets: list[list[str]] | None = None,
) -> dict[str, float]:
    """Rendering throughput (img/s) of the Transforms-2D mix on ``device``: for each set (default
    :func:`tvo_mix`), a renderer of an ``images``-image training split, then ``passes`` epochs of
    random batches of ``batch`` rows (the first epoch is a warm-up). Returns per-set rates and
    the overall rate ``"mix"`` (all images over all time). Callable from other scripts
    (bench/gpu_check.sh)."""
    dev = torch.device(device)
    rates: dict[str, float] = {}
    total_images, total_time = 0, 0.0
    for names in tvo_mix() if sets is None else sets:
        renderer = build_renderer(t2d_spec(names, images), "train", dev)
        order = np.random.default_rng(0).permutation(images)
        renderer.render(order[:batch], 0)  # warm-up: kernels, allocator
        n, elapsed = 0, 0.0
        for epoch in range(1, passes + 1):
            _sync(dev)
            t0 = time.perf_counter()
            for start in range(0, images, batch):
                renderer.render(order[start : start + batch], epoch)
            _sync(dev)
            if epoch > 1 or passes == 1:
                elapsed += time.perf_counter() - t0
                n += images
        rates["+".join(names)] = n / elapsed
        total_images += n
        total_time += elapsed
    rates["mix"] = total_images / total_time
    return rates


def cmd_throughput(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    batches = ", ".join(str(b) for b in args.batch)
    print(f"# Per-epoch rendering throughput ({args.device}, batch {batches})")
    print(f"machine: {machine()}; torch threads {args.threads}; code {code_version()}")
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(torch.device(args.device))}")
    rates = {b: render_throughput(args.device, args.images, b, args.passes) for b in args.batch}
    print(f"\n{args.images} images per epoch, {args.passes - 1} timed epochs after a warm-up\n")
    print("| transformations | " + " | ".join(f"img/s (batch {b})" for b in args.batch) + " |")
    print("|---|" + "---:|" * len(args.batch))
    for name in rates[args.batch[0]]:
        label = "**the mix (all sets)**" if name == "mix" else name
        print(f"| {label} | " + " | ".join(f"{rates[b][name]:,.0f}" for b in args.batch) + " |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; goal on a GPU: mix >= 1,000,000")


def training_times(
    device: str = "cpu",
    arch: str = "cnn4",
    width: int = 16,
    images: int = 3000,
    epochs: int = 10,
    batch: int = 128,
    repeats: int = 3,
    transforms: list[str] | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Pretraining time with ``rendering="fixed"`` and ``"per-epoch"``, side by side: a
    Transforms-2D dataset of ``images`` training images is materialized once, one untimed 1-epoch
    run warms up (imports, allocator, kernels), then each repeat runs both settings (whole
    :func:`~invtransfer.pretraining.pretrain` calls), alternating which goes first. Returns the
    wall and CPU seconds and test accuracies per setting, the per-repeat ratios per-epoch /
    fixed and the load averages. ``progress(line)`` gets a line per run. Callable from other
    scripts (bench/gpu_check.sh)."""
    names = list(transforms) if transforms else draw_tvo_transforms(0, "t2d")[0]
    dev = torch.device(device)
    kwargs = dict(
        arch=arch, arch_kwargs={"width": width} if width else {},
        epochs=epochs, batch_size=batch, lr=0.002, seed=0, device=device,
        bf16="auto", resume=False,
    )  # fmt: skip
    times: dict[str, list[float]] = {"fixed": [], "per-epoch": []}
    cpu: dict[str, list[float]] = {"fixed": [], "per-epoch": []}
    accuracy: dict[str, list[float]] = {"fixed": [], "per-epoch": []}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        materialize(t2d_spec(names, images), data, progress=False)
        pretrain(data, Path(tmp) / "warm", **{**kwargs, "epochs": 1})  # imports, allocator
        for r in range(repeats):
            order = ("fixed", "per-epoch") if r % 2 == 0 else ("per-epoch", "fixed")
            for mode in order:
                _sync(dev)
                w0, c0 = time.perf_counter(), time.process_time()
                metrics = pretrain(data, Path(tmp) / f"{mode}-{r}", rendering=mode, **kwargs)
                _sync(dev)
                times[mode].append(time.perf_counter() - w0)
                cpu[mode].append(time.process_time() - c0)
                accuracy[mode].append(metrics["test_accuracy"])
                loads.append(os.getloadavg()[0])
                if progress is not None:
                    progress(f"  repeat {r + 1} {mode}: {times[mode][-1]:.1f} s wall, "
                             f"{cpu[mode][-1]:.1f} s CPU, "
                             f"test acc {metrics['test_accuracy']:.3f}")  # fmt: skip
    return {
        "transforms": names,
        "arch": arch,
        "arch_kwargs": kwargs["arch_kwargs"],
        "images": images,
        "epochs": epochs,
        "batch": batch,
        "device": str(dev),
        "wall_s": times,
        "cpu_s": cpu,
        "test_accuracy": accuracy,
        "ratio_wall": [p / f for p, f in zip(times["per-epoch"], times["fixed"], strict=True)],
        "ratio_cpu": [p / f for p, f in zip(cpu["per-epoch"], cpu["fixed"], strict=True)],
        "loads": loads,
    }


def cmd_training(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    names = args.transforms.split(",") if args.transforms else draw_tvo_transforms(0, "t2d")[0]
    width = {"width": args.width} if args.width else {}
    print(f"# Pretraining time, fixed vs per-epoch rendering ({args.device})")
    print(f"machine: {machine()}; torch threads {args.threads}; code {code_version()}")
    print(
        f"{args.arch} {width}, {args.images} train images ({'+'.join(names)}), "
        f"{args.epochs} epochs, batch {args.batch}; {args.repeats} alternating repeats"
    )
    res = training_times(
        args.device, args.arch, args.width, args.images, args.epochs, args.batch,
        args.repeats, names, progress=lambda line: print(line, flush=True),
    )  # fmt: skip

    def ms(values: list[float], digits: int = 1) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"

    print("\n| rendering | wall s | CPU s | test accuracy |")
    print("|---|---:|---:|---:|")
    for mode in ("fixed", "per-epoch"):
        acc = statistics.fmean(res["test_accuracy"][mode])
        print(f"| {mode} | {ms(res['wall_s'][mode])} | {ms(res['cpu_s'][mode])} | {acc:.3f} |")
    print(
        f"\nper-epoch / fixed, per repeat: wall {ms(res['ratio_wall'], 2)} "
        f"({', '.join(f'{x:.2f}' for x in res['ratio_wall'])}), CPU {ms(res['ratio_cpu'], 2)}; "
        f"load average {min(res['loads']):.1f}–{max(res['loads']):.1f} during the runs"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("throughput", help="rendering img/s of the Transforms-2D mix")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--images", type=int, default=50_000, help="images per epoch (train split)")
    p.add_argument("--batch", type=int, nargs="+", default=[512], help="one or more batch sizes")
    p.add_argument("--passes", type=int, default=3, help="epochs per set, the first a warm-up")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.set_defaults(func=cmd_throughput)
    p = sub.add_parser("training", help="pretraining time, fixed vs per-epoch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--arch", default="cnn4")
    p.add_argument("--width", type=int, default=16, help="arch_kwargs width (0: none)")
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--transforms", default="", help="comma list (default: TvO set of seed 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.set_defaults(func=cmd_training)
    args = ap.parse_args()
    args.func(args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
