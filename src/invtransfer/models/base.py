"""The interface every model in :mod:`invtransfer.models` implements.

The paper transfers *penultimate-layer* representations (§4.1) and measures their invariance
(Eq. 1), so every network is split into a feature extractor and a linear head:
``forward(x) == head(features(x))``. Probing, fine-tuning and sens only ever talk to this
interface, never to architecture internals.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LAYERS", "Classifier", "check_layer"]

# Representation layers every model provides (Classifier.representation):
# "penultimate" = ``features`` (pooled, flat; the paper's layer, the default everywhere);
# "reference" = the layer the reference code hooked for sens (reference_implementation.md §3).
LAYERS: tuple[str, ...] = ("penultimate", "reference")


def check_layer(layer: str) -> str:
    """``layer`` if it names a representation layer, else a ValueError listing the valid ones."""
    if layer not in LAYERS:
        raise ValueError(f"unknown representation layer {layer!r}; valid: {', '.join(LAYERS)}")
    return layer


class Classifier(nn.Module):
    """A network ``features`` (N×3×H×W → N×D, pooled and flat) followed by ``head = Linear(D, C)``.

    Subclasses build their layers, set ``feature_dim`` and ``head`` and implement ``features``.
    """

    feature_dim: int
    head: nn.Linear
    arch: str = ""  # registry name; set by build_model
    arch_kwargs: dict  # registry kwargs (defaults filled in); set by build_model

    def features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def reference_features(self, x: Tensor) -> Tensor:
        """The layer the reference code reads for sens; equal to :meth:`features` except where a
        family overrides it (DenseNet: the 6144-d pre-pool BN output). ResNet-18 (avgpool),
        VGG-11 (final AvgPool) and ViT (LayerNorm of CLS) hooked their pooled layer, which is
        :meth:`features`; for the models the reference did not have it is :meth:`features` too."""
        return self.features(x)

    def representation(self, x: Tensor, layer: str = "penultimate") -> Tensor:
        """The N×D representation of ``x`` at ``layer`` (one of :data:`LAYERS`)."""
        if check_layer(layer) == "penultimate":
            return self.features(x)
        return self.reference_features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def check_input(x: Tensor, img_size: int | None = None) -> None:
    """Shape check shared by the families: a clear error beats a cryptic one deep in a conv."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"model input must be a float tensor of shape N×3×H×W, got {shape}")
    if img_size is not None and tuple(x.shape[-2:]) != (img_size, img_size):
        raise TypeError(
            f"model input must be {img_size}×{img_size} pixels, got {tuple(x.shape[-2:])}"
        )
