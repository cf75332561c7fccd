"""Training-time augmentation of image batches, on the device.

The reference trains its CIFAR-only model of the irrelevant-features experiment (IFE "C/C")
with CIFAR's usual train transform, ``RandomCrop(32, padding=4)`` then
``RandomHorizontalFlip()`` (reference_implementation.md §6.4); the paper's Transforms-2D
models use no augmentation (App. A.1). ``"crop-flip"`` reproduces that transform on uint8
batches: zero padding of 4 px, a crop at an offset uniform in {0, …, 8} per axis, and a
horizontal flip with probability 0.5.

Every draw is a pure function of ``(seed, epoch, example index)`` (a
:class:`~invtransfer.rng.CounterRNG` keyed by the seed and epoch over the dataset indices of
the batch), so it does not depend on the batch size, the device or an interruption: a resumed
run sees exactly the inputs of an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invtransfer.rng import CounterRNG, derive_seed

__all__ = ["AUGMENTATIONS", "CROP_PADDING", "augment_batch", "check_augment", "crop_flip"]

AUGMENTATIONS: tuple[str, ...] = ("none", "crop-flip")
CROP_PADDING = 4  # torchvision RandomCrop(32, padding=4), as CIFAR training code uses


def check_augment(name: str) -> str:
    """``name`` if it is an augmentation, else a ValueError listing the valid ones."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; valid: {', '.join(AUGMENTATIONS)}")
    return name


def crop_flip(images: Tensor, dy: Tensor, dx: Tensor, flip: Tensor, padding: int = 4) -> Tensor:
    """Crop each image of ``images`` (uint8 N×H×W×C, any device) from its zero-padded version
    at offset ``(dy, dx)`` (int N, each in [0, 2·padding]) and flip it horizontally where
    ``flip`` (bool N). Returns a new N×H×W×C tensor of the same dtype and device."""
    if images.dim() != 4:
        raise TypeError(f"images must be N×H×W×C, got shape {tuple(images.shape)}")
    n, h, w, _ = images.shape
    dev = images.device
    for name, offset in (("dy", dy), ("dx", dx)):
        if offset.shape != (n,) or (
            n and not 0 <= int(offset.min()) <= int(offset.max()) <= 2 * padding
        ):
            raise ValueError(f"{name} must hold {n} offsets in [0, {2 * padding}]")
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))  # N×(H+2p)×(W+2p)×C
    rows = dy.to(dev)[:, None] + torch.arange(h, device=dev)  # N×H
    cols = dx.to(dev)[:, None] + torch.arange(w, device=dev)  # N×W
    cols = torch.where(flip.to(dev)[:, None], cols.flip(1), cols)
    return padded[torch.arange(n, device=dev)[:, None, None], rows[:, :, None], cols[:, None, :]]


def augment_batch(
    images: Tensor, name: str, *, seed: int, epoch: int, indices: Tensor | np.ndarray
) -> Tensor:
    """Augmentation ``name`` of the batch ``images`` (uint8 N×H×W×C) whose rows are the
    examples ``indices`` of the training split, in epoch ``epoch`` (0-based) of a run seeded
    with ``seed``. ``"none"`` returns ``images`` itself."""
    if check_augment(name) == "none":
        return images
    idx = indices.cpu().numpy() if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.shape != (images.shape[0],):
        raise ValueError(f"{images.shape[0]} images but {idx.shape} indices")
    rng = CounterRNG(derive_seed(seed, "augment", name, epoch), idx)
    span = 2 * CROP_PADDING + 1
    return crop_flip(
        images,
        rng.integers("dy", 0, span),
        rng.integers("dx", 0, span),
        rng.bernoulli("h_flip", 0.5),
        CROP_PADDING,
    )
