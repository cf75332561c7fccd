"""CIFAR ResNets (He, Zhang, Ren & Sun 2016, "Deep Residual Learning for Image Recognition").

The CIFAR variant used by kuangliu/pytorch-cifar and the paper's reference code: a 3×3 stride-1
stem without max-pool, so a 32×32 input reaches the last stage at 4×4. ``resnet18_w`` scales every
stage's width from ``width`` (64 = the standard network).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from invtransfer.models.base import Classifier, check_input

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet18_w",
    "resnet50",
]


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(Classifier):
    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, int, int, int],
        num_classes: int,
        width: int = 64,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        in_planes = width
        stages = []
        for i, n in enumerate(num_blocks):
            planes, stride = width * 2**i, (1 if i == 0 else 2)
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(block(in_planes, planes, s))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.feature_dim = in_planes
        self.head = nn.Linear(in_planes, num_classes)

    def features(self, x: Tensor) -> Tensor:
        check_input(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))  # N×D×4×4 for 32×32 input
        # adaptive pooling equals the reference's avg_pool2d(4) at 32×32 and still works for
        # the smaller inputs that tests use
        return F.adaptive_avg_pool2d(out, 1).flatten(1)  # N×D


def resnet18(num_classes: int) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet50(num_classes: int) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


def resnet18_w(num_classes: int, width: int = 16) -> ResNet:
    """ResNet-18 whose stages have ``width``, 2·``width``, 4·``width``, 8·``width`` channels."""
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"resnet18_w: width must be a positive int, got {width!r}")
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, width=width)
