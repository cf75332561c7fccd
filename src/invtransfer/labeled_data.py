"""Labelled data for the training engine: splits validated, moved to the device once, and
batched there.

Design (after airbench's ``CifarLoader``): the whole split moves to the device once as
``uint8``; each step slices a batch and converts/normalises it on the device, so there are no
DataLoader workers and no host-device copies in the loop. Dataset folders are read through
:func:`load_dataset_split` (``datasets.store.load_split`` with checksums, imported lazily so the
engine does not depend on the data stage at import time).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import Tensor

from invtransfer.io import sha256_file

__all__ = [
    "LabeledData",
    "SplitLike",
    "as_image_split",
    "check_labels",
    "dataset_info",
    "load_dataset_split",
    "load_train_val_test",
    "prepare_images",
]


class SplitLike(Protocol):
    """What :func:`invtransfer.datasets.store.load_split` returns (duck-typed here)."""

    images: Tensor
    labels: Tensor


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
        self, index: Tensor | slice, augment: Callable[[Tensor], Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Inputs and labels of ``index``; ``augment`` (images only) maps the uint8 batch before
        it is normalised."""
        x = self.x[index]
        if augment is not None:
            if self.kind != "images":
                raise ValueError("augmentation applies to image inputs, not to features")
            x = augment(x)
        return (prepare_images(x) if self.kind == "images" else x), self.y[index]

    def fingerprint(self) -> str:
        """SHA-256 of the inputs and labels (what a resume checkpoint must have been made on)."""
        h = hashlib.sha256()
        for t in (self.x, self.y):
            arr = t.detach().cpu().contiguous().numpy()
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(arr.tobytes())
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
