"""The 18 Transforms-2D transformations as pure, batched kernels with per-sample parameters.

Paper: Speicher, Nanda & Gummadi, "Understanding the Role of Invariance in Transfer Learning"
(TMLR 2024), Fig. 5 and App. A.1. Each transformation *type* is one pair of functions:

- ``sample_<name>(rng, options) -> dict[str, Tensor]`` draws the parameters of ``rng.n`` samples
  from an :class:`invtransfer.rng.CounterRNG`, so every parameter is a pure function of
  ``(rng key, sample index)`` — independent of batch size, chunking and device;
- ``apply_<name>(images, params, options) -> Tensor`` applies them to a batch of RGBA object
  layers (``float`` N×4×H×W in [0, 1], straight alpha, RGB = 0 where alpha = 0). It never modifies
  its input, keeps dtype and device, and sample ``i`` of the output depends only on sample ``i`` of
  the input and of the parameters (a batched call equals a loop of single-sample calls).

A :class:`TransformSpec` ties the pair to a name and the registry :data:`TRANSFORMS` (paper order)
is the single list that config, rules and tests iterate over; :func:`register_transform` adds a
new type, which then appears in every experiment. :func:`apply_transforms` samples and applies a
list of types and returns the parameter columns stored next to each image.

Why not ``torchvision.transforms.v2`` or kornia for sampling: v2 draws one parameter set per batch
(pytorch/vision#8484), and kornia's brightness, contrast and translate have other semantics and it
lacks pixelate. The kernels below follow ``torchvision.transforms.v2.functional`` where the paper's
reference code used torchvision (hue, brightness, grayscale, posterize, invert, sharpen, blur,
elastic, affine conventions), and the reference's own code elsewhere (pixelate, erasing, noise).

Semantics shared by all kernels (see ``docs/ARCHITECTURE.md``, "Transformations"):

- Photometric transformations and ``noise``/``contrast`` change object pixels only: alpha is
  untouched and transparent pixels keep RGB = 0 (the reference converted to RGB, applied the op
  and pasted back with the original alpha).
- Resampling (scale, rotate, shear, elastic, blur, pixelate) works on premultiplied colour and
  un-premultiplies afterwards, so soft alpha edges do not pick up a dark fringe from the black
  transparent area. Areas uncovered by a warp become transparent (alpha 0).
- Geometric types act about the object's alpha bounding box (pixels with alpha > 0.5/255, i.e.
  visible after uint8 quantisation), so the position sampled by ``translate`` is kept. For
  whole images (alpha = 1 everywhere) the box is the canvas and this is the image centre; for the
  reference layout (object centred on the canvas) it equals torchvision's canvas-centre rotation.
- Fixed sizes are in pixels and do not scale with the image size: the erasing square is 14 px and
  the blur kernel 7 px, as in the reference at 32×32. ``pixelate`` uses a fraction of the side.

Why one module of ~1,200 lines: the 18 types are one registry whose kernels share the building
blocks below (premultiplication, alpha boxes, separable resampling, seeded fields); one sampler and
one kernel per type, in the paper's order, are easier to check against Fig. 5 side by side.

Defaults follow ``docs/FIDELITY.md``: the paper's text (Fig. 5) where it is specific, else the
reference's behaviour (nearest rotate/shear, bicubic scale, Pillow's canvas contrast mean, the
reference's position ranges); the variants are options of :class:`TransformOptions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invtransfer.rng import CounterRNG, splitmix64

__all__ = [
    "CATEGORIES",
    "TRANSFORMS",
    "TransformOptions",
    "TransformSpec",
    "apply_transforms",
    "canonical_order",
    "get_transform",
    "register_transform",
]

Category = Literal["geometric", "photometric", "corruption"]
Params = dict[str, Tensor]

# --- constants of the paper / reference (Fig. 5, reference transforms_2d/transforms.py) -------------
SCALE_RANGE = (0.4, 1.0)  # × current object size (RandomScale(0.4))
ROTATE_RANGE = (0.0, 360.0)  # degrees
SHEAR_RANGE = (-50.0, 50.0)  # degrees, x and y (_SHEAR_RANGE = 50, torchvision convention)
HUE_RANGE = (-0.5, 0.5)  # fraction of the hue circle (ColorJitter(hue=0.5))
BRIGHTNESS_RANGE = (0.0, 2.0)  # multiplicative factor (ColorJitter(brightness=1.0))
CONTRAST_RANGE = (0.0, 2.0)  # blend factor with the mean grey (ColorJitter(contrast=1.0))
POSTERIZE_BITS = 1
SHARPNESS_FACTOR = 7.0
BLUR_KERNEL = 7  # px, fixed (not scaled with the image size)
BLUR_SIGMA_RANGE = (0.1, 1.5)  # px
NOISE_STD = 1.0  # N(0, 1) per pixel and channel
ELASTIC_ALPHA = 150.0  # torchvision ElasticTransform(alpha=150.0), default sigma=5.0
ELASTIC_SIGMA = 5.0
ERASING_SIZE = 14  # px square, fixed
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale (ITU-R 601-2 luma)
_ALPHA_VISIBLE = 0.5 / 255.0  # alpha above this counts as object for the bounding box
_ALPHA_EMPTY = 1e-6  # resampled alpha below this is snapped to 0 (transparent)
_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64 increment, as in invtransfer.rng

_RESAMPLE = ("nearest", "bilinear")
_SCALE_RESAMPLE = ("bicubic", "bilinear")
_NOISE = ("gaussian", "reference-wrap")
_TRANSLATE = ("object", "image", "image-reference")
_CONTRAST_MEAN = ("canvas", "object")


@dataclass(frozen=True)
class TransformOptions:
    """How the transformations are applied.

    Defaults follow the rule of ``docs/FIDELITY.md``: the paper's text where it says something
    (Fig. 5, App. A.1), else what the reference code computes; a variant we consider better is an
    option.

    Attributes:
        resample: interpolation of ``rotate`` and ``shear``: ``"nearest"`` (reference:
            torchvision's default NEAREST), or ``"bilinear"`` on premultiplied colour.
        scale_resample: filter of ``scale``: ``"bicubic"`` (reference: Pillow's default resize
            filter, antialiased) or ``"bilinear"`` (antialiased triangle filter). ``elastic`` is
            always bilinear, like torchvision.
        noise: ``"gaussian"`` adds N(0, 1) to object pixels and clamps to [0, 1] (paper: "Gaussian
            noise with µ = 0, σ = 1"); ``"reference-wrap"`` clips the noise to [0, 1], adds it and
            wraps modulo 256 as the reference's uint8 conversion did (colourful speckle).
        translate: ``"object"`` places the object's alpha box at position ``int(U·free)`` per
            axis, ``free`` = canvas side minus box side, so the object stays inside (reference
            ``RandomTranslate`` with a bounding box); ``"image"`` shifts the whole image by
            ``round(U(-f, f)·size)`` px per axis (CIFAR; uncovered pixels become transparent);
            ``"image-reference"`` reproduces the reference's CIFAR shift, right/down only by
            ``int(U·f·size) - int(-f·size/2)`` px (4–13 px at 32 px with the reference's f = 0.3).
        image_translate_fraction: ``f`` above, in [0, 1]. 0.3: the paper's CIFAR translation "by
            up to 30 % of the image size along each axis" (App. D.1), i.e. ±30 %.
        pixelate_fraction: the side is box-down-sampled to ``int(fraction·size)`` px and
            nearest-up-sampled back (paper Fig. 5: "to half resolution" = 0.5; reference 0.3).
        contrast_mean: the grey level ``contrast`` blends with. ``"canvas"`` (reference): Pillow's
            ``ImageEnhance.Contrast`` mean of the whole canvas, transparent area as black, i.e.
            the mean of the integer luma ``(19595 R + 38470 G + 7471 B + 2^15) >> 16`` of the
            uint8 pixels, rounded to an integer level; ``"object"``: the alpha-weighted mean
            luma of the object pixels only.
        probability: p(apply) of the Bernoulli-type transformations (flips, grayscale, posterize,
            invert, sharpen, noise, pixelate, elastic, erasing); 0.5 in the paper.
    """

    resample: Literal["nearest", "bilinear"] = "nearest"
    scale_resample: Literal["bicubic", "bilinear"] = "bicubic"
    noise: Literal["gaussian", "reference-wrap"] = "gaussian"
    translate: Literal["object", "image", "image-reference"] = "object"
    image_translate_fraction: float = 0.3
    pixelate_fraction: float = 0.5
    contrast_mean: Literal["canvas", "object"] = "canvas"
    probability: float = 0.5

    def __post_init__(self) -> None:
        for name, allowed in (
            ("resample", _RESAMPLE),
            ("scale_resample", _SCALE_RESAMPLE),
            ("noise", _NOISE),
            ("translate", _TRANSLATE),
            ("contrast_mean", _CONTRAST_MEAN),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"TransformOptions.{name}: unknown value {value!r}; use one of {list(allowed)}"
                )
        for name, low, high, low_open in (
            ("image_translate_fraction", 0.0, 1.0, False),
            ("pixelate_fraction", 0.0, 1.0, True),
            ("probability", 0.0, 1.0, False),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"TransformOptions.{name} must be a number, got {type(value).__name__}"
                )
            if not (low < value <= high if low_open else low <= value <= high):
                bracket = "(" if low_open else "["
                raise ValueError(
                    f"TransformOptions.{name} must be in {bracket}{low}, {high}], got {value}"
                )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> TransformOptions:
        """Build options from a config mapping; unknown keys are an error, never ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"TransformOptions: unknown option(s) {unknown}; valid options are {sorted(known)}"
            )
        return cls(**values)  # type: ignore[arg-type]


SampleFn = Callable[[CounterRNG, TransformOptions], Params]
ApplyFn = Callable[[Tensor, Mapping[str, Tensor], TransformOptions], Tensor]


@dataclass(frozen=True)
class TransformSpec:
    """One transformation type: how to sample its parameters and how to apply them.

    ``columns`` are the keys of the sampled dict that are per-sample scalars, stored as Parquet
    columns ``"<name>.<column>"``. ``continuous`` says that the parameter is continuous, so 16
    identical inputs give 16 different outputs (Bernoulli-type transformations are not).
    """

    name: str
    category: Category
    sample: SampleFn
    apply: ApplyFn
    columns: tuple[str, ...]
    continuous: bool


TRANSFORMS: dict[str, TransformSpec] = {}
CATEGORIES: dict[str, tuple[str, ...]] = {c: () for c in get_args(Category)}


def register_transform(spec: TransformSpec) -> TransformSpec:
    """Add ``spec`` to :data:`TRANSFORMS` and :data:`CATEGORIES`; a duplicate name is an error."""
    if not isinstance(spec, TransformSpec):
        raise TypeError(f"register_transform expects a TransformSpec, got {type(spec).__name__}")
    if not isinstance(spec.name, str) or not spec.name or "." in spec.name or spec.name == "none":
        raise ValueError(
            f"transformation name {spec.name!r} is invalid: use a non-empty name without '.', "
            "other than 'none'"
        )
    if spec.name in TRANSFORMS:
        raise ValueError(f"transformation {spec.name!r} is already registered")
    if spec.category not in CATEGORIES:
        raise ValueError(
            f"transformation {spec.name!r}: unknown category {spec.category!r}; "
            f"use one of {list(CATEGORIES)}"
        )
    if not isinstance(spec.columns, tuple) or not all(isinstance(c, str) for c in spec.columns):
        raise TypeError(f"transformation {spec.name!r}: columns must be a tuple of str")
    TRANSFORMS[spec.name] = spec
    CATEGORIES[spec.category] = (*CATEGORIES[spec.category], spec.name)
    return spec


def get_transform(name: str) -> TransformSpec:
    """The registered spec for ``name``; an unknown name raises ``ValueError`` listing valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"transformation name must be a str, got {type(name).__name__}")
    try:
        return TRANSFORMS[name]
    except KeyError:
        hint = " ('none' is not a transformation: use an empty list)" if name == "none" else ""
        raise ValueError(
            f"unknown transformation {name!r}{hint}; valid names are {list(TRANSFORMS)}"
        ) from None


def _check_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(
            f"names must be a list of transformation names, got {type(names).__name__} "
            f"{names!r} (wrap a single name in a list)"
        )
    names = list(names)
    for name in names:
        get_transform(name)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"names: transformation(s) {duplicates} listed more than once in {names}")
    return names


def canonical_order(names: Sequence[str]) -> list[str]:
    """``names`` sorted in registry order (geometric → photometric → corruption, as in the paper)."""
    names = _check_names(names)
    order = {name: i for i, name in enumerate(TRANSFORMS)}
    return sorted(names, key=order.__getitem__)


def apply_transforms(
    images: Tensor,
    names: Sequence[str],
    rng: CounterRNG,
    options: TransformOptions | None = None,
) -> tuple[Tensor, dict[str, np.ndarray]]:
    """Sample and apply the transformations ``names`` (in the given order) to ``images``.

    Each type draws from ``rng.child(name)``, so adding a type to a list does not change the
    parameters of the others. Returns the transformed images (a new tensor, also for an empty list)
    and the scalar parameter columns ``"<name>.<column>"`` as 1-D NumPy arrays of length ``n``.
    """
    options = TransformOptions() if options is None else options
    if not isinstance(options, TransformOptions):
        raise TypeError(f"options must be TransformOptions, got {type(options).__name__}")
    if not isinstance(rng, CounterRNG):
        raise TypeError(f"rng must be an invtransfer.rng.CounterRNG, got {type(rng).__name__}")
    names = _check_names(names)
    _check_images(images, "apply_transforms")
    if rng.n != images.shape[0]:
        raise ValueError(
            f"apply_transforms: rng draws for {rng.n} samples but images has {images.shape[0]}"
        )
    if images.numel():
        low, high = torch.aminmax(images)
        if low < 0 or high > 1:
            raise ValueError(
                f"apply_transforms: image values must be in [0, 1], got [{low.item()}, "
                f"{high.item()}] (convert uint8 with images.float() / 255)"
            )
    out = images.clone()
    columns: dict[str, np.ndarray] = {}
    for name in names:
        spec = TRANSFORMS[name]
        params = spec.sample(rng.child(name), options)
        out = spec.apply(out, params, options)
        for column in spec.columns:
            columns[f"{name}.{column}"] = params[column].detach().cpu().numpy()
    return out, columns


# --- validation helpers ----------------------------------------------------------------------------


def _check_images(images: Tensor, where: str) -> None:
    if not isinstance(images, Tensor):
        raise TypeError(f"{where}: images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 4:
        raise TypeError(
            f"{where}: images must have shape N×4×H×W (RGBA object layer), "
            f"got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise TypeError(
            f"{where}: images must be a float tensor in [0, 1], got {images.dtype} "
            "(convert uint8 with images.float() / 255)"
        )


def _param(
    params: Mapping[str, Tensor],
    key: str,
    where: str,
    n: int,
    like: Tensor,
    *,
    low: float | None = None,
    high: float | None = None,
) -> Tensor:
    """``params[key]`` as a tensor of shape (n,) on ``like``'s device (float params in its dtype)."""
    if key not in params:
        raise ValueError(f"{where}: params lack {key!r} (got keys {sorted(params)})")
    value = params[key]
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise TypeError(f"{where}: params[{key!r}] must be a tensor, got {type(value).__name__}")
    if value.shape != (n,):
        raise TypeError(
            f"{where}: params[{key!r}] must have shape ({n},), got {tuple(value.shape)}"
        )
    if value.is_floating_point():
        if n and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{where}: params[{key!r}] contains non-finite values")
        if n and low is not None and float(value.min()) < low:
            raise ValueError(f"{where}: params[{key!r}] must be >= {low}, got {float(value.min())}")
        if n and high is not None and float(value.max()) > high:
            raise ValueError(
                f"{where}: params[{key!r}] must be <= {high}, got {float(value.max())}"
            )
        return value.to(device=like.device, dtype=like.dtype)
    return value.to(device=like.device)


def _flag(params: Mapping[str, Tensor], where: str, like: Tensor) -> Tensor:
    applied = _param(params, "applied", where, like.shape[0], like)
    if applied.dtype != torch.bool:
        raise TypeError(f"{where}: params['applied'] must be bool, got {applied.dtype}")
    return applied


def _seeds(params: Mapping[str, Tensor], where: str, like: Tensor) -> Tensor:
    seeds = _param(params, "seed", where, like.shape[0], like)
    if seeds.dtype != torch.int64:
        raise TypeError(f"{where}: params['seed'] must be int64, got {seeds.dtype}")
    return seeds


def _kernel(name: str) -> Callable[[Callable[..., Tensor]], ApplyFn]:
    """Wrap an apply function: validate the images, compute half precision in float32, keep dtype."""

    def wrap(fn: Callable[..., Tensor]) -> ApplyFn:
        def apply(
            images: Tensor, params: Mapping[str, Tensor], options: TransformOptions | None = None
        ) -> Tensor:
            where = f"apply_{name}"
            _check_images(images, where)
            options = TransformOptions() if options is None else options
            if not isinstance(options, TransformOptions):
                raise TypeError(
                    f"{where}: options must be TransformOptions, got {type(options).__name__}"
                )
            if not isinstance(params, Mapping):
                raise TypeError(f"{where}: params must be a dict, got {type(params).__name__}")
            work = images if images.dtype in (torch.float32, torch.float64) else images.float()
            out = fn(work, params, options, where)
            return out.to(images.dtype)

        apply.__name__ = apply.__qualname__ = f"apply_{name}"
        apply.__doc__ = fn.__doc__
        return apply

    return wrap


# --- shared building blocks ------------------------------------------------------------------------


def _split(images: Tensor) -> tuple[Tensor, Tensor]:
    return images[:, :3], images[:, 3:]


def _object_only(rgb: Tensor, alpha: Tensor) -> Tensor:
    """Keep RGB = 0 on transparent pixels (photometric ops change object pixels only).

    A multiply by the 0/1 mask, not ``torch.where``: several times faster on CPU, and exact for
    the finite values used here.
    """
    return rgb * (alpha > 0)


def _with_rgb(images: Tensor, rgb: Tensor) -> Tensor:
    """A copy of ``images`` with the colour channels replaced (alpha kept as is)."""
    out = torch.empty_like(images)
    out[:, :3] = rgb
    out[:, 3:] = images[:, 3:]
    return out


def _premultiply(images: Tensor) -> Tensor:
    out = images.clone()
    out[:, :3] *= images[:, 3:]
    return out


def _unpremultiply(images: Tensor) -> Tensor:
    """Straight colour from premultiplied; alpha below ``_ALPHA_EMPTY`` (numerical dust from
    filter tails, far below one uint8 step) becomes exactly transparent black."""
    prem, alpha = _split(images)
    alpha = alpha.clamp(max=1.0) * (alpha >= _ALPHA_EMPTY)
    inverse = (alpha > 0) / alpha.clamp(min=_ALPHA_EMPTY)  # 1/alpha, 0 where transparent
    out = torch.empty(images.shape, dtype=images.dtype, device=images.device)  # contiguous
    torch.mul(prem, inverse, out=out[:, :3])
    out[:, :3].clamp_(0.0, 1.0)
    out[:, 3:] = alpha
    return out


def _on_subset(images: Tensor, applied: Tensor, fn: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``fn(images[applied], positions)`` scattered into a copy; skips the work for the others."""
    out = images.clone()
    positions = applied.nonzero().flatten()
    if positions.numel():
        out[positions] = fn(images[positions], positions)
    return out


def _alpha_box(alpha: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample inclusive bounding box ``(x0, x1, y0, y1)`` (int64) of the visible alpha.

    An empty layer gets the whole canvas, so it is neither moved nor flipped off-centre.
    """
    alpha = alpha[:, 0]  # N×H×W
    _, h, w = alpha.shape
    cols = alpha.amax(dim=1) > _ALPHA_VISIBLE  # N×W
    rows = alpha.amax(dim=2) > _ALPHA_VISIBLE  # N×H

    def bounds(mask: Tensor, size: int) -> tuple[Tensor, Tensor]:
        idx = torch.arange(size, device=mask.device)
        low = torch.where(mask, idx, size).amin(dim=1)
        high = torch.where(mask, idx, -1).amax(dim=1)
        empty = high < 0
        return torch.where(empty, 0, low), torch.where(empty, size - 1, high)

    x0, x1 = bounds(cols, w)
    y0, y1 = bounds(rows, h)
    return x0, x1, y0, y1


def _remap(images: Tensor, src_y: Tensor, src_x: Tensor) -> Tensor:
    """Integer, separable remap: ``out[n, :, y, x] = images[n, :, src_y[n, y], src_x[n, x]]``.

    Out-of-canvas sources give 0 (transparent). Exact (a gather), used for translate and flips.
    """
    n, c, h, w = images.shape
    valid_y = ((src_y >= 0) & (src_y < h)).to(images.dtype)
    valid_x = ((src_x >= 0) & (src_x < w)).to(images.dtype)
    flat = src_y.clamp(0, h - 1)[:, :, None] * w + src_x.clamp(0, w - 1)[:, None, :]  # N×H×W
    out = images.reshape(n, c, h * w).gather(2, flat.reshape(n, 1, h * w).expand(n, c, h * w))
    return out.reshape(n, c, h, w) * (valid_y[:, None, :, None] * valid_x[:, None, None, :])


def _warp(images: Tensor, inverse: Tensor, mode: str) -> Tensor:
    """Affine warp with per-sample 2×3 ``inverse`` maps (output pixel → input pixel coordinates).

    Pixel centres are at integer coordinates; ``grid_sample`` with ``align_corners=False`` and
    zero padding (transparent), as torchvision's tensor affine/rotate. Bilinear works on
    premultiplied colour; nearest copies pixels exactly.
    """
    n, _, h, w = images.shape
    dtype, device = images.dtype, images.device
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=dtype, device=device),
        torch.arange(w, dtype=dtype, device=device),
        indexing="ij",
    )
    base = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, h * w, 3)
    src = base @ inverse.to(dtype).transpose(1, 2)  # N×HW×2, input pixel coordinates
    scale = torch.tensor([2.0 / w, 2.0 / h], dtype=dtype, device=device)
    grid = ((src + 0.5) * scale - 1.0).reshape(n, h, w, 2)
    if mode == "nearest":
        return F.grid_sample(
            images, grid, mode="nearest", padding_mode="zeros", align_corners=False
        )
    out = F.grid_sample(
        _premultiply(images), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return _unpremultiply(out)


def _inverse_affine(
    angle: Tensor, shear_x: Tensor, shear_y: Tensor, cx: Tensor, cy: Tensor
) -> Tensor:
    """torchvision's ``_get_inverse_affine_matrix`` (scale 1, no translation), batched: N×2×3.

    Angles in degrees; the centre ``(cx, cy)`` in pixel coordinates. Computed in float64 (tiny).
    """
    rot, sx, sy = (torch.deg2rad(t.double()) for t in (angle, shear_x, shear_y))
    cx, cy = cx.double(), cy.double()
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -(a * torch.tan(sx) + torch.sin(rot))
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = torch.cos(rot) - c * torch.tan(sx)
    m00, m01, m10, m11 = d, -b, -c, a
    t0 = cx - m00 * cx - m01 * cy
    t1 = cy - m10 * cx - m11 * cy
    return torch.stack([m00, m01, t0, m10, m11, t1], dim=1).reshape(-1, 2, 3)


def _box_centre(images: Tensor) -> tuple[Tensor, Tensor]:
    x0, x1, y0, y1 = _alpha_box(images[:, 3:])
    return (x0 + x1).double() / 2, (y0 + y1).double() / 2


def _gaussian_kernels(sigma: Tensor, size: int) -> Tensor:
    """Normalised 1-D Gaussian kernels of ``size`` taps for each sigma: N×size (torchvision)."""
    x = torch.arange(size, dtype=sigma.dtype, device=sigma.device) - (size - 1) / 2
    k = torch.exp(-0.5 * (x[None, :] / sigma[:, None]) ** 2)
    return k / k.sum(dim=1, keepdim=True)


@lru_cache(maxsize=64)
def _reflect_taps_np(size: int, taps: int) -> np.ndarray:
    """0/1 matrices (taps × size × size): tap ``t`` of output ``i`` reads reflect-padded source
    pixel ``reflect(i + t - taps//2)`` (as ``torch.nn.functional.pad(mode="reflect")``, also for
    ``taps//2 >= size``)."""
    pad = taps // 2
    idx = np.arange(-pad, size + pad)
    if size == 1:
        src = np.zeros_like(idx)
    else:
        period = 2 * (size - 1)
        src = np.remainder(idx, period)
        src = np.where(src < size, src, period - src)
    mats = np.zeros((taps, size, size))
    for t in range(taps):
        np.add.at(mats[t], (np.arange(size), src[np.arange(size) + t]), 1.0)
    return mats


def _reflect_conv_matrix(kernels: Tensor, size: int) -> Tensor:
    """Per-sample ``size×size`` matrices ``B`` with ``B @ v`` = 1-D convolution of ``v`` with the
    kernel under reflect padding (``kernels``: N×taps). Blurring as two small matmuls
    (``B_y @ X @ B_xᵀ``) is exact per sample, batches freely and beats a grouped convolution for
    long kernels (elastic, 41 taps); ``B = Σ_t kernel_t·P_t`` is a deterministic matmul.
    """
    n, taps = kernels.shape
    basis = torch.tensor(_reflect_taps_np(size, taps), dtype=kernels.dtype)
    basis = basis.to(kernels.device).reshape(taps, size * size)
    return (kernels @ basis).reshape(n, size, size)


def _separable(images: Tensor, mat_y: Tensor, mat_x: Tensor) -> Tensor:
    """``mat_y @ images @ mat_xᵀ`` per sample (matrices N×H×H and N×W×W, or shared H×H, W×W).

    Per-sample matrices are applied as two ``bmm`` over (N, C·H, W) and (N, C·W, H) stacks: ~10×
    faster on CPU than broadcasting ``matmul`` over N·C tiny 32×32 products.
    """
    if mat_y.ndim == 2:
        return mat_y @ images @ mat_x.transpose(-1, -2)
    n, c, h, w = images.shape
    rows = torch.bmm(images.reshape(n, c * h, w), mat_x.transpose(1, 2)).reshape(n, c, h, w)
    cols = rows.transpose(2, 3).reshape(n, c * w, h)
    out = torch.bmm(cols, mat_y.transpose(1, 2)).reshape(n, c, w, h)
    return out.transpose(2, 3)  # a strided view; the next pointwise op writes it contiguously


def _field_words(seeds: Tensor, count: int) -> np.ndarray:
    """``count`` SplitMix64 words per seed: word ``j`` is ``splitmix64(seed + (j+1)·φ)``.

    The same construction as ``CounterRNG.bits``; a field is therefore a pure function of the
    stored per-sample seed and the image size, identical on every device.
    """
    base = seeds.detach().cpu().numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        ctr = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
        return splitmix64(base[:, None] + ctr[None, :])


def _field_uniform(seeds: Tensor, count: int) -> Tensor:
    """U[0, 1) float32 field (m × count): the high 24 bits of all words, then their low 24 bits."""
    words = _field_words(seeds, (count + 1) // 2)
    hi = (words >> np.uint64(40)).astype(np.float32)
    lo = ((words >> np.uint64(8)) & np.uint64(0xFFFFFF)).astype(np.float32)
    u = np.concatenate([hi, lo], axis=1)[:, :count]
    return torch.from_numpy(u) * (1.0 / (1 << 24))


def _field_normal(seeds: Tensor, count: int) -> Tensor:
    """N(0, 1) float32 field (m × count) by Box–Muller: word j gives u1 ∈ (0, 1] and u2 ∈ [0, 1)
    (its high and low 24 bits); the field is all ``r·cos θ`` values, then all ``r·sin θ``."""
    words = _field_words(seeds, (count + 1) // 2)
    u1 = torch.from_numpy(((words >> np.uint64(40)) + np.uint64(1)).astype(np.float32))
    u2 = torch.from_numpy(((words >> np.uint64(8)) & np.uint64(0xFFFFFF)).astype(np.float32))
    radius = torch.sqrt(-2.0 * torch.log(u1 * (1.0 / (1 << 24))))
    theta = u2 * (2.0 * math.pi / (1 << 24))
    return torch.cat([radius * torch.cos(theta), radius * torch.sin(theta)], dim=1)[:, :count]


def _luma(rgb: Tensor) -> Tensor:
    r, g, b = rgb.unbind(dim=1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def _bernoulli(rng: CounterRNG, options: TransformOptions) -> Params:
    return {"applied": rng.bernoulli("applied", options.probability)}


# --- geometric -------------------------------------------------------------------------------------


def sample_scale(rng: CounterRNG, options: TransformOptions) -> Params:
    """Scale factor U(0.4, 1.0) of the current (default) object size."""
    return {"factor": rng.uniform("factor", low=SCALE_RANGE[0], high=SCALE_RANGE[1])}


def _filter(distance: Tensor, kind: str) -> Tensor:
    """Resampling filter at ``distance`` (in filter units): triangle (bilinear) or Keys cubic with
    a = -0.5 (Pillow's and torchvision's antialiased bicubic)."""
    d = distance.abs()
    if kind == "bilinear":
        return torch.clamp(1.0 - d, min=0.0)
    a = -0.5
    near = ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
    far = ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
    return torch.where(d < 1.0, near, torch.where(d < 2.0, far, torch.zeros_like(d)))


def _resize_matrices(factor: Tensor, centre: Tensor, size: int, kind: str = "bicubic") -> Tensor:
    """Per-sample ``size×size`` resampling matrices scaling by ``factor`` about ``centre``.

    The filter (``kind``: ``"bicubic"`` or ``"bilinear"``) is stretched by ``max(1, 1/factor)`` —
    Pillow's/torchvision's antialiased resize — and normalised over all its taps, so sources
    outside the canvas count as transparent instead of being renormalised away. ``factor`` 1
    gives the identity.
    """
    stretch = torch.clamp(1.0 / factor, min=1.0)  # filter scale in source pixels
    radius = 2.0 if kind == "bicubic" else 1.0  # filter support in filter units
    reach = math.ceil(radius * float(stretch.max())) + 1 if factor.numel() else 1
    out = torch.arange(size, dtype=factor.dtype, device=factor.device)
    src = centre[:, None] + (out[None, :] - centre[:, None]) / factor[:, None]  # N×size
    taps = torch.arange(-reach, reach + 1, dtype=factor.dtype, device=factor.device)
    cols = torch.floor(src)[:, :, None] + taps  # N×size×T: every source pixel the filter reaches
    stretch = stretch[:, None, None]
    norm = _filter((cols - src[:, :, None]) / stretch, kind).sum(dim=2)
    j = torch.arange(size, dtype=factor.dtype, device=factor.device)
    weight = _filter((j - src[:, :, None]) / stretch, kind)  # N×size×size
    return weight / norm[:, :, None]  # sources outside the canvas are transparent: not renormalised


@_kernel("scale")
def apply_scale(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Scale the object about its alpha-box centre by ``params['factor']`` (antialiased,
    ``options.scale_resample``)."""
    n, _, h, w = images.shape
    factor = _param(params, "factor", where, n, images, low=0.05)
    cx, cy = _box_centre(images)
    kind = options.scale_resample
    mat_y = _resize_matrices(factor, cy.to(images.dtype), h, kind)
    mat_x = _resize_matrices(factor, cx.to(images.dtype), w, kind)
    return _unpremultiply(_separable(_premultiply(images), mat_y, mat_x))


def sample_translate(rng: CounterRNG, options: TransformOptions) -> Params:
    """Position parameters u_x, u_y ~ U[0, 1), mapped onto the position range by ``apply``."""
    return {"u_x": rng.uniform("u_x"), "u_y": rng.uniform("u_y")}


def _translate_shift(
    u: Tensor, low: Tensor, high: Tensor, size: int, options: TransformOptions
) -> Tensor:
    if options.translate == "object":
        # reference RandomTranslate: position int(U·free), free = size - box side, so 0..free-1
        # (the box never touches the right/bottom edge, as in the reference; 0 when free = 0)
        free = size - (high - low + 1)
        pos = torch.floor(u * free).long().clamp(max=free)
        return pos - low
    reach = options.image_translate_fraction * size
    if options.translate == "image":
        return torch.round((2.0 * u.double() - 1.0) * reach).long()
    # image-reference: pos = int(U·range), bb = int(-range/2), shift = pos - bb (right/down only)
    return torch.floor(u.double() * reach).long() - int(-reach / 2)


@_kernel("translate")
def apply_translate(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Move by whole pixels: the object box to a uniform position ``int(u·free)`` inside the
    canvas, or (CIFAR) the whole image, uncovered pixels becoming transparent (see
    ``TransformOptions.translate``)."""
    n, _, h, w = images.shape
    u_x = _param(params, "u_x", where, n, images, low=0.0, high=1.0)
    u_y = _param(params, "u_y", where, n, images, low=0.0, high=1.0)
    x0, x1, y0, y1 = _alpha_box(images[:, 3:])
    dx = _translate_shift(u_x, x0, x1, w, options)
    dy = _translate_shift(u_y, y0, y1, h, options)
    src_x = torch.arange(w, device=images.device)[None, :] - dx[:, None]
    src_y = torch.arange(h, device=images.device)[None, :] - dy[:, None]
    return _remap(images, src_y, src_x)


def _flip(images: Tensor, params: Mapping[str, Tensor], where: str, axis: str) -> Tensor:
    """Mirror the applied samples about their box centre along ``axis`` ("x" or "y").

    A reflection about the box centre is a canvas flip followed by an integer shift of
    ``x0 + x1 - (size - 1)``; boxes centred on the canvas (the default layout, whole images) need
    no shift, so only the others go through the slower gather.
    """
    applied = _flag(params, where, images)
    dim = -1 if axis == "x" else -2

    def flip(sub: Tensor, _positions: Tensor) -> Tensor:
        h, w = sub.shape[-2:]
        x0, x1, y0, y1 = _alpha_box(sub[:, 3:])
        shift = (x0 + x1 - (w - 1)) if axis == "x" else (y0 + y1 - (h - 1))
        out = sub.flip(dim)
        moved = shift.nonzero().flatten()
        if moved.numel():
            k = moved.numel()
            src_x = torch.arange(w, device=sub.device).expand(k, w)
            src_y = torch.arange(h, device=sub.device).expand(k, h)
            if axis == "x":
                src_x = src_x - shift[moved, None]
            else:
                src_y = src_y - shift[moved, None]
            out[moved] = _remap(out[moved], src_y, src_x)
        return out

    return _on_subset(images, applied, flip)


@_kernel("v_flip")
def apply_v_flip(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Flip upside down about the object's box centre where ``applied`` (position kept)."""
    return _flip(images, params, where, "y")


@_kernel("h_flip")
def apply_h_flip(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Mirror left-right about the object's box centre where ``applied`` (position kept)."""
    return _flip(images, params, where, "x")


def sample_rotate(rng: CounterRNG, options: TransformOptions) -> Params:
    """Angle U(0, 360) degrees, counter-clockwise (torchvision ``rotate``)."""
    return {"angle": rng.uniform("angle", low=ROTATE_RANGE[0], high=ROTATE_RANGE[1])}


@_kernel("rotate")
def apply_rotate(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Rotate counter-clockwise by ``angle`` degrees about the box centre (``options.resample``)."""
    n = images.shape[0]
    angle = _param(params, "angle", where, n, images)
    cx, cy = _box_centre(images)
    zero = torch.zeros_like(cx)
    # torchvision's rotate passes -angle to the affine matrix ("incoherent" directions there)
    inverse = _inverse_affine(-angle, zero, zero, cx, cy)
    return _warp(images, inverse, options.resample)


def sample_shear(rng: CounterRNG, options: TransformOptions) -> Params:
    """Shear angles x and y, each U(-50, 50) degrees (torchvision ``RandomAffine(shear=...)``)."""
    return {
        "shear_x": rng.uniform("shear_x", low=SHEAR_RANGE[0], high=SHEAR_RANGE[1]),
        "shear_y": rng.uniform("shear_y", low=SHEAR_RANGE[0], high=SHEAR_RANGE[1]),
    }


@_kernel("shear")
def apply_shear(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Shear by ``shear_x``/``shear_y`` degrees about the box centre, torchvision ``affine``
    convention (SHy·SHx, |angle| < 90)."""
    n = images.shape[0]
    sx = _param(params, "shear_x", where, n, images, low=-89.0, high=89.0)
    sy = _param(params, "shear_y", where, n, images, low=-89.0, high=89.0)
    cx, cy = _box_centre(images)
    inverse = _inverse_affine(torch.zeros_like(cx), sx, sy, cx, cy)
    return _warp(images, inverse, options.resample)


# --- photometric -----------------------------------------------------------------------------------


def sample_hue(rng: CounterRNG, options: TransformOptions) -> Params:
    """Hue shift U(-0.5, 0.5) of the hue circle (``ColorJitter(hue=0.5)``)."""
    return {"factor": rng.uniform("factor", low=HUE_RANGE[0], high=HUE_RANGE[1])}


@_kernel("hue")
def apply_hue(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Shift the HSV hue by ``factor`` (torchvision ``adjust_hue``), object pixels only.

    RGB→HSV follows torchvision (Pillow's sextant formula); HSV→RGB uses the closed form
    ``v·(1 - s·(1 - pure(H)))`` with the pure hue ``clamp(|H-3|-1)``, ``clamp(2-|H-2|)``,
    ``clamp(2-|H-4|)`` for H = 6h ∈ [0, 6), equal to torchvision's sector table (tested to 1e-5)
    and free of gathers.
    """
    n = images.shape[0]
    factor = _param(params, "factor", where, n, images, low=-0.5, high=0.5)
    r, g, b = images[:, 0], images[:, 1], images[:, 2]  # N×H×W each
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    span = maxc - minc
    # hue in sextants [-1, 5) as torchvision (Pillow's formula). 0/1 float masks and per-channel
    # writes instead of torch.where/stack: those are several times slower on CPU.
    is_r = (maxc == r).to(images.dtype)
    is_g = (maxc == g).to(images.dtype).mul_(1.0 - is_r)
    is_b = 1.0 - is_r - is_g
    hue = is_r * (g - b) + is_g * (2.0 * span + b - r) + is_b * (4.0 * span + r - g)
    hue /= span + (span == 0).to(images.dtype)  # grey pixels: numerator 0, hue 0
    sat = span / maxc.clamp(min=torch.finfo(images.dtype).tiny)
    hue6 = torch.remainder(hue + 6.0 * factor.view(-1, 1, 1), 6.0)  # shifted hue in [0, 6)
    # HSV → RGB: v·(1 - s·(1 - pure)), pure hue = clamp(|H-3|-1), clamp(2-|H-2|), clamp(2-|H-4|)
    value = maxc * (images[:, 3] > 0).to(images.dtype)  # object pixels only: transparent → 0
    out = torch.empty_like(images)
    for c, pure in enumerate(
        ((hue6 - 3.0).abs_() - 1.0, 2.0 - (hue6 - 2.0).abs_(), 2.0 - (hue6 - 4.0).abs_())
    ):
        out[:, c] = pure.clamp_(0.0, 1.0).sub_(1.0).mul_(sat).add_(1.0).mul_(value).clamp_(0.0, 1.0)
    out[:, 3] = images[:, 3]
    return out


def sample_brightness(rng: CounterRNG, options: TransformOptions) -> Params:
    """Brightness factor U(0, 2) (``ColorJitter(brightness=1.0)``)."""
    return {"factor": rng.uniform("factor", low=BRIGHTNESS_RANGE[0], high=BRIGHTNESS_RANGE[1])}


@_kernel("brightness")
def apply_brightness(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Multiply RGB by ``factor`` and clamp (torchvision ``adjust_brightness``)."""
    factor = _param(params, "factor", where, images.shape[0], images, low=0.0)
    return _with_rgb(images, (images[:, :3] * factor.view(-1, 1, 1, 1)).clamp_(0.0, 1.0))


def sample_grayscale(rng: CounterRNG, options: TransformOptions) -> Params:
    """Grayscale with probability ``options.probability`` (``RandomGrayscale(p=0.5)``)."""
    return _bernoulli(rng, options)


@_kernel("grayscale")
def apply_grayscale(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Replace RGB by the 601-2 luma (torchvision weights) in all three channels where applied."""
    applied = _flag(params, where, images)
    return _on_subset(
        images, applied, lambda sub, _: _with_rgb(sub, _luma(sub[:, :3]).clamp_(0.0, 1.0))
    )


def sample_posterize(rng: CounterRNG, options: TransformOptions) -> Params:
    """Posterize to 1 bit with probability ``options.probability`` (``RandomPosterize(bits=1)``)."""
    return _bernoulli(rng, options)


@_kernel("posterize")
def apply_posterize(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Keep ``POSTERIZE_BITS`` bits per channel (torchvision float ``posterize``: {0, 0.5})."""
    applied = _flag(params, where, images)
    levels = 1 << POSTERIZE_BITS

    def posterize(sub: Tensor, _: Tensor) -> Tensor:
        poster = torch.floor(sub[:, :3] * levels).clamp_(0, levels - 1).mul_(1.0 / levels)
        return _with_rgb(sub, poster)

    return _on_subset(images, applied, posterize)


def sample_invert(rng: CounterRNG, options: TransformOptions) -> Params:
    """Invert with probability ``options.probability`` (``RandomInvert()``)."""
    return _bernoulli(rng, options)


@_kernel("invert")
def apply_invert(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """``1 - RGB`` on object pixels where applied; transparent pixels stay black."""
    applied = _flag(params, where, images)
    return _on_subset(
        images, applied, lambda sub, _: _with_rgb(sub, _object_only(1.0 - sub[:, :3], sub[:, 3:]))
    )


def sample_sharpen(rng: CounterRNG, options: TransformOptions) -> Params:
    """Sharpen (factor 7) with probability ``options.probability`` (``RandomAdjustSharpness``)."""
    return _bernoulli(rng, options)


@_kernel("sharpen")
def apply_sharpen(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """torchvision ``adjust_sharpness(7)`` on RGB: blend with the 3×3 smoothed image (1-px border
    kept), object pixels only. Transparent neighbours count as black, as in the reference."""
    applied = _flag(params, where, images)
    _, _, h, w = images.shape
    if h <= 2 or w <= 2:
        return images.clone()

    def sharpen(sub: Tensor, _: Tensor) -> Tensor:
        rgb, alpha = _split(sub)
        # torchvision's kernel [[1,1,1],[1,5,1],[1,1,1]]/13 as a separable 3×3 box sum plus 4·centre
        rows = rgb[:, :, :, :-2] + rgb[:, :, :, 1:-1] + rgb[:, :, :, 2:]
        box = rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]
        smooth = box.add_(rgb[:, :, 1:-1, 1:-1], alpha=4.0).mul_(1.0 / 13.0)
        out = rgb.clone()
        inner = out[:, :, 1:-1, 1:-1]
        inner.mul_(SHARPNESS_FACTOR).add_(smooth, alpha=1.0 - SHARPNESS_FACTOR)
        return _with_rgb(sub, _object_only(out.clamp_(0.0, 1.0), alpha))

    return _on_subset(images, applied, sharpen)


# --- corruption ------------------------------------------------------------------------------------


def sample_blur(rng: CounterRNG, options: TransformOptions) -> Params:
    """Gaussian blur sigma U(0.1, 1.5) px, kernel 7 px (``GaussianBlur(7, (0.1, 1.5))``)."""
    return {"sigma": rng.uniform("sigma", low=BLUR_SIGMA_RANGE[0], high=BLUR_SIGMA_RANGE[1])}


@_kernel("blur")
def apply_blur(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Separable 7-tap Gaussian blur, reflect padding (torchvision ``gaussian_blur``), of
    premultiplied RGB and alpha, so the alpha edge softens like the reference's RGBA blur."""
    n, _, h, w = images.shape
    sigma = _param(params, "sigma", where, n, images, low=1e-3)
    kernels = _gaussian_kernels(sigma, BLUR_KERNEL)
    out = _separable(
        _premultiply(images), _reflect_conv_matrix(kernels, h), _reflect_conv_matrix(kernels, w)
    )
    return _unpremultiply(out)


def sample_noise(rng: CounterRNG, options: TransformOptions) -> Params:
    """Bernoulli(p) flag and a per-sample seed for the N(0, 1) field (drawn in ``apply``)."""
    params = _bernoulli(rng, options)
    params["seed"] = torch.from_numpy(rng.sample_seeds("field"))
    return params


@_kernel("noise")
def apply_noise(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Add N(0, σ=1) per pixel and channel to object pixels and clamp to [0, 1] (paper), or the
    reference's clipped noise with uint8 wrap-around (``options.noise='reference-wrap'``).

    The field of sample i is ``_field_normal(seed_i, 3·H·W)`` in C×H×W order.
    """
    applied = _flag(params, where, images)
    seeds = _seeds(params, where, images)
    _, _, h, w = images.shape

    def noisy(sub: Tensor, positions: Tensor) -> Tensor:
        rgb, alpha = _split(sub)
        field = _field_normal(seeds[positions], 3 * h * w).reshape(-1, 3, h, w)
        field = field.to(device=sub.device, dtype=sub.dtype) * NOISE_STD
        if options.noise == "gaussian":
            out = (rgb + field).clamp_(0.0, 1.0)
        else:  # reference: x + clip(N, 0, 1), then (x·255).astype(uint8) wraps modulo 256;
            # +1e-4 keeps k/255 inputs from flooring to k-1 through float32 rounding
            value = torch.floor((rgb + field.clamp(0.0, 1.0)) * 255.0 + 1e-4)
            out = torch.remainder(value, 256.0) * (1.0 / 255.0)
        return _with_rgb(sub, _object_only(out, alpha))

    return _on_subset(images, applied, noisy)


def sample_pixelate(rng: CounterRNG, options: TransformOptions) -> Params:
    """Pixelate with probability ``options.probability`` (to ``pixelate_fraction`` of the side)."""
    return _bernoulli(rng, options)


@lru_cache(maxsize=32)
def _pixelate_matrix_np(size: int, fraction: float) -> np.ndarray:
    """PIL ``resize((s, s), BOX)`` then ``resize((size, size), NEAREST)`` as one size×size matrix.

    PIL's BOX filter gives input pixel j (centre j + 0.5) to the output cell whose span
    ``(o·scale, (o+1)·scale]`` holds the centre; NEAREST up-sampling reads cell
    ``floor((i + 0.5)·s / size)``.
    """
    small = int(fraction * size)
    if small < 1:
        raise ValueError(
            f"pixelate: int(pixelate_fraction·size) = int({fraction}·{size}) = {small}; "
            "raise TransformOptions.pixelate_fraction"
        )
    scale = size / small
    cell_of_input = np.ceil((np.arange(size) + 0.5) / scale).astype(np.int64) - 1
    down = np.zeros((small, size))
    down[cell_of_input, np.arange(size)] = 1.0
    down /= down.sum(axis=1, keepdims=True)
    up_cell = np.floor((np.arange(size) + 0.5) * small / size).astype(np.int64)
    return down[up_cell]  # size×size


@_kernel("pixelate")
def apply_pixelate(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Box down-sample to ``int(pixelate_fraction·size)`` and nearest up-sample (premultiplied,
    as PIL resizes RGBA), alpha included, where applied."""
    applied = _flag(params, where, images)
    _, _, h, w = images.shape
    mat_y = torch.tensor(_pixelate_matrix_np(h, options.pixelate_fraction), dtype=images.dtype)
    mat_x = torch.tensor(_pixelate_matrix_np(w, options.pixelate_fraction), dtype=images.dtype)
    mat_y, mat_x = mat_y.to(images.device), mat_x.to(images.device)
    return _on_subset(
        images, applied, lambda sub, _: _unpremultiply(_separable(_premultiply(sub), mat_y, mat_x))
    )


def sample_elastic(rng: CounterRNG, options: TransformOptions) -> Params:
    """Bernoulli(p) flag and a per-sample seed for the displacement field (drawn in ``apply``)."""
    params = _bernoulli(rng, options)
    params["seed"] = torch.from_numpy(rng.sample_seeds("field"))
    return params


def _elastic_displacement(seeds: Tensor, h: int, w: int, device: torch.device, dtype) -> Tensor:
    """torchvision ``ElasticTransform(alpha=150, sigma=5)`` displacement for each seed: m×H×W×2.

    dx, dy ~ U[-1, 1) per pixel (``_field_uniform(seed, 2·H·W)``: dx first), each blurred with a
    Gaussian of ``int(8σ+1)|1`` taps under reflect padding, scaled by α/W and α/H; in the
    normalised coordinates of ``grid_sample`` (``align_corners=False``).
    """
    m = seeds.shape[0]
    field = _field_uniform(seeds, 2 * h * w).to(device=device, dtype=dtype).reshape(m, 2, h, w)
    field = field * 2.0 - 1.0
    taps = int(8 * ELASTIC_SIGMA + 1)
    taps += 1 - taps % 2
    kernel = _gaussian_kernels(torch.tensor([ELASTIC_SIGMA], dtype=dtype, device=device), taps)
    field = _separable(
        field, _reflect_conv_matrix(kernel, h)[0], _reflect_conv_matrix(kernel, w)[0]
    )
    scale = torch.tensor([ELASTIC_ALPHA / w, ELASTIC_ALPHA / h], dtype=dtype, device=device)
    return field.permute(0, 2, 3, 1) * scale


@_kernel("elastic")
def apply_elastic(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Elastic distortion (torchvision ``elastic`` semantics, bilinear, premultiplied, alpha
    warped too, uncovered area transparent) where applied."""
    applied = _flag(params, where, images)
    seeds = _seeds(params, where, images)
    _, _, h, w = images.shape

    def warp(sub: Tensor, positions: Tensor) -> Tensor:
        disp = _elastic_displacement(seeds[positions], h, w, sub.device, sub.dtype)
        ys = torch.linspace((1 - h) / h, (h - 1) / h, h, dtype=sub.dtype, device=sub.device)
        xs = torch.linspace((1 - w) / w, (w - 1) / w, w, dtype=sub.dtype, device=sub.device)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None] + disp
        out = F.grid_sample(
            _premultiply(sub), grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        return _unpremultiply(out)

    return _on_subset(images, applied, warp)


def sample_erasing(rng: CounterRNG, options: TransformOptions) -> Params:
    """Bernoulli(p) flag and the square's position u_x, u_y ~ U[0, 1)."""
    params = _bernoulli(rng, options)
    params["u_x"] = rng.uniform("u_x")
    params["u_y"] = rng.uniform("u_y")
    return params


@_kernel("erasing")
def apply_erasing(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Make a 14×14 px square transparent (alpha 0, RGB 0) at top-left ``floor(u·(size-14))``
    (the reference's ``int(U·(size-14))``: 0..17 at 32 px), where applied. It may miss the
    object, as in the reference."""
    n, _, h, w = images.shape
    if h < ERASING_SIZE or w < ERASING_SIZE:
        raise ValueError(
            f"{where}: images of {h}×{w} px are smaller than the {ERASING_SIZE}-px erasing square"
        )
    applied = _flag(params, where, images)
    u_x = _param(params, "u_x", where, n, images, low=0.0, high=1.0)
    u_y = _param(params, "u_y", where, n, images, low=0.0, high=1.0)
    left = torch.floor(u_x * (w - ERASING_SIZE)).clamp_(max=w - ERASING_SIZE)
    top = torch.floor(u_y * (h - ERASING_SIZE)).clamp_(max=h - ERASING_SIZE)
    xs = torch.arange(w, dtype=images.dtype, device=images.device)[None, :] - left[:, None]
    ys = torch.arange(h, dtype=images.dtype, device=images.device)[None, :] - top[:, None]
    # float 0/1 factors and an outer product: broadcasting bool ops are slow on CPU
    in_y = ((ys >= 0) & (ys < ERASING_SIZE)).to(images.dtype) * applied[:, None]
    in_x = ((xs >= 0) & (xs < ERASING_SIZE)).to(images.dtype)
    return images * (1.0 - in_y[:, None, :, None] * in_x[:, None, None, :])


def sample_contrast(rng: CounterRNG, options: TransformOptions) -> Params:
    """Contrast factor U(0, 2) (``ColorJitter(contrast=1.0)``)."""
    return {"factor": rng.uniform("factor", low=CONTRAST_RANGE[0], high=CONTRAST_RANGE[1])}


@_kernel("contrast")
def apply_contrast(
    images: Tensor, params: Mapping[str, Tensor], options: TransformOptions, where: str
) -> Tensor:
    """Blend RGB with a mean grey by ``factor`` (``adjust_contrast``), object pixels only.

    ``options.contrast_mean``: ``"canvas"`` is the reference's Pillow ``ImageEnhance.Contrast``
    on the RGB canvas (transparent area black): see :func:`_pil_canvas_mean`; ``"object"`` is the
    alpha-weighted mean luma of the object pixels.
    """
    factor = _param(params, "factor", where, images.shape[0], images, low=0.0).view(-1, 1, 1, 1)
    rgb, alpha = _split(images)
    if options.contrast_mean == "object":
        total = alpha.sum(dim=(1, 2, 3), keepdim=True)
        mean = (_luma(rgb) * alpha).sum(dim=(1, 2, 3), keepdim=True) / total.clamp_min(1e-12)
    else:
        mean = _pil_canvas_mean(rgb).to(images.dtype).view(-1, 1, 1, 1)
    out = (rgb * factor).add_(mean * (1.0 - factor)).clamp_(0.0, 1.0)
    return _with_rgb(images, _object_only(out, alpha))


def _pil_canvas_mean(rgb: Tensor) -> Tensor:
    """Pillow's contrast mean of each canvas (N×3×H×W in [0, 1]) as a level in [0, 1]: shape (N,).

    ``ImageEnhance.Contrast`` computes ``int(mean(L) + 0.5)`` over the ``"L"`` conversion, whose
    per-pixel luma is the integer ``(19595 R + 38470 G + 7471 B + 2^15) >> 16`` of the uint8
    channels (Pillow's ``L24``). Colours are rounded to uint8 first (the reference's images were
    uint8 at every step), and the sums are exact int64 arithmetic.
    """
    q = torch.round(rgb * 255.0).clamp_(0, 255).to(torch.int64)
    luma = (q[:, 0] * 19595 + q[:, 1] * 38470 + q[:, 2] * 7471 + 32768) >> 16  # N×H×W
    count = luma.shape[1] * luma.shape[2]
    total = luma.sum(dim=(1, 2))
    level = torch.div(2 * total + count, 2 * count, rounding_mode="floor")  # int(mean + 0.5)
    return level.to(torch.float64) / 255.0


# --- registry (paper order: Fig. 5, reference TRANSFORMS) ------------------------------------------

for _name, _category, _sample, _apply, _columns, _continuous in (
    ("scale", "geometric", sample_scale, apply_scale, ("factor",), True),
    ("translate", "geometric", sample_translate, apply_translate, ("u_x", "u_y"), True),
    ("v_flip", "geometric", _bernoulli, apply_v_flip, ("applied",), False),
    ("h_flip", "geometric", _bernoulli, apply_h_flip, ("applied",), False),
    ("rotate", "geometric", sample_rotate, apply_rotate, ("angle",), True),
    ("shear", "geometric", sample_shear, apply_shear, ("shear_x", "shear_y"), True),
    ("hue", "photometric", sample_hue, apply_hue, ("factor",), True),
    ("brightness", "photometric", sample_brightness, apply_brightness, ("factor",), True),
    ("grayscale", "photometric", sample_grayscale, apply_grayscale, ("applied",), False),
    ("posterize", "photometric", sample_posterize, apply_posterize, ("applied",), False),
    ("invert", "photometric", sample_invert, apply_invert, ("applied",), False),
    ("sharpen", "photometric", sample_sharpen, apply_sharpen, ("applied",), False),
    ("blur", "corruption", sample_blur, apply_blur, ("sigma",), True),
    ("noise", "corruption", sample_noise, apply_noise, ("applied", "seed"), False),
    ("pixelate", "corruption", sample_pixelate, apply_pixelate, ("applied",), False),
    ("elastic", "corruption", sample_elastic, apply_elastic, ("applied", "seed"), False),
    ("erasing", "corruption", sample_erasing, apply_erasing, ("applied", "u_x", "u_y"), False),
    ("contrast", "corruption", sample_contrast, apply_contrast, ("factor",), True),
):
    register_transform(TransformSpec(_name, _category, _sample, _apply, _columns, _continuous))
del _name, _category, _sample, _apply, _columns, _continuous
