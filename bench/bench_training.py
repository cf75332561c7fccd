"""Training-engine benchmark: throughput per architecture, cached vs through-backbone probing,
and (on CUDA) one full ResNet-18 pretraining.

Measured the airbench way: warm-up excluded, mean ± std over repeated timings, CUDA events plus
``torch.cuda.synchronize()`` around only the claimed work on the GPU, and the hardware, torch
version and code hash printed with the numbers.

    python bench/bench_training.py                  # CPU parts (throughput, probe)
    python bench/bench_training.py --quick          # fewer architectures and iterations
    python bench/bench_training.py --gpu-only       # the CUDA pretraining only (needs CUDA)
    python bench/bench_training.py --pretrain-only --device cpu --gpu-arch cnn4 \
        --gpu-epochs 1 --gpu-images 256 --gpu-eval-images 64   # the same path, tiny, on the CPU
    python bench/bench_training.py --device cuda    # everything, on the GPU

Goals (issue): probe on cached features ≥ 100x faster than through the backbone; ResNet-18 for
50 epochs on 50k images ≤ 45 s on an H100.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _common import Timer, cpu_name, mean_std

from invtransfer.device import configure_cuda, describe_device, place_model, resolve_device
from invtransfer.engine import CHECKPOINT_EVERY_S, TrainHParams
from invtransfer.features import compute_features
from invtransfer.labeled_data import prepare_images
from invtransfer.models import MODELS, build_model
from invtransfer.pretraining import train_model
from invtransfer.probing import probe_through_backbone, train_probe

ROOT = Path(__file__).resolve().parents[1]
ENGINE_FILES = [
    "engine.py",
    "labeled_data.py",
    "device.py",
    "pretraining.py",
    "features.py",
    "probing.py",
    "checkpoint.py",
    "models",
]
ARCH_KWARGS = {"resnet18_w": {"width": 16}, "cnn4": {"width": 16}}
QUICK_ARCHS = ["resnet18", "vit", "densenet_cifar", "resnet18_w", "cnn4"]


def code_hash() -> str:
    """SHA-256 (12 hex) over the engine's source files, so numbers can be tied to the code."""
    h = hashlib.sha256()
    base = ROOT / "src" / "invtransfer"
    for name in ENGINE_FILES:
        path = base / name
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def header(device: torch.device) -> str:
    lines = [
        f"# bench_training  code {code_hash()}  torch {torch.__version__}  python {platform.python_version()}",
        f"# device {describe_device(device)}  host {platform.machine()} {os.cpu_count()} cpus",
    ]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        driver = "unknown"
        with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
            driver = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, check=True, timeout=20,
            ).stdout.strip().splitlines()[0]  # fmt: skip
        lines.append(
            f"# gpu {props.name}  {props.total_memory / 2**30:.0f} GiB  driver {driver}  "
            f"cuda {torch.version.cuda}"
        )
    else:
        lines.append(f"# cpu {cpu_name()}")
    return "\n".join(lines)


# -- 1. throughput of one training step ---------------------------------------------------------
def step_throughput(
    arch: str, device: torch.device, batch: int, warmup: int, iters: int, bf16: bool
) -> tuple[float, float]:
    """img/s of a full training step (uint8 batch → normalise → forward → backward → Adam)."""
    torch.manual_seed(0)
    model = place_model(build_model(arch, 30, **ARCH_KWARGS.get(arch, {})), device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randint(0, 256, (batch, 32, 32, 3), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 30, (batch,), device=device)
    rates = []
    for i in range(warmup + iters):
        with Timer(device) as t:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(prepare_images(images))
            loss = F.cross_entropy(logits.float(), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if i >= warmup:
            rates.append(batch / t.seconds)
    return mean_std(rates)


def bench_throughput(args: argparse.Namespace, device: torch.device) -> list[dict]:
    archs = QUICK_ARCHS if args.quick else list(MODELS)
    precisions = [False, True] if device.type == "cpu" else [True]
    iters = 3 if args.quick else args.iters
    rows = []
    print(
        f"\n## training step throughput (batch {args.batch}, {args.warmup} warm-up + {iters} timed steps)"
    )
    print("| arch | params | precision | img/s (mean ± std) |\n|---|---|---|---|")
    for arch in archs:
        params = build_model(arch, 30, **ARCH_KWARGS.get(arch, {})).num_parameters()
        for bf16 in precisions:
            mean, std = step_throughput(arch, device, args.batch, args.warmup, iters, bf16)
            label = "bf16 autocast" if bf16 else "fp32"
            print(
                f"| {arch} | {params / 1e6:.2f}M | {label} | {mean:,.0f} ± {std:,.0f} |", flush=True
            )
            rows.append(
                {"arch": arch, "params": params, "bf16": bf16, "img_per_s": mean, "std": std}
            )
    return rows


# -- 2. probe: cached features vs through the backbone -----------------------------------------
def synthetic_split(n: int, num_classes: int, seed: int, device: torch.device | str = "cpu"):
    """Class-coloured 12×12 squares at random places on dark noise (learnable, cheap to make).
    The class colours depend on ``num_classes`` only, so splits of other seeds share them."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    colours = torch.Generator().manual_seed(num_classes)
    palette = torch.randint(0, 256, (num_classes, 3), generator=colours, dtype=torch.uint8)
    images = torch.randint(0, 64, (n, 32, 32, 3), generator=g, dtype=torch.uint8)
    r, c = torch.randint(0, 21, (2, n, 1, 1), generator=g)
    ys, xs = torch.arange(32).view(1, 32, 1), torch.arange(32).view(1, 1, 32)
    mask = (ys >= r) & (ys < r + 12) & (xs >= c) & (xs < c + 12)  # N×32×32
    images = torch.where(mask[..., None], palette[labels][:, None, None, :], images)
    return images.to(device), labels.to(device)


def bench_probe(args: argparse.Namespace, device: torch.device) -> dict:
    n_train, n_val = (256, 64) if args.quick else (args.probe_images, args.probe_images // 4)
    epochs = 1 if args.quick else args.probe_epochs
    splits = {"train": synthetic_split(n_train, 10, 1), "val": synthetic_split(n_val, 10, 2)}
    backbone = build_model(args.probe_arch, 30, seed=0, **ARCH_KWARGS.get(args.probe_arch, {}))
    hp = TrainHParams(epochs=epochs, batch_size=512, seed=0)
    print(
        f"\n## linear probe, {args.probe_arch} backbone, {n_train} train + {n_val} val images, "
        f"{epochs} epoch(s) each way"
    )
    with Timer(device) as t_slow:
        slow = probe_through_backbone(backbone, splits, num_classes=10, hparams=hp, device=device)
    with Timer(device) as t_extract:
        feats = {
            s: (compute_features(backbone, x, 1024, device), y) for s, (x, y) in splits.items()
        }
    with Timer(device) as t_fast:
        fast = train_probe(feats, num_classes=10, hparams=hp, device=device)
    hp200 = TrainHParams(epochs=200, batch_size=512, seed=0)
    with Timer(device) as t_fast200:
        train_probe(feats, num_classes=10, hparams=hp200, device=device)
    per_epoch_slow = t_slow.seconds / epochs
    per_epoch_fast = t_fast.seconds / epochs
    result = {
        "through_backbone_s_per_epoch": per_epoch_slow,
        "cached_s_per_epoch": per_epoch_fast,
        "extract_s": t_extract.seconds,
        "cached_200_epochs_s": t_fast200.seconds,
        "speedup_per_epoch": per_epoch_slow / per_epoch_fast,
        "speedup_200_epochs_incl_extract": (200 * per_epoch_slow)
        / (t_extract.seconds + t_fast200.seconds),
        "val_accuracy_through_backbone": slow.fit.history[-1]["val_accuracy"],
        "val_accuracy_cached": fast.fit.history[-1]["val_accuracy"],
    }
    print("| quantity | value |\n|---|---|")
    print(
        f"| through the backbone, per epoch | {per_epoch_slow:.3f} s (measured, {epochs} epochs) |"
    )
    print(
        f"| cached features, per epoch | {per_epoch_fast * 1e3:.2f} ms (measured, {epochs} epochs) |"
    )
    print(f"| feature extraction, once | {t_extract.seconds:.3f} s (measured) |")
    print(f"| cached, 200 epochs | {t_fast200.seconds:.3f} s (measured) |")
    print(f"| speed-up per epoch | {result['speedup_per_epoch']:,.0f}x |")
    print(
        f"| speed-up for a 200-epoch probe incl. extraction | "
        f"{result['speedup_200_epochs_incl_extract']:,.0f}x (through-backbone side = 200 × "
        "measured epoch) |"
    )
    print(
        f"| last-epoch val accuracy, backbone / cached | {result['val_accuracy_through_backbone']:.4f}"
        f" / {result['val_accuracy_cached']:.4f} |",
        flush=True,
    )
    return result


# -- 3. CUDA: one full ResNet-18 pretraining ---------------------------------------------------
def bench_gpu_pretrain(args: argparse.Namespace, device: torch.device) -> dict:
    epochs = 5 if args.quick else args.gpu_epochs
    n_train, n_eval = args.gpu_images, args.gpu_eval_images
    cuda = device.type == "cuda"
    if cuda:
        configure_cuda()
    train = synthetic_split(n_train, 30, 11, device)
    val = synthetic_split(n_eval, 30, 12, device)
    test = synthetic_split(n_eval, 30, 13, device)
    print(
        f"\n## {'CUDA' if cuda else 'CPU'} pretraining: {args.gpu_arch}, {epochs} epochs × "
        f"{n_train} images (+{n_eval} val, {n_eval} test), batch 512, bf16={cuda}, channels_last, "
        f"compile={args.compile}, checkpoints: "
        + ("none" if args.no_checkpoint else f"every {args.checkpoint_every:g} s (0: every epoch)")
    )

    def run(n_epochs: int, workdir: str) -> tuple[float, dict]:
        ckpt = None if args.no_checkpoint else Path(workdir) / "checkpoint.pt"
        if ckpt is not None and ckpt.exists():
            ckpt.unlink()
        with Timer(device) as t:
            res = train_model(
                args.gpu_arch, train, val, test, num_classes=30,
                hparams=TrainHParams(epochs=n_epochs, batch_size=512, seed=0),
                device=device, bf16=cuda, compile=args.compile, checkpoint_path=ckpt,
                checkpoint_every_s=args.checkpoint_every,
            )  # fmt: skip
        return t.seconds, res.metrics

    times, metrics = [], {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        warm_s, _ = run(1, workdir)  # cuDNN autotuning, compile, allocator: excluded
        print(f"warm-up run (1 epoch, excluded): {warm_s:.1f} s", flush=True)
        for i in range(args.repeats):
            spent = time.perf_counter() - started
            if times and args.max_seconds and spent + times[-1] > args.max_seconds:
                print(f"stopping after {len(times)} run(s): another would end past "
                      f"--max-seconds {args.max_seconds:.0f}", flush=True)  # fmt: skip
                break
            seconds, metrics = run(epochs, workdir)
            times.append(seconds)
            print(
                f"run {i + 1}: {seconds:.1f} s total, {metrics['train_time_s']:.1f} s in training "
                f"steps ({metrics['img_per_s']:,.0f} img/s), test acc {metrics['test_accuracy']:.4f}",
                flush=True,
            )
    mean, std = mean_std(times)
    paper = cuda and epochs == 50 and n_train == 50_000
    goal = ("met" if mean <= 45 else "NOT met") if paper else "not this size or device"
    print(
        f"{args.gpu_arch} {epochs} epochs × {n_train}: {mean:.1f} ± {std:.1f} s over {len(times)} "
        f"run(s) on {describe_device(device)} (goal ≤ 45 s for 50 epochs on an H100: {goal})"
    )
    return {
        "seconds_mean": mean,
        "seconds_std": std,
        "runs": times,
        "warmup_s": warm_s,
        "epochs": epochs,
        "images": n_train,
        "eval_images": n_eval,
        "checkpoints": "none" if args.no_checkpoint else f"every {args.checkpoint_every:g} s",
        **metrics,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--quick", action="store_true", help="a few archs, few iterations, 5 GPU epochs")
    p.add_argument("--gpu-only", action="store_true", help="only the CUDA pretraining (needs CUDA)")
    p.add_argument("--cpu-only", action="store_true", help="skip the CUDA pretraining")
    p.add_argument(
        "--pretrain-only",
        action="store_true",
        help="only the full-pretraining benchmark, on --device (the CPU too: bench/gpu_check.sh --dry)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--batch", type=int, default=32, help="throughput batch size")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per architecture")
    p.add_argument("--iters", type=int, default=5, help="timed steps per architecture")
    p.add_argument("--probe-arch", default="resnet18")
    p.add_argument("--probe-images", type=int, default=1024)
    p.add_argument("--probe-epochs", type=int, default=2)
    p.add_argument("--gpu-arch", default="resnet18")
    p.add_argument("--gpu-epochs", type=int, default=50)
    p.add_argument("--gpu-images", type=int, default=50_000)
    p.add_argument("--gpu-eval-images", type=int, default=10_000, help="val and test images each")
    p.add_argument("--repeats", type=int, default=1, help="timed GPU pretraining runs")
    p.add_argument("--compile", action="store_true", help="torch.compile the GPU run")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="GPU pretraining: start no further timed run that would end past this many seconds",
    )
    p.add_argument(
        "--no-checkpoint", action="store_true", help="GPU run without resume checkpoints"
    )
    p.add_argument(
        "--checkpoint-every",
        type=float,
        default=CHECKPOINT_EVERY_S,
        metavar="S",
        help="write a resume checkpoint after an epoch only once S seconds have passed since the "
        f"last one (and after the last epoch; 0: every epoch); default {CHECKPOINT_EVERY_S:g}, "
        "the engine's",
    )
    p.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    wants_cuda = args.gpu_only or args.device.startswith("cuda")
    if wants_cuda and not torch.cuda.is_available():
        print(
            "error: CUDA was requested (--gpu-only or --device cuda) but torch sees no CUDA device "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); run the CPU parts "
            "with --device cpu",
            file=sys.stderr,
        )
        return 2
    device = resolve_device("cuda" if args.gpu_only and args.device == "cpu" else args.device)
    print(header(device))
    results: dict = {"device": describe_device(device), "code": code_hash()}
    if args.pretrain_only:
        results["gpu_pretrain"] = bench_gpu_pretrain(args, device)
    else:
        if not args.gpu_only:
            results["throughput"] = bench_throughput(args, device)
            results["probe"] = bench_probe(args, device)
        if device.type == "cuda" and not args.cpu_only:
            results["gpu_pretrain"] = bench_gpu_pretrain(args, device)
        elif not args.cpu_only:
            print("\n(no CUDA device: skipping the GPU pretraining benchmark)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
