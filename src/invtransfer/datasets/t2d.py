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
opaque, centred; the random backgrounds are uniform ``uint8`` pixels per sample. With
``pixels: float32-bytes`` (objects and backgrounds) they are built as the reference builds them
(reference §2.7): the bytes of uniform ``float32`` values read as ``uint8`` RGB (every fourth
byte is a float's exponent byte, 57–63, so one channel in a rotating 4-pixel pattern is dark),
and a pattern is that ``size × size`` image resized to its side like an object prototype
(antialiased bicubic: the reference's ``scale_object``); a background is the image as it is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from invtransfer.datasets.base import BuildPlan
from invtransfer.datasets.compose import load_object_images, object_prototypes
from invtransfer.datasets.render import EpochRenderer, epoch_transform_seed, render_layers
from invtransfer.datasets.validate import (
    CLASS_BALANCE,
    DEFAULT_CLASS_BALANCE,
    DEFAULT_RANDOM_PIXELS,
    DEFAULT_SPLITS,
    RANDOM_PIXELS,
    RESAMPLE_MODES,
    UNIVERSAL_KEYS,
    canonical_backgrounds,
    canonical_objects,
    canonical_splits,
    canonical_universal,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_mapping,
    fail,
    location,
    underscored,
)
from invtransfer.rng import CounterRNG, derive_seed

__all__ = [
    "PROTOTYPE_DEFAULTS",
    "T2DRenderer",
    "assign_backgrounds",
    "assign_classes",
    "build",
    "canonicalize_t2d_spec",
    "random_backgrounds",
    "random_patterns",
]

log = logging.getLogger("invtransfer.datasets.t2d")

_T2D_KEYS = (
    *UNIVERSAL_KEYS,
    "objects",
    "backgrounds",
    "splits",
    "image_size",
    "object_scale",
    "squash_aspect",
    "prototype_resample",
    "class_balance",
)
# Structured random data: the pattern size is objects.pattern_fraction, and patterns are drawn at
# canvas resolution, so the prototype-resizing keys do not apply.
_RANDOM_KEYS = (
    *UNIVERSAL_KEYS,
    "objects",
    "backgrounds",
    "splits",
    "image_size",
    "class_balance",
)
#: Object-prototype keys of kind ``t2d`` and their defaults (the reference's, docs/FIDELITY.md).
PROTOTYPE_DEFAULTS = {
    "object_scale": 0.7,
    "squash_aspect": True,
    "prototype_resample": "reference",
}


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


# --------------------------------------------------------------------------------------------
# spec
# --------------------------------------------------------------------------------------------
def canonicalize_t2d_spec(given: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of a ``t2d`` or ``random`` spec: defaults filled, values checked,
    unknown keys rejected (see ``docs/ARCHITECTURE.md``, "Datasets on disk"). Idempotent."""
    kind = given["kind"]
    if kind not in ("t2d", "random"):
        raise fail("kind", f"canonicalize_t2d_spec handles 't2d' and 'random', got {kind!r}")
    allowed = _T2D_KEYS if kind == "t2d" else _RANDOM_KEYS
    if kind == "random":
        # Planners pass the same object keys to every kind; at their defaults they are no-ops
        # here and dropped, any other value is a mistake worth an error.
        given = dict(given)
        for k, default in PROTOTYPE_DEFAULTS.items():
            if k in given and given.pop(k) != default:
                raise fail(
                    k,
                    "not used by kind 'random' (patterns are drawn at canvas resolution; "
                    "their size is objects.pattern_fraction); leave it at "
                    f"{default!r} or remove it",
                )
    check_mapping(given, "", allowed)
    out = canonical_universal(given)
    seed = out["seed"]
    out["objects"] = canonical_objects(given.get("objects"), kind, seed)
    out["backgrounds"] = canonical_backgrounds(
        given.get("backgrounds"), "bundle" if kind == "t2d" else "random", seed
    )
    out["splits"] = canonical_splits(given.get("splits", DEFAULT_SPLITS))
    out["image_size"] = check_int(
        given.get("image_size", 32), "image_size", minimum=4, maximum=4096
    )
    if kind == "t2d":
        out["object_scale"] = check_float(
            given.get("object_scale", PROTOTYPE_DEFAULTS["object_scale"]),
            "object_scale",
            low=0.0,
            high=1.0,
            low_open=True,
        )
        out["squash_aspect"] = check_bool(
            given.get("squash_aspect", PROTOTYPE_DEFAULTS["squash_aspect"]), "squash_aspect"
        )
        out["prototype_resample"] = check_choice(
            given.get("prototype_resample", PROTOTYPE_DEFAULTS["prototype_resample"]),
            "prototype_resample",
            RESAMPLE_MODES,
        )
    out["class_balance"] = check_choice(
        given.get("class_balance", DEFAULT_CLASS_BALANCE), "class_balance", CLASS_BALANCE
    )
    out.update(underscored({k: v for k, v in given.items() if k not in out}))
    return out


# --------------------------------------------------------------------------------------------
# prototypes
# --------------------------------------------------------------------------------------------
def _uniform_bytes(rng: CounterRNG, name: str, nbytes: int) -> np.ndarray:
    """``n×nbytes`` uniform ``uint8`` per sample (8 bytes of each SplitMix64 output, little-endian)."""
    words = rng.bits(name, (nbytes + 7) // 8).astype("<u8", copy=False)
    return np.ascontiguousarray(words).view(np.uint8)[:, :nbytes]


def _float32_bytes(rng: CounterRNG, name: str, nbytes: int) -> np.ndarray:
    """``n×nbytes`` ``uint8`` per sample: the little-endian bytes of uniform ``float32`` values in
    [0, 1) (24-bit mantissas, as NumPy's ``random(dtype=float32)`` draws them), the reference's
    ``Image.fromarray(rng.random((H, W, 3), dtype=float32), "RGB")`` (reference §2.7)."""
    floats = (nbytes + 3) // 4
    words = rng.bits(name, (floats + 1) // 2).astype("<u8", copy=False)
    halves = np.ascontiguousarray(words).view("<u4")[:, :floats]
    values = ((halves >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)).astype("<f4")
    return np.ascontiguousarray(values).view(np.uint8)[:, :nbytes]


def _random_pixels(rng: CounterRNG, name: str, nbytes: int, pixels: str) -> np.ndarray:
    """``n×nbytes`` random ``uint8`` per sample, made as ``pixels`` says (:data:`RANDOM_PIXELS`)."""
    if pixels == "uniform":
        return _uniform_bytes(rng, name, nbytes)
    if pixels == "float32-bytes":
        return _float32_bytes(rng, name, nbytes)
    raise ValueError(f"pixels must be one of {', '.join(RANDOM_PIXELS)}, got {pixels!r}")


def random_patterns(
    count: int,
    size: int,
    *,
    seed: int,
    fraction: float = 0.7,
    pixels: str = DEFAULT_RANDOM_PIXELS,
) -> torch.Tensor:
    """Structured-random prototypes: ``count×4×size×size``, an opaque centred square
    ``round(fraction·size)`` pixels on a side: uniform pixels (``pixels="uniform"``, the paper) or
    the reference's float32 bytes, bicubic-resized (``"float32-bytes"``).

    Pattern ``c`` depends only on ``(seed, c)``: the first 30 patterns are the same whether 30 or
    60 are drawn.
    """
    side = max(1, _round_half_up(fraction * size))
    rng = CounterRNG(derive_seed(seed, "random-patterns"), np.arange(count))
    layer = torch.zeros(count, 4, size, size, dtype=torch.float32)
    top = (size - side) // 2
    if pixels != DEFAULT_RANDOM_PIXELS:
        # the reference: the whole canvas of float32 bytes, resized to the side (Pillow BICUBIC,
        # antialiased like Pillow's, back to uint8), fully opaque
        canvas = _random_pixels(rng, "pixels", size * size * 3, pixels)
        rgb = torch.from_numpy(canvas.reshape(count, size, size, 3).copy())
        rgb = rgb.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        if side != size:
            rgb = F.interpolate(
                rgb, size=(side, side), mode="bicubic", antialias=True, align_corners=False
            )
        layer[:, :3, top : top + side, top : top + side] = rgb.clamp(0, 1).mul(255).round() / 255
        layer[:, 3, top : top + side, top : top + side] = 1.0
        return layer
    pixels = _uniform_bytes(rng, "pixels", side * side * 3).reshape(count, side, side, 3)
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
    seed: int,
    split: str,
    indices: np.ndarray,
    size: int,
    *,
    pixels: str = DEFAULT_RANDOM_PIXELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample random pixels ``uint8`` ``n×size×size×3`` (uniform, or the reference's float32
    bytes: ``pixels="float32-bytes"``) and their stream seeds."""
    rng = CounterRNG(derive_seed(seed, split, "background"), np.asarray(indices, dtype=np.int64))
    out = _random_pixels(rng, "pixels", size * size * 3, pixels)
    return out.reshape(len(indices), size, size, 3), rng.sample_seeds("pixels")


# --------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------
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
        crops=bg.get("crops", "random"),
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
                k,
                size,
                seed=objects["seed"],
                fraction=objects["pattern_fraction"],
                pixels=objects.get("pixels", DEFAULT_RANDOM_PIXELS),
            )
        else:
            class_names, rgbas, self.object_ids = load_object_images(spec["objects"])
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
            if bg.get("max_size") is not None:
                cfg["max_size"] = bg["max_size"]
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

    def _random_backgrounds(self, split: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`random_backgrounds` of ``idx`` as this spec makes them (its seed, size, pixels)."""
        spec = self.spec
        pixels = spec["backgrounds"].get("pixels", DEFAULT_RANDOM_PIXELS)
        return random_backgrounds(spec["seed"], split, idx, spec["image_size"], pixels=pixels)

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
        from invtransfer.transforms import TransformOptions

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
        tkey = self.transform_key(split, spec["transform_seed"])
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
                pixels, seeds = self._random_backgrounds(split, idx)
                background = torch.from_numpy(pixels).to(torch.float32).div_(255.0)
                meta["background"] = np.full(len(idx), -1, dtype=np.int64)
                meta["background_seed"] = seeds
            else:  # black
                background = torch.zeros(len(idx), size, size, 3)
                meta["background"] = np.full(len(idx), -1, dtype=np.int64)
            layer = self.prototypes[torch.from_numpy(labels)]  # a gather: a new tensor
            images, columns = render_layers(
                layer, background, names, CounterRNG(tkey, idx), options, overwrite=True
            )
            for col, values in columns.items():
                meta[col] = np.asarray(values)
            yield images.contiguous().numpy(), pd.DataFrame(meta)

    @staticmethod
    def transform_key(split: str, transform_seed: int) -> int:
        """The ``CounterRNG`` key of a split's transformation draws (indexed by sample index)."""
        return derive_seed(transform_seed, split, "transforms")

    def renderer(self, split: str, device: torch.device | str, *, name: str) -> T2DRenderer:
        """Per-epoch rendering of ``split`` on ``device`` (see :mod:`~invtransfer.datasets.render`)."""
        return T2DRenderer(self, split, torch.device(device), name=name)


class T2DRenderer(EpochRenderer):
    """Epoch ``e`` of a Transforms-2D / structured-random split: the prototypes, the background
    bank (or each sample's random background) and each sample's class and background index stay
    resident on the device; each batch gathers its layers and backgrounds, then transforms and
    composites them exactly as :meth:`_T2DPlan.chunks` does."""

    def __init__(self, plan: _T2DPlan, split: str, device: torch.device, *, name: str):
        spec = plan.spec
        if split not in spec["splits"]:
            raise ValueError(f"split {split!r} is not in this dataset (has {list(spec['splits'])})")
        n, seed = spec["splits"][split], spec["seed"]
        idx = np.arange(n, dtype=np.int64)
        labels = assign_classes(seed, split, idx, len(plan.class_names), spec["class_balance"])
        super().__init__(
            dataset=name,
            spec=spec,
            split=split,
            labels=labels,
            counters=idx,
            class_names=plan.class_names,
            device=device,
        )
        self._plan_key = plan.transform_key
        self._prototypes = plan.prototypes.to(device)
        self._labels_dev = self.labels.to(device)
        bank = plan._bank(split)
        self._bank: torch.Tensor | None = None
        self._bg_index: torch.Tensor | None = None
        self._pixels: torch.Tensor | None = None
        if bank is not None:
            self._bank = bank.to(device)
            bg = assign_backgrounds(seed, split, idx, bank.shape[0])
            self._bg_index = torch.from_numpy(bg).to(device)
        elif spec["backgrounds"]["source"] == "random":
            pixels, _ = plan._random_backgrounds(split, idx)
            self._pixels = torch.from_numpy(pixels).to(device)  # uint8, as materialize draws them

    def transform_key(self, epoch: int) -> int:
        return self._plan_key(self.split, epoch_transform_seed(self.spec["transform_seed"], epoch))

    def _layers(self, rows: torch.Tensor) -> torch.Tensor:
        return self._prototypes[self._labels_dev[rows]]

    def _backgrounds(self, rows: torch.Tensor) -> torch.Tensor:
        if self._bank is not None:
            assert self._bg_index is not None
            return self._bank[self._bg_index[rows]]
        if self._pixels is not None:
            return self._pixels[rows].to(torch.float32).div_(255.0)
        size = self.image_shape[0]
        return torch.zeros(rows.shape[0], size, size, 3, device=self.device)


def build(spec: Mapping[str, Any]) -> BuildPlan:
    """The build plan of a ``t2d`` or ``random`` spec (objects and prototypes are loaded here)."""
    return _T2DPlan(canonicalize_t2d_spec(spec))
