"""Model registry: the one list of architectures that config, rules and tests iterate over.

``build_model(arch, num_classes, **kwargs)`` is the only constructor the rest of the package
uses; every model implements :class:`~invtransfer.models.base.Classifier`
(``features`` → ``head``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from invtransfer.models.base import LAYERS, Classifier, check_layer
from invtransfer.models.densenet import densenet121, densenet_cifar
from invtransfer.models.resnet import resnet18, resnet18_w, resnet50
from invtransfer.models.small import cnn4
from invtransfer.models.vgg import vgg11, vgg11_w
from invtransfer.models.vit import ViTConfig, vit

__all__ = [
    "LAYERS",
    "MODELS",
    "Classifier",
    "ModelSpec",
    "build_model",
    "check_layer",
    "register_model",
]


@dataclass(frozen=True)
class ModelSpec:
    name: str  # registry key, as written in the config
    factory: Callable[..., Classifier]  # factory(num_classes, **kwargs)
    description: str  # what a figure legend or log line should call it
    defaults: Mapping[str, Any] = field(default_factory=dict)  # accepted kwargs and defaults


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS`; a second model under the same name is an error."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


_VIT_DEFAULTS = {
    name: getattr(ViTConfig, name)
    for name in ("patch_size", "depth", "hidden", "mlp_hidden", "heads", "attn_scale")
}

for _spec in (
    ModelSpec("resnet18", resnet18, "ResNet-18 (CIFAR stem)"),
    ModelSpec("resnet50", resnet50, "ResNet-50 (CIFAR stem)"),
    ModelSpec("vgg11", vgg11, "VGG-11 with batch norm"),
    ModelSpec("densenet121", densenet121, "DenseNet-121 (growth 32)"),
    ModelSpec(
        "densenet_cifar", densenet_cifar, "DenseNet densenet_cifar (growth 12; paper's DN121)"
    ),
    ModelSpec(
        "vit", vit, "ViT (4×4 patches, 7 layers, 384 hidden)", MappingProxyType(_VIT_DEFAULTS)
    ),
    ModelSpec("resnet18_w", resnet18_w, "ResNet-18, scaled width", MappingProxyType({"width": 16})),
    ModelSpec("vgg11_w", vgg11_w, "VGG-11, scaled width", MappingProxyType({"width": 16})),
    ModelSpec("cnn4", cnn4, "4-layer CNN", MappingProxyType({"width": 16})),
):
    register_model(_spec)


def build_model(
    arch: str, num_classes: int, *, seed: int | None = None, **kwargs: Any
) -> Classifier:
    """Build ``arch`` for ``num_classes`` classes.

    With ``seed``, the weights are drawn under ``torch.manual_seed(seed)`` inside a forked RNG
    scope, so the same seed always gives the same initial network and the caller's global RNG
    is left untouched.
    """
    if arch not in MODELS:
        raise ValueError(f"unknown architecture {arch!r}; valid names: {', '.join(sorted(MODELS))}")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    spec = MODELS[arch]
    unknown = sorted(set(kwargs) - set(spec.defaults))
    if unknown:
        valid = ", ".join(sorted(spec.defaults)) or "none"
        raise ValueError(f"{arch}: unknown argument(s) {', '.join(unknown)}; valid: {valid}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = spec.factory(num_classes, **kwargs)
    # recorded so that a saved model.pt can say how to rebuild it
    model.arch = arch
    model.arch_kwargs = {**spec.defaults, **kwargs}
    return model
