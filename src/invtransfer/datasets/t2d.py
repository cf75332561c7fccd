"""Transforms-2D datasets D(O, T) and structured random data (paper §3.3, App. A.1, D.1).

A sample is a pure function of ``(spec, split, index)``:

- **class**: ``class_balance="iid"`` (default; the paper's "P_O samples objects uniformly at
  random", and the reference's hash, which is not balanced: 1611–1787 per class for 50k samples
  and 30 classes) draws the class uniformly per index; ``"exact"`` splits the indices into
  consecutive blocks of K (the number of classes) and gives each block a seeded permutation of the
  K classes, keyed by ``(seed, split, block)``, so every class appears exactly ``n // K`` or
  ``n // K + 1`` times;
- **object**: one prototype per class (paper App. A.1), so the object follows from the class;
- **background**: an index into the split's background bank, uniform, keyed by ``(seed, split,
  index)``; or per-sample uniform random pixels (structured random data), or black;
- **transformation parameters**: ``CounterRNG(derive_seed(transform_seed, split, "transforms"),
  indices)``, so a second ``transform_seed`` gives the *twin* dataset that the sens metric pairs
  with: same class, object and background at every index, different transformation draws.

Composition, per chunk of indices and with batched torch ops only:

1. prototypes are built once per dataset: the object's tight RGBA crop is squashed to a square
   of side ``round(object_scale · size)`` (the reference; ``squash_aspect=False`` keeps the aspect
   ratio and makes the longest side that long), resampled like the reference (``"reference"``:
   antialiased bilinear to the canvas size, then antialiased bicubic to the object size) on
   premultiplied RGBA (so transparent pixels do not bleed dark fringes), then centred on a
   transparent ``size × size`` canvas;
2. ``apply_transforms`` on the gathered prototypes (straight alpha, RGB = 0 where transparent);
3. alpha compositing onto the background: ``rgb·a + bg·(1 − a)`` (computed as ``lerp``);
4. ``uint8`` by ``round(255·x)`` with round-half-to-even (``torch.round``), after clamping to
   [0, 1]: deterministic on CPU and unbiased.

Structured random patterns (App. D.1): per class a square of uniform random ``uint8`` pixels,
``round(pattern_fraction · size)`` pixels on a side, keyed by ``(objects.seed, class)``, fully
opaque, centred. Unlike the reference they are uniform pixels drawn at canvas resolution, not a
byte reinterpretation of float32 noise smoothed by a bicubic resize (reference §2.7).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from invtransfer.datasets.builders import BuildPlan
from invtransfer.datasets.spec import (
    DEFAULT_CLASS_BALANCE,
    RESAMPLE_MODES,
    canonicalize_spec,
    location,
)
from invtransfer.errors import ConfigError
from invtransfer.rng import CounterRNG, derive_seed

__all__ = [
    "assign_backgrounds",
    "assign_classes",
    "build",
    "composite",
    "object_prototypes",
    "prototype_layer",
    "random_backgrounds",
    "random_patterns",
    "to_uint8",
]

log = logging.getLogger("invtransfer.datasets.t2d")


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


# --------------------------------------------------------------------------------------------
# prototypes
# --------------------------------------------------------------------------------------------
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


def _uniform_bytes(rng: CounterRNG, name: str, nbytes: int) -> np.ndarray:
    """``n×nbytes`` uniform ``uint8`` per sample (8 bytes of each SplitMix64 output, little-endian)."""
    words = rng.bits(name, (nbytes + 7) // 8).astype("<u8", copy=False)
    return np.ascontiguousarray(words).view(np.uint8)[:, :nbytes]


def random_patterns(count: int, size: int, *, seed: int, fraction: float = 0.7) -> torch.Tensor:
    """Structured-random prototypes: ``count×4×size×size``, an opaque square of uniform pixels.

    Pattern ``c`` depends only on ``(seed, c)``: the first 30 patterns are the same whether 30 or
    60 are drawn.
    """
    side = max(1, _round_half_up(fraction * size))
    rng = CounterRNG(derive_seed(seed, "random-patterns"), np.arange(count))
    pixels = _uniform_bytes(rng, "pixels", side * side * 3).reshape(count, side, side, 3)
    layer = torch.zeros(count, 4, size, size, dtype=torch.float32)
    top = (size - side) // 2
    layer[:, :3, top : top + side, top : top + side] = (
        torch.from_numpy(pixels.copy()).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    )
    layer[:, 3, top : top + side, top : top + side] = 1.0
    return layer


# --------------------------------------------------------------------------------------------
# per-sample sampling (vectorised over indices)
# --------------------------------------------------------------------------------------------
def assign_classes(
    seed: int,
    split: str,
    indices: np.ndarray,
    num_classes: int,
    balance: str = DEFAULT_CLASS_BALANCE,
) -> np.ndarray:
    """The class of each index (``int64``); see the module docstring for ``exact`` vs ``iid``."""
    indices = np.asarray(indices, dtype=np.int64)
    key = derive_seed(seed, split, "class")
    if balance == "iid":
        return CounterRNG(key, indices).integers("class", 0, num_classes).numpy()
    if balance != "exact":
        raise ValueError(f"balance must be 'exact' or 'iid', got {balance!r}")
    blocks, pos = np.divmod(indices, num_classes)
    unique, inverse = np.unique(blocks, return_inverse=True)
    # one sort key per (block, class): a seeded permutation of the classes within each block
    counters = (unique[:, None] * num_classes + np.arange(num_classes)[None, :]).reshape(-1)
    keys = (
        CounterRNG(key, counters).permutation_keys("permutation").reshape(len(unique), num_classes)
    )
    perms = np.argsort(keys, axis=1, kind="stable")
    return perms[inverse, pos].astype(np.int64)


def assign_backgrounds(seed: int, split: str, indices: np.ndarray, bank_size: int) -> np.ndarray:
    """Uniform bank index per sample (``int64``), keyed by ``(seed, split, index)``."""
    rng = CounterRNG(derive_seed(seed, split, "background"), np.asarray(indices, dtype=np.int64))
    return rng.integers("bank", 0, bank_size).numpy()


def random_backgrounds(
    seed: int, split: str, indices: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample uniform random pixels ``uint8`` ``n×size×size×3`` and their stream seeds."""
    rng = CounterRNG(derive_seed(seed, split, "background"), np.asarray(indices, dtype=np.int64))
    pixels = _uniform_bytes(rng, "pixels", size * size * 3).reshape(len(indices), size, size, 3)
    return pixels, rng.sample_seeds("pixels")


# --------------------------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------------------------
def composite(layer: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Alpha-composite an RGBA layer ``N×4×H×W`` (straight alpha) onto RGB ``N×H×W×3``.

    Returns ``N×H×W×3`` (channels last, like the stored images) in [0, 1]: ``bg + a·(rgb − bg)``,
    one fused ``lerp`` over a channels-last view of the layer (no extra permute copies).
    """
    lay = layer.permute(0, 2, 3, 1)  # view N×H×W×4
    alpha = lay[..., 3:].clamp(0.0, 1.0)  # RGB overshoot is clamped once, in to_uint8
    return torch.lerp(background, lay[..., :3], alpha)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float images in [0, 1] → ``uint8`` of the same layout by round-half-to-even of ``255·x``.

    The input is consumed (quantised in place) to save a copy per chunk.
    """
    q = images.mul_(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)
    return q.contiguous().numpy()


# --------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------
def _select_objects(spec: Mapping[str, Any]) -> tuple[list[str], list[np.ndarray], list[str]]:
    """Class names, RGBA crops and source ids of the spec's objects (class i = names[i])."""
    from invtransfer.assets import available_object_names, load_objects

    cfg = spec["objects"]
    asset_cfg: dict[str, Any] = {"source": cfg["source"]}
    for name in ("path", "font"):
        if location(cfg, name) is not None:
            asset_cfg[name] = location(cfg, name)
    if cfg.get("download"):
        asset_cfg["download"] = True
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


def _photo_bank(spec: Mapping[str, Any], split: str, photos: Any) -> torch.Tensor:
    from invtransfer.assets import background_bank

    bg = spec["backgrounds"]
    bank = background_bank(
        photos,
        size=spec["image_size"],
        count=bg["bank_size"],
        seed=bg["seed"],
        split=split,
        split_photos=bg["split_photos"],
    )
    expected = (bg["bank_size"], spec["image_size"], spec["image_size"], 3)
    if bank.dtype != np.uint8 or bank.shape != expected:
        raise TypeError(
            f"background_bank returned {bank.dtype} {bank.shape}, expected uint8 {expected}"
        )
    return torch.from_numpy(np.ascontiguousarray(bank)).to(torch.float32).div_(255.0)  # N×H×W×3


class _T2DPlan(BuildPlan):
    """Generator of chunks for one D(O, T) / structured-random dataset."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        size = spec["image_size"]
        objects = spec["objects"]
        if spec["kind"] == "random":
            k = objects["count"]
            class_names = [f"pattern{c:02d}" for c in range(k)]
            self.object_ids = [f"random:seed={objects['seed']}:class={c}" for c in range(k)]
            self.prototypes = random_patterns(
                k, size, seed=objects["seed"], fraction=objects["pattern_fraction"]
            )
        else:
            class_names, rgbas, self.object_ids = _select_objects(spec)
            self.prototypes = object_prototypes(
                rgbas,
                size,
                scale=spec["object_scale"],
                squash_aspect=spec["squash_aspect"],
                resample=spec["prototype_resample"],
            )
        self._photos: Any = None
        self._banks: dict[str, torch.Tensor] = {}
        bg = spec["backgrounds"]
        if bg["source"] not in ("random", "black"):
            from invtransfer.assets import load_background_photos

            cfg = {"source": bg["source"]}
            if location(bg, "path") is not None:
                cfg["path"] = location(bg, "path")
            self._photos = load_background_photos(cfg)
        super().__init__(
            class_names=class_names,
            splits=dict(spec["splits"]),
            info={
                "objects": [
                    {"label": i, "name": n, "source": s}
                    for i, (n, s) in enumerate(zip(class_names, self.object_ids, strict=True))
                ],
                "background_source": bg["source"],
            },
        )

    def prepare(self) -> None:
        """Build every split's background bank now (before ``materialize`` forks workers)."""
        for split in self.spec["splits"]:
            self._bank(split)

    def _bank(self, split: str) -> torch.Tensor | None:
        """The split's background bank as float ``N×H×W×3`` (built once per bank and process:
        with ``split_photos="shared"`` every split uses the same bank)."""
        if self._photos is None:
            return None
        key = "shared" if self.spec["backgrounds"]["split_photos"] == "shared" else split
        if key not in self._banks:
            self._banks[key] = _photo_bank(self.spec, split, self._photos)
        return self._banks[key]

    def chunks(
        self, split: str, chunk_size: int = 256, *, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """Images and meta of indices ``start..stop`` of ``split`` in order, ``chunk_size`` at a time.

        Every sample depends only on its index, so any ``chunk_size``/``start`` gives the same
        samples (``materialize`` hands disjoint ranges to worker processes).
        """
        from invtransfer.transforms import TransformOptions, apply_transforms

        spec = self.spec
        if split not in spec["splits"]:
            raise ValueError(f"split {split!r} is not in this dataset (has {list(spec['splits'])})")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        n, size, seed = spec["splits"][split], spec["image_size"], spec["seed"]
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise ValueError(f"need 0 <= start <= stop <= {n}, got start={start}, stop={stop}")
        names = spec["transforms"]
        options = TransformOptions(
            **{k: v for k, v in spec["transform_options"].items() if not k.startswith("_")}
        )
        bg_source = spec["backgrounds"]["source"]
        bank = self._bank(split)
        class_names = np.array(self.class_names, dtype=object)
        object_ids = np.array(self.object_ids, dtype=object)
        tkey = derive_seed(spec["transform_seed"], split, "transforms")
        for first in range(start, stop, chunk_size):
            idx = np.arange(first, min(stop, first + chunk_size), dtype=np.int64)
            labels = assign_classes(seed, split, idx, len(self.class_names), spec["class_balance"])
            meta: dict[str, Any] = {
                "index": idx,
                "split": np.full(len(idx), split, dtype=object),
                "label": labels,
                "class_name": class_names[labels],
                "object": object_ids[labels],
            }
            if bank is not None:
                bg_idx = assign_backgrounds(seed, split, idx, bank.shape[0])
                background = bank[torch.from_numpy(bg_idx)]
                meta["background"] = bg_idx
            elif bg_source == "random":
                pixels, seeds = random_backgrounds(seed, split, idx, size)
                background = torch.from_numpy(pixels).to(torch.float32).div_(255.0)
                meta["background"] = np.full(len(idx), -1, dtype=np.int64)
                meta["background_seed"] = seeds
            else:  # black
                background = torch.zeros(len(idx), size, size, 3)
                meta["background"] = np.full(len(idx), -1, dtype=np.int64)
            layer = self.prototypes[torch.from_numpy(labels)]
            if names:
                layer, columns = apply_transforms(layer, names, CounterRNG(tkey, idx), options)
                for col, values in columns.items():
                    meta[col] = np.asarray(values)
            yield to_uint8(composite(layer, background)), pd.DataFrame(meta)


def build(spec: Mapping[str, Any]) -> BuildPlan:
    """The build plan of a ``t2d`` or ``random`` spec (objects and prototypes are loaded here)."""
    canonical = canonicalize_spec(spec)
    if canonical["kind"] not in ("t2d", "random"):
        raise ValueError(f"t2d.build handles kinds 't2d' and 'random', got {canonical['kind']!r}")
    return _T2DPlan(canonical)
