"""invtransfer.costs: the measured calibration and the FLOP-based GPU estimates."""

from __future__ import annotations

import math

import pytest

from invtransfer import costs


def test_calibration_measures_training_steps_on_the_cpu():
    cal = costs.calibrate(
        ["cnn4", "resnet18_w"],
        device="cpu",
        arch_kwargs={"cnn4": {"width": 4}, "resnet18_w": {"width": 4}},
        batch_size=16,
        warmup=1,
        steps=3,
    )
    assert list(cal) == ["cnn4", "resnet18_w"]
    for arch, c in cal.items():
        assert c.arch == arch and c.device == "cpu" and c.bf16 is False
        assert c.batch_size == 16 and c.steps == 3 and c.arch_kwargs == {"width": 4}
        assert math.isfinite(c.img_per_s) and c.img_per_s > 0 and c.img_per_s_std >= 0
    # a 4-layer CNN trains faster than a ResNet-18 of the same width (~9x fewer FLOPs)
    assert cal["cnn4"].img_per_s > cal["resnet18_w"].img_per_s
    # the local estimate is the measured rate applied to the images to be processed
    c = cal["cnn4"]
    expected = (1000 * 5 + (200 * 5 + 300) / 3) / c.img_per_s
    assert costs.local_pretraining_seconds(
        c, n_train=1000, epochs=5, n_val=200, n_test=300
    ) == pytest.approx(expected)


def test_forward_flops_match_the_performance_notes():
    """performance.md: CIFAR ResNet-18 1.113 GFLOP per 32×32 image; ResNet-50 ×2.34,
    ViT ×1.49, VGG-11 ×0.28, densenet_cifar ×0.23."""
    r18 = costs.forward_gflop("resnet18")
    assert r18 == pytest.approx(1.113, rel=0.01)
    for arch, ratio in (("resnet50", 2.34), ("vgg11", 0.28), ("densenet_cifar", 0.23)):
        assert costs.forward_gflop(arch) / r18 == pytest.approx(ratio, rel=0.03), arch
    assert costs.forward_gflop("vit") / r18 == pytest.approx(1.49, rel=0.04)
    assert costs.forward_gflop("cnn4", width=16) < costs.forward_gflop("cnn4", width=32)


def test_one_paper_pretraining_in_flops_and_on_an_h100():
    # performance.md: one paper pretraining (50 epochs × 50k) = 8.35 PFLOP of training steps
    train_only = costs.pretraining_flop(
        "resnet18", n_train=50_000, epochs=50, n_val=0, n_test=0, gflop_per_image=1.113
    )
    assert train_only == pytest.approx(8.35e15, rel=0.001)
    full = costs.pretraining_flop("resnet18", n_train=50_000, epochs=50, gflop_per_image=1.0)
    assert full == pytest.approx((3 * 50_000 * 50 + 10_000 * 50 + 10_000) * 1e9)
    seconds = costs.gpu_pretraining_seconds("resnet18", gflop_per_image=1.0)
    assert seconds == pytest.approx(full / (989.4e12 * costs.ASSUMED_UTILIZATION))
    assert costs.gpu_pretraining_seconds("resnet18", gflop_per_image=1.0, utilization=1.0) == (
        pytest.approx(full / 989.4e12)
    )
    a100 = costs.gpu_pretraining_seconds("resnet18", gpu="A100", gflop_per_image=1.0)
    assert a100 == pytest.approx(seconds * 989.4 / 312.0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown architecture 'resnet19'"):
        costs.calibrate(["resnet19"], device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        costs.calibrate(["cnn4"], device="cpu", batch_size=0)
    with pytest.raises(ValueError, match="unknown GPU 'V100'"):
        costs.gpu_pretraining_seconds("resnet18", gpu="V100", gflop_per_image=1.0)
    with pytest.raises(ValueError, match="utilization"):
        costs.gpu_pretraining_seconds("resnet18", utilization=1.5, gflop_per_image=1.0)
    with pytest.raises(ValueError, match="epochs"):
        costs.pretraining_flop("resnet18", n_train=10, epochs=0, gflop_per_image=1.0)
