"""Per-epoch rendering: fresh transformation draws every epoch, rendered per batch on the device.

A fixed dataset draws every transformation parameter once, when it is materialized, and training
iterates over that fixed tensor. The paper applies the transformations to CIFAR "as data
augmentations" (§4.1): new draws every epoch. Per-epoch rendering keeps what an image is made of
resident on the training device — Transforms-2D and structured random data: the object layers,
the background bank (or the per-sample random backgrounds) and each sample's class and
background; CIFAR: the base images — and transforms and composites every training batch with the
data layer's own batched kernels (:func:`render_layers`, which ``materialize`` uses too).

The parameters of epoch ``e`` (0-based) are a pure function of ``(transform seed, e, index)``:

    epoch_transform_seed(transform_seed, 0) = transform_seed          # epoch 0 = the stored dataset
    epoch_transform_seed(transform_seed, e) = derive_seed(transform_seed, "epoch", e)   # e >= 1

and the kind's own per-index key (``CounterRNG`` over the split's indices), so epoch ``e``'s images
are byte-identical, on the CPU and whatever the batch composition, to materializing the same spec
with ``transform_seed = epoch_transform_seed(transform_seed, e)``
(:func:`invtransfer.datasets.epochs.epoch_spec`). A run is reproducible and resumable mid-run, and
any epoch can be written out as a normal dataset folder again
(``python -m invtransfer render-epoch``).

This module holds the seed rule and :class:`EpochRenderer`, the base of the kinds' renderers
(``t2d``/``random`` in :mod:`~invtransfer.datasets.t2d`, ``cifar`` in
:mod:`~invtransfer.datasets.cifar_aug`); building one from a dataset folder is
:func:`invtransfer.datasets.epochs.build_renderer`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from invtransfer.datasets.compose import composite, quantize
from invtransfer.rng import CounterRNG, derive_seed

__all__ = [
    "EpochRenderer",
    "epoch_transform_seed",
    "render_layers",
]


def epoch_transform_seed(transform_seed: int, epoch: int) -> int:
    """The transformation seed of epoch ``epoch`` (0-based): the dataset's own seed for epoch 0,
    ``derive_seed(transform_seed, "epoch", epoch)`` (63 bits) after that."""
    for name, value in (("transform_seed", transform_seed), ("epoch", epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return (
        int(transform_seed) if epoch == 0 else derive_seed(int(transform_seed), "epoch", int(epoch))
    )


def render_layers(
    layer: Tensor,
    background: Tensor,
    names: Sequence[str],
    rng: CounterRNG,
    options: Any,
    *,
    check_values: bool = True,
    overwrite: bool = False,
) -> tuple[Tensor, dict[str, np.ndarray]]:
    """Transform the RGBA ``layer`` (N×4×H×W) with ``names`` drawn from ``rng``, composite it onto
    ``background`` (N×H×W×3) and quantise: ``uint8`` N×H×W×3 on the layer's device, plus the
    parameter columns. The one code path of ``materialize`` and per-epoch rendering.
    ``overwrite=True``: ``layer`` is the caller's temporary (freshly gathered), which the
    in-place kernels may write into (:func:`~invtransfer.transforms.apply_transforms`)."""
    columns: dict[str, np.ndarray] = {}
    if names:
        from invtransfer.transforms import apply_transforms

        layer, columns = apply_transforms(
            layer, names, rng, options, check_values=check_values, overwrite=overwrite
        )
    return quantize(composite(layer, background)), columns


class EpochRenderer:
    """Epoch ``e`` of one split of a dataset, rendered batch by batch on ``device``.

    Subclasses (one per dataset kind) hold the resident parts and implement :meth:`_layers`,
    :meth:`_backgrounds` and :meth:`transform_key`. ``counters[i]`` is the ``CounterRNG`` index of
    row ``i`` (the row itself for Transforms-2D, the CIFAR index for CIFAR), ``labels`` its class.
    """

    def __init__(
        self,
        *,
        dataset: str,
        spec: Mapping[str, Any],
        split: str,
        labels: np.ndarray,
        counters: np.ndarray,
        class_names: Sequence[str],
        device: torch.device,
    ):
        from invtransfer.transforms import TransformOptions

        self.dataset = dataset
        self.spec = dict(spec)
        self.split = split
        self.names = list(spec["transforms"])
        if not self.names:
            raise ValueError(
                f"dataset {dataset}: per-epoch rendering needs transformations, and its spec has "
                "none (every epoch would be the stored dataset); train with rendering='fixed'"
            )
        self.options = TransformOptions(
            **{k: v for k, v in spec["transform_options"].items() if not k.startswith("_")}
        )
        self.labels = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
        self.counters = np.ascontiguousarray(counters, dtype=np.int64)
        if self.counters.shape != self.labels.shape:
            raise ValueError(f"{len(self.counters)} counters for {len(self.labels)} labels")
        self.class_names = [str(c) for c in class_names]
        self.device = torch.device(device)
        size = int(spec["image_size"])
        self.image_shape = (size, size, 3)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.dataset}, split={self.split}, n={len(self)}, "
            f"transforms={self.names}, device={self.device})"
        )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # -- kind-specific ----------------------------------------------------------------------
    def transform_key(self, epoch: int) -> int:
        """The ``CounterRNG`` key of epoch ``epoch``'s transformation draws."""
        raise NotImplementedError

    def _layers(self, rows: Tensor) -> Tensor:
        """The untransformed RGBA layers of ``rows`` (int64 on the device): N×4×H×W float, a new
        tensor (a gather, never a view of the resident layers: the kernels may write into it)."""
        raise NotImplementedError

    def _backgrounds(self, rows: Tensor) -> Tensor:
        """The backgrounds of ``rows``: N×H×W×3 float on the device."""
        raise NotImplementedError

    # -- rendering --------------------------------------------------------------------------
    def _rows(self, rows: Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
        arr = rows.cpu().numpy() if isinstance(rows, Tensor) else np.asarray(rows)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"rows must be a 1-D integer array, got {arr.dtype} {arr.shape}")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise ValueError(
                f"rows must lie in [0, {len(self)}) for split {self.split!r} of {self.dataset}, "
                f"got [{arr.min()}, {arr.max()}]"
            )
        return arr

    def render(
        self, rows: Tensor | np.ndarray | Sequence[int], epoch: int, *, columns: bool = False
    ) -> Any:
        """``uint8`` N×H×W×3 images of ``rows`` (split positions, CPU) in epoch ``epoch``
        (0-based), on the renderer's device; with ``columns=True`` also the sampled parameter
        columns (as ``samples.parquet`` stores them)."""
        idx = self._rows(rows)
        rows_dev = torch.from_numpy(idx).to(self.device, non_blocking=True)
        rng = CounterRNG(self.transform_key(epoch), self.counters[idx])
        images, cols = render_layers(
            self._layers(rows_dev),
            self._backgrounds(rows_dev),
            self.names,
            rng,
            self.options,
            check_values=False,  # resident layers are in [0, 1] by construction
            overwrite=True,  # _layers gathers: a new tensor, never the resident one
        )
        return (images, cols) if columns else images

    def describe(self) -> dict[str, Any]:
        """What the rendered data are (JSON-able): recorded with a run and hashed into its
        resume fingerprint. ``dataset`` is the dataset's name, which ends in its spec hash."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "n": len(self),
            "transforms": list(self.names),
            "epoch_seed": "epoch 0: transform_seed; epoch e: derive_seed(transform_seed, 'epoch', e)",
        }

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`describe` and the labels."""
        h = hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode())
        h.update(self.labels.numpy().tobytes())
        return h.hexdigest()
