"""Shared compositing for every dataset kind: object prototypes, alpha compositing, quantisation.

The Transforms-2D composer (:mod:`invtransfer.datasets.t2d`), augmented CIFAR
(:mod:`~invtransfer.datasets.cifar_aug`) and CIFAR with pasted objects
(:mod:`~invtransfer.datasets.cifar_objects`) build their images from the same pieces:

- :func:`load_object_images` and :func:`prototype_layer` / :func:`object_prototypes`: the spec's
  object crops as RGBA layers on a transparent canvas (float32, straight alpha, RGB = 0 where
  transparent), squashed and resampled like the reference by default (``docs/FIDELITY.md`` D6, D7);
- :func:`whole_image_layer` / :func:`resize_images`: whole images (CIFAR) as an opaque layer;
- :func:`composite`: the layer over a background, ``bg + a·(rgb − bg)``;
- :func:`to_uint8` / :func:`quantize`: the stored ``uint8`` by round-half-to-even of ``255·x``
  (as a NumPy array for the writer, or as a tensor on the images' device for per-epoch rendering).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from invtransfer.datasets.validate import RESAMPLE_MODES, location
from invtransfer.errors import ConfigError

__all__ = [
    "composite",
    "load_object_images",
    "object_prototypes",
    "prototype_layer",
    "quantize",
    "resize_images",
    "to_uint8",
    "whole_image_layer",
]


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


# --------------------------------------------------------------------------------------------
# object prototypes
# --------------------------------------------------------------------------------------------
def load_object_images(
    cfg: Mapping[str, Any],
) -> tuple[list[str], list[np.ndarray], list[str]]:
    """Class names, RGBA crops and source ids of a canonical ``objects`` section (class i =
    names[i]); an unknown name raises :class:`ConfigError` listing the source's objects."""
    from invtransfer.assets import available_object_names, load_objects

    asset_cfg: dict[str, Any] = {"source": cfg["source"]}
    for name in ("path", "font"):
        if location(cfg, name) is not None:
            asset_cfg[name] = location(cfg, name)
    if cfg.get("download"):
        asset_cfg["download"] = True
    if cfg.get("max_size") is not None:
        asset_cfg["max_size"] = cfg["max_size"]
    names = cfg.get("names")
    if names is not None:
        available = available_object_names(asset_cfg)
        known = set(available)
        for i, name in enumerate(names):
            if name not in known:
                raise ConfigError(
                    f"dataset spec key 'objects.names[{i}]': unknown object {name!r} in source "
                    f"{cfg['source']!r}; known objects: {', '.join(available)}"
                )
        asset_cfg["names"] = list(names)
    elif cfg.get("count") is not None:
        asset_cfg["count"] = cfg["count"]
    objects = load_objects(asset_cfg)
    if not objects:
        raise ConfigError(f"dataset spec key 'objects': source {cfg['source']!r} gave no objects")
    got = [o.name for o in objects]
    if len(set(got)) != len(got):
        raise ConfigError(f"dataset spec key 'objects': source {cfg['source']!r} repeats names")
    if names is not None and got != list(names):
        raise RuntimeError(f"load_objects returned {got}, expected the requested {list(names)}")
    return got, [o.rgba for o in objects], [o.source for o in objects]


def prototype_layer(
    rgba: np.ndarray,
    size: int,
    *,
    scale: float = 0.7,
    squash_aspect: bool = True,
    resample: str = "reference",
) -> torch.Tensor:
    """One object prototype: ``float32`` ``4×size×size``, straight alpha, RGB = 0 where transparent.

    The crop is resized so that both sides (``squash_aspect``, the reference) or its longest side
    are ``round(scale·size)`` pixels, antialiased on premultiplied RGBA, and centred (offset
    ``(size − side)//2``, which gives the reference's (5, 5) for 22 px in 32). ``resample``:
    ``"reference"`` resizes in the reference's two steps — bilinear to the canvas size (``size``
    on the longest side), then bicubic to the object size (Pillow's default filter in
    ``scale_object``) — ``"bilinear"``/``"bicubic"`` in one step, ``"nearest"`` without filter.
    """
    if (
        not isinstance(rgba, np.ndarray)
        or rgba.dtype != np.uint8
        or rgba.ndim != 3
        or rgba.shape[2] != 4
    ):
        raise TypeError(
            f"rgba must be a uint8 H×W×4 array, got {type(rgba).__name__} "
            f"{getattr(rgba, 'dtype', '')} {getattr(rgba, 'shape', '')}"
        )
    if resample not in RESAMPLE_MODES:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLE_MODES)}, got {resample!r}")
    h, w = rgba.shape[:2]

    def box(side: int) -> tuple[int, int]:
        if squash_aspect:
            return side, side
        if h >= w:
            return side, max(1, _round_half_up(side * w / h))
        return max(1, _round_half_up(side * h / w)), side

    th, tw = box(max(1, _round_half_up(scale * size)))
    x = torch.from_numpy(np.array(rgba, copy=True)).permute(2, 0, 1).to(torch.float32) / 255.0
    alpha = x[3:4]
    premult = torch.cat([x[:3] * alpha, alpha])[None]  # 1×4×h×w
    if resample == "nearest":
        small = F.interpolate(premult, size=(th, tw), mode="nearest-exact")
    elif resample == "reference":
        canvas = box(size)
        small = F.interpolate(
            premult, size=canvas, mode="bilinear", antialias=True, align_corners=False
        )
        if canvas != (th, tw):
            small = F.interpolate(
                small, size=(th, tw), mode="bicubic", antialias=True, align_corners=False
            )
    else:
        small = F.interpolate(
            premult, size=(th, tw), mode=resample, antialias=True, align_corners=False
        )
    small = small[0].clamp(0.0, 1.0)
    a = small[3:4]
    rgb = torch.where(a > 1e-6, small[:3] / a.clamp_min(1e-6), torch.zeros_like(small[:3]))
    layer = torch.zeros(4, size, size, dtype=torch.float32)
    top, left = (size - th) // 2, (size - tw) // 2
    layer[:3, top : top + th, left : left + tw] = rgb.clamp(0.0, 1.0)
    layer[3:4, top : top + th, left : left + tw] = a
    return layer


def object_prototypes(
    rgbas: Sequence[np.ndarray],
    size: int,
    *,
    scale: float = 0.7,
    squash_aspect: bool = True,
    resample: str = "reference",
) -> torch.Tensor:
    """``K×4×size×size`` prototypes, one per object (done once per dataset, not per sample)."""
    return torch.stack(
        [
            prototype_layer(r, size, scale=scale, squash_aspect=squash_aspect, resample=resample)
            for r in rgbas
        ]
    )


# --------------------------------------------------------------------------------------------
# whole images
# --------------------------------------------------------------------------------------------
def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """``N×C×H×W`` float → ``N×C×size×size`` (antialiased bilinear, like PIL's resize); no-op at H."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = F.interpolate(
        images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.clamp_(0.0, 1.0)


def whole_image_layer(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``N×H×W×3`` → float RGBA layer ``N×4×size×size`` with alpha = 1 (fully opaque), on
    the device of ``images`` (a NumPy array is a CPU tensor)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    x = images.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    x = resize_images(x, size)
    return torch.cat([x, torch.ones_like(x[:, :1])], dim=1)


# --------------------------------------------------------------------------------------------
# compositing and quantisation
# --------------------------------------------------------------------------------------------
def composite(layer: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Alpha-composite an RGBA layer ``N×4×H×W`` (straight alpha) onto RGB ``N×H×W×3``.

    Returns ``N×H×W×3`` (channels last, like the stored images) in [0, 1]: ``bg + a·(rgb − bg)``,
    one fused ``lerp`` over a channels-last view of the layer (no extra permute copies).
    """
    lay = layer.permute(0, 2, 3, 1)  # view N×H×W×4
    alpha = lay[..., 3:].clamp(0.0, 1.0)  # RGB overshoot is clamped once, in to_uint8
    return torch.lerp(background, lay[..., :3], alpha)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → ``uint8`` tensor of the same layout and device by
    round-half-to-even of ``255·x`` (clamped to [0, 255]).

    The input is consumed (quantised in place) to save a copy per chunk.
    """
    return images.mul_(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """:func:`quantize` of CPU images as a contiguous NumPy array (what the dataset writer stores)."""
    return quantize(images).contiguous().numpy()
