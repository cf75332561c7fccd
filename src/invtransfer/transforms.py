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

Why one module of ~1,700 lines: the 18 types are one registry whose kernels share the building
blocks below (cache blocks, premultiplication, alpha boxes, separable resampling, seeded
fields); one sampler and one kernel per type, in the paper's order, are easier to check against
Fig. 5 side by side.

Defaults follow ``docs/FIDELITY.md``: the paper's text (Fig. 5) where it is specific, else the
reference's behaviour (nearest rotate/shear, bicubic scale, Pillow's canvas contrast mean, the
reference's position ranges); the variants are options of :class:`TransformOptions`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invtransfer.rng import CounterRNG

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

HOST_FAST_PATHS = True
"""Whether CPU tensors take the kernels' host fast paths (NumPy on the host, in-place tricks,
cache-sized blocks). ``False`` runs the device paths -- what CUDA runs -- on the CPU; the tests
switch it off to check that both give the same bits (tests/test_transforms.py), which no CPU-only
machine could check otherwise."""


def _on_host(t: Tensor) -> bool:
    """True for a CPU tensor while :data:`HOST_FAST_PATHS` is set: take the host fast path."""
    return HOST_FAST_PATHS and t.device.type == "cpu"


_ALPHA_EMPTY = 1e-6  # resampled alpha below this is snapped to 0 (transparent)
_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64 increment, as in invtransfer.rng
_M1 = np.uint64(0xBF58476D1CE4E5B9)  # SplitMix64 multipliers, as in invtransfer.rng
_M2 = np.uint64(0x94D049BB133111EB)

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

    ``apply`` returns a new tensor and leaves its input alone. ``apply_inplace`` (optional) writes
    the same values, bit for bit, into its input and returns it: :func:`apply_transforms` uses it
    on tensors it owns (its intermediates), so a type that changes a few pixels of a few images
    (erasing) or only the rows where its Bernoulli flag is set (sharpen, noise, pixelate,
    elastic) does not copy the whole batch first, and a per-pixel type (hue, brightness,
    grayscale, posterize, invert, contrast) writes each block back where it read it, still in
    cache, instead of into a fresh output.
    """

    name: str
    category: Category
    sample: SampleFn
    apply: ApplyFn
    columns: tuple[str, ...]
    continuous: bool
    apply_inplace: ApplyFn | None = None


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
    if spec.apply_inplace is not None and not callable(spec.apply_inplace):
        raise TypeError(f"transformation {spec.name!r}: apply_inplace must be callable or None")
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
    *,
    check_values: bool = True,
    overwrite: bool = False,
) -> tuple[Tensor, dict[str, np.ndarray]]:
    """Sample and apply the transformations ``names`` (in the given order) to ``images``.

    Each type draws from ``rng.child(name)``, so adding a type to a list does not change the
    parameters of the others. Returns the transformed images (a new tensor, also for an empty list)
    and the scalar parameter columns ``"<name>.<column>"`` as 1-D NumPy arrays of length ``n``.
    ``check_values=False`` skips the [0, 1] range check of ``images`` (a pass over the batch and,
    on CUDA, a synchronisation) for callers whose layers are in range by construction.
    ``overwrite=True`` hands ``images`` over (a temporary of the caller's, e.g. freshly gathered
    layers): in-place kernels may then write into it, and the result may be ``images`` itself.
    The values are the same either way, bit for bit.
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
    if check_values and images.numel():
        low, high = torch.aminmax(images)
        if low < 0 or high > 1:
            raise ValueError(
                f"apply_transforms: image values must be in [0, 1], got [{low.item()}, "
                f"{high.item()}] (convert uint8 with images.float() / 255)"
            )
    out, owned = images, overwrite
    columns: dict[str, np.ndarray] = {}
    for name in names:
        spec = TRANSFORMS[name]
        params = spec.sample(rng.child(name), options)
        if spec.apply_inplace is not None:
            if not owned:
                out, owned = out.clone(memory_format=torch.contiguous_format), True
            out = spec.apply_inplace(out, params, options)
        else:
            out = spec.apply(out, params, options)
            # a kernel returns a new tensor; one that handed back (a view of) its input would
            # leave the caller's images exposed to the in-place kernels after it
            owned = owned or not _shares_storage(out, images)
        for column in spec.columns:
            columns[f"{name}.{column}"] = params[column].detach().cpu().numpy()
    if not owned:
        out = out.clone()
    return out, columns


def _shares_storage(a: Tensor, b: Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


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
        if n and _on_host(value) and value.dtype in (torch.float32, torch.float64):
            # NumPy's reductions on the host: a fraction of the cost of torch's small calls
            array = value.detach().numpy()
            smallest, largest = float(array.min()), float(array.max())  # NaN if any is NaN
        elif n:
            smallest, largest = float(value.min()), float(value.max())
        if n and not (math.isfinite(smallest) and math.isfinite(largest)):
            raise ValueError(f"{where}: params[{key!r}] contains non-finite values")
        if n and low is not None and smallest < low:
            raise ValueError(f"{where}: params[{key!r}] must be >= {low}, got {smallest}")
        if n and high is not None and largest > high:
            raise ValueError(f"{where}: params[{key!r}] must be <= {high}, got {largest}")
        return value.to(device=like.device, dtype=like.dtype)
    return value.to(device=like.device)


def _flag(params: Mapping[str, Tensor], where: str, like: Tensor, *, host: bool = False) -> Tensor:
    """The bool ``applied`` flags on ``like``'s device, or on the CPU with ``host=True`` (for
    :func:`_on_subset`, which then picks the applied rows without a device synchronisation)."""
    target = torch.empty(0) if host else like
    applied = _param(params, "applied", where, like.shape[0], target)
    if applied.dtype != torch.bool:
        raise TypeError(f"{where}: params['applied'] must be bool, got {applied.dtype}")
    return applied


def _seeds(params: Mapping[str, Tensor], where: str, like: Tensor) -> Tensor:
    seeds = _param(params, "seed", where, like.shape[0], like)
    if seeds.dtype != torch.int64:
        raise TypeError(f"{where}: params['seed'] must be int64, got {seeds.dtype}")
    return seeds


def _kernel(name: str, *, inplace: bool = False) -> Callable[[Callable[..., Tensor]], ApplyFn]:
    """Wrap an apply function: validate the images, compute half precision in float32, keep dtype.

    With ``inplace=True`` the function takes a keyword ``inplace`` (write into ``images`` and
    return it) and the wrapper gets an ``apply_inplace`` attribute, the in-place variant
    (:attr:`TransformSpec.apply_inplace`); half-precision images are computed in a float32 copy
    and written back, so both variants round alike.
    """

    def wrap(fn: Callable[..., Tensor]) -> ApplyFn:
        where = f"apply_{name}"

        def checked(images: Tensor, params: object, options: object) -> TransformOptions:
            _check_images(images, where)
            options = TransformOptions() if options is None else options
            if not isinstance(options, TransformOptions):
                raise TypeError(
                    f"{where}: options must be TransformOptions, got {type(options).__name__}"
                )
            if not isinstance(params, Mapping):
                raise TypeError(f"{where}: params must be a dict, got {type(params).__name__}")
            return options

        def apply(
            images: Tensor, params: Mapping[str, Tensor], options: TransformOptions | None = None
        ) -> Tensor:
            options = checked(images, params, options)
            work = images if images.dtype in (torch.float32, torch.float64) else images.float()
            out = (
                fn(work, params, options, where, inplace=False)
                if inplace
                else fn(work, params, options, where)
            )
            return out.to(images.dtype)

        apply.__name__ = apply.__qualname__ = where
        apply.__doc__ = fn.__doc__
        if inplace:

            def apply_inplace(
                images: Tensor,
                params: Mapping[str, Tensor],
                options: TransformOptions | None = None,
            ) -> Tensor:
                options = checked(images, params, options)
                if images.dtype in (torch.float32, torch.float64):
                    return fn(images, params, options, where, inplace=True)
                return images.copy_(fn(images.float(), params, options, where, inplace=True))

            apply_inplace.__name__ = apply_inplace.__qualname__ = f"{where}_"
            apply_inplace.__doc__ = f"In-place variant of :func:`{where}` (same values)."
            apply.apply_inplace = apply_inplace  # type: ignore[attr-defined]
        return apply

    return wrap


# --- shared building blocks ------------------------------------------------------------------------


def _split(images: Tensor) -> tuple[Tensor, Tensor]:
    return images[:, :3], images[:, 3:]


def _opaque(alpha: Tensor, out: Tensor | None = None) -> Tensor:
    """The 0/1 float mask of object pixels (alpha > 0) for alpha in [0, 1]: ``ceil`` is 1 for
    every positive alpha and 0 at 0 — two float ops instead of a comparison and a bool→float
    conversion, ~4× slower on the CPU."""
    if out is None:
        return alpha.ceil().clamp_(max=1.0)
    return torch.ceil(alpha, out=out).clamp_(max=1.0)


def _object_only(rgb: Tensor, alpha: Tensor, out: Tensor | None = None) -> Tensor:
    """Keep RGB = 0 on transparent pixels (photometric ops change object pixels only).

    A multiply by the 0/1 mask, not ``torch.where``: several times faster on CPU, and exact for
    the finite values used here. ``out`` may be ``rgb`` itself (in place).
    """
    return torch.mul(rgb, _opaque(alpha), out=out) if out is not None else rgb * _opaque(alpha)


def _premultiply(images: Tensor, out: Tensor | None = None) -> Tensor:
    """Colour times alpha, alpha kept: one pass writing a new contiguous tensor (or ``out``)."""
    if out is None:
        out = torch.empty(images.shape, dtype=images.dtype, device=images.device)
    torch.mul(images[:, :3], images[:, 3:], out=out[:, :3])
    out[:, 3:] = images[:, 3:]
    return out


def _unpremultiply(images: Tensor, out: Tensor | None = None, work: Tensor | None = None) -> Tensor:
    """Straight colour from premultiplied; alpha below ``_ALPHA_EMPTY`` (numerical dust from
    filter tails, far below one uint8 step) becomes exactly transparent black.

    Writes a new contiguous tensor, or ``out`` (any layout; it may be ``images`` itself);
    ``work`` (m×2×H×W, optional) holds the two scratch planes. A per-pixel operation: an input
    whose H and W are transposed in memory is processed in that layout and written through the
    transposed view of the output, instead of every step reading strided memory.
    """
    result = out if out is not None else _empty(images)
    out = result
    if images.dim() == 4 and images.transpose(2, 3).is_contiguous() and not images.is_contiguous():
        images, out = images.transpose(2, 3), out.transpose(2, 3)
        work = None if work is None else work.transpose(2, 3)
    prem, alpha = _split(images)
    if work is None:
        work = torch.empty(
            (images.shape[0], 2, *images.shape[2:]), dtype=images.dtype, device=images.device
        )
    visible, floor = work[:, :1], work[:, 1:]
    # 1.0 where alpha >= _ALPHA_EMPTY (survives the snap), else 0.0, written as a float
    # comparison (a bool tensor and a conversion cost ~6× more on the CPU)
    torch.ge(alpha, _ALPHA_EMPTY, out=visible)
    snapped = torch.clamp(alpha, max=1.0, out=out[:, 3:]).mul_(visible)
    inverse = visible.div_(torch.clamp(snapped, min=_ALPHA_EMPTY, out=floor))  # 0 if transparent
    torch.mul(prem, inverse, out=out[:, :3]).clamp_(0.0, 1.0)
    return result


_BLOCK_PIXELS = 32 * 32 * 32
"""Pixels per block of the kernels' per-pixel loops on the CPU (32 images of 32×32 px: 512 KB of
float32 RGBA). A kernel makes 3–60 passes over its data; block by block, those passes and their
temporaries stay in a core's L2 cache (2 MB on the project VM) and only the first read of the
input and the final write of the output go to memory (hue and contrast ~1.9× faster than passes
over a whole 256-image chunk there; 16–64 images per block are within a few %), for a few µs of
Python per block. Every kernel computes each sample on its own (batched = a loop of single
samples, tested bit for bit), so the blocks give exactly the bits of one pass over the whole
batch. On other devices a kernel runs as one block."""


_SUBSET_PIXELS = 1 << 20
"""Pixels per block of :func:`_on_subset` (1024 images of 32×32 px): its gather, scatter and
per-call work cost more per block than the cache saves, so a chunk is usually one block."""


def _step(images: Tensor, pixels: int = _BLOCK_PIXELS) -> int:
    """Rows per block: at most ``pixels`` pixels on the CPU, the whole batch elsewhere."""
    n, _, h, w = images.shape
    return max(1, pixels // max(1, h * w)) if _on_host(images) else max(1, n)


def _blocks(step: int, *tensors: Tensor) -> Iterator[tuple[Tensor, ...]]:
    """The blocks of ``step`` rows of each tensor, side by side (all have the same rows)."""
    return zip(*(t.split(step) for t in tensors), strict=True)


def _keep_alpha(src: Tensor, dst: Tensor) -> None:
    """Copy the alpha plane of ``src`` to ``dst`` (kernels that change colour only), unless
    ``dst`` is ``src`` itself (in place: already there)."""
    if dst.data_ptr() != src.data_ptr():
        dst[:, 3] = src[:, 3]


def _empty(images: Tensor) -> Tensor:
    """A new contiguous tensor shaped like ``images`` (``empty_like`` keeps a transposed layout)."""
    return torch.empty(images.shape, dtype=images.dtype, device=images.device)


def _work(images: Tensor, planes: int, step: int) -> Tensor:
    """Scratch planes for blocks of up to ``step`` rows: rows×``planes``×H×W (a block of m rows
    uses ``[:m]``), allocated once per call — fresh temporaries in every block would cost as
    much again in allocation and cache misses."""
    rows = min(step, images.shape[0])
    return torch.empty((rows, planes, *images.shape[2:]), dtype=images.dtype, device=images.device)


def _on_subset(
    images: Tensor,
    applied: Tensor,
    fn: Callable[[Tensor, Tensor], Tensor],
    pixels: int = _SUBSET_PIXELS,
    *,
    inplace: bool = False,
) -> Tensor:
    """A contiguous copy of ``images`` whose rows where ``applied`` are ``fn(rows, positions)``
    (``positions``: their indices in the batch); the other rows are copied and cost nothing else.
    With ``inplace=True`` the applied rows are written into ``images`` itself (returned), and the
    others are not touched at all. ``fn`` returns a new tensor (it must not write into its input).

    For kernels whose work per row is large (sharpen, fields, warps): block by block
    (:data:`_SUBSET_PIXELS`, usually the whole chunk), each block is copied to the output, its
    applied rows gathered with ``index_select``, transformed and written back with
    ``index_copy_``. ``applied`` lives on the CPU (:func:`_flag` with ``host=True``), so the rows
    are chosen without waiting for a GPU.
    """
    out = images if inplace else _empty(images)
    chosen = np.flatnonzero(applied.cpu().numpy())
    if chosen.size == 0:
        return out if inplace else out.copy_(images)
    step = _step(images, pixels)
    n = images.shape[0]
    bounds = np.searchsorted(chosen, np.arange(0, n + step, step)).tolist()
    for start, first, last in zip(range(0, n, step), bounds[:-1], bounds[1:], strict=True):
        src, dst = images[start : start + step], out[start : start + step]
        if last - first == src.shape[0]:  # every row of the block
            rows = torch.arange(start, start + src.shape[0], device=images.device)
            dst.copy_(fn(src, rows))
            continue
        if not inplace:
            dst.copy_(src)
        if last > first:
            local = torch.from_numpy(chosen[first:last] - start).to(images.device)
            dst.index_copy_(0, local, fn(src.index_select(0, local), local + start))
    return out


def _take(params: Mapping[str, Tensor], where: str, like: Tensor) -> tuple[Tensor, Tensor]:
    """The ``applied`` flags as exact 0/1 factors in ``like``'s dtype on its device, m×1×1×1:
    ``(take, keep)`` with ``keep = 1 − take``, for :func:`_choose`."""
    take = _flag(params, where, like).to(like.dtype).view(-1, 1, 1, 1)
    return take, 1.0 - take


def _choose(src: Tensor, keep: Tensor, taken: Tensor, out: Tensor) -> Tensor:
    """``out = src·keep + taken``: ``src`` in the rows where ``keep`` is 1, ``taken`` (a result
    already multiplied by ``take = 1 − keep``, so exactly +0 in the other rows) elsewhere.

    Bit for bit a choice for finite, non-negative values: one term is the value itself and the
    other an exact +0, and the product is exact, so a fused multiply-add rounds alike
    (``torch.where`` costs ~25 float ops on the CPU). For the Bernoulli kernels whose work is a
    few passes, computing every row of a cached block and choosing costs less than gathering
    and scattering the applied rows (:func:`_on_subset`).
    """
    return torch.addcmul(taken, src, keep, out=out)


def _alpha_box(alpha: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample inclusive bounding box ``(x0, x1, y0, y1)`` (int64) of the visible alpha.

    An empty layer gets the whole canvas, so it is neither moved nor flipped off-centre.
    On other devices computed with float max-reductions over 0/1 masks (first and last visible
    index as maxima of weighted masks): small reductions with ``where``/``argmax`` cost ~10× more.
    """
    alpha = alpha[:, 0]  # N×H×W
    n, h, w = alpha.shape
    if _on_host(alpha) and alpha.dtype in (torch.float32, torch.float64):
        # the same steps on the host in NumPy: a fifth of the cost of small torch calls
        box = []
        for profile in (alpha.amax(dim=1).numpy(), alpha.amax(dim=2).numpy()):  # columns, rows
            visible = profile > profile.dtype.type(_ALPHA_VISIBLE)
            last = visible.shape[1] - 1
            seen = visible.any(axis=1)
            low = np.where(seen, visible.argmax(axis=1), 0)
            high = np.where(seen, last - visible[:, ::-1].argmax(axis=1), last)
            box += [torch.from_numpy(low.astype(np.int64)), torch.from_numpy(high.astype(np.int64))]
        return box[0], box[1], box[2], box[3]
    size = max(h, w)
    # visible columns (row 0) and rows (row 1) of each sample; the shorter axis padded with 0
    mask = torch.zeros(n, 2, size, dtype=alpha.dtype, device=alpha.device)
    torch.gt(alpha.amax(dim=1), _ALPHA_VISIBLE, out=mask[:, 0, :w])
    torch.gt(alpha.amax(dim=2), _ALPHA_VISIBLE, out=mask[:, 1, :h])
    idx = torch.arange(size, dtype=alpha.dtype, device=alpha.device)
    high = (mask * (idx + 1.0)).amax(dim=2) - 1.0  # N×2; -1 where nothing is visible
    low = size - (mask * (size - idx)).amax(dim=2)  # size where nothing is visible
    empty = torch.lt(high, 0.0, out=torch.empty_like(high))
    low = (low * (1.0 - empty)).long()  # empty: 0 .. the canvas side - 1
    last = torch.tensor([w, h], dtype=alpha.dtype, device=alpha.device)
    high = (high + empty * last).long()
    return low[:, 0], high[:, 0], low[:, 1], high[:, 1]


def _pixel_grid(src_y: Tensor, src_x: Tensor, dtype: torch.dtype) -> Tensor:
    """The ``grid_sample`` grid (N×H×W×2, ``align_corners=False``) whose nearest sample at
    output pixel ``(y, x)`` is input pixel ``(src_y, src_x)``: integer source coordinates (any
    real dtype; N×H×1 / N×1×W for separable maps, or N×H×W) mapped onto pixel centres,
    ``(s + 0.5)·2/size − 1``. Exact at power-of-2 sizes and within 1e-5 px otherwise, and
    ``grid_sample``'s unnormalise + round recovers ``s`` exactly either way."""
    n = max(src_y.shape[0], src_x.shape[0])
    h, w = src_y.shape[1], src_x.shape[2]
    grid = torch.empty(n, h, w, 2, dtype=dtype, device=src_x.device)
    if src_x.shape[1] == 1 and src_y.shape[2] == 1:  # separable: scale the small arrays
        grid[..., 0] = src_x.to(dtype) * (2.0 / w) + (1.0 / w - 1.0)
        grid[..., 1] = src_y.to(dtype) * (2.0 / h) + (1.0 / h - 1.0)
        return grid
    grid[..., 0] = src_x
    grid[..., 1] = src_y
    if h == w:  # one contiguous pass each, instead of two strided ones
        return grid.mul_(2.0 / w).add_(1.0 / w - 1.0)
    grid[..., 0].mul_(2.0 / w).add_(1.0 / w - 1.0)
    grid[..., 1].mul_(2.0 / h).add_(1.0 / h - 1.0)
    return grid


def _sample_nearest(images: Tensor, grid: Tensor) -> Tensor:
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _remap(images: Tensor, src_y: Tensor, src_x: Tensor) -> Tensor:
    """Integer, separable remap: ``out[n, :, y, x] = images[n, :, src_y[n, y], src_x[n, x]]``.

    Out-of-canvas sources give 0 (transparent). Exact: ``grid_sample`` with nearest sampling at
    pixel centres is a vectorised gather, without device syncs. translate uses it off the CPU;
    on the CPU :func:`_shift` gives the same bits faster (a test pins the two equal).
    """
    grid = _pixel_grid(src_y[:, :, None], src_x[:, None, :], images.dtype)
    return _sample_nearest(images, grid)


def _warp(images: Tensor, inverse: Tensor, mode: str) -> Tensor:
    """Affine warp with per-sample 2×3 ``inverse`` maps (output pixel → input pixel coordinates).

    Pixel centres are at integer coordinates. The source coordinates of every output pixel are
    computed in float64 (two outer sums, no batched 3×2 matmul); ``"nearest"`` rounds them (half
    to even, as ``grid_sample``) and copies those pixels exactly, ``"bilinear"`` interpolates
    premultiplied colour with ``grid_sample``. Uncovered areas are transparent. The bilinear
    path runs block by block (:data:`_BLOCK_PIXELS`), the nearest one as one gather.
    """
    _, _, h, w = images.shape
    m = inverse.to(device=images.device, dtype=torch.float64)
    xs = torch.arange(w, dtype=torch.float64, device=images.device)
    ys = torch.arange(h, dtype=torch.float64, device=images.device)
    # src = M·(x, y, 1): x-terms per column (N×W), y-terms + offset per row (N×H)
    row_x = (m[:, 0, 1, None] * ys + m[:, 0, 2, None])[:, :, None]
    col_x = (m[:, 0, 0, None] * xs)[:, None, :]
    row_y = (m[:, 1, 1, None] * ys + m[:, 1, 2, None])[:, :, None]
    col_y = (m[:, 1, 0, None] * xs)[:, None, :]
    if mode == "nearest":  # one gather over the whole batch (cheaper than per block here)
        src_x, src_y = row_x + col_x, row_y + col_y
        return _sample_nearest(images, _pixel_grid(src_y.round_(), src_x.round_(), images.dtype))
    out = _empty(images)
    step = _step(images)
    parts = (images, out, row_x, col_x, row_y, col_y)
    work = _work(images, 2, step) if mode != "nearest" else None
    for src, dst, rx, cx, ry, cy in _blocks(step, *parts):
        src_x, src_y = rx + cx, ry + cy  # m×H×W float64
        if mode == "nearest":
            dst.copy_(_sample_nearest(src, _pixel_grid(src_y.round_(), src_x.round_(), src.dtype)))
            continue
        grid = torch.stack(
            [src_x.add_(0.5).mul_(2.0 / w).sub_(1.0), src_y.add_(0.5).mul_(2.0 / h).sub_(1.0)],
            dim=-1,
        ).to(src.dtype)
        warped = F.grid_sample(
            _premultiply(src), grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        _unpremultiply(warped, out=dst, work=work[: src.shape[0]])
    return out


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


def _separable(
    images: Tensor, mat_y: Tensor, mat_x: Tensor, work: tuple[Tensor, ...] | None = None
) -> Tensor:
    """``mat_y @ images @ mat_xᵀ`` per sample (matrices N×H×H and N×W×W, or shared H×H, W×W).

    Per-sample matrices: the rows as one ``bmm`` over the (N, C·H, W) stack, then the columns as
    a ``bmm`` of each sample's ``mat_y`` with its C planes (~10× faster on CPU than broadcasting
    ``matmul`` over N·C tiny products). The column pass multiplies from the left instead of
    transposing the planes and multiplying from the right: the same products summed in the same
    order, bit for bit (MKL; pinned by a test), without two transposing copies. ``work``
    (:func:`_separable_work`, optional) receives the intermediates and the contiguous result.
    """
    if mat_y.ndim == 2:
        return mat_y @ images @ mat_x.transpose(-1, -2)
    n, c, h, w = images.shape
    rows, left, out = (t[:n] for t in (work or _separable_work(images, n)))
    torch.bmm(images.reshape(n, c * h, w), mat_x.transpose(1, 2), out=rows.view(n, c * h, w))
    left.copy_(mat_y[:, None])
    torch.bmm(left.view(n * c, h, h), rows.view(n * c, h, w), out=out.view(n * c, h, w))
    return out


def _separable_work(images: Tensor, rows: int) -> tuple[Tensor, Tensor, Tensor]:
    """Scratch of :func:`_separable` for blocks of up to ``rows`` samples like ``images``."""
    n, c, h, w = images.shape
    rows = min(rows, n)
    shapes = ((rows, c, h, w), (rows, c, h, h), (rows, c, h, w))
    return tuple(torch.empty(s, dtype=images.dtype, device=images.device) for s in shapes)


def _as_int64(value: int) -> int:
    """A 64-bit pattern as the signed int torch's int64 arithmetic wraps around."""
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN_I64 = _as_int64(_GOLDEN)
_M1_I64 = _as_int64(0xBF58476D1CE4E5B9)  # SplitMix64 multipliers, as in invtransfer.rng
_M2_I64 = _as_int64(0x94D049BB133111EB)


def _shr(x: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic: mask the sign copies)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _field_words(seeds: Tensor, count: int) -> Tensor:
    """``count`` SplitMix64 words per seed (int64 bit patterns, m × count, on the seeds' device):
    word ``j`` is ``splitmix64(seed + (j+1)·φ)``.

    The construction of ``CounterRNG.bits``, computed with wrapping int64 torch ops, so the field
    is a pure function of the stored per-sample seed and the image size, generated on the
    images' device and identical on every device (tested against :func:`invtransfer.rng.splitmix64`,
    which computes them on the CPU).
    """
    if _on_host(seeds):  # NumPy's uint64 kernels are faster here; same bits
        return torch.from_numpy(_field_words_np(seeds, count).view(np.int64))
    return _field_words_torch(seeds, count)


@lru_cache(maxsize=16)
def _counters_np(count: int) -> np.ndarray:
    """``(j+1)·φ + φ`` for j < ``count`` (uint64, read-only): the word counters with SplitMix64's
    own first increment folded in."""
    with np.errstate(over="ignore"):
        ctr = (np.arange(1, count + 1, dtype=np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN)
    ctr.setflags(write=False)
    return ctr


def _field_words_np(seeds: Tensor, count: int) -> np.ndarray:
    """:func:`_field_words` as a uint64 NumPy array (CPU seeds): SplitMix64 of ``seed + (j+1)·φ``
    with the increment, shifts, xors and multiplies in place (same bits as ``rng.splitmix64``,
    without its copies)."""
    base = seeds.numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        z = base[:, None] + _counters_np(count)[None, :]
        tmp = np.empty_like(z)
        for shift, mult in ((30, _M1), (27, _M2), (31, None)):
            np.right_shift(z, np.uint64(shift), out=tmp)
            z ^= tmp
            if mult is not None:
                z *= mult
    return z


_FIELD_WORDS = 1 << 15
"""Field words per step of the CPU path of :func:`_field_halves` (256 KB of uint64): its
temporaries then stay in cache, ~3× faster than one pass over a whole chunk's words."""


def _field_halves(seeds: Tensor, count: int, low: int = 0) -> tuple[Tensor, Tensor]:
    """The high and low 24 bits of ``count`` field words per seed as float32 (m × count),
    ``low`` added to the high half: exact integers below 2^24."""
    if not _on_host(seeds):
        words = _field_words_torch(seeds, count)
        high = _shr(words, 40).add_(low).to(torch.float32)
        return high, (_shr(words, 8) & 0xFFFFFF).to(torch.float32)
    m = seeds.shape[0]
    high = np.empty((m, count), dtype=np.float32)
    low_bits = np.empty((m, count), dtype=np.float32)
    step = max(1, _FIELD_WORDS // max(1, count))
    for start in range(0, m, step):
        words = _field_words_np(seeds[start : start + step], count)
        if sys.byteorder == "little":  # bits 40..63 and 8..31: the two uint32 halves >> 8
            halves = words.view(np.uint32).reshape(words.shape[0], count, 2)
            top = (halves[:, :, 1] >> np.uint32(8)).view(np.int32)
            bottom = (halves[:, :, 0] >> np.uint32(8)).view(np.int32)
        else:
            top = (words >> np.uint64(40)).astype(np.int64)
            bottom = ((words >> np.uint64(8)) & np.uint64(0xFFFFFF)).astype(np.int64)
        np.add(top, low, out=high[start : start + step], casting="unsafe")  # exact: < 2^24
        low_bits[start : start + step] = bottom
    return torch.from_numpy(high), torch.from_numpy(low_bits)


def _field_words_torch(seeds: Tensor, count: int) -> Tensor:
    """:func:`_field_words` with wrapping int64 torch ops on the seeds' device (GPUs)."""
    ctr = torch.arange(1, count + 1, dtype=torch.int64, device=seeds.device) * _GOLDEN_I64
    z = (seeds[:, None] + ctr).add_(_GOLDEN_I64)
    z ^= _shr(z, 30)
    z *= _M1_I64
    z ^= _shr(z, 27)
    z *= _M2_I64
    z ^= _shr(z, 31)
    return z


def _field_uniform(seeds: Tensor, count: int) -> Tensor:
    """U[0, 1) float32 field (m × count): the high 24 bits of all words, then their low 24 bits."""
    hi, lo = _field_halves(seeds, (count + 1) // 2)
    return torch.cat([hi, lo], dim=1)[:, :count].mul_(1.0 / (1 << 24))


def _field_normal(seeds: Tensor, count: int) -> Tensor:
    """N(0, 1) float32 field (m × count) by Box–Muller: word j gives u1 ∈ (0, 1] and u2 ∈ [0, 1)
    (its high and low 24 bits); the field is all ``r·cos θ`` values, then all ``r·sin θ``.

    Computed in place on the two halves (each step as in ``sqrt(-2·log(u1))·cos(2π·u2)``)."""
    half = (count + 1) // 2
    u1, u2 = _field_halves(seeds, half, low=1)
    radius = torch.log(u1.mul_(1.0 / (1 << 24)), out=u1).mul_(-2.0).sqrt_()
    theta = u2.mul_(2.0 * math.pi / (1 << 24))
    field = torch.empty((u1.shape[0], 2, half), dtype=u1.dtype, device=u1.device)
    torch.cos(theta, out=field[:, 0]).mul_(radius)
    torch.sin(theta, out=field[:, 1]).mul_(radius)
    return field.view(u1.shape[0], 2 * half)[:, :count]


def _luma(rgb: Tensor, out: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """601-2 luma ``(w_r·R + w_g·G) + w_b·B`` (N×1×H×W), each product rounded on its own;
    ``out``: two N×1×H×W tensors to compute in (the result lands in the first)."""
    if out is None:
        r, g, b = rgb.unbind(dim=1)
        return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)
    luma, term = out
    torch.mul(rgb[:, 0:1], GRAY_WEIGHTS[0], out=luma)
    luma.add_(torch.mul(rgb[:, 1:2], GRAY_WEIGHTS[1], out=term))
    return luma.add_(torch.mul(rgb[:, 2:3], GRAY_WEIGHTS[2], out=term))


def _bernoulli(rng: CounterRNG, options: TransformOptions) -> Params:
    return {"applied": rng.bernoulli("applied", options.probability)}


def _uniforms(
    rng: CounterRNG, names: Sequence[str], low: float = 0.0, high: float = 1.0
) -> dict[str, Tensor]:
    """``{name: rng.uniform(name, low=low, high=high)}`` for several streams, bit for bit, in one
    pass (:meth:`CounterRNG.uniform01`); the values are rows of one float32 tensor."""
    u = torch.from_numpy(low + (high - low) * rng.uniform01(names)).to(torch.float32)
    return dict(zip(names, u.unbind(0), strict=True))


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
    # near(d) = ((a+2)·d − (a+3))·d² + 1 on [0, 1), far(d) = ((a·d − 5a)·d + 8a)·d − 4a on
    # [1, 2), 0 beyond. Both pieces are exactly 0 at d = 1 and far is exactly 0 at d = 2 (a =
    # -0.5), so near(min(d, 1)) + far(clamp(d, 1, 2)) is the piecewise value, bit for bit,
    # without masks (torch.where costs ~30 float ops on the CPU).
    a = -0.5
    dn = d.clamp(max=1.0)
    near = dn.mul(a + 2.0).sub_(a + 3.0).mul_(dn).mul_(dn).add_(1.0)
    df = d.clamp_(1.0, 2.0)
    far = df.mul(a).sub_(5.0 * a).mul_(df).add_(8.0 * a).mul_(df).sub_(4.0 * a)
    return near.add_(far)


def _resize_matrices(
    factor: Tensor, centre: Tensor, size: int, kind: str = "bicubic", *, reach: int | None = None
) -> Tensor:
    """Per-sample ``size×size`` resampling matrices scaling by ``factor`` about ``centre``.

    The filter (``kind``: ``"bicubic"`` or ``"bilinear"``) is stretched by ``max(1, 1/factor)`` —
    Pillow's/torchvision's antialiased resize — and normalised over all its taps, so sources
    outside the canvas count as transparent instead of being renormalised away. ``factor`` 1
    gives the identity. The filter is evaluated on each output pixel's band of taps only (every
    source pixel it can reach) and scattered into the dense matrix, which the separable product
    uses; entries outside the band are the filter's exact zeros.
    """
    stretch = torch.clamp(1.0 / factor, min=1.0)  # filter scale in source pixels
    if reach is None:  # taps each side of the source pixel (pass it to avoid a device sync)
        reach = _resize_reach(factor, kind)
    out = torch.arange(size, dtype=factor.dtype, device=factor.device)
    src = centre[:, None] + (out[None, :] - centre[:, None]) / factor[:, None]  # N×size
    # the band tap-major (T×N×size), so that every tap's slice is contiguous
    taps = torch.arange(-reach, reach + 1, dtype=factor.dtype, device=factor.device)
    cols = torch.floor(src)[None] + taps[:, None, None]  # every source pixel the filter reaches
    band = _filter((cols - src[None]) / stretch[None, :, None], kind)
    # the taps' sum left to right: ``reach`` depends on the batch (its widest filter), and a
    # vectorised .sum() would group the taps differently for another width; a sequential sum
    # only adds exact zeros at both ends, so every sample's norm is the same in any batch
    norm = band[0].clone()
    for tap in band[1:]:
        norm += tap
    index = cols.clamp(0.0, size - 1.0)
    inside = torch.eq(index, cols, out=torch.empty_like(cols))  # outside the canvas: transparent
    weight = band.div_(norm).mul_(inside)
    matrix = torch.zeros(*src.shape, size, dtype=factor.dtype, device=factor.device)
    # one nonzero per (i, j); zeros elsewhere
    return matrix.scatter_add_(2, index.long().permute(1, 2, 0), weight.permute(1, 2, 0))


def _resize_reach(factor: Tensor, kind: str) -> int:
    """Taps each side that :func:`_resize_matrices` evaluates: every source pixel the widest
    filter of the batch reaches."""
    if not factor.numel():
        return 1
    radius = 2.0 if kind == "bicubic" else 1.0  # filter support in filter units
    return math.ceil(radius * float(torch.clamp(1.0 / factor, min=1.0).max())) + 1


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
    host = params["factor"]  # where the parameters were drawn: the CPU, no device sync
    reach = _resize_reach(torch.as_tensor(host).to(images.dtype), kind)
    if h == w:  # both axes in one pass over the taps
        both = _resize_matrices(
            torch.cat([factor, factor]), torch.cat([cy, cx]).to(images.dtype), h, kind, reach=reach
        )
        mat_y, mat_x = both[:n], both[n:]
    else:
        mat_y = _resize_matrices(factor, cy.to(images.dtype), h, kind, reach=reach)
        mat_x = _resize_matrices(factor, cx.to(images.dtype), w, kind, reach=reach)
    return _resample(images, mat_y, mat_x)


def _resample(images: Tensor, mat_y: Tensor, mat_x: Tensor) -> Tensor:
    """``unpremultiply(mat_y @ premultiply(images) @ mat_xᵀ)`` with per-sample matrices, block
    by block into one output (scale, blur)."""
    out = _empty(images)
    step = _step(images)
    work = _work(images, 6, step)  # premultiplied colour and alpha, 2 for the unpremultiply
    matmuls = _separable_work(images, step)
    for src, dst, my, mx in _blocks(step, images, out, mat_y, mat_x):
        block = work[: src.shape[0]]
        prem = _premultiply(src, out=block[:, :4])
        _unpremultiply(_separable(prem, my, mx, matmuls), out=dst, work=block[:, 4:])
    return out


def sample_translate(rng: CounterRNG, options: TransformOptions) -> Params:
    """Position parameters u_x, u_y ~ U[0, 1), mapped onto the position range by ``apply``."""
    return _uniforms(rng, ("u_x", "u_y"))


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
    if _on_host(images) and n:
        return _shift(images, dy, dx)
    src_x = torch.arange(w, device=images.device)[None, :] - dx[:, None]
    src_y = torch.arange(h, device=images.device)[None, :] - dy[:, None]
    return _remap(images, src_y, src_x)


def _shift(images: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """``out[n, :, y, x] = images[n, :, y − dy[n], x − dx[n]]``, +0.0 where that lies off the
    canvas: the same bits as :func:`_remap` (``grid_sample``), at ~0.6 of its CPU time (AMD EPYC
    VM, 256 images: ~0.6 vs ~0.9 ms warm in cache; translate 1.0–1.3× → 1.9× PIL in the bench).

    A move by whole pixels is a shift of each flat H·W plane by ``dy·W + dx`` elements: one
    ``index_select`` of whole planes (memcpy speed) from an overlapping view whose row ``k`` is
    the H·W elements from flat position ``k``, then :func:`_keep` (with the rows and the columns
    that stay on the canvas as two masks) zeroes the pixels that wrapped in from a neighbouring
    row or plane. Only the very first plane (moved down/right)
    and the very last (moved up/left) would reach past the batch's buffer; they are shifted
    on their own.
    """
    n, c, h, w = images.shape
    hw = h * w
    flat = images.contiguous().view(-1)
    total = flat.numel()
    offset = (dy * w + dx).to(torch.int64)  # per sample; |offset| < H·W for an in-canvas move
    windows = flat.as_strided((total - hw + 1, hw), (1, 1), flat.storage_offset())
    starts = torch.arange(n * c).view(n, c) * hw - offset[:, None]
    out = torch.index_select(windows, 0, starts.view(-1).clamp_(0, total - hw))
    planes = out.view(n * c, hw)
    first, last = int(offset[0]), int(offset[-1])
    if 0 < first < hw:  # the first plane moved forward: its start lies before the buffer
        planes[0, :first].zero_()
        planes[0, first:].copy_(flat[: hw - first])
    if -hw < last < 0:  # the last plane moved back: its window runs past the end
        planes[-1, hw + last :].zero_()
        planes[-1, : hw + last].copy_(flat[total - hw - last :])
    ys, xs = torch.arange(h) - dy[:, None], torch.arange(w) - dx[:, None]  # source rows/columns
    rows, cols = (ys >= 0) & (ys < h), (xs >= 0) & (xs < w)
    # two masks: ~0.3 ms less per 256 images than their N×1×H×W bool product (the same bits)
    return _keep(out.view(n, c, h, w), rows[:, None, :, None], cols[:, None, None, :])


def _in_range(offset: Tensor, size: int) -> Tensor:
    """1.0 where the integer-valued ``offset`` lies in [0, size), else 0.0 (float ops only;
    integer offsets are converted to float32, exactly)."""
    if not offset.is_floating_point():
        offset = offset.to(torch.float32)
    return (offset + 1.0).clamp_(0.0, 1.0).mul_((size - offset).clamp_(0.0, 1.0))


_BITS = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def _keep(out: Tensor, *keeps: Tensor) -> Tensor:
    """``out`` (written in place) where every bool mask of ``keeps`` (broadcastable) is set, +0.0
    elsewhere: a bitwise AND of the floats' bits with all-ones or all-zeros words, so exactly
    ``grid_sample``'s zero padding whatever the discarded value was (−0.0 or NaN included; a 0/1
    product keeps −0.0 and NaN). Several masks (e.g. N×1×H×1 rows and N×1×1×W columns) are
    combined as words by one broadcast AND: cheaper than converting their combined bool mask."""
    bits = _BITS[out.element_size()]
    words = [k.to(bits).neg_() for k in keeps]  # True → −1 (every bit set), False → 0
    word = words[0]
    for other in words[1:]:
        word = word & other
    out.view(bits).bitwise_and_(word)
    return out


def _flip(images: Tensor, params: Mapping[str, Tensor], where: str, axis: str) -> Tensor:
    """Mirror the applied samples about their box centre along ``axis`` ("x" or "y").

    The reflection about the box centre reads source ``x0 + x1 − x`` (or ``y0 + y1 − y``);
    samples not applied read themselves. Columns: one ``gather`` along the rows of the
    (N, C·H, W) view with each sample's W column indices (clamped onto the canvas), then
    :func:`_keep` zeroes the columns whose source lies off it — the same bits as the
    ``grid_sample`` remap (:func:`_remap`) at about half its CPU time on the AMD EPYC VM (h_flip
    0.9–1.1× → 1.9–2.2× PIL in the bench; translate, whose rows move too, did not gain this way
    and uses :func:`_shift`). Rows: whole rows are
    copied, so a gather of rows (``index_select``, at memcpy speed) does it, and rows whose source
    lies off the canvas are then zeroed.
    """
    applied = _flag(params, where, images)
    n, c, h, w = images.shape
    x0, x1, y0, y1 = _alpha_box(images[:, 3:])
    if axis == "x":
        xs = torch.arange(w, device=images.device)
        source = torch.where(applied[:, None], (x0 + x1)[:, None] - xs, xs)  # N×W
        index = source.clamp(0, w - 1)[:, None, :].expand(n, c * h, w)
        out = torch.gather(images.reshape(n, c * h, w), 2, index).view(n, c, h, w)
        return _keep(out, ((source >= 0) & (source < w))[:, None, None, :])  # others transparent
    ys = torch.arange(h, device=images.device)
    source = torch.where(applied[:, None], (y0 + y1)[:, None] - ys, ys)  # N×H
    plane = torch.arange(n * c, device=images.device).view(n, c, 1) * h
    rows = (plane + source.clamp(0, h - 1)[:, None, :]).reshape(-1)
    out = _empty(images)
    flat = out.view(n * c * h, w)
    torch.index_select(images.reshape(n * c * h, w), 0, rows, out=flat)
    outside = (source < 0) | (source >= h)  # uncovered rows: transparent
    if _on_host(images):  # zero those rows (few) in place
        sample, row = np.nonzero(outside.numpy())
        if sample.size:
            rows = (sample[:, None] * c + np.arange(c)) * h + row[:, None]
            flat.index_fill_(0, torch.from_numpy(rows.reshape(-1)), 0.0)
        return out
    return _keep(out, ~outside[:, None, :, None])  # no device synchronisation


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
    return _uniforms(rng, ("shear_x", "shear_y"), *SHEAR_RANGE)


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


@_kernel("hue", inplace=True)
def apply_hue(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Shift the HSV hue by ``factor`` (torchvision ``adjust_hue``), object pixels only.

    RGB→HSV follows torchvision (Pillow's sextant formula); HSV→RGB uses the closed form
    ``v·(1 - s·(1 - pure(H)))`` with the pure hue ``clamp(|H-3|-1)``, ``clamp(2-|H-2|)``,
    ``clamp(2-|H-4|)`` for H = 6h ∈ [0, 6), equal to torchvision's sector table (tested to 1e-5)
    and free of gathers.
    """
    n = images.shape[0]
    shift = 6.0 * _param(params, "factor", where, n, images, low=-0.5, high=0.5).view(-1, 1, 1)
    out = images if inplace else _empty(images)
    step = _step(images)
    work = _work(images, 8, step)
    for src, dst, sh in _blocks(step, images, out, shift):
        _hue_block(src, sh, dst, work)
    return out


# pure hue of R, G, B: clamp(|H-3|-1), clamp(2-|H-2|), clamp(2-|H-4|)
_HUE_CENTRES = (3.0, 2.0, 4.0)
_HUE_SIGNS = (1.0, -1.0, -1.0)
_HUE_OFFSETS = (-1.0, 2.0, 2.0)


def _hue_block(images: Tensor, shift: Tensor, out: Tensor, work: Tensor) -> None:
    """:func:`apply_hue` of one block into ``out``.

    Masks come from comparisons written straight into float tensors (``torch.eq(..., out=)``:
    ~6× faster on the CPU than a bool tensor and a conversion); the shift modulo 6 is two exact
    conditional corrections (what ``remainder`` computes for values in [-6, 12), at a tenth of
    its cost); the three channels of HSV → RGB are one pass each over an m×3×H×W tensor.
    Every step writes into one of a few work planes (``out=`` / in place): fresh temporaries
    would cost as much again in allocation and cache misses.
    """
    dtype = images.dtype
    r, g, b = images[:, 0], images[:, 1], images[:, 2]  # m×H×W each
    maxc, minc, span, is_r, is_g, is_b, num, tmp = work[: images.shape[0]].unbind(1)
    torch.maximum(torch.maximum(r, g, out=maxc), b, out=maxc)
    torch.minimum(torch.minimum(r, g, out=minc), b, out=minc)
    torch.sub(maxc, minc, out=span)
    # hue in sextants [-1, 5) as torchvision (Pillow's formula), with 0/1 float masks:
    # is_r·(g − b) + is_g·(2·span + b − r) + is_b·(4·span + r − g), each product as there
    torch.eq(maxc, r, out=is_r)
    torch.eq(maxc, g, out=is_g).mul_(torch.sub(1.0, is_r, out=tmp))
    torch.sub(tmp, is_g, out=is_b)  # (1 − is_r) − is_g
    torch.mul(is_r, torch.sub(g, b, out=num), out=num)
    torch.mul(span, 2.0, out=tmp).add_(b).sub_(r).mul_(is_g)
    num.add_(tmp)
    torch.mul(span, 4.0, out=tmp).add_(r).sub_(g).mul_(is_b)
    hue = num.add_(tmp)
    hue.div_(torch.eq(span, 0.0, out=tmp).add_(span))  # grey pixels: numerator 0, hue 0
    sat = span.div_(torch.clamp(maxc, min=torch.finfo(dtype).tiny, out=tmp))
    # shifted hue in [0, 6): remainder(hue + shift, 6) for hue + shift in [-4, 8) — +6 below 0
    # (rounded as remainder's fmod(x, 6) + 6), −6 from 6 on (exact), else unchanged
    hue6 = hue.add_(shift)
    below = torch.lt(hue6, 0.0, out=is_g)
    above = torch.ge(hue6, 6.0, out=is_r)
    hue6.add_(below, alpha=6.0).sub_(above, alpha=6.0)
    value = maxc.mul_(torch.gt(images[:, 3], 0.0, out=minc))  # object pixels only
    # HSV → RGB: v·(1 - s·(1 - pure)), pure = clamp(offset + sign·|H − centre|, 0, 1)
    centres, signs, offsets = (
        torch.tensor(v, dtype=dtype, device=images.device).view(1, 3, 1, 1)
        for v in (_HUE_CENTRES, _HUE_SIGNS, _HUE_OFFSETS)
    )
    pure = out[:, :3]
    torch.sub(hue6[:, None], centres, out=pure).abs_().mul_(signs).add_(offsets)
    pure.clamp_(0.0, 1.0).sub_(1.0).mul_(sat[:, None]).add_(1.0).mul_(value[:, None])
    pure.clamp_(0.0, 1.0)
    _keep_alpha(images, out)


def sample_brightness(rng: CounterRNG, options: TransformOptions) -> Params:
    """Brightness factor U(0, 2) (``ColorJitter(brightness=1.0)``)."""
    return {"factor": rng.uniform("factor", low=BRIGHTNESS_RANGE[0], high=BRIGHTNESS_RANGE[1])}


@_kernel("brightness", inplace=True)
def apply_brightness(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Multiply RGB by ``factor`` and clamp (torchvision ``adjust_brightness``)."""
    n = images.shape[0]
    factor = _param(params, "factor", where, n, images, low=0.0)
    # one multiply over all four channels, alpha by exactly 1, then the colour clamped
    gains = torch.ones((n, 4, 1, 1), dtype=images.dtype, device=images.device)
    gains[:, :3] = factor.view(-1, 1, 1, 1)
    out = images if inplace else _empty(images)
    step = _step(images)
    for src, dst, g in _blocks(step, images, out, gains):
        torch.mul(src, g, out=dst)
        dst[:, :3].clamp_(0.0, 1.0)
    return out


def sample_grayscale(rng: CounterRNG, options: TransformOptions) -> Params:
    """Grayscale with probability ``options.probability`` (``RandomGrayscale(p=0.5)``)."""
    return _bernoulli(rng, options)


@_kernel("grayscale", inplace=True)
def apply_grayscale(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Replace RGB by the 601-2 luma (torchvision weights) in all three channels where applied."""
    take, keep = _take(params, where, images)
    out = images if inplace else _empty(images)
    step = _step(images)
    work = _work(images, 2, step)
    for src, dst, tk, kp in _blocks(step, images, out, take, keep):
        gray, term = work[: src.shape[0]].split(1, dim=1)
        _luma(src[:, :3], out=(gray, term)).clamp_(0.0, 1.0).mul_(tk)
        _choose(src[:, :3], kp, gray, dst[:, :3])
        _keep_alpha(src, dst)
    return out


def sample_posterize(rng: CounterRNG, options: TransformOptions) -> Params:
    """Posterize to 1 bit with probability ``options.probability`` (``RandomPosterize(bits=1)``)."""
    return _bernoulli(rng, options)


@_kernel("posterize", inplace=True)
def apply_posterize(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Keep ``POSTERIZE_BITS`` bits per channel (torchvision float ``posterize``: {0, 0.5})."""
    take, keep = _take(params, where, images)
    levels = 1 << POSTERIZE_BITS
    size = take * (1.0 / levels)  # a level's size where applied, 0 elsewhere (exact)
    out = images if inplace else _empty(images)
    step = _step(images)
    work = _work(images, 3, step)
    for src, dst, sz, kp in _blocks(step, images, out, size, keep):
        level = work[: src.shape[0]]
        torch.mul(src[:, :3], levels, out=level).floor_().clamp_(0, levels - 1)
        _choose(src[:, :3], kp, level.mul_(sz), dst[:, :3])
        _keep_alpha(src, dst)
    return out


def sample_invert(rng: CounterRNG, options: TransformOptions) -> Params:
    """Invert with probability ``options.probability`` (``RandomInvert()``)."""
    return _bernoulli(rng, options)


@_kernel("invert", inplace=True)
def apply_invert(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """``1 - RGB`` on object pixels where applied; transparent pixels stay black.

    As one multiply-add per channel: ``x·(keep − m) + m`` with ``m`` = 1 on applied object
    pixels, else 0, is ``1 − x`` (one rounding, as ``−x + 1``), 0 or ``x``, bit for bit.
    """
    take, keep = _take(params, where, images)
    out = images if inplace else _empty(images)
    step = _step(images)
    work = _work(images, 2, step)
    for src, dst, tk, kp in _blocks(step, images, out, take, keep):
        mask, gain = work[: src.shape[0]].split(1, dim=1)
        _opaque(src[:, 3:], out=mask).mul_(tk)
        torch.sub(kp, mask, out=gain)
        torch.addcmul(mask, src[:, :3], gain, out=dst[:, :3])
        _keep_alpha(src, dst)
    return out


def sample_sharpen(rng: CounterRNG, options: TransformOptions) -> Params:
    """Sharpen (factor 7) with probability ``options.probability`` (``RandomAdjustSharpness``)."""
    return _bernoulli(rng, options)


@_kernel("sharpen", inplace=True)
def apply_sharpen(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """torchvision ``adjust_sharpness(7)`` on RGB: blend with the 3×3 smoothed image (1-px border
    kept), object pixels only. Transparent neighbours count as black, as in the reference."""
    _, _, h, w = images.shape
    applied = _flag(params, where, images, host=True)
    if h <= 2 or w <= 2:
        return images if inplace else images.clone(memory_format=torch.contiguous_format)

    def sharpen(sub: Tensor, _: Tensor) -> Tensor:
        out = _empty(sub)
        _object_only(_sharpened(sub[:, :3], out[:, :3]), sub[:, 3:], out=out[:, :3])
        out[:, 3] = sub[:, 3]
        return out

    return _on_subset(images, applied, sharpen, inplace=inplace)


def _sharpened(rgb: Tensor, out: Tensor) -> Tensor:
    """``adjust_sharpness(7)`` of the colour ``rgb`` (m×3×H×W) into ``out``, clamped (not yet
    restricted to object pixels)."""
    # torchvision's kernel [[1,1,1],[1,5,1],[1,1,1]]/13 as a separable 3×3 box sum plus 4·centre
    rows = rgb[:, :, :, :-2] + rgb[:, :, :, 1:-1]
    rows += rgb[:, :, :, 2:]
    box = rows[:, :, :-2] + rows[:, :, 1:-1]
    box += rows[:, :, 2:]
    smooth = box.add_(rgb[:, :, 1:-1, 1:-1], alpha=4.0).mul_(1.0 / 13.0)
    out.copy_(rgb)  # the 1-px border is kept
    inner = out[:, :, 1:-1, 1:-1]
    inner.mul_(SHARPNESS_FACTOR).add_(smooth, alpha=1.0 - SHARPNESS_FACTOR)
    return out.clamp_(0.0, 1.0)


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
    return _resample(images, _reflect_conv_matrix(kernels, h), _reflect_conv_matrix(kernels, w))


def sample_noise(rng: CounterRNG, options: TransformOptions) -> Params:
    """Bernoulli(p) flag and a per-sample seed for the N(0, 1) field (drawn in ``apply``)."""
    params = _bernoulli(rng, options)
    params["seed"] = torch.from_numpy(rng.sample_seeds("field"))
    return params


@_kernel("noise", inplace=True)
def apply_noise(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Add N(0, σ=1) per pixel and channel to object pixels and clamp to [0, 1] (paper), or the
    reference's clipped noise with uint8 wrap-around (``options.noise='reference-wrap'``).

    The field of sample i is ``_field_normal(seed_i, 3·H·W)`` in C×H×W order.
    """
    applied = _flag(params, where, images, host=True)
    seeds = _seeds(params, where, images)
    _, _, h, w = images.shape

    def noisy(sub: Tensor, positions: Tensor) -> Tensor:
        rgb, alpha = _split(sub)
        field = _field_normal(seeds[positions], 3 * h * w).reshape(-1, 3, h, w)
        field = field.to(device=sub.device, dtype=sub.dtype)
        if NOISE_STD != 1.0:
            field = field * NOISE_STD
        out = _empty(sub)
        if options.noise == "gaussian":
            noisy_rgb = torch.add(rgb, field, out=out[:, :3]).clamp_(0.0, 1.0)
        else:  # reference: x + clip(N, 0, 1), then (x·255).astype(uint8) wraps modulo 256;
            # +1e-4 keeps k/255 inputs from flooring to k-1 through float32 rounding
            value = torch.floor((rgb + field.clamp(0.0, 1.0)) * 255.0 + 1e-4)
            noisy_rgb = torch.mul(torch.remainder(value, 256.0), 1.0 / 255.0, out=out[:, :3])
        noisy_rgb.mul_(_opaque(alpha))
        out[:, 3] = sub[:, 3]
        return out

    return _on_subset(images, applied, noisy, inplace=inplace)


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


@_kernel("pixelate", inplace=True)
def apply_pixelate(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Box down-sample to ``int(pixelate_fraction·size)`` and nearest up-sample (premultiplied,
    as PIL resizes RGBA), alpha included, where applied."""
    _, _, h, w = images.shape
    fraction = options.pixelate_fraction
    applied = _flag(params, where, images, host=True)
    if h % 2 == 0 and w % 2 == 0 and int(fraction * h) * 2 == h and int(fraction * w) * 2 == w:
        return _on_subset(images, applied, _pixelate_half, inplace=inplace)
    mat_y = torch.tensor(_pixelate_matrix_np(h, fraction), dtype=images.dtype)
    mat_x = torch.tensor(_pixelate_matrix_np(w, fraction), dtype=images.dtype)
    mat_y, mat_x = mat_y.to(images.device), mat_x.to(images.device)
    return _on_subset(
        images,
        applied,
        lambda sub, _: _unpremultiply(_separable(_premultiply(sub), mat_y, mat_x)),
        inplace=inplace,
    )


def _pixelate_half(sub: Tensor, _: Tensor) -> Tensor:
    """Pixelate to half resolution (the default), for :func:`_on_subset`.

    The cells are pixel pairs, so the matrix product is the mean of each pair: rows directly as
    ``(a + b)·0.5``, bit for bit the product's ``0.5·a + 0.5·b``; columns by the 0/0.5 pair
    matrix (one GEMM, which also up-samples them; a sum of two exact products and exact zeros
    is order-independent). Un-premultiplied at half height, then every row is written twice.
    """
    m, c, h, w = sub.shape
    prem = _premultiply(sub).view(m, c, h // 2, 2, w)
    rows = torch.add(prem[:, :, :, 0], prem[:, :, :, 1]).mul_(0.5)  # m×c×h/2×w
    cells = rows.view(-1, w) @ _pair_matrix(w, sub.dtype, sub.device).T
    straight = _unpremultiply(cells.view(m, c, h // 2, w), out=rows)
    return straight[:, :, :, None].expand(m, c, h // 2, 2, w).reshape(m, c, h, w)


@lru_cache(maxsize=16)
def _pair_matrix(size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """size×size matrix averaging pixel pairs (2k, 2k+1) into both of them (cached: never
    modify it)."""
    return torch.tensor(_pixelate_matrix_np(size, 0.5), dtype=dtype, device=device)


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
    # U[0, 1)·2 − 1 = k·2^-23 − 1 for the 24-bit integers k: exact in float32 (and float64)
    dx, dy = _field_halves(seeds, h * w)
    field = torch.empty((m, 2, h * w), dtype=torch.float32, device=dx.device)
    torch.mul(dx, 2.0 / (1 << 24), out=field[:, 0]).sub_(1.0)
    torch.mul(dy, 2.0 / (1 << 24), out=field[:, 1]).sub_(1.0)
    field = field.to(device=device, dtype=dtype).view(m, 2, h, w)
    mat_y, mat_x, scale, _ = _elastic_constants(h, w, dtype, device)
    return _separable(field, mat_y, mat_x).permute(0, 2, 3, 1) * scale


@lru_cache(maxsize=8)
def _elastic_constants(
    h: int, w: int, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The displacement blur matrices (Gaussian of ``int(8σ+1)|1`` taps, reflect padding), the
    α/W, α/H scale and the identity grid of ``grid_sample`` (1×H×W×2) for an image size
    (cached per size, dtype and device: never modify them)."""
    taps = int(8 * ELASTIC_SIGMA + 1)
    taps += 1 - taps % 2
    kernel = _gaussian_kernels(torch.tensor([ELASTIC_SIGMA], dtype=dtype, device=device), taps)
    scale = torch.tensor([ELASTIC_ALPHA / w, ELASTIC_ALPHA / h], dtype=dtype, device=device)
    ys = torch.linspace((1 - h) / h, (h - 1) / h, h, dtype=dtype, device=device)
    xs = torch.linspace((1 - w) / w, (w - 1) / w, w, dtype=dtype, device=device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]
    return _reflect_conv_matrix(kernel, h)[0], _reflect_conv_matrix(kernel, w)[0], scale, grid


@_kernel("elastic", inplace=True)
def apply_elastic(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Elastic distortion (torchvision ``elastic`` semantics, bilinear, premultiplied, alpha
    warped too, uncovered area transparent) where applied."""
    applied = _flag(params, where, images, host=True)
    seeds = _seeds(params, where, images)
    _, _, h, w = images.shape
    base = _elastic_constants(h, w, images.dtype, images.device)[3]

    def warp(sub: Tensor, positions: Tensor) -> Tensor:
        grid = _elastic_displacement(seeds[positions], h, w, sub.device, sub.dtype).add_(base)
        out = F.grid_sample(
            _premultiply(sub), grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        return _unpremultiply(out, out=out)

    return _on_subset(images, applied, warp, inplace=inplace)


def sample_erasing(rng: CounterRNG, options: TransformOptions) -> Params:
    """Bernoulli(p) flag and the square's position u_x, u_y ~ U[0, 1)."""
    u = rng.uniform01(("applied", "u_x", "u_y"))  # = rng.bernoulli / rng.uniform, one pass
    u_xy = torch.from_numpy(u[1:]).to(torch.float32)
    return {"applied": torch.from_numpy(u[0] < options.probability), "u_x": u_xy[0], "u_y": u_xy[1]}


@_kernel("erasing", inplace=True)
def apply_erasing(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
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
    span_x, span_y = w - ERASING_SIZE, h - ERASING_SIZE
    host = _on_host(images) and images.dtype in (torch.float32, torch.float64)
    if inplace and host and images.is_contiguous():
        # only the squares are written: each is 4 channels × 14 rows of 14 contiguous values,
        # zeroed through an overlapping view whose row j is the flat buffer's values j..j+13
        # (one NumPy assignment); the out-of-place kernel's bit mask gives the same bits.
        chosen = np.flatnonzero(applied.numpy())
        if chosen.size:
            ux, uy = u_x.numpy()[chosen], u_y.numpy()[chosen]
            left = np.minimum(np.floor(ux * ux.dtype.type(span_x)), span_x).astype(np.int64)
            top = np.minimum(np.floor(uy * uy.dtype.type(span_y)), span_y).astype(np.int64)
            starts = (chosen * (4 * h * w) + top * w + left)[:, None] + _erasing_runs(h, w)
            flat = images.view(-1)
            windows = flat.as_strided((flat.numel() - ERASING_SIZE + 1, ERASING_SIZE), (1, 1))
            windows.numpy()[starts.ravel()] = 0.0
        return images
    bits = _BITS[images.element_size()]
    # the square's rows and columns as integer words, all bits set inside (−1) and 0 outside
    if host:
        # the per-sample square on the host in NumPy (same float arithmetic, fewer calls)
        left = np.minimum(np.floor(u_x.numpy() * u_x.numpy().dtype.type(span_x)), span_x)
        top = np.minimum(np.floor(u_y.numpy() * u_y.numpy().dtype.type(span_y)), span_y)
        xs = np.arange(w) - left[:, None]
        ys = np.arange(h) - top[:, None]
        in_x = torch.from_numpy((xs >= 0) & (xs < ERASING_SIZE)).to(bits).neg_()
        rows = (ys >= 0) & (ys < ERASING_SIZE) & applied.numpy()[:, None]
        in_y = torch.from_numpy(rows).to(bits).neg_()
    else:
        left = torch.floor(u_x * span_x).clamp_(max=span_x)
        top = torch.floor(u_y * span_y).clamp_(max=span_y)
        xs = torch.arange(w, dtype=images.dtype, device=images.device)[None, :] - left[:, None]
        ys = torch.arange(h, dtype=images.dtype, device=images.device)[None, :] - top[:, None]
        # 0/1 float factors by clamps of the integer offsets (0 <= d < size): comparisons,
        # bool ops and torch.where are several times slower
        in_y = _in_range(ys, ERASING_SIZE).mul_(applied[:, None]).to(bits).neg_()
        in_x = _in_range(xs, ERASING_SIZE).to(bits).neg_()
    in_y, in_x = in_y[:, None, :, None], in_x[:, None, None, :]
    out = images if inplace else _empty(images)
    step = _step(images)
    work = _work(images, 1, step).view(bits)  # the mask's words, one plane per row
    for src, dst, iy, ix in _blocks(step, images, out, in_y, in_x):
        # every bit of a value outside the square, none inside: x's own bits (−0.0 and NaN kept)
        # or exactly +0.0 — what the in-place host path writes, bit for bit
        keep = torch.bitwise_and(iy, ix, out=work[: src.shape[0]]).bitwise_not_()
        torch.bitwise_and(src.view(bits), keep, out=dst.view(bits))
    return out


@lru_cache(maxsize=16)
def _erasing_runs(h: int, w: int) -> np.ndarray:
    """Flat offsets of the erasing square's 4·14 rows within an N×4×h×w image, from its corner
    (cached: never modify it)."""
    channels = np.arange(4, dtype=np.int64)[:, None] * (h * w)
    rows = np.arange(ERASING_SIZE, dtype=np.int64)[None, :] * w
    return (channels + rows).ravel()


def sample_contrast(rng: CounterRNG, options: TransformOptions) -> Params:
    """Contrast factor U(0, 2) (``ColorJitter(contrast=1.0)``)."""
    return {"factor": rng.uniform("factor", low=CONTRAST_RANGE[0], high=CONTRAST_RANGE[1])}


@_kernel("contrast", inplace=True)
def apply_contrast(
    images: Tensor,
    params: Mapping[str, Tensor],
    options: TransformOptions,
    where: str,
    *,
    inplace: bool,
) -> Tensor:
    """Blend RGB with a mean grey by ``factor`` (``adjust_contrast``), object pixels only.

    ``options.contrast_mean``: ``"canvas"`` is the reference's Pillow ``ImageEnhance.Contrast``
    on the RGB canvas (transparent area black): see :func:`_pil_canvas_mean`; ``"object"`` is the
    alpha-weighted mean luma of the object pixels.
    """
    factor = _param(params, "factor", where, images.shape[0], images, low=0.0).view(-1, 1, 1, 1)
    rest = 1.0 - factor
    out = images if inplace else _empty(images)
    step = _step(images)
    work = _work(images, 4, step)
    for src, dst, f, r in _blocks(step, images, out, factor, rest):
        rgb, alpha = _split(src)
        block = work[: src.shape[0]]
        if options.contrast_mean == "object":
            total = alpha.sum(dim=(1, 2, 3), keepdim=True)
            mean = (_luma(rgb) * alpha).sum(dim=(1, 2, 3), keepdim=True) / total.clamp_min(1e-12)
        else:
            mean = _pil_canvas_mean(rgb, block).to(src.dtype).view(-1, 1, 1, 1)
        opaque = _opaque(alpha, out=block[:, 3:])
        torch.mul(rgb, f, out=dst[:, :3]).add_(mean * r).clamp_(0.0, 1.0).mul_(opaque)
        _keep_alpha(src, dst)
    return out


def _pil_canvas_mean(rgb: Tensor, work: Tensor | None = None) -> Tensor:
    """Pillow's contrast mean of each canvas (N×3×H×W in [0, 1]) as a level in [0, 1]: shape (N,).

    ``ImageEnhance.Contrast`` computes ``int(mean(L) + 0.5)`` over the ``"L"`` conversion, whose
    per-pixel luma is the integer ``(19595 R + 38470 G + 7471 B + 2^15) >> 16`` of the uint8
    channels (Pillow's ``L24``). Colours are rounded to uint8 first (the reference's images were
    uint8 at every step). The arithmetic is exact in floating point — every intermediate is an
    integer below 2^24 (at most 255·2^16 + 2^15), and the shift is a multiply by 2^-16 and a
    floor — and the sums are exact in float64 and int64. ``work`` (N×4×H×W, optional) holds
    the temporaries.
    """
    n, _, h, w = rgb.shape
    if work is None:
        work = torch.empty((n, 4, h, w), dtype=rgb.dtype, device=rgb.device)
    q = torch.mul(rgb, 255.0, out=work[:, :3]).round_().clamp_(0, 255)
    luma = torch.mul(q[:, 0], 19595.0, out=work[:, 3])
    luma.add_(q[:, 1], alpha=38470.0).add_(q[:, 2], alpha=7471.0)
    luma.add_(32768.0).mul_(1.0 / 65536.0).floor_()  # N×H×W
    count = h * w
    total = luma.sum(dim=(1, 2), dtype=torch.float64).to(torch.int64)
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
    register_transform(
        TransformSpec(
            _name,
            _category,
            _sample,
            _apply,
            _columns,
            _continuous,
            getattr(_apply, "apply_inplace", None),
        )
    )
del _name, _category, _sample, _apply, _columns, _continuous
