"""CIFAR-10 with small Transforms-2D objects pasted on it (dataset kind ``"cifar_objects"``).

The irrelevant-feature experiments (paper §4.2, App. A.2, C.3; reference
``irrelevant_feature_extraction``) combine two sources of information in one image: the CIFAR
picture and a small object. Each dataset fixes what the input holds (X) and what the label is (Y):

============  ===========================================  ==========================
``variant``   image                                        ``label``
============  ===========================================  ==========================
``"C/C"``     the CIFAR image                              CIFAR class
``"C+O/C"``   CIFAR image with an object pasted on it      CIFAR class
``"C+O/O"``   CIFAR image with an object pasted on it      object class
``"O/O"``     the object on black                          object class
============  ===========================================  ==========================

The object (one of the spec's ``objects``, e.g. the 10 an experiment drew) is scaled so that its
longest side is ``round(object_scale · size)`` = 12 px at 32 px (``object_scale`` 0.385 = the
reference's ``scale_object(0.55)`` of its 0.7 object box, i.e. 0.55 × 22 px) and pasted with
alpha compositing at the upper right (``placement: "upper-right"``: top-left corner at
``(size − side − size/32, 0)`` = (19, 0) at 32 px, the reference's effective (18.75, −0.25)
rounded) or at a uniformly random position inside the image (``"random"``, Table 1's "translate"
variant).

Per sample ``i`` (position in the split), under ``object_seed``:

- ``availability`` β: an object is pasted with probability β (Fig 14 c, d; 1 for the Y=O variants);
- ``correlation`` α: with probability α the object is the one tied to the image's CIFAR class
  (label k ↔ ``objects[k]``), otherwise uniform over all objects (Fig 14 a, b);
- the position (``"random"`` placement).

The CIFAR image at index ``i`` is chosen by :func:`invtransfer.datasets.cifar.select_indices` with
its order keyed by ``cifar_seed``, while the object draw depends only on ``(object_seed, split,
i)``. So Table 1's sens pairs are spec pairs: changing ``cifar_seed`` puts the *same objects* (and
positions) on *other CIFAR images*; changing ``object_seed`` puts *other objects* on the *same
CIFAR images*. With α > 0 the tied objects follow the CIFAR class and so change with the image.

``"C/C"`` pastes nothing, so its canonical spec drops the object keys (the same C/C dataset serves
every object draw). Columns: ``cifar_index``, ``cifar_label``, ``cifar_class``, ``object`` (name,
null when none), ``object_label`` (−1 when none), ``object_x``/``object_y`` (top-left, −1 when
none) and ``object_tied`` (drawn from the class tie).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from invtransfer.datasets.base import BuildPlan
from invtransfer.datasets.cifar_aug import (
    CIFAR_KEYS,
    CifarSelection,
    canonical_cifar_keys,
    canonical_locations,
    select_split,
)
from invtransfer.datasets.compose import (
    load_object_images,
    prototype_layer,
    resize_images,
    to_uint8,
)
from invtransfer.datasets.validate import (
    MAX_SEED,
    UNIVERSAL_KEYS,
    canonical_objects,
    canonical_transform_options,
    check_choice,
    check_float,
    check_int,
    check_mapping,
    fail,
)
from invtransfer.errors import ConfigError
from invtransfer.rng import CounterRNG, derive_seed

__all__ = [
    "DEFAULT_OBJECT_SCALE",
    "PLACEMENTS",
    "SPEC_KEYS",
    "VARIANTS",
    "build",
    "canonicalize_spec",
    "object_side",
    "paste_objects",
    "upper_right",
]

VARIANTS = ("C/C", "C+O/C", "C+O/O", "O/O")  # X/Y: input features / label source
PLACEMENTS = ("upper-right", "random")
DEFAULT_OBJECT_SCALE = 0.55 * 0.7  # reference: scale_object(0.55) of the 0.7 (22 px) object box
OBJECT_KEYS = (
    "variant",
    "objects",
    "placement",
    "correlation",
    "availability",
    "cifar_seed",
    "object_seed",
    "object_scale",
)
SPEC_KEYS = (*UNIVERSAL_KEYS, *CIFAR_KEYS, *OBJECT_KEYS)


def object_side(size: int, scale: float = DEFAULT_OBJECT_SCALE) -> int:
    """Longest side of a pasted object in pixels: ``round(scale · size)`` (12 at 32 px)."""
    return max(1, math.floor(scale * size + 0.5))


def upper_right(size: int, side: int) -> tuple[int, int]:
    """Top-left ``(x, y)`` of the fixed placement: ``size/32`` px from the right edge, at the top."""
    return max(0, size - side - math.floor(size / 32 + 0.5)), 0


def canonicalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Kind ``cifar_objects``'s ``canonicalize`` (see :mod:`invtransfer.datasets.kinds`): the canonical spec.

    Transformations are not applied by this kind (``transforms`` must be empty, options at their
    defaults); ``transform_seed`` is unused and set to ``seed``. Idempotent.
    """
    check_mapping(spec, "", SPEC_KEYS)
    if spec.get("kind", "cifar_objects") != "cifar_objects":
        raise fail("kind", f"cifar_objects builds kind 'cifar_objects', got {spec.get('kind')!r}")
    if spec.get("transforms"):
        raise fail(
            "transforms",
            "kind 'cifar_objects' applies no transformations; use placement 'random' for the "
            f"translate variant, got {spec['transforms']!r}",
        )
    options = canonical_transform_options(spec.get("transform_options"))
    if options != canonical_transform_options(None):
        raise fail("transform_options", "kind 'cifar_objects' applies no transformations")
    seed = check_int(spec.get("seed", 0), "seed", minimum=0, maximum=MAX_SEED)
    if "variant" not in spec:
        raise fail("variant", f"is required (one of {', '.join(VARIANTS)})")
    variant = check_choice(spec["variant"], "variant", VARIANTS)
    out: dict[str, Any] = {
        "kind": "cifar_objects",
        "variant": variant,
        "transforms": [],
        "transform_options": options,
        "seed": seed,
        "transform_seed": seed,
        "shard_size": check_int(spec.get("shard_size", 10_000), "shard_size", minimum=1),
        **canonical_cifar_keys(spec, default_dataset="cifar10"),
        "cifar_seed": check_int(
            spec.get("cifar_seed", seed), "cifar_seed", minimum=0, maximum=MAX_SEED
        ),
    }
    if variant != "C/C":  # C/C pastes nothing: the object keys do not change its data
        if spec.get("objects") is None:
            raise fail("objects", f"variant {variant!r} needs objects (source and names)")
        objects = canonical_objects(spec["objects"], "t2d", seed)
        if objects["names"] is not None and len(objects["names"]) < 2:
            raise fail("objects.names", "give at least 2 objects")
        availability = check_float(spec.get("availability", 1.0), "availability", low=0.0, high=1.0)
        if variant.endswith("/O") and availability != 1.0:
            raise fail(
                "availability",
                f"variant {variant!r} labels images by their object, so every image needs one "
                f"(availability 1.0), got {availability}",
            )
        out.update(
            {
                "objects": objects,
                "placement": check_choice(
                    spec.get("placement", "upper-right"), "placement", PLACEMENTS
                ),
                "correlation": check_float(
                    spec.get("correlation", 0.0), "correlation", low=0.0, high=1.0
                ),
                "availability": availability,
                "object_seed": check_int(
                    spec.get("object_seed", seed), "object_seed", minimum=0, maximum=MAX_SEED
                ),
                "object_scale": check_float(
                    spec.get("object_scale", DEFAULT_OBJECT_SCALE),
                    "object_scale",
                    low=0.0,
                    high=1.0,
                    low_open=True,
                ),
            }
        )
    out.update(canonical_locations(spec))
    return out


def paste_objects(
    base: np.ndarray,
    sprites: torch.Tensor,
    which: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> np.ndarray:
    """Alpha-composite ``sprites[which[i]]`` at ``(x[i], y[i])`` onto ``base[i]`` where ``which[i] >= 0``.

    ``base``: uint8 ``N×H×W×3``; ``sprites``: float ``K×4×s×s`` (straight alpha). Images without
    an object are returned byte-for-byte unchanged. Returns a new uint8 array.
    """
    out = np.array(base, copy=True)
    rows = np.flatnonzero(which >= 0)
    if rows.size == 0:
        return out
    side = sprites.shape[-1]
    _, h, w, _ = base.shape
    if (
        (x[rows] < 0).any()
        or (y[rows] < 0).any()
        or (x[rows] + side > w).any()
        or (y[rows] + side > h).any()
    ):
        raise ValueError(f"object positions must keep the {side}px box inside the {w}×{h} image")
    bg = torch.from_numpy(np.ascontiguousarray(base[rows])).to(torch.float32).div_(255.0)
    layer = torch.zeros(rows.size, h, w, 4)
    ar = torch.arange(side)
    yy = torch.from_numpy(y[rows]).long()[:, None] + ar[None, :]  # m×s
    xx = torch.from_numpy(x[rows]).long()[:, None] + ar[None, :]
    m = torch.arange(rows.size)[:, None, None]
    layer[m, yy[:, :, None], xx[:, None, :]] = sprites[
        torch.from_numpy(which[rows]).long()
    ].permute(0, 2, 3, 1)
    composed = torch.lerp(bg, layer[..., :3], layer[..., 3:].clamp(0.0, 1.0))
    out[rows] = to_uint8(composed)
    return out


class _CifarObjectsPlan(BuildPlan):
    """Chunks of one C / C+O / O dataset; selections are made up front."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.variant = spec["variant"]
        size = spec["image_size"]
        self._selection: dict[str, CifarSelection] = {
            split: select_split(spec, split, order_seed=spec["cifar_seed"])
            for split in spec["splits"]
        }
        cifar_names = next(iter(self._selection.values())).class_names
        self.object_names: list[str] = []
        object_sources: list[str] = []
        self.sprites = torch.zeros(0, 4, 1, 1)
        if self.variant != "C/C":
            self.object_names, rgbas, object_sources = load_object_images(spec["objects"])
            if len(self.object_names) < 2:
                raise ConfigError("dataset spec key 'objects': need at least 2 objects")
            if spec["correlation"] > 0 and len(self.object_names) < len(spec["classes"]):
                raise ConfigError(
                    f"dataset spec key 'correlation': tying one object to each of the "
                    f"{len(spec['classes'])} CIFAR classes needs at least as many objects, got "
                    f"{len(self.object_names)}"
                )
            side = object_side(size, spec["object_scale"])
            self.sprites = torch.stack([prototype_layer(r, side, scale=1.0) for r in rgbas])
        label_is_object = self.variant.endswith("/O")
        super().__init__(
            class_names=list(self.object_names if label_is_object else cifar_names),
            splits={s: len(sel) for s, sel in self._selection.items()},
            info={
                "variant": self.variant,
                "cifar_classes": [
                    {"cifar_label": c, "name": n}
                    for c, n in zip(spec["classes"], cifar_names, strict=True)
                ],
                "objects": [
                    {"object_label": i, "name": n, "source": s}
                    for i, (n, s) in enumerate(zip(self.object_names, object_sources, strict=True))
                ],
            },
        )

    def _draw(self, split: str, idx: np.ndarray, cifar_pos: np.ndarray) -> dict[str, np.ndarray]:
        """Object, tie flag and position per index (−1 = no object); see the module docstring."""
        spec, n = self.spec, idx.size
        none = np.full(n, -1, dtype=np.int64)
        if self.variant == "C/C":
            return {"object": none, "tied": np.zeros(n, bool), "x": none, "y": none}
        size, side = spec["image_size"], self.sprites.shape[-1]
        rng = CounterRNG(
            derive_seed(spec["object_seed"], spec["dataset"], split, "cifar-objects"), idx
        )
        present = rng.bernoulli("available", spec["availability"]).numpy()
        tied = rng.bernoulli("tied", spec["correlation"]).numpy()
        drawn = rng.integers("object", 0, len(self.object_names)).numpy()
        obj = np.where(tied, cifar_pos, drawn)
        if spec["placement"] == "random":
            x = rng.integers("x", 0, size - side + 1).numpy()
            y = rng.integers("y", 0, size - side + 1).numpy()
        else:
            x0, y0 = upper_right(size, side)
            x, y = np.full(n, x0, dtype=np.int64), np.full(n, y0, dtype=np.int64)
        return {
            "object": np.where(present, obj, -1),
            "tied": tied & present,
            "x": np.where(present, x, -1),
            "y": np.where(present, y, -1),
        }

    def chunks(
        self, split: str, chunk_size: int = 256
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """Images and metadata of ``split`` in index order, ``chunk_size`` at a time."""
        if split not in self._selection:
            raise ValueError(
                f"split {split!r} is not in this dataset (has {list(self._selection)})"
            )
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        sel, size = self._selection[split], self.spec["image_size"]
        class_names = np.array(self.class_names, dtype=object)
        cifar_names = np.array(sel.class_names, dtype=object)
        object_names = np.array([*self.object_names, None], dtype=object)  # -1 → None
        n = len(sel)
        for start in range(0, n, chunk_size):
            s = slice(start, min(n, start + chunk_size))
            idx = np.arange(s.start, s.stop, dtype=np.int64)
            draw = self._draw(split, idx, sel.label[s])
            if self.variant == "O/O":
                base = np.zeros((idx.size, size, size, 3), dtype=np.uint8)
            elif size == sel.source.images.shape[1]:
                base = sel.images(s)
            else:
                x = torch.from_numpy(sel.images(s)).permute(0, 3, 1, 2)
                x = resize_images(x.to(torch.float32).div_(255.0), size)
                base = to_uint8(x.permute(0, 2, 3, 1).contiguous())
            images = paste_objects(base, self.sprites, draw["object"], draw["x"], draw["y"])
            label = draw["object"] if self.variant.endswith("/O") else sel.label[s]
            meta = pd.DataFrame(
                {
                    "index": idx,
                    "split": np.full(idx.size, split, dtype=object),
                    "label": label,
                    "class_name": class_names[label],
                    "cifar_index": sel.cifar_index[s],
                    "cifar_label": sel.cifar_label[s],
                    "cifar_class": cifar_names[sel.label[s]],
                    "object": pd.array(object_names[draw["object"]], dtype="string"),
                    "object_label": draw["object"],
                    "object_x": draw["x"],
                    "object_y": draw["y"],
                    "object_tied": draw["tied"],
                }
            )
            yield images, meta


def build(spec: Mapping[str, Any]) -> BuildPlan:
    """The build plan of a ``cifar_objects`` spec (reads CIFAR and the object images)."""
    return _CifarObjectsPlan(canonicalize_spec(spec))
