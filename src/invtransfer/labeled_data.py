"""Labelled data for the training engine: splits validated, moved to the device once, and
batched there.

Design (after airbench's ``CifarLoader``): the whole split moves to the device once as
``uint8``; each step slices a batch and converts/normalises it on the device, so there are no
DataLoader workers and no host-device copies in the loop. Dataset folders are read through
:func:`load_dataset_split` (``datasets.store.load_split`` with checksums, imported lazily so the
engine does not depend on the data stage at import time).

With per-epoch rendering the training split is a :class:`RenderedData`: what its images are made
of stays resident on the device and is rendered there with the epoch's fresh transformation
draws (:class:`Renderer`, e.g. ``invtransfer.datasets.render.EpochRenderer``): on a GPU the whole
epoch at its first batch, in chunks of :data:`EPOCH_CHUNK` rows (one host-device round trip per
chunk instead of per batch; the kernels run 4× faster on 8,192 images than on 512), on the CPU
batch by batch (its kernels are fastest on chunks of 64–256).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import Tensor

from invtransfer.io import sha256_file

__all__ = [
    "DEFAULT_RENDERING",
    "EPOCH_CHUNK",
    "RENDERINGS",
    "LabeledData",
    "RenderedData",
    "Renderer",
    "SplitLike",
    "as_image_split",
    "check_labels",
    "check_rendering",
    "dataset_info",
    "device_splits",
    "is_renderer",
    "load_dataset_split",
    "load_train_val_test",
    "prepare_images",
    "rendered_split",
    "training_renderer",
]


#: How training sees a dataset's transformations: ``"fixed"`` (the materialized draws, every
#: epoch) or ``"per-epoch"`` (fresh draws each epoch, rendered per batch on the device; see
#: :mod:`invtransfer.datasets.render`).
RENDERINGS: tuple[str, ...] = ("fixed", "per-epoch")
#: The default of the training entry points; the workflow's per-family defaults are the
#: planner's (``per-epoch`` for CIFAR with transformations, ``fixed`` for Transforms-2D).
DEFAULT_RENDERING = "fixed"
#: Rows per render call when :class:`RenderedData` renders a whole epoch up front (the default
#: on CUDA): the per-epoch renderer's measured rate on an H200 is 2.0 M img/s at 8,192 and
#: 0.46 M at 512 (``bench/RESULTS.md``, "GPU check").
EPOCH_CHUNK = 8192


def check_rendering(value: Any, key: str = "rendering") -> str:
    """``value`` if it is one of :data:`RENDERINGS`, else a ValueError naming ``key``."""
    if value not in RENDERINGS:
        raise ValueError(f"{key} must be one of {', '.join(RENDERINGS)}, got {value!r}")
    return str(value)


class SplitLike(Protocol):
    """What :func:`invtransfer.datasets.store.load_split` returns (duck-typed here)."""

    images: Tensor
    labels: Tensor


def take_rows(t: Tensor, index: Tensor | slice) -> Tensor:
    """``t[index]`` along the first dimension (a slice, a mask or an integer index tensor); an
    integer index as ``index_select``: the same rows, on the CPU 6× faster than advanced
    indexing for a 128-image uint8 batch and 3× for a 256-row feature batch (measured)."""
    if isinstance(index, slice) or index.dtype == torch.bool:
        return t[index]
    return t.index_select(0, index)


def prepare_images(images: Tensor) -> Tensor:
    """uint8 N×H×W×3 → float32 N×3×H×W in [-1, 1]: ``(x/255 − 0.5)/0.5`` as the reference's
    ToTensor+Normalize(0.5, 0.5). Runs on the images' device; the permuted view is already
    channels-last in memory, and the float copy keeps that layout."""
    return images.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5).div_(0.5)


@dataclass
class LabeledData:
    """Inputs and labels already on the training device.

    ``kind="images"``: ``x`` is uint8 N×H×W×3 and batches go through :func:`prepare_images`;
    ``kind="features"``: ``x`` is float32 N×D and batches are used as they are.
    """

    x: Tensor
    y: Tensor
    kind: Literal["images", "features"]
    num_classes: int

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(
        self,
        index: Tensor | slice,
        augment: Callable[[Tensor], Tensor] | None = None,
        *,
        epoch: int = 0,
        host_index: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Inputs and labels of ``index``; ``augment`` (images only) maps the uint8 batch before
        it is normalised. ``epoch`` and ``host_index`` (the same rows on the CPU) matter only to
        :class:`RenderedData`: the stored inputs are the same every epoch."""
        x = take_rows(self.x, index)
        if augment is not None:
            if self.kind != "images":
                raise ValueError("augmentation applies to image inputs, not to features")
            x = augment(x)
        return (prepare_images(x) if self.kind == "images" else x), take_rows(self.y, index)

    def fingerprint(self) -> str:
        """SHA-256 of the inputs and labels (what a resume checkpoint must have been made on)."""
        h = hashlib.sha256()
        for t in (self.x, self.y):
            arr = t.detach().cpu().contiguous().numpy()
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(arr.tobytes())
        return h.hexdigest()


class Renderer(Protocol):
    """What :class:`RenderedData` needs from a per-epoch renderer (duck-typed here)."""

    labels: Tensor  # int64 (n,) on the CPU: the class of each row of the split
    device: torch.device  # where render() puts its images

    def __len__(self) -> int: ...

    def render(self, rows: Tensor, epoch: int) -> Tensor:
        """uint8 N×H×W×3 images of ``rows`` (CPU int64) in epoch ``epoch`` (0-based)."""
        ...

    def fingerprint(self) -> str: ...


@dataclass
class RenderedData:
    """Training images rendered with each epoch's own transformation draws.

    ``rows`` (CPU int64) are the rows of the renderer's split this data trains on — all of them
    for pretraining, a stratified subset for fine-tuning; ``y`` their labels on the device. A
    batch of epoch ``e`` is ``renderer.render(rows[host_index], e)`` (rendered with the batch,
    or with the whole epoch: ``epoch_chunk``): a pure function of ``(dataset, epoch, row)``, so
    a resumed run sees exactly the images of an uninterrupted one.
    """

    renderer: Renderer
    rows: Tensor
    y: Tensor
    num_classes: int
    kind: Literal["images"] = "images"
    #: ``None``: the device's default (the whole epoch in chunks of :data:`EPOCH_CHUNK` on CUDA,
    #: batch by batch elsewhere); ``0``: batch by batch; ``n > 0``: the whole epoch, ``n`` rows
    #: per render call. Either way a batch holds the same images (a pure function of the row).
    epoch_chunk: int | None = None
    _epoch: int | None = field(default=None, init=False, repr=False)
    _images: Tensor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rows.dtype != torch.int64 or self.rows.dim() != 1 or self.rows.device.type != "cpu":
            raise TypeError("RenderedData.rows must be a 1-D int64 CPU tensor")
        if self.rows.shape != self.y.shape:
            raise TypeError(f"{self.rows.shape[0]} rows but {self.y.shape[0]} labels")
        if self.epoch_chunk is None:
            cuda = torch.device(self.renderer.device).type == "cuda"
            self.epoch_chunk = EPOCH_CHUNK if cuda else 0
        chunk = self.epoch_chunk
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 0:
            raise ValueError(f"epoch_chunk must be None or an int >= 0, got {chunk!r}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(
        self,
        index: Tensor | slice,
        augment: Callable[[Tensor], Tensor] | None = None,
        *,
        epoch: int = 0,
        host_index: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The rendered inputs (epoch ``epoch``) and labels of ``index``; ``host_index`` is the
        same positions on the CPU (saves a device synchronisation per batch)."""
        if self.epoch_chunk:
            x = take_rows(self.epoch_images(epoch), index)
        else:
            host = host_index if host_index is not None else index  # the same positions
            positions = take_rows(self.rows, host if isinstance(host, slice) else host.cpu())
            x = self.renderer.render(positions, epoch)
        if augment is not None:
            x = augment(x)
        return prepare_images(x), take_rows(self.y, index)

    def epoch_images(self, epoch: int) -> Tensor:
        """All rows' uint8 images in epoch ``epoch``, on the device, rendered ``epoch_chunk``
        rows at a time at the first call for that epoch (the previous epoch's are dropped
        first, so at most one epoch is resident)."""
        if self._epoch != epoch or self._images is None:
            self._images, self._epoch = None, None
            n, chunk = len(self), self.epoch_chunk or len(self)
            first = self.renderer.render(self.rows[:chunk], epoch)
            images = first if len(first) == n else first.new_empty((n, *first.shape[1:]))
            if images is not first:  # filled chunk by chunk: no second copy of the epoch
                images[: len(first)] = first
                for start in range(chunk, n, chunk):
                    images[start : start + chunk] = self.renderer.render(
                        self.rows[start : start + chunk], epoch
                    )
            self._images, self._epoch = images, epoch
        return self._images

    def fingerprint(self) -> str:
        """SHA-256 of the renderer's description and labels, and of the rows trained on."""
        h = hashlib.sha256(self.renderer.fingerprint().encode())
        h.update(self.rows.numpy().tobytes())
        return h.hexdigest()


def as_image_split(
    data: SplitLike | tuple[Tensor, Tensor], name: str, num_classes: int
) -> tuple[Tensor, Tensor]:
    """Validate a split (``.images``/``.labels`` or an ``(images, labels)`` pair)."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise TypeError(f"{name}: expected (images, labels), got a tuple of {len(data)}")
        images, labels = data
    elif hasattr(data, "images") and hasattr(data, "labels"):
        images, labels = data.images, data.labels
    else:
        raise TypeError(
            f"{name}: expected a SplitData or (images, labels), got {type(data).__name__}"
        )
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        desc = (images.dtype, tuple(images.shape)) if isinstance(images, Tensor) else type(images)
        raise TypeError(f"{name}: images must be a uint8 tensor N×H×W×3, got {desc}")
    if images.shape[-1] != 3:
        raise TypeError(f"{name}: images must be N×H×W×3 (RGB last), got {tuple(images.shape)}")
    check_labels(labels, images.shape[0], name, num_classes)
    return images, labels


def check_labels(labels: Tensor, n: int, name: str, num_classes: int) -> None:
    """int64 labels of shape (n,), n > 0, all in [0, num_classes)."""
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
        desc = (labels.dtype, tuple(labels.shape)) if isinstance(labels, Tensor) else type(labels)
        raise TypeError(f"{name}: labels must be an int64 tensor of shape (N,), got {desc}")
    if labels.shape[0] != n:
        raise TypeError(f"{name}: {n} inputs but {labels.shape[0]} labels")
    if n == 0:
        raise ValueError(f"{name}: the split has 0 samples; nothing to train or evaluate on")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{name}: labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
            f"found range [{lo}, {hi}]"
        )


def load_dataset_split(dataset_dir: str | os.PathLike[str], split: str) -> Any:
    """``invtransfer.datasets.store.load_split(dataset_dir, split, verify=True)``, imported
    lazily so that the training code does not depend on the data stage at import time."""
    from invtransfer.datasets.store import load_split

    return load_split(dataset_dir, split, verify=True)


def load_train_val_test(dataset_dir: str | os.PathLike[str]) -> tuple[Any, Any, Any]:
    """The train, val and test splits of a dataset folder (checksums verified)."""
    train, val, test = (load_dataset_split(dataset_dir, s) for s in ("train", "val", "test"))
    return train, val, test


def dataset_info(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a result file records about its input dataset: folder name and manifest hash."""
    path = Path(dataset_dir)
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(
            f"dataset {path}: manifest.json is missing; is it a dataset folder?"
        )
    return {"name": path.name, "path": str(path), "manifest_sha256": sha256_file(manifest)}


def rendered_split(
    renderer: Renderer, num_classes: int, device: torch.device, rows: Tensor | None = None
) -> RenderedData:
    """``rows`` (default: all) of a per-epoch renderer as training data on ``device``."""
    have = torch.device(renderer.device)
    if have.type != device.type or (have.index or 0) != (device.index or 0):
        raise ValueError(f"the renderer renders on {renderer.device}, training runs on {device}")
    check_labels(renderer.labels, len(renderer), "train", num_classes)
    rows = torch.arange(len(renderer)) if rows is None else rows.to(torch.int64).cpu()
    return RenderedData(renderer, rows, renderer.labels[rows].to(device), num_classes)


def device_splits(
    train: SplitLike | tuple[Tensor, Tensor] | Renderer,
    val: SplitLike | tuple[Tensor, Tensor],
    test: SplitLike | tuple[Tensor, Tensor] | None,
    num_classes: int,
    device: torch.device,
    rows: Tensor | None = None,
) -> dict[str, LabeledData | RenderedData]:
    """A training run's splits, validated and on ``device``: ``"train"`` (its rows ``rows``,
    default all), ``"val"`` and, if given, ``"test"``. A per-epoch renderer as ``train``
    (:func:`is_renderer`) becomes :class:`RenderedData` (checked after the other splits), every
    other split :class:`LabeledData` of its stored images."""
    data: dict[str, LabeledData | RenderedData] = {}
    per_epoch = is_renderer(train)
    if not per_epoch:
        images, labels = as_image_split(train, "train", num_classes)  # type: ignore[arg-type]
        if rows is not None:
            images, labels = images[rows], labels[rows]
        data["train"] = LabeledData(images.to(device), labels.to(device), "images", num_classes)
    for name, split in (("val", val), ("test", test)):
        if split is not None:
            images, labels = as_image_split(split, name, num_classes)
            data[name] = LabeledData(images.to(device), labels.to(device), "images", num_classes)
    if per_epoch:
        data["train"] = rendered_split(train, num_classes, device, rows)  # type: ignore[arg-type]
    return data


def training_renderer(
    dataset_dir: str | os.PathLike[str], stored: Any, device: torch.device
) -> Renderer:
    """The per-epoch renderer of the train split of ``dataset_dir`` on ``device``, checked
    against the stored split (labels, and epoch 0's first images byte for byte on the CPU)."""
    from invtransfer.datasets.epochs import build_renderer, check_renderer

    renderer = build_renderer(dataset_dir, "train", device)
    check_renderer(renderer, stored)
    return renderer


def is_renderer(data: Any) -> bool:
    """Whether ``data`` is a per-epoch renderer (duck-typed: ``render`` and ``labels``)."""
    return callable(getattr(data, "render", None)) and hasattr(data, "labels")
