"""Throughput of the 18 transformations: batched torch kernels vs the reference's per-image PIL path.

Goal (issue 13): on one core, no type slower than the reference's PIL path (ratio >= 1) and a
geometric mean ratio >= 5 over the 18 types. Run from the repository root:

    python bench/bench_transforms.py [--images 4096] [--chunk 256] [--repeats 5] [--device cpu]

Both paths run in the same process with ``torch.set_num_threads(1)`` on the same 32×32 RGBA
object layers (a soft-edged 22×22 object at (5, 5), as the reference's composer lays it out):

- *batched*: ``spec.sample(CounterRNG) + spec.apply`` on float32 chunks of ``--chunk`` images
  (per-sample parameters; sampling included), with our default ``TransformOptions``;
- *in place* (the types with ``spec.apply_inplace``: the per-pixel photometric ones, contrast,
  sharpen, noise, pixelate, elastic, erasing): the same with the in-place kernel, as
  ``apply_transforms`` runs it on a tensor it owns; each chunk is copied just before its clocks
  start (the pipeline writes that tensor just before the step), so the copy is not timed but the
  chunk is as warm in cache as there;
- *PIL*: one PIL RGBA image at a time through the reference's transforms
  (``transforms_2d/transforms.py``; torchvision v1 classes on PIL with the reference constants,
  see reference_implementation.md §2.8), PIL in and PIL out, with the same parameters where our
  defaults differ from the reference (pixelate fraction 0.5, Gaussian noise clamped instead of
  wrapped): like for like.

Neither side includes decoding, compositing or ToTensor. Batched and PIL passes alternate after a
warm-up; img/s is mean ± std over ``--repeats`` passes of each, measured by this thread's CPU
time (``time.thread_time``: the work done, robust on a shared, loaded machine where wall time
adds the waiting for a core), with the wall-clock ratio printed alongside. On CUDA the batched
path is timed by wall clock.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms as T1
import torchvision.transforms.functional as F1
from PIL import Image

from invtransfer.rng import CounterRNG
from invtransfer.transforms import TRANSFORMS, TransformOptions

SIZE = 32
OBJ = 22  # round(32 · DEFAULT_OBJ_SCALE 0.7)
START = (SIZE - OBJ) // 2


def make_objects(n: int, seed: int = 0) -> torch.Tensor:
    """n distinct soft-edged objects, 22×22 box at (5, 5) on a transparent 32×32 canvas."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(float(OBJ)), torch.arange(float(OBJ)), indexing="ij")
    c = (OBJ - 1) / 2
    radius = torch.sqrt(((xs - c) / (OBJ / 2)) ** 2 + ((ys - c) / (OBJ / 2.6)) ** 2)
    alpha = torch.clamp((1.0 - radius) * 6.0, 0.0, 1.0)
    alpha[:, int(c) - 2 : int(c) + 3] = 1.0  # a full-height bar: the box is exactly 22×22
    ramp = torch.stack([xs / OBJ, ys / OBJ, 1 - xs / OBJ])
    rgb = 0.5 * torch.rand(n, 3, OBJ, OBJ, generator=gen) + 0.5 * ramp
    layer = torch.zeros(n, 4, SIZE, SIZE)
    layer[:, :3, START : START + OBJ, START : START + OBJ] = rgb * (alpha > 0)
    layer[:, 3, START : START + OBJ, START : START + OBJ] = alpha
    return (layer * 255).round() / 255  # uint8-exact, like decoded images


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    arr = (images * 255).round().byte().permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a, "RGBA") for a in arr]


# --- the reference's per-image path (transforms_2d/transforms.py, §2.8) -------------------------


def _with_transparency(
    t: Callable[[Image.Image], Image.Image],
) -> Callable[[Image.Image], Image.Image]:
    """RGBA → RGB (transparent black), apply, paste onto a transparent canvas with the old alpha."""

    def apply(img: Image.Image) -> Image.Image:
        out = t(img.convert("RGB"))
        canvas = Image.new("RGBA", img.size)
        canvas.paste(out, mask=img.getchannel("A"))
        return canvas

    return apply


def _scale(img: Image.Image) -> Image.Image:
    f = random.random() * 0.6 + 0.4
    side = round(SIZE * f)
    small = img.resize((side, side)).convert("RGBA")  # Pillow default resample (BICUBIC)
    canvas = Image.new("RGBA", img.size)
    canvas.paste(small, ((SIZE - side) // 2, (SIZE - side) // 2))
    return canvas


def _translate(img: Image.Image) -> Image.Image:
    span = SIZE - OBJ  # the reference keeps the box in an ImageWrapper (no getbbox)
    x, y = int(random.random() * span), int(random.random() * span)
    canvas = Image.new("RGBA", img.size)
    canvas.paste(img.crop((START, START, START + OBJ, START + OBJ)), (x, y))
    return canvas


def _noise_wrap(img: Image.Image) -> Image.Image:
    if random.random() >= 0.5:
        return img
    x = F1.to_tensor(img)
    noise = torch.clip(torch.randn_like(x) * 1.0 + 0.0, 0, 1)
    return F1.to_pil_image(x + noise)  # (x·255).byte(): wraps modulo 256 like the reference


def _noise_gaussian(img: Image.Image) -> Image.Image:
    """The reference's code path with the paper's semantics (our default): N(0, 1), clamped."""
    if random.random() >= 0.5:
        return img
    x = F1.to_tensor(img)
    return F1.to_pil_image((x + torch.randn_like(x)).clamp_(0, 1))


def _pixelate(fraction: float) -> Callable[[Image.Image], Image.Image]:
    small = int(SIZE * fraction)

    def pixelate(img: Image.Image) -> Image.Image:
        if random.random() >= 0.5:
            return img
        return img.resize((small, small), Image.BOX).resize((SIZE, SIZE), Image.NEAREST)

    return pixelate


def _erase(img: Image.Image) -> Image.Image:
    if random.random() >= 0.5:
        return img
    x, y = int(random.random() * (SIZE - 14)), int(random.random() * (SIZE - 14))
    out = img.copy()
    out.paste((0, 0, 0, 0), (x, y, x + 14, y + 14))
    return out


def reference_transforms(
    options: TransformOptions,
) -> dict[str, Callable[[Image.Image], Image.Image]]:
    """The reference's per-image transforms, with the parameters of ``options`` where the two
    differ (like for like: pixelate fraction, noise semantics). Rotate/shear are NEAREST in
    PIL; the batched path must use ``resample="nearest"`` (the default) to compare."""
    ref = dict(REFERENCE)
    ref["pixelate"] = _pixelate(options.pixelate_fraction)
    ref["noise"] = _with_transparency(
        _noise_gaussian if options.noise == "gaussian" else _noise_wrap
    )
    return ref


REFERENCE: dict[str, Callable[[Image.Image], Image.Image]] = {
    "scale": _scale,
    "translate": _translate,
    "v_flip": T1.RandomVerticalFlip(),
    "h_flip": T1.RandomHorizontalFlip(),
    "rotate": T1.RandomRotation(degrees=(0, 360)),
    "shear": T1.RandomAffine(degrees=0, shear=(-50, 50, -50, 50)),
    "hue": _with_transparency(T1.ColorJitter(hue=0.5)),
    "brightness": _with_transparency(T1.ColorJitter(brightness=1.0)),
    "grayscale": _with_transparency(T1.RandomGrayscale(p=0.5)),
    "posterize": _with_transparency(T1.RandomPosterize(bits=1)),
    "invert": _with_transparency(T1.RandomInvert()),
    "sharpen": T1.RandomAdjustSharpness(sharpness_factor=7),
    "blur": T1.GaussianBlur(7, sigma=(0.1, 1.5)),
    "noise": _with_transparency(_noise_wrap),  # the reference; see reference_transforms
    "pixelate": _pixelate(0.3),
    "elastic": T1.RandomApply([T1.ElasticTransform(alpha=150.0)], p=0.5),
    "erasing": _erase,
    "contrast": _with_transparency(T1.ColorJitter(contrast=1.0)),
}


# --- timing ---------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Rates:
    """img/s of repeated passes, by wall clock and by this thread's CPU time."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def add(self, n: int, wall_s: float, cpu_s: float) -> None:
        self.wall.append(n / wall_s)
        self.cpu.append(n / cpu_s if cpu_s > 0 else float("inf"))


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def batched_pass(
    name: str,
    images: torch.Tensor,
    chunk: int,
    key: int,
    options: TransformOptions,
    out: Rates,
    *,
    inplace: bool = False,
) -> None:
    """One pass of sample + apply over ``images`` in chunks (sample indices 0..n-1).

    ``inplace=True`` times ``spec.apply_inplace`` as ``apply_transforms`` uses it, on a tensor
    the pipeline owns (its previous step's output, or freshly gathered layers): each chunk is
    copied just before its clocks start, as that tensor is written just before the step."""
    spec = TRANSFORMS[name]
    n = images.shape[0]
    if not inplace:
        _sync(images.device)
        w0, c0 = _clocks()
        for start in range(0, n, chunk):
            batch = images[start : start + chunk]
            rng = CounterRNG(key, np.arange(start, start + batch.shape[0]))
            spec.apply(batch, spec.sample(rng.child(name), options), options)
        _sync(images.device)
        w1, c1 = _clocks()
        out.add(n, w1 - w0, c1 - c0)
        return
    apply = spec.apply_inplace
    assert apply is not None, f"{name} has no in-place kernel"
    wall = cpu = 0.0
    for start in range(0, n, chunk):
        batch = images[start : start + chunk].clone()
        _sync(images.device)
        w0, c0 = _clocks()
        rng = CounterRNG(key, np.arange(start, start + batch.shape[0]))
        apply(batch, spec.sample(rng.child(name), options), options)
        _sync(images.device)
        w1, c1 = _clocks()
        wall, cpu = wall + w1 - w0, cpu + c1 - c0
    out.add(n, wall, cpu)


def pil_pass(fn: Callable[[Image.Image], Image.Image], pils: list[Image.Image], out: Rates) -> None:
    """One pass of the reference's per-image transform over ``pils``."""
    w0, c0 = _clocks()
    for img in pils:
        fn(img)
    w1, c1 = _clocks()
    out.add(len(pils), w1 - w0, c1 - c0)


def measure(
    name: str,
    images: torch.Tensor,
    pils: list[Image.Image],
    chunk: int,
    repeats: int,
    options: TransformOptions,
) -> tuple[Rates, Rates, Rates | None]:
    """Alternate batched, in-place (where the type has it) and PIL passes, so load changes on a
    shared machine hit all alike."""
    fn = reference_transforms(options)[name]
    has_inplace = TRANSFORMS[name].apply_inplace is not None
    batched_pass(name, images[: 2 * chunk], chunk, 0, options, Rates())  # warm-up
    if has_inplace:
        batched_pass(name, images[: 2 * chunk], chunk, 0, options, Rates(), inplace=True)
    pil_pass(fn, pils[:64], Rates())
    batched, inplace, pil = Rates(), Rates(), Rates()
    for r in range(repeats):
        batched_pass(name, images, chunk, r + 1, options, batched)
        if has_inplace:
            batched_pass(name, images, chunk, r + 1, options, inplace, inplace=True)
        pil_pass(fn, pils, pil)
    return batched, pil, (inplace if has_inplace else None)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    return (
        f"{model}, {os.cpu_count()} cores (1 thread used), Python {platform.python_version()}, "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, Pillow {PIL.__version__}"
    )


def fmt(rates: list[float]) -> str:
    mean = statistics.fmean(rates)
    std = statistics.stdev(rates) if len(rates) > 1 else 0.0
    return f"{mean:,.0f} ± {std:,.0f}"


def geometric_mean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4096, help="images per batched pass")
    ap.add_argument("--pil-images", type=int, default=1024, help="images per PIL pass")
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="device of the batched path (cpu, cuda)")
    ap.add_argument("--only", nargs="*", default=None, help="a subset of transformation names")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    random.seed(0)
    options = TransformOptions()  # our defaults; the PIL path uses the same parameters
    device = torch.device(args.device)
    images = make_objects(args.images).to(device)
    pils = to_pil(make_objects(args.pil_images, seed=1))
    names = args.only or list(TRANSFORMS)
    clock = "cpu" if device.type == "cpu" else "wall"
    print(f"# Transformations: batched (chunks of {args.chunk}, {device}) vs per-image PIL")
    print(f"machine: {machine()}")
    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    print(
        f"images: 32×32 RGBA, batched {args.images}/pass, PIL {args.pil_images}/pass, "
        f"{args.repeats} passes after a warm-up, alternating; img/s mean ± std by this thread's "
        f"CPU time (the work; wall time on a loaded machine adds waiting), wall ratio for "
        f"comparison. Options: our defaults ({options}); PIL: the reference's transforms with "
        "the same pixelate fraction and noise semantics.\n"
    )
    print(
        "*in place*: the type's in-place kernel (`apply_inplace`), which `apply_transforms` runs "
        "on tensors it owns (a previous step's output, or the freshly gathered layers of "
        "`materialize` and per-epoch rendering), timed on a copy made before the clocks start; "
        "*pipeline ratio*: the in-place ratio where a type has one, else the ratio.\n"
    )
    print(
        f"| transform | batched img/s ({clock}) | in place img/s ({clock}) | PIL img/s ({clock}) "
        "| ratio | in-place ratio | pipeline ratio | wall ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    ratios: list[float] = []
    pipeline: list[float] = []
    for name in names:
        batched, pil, inplace = measure(name, images, pils, args.chunk, args.repeats, options)
        b = batched.cpu if clock == "cpu" else batched.wall
        p = pil.cpu if clock == "cpu" else pil.wall
        ratio = statistics.fmean(b) / statistics.fmean(p)
        wall = statistics.fmean(batched.wall) / statistics.fmean(pil.wall)
        ratios.append(ratio)
        cells = ["—", "—"]
        pipeline.append(ratio)
        if inplace is not None:
            i = inplace.cpu if clock == "cpu" else inplace.wall
            pipeline[-1] = statistics.fmean(i) / statistics.fmean(p)
            cells = [fmt(i), f"{pipeline[-1]:.2f}"]
        print(
            f"| {name} | {fmt(b)} | {cells[0]} | {fmt(p)} | {ratio:.2f} | {cells[1]} "
            f"| {pipeline[-1]:.2f} | {wall:.2f} |",
            flush=True,
        )
    for label, values in (("ratio", ratios), ("pipeline ratio", pipeline)):
        worst = min(values)
        print(
            f"\ngeometric mean {label}: {geometric_mean(values):.2f} (arithmetic mean "
            f"{statistics.fmean(values):.2f}, min {worst:.2f} for {names[values.index(worst)]})"
        )
    print("goal: geometric mean >= 5 and every ratio >= 1 on one core")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
