"""VGG-11 with batch norm, CIFAR variant (Simonyan & Zisserman 2014, "Very Deep Convolutional
Networks for Large-Scale Image Recognition"; Ioffe & Szegedy 2015 for the BN layers).

As in kuangliu/pytorch-cifar: five max-pools take 32×32 to 1×1, so the flattened last stage is
the 512-d penultimate representation and the classifier is a single linear layer. ``vgg11_w``
scales every layer's channels by ``width``/64 (64 = the standard network) for the CPU quick preset.
"""

from __future__ import annotations

from torch import Tensor, nn

from invtransfer.models.base import Classifier, check_input

__all__ = ["CONFIGS", "VGG", "vgg11", "vgg11_w"]

# channel counts of the 3×3 conv-BN-ReLU layers; "M" = 2×2 max-pool
CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
}


class VGG(Classifier):
    def __init__(self, config: tuple[int | str, ...], num_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for i, item in enumerate(config):
            if item == "M":  # placed with the conv layer before it
                if i == 0 or config[i - 1] == "M":
                    raise ValueError(f"VGG config {config}: a max-pool must follow a conv layer")
                continue
            assert isinstance(item, int)
            layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.BatchNorm2d(item)]
            if i + 1 < len(config) and config[i + 1] == "M":
                # max-pool before ReLU: the same values and gradients, bit for bit, as ReLU
                # then max-pool (both are monotone; see models/small.py), on a quarter of the
                # elements (8-10 % of a CPU training step of vgg11_w)
                layers += [nn.MaxPool2d(2, 2), nn.ReLU()]
            else:
                layers.append(nn.ReLU())
            in_ch = item
        self.body = nn.Sequential(*layers)
        self.feature_dim = in_ch
        self.head = nn.Linear(in_ch, num_classes)

    def features(self, x: Tensor) -> Tensor:
        check_input(x, 32)  # five pools: only 32×32 ends at 1×1
        return self.body(x).flatten(1)  # N×512×1×1 -> N×512


def vgg11(num_classes: int) -> VGG:
    return VGG(CONFIGS["vgg11"], num_classes)


def vgg11_w(num_classes: int, width: int = 16) -> VGG:
    """VGG-11 whose layers have ``width``/64 of the standard channels (``width`` … 8·``width``)."""
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"vgg11_w: width must be a positive int, got {width!r}")
    config = tuple(c if c == "M" else int(c) * width // 64 for c in CONFIGS["vgg11"])
    return VGG(config, num_classes)
