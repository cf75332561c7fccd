"""Small CNN for the CPU quick preset: four 3×3 conv-BN-ReLU layers, widths w, 2w, 4w, 8w,
each followed by a 2×2 max-pool, then global average pooling (pooling after the first layer
too makes it ~3x cheaper than pooling from the second on, at little cost in accuracy here).

Each layer pools before its ReLU: relu(max_pool(x)) equals max_pool(relu(x)) bit for bit, and so
do the gradients (the ReLU is monotone and keeps positive maxima and their first-index argmax;
a window whose maximum is <= 0 passes zero gradient either way), while the ReLU and its backward
touch a quarter of the elements: 10-12 % of a CPU training step of ``cnn4``
(``tests/test_models.py`` pins the equality).

Not from a paper: a VGG-style stack (Simonyan & Zisserman 2014) cut to four layers so that a
quick-preset pretraining takes seconds on two CPU cores while the invariance-transfer effect
stays visible (``/work/shared/spec/performance.md``). The width-scaled ResNet-18 of the quick
preset, ``resnet18_w``, lives in ``resnet.py`` with its family.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from invtransfer.models.base import Classifier, check_input

__all__ = ["CNN4", "cnn4"]


class CNN4(Classifier):
    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"cnn4: width must be a positive int, got {width!r}")
        chans = (3, width, 2 * width, 4 * width, 8 * width)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False) for i in range(4)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[1:])
        self.feature_dim = chans[-1]
        self.head = nn.Linear(chans[-1], num_classes)

    def features(self, x: Tensor) -> Tensor:
        check_input(x)
        for conv, bn in zip(self.convs, self.bns, strict=True):
            x = F.relu(F.max_pool2d(bn(conv(x)), 2))  # 32 -> 16 -> 8 -> 4 -> 2
        return F.adaptive_avg_pool2d(x, 1).flatten(1)  # N×8w


def cnn4(num_classes: int, width: int = 16) -> CNN4:
    return CNN4(num_classes, width=width)
