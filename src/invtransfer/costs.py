"""What training costs: a short measured calibration on this machine's device, and estimates for
a named GPU from FLOPs (issue 15 §1, the measured half; ``python -m invtransfer plan`` builds on it).

- :func:`calibrate` times a few full training steps of each architecture here (uint8 batch →
  on-device normalisation → forward → backward → Adam; the engine's precision and memory
  layout), warm-up steps excluded, on CUDA with events after a synchronize: images/s measured.
- :func:`forward_gflop` counts the FLOPs of one forward pass (``torch.utils.flop_counter``:
  2 per multiply-add of every convolution and matrix product): measured, not assumed.
- :func:`pretraining_flop` = 3 × forward per training image and epoch (forward + backward) +
  1 × forward per validation image and epoch and per test image.
- :func:`gpu_pretraining_seconds` divides that by an **assumed** sustained rate: the GPU's bf16
  dense peak (:data:`GPUS`, the vendor's datasheet) × :data:`ASSUMED_UTILIZATION`. The
  utilisation is an assumption, not a measurement: airbench-class CIFAR code (whole dataset
  resident on the GPU as uint8, bf16, channels-last, as here) reaches 25–37 % of peak on an
  A100 (``/work/shared/spec/performance.md``); 32-px images keep kernels small, so the low end.
  Replace it by ``bench/gpu_check.sh``'s measured pretraining time once there is one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from invtransfer.device import autocast, configure_cuda, place_model, resolve_bf16, resolve_device
from invtransfer.labeled_data import prepare_images
from invtransfer.models import MODELS, build_model

__all__ = [
    "ASSUMED_UTILIZATION",
    "GPUS",
    "Calibration",
    "GpuSpec",
    "calibrate",
    "forward_gflop",
    "gpu_pretraining_seconds",
    "local_pretraining_seconds",
    "pretraining_flop",
]

ASSUMED_UTILIZATION = 0.25  # fraction of the bf16 dense peak a pretraining sustains (assumed)
TRAIN_FORWARD_FACTOR = 3.0  # a training step costs ~3 forward passes (forward + backward)


@dataclass(frozen=True)
class GpuSpec:
    name: str
    bf16_dense_tflops: float  # vendor peak, dense (no sparsity), bf16 tensor cores
    source: str


GPUS: dict[str, GpuSpec] = {
    "H100": GpuSpec("NVIDIA H100 SXM5", 989.4, "NVIDIA H100 datasheet, BF16 dense"),
    "H200": GpuSpec("NVIDIA H200 SXM", 989.4, "NVIDIA H200 datasheet, BF16 dense (= H100 SXM)"),
    "A100": GpuSpec("NVIDIA A100 SXM4", 312.0, "NVIDIA A100 datasheet, BF16 dense"),
}


@dataclass(frozen=True)
class Calibration:
    """Measured training throughput of one architecture on one device."""

    arch: str
    arch_kwargs: dict[str, Any]
    device: str
    bf16: bool
    batch_size: int
    steps: int  # timed steps (after the warm-up)
    img_per_s: float  # mean over the timed steps
    img_per_s_std: float  # sample std over the timed steps


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_arch(arch: str) -> None:
    if arch not in MODELS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(MODELS)}")


def calibrate(
    archs: Iterable[str],
    *,
    device: str | torch.device = "auto",
    arch_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    batch_size: int = 64,
    warmup: int = 2,
    steps: int = 5,
    num_classes: int = 30,
    bf16: bool | str = "auto",
    image_size: int = 32,
) -> dict[str, Calibration]:
    """Time ``steps`` training steps of each architecture (after ``warmup`` untimed ones).

    Each step is what the training engine does per batch: a uint8 batch on the device is
    normalised (``prepare_images``), run forward under bf16 autocast where ``bf16`` says so,
    the cross-entropy loss backpropagated and an Adam step taken, on a channels-last model.
    Random data and labels: the cost does not depend on them. On CUDA each step is timed with
    events after a synchronize; on the CPU by the wall clock. A few seconds per architecture on
    a laptop CPU at the default sizes (more for ResNet-50 and DenseNet-121).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    use_bf16 = resolve_bf16(bf16, dev)
    batch_size = _check_positive_int(batch_size, "batch_size")
    steps = _check_positive_int(steps, "steps")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    archs = list(archs)
    for arch in archs:
        _check_arch(arch)
    kwargs_by_arch = dict(arch_kwargs or {})
    if dev.type == "cuda":
        configure_cuda()
    out: dict[str, Calibration] = {}
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (batch_size, image_size, image_size, 3), dtype=torch.uint8, generator=gen
    ).to(dev)
    labels = torch.randint(0, num_classes, (batch_size,), generator=gen).to(dev)
    for arch in archs:
        kwargs = dict(kwargs_by_arch.get(arch, {}))
        model = place_model(build_model(arch, num_classes, seed=0, **kwargs), dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        rates = []
        for i in range(warmup + steps):
            seconds = _timed_step(model, opt, images, labels, dev, use_bf16)
            if i >= warmup:
                rates.append(batch_size / seconds)
        mean = sum(rates) / len(rates)
        std = (
            math.sqrt(sum((r - mean) ** 2 for r in rates) / (len(rates) - 1))
            if len(rates) > 1
            else 0.0
        )
        out[arch] = Calibration(arch, kwargs, str(dev), use_bf16, batch_size, steps, mean, std)
        del model, opt
    return out


def _timed_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    dev: torch.device,
    bf16: bool,
) -> float:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    else:
        t0 = time.perf_counter()
    with autocast(dev, bf16):
        logits = model(prepare_images(images))
    loss = F.cross_entropy(logits.float(), labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if dev.type == "cuda":
        end.record()
        torch.cuda.synchronize(dev)
        return start.elapsed_time(end) / 1000.0
    return time.perf_counter() - t0


def forward_gflop(
    arch: str, *, image_size: int = 32, num_classes: int = 30, **arch_kwargs: Any
) -> float:
    """GFLOP of one forward pass of one image, counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    _check_arch(arch)
    model = build_model(arch, num_classes, seed=0, **arch_kwargs).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, image_size, image_size))
    return counter.get_total_flops() / 1e9


def pretraining_flop(
    arch: str,
    *,
    n_train: int,
    epochs: int,
    n_val: int = 10_000,
    n_test: int = 10_000,
    gflop_per_image: float | None = None,
    **arch_kwargs: Any,
) -> float:
    """FLOPs of one pretraining: 3 forwards per training image and epoch, 1 per validation
    image and epoch and per test image (``gflop_per_image`` defaults to :func:`forward_gflop`)."""
    for value, name in ((n_train, "n_train"), (epochs, "epochs")):
        _check_positive_int(value, name)
    for value, name in ((n_val, "n_val"), (n_test, "n_test")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    g = forward_gflop(arch, **arch_kwargs) if gflop_per_image is None else gflop_per_image
    forwards = TRAIN_FORWARD_FACTOR * n_train * epochs + n_val * epochs + n_test
    return forwards * g * 1e9


def gpu_pretraining_seconds(
    arch: str,
    *,
    gpu: str = "H100",
    n_train: int = 50_000,
    epochs: int = 50,
    n_val: int = 10_000,
    n_test: int = 10_000,
    utilization: float = ASSUMED_UTILIZATION,
    gflop_per_image: float | None = None,
    **arch_kwargs: Any,
) -> float:
    """Estimated seconds of one pretraining on ``gpu``: :func:`pretraining_flop` / (bf16 dense
    peak × ``utilization``). An estimate from an assumed utilisation, not a measurement."""
    if gpu not in GPUS:
        raise ValueError(f"unknown GPU {gpu!r}; known: {', '.join(GPUS)}")
    if not isinstance(utilization, int | float) or not 0 < utilization <= 1:
        raise ValueError(f"utilization must be in (0, 1], got {utilization!r}")
    flop = pretraining_flop(
        arch,
        n_train=n_train,
        epochs=epochs,
        n_val=n_val,
        n_test=n_test,
        gflop_per_image=gflop_per_image,
        **arch_kwargs,
    )
    return flop / (GPUS[gpu].bf16_dense_tflops * 1e12 * utilization)


def local_pretraining_seconds(
    cal: Calibration, *, n_train: int, epochs: int, n_val: int = 10_000, n_test: int = 10_000
) -> float:
    """Estimated seconds of one pretraining on the calibrated device: training images × epochs
    at the measured training rate, plus evaluation at 3× that rate (a forward pass only)."""
    _check_positive_int(n_train, "n_train")
    _check_positive_int(epochs, "epochs")
    if not cal.img_per_s > 0:
        raise ValueError(f"calibration of {cal.arch} has no positive rate ({cal.img_per_s!r})")
    evaluated = n_val * epochs + n_test
    return (n_train * epochs + evaluated / TRAIN_FORWARD_FACTOR) / cal.img_per_s
