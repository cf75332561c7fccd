"""Model registry and architectures: shapes, feature dimensions, parameter counts, seeding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from invtransfer.models import LAYERS, MODELS, Classifier, build_model

NAMES = (
    "resnet18",
    "resnet50",
    "vgg11",
    "densenet121",
    "densenet_cifar",
    "vit",
    "resnet18_w",
    "vgg11_w",
    "cnn4",
)

FEATURE_DIMS = {
    "resnet18": 512,
    "resnet50": 2048,
    "vgg11": 512,
    "densenet121": 1024,
    "densenet_cifar": 384,
    "vit": 384,
    "resnet18_w": 128,  # width 16 -> 8·16
    "vgg11_w": 128,  # width 16 -> 512·16/64
    "cnn4": 128,  # width 16 -> 8·16
}

# Parameter counts at 10 classes as published for kuangliu/pytorch-cifar models (the reference
# architectures), independent of this code.
KUANGLIU_10_CLASSES = {
    "resnet18": 11_173_962,
    "resnet50": 23_520_842,
    "vgg11": 9_231_114,
    "densenet121": 6_956_298,
    "densenet_cifar": 1_000_618,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def test_registry_lists_the_issue_names():
    assert set(MODELS) == set(NAMES)
    for name, spec in MODELS.items():
        assert spec.name == name and spec.description


@pytest.mark.parametrize("arch", NAMES)
def test_shapes_and_features(arch):
    model = build_model(arch, 30).eval()
    assert isinstance(model, Classifier)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = model.features(x)
        logits = model(x)
    assert model.feature_dim == FEATURE_DIMS[arch]
    assert feats.shape == (2, FEATURE_DIMS[arch])
    assert logits.shape == (2, 30)
    assert isinstance(model.head, torch.nn.Linear)
    assert (model.head.in_features, model.head.out_features) == (FEATURE_DIMS[arch], 30)
    torch.testing.assert_close(logits, model.head(feats))
    assert model.arch == arch
    n = model.num_parameters()
    print(f"{arch}: {n:,} parameters at 30 classes")  # reported with -s


def test_resnet18_parameter_count_at_30_classes():
    n = build_model("resnet18", 30).num_parameters()
    assert abs(n - 11.2e6) / 11.2e6 < 0.01


@pytest.mark.parametrize("arch", sorted(KUANGLIU_10_CLASSES))
def test_parameter_counts_match_kuangliu(arch):
    assert build_model(arch, 10).num_parameters() == KUANGLIU_10_CLASSES[arch]


def test_vit_parameter_count_from_its_definition():
    # 4×4×3 patches -> 384, CLS + 65 positions, 7 pre-LN layers (q, k, v, o; MLP 1536), final LN
    d, m, layers, c = 384, 1536, 7, 30
    per_layer = 4 * (d * d + d) + 2 * (2 * d) + (d * m + m) + (m * d + d)
    expected = (48 * d + d) + d + 65 * d + layers * per_layer + 2 * d + (d * c + c)
    assert build_model("vit", c).num_parameters() == expected


def test_densenet_reference_features_are_the_prepool_bn_output():
    model = build_model("densenet_cifar", 10).eval()
    with torch.no_grad():
        ref = model.reference_features(torch.randn(2, 3, 32, 32))
    assert ref.shape == (2, 384 * 4 * 4)


# Width of the layer the reference hooked for sens at 32 px (reference_implementation.md §3):
# DenseNet: the pre-ReLU, pre-pool BN output flattened (planes·4·4); every other family hooked
# its pooled penultimate layer (ResNet avgpool, VGG final AvgPool, ViT LayerNorm of CLS).
REFERENCE_DIMS = {**FEATURE_DIMS, "densenet_cifar": 384 * 4 * 4, "densenet121": 1024 * 4 * 4}


@pytest.mark.parametrize("arch", NAMES)
def test_representation_layers_per_architecture(arch):
    model = build_model(arch, 5, seed=0).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pen = model.representation(x, "penultimate")
        ref = model.representation(x, "reference")
        assert torch.equal(pen, model.features(x)) and pen.shape == (2, FEATURE_DIMS[arch])
        assert ref.shape == (2, REFERENCE_DIMS[arch])
        if arch.startswith("densenet"):  # pooling ReLU(reference) gives the penultimate layer
            planes = FEATURE_DIMS[arch]
            pooled = F.adaptive_avg_pool2d(F.relu(ref.view(2, planes, 4, 4)), 1).flatten(1)
            torch.testing.assert_close(pooled, pen)
            assert not torch.equal(ref[:, :planes], pen)
        else:
            assert torch.equal(ref, pen)
    assert LAYERS == ("penultimate", "reference")
    with pytest.raises(ValueError, match="unknown representation layer 'penultimate2'") as err:
        model.representation(x, "penultimate2")
    assert "penultimate, reference" in str(err.value)


def test_small_models_scale_with_width():
    narrow = build_model("cnn4", 5, width=4)
    wide = build_model("resnet18_w", 5, width=8)
    assert narrow.feature_dim == 32 and wide.feature_dim == 64
    assert (
        build_model("resnet18_w", 10, width=64).num_parameters() == KUANGLIU_10_CLASSES["resnet18"]
    )


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = build_model("cnn4", 3, seed=7, width=4)
    b = build_model("cnn4", 3, seed=7, width=4)
    c = build_model("cnn4", 3, seed=8, width=4)
    assert torch.equal(torch.get_rng_state(), state)
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka
    assert not torch.equal(a.head.weight, c.head.weight)


def test_unknown_architecture_lists_valid_names():
    with pytest.raises(ValueError, match="unknown architecture 'resnet19'") as err:
        build_model("resnet19", 10)
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("arch", "kwargs", "message"),
    [
        ("resnet18", {"width": 8}, "unknown argument"),
        ("cnn4", {"depth": 3}, "valid: width"),
        ("cnn4", {"width": 0}, "width must be a positive int"),
        ("resnet18_w", {"width": 2.5}, "width must be a positive int"),
        ("vgg11_w", {"width": 0}, "width must be a positive int"),
        ("vit", {"hidden": 100}, "divisible by heads"),
        ("vit", {"attn_scale": "none"}, "attn_scale"),
    ],
)
def test_bad_model_arguments(arch, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(arch, 10, **kwargs)


@pytest.mark.parametrize("num_classes", [0, -1, 2.0, True])
def test_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        build_model("cnn4", num_classes)


def test_bad_input_shapes_are_named():
    with pytest.raises(TypeError, match="N×3×H×W"):
        build_model("cnn4", 3, width=4)(torch.randn(2, 1, 32, 32))
    with pytest.raises(TypeError, match="32×32"):
        build_model("vit", 3, depth=1)(torch.randn(2, 3, 16, 16))


def test_vit_attention_scale_option_changes_the_function():
    x = torch.randn(2, 3, 32, 32)
    a = build_model("vit", 3, seed=1, depth=1).eval()
    b = build_model("vit", 3, seed=1, depth=1, attn_scale="head").eval()
    with torch.no_grad():
        assert not torch.allclose(a.features(x), b.features(x))


def _relu_then_pool(model: Classifier, x: torch.Tensor) -> torch.Tensor:
    """The textbook conv-BN-ReLU-max-pool order, with ``model``'s own layers."""
    if hasattr(model, "convs"):  # cnn4
        for conv, bn in zip(model.convs, model.bns, strict=True):
            x = F.max_pool2d(F.relu(bn(conv(x))), 2)
        return model.head(F.adaptive_avg_pool2d(x, 1).flatten(1))
    layers = list(model.body)
    for i, layer in enumerate(layers):
        if isinstance(layer, torch.nn.MaxPool2d):
            assert isinstance(layers[i + 1], torch.nn.ReLU)  # pooled first, then the ReLU
            continue
        if isinstance(layer, torch.nn.ReLU) and isinstance(layers[i - 1], torch.nn.MaxPool2d):
            x = layers[i - 1](layer(x))
            continue
        x = layer(x)
    return model.head(x.flatten(1))


@pytest.mark.parametrize("arch", ["cnn4", "vgg11_w"])
@pytest.mark.parametrize("bf16", [False, True])
def test_pool_before_relu_is_bit_identical_to_relu_then_pool(arch, bf16):
    """cnn4 and VGG pool before their ReLU (a quarter of the ReLU work): outputs and every
    gradient must equal the conventional order's bit for bit, ties and all-negative windows
    included (inputs on a coarse grid make both common)."""
    model = build_model(arch, 7, width=8, seed=3).to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(5)
    x = (torch.randint(-4, 5, (16, 3, 32, 32), generator=gen) / 4.0).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, 7, (16,), generator=gen)
    results = []
    for forward in (model, lambda inp: _relu_then_pool(model, inp)):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = forward(x)
            loss = F.cross_entropy(logits, y)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        results.append((logits.detach().clone(), grads))
    (out_a, grads_a), (out_b, grads_b) = results
    assert torch.equal(out_a, out_b)
    assert len(grads_a) == len(grads_b) > 0
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b, strict=True))
    assert any(g.abs().sum() > 0 for g in grads_a)


def test_vgg_config_needs_a_conv_before_each_pool():
    from invtransfer.models.vgg import VGG

    with pytest.raises(ValueError, match="a max-pool must follow a conv layer"):
        VGG(("M", 8), 3)
    with pytest.raises(ValueError, match="a max-pool must follow a conv layer"):
        VGG((8, "M", "M"), 3)
    body = VGG((8, "M", 16), 3).body  # conv, BN, pool, ReLU, conv, BN, ReLU
    kinds = [type(m).__name__ for m in body]
    assert kinds == ["Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"]
