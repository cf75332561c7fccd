"""Pixel-level size of the data-layer choices listed in docs/FIDELITY.md (the "Effect" column).

Run from the repository root (a few seconds on one core):

    python bench/fidelity_effects.py

On the 61 default bundle objects as 32-px prototypes, it prints, for each default and its
option, the mean absolute difference in uint8 levels over the pixels that either version covers
(colour premultiplied by alpha, i.e. what ends up on a black background), plus the class counts
that ``class_balance: iid`` gives at two dataset sizes. Deterministic: no timing involved.
"""

from __future__ import annotations

import numpy as np
import torch

from invtransfer.assets import load_objects
from invtransfer.datasets.compose import object_prototypes
from invtransfer.datasets.t2d import assign_classes
from invtransfer.rng import CounterRNG
from invtransfer.transforms import (
    TRANSFORMS,
    TransformOptions,
    _luma,
    _pil_canvas_mean,
    apply_transforms,
)


def _levels(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean |a − b| in uint8 levels over pixels covered by either layer (premultiplied colour)."""
    covered = (a[:, 3] > 0) | (b[:, 3] > 0)
    diff = (a[:, :3] * a[:, 3:] - b[:, :3] * b[:, 3:]).abs().mean(1)
    return float(diff[covered].mean() * 255)


def _transform(protos: torch.Tensor, name: str, options: TransformOptions) -> torch.Tensor:
    rng = CounterRNG(0, np.arange(protos.shape[0]))
    out, _ = apply_transforms(protos, [name], rng, options)
    return out


def main() -> None:
    torch.set_num_threads(1)
    rgbas = [o.rgba for o in load_objects({"source": "bundle", "count": 61})]
    aspect = np.array([max(r.shape[:2]) / min(r.shape[:2]) for r in rgbas])
    squashed = object_prototypes(rgbas, 32)  # the defaults: squash, reference resampling
    kept = object_prototypes(rgbas, 32, squash_aspect=False)
    print(
        f"D6 aspect ratio of the 61 objects: median {np.median(aspect):.2f}, "
        f"> 1.25: {(aspect > 1.25).sum()}, max {aspect.max():.2f}; mean alpha area "
        f"{squashed[:, 3].sum((1, 2)).mean():.0f} px squashed vs {kept[:, 3].sum((1, 2)).mean():.0f}"
    )
    one_step = object_prototypes(rgbas, 32, resample="bilinear")
    print(f"D7 reference two-step vs one-step bilinear: {_levels(squashed, one_step):.1f} levels")
    for n in (50_000, 200):
        counts = np.bincount(assign_classes(0, "train", np.arange(n), 30), minlength=30)
        print(f"D9 iid classes, {n} images / 30 classes: {counts.min()}..{counts.max()} per class")

    default = TransformOptions()
    scale = _transform(squashed, "scale", default)
    scale_bilinear = _transform(squashed, "scale", TransformOptions(scale_resample="bilinear"))
    print(f"T1 scale bicubic vs bilinear: {_levels(scale, scale_bilinear):.1f} levels")
    rotate = _transform(squashed, "rotate", default)
    rotate_bilinear = _transform(squashed, "rotate", TransformOptions(resample="bilinear"))
    print(f"T5 rotate nearest vs bilinear: {_levels(rotate, rotate_bilinear):.1f} levels")
    on = {"applied": torch.ones(len(rgbas), dtype=torch.bool)}
    for fraction in (0.5, 0.3):
        options = TransformOptions(pixelate_fraction=fraction)
        out = TRANSFORMS["pixelate"].apply(squashed, on, options)
        print(f"T15 pixelate {fraction}: {_levels(out, squashed):.1f} levels from the object")
    canvas = _pil_canvas_mean(squashed[:, :3]) * 255
    alpha = squashed[:, 3:]
    obj = (_luma(squashed[:, :3]) * alpha).sum((1, 2, 3)) / alpha.sum((1, 2, 3)) * 255
    print(
        f"T18 contrast mean grey: canvas {canvas.mean():.0f} levels, object {obj.mean():.0f} "
        "levels (mean over the objects)"
    )


if __name__ == "__main__":
    main()
