"""CIFAR DenseNets (Huang, Liu, van der Maaten & Weinberger 2017, "Densely Connected
Convolutional Networks"), BC variant: 1×1 bottlenecks and transitions that halve the channels.

Two configurations share blocks 6-12-24-16:

* ``densenet121`` — the true DenseNet-121, growth rate 32 (1024-d features);
* ``densenet_cifar`` — kuangliu's ``densenet_cifar``, growth rate 12 (384-d features, ≈1M
  parameters). The reference code builds this one under the name "densenet-121", so the paper's
  DN121 numbers come from it.

``reference_features`` returns what the reference reads for sens: the pre-ReLU, pre-pool output
of the final BN flattened (384·4·4 = 6144-d for ``densenet_cifar``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invtransfer.models.base import Classifier, check_input

__all__ = ["DenseNet", "densenet121", "densenet_cifar"]


class DenseLayer(nn.Module):
    """BN-ReLU-1×1 conv (4·growth) then BN-ReLU-3×3 conv (growth); output concatenated."""

    def __init__(self, in_planes: int, growth: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], dim=1)  # new channels first, as in the reference


class Transition(nn.Module):
    def __init__(self, in_planes: int, out_planes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(Classifier):
    def __init__(
        self,
        num_blocks: tuple[int, int, int, int],
        growth: int,
        num_classes: int,
        reduction: float = 0.5,
    ):
        super().__init__()
        planes = 2 * growth
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        for i, n in enumerate(num_blocks):
            stages.append(
                nn.Sequential(*[DenseLayer(planes + j * growth, growth) for j in range(n)])
            )
            planes += n * growth
            if i < len(num_blocks) - 1:
                out_planes = math.floor(planes * reduction)
                stages.append(Transition(planes, out_planes))
                planes = out_planes
        self.body = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(planes)
        self.feature_dim = planes
        self.head = nn.Linear(planes, num_classes)

    def _final_bn(self, x: Tensor) -> Tensor:
        check_input(x)
        return self.bn(self.body(self.conv1(x)))  # N×D×4×4 for 32×32 input

    def features(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(F.relu(self._final_bn(x)), 1).flatten(1)  # N×D

    def reference_features(self, x: Tensor) -> Tensor:
        return self._final_bn(x).flatten(1)  # N×(D·4·4), pre-ReLU as the reference reads it


def densenet121(num_classes: int) -> DenseNet:
    return DenseNet((6, 12, 24, 16), growth=32, num_classes=num_classes)


def densenet_cifar(num_classes: int) -> DenseNet:
    return DenseNet((6, 12, 24, 16), growth=12, num_classes=num_classes)
