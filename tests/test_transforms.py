"""Contract tests for the 18 Transforms-2D transformations (``invtransfer.transforms``).

Every type is checked for the kernel contract (shape, dtype, device, range, no in-place change,
batched = per-sample loop, neutral parameters = identity), for its sampled distribution, for
determinism and chunking invariance, and — where torchvision or PIL implement the same semantics —
against that reference per image.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from invtransfer import transforms as T
from invtransfer.rng import CounterRNG
from invtransfer.transforms import (
    CATEGORIES,
    TRANSFORMS,
    TransformOptions,
    TransformSpec,
    apply_transforms,
    canonical_order,
    get_transform,
    register_transform,
)

NAMES = list(TRANSFORMS)
PAPER_ORDER = [
    "scale",
    "translate",
    "v_flip",
    "h_flip",
    "rotate",
    "shear",
    "hue",
    "brightness",
    "grayscale",
    "posterize",
    "invert",
    "sharpen",
    "blur",
    "noise",
    "pixelate",
    "elastic",
    "erasing",
    "contrast",
]
PHOTOMETRIC_LIKE = [*CATEGORIES["photometric"], "noise", "contrast"]
OPTS = TransformOptions()
BILINEAR = TransformOptions(resample="bilinear", scale_resample="bilinear")


def test_defaults_follow_the_paper_else_the_reference():
    """docs/FIDELITY.md: paper Fig. 5 where it is specific, else the reference code."""
    assert (
        TransformOptions(
            resample="nearest",  # reference: torchvision RandomRotation / RandomAffine default
            scale_resample="bicubic",  # reference: Pillow's default resize filter in scale_object
            noise="gaussian",  # paper: Gaussian noise, mu = 0, sigma = 1
            translate="object",
            image_translate_fraction=0.3,  # paper App. D.1: CIFAR shifts up to 30 % per axis
            pixelate_fraction=0.5,  # paper: "Pixelate to half resolution"
            contrast_mean="canvas",  # reference: Pillow's mean over the whole canvas
            probability=0.5,  # paper: 50 % for the Bernoulli-type transformations
        )
        == OPTS
    )


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def objects(n: int, size: int = 32, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """Colourful objects with a soft-edged alpha, centred (box 6..25 at 32 px), RGB = 0 outside."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    c = (size - 1) / 2
    radius = torch.sqrt(((xs - c) / (0.32 * size)) ** 2 + ((ys - c) / (0.28 * size)) ** 2)
    alpha = torch.clamp((1.0 - radius) * 4.0, 0.0, 1.0)
    notch = ((xs - c).abs() < size / 16) & (ys < c) & (ys > c - 0.28 * size)
    alpha = torch.where(notch, torch.ones_like(alpha), alpha)
    ramp = torch.stack([xs / size, ys / size, 1 - xs / size])
    rgb = 0.6 * torch.rand(n, 3, size, size, generator=gen) + 0.4 * ramp
    layer = torch.cat([rgb * (alpha > 0), alpha.expand(n, 1, size, size)], dim=1)
    return layer.to(dtype)


def opaque(n: int, size: int = 32, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([torch.rand(n, 3, size, size, generator=gen), torch.ones(n, 1, size, size)], 1)


def params_for(name: str, n: int, seed: int = 0, options: TransformOptions = OPTS):
    return TRANSFORMS[name].sample(CounterRNG.from_seed(seed, n, name), options)


def test_objects_fixture_is_centred():
    x0, x1, y0, y1 = T._alpha_box(objects(1)[:, 3:])
    assert (x0.item() + x1.item(), y0.item() + y1.item()) == (31, 31)
    assert x0.item() > 0 and y0.item() > 0


# --- registry ----------------------------------------------------------------------------------


def test_registry_order_and_categories():
    assert NAMES == PAPER_ORDER
    expected = {
        "geometric": tuple(PAPER_ORDER[:6]),
        "photometric": tuple(PAPER_ORDER[6:12]),
        "corruption": tuple(PAPER_ORDER[12:]),
    }
    assert expected == CATEGORIES
    for name, spec in TRANSFORMS.items():
        assert spec.name == name and name in CATEGORIES[spec.category]
        sampled = spec.sample(CounterRNG.from_seed(0, 3, name), OPTS)
        assert set(spec.columns) <= set(sampled)


def test_register_transform_adds_and_rejects_duplicates():
    def sample(rng, options):
        return {"gain": rng.uniform("gain")}

    def apply(images, params, options):
        return images.clone()

    spec = TransformSpec("unit_test_identity", "photometric", sample, apply, ("gain",), True)
    try:
        assert register_transform(spec) is spec
        assert "unit_test_identity" in CATEGORIES["photometric"]
        _, cols = apply_transforms(objects(3), ["unit_test_identity"], CounterRNG(1, range(3)))
        assert list(cols) == ["unit_test_identity.gain"] and cols[
            "unit_test_identity.gain"
        ].shape == (3,)
        with pytest.raises(ValueError, match="already registered"):
            register_transform(spec)
    finally:
        TRANSFORMS.pop("unit_test_identity", None)
        CATEGORIES["photometric"] = tuple(
            n for n in CATEGORIES["photometric"] if n != "unit_test_identity"
        )
    with pytest.raises(ValueError, match="already registered"):
        register_transform(TRANSFORMS["rotate"])
    with pytest.raises(ValueError, match="category"):
        register_transform(TransformSpec("x_new", "colour", sample, apply, (), True))  # type: ignore[arg-type]


# --- kernel contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_contract_shape_dtype_range_no_inplace(name, dtype):
    images = objects(6, dtype=dtype)
    before = images.clone()
    version = images._version
    params = params_for(name, 6)
    params_before = {k: v.clone() for k, v in params.items()}
    out = TRANSFORMS[name].apply(images, params, OPTS)
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device
    assert out.data_ptr() != images.data_ptr() and out.is_contiguous()
    assert images._version == version and torch.equal(images, before)
    assert all(torch.equal(params[k], params_before[k]) for k in params)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # straight alpha: transparent pixels keep RGB = 0 after every transformation
    assert (out[:, :3] * (out[:, 3:] == 0)).abs().max() == 0


INPLACE = [name for name, spec in TRANSFORMS.items() if spec.apply_inplace is not None]


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bit patterns (value and sign of zeros), so +0 and -0 differ."""
    ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    return t.contiguous().view(ints)


def test_inplace_variants_are_the_per_pixel_types_and_those_that_write_few_values():
    """The per-pixel types write each block back where they read it; sharpen, noise, pixelate,
    elastic and erasing change only the rows where their flag is set (or a few pixels). The
    moves and warps read other pixels than they write; scale and blur gained nothing in place."""
    assert INPLACE == [
        "hue", "brightness", "grayscale", "posterize", "invert", "sharpen", "noise", "pixelate",
        "elastic", "erasing", "contrast",
    ]  # fmt: skip


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(
    "options",
    [
        OPTS,
        TransformOptions(probability=0.0),
        TransformOptions(probability=1.0),
        TransformOptions(probability=0.7, pixelate_fraction=0.3, noise="reference-wrap"),
    ],
)
@pytest.mark.parametrize("name", INPLACE)
def test_inplace_variant_writes_the_same_bits_into_its_input(name, options, dtype, layout):
    images = objects(37, size=24, seed=4, dtype=dtype)
    if layout == "transposed":
        images = images.transpose(2, 3)
    elif layout == "channels_last":
        images = images.contiguous(memory_format=torch.channels_last)
    params = TRANSFORMS[name].sample(CounterRNG.from_seed(9, 37, name), options)
    expected = TRANSFORMS[name].apply(images, params, options)
    work = images.clone()
    out = TRANSFORMS[name].apply_inplace(work, params, options)
    assert out is work and out.dtype == dtype
    assert torch.equal(_bits(out), _bits(expected))
    applied = params.get("applied")  # rows without the transformation are left untouched
    if applied is not None and 0 < int(applied.sum()) < 37:
        assert torch.equal(_bits(work[~applied]), _bits(images[~applied]))


@pytest.mark.parametrize(
    "names", [["erasing"], ["sharpen", "erasing"], ["rotate", "noise", "erasing"], ["hue"], []]
)
def test_apply_transforms_owns_its_intermediates_only(names):
    images = objects(20)
    before = images.clone()
    rng = CounterRNG(3, range(20))
    out, cols = apply_transforms(images, names, rng, TransformOptions(probability=0.7))
    assert torch.equal(images, before) and out.data_ptr() != images.data_ptr()
    # overwrite=True hands the images over: same values, the input may be the output
    given = images.clone()
    out2, cols2 = apply_transforms(
        given, names, rng, TransformOptions(probability=0.7), overwrite=True
    )
    assert torch.equal(_bits(out2), _bits(out)) and cols2.keys() == cols.keys()
    if names and names[0] in INPLACE:
        assert out2 is given


def test_apply_transforms_result_is_contiguous_for_any_layout():
    images = objects(9).transpose(2, 3)
    out, _ = apply_transforms(images, ["erasing"], CounterRNG(2, range(9)))
    expected = TRANSFORMS["erasing"].apply(
        images, TRANSFORMS["erasing"].sample(CounterRNG(2, range(9)).child("erasing"), OPTS)
    )
    assert out.is_contiguous() and torch.equal(_bits(out), _bits(expected))


def test_apply_transforms_guards_a_kernel_that_returns_its_input():
    """A third-party kernel handing back its input must not expose the caller's images to the
    in-place kernels after it."""

    def sample(rng, options):
        return {}

    spec = TransformSpec(
        "unit_test_passthrough", "photometric", sample, lambda x, p, o: x, (), False
    )
    register_transform(spec)
    try:
        images = objects(8)
        before = images.clone()
        opts = TransformOptions(probability=1.0)
        out, _ = apply_transforms(
            images, ["unit_test_passthrough", "erasing"], CounterRNG(1, range(8)), opts
        )
        assert torch.equal(images, before) and not torch.equal(out, before)
    finally:
        TRANSFORMS.pop("unit_test_passthrough", None)
        CATEGORIES["photometric"] = tuple(
            n for n in CATEGORIES["photometric"] if n != "unit_test_passthrough"
        )
    with pytest.raises(TypeError, match="apply_inplace must be callable"):
        register_transform(TransformSpec("x_bad", "photometric", sample, spec.apply, (), False, 3))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", PHOTOMETRIC_LIKE)
def test_photometric_keep_alpha_and_transparent_black(name):
    images = objects(8)
    params = params_for(name, 8, options=TransformOptions(probability=1.0))
    out = TRANSFORMS[name].apply(images, params, OPTS)
    assert torch.equal(out[:, 3], images[:, 3])
    transparent = (images[:, 3:] == 0).expand(-1, 3, -1, -1)
    assert out[:, :3][transparent].abs().max() == 0
    assert not torch.equal(out, images)  # applied to every sample, so something changed


NEUTRAL = {
    "scale": {"factor": 1.0},
    "translate": {"u_x": 0.5, "u_y": 0.5},  # centred object: position floor(0.5·12) = 6 = x0
    "v_flip": {"applied": False},
    "h_flip": {"applied": False},
    "rotate": {"angle": 0.0},
    "shear": {"shear_x": 0.0, "shear_y": 0.0},
    "hue": {"factor": 0.0},
    "brightness": {"factor": 1.0},
    "grayscale": {"applied": False},
    "posterize": {"applied": False},
    "invert": {"applied": False},
    "sharpen": {"applied": False},
    "blur": {"sigma": 0.1},  # centre tap 1 - 4e-22: the identity to float precision
    "noise": {"applied": False, "seed": 12345},
    "pixelate": {"applied": False},
    "elastic": {"applied": False, "seed": 12345},
    "erasing": {"applied": False, "u_x": 0.3, "u_y": 0.7},
    "contrast": {"factor": 1.0},
}


def constant_params(values: dict, n: int) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in values.items():
        dtype = torch.bool if isinstance(value, bool) else torch.int64
        dtype = torch.float32 if isinstance(value, float) else dtype
        out[key] = torch.full((n,), value, dtype=dtype)
    return out


def test_neutral_table_covers_registry():
    assert set(NEUTRAL) == set(NAMES)


@pytest.mark.parametrize("options", [OPTS, BILINEAR])
@pytest.mark.parametrize("name", NAMES)
def test_neutral_parameters_give_identity(name, options):
    images = objects(4)
    out = TRANSFORMS[name].apply(images, constant_params(NEUTRAL[name], 4), options)
    torch.testing.assert_close(out, images, atol=2e-6, rtol=0)


def test_identity_of_image_translate_and_whole_image_geometry():
    images = opaque(3)
    for mode in ("image", "object"):
        out = T.apply_translate(
            images, constant_params({"u_x": 0.5, "u_y": 0.5}, 3), TransformOptions(translate=mode)
        )
        assert torch.equal(out, images)


# --- sampling ----------------------------------------------------------------------------------


def ks_uniform(values: np.ndarray, low: float, high: float) -> float:
    """Kolmogorov–Smirnov distance of ``values`` to U(low, high)."""
    x = np.sort((values.astype(np.float64) - low) / (high - low))
    n = x.size
    ecdf_hi = np.arange(1, n + 1) / n
    ecdf_lo = np.arange(0, n) / n
    return float(max(np.max(ecdf_hi - x), np.max(x - ecdf_lo)))


UNIFORM_PARAMS = {
    ("scale", "factor"): (0.4, 1.0),
    ("translate", "u_x"): (0.0, 1.0),
    ("translate", "u_y"): (0.0, 1.0),
    ("rotate", "angle"): (0.0, 360.0),
    ("shear", "shear_x"): (-50.0, 50.0),
    ("shear", "shear_y"): (-50.0, 50.0),
    ("hue", "factor"): (-0.5, 0.5),
    ("brightness", "factor"): (0.0, 2.0),
    ("blur", "sigma"): (0.1, 1.5),
    ("erasing", "u_x"): (0.0, 1.0),
    ("erasing", "u_y"): (0.0, 1.0),
    ("contrast", "factor"): (0.0, 2.0),
}


@pytest.mark.parametrize("name", NAMES)
def test_sampled_distributions_match_spec(name):
    n = 4000
    spec = TRANSFORMS[name]
    params = spec.sample(CounterRNG.from_seed(7, n, "dist", name), OPTS)
    assert set(spec.columns) == set(params)
    for key, value in params.items():
        assert value.shape == (n,), key
        arr = value.numpy()
        if (name, key) in UNIFORM_PARAMS:
            low, high = UNIFORM_PARAMS[name, key]
            assert value.dtype == torch.float32
            assert arr.min() >= low and arr.max() <= high
            assert ks_uniform(arr, low, high) < 1.95 / math.sqrt(n)  # KS at alpha = 0.001
        elif key == "applied":
            assert value.dtype == torch.bool
            assert abs(arr.mean() - 0.5) < 4 * math.sqrt(0.25 / n)
        elif key == "seed":
            assert value.dtype == torch.int64 and arr.min() >= 0
            assert np.unique(arr).size == n
        else:
            pytest.fail(f"{name}.{key} has no distribution check")


def test_probability_option_sets_bernoulli_rate():
    n = 4000
    for p in (0.0, 0.2, 1.0):
        applied = T.sample_invert(CounterRNG.from_seed(3, n), TransformOptions(probability=p))
        assert abs(applied["applied"].float().mean().item() - p) < 4 * math.sqrt(0.25 / n)


@pytest.mark.parametrize("name", NAMES)
def test_identical_inputs_give_per_sample_outputs(name):
    images = objects(1).expand(16, -1, -1, -1).contiguous()
    out = TRANSFORMS[name].apply(images, params_for(name, 16, seed=3), OPTS)
    distinct = torch.unique(out.reshape(16, -1), dim=0).shape[0]
    if name == "translate":  # integer positions int(u·free), free = 32 - 20 = 12 per axis
        params = params_for(name, 16, seed=3)
        cells = torch.stack([torch.floor(params["u_x"] * 12), torch.floor(params["u_y"] * 12)], 1)
        assert distinct == torch.unique(cells, dim=0).shape[0] >= 14
    elif TRANSFORMS[name].continuous:
        assert distinct == 16
    else:
        assert distinct >= 2  # some applied, some not (p = 0.5 over 16 draws)


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_loop_of_single_samples(name):
    images = torch.cat([objects(3, seed=1), opaque(2)])
    params = params_for(name, 5, seed=11, options=TransformOptions(probability=0.6))
    batched = TRANSFORMS[name].apply(images, params, OPTS)
    for i in range(5):
        single = TRANSFORMS[name].apply(
            images[i : i + 1], {k: v[i : i + 1] for k, v in params.items()}, OPTS
        )
        torch.testing.assert_close(batched[i : i + 1], single, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_any_batch_composition_gives_identical_bits(name):
    """Per-epoch rendering renders shuffled training batches; materialize renders chunks in index
    order. Both must give the same bits for every sample (not merely close values)."""
    images = objects(96, seed=4)
    rng = CounterRNG(11, np.arange(96))
    whole, _ = apply_transforms(images, [name], rng)
    order = torch.randperm(96, generator=torch.Generator().manual_seed(1))
    threads = torch.get_num_threads()
    try:
        for n_threads, batch in ((1, 7), (2, 40)):
            torch.set_num_threads(n_threads)
            for start in range(0, 96, batch):
                rows = order[start : start + batch]
                part, _ = apply_transforms(images[rows], [name], rng.subset(rows.numpy()))
                assert torch.equal(part, whole[rows]), (name, n_threads, batch)
    finally:
        torch.set_num_threads(threads)


def test_determinism_and_child_streams():
    images = objects(10)
    rng = CounterRNG(1234, range(10))
    out1, cols1 = apply_transforms(images, ["rotate", "hue", "noise"], rng)
    out2, cols2 = apply_transforms(images, ["rotate", "hue", "noise"], CounterRNG(1234, range(10)))
    assert torch.equal(out1, out2)
    assert cols1.keys() == cols2.keys() and all(np.array_equal(cols1[k], cols2[k]) for k in cols1)
    _, cols3 = apply_transforms(images, ["rotate"], CounterRNG(1234, range(10)))
    np.testing.assert_array_equal(cols3["rotate.angle"], cols1["rotate.angle"])
    _, cols4 = apply_transforms(images, ["rotate"], CounterRNG(4321, range(10)))
    assert not np.array_equal(cols4["rotate.angle"], cols1["rotate.angle"])


def test_chunking_invariance_all_transforms():
    images = objects(100, size=20, seed=5)
    names = NAMES
    key = 99
    whole, cols = apply_transforms(images, names, CounterRNG(key, np.arange(100)))
    a, cols_a = apply_transforms(images[:37], names, CounterRNG(key, np.arange(37)))
    b, cols_b = apply_transforms(images[37:], names, CounterRNG(key, np.arange(37, 100)))
    torch.testing.assert_close(torch.cat([a, b]), whole, atol=1e-6, rtol=0)
    for column, values in cols.items():
        np.testing.assert_array_equal(np.concatenate([cols_a[column], cols_b[column]]), values)


def test_apply_transforms_columns():
    images = objects(5)
    _, cols = apply_transforms(images, ["noise", "rotate", "erasing"], CounterRNG(0, range(5)))
    assert list(cols) == [
        "noise.applied",
        "noise.seed",
        "rotate.angle",
        "erasing.applied",
        "erasing.u_x",
        "erasing.u_y",
    ]
    assert cols["noise.applied"].dtype == np.bool_ and cols["noise.seed"].dtype == np.int64
    assert cols["rotate.angle"].dtype == np.float32
    assert all(isinstance(v, np.ndarray) and v.shape == (5,) for v in cols.values())
    empty, none = apply_transforms(images, [], CounterRNG(0, range(5)))
    assert torch.equal(empty, images) and empty.data_ptr() != images.data_ptr() and none == {}


def test_seed_column_replays_the_field():
    images = objects(6)
    rng = CounterRNG(5, range(6))
    out, cols = apply_transforms(images, ["elastic"], rng)
    replay = {
        "applied": torch.from_numpy(cols["elastic.applied"]),
        "seed": torch.from_numpy(cols["elastic.seed"]),
    }
    assert torch.equal(T.apply_elastic(images, replay, OPTS), out)


def test_device_field_words_are_the_counter_rng_construction():
    """The int64 torch SplitMix64 (used on GPUs) gives the bits of invtransfer.rng.splitmix64."""
    from invtransfer.rng import splitmix64

    seeds = torch.tensor([0, 1, 2**62 + 12345, 2**63 - 1, 987654321], dtype=torch.int64)
    with np.errstate(over="ignore"):
        ctr = np.arange(1, 778, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        want = splitmix64(seeds.numpy().astype(np.uint64)[:, None] + ctr[None, :])
    for words in (T._field_words(seeds, 777), T._field_words_torch(seeds, 777)):
        assert words.dtype == torch.int64
        np.testing.assert_array_equal(words.numpy().view(np.uint64), want)


def test_nearest_warp_copies_the_rounded_float64_source_pixel():
    """rotate/shear nearest: every output pixel is the input pixel at the source coordinates
    M·(x, y, 1) computed in float64 and rounded half to even, or transparent outside."""
    images = objects(4)
    params = params_for("rotate", 4, seed=3)
    out = T.apply_rotate(images, params, OPTS)
    cx, cy = T._box_centre(images)
    m = T._inverse_affine(-params["angle"], torch.zeros(4), torch.zeros(4), cx, cy)
    ys, xs = torch.meshgrid(torch.arange(32.0).double(), torch.arange(32.0).double(), indexing="ij")
    for i in range(4):
        sx = torch.round(m[i, 0, 0] * xs + m[i, 0, 1] * ys + m[i, 0, 2]).long()
        sy = torch.round(m[i, 1, 0] * xs + m[i, 1, 1] * ys + m[i, 1, 2]).long()
        inside = (sx >= 0) & (sx < 32) & (sy >= 0) & (sy < 32)
        want = torch.zeros_like(images[i])
        want[:, inside] = images[i][:, sy[inside], sx[inside]]
        assert torch.equal(out[i], want)


def test_pixelate_pairs_equal_the_matrix_product():
    """The half-resolution path (pair means, un-premultiplied at half height, rows repeated)
    gives the bits of the general one (the PIL box/nearest matrix product, then unpremultiply)."""
    images = torch.cat([objects(8), opaque(3)])
    mat = torch.tensor(T._pixelate_matrix_np(32, 0.5), dtype=torch.float32)
    want = T._unpremultiply(T._separable(T._premultiply(images), mat, mat))
    assert torch.equal(T._pixelate_half(images, torch.arange(11)), want)


def test_separable_column_pass_equals_the_transposed_product():
    """_separable multiplies the columns from the left; that must be the same sum, bit for bit,
    as multiplying the transposed planes from the right (the BLAS adds the products in order)."""
    gen = torch.Generator().manual_seed(0)
    for n, size in ((7, 32), (3, 20), (2, 48)):
        images = torch.rand(n, 4, size, size, generator=gen)
        mat_y, mat_x = torch.rand(2, n, size, size, generator=gen)
        rows = torch.bmm(images.reshape(n, 4 * size, size), mat_x.transpose(1, 2))
        cols = rows.reshape(n, 4, size, size).transpose(2, 3).reshape(n, 4 * size, size)
        want = torch.bmm(cols, mat_y.transpose(1, 2)).reshape(n, 4, size, size).transpose(2, 3)
        assert torch.equal(T._separable(images, mat_y, mat_x), want)


def test_canonical_order():
    assert canonical_order(["contrast", "hue", "rotate"]) == ["rotate", "hue", "contrast"]


# --- semantics and references ------------------------------------------------------------------


def test_photometric_match_torchvision_on_opaque_images():
    images = opaque(4)
    rgb = images[:, :3]
    factors = torch.tensor([0.0, 0.4, 1.3, 2.0])
    out = T.apply_brightness(images, {"factor": factors}, OPTS)
    ref = torch.stack([TF.adjust_brightness(rgb[i], float(f)) for i, f in enumerate(factors)])
    torch.testing.assert_close(out[:, :3], ref, atol=1e-6, rtol=0)
    hues = torch.tensor([-0.5, -0.2, 0.1, 0.45])
    out = T.apply_hue(images, {"factor": hues}, OPTS)
    ref = torch.stack([TF.adjust_hue(rgb[i], float(f)) for i, f in enumerate(hues)])
    torch.testing.assert_close(out[:, :3], ref, atol=1e-5, rtol=0)
    # "object" mean on an opaque image = torchvision's tensor adjust_contrast (float luma mean)
    out = T.apply_contrast(images, {"factor": factors}, TransformOptions(contrast_mean="object"))
    ref = torch.stack([TF.adjust_contrast(rgb[i], float(f)) for i, f in enumerate(factors)])
    torch.testing.assert_close(out[:, :3], ref, atol=1e-6, rtol=0)
    on = {"applied": torch.ones(4, dtype=torch.bool)}
    refs = {
        "grayscale": lambda x: TF.rgb_to_grayscale(x, num_output_channels=3),
        "posterize": lambda x: TF.posterize(x, 1),
        "invert": TF.invert,
        "sharpen": lambda x: TF.adjust_sharpness(x, 7.0),
    }
    for name, ref_fn in refs.items():
        out = TRANSFORMS[name].apply(images, on, OPTS)
        ref = torch.stack([ref_fn(rgb[i]) for i in range(4)])
        torch.testing.assert_close(out[:, :3], ref, atol=1e-6, rtol=0, msg=name)
        assert torch.equal(out[:, 3], images[:, 3])


def _pil_contrast(layer: torch.Tensor, factor: float) -> tuple[int, torch.Tensor]:
    """The reference: the RGBA layer as uint8 RGB (transparent = black), then Pillow's
    ``ImageEnhance.Contrast`` (what ``ColorJitter(contrast=1.0)`` runs on a PIL image)."""
    from PIL import ImageEnhance, ImageStat

    u8 = (layer[:3] * 255).round().byte().permute(1, 2, 0).numpy()
    img = Image.fromarray(u8, "RGB")
    level = int(ImageStat.Stat(img.convert("L")).mean[0] + 0.5)
    out = np.asarray(ImageEnhance.Contrast(img).enhance(factor))
    return level, torch.from_numpy(out.copy()).permute(2, 0, 1).float() / 255


def test_contrast_default_is_the_reference_canvas_mean():
    assert OPTS.contrast_mean == "canvas"
    images = (objects(3) * 255).round() / 255  # uint8-exact, as the reference's PIL images
    zero = T.apply_contrast(images, {"factor": torch.zeros(3)}, OPTS)
    factors = [0.3, 1.0, 1.7]
    out = T.apply_contrast(images, {"factor": torch.tensor(factors)}, OPTS)
    for i in range(3):
        level, pil = _pil_contrast(images[i], factors[i])
        inside = images[i, 3] > 0
        # factor 0: every object pixel is Pillow's degenerate grey, the canvas mean incl. black
        assert torch.equal(zero[i, :3][:, inside], torch.full((3, int(inside.sum())), level / 255))
        assert level < T._luma(images[i : i + 1, :3])[0, 0][inside].mean() * 255  # black pulls down
        # other factors: Pillow's blend, which truncates to uint8 (ours rounds at the end)
        ours = out[i, :3][:, inside]
        ref = pil[:, inside]
        assert ((ours - ref) * 255).min() > -1e-4 and ((ours - ref) * 255).max() < 1 + 1e-4
        assert torch.equal(out[i, :3][:, ~inside], torch.zeros(3, int((~inside).sum())))
    assert torch.equal(zero[:, 3], images[:, 3])


def test_contrast_object_mean_option():
    images = objects(2)
    factor = {"factor": torch.tensor([0.0, 0.0])}
    flat = T.apply_contrast(images, factor, TransformOptions(contrast_mean="object"))
    alpha = images[:, 3:]
    luma = T._luma(images[:, :3])
    mean = (luma * alpha).sum((1, 2, 3)) / alpha.sum((1, 2, 3))
    inside = alpha[:, 0] > 0
    for i in range(2):
        torch.testing.assert_close(
            flat[i, :3][:, inside[i]], mean[i].expand(3, int(inside[i].sum()))
        )
    canvas = T.apply_contrast(images, factor, OPTS)
    assert canvas[:, :3][:, :, inside[0]].mean() < flat[:, :3][:, :, inside[0]].mean()


def test_blur_matches_torchvision_on_opaque_images():
    images = opaque(3)
    sigmas = torch.tensor([0.1, 0.7, 1.5])
    out = T.apply_blur(images, {"sigma": sigmas}, OPTS)
    ref = torch.stack(
        [TF.gaussian_blur(images[i, :3], [7, 7], [float(s)] * 2) for i, s in enumerate(sigmas)]
    )
    torch.testing.assert_close(out[:, :3], ref, atol=1e-5, rtol=0)
    soft = T.apply_blur(objects(1), {"sigma": torch.tensor([1.5])}, OPTS)
    edge = (objects(1)[:, 3] == 0) & (soft[:, 3] > 0)
    assert edge.any()  # the alpha edge softens


@pytest.mark.parametrize("angle", [17.0, 90.0, 143.5, 301.0])
def test_rotate_matches_torchvision(angle):
    images = objects(1)
    nearest = T.apply_rotate(images, {"angle": torch.tensor([angle])}, OPTS)  # the default
    ref = TF.rotate(images[0], angle, interpolation=TF.InterpolationMode.NEAREST)
    mismatch = (nearest[0] - ref).abs().amax(0) > 1e-6
    assert mismatch.float().mean() < 0.01  # ties at exactly .5 may round differently
    bilinear = T.apply_rotate(images, {"angle": torch.tensor([angle])}, BILINEAR)
    ref = TF.rotate(opaque(1)[0], angle, interpolation=TF.InterpolationMode.BILINEAR)
    full = T.apply_rotate(opaque(1), {"angle": torch.tensor([angle])}, BILINEAR)
    inside = full[0, 3] > 0.999
    torch.testing.assert_close(full[0, :3][:, inside], ref[:3][:, inside], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        bilinear[0, 3],
        TF.rotate(images[0, 3:], angle, interpolation=TF.InterpolationMode.BILINEAR)[0],
        atol=1e-5,
        rtol=0,
    )


def test_shear_matches_torchvision_affine():
    images = objects(1)
    for sx, sy in [(20.0, 0.0), (0.0, -35.0), (45.0, 30.0)]:
        params = {"shear_x": torch.tensor([sx]), "shear_y": torch.tensor([sy])}
        out = T.apply_shear(images, params, TransformOptions(resample="nearest"))
        ref = TF.affine(
            images[0],
            angle=0.0,
            translate=[0, 0],
            scale=1.0,
            shear=[sx, sy],
            interpolation=TF.InterpolationMode.NEAREST,
        )
        mismatch = (out[0] - ref).abs().amax(0) > 1e-6
        assert mismatch.float().mean() < 0.01


@pytest.mark.parametrize(
    ("options", "mode", "inner"),
    [
        (OPTS, TF.InterpolationMode.BICUBIC, slice(2, 14)),  # default, Pillow's scale filter
        (BILINEAR, TF.InterpolationMode.BILINEAR, slice(1, 15)),
    ],
)
def test_scale_matches_antialiased_resize(options, mode, inner):
    images = opaque(1)
    out = T.apply_scale(images, {"factor": torch.tensor([0.5])}, options)
    ref = TF.resize(images[0, :3], [16, 16], interpolation=mode, antialias=True)
    # inner pixels (the filter does not reach outside the source canvas): out = 8 + ref position
    shifted = slice(inner.start + 8, inner.stop + 8)
    torch.testing.assert_close(
        out[0, :3, shifted, shifted], ref[:, inner, inner].clamp(0, 1), atol=1e-5, rtol=0
    )
    assert out[0, 3, :6].max() == 0 and out[0, 3, 8:24, 8:24].min() > 0.5
    obj = objects(1)
    small = T.apply_scale(obj, {"factor": torch.tensor([0.4])}, options)
    # a normalised filter conserves alpha mass: the area shrinks by factor² = 0.16
    assert abs(small[0, 3].sum() / obj[0, 3].sum() - 0.16) < 0.003
    x0, x1, y0, y1 = T._alpha_box(small[:, 3:])
    assert abs((x0 + x1).item() / 2 - 15.5) <= 0.5 and abs((y0 + y1).item() / 2 - 15.5) <= 0.5


def test_translate_object_stays_inside_and_moves_box():
    images = objects(200, size=24)
    params = params_for("translate", 200, seed=4)
    out = T.apply_translate(images, params, OPTS)
    assert torch.allclose(out[:, 3].sum((1, 2)), images[:, 3].sum((1, 2)))  # nothing cut off
    x0, x1, _, _ = T._alpha_box(out[:, 3:])
    a0, a1, _, _ = T._alpha_box(images[:, 3:])
    assert torch.equal(x1 - x0, a1 - a0)
    free = 24 - (a1 - a0 + 1)
    expected = torch.floor(params["u_x"] * free).long()  # the reference's int(U·free)
    assert torch.equal(x0, expected)
    assert set(x0.tolist()) == set(range(int(free[0])))  # positions 0..free-1, as the reference


def test_translate_image_modes():
    images = opaque(400, size=32)
    params = params_for("translate", 400, seed=2)
    out = T.apply_translate(images, params, TransformOptions(translate="image"))
    shift = torch.round((2 * params["u_x"].double() - 1) * 0.3 * 32).long()  # default f = 0.3
    cols_visible = (out[:, 3].amax(1) > 0).sum(1)
    assert torch.equal(cols_visible, 32 - shift.abs())
    assert shift.min() == -10 and shift.max() == 10  # paper App. D.1: up to 30 % (9.6 px)
    reference = TransformOptions(translate="image-reference", image_translate_fraction=0.3)
    ref = T.apply_translate(images, params, reference)
    x0, _, y0, _ = T._alpha_box(ref[:, 3:])
    assert x0.min() == 4 and x0.max() == 13 and y0.min() == 4 and y0.max() == 13
    dx, dy = int(x0[0]), int(y0[0])  # the shift, as the opaque image started at (0, 0)
    assert torch.equal(ref[0, :, dy:, dx:], images[0, :, : 32 - dy, : 32 - dx])


@pytest.mark.parametrize("shape", [(6, 4, 8, 8), (5, 4, 7, 11), (1, 4, 32, 32)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_translate_shift_matches_the_grid_sample_remap(shape, dtype):
    # the CPU's flat-window shift against the device path's grid_sample remap, bit for bit:
    # shifts up to and past the canvas size, the first and last planes moved both ways, a
    # slice of a larger tensor (storage offset) and a non-contiguous input
    n, c, h, w = shape
    gen = torch.Generator().manual_seed(n * h + w)
    big = torch.rand(n + 4, c, h, w, generator=gen, dtype=dtype)
    big[big < 0.2] = -0.0
    before = big.clone()
    for images in (big[2 : 2 + n], big[2 : 2 + n].transpose(2, 3).contiguous().transpose(2, 3)):
        for trial in range(12):
            dy = torch.randint(-h - 1, h + 2, (n,), generator=gen)
            dx = torch.randint(-w - 1, w + 2, (n,), generator=gen)
            if trial < 4:  # the first plane moved forward / the last moved back, and vice versa
                sign = 1 if trial % 2 == 0 else -1
                dy[0], dx[0] = sign * (trial // 2 + 1), sign * 2
                dy[-1], dx[-1] = -sign * (trial // 2 + 1), -sign * 3
            src_y = torch.arange(h)[None, :] - dy[:, None]
            src_x = torch.arange(w)[None, :] - dx[:, None]
            want = T._remap(images, src_y, src_x)
            got = T._shift(images, dy, dx)
            assert torch.equal(got, want) and torch.equal(got.signbit(), want.signbit())
    assert torch.equal(big, before) and torch.equal(big.signbit(), before.signbit())  # unwritten


def test_flips_keep_position_and_match_torch_flip():
    images = objects(2)
    on = {"applied": torch.tensor([True, False])}
    assert torch.equal(T.apply_h_flip(images, on, OPTS)[0], images[0].flip(-1))
    assert torch.equal(T.apply_v_flip(images, on, OPTS)[0], images[0].flip(-2))
    assert torch.equal(T.apply_v_flip(images, on, OPTS)[1], images[1])
    moved = T.apply_translate(
        images, {"u_x": torch.tensor([0.0, 0.99]), "u_y": torch.tensor([0.9, 0.1])}, OPTS
    )
    flipped = T.apply_h_flip(moved, {"applied": torch.ones(2, dtype=torch.bool)}, OPTS)
    assert all(
        torch.equal(a, b)
        for a, b in zip(T._alpha_box(moved[:, 3:]), T._alpha_box(flipped[:, 3:]), strict=True)
    )
    x0, x1, _, _ = T._alpha_box(moved[:, 3:])
    for i in range(2):
        box = moved[i, :, :, int(x0[i]) : int(x1[i]) + 1]
        assert torch.equal(flipped[i, :, :, int(x0[i]) : int(x1[i]) + 1], box.flip(-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_flips_make_uncovered_pixels_plus_zero_whatever_lay_there(dtype):
    # a box off-centre: mirroring it reads sources off the canvas, which must come out +0.0
    # exactly (as grid_sample's zero padding), even where the clamped source holds -0.0 or NaN
    images = torch.zeros(3, 4, 8, 8, dtype=dtype)
    images[:, :, 2:5, 1:4] = 0.5
    images[:, 3, 2:5, 1:4] = 1.0
    images[0, :, :, 0] = -0.0
    images[1, :, 0, :] = float("nan")
    images[1, :, :, 0] = float("nan")
    images[2, :, 5, 6] = 0.25  # a visible pixel away from the object widens the box
    on = {"applied": torch.ones(3, dtype=torch.bool)}
    for name, axis in (("h_flip", -1), ("v_flip", -2)):
        out = T.TRANSFORMS[name].apply(images, on, OPTS)
        x0, x1, y0, y1 = T._alpha_box(images[:, 3:].float())
        for i in range(3):
            centre = int(x0[i] + x1[i]) if axis == -1 else int(y0[i] + y1[i])
            for k in range(8):
                src = centre - k
                line = out[i, :, :, k] if axis == -1 else out[i, :, k, :]
                if 0 <= src < 8:
                    want = images[i, :, :, src] if axis == -1 else images[i, :, src, :]
                    assert torch.equal(line.isnan(), want.isnan())
                    assert torch.equal(line.nan_to_num(), want.nan_to_num())
                    assert torch.equal(line.signbit(), want.signbit())
                else:
                    assert not line.isnan().any() and not line.signbit().any()
                    assert not line.any()


def test_keep_zeroes_by_bits():
    x = torch.tensor([-0.0, float("nan"), 0.5, -0.0, float("inf")])
    keep = torch.tensor([False, False, False, True, True])
    out = T._keep(x.clone(), keep)
    assert out[:3].tolist() == [0.0, 0.0, 0.0] and not out[:3].signbit().any()
    assert out[3].signbit() and out[4] == float("inf")


def test_pixelate_matches_pil_box_then_nearest():
    images = (opaque(2) * 255).round() / 255  # uint8-exact input, as PIL sees it
    on = {"applied": torch.ones(2, dtype=torch.bool)}
    assert OPTS.pixelate_fraction == 0.5  # paper: "Pixelate to half resolution"
    # PIL rounds half up to uint8 after each of its two 1-D passes: at most one level apart; at
    # half resolution every 2-pixel average is a candidate half, so the mean bias is larger
    for options, small, bias in (
        (OPTS, 16, 0.6),
        (TransformOptions(pixelate_fraction=0.3), 9, 0.35),
    ):
        out = T.apply_pixelate(images, on, options)
        for i in range(2):
            u8 = (images[i, :3] * 255).round().byte().permute(1, 2, 0).numpy()
            pil = Image.fromarray(u8).resize((small, small), Image.BOX)
            ref = np.asarray(pil.resize((32, 32), Image.NEAREST))
            ref = torch.tensor(ref).permute(2, 0, 1).float() / 255
            torch.testing.assert_close(out[i, :3], ref, atol=1.01 / 255, rtol=0)
            assert (out[i, :3] - ref).abs().mean() < bias / 255
    assert T._pixelate_matrix_np(32, 0.5).shape == (32, 32)
    with pytest.raises(ValueError, match="pixelate_fraction"):
        T.apply_pixelate(
            opaque(1, size=8),
            {"applied": torch.ones(1, dtype=torch.bool)},
            TransformOptions(pixelate_fraction=0.1),
        )


def test_elastic_matches_torchvision_with_same_displacement():
    images = opaque(2)
    seeds = torch.tensor([11, 22])
    out = T.apply_elastic(images, {"applied": torch.ones(2, dtype=torch.bool), "seed": seeds}, OPTS)
    disp = T._elastic_displacement(seeds, 32, 32, torch.device("cpu"), torch.float32)
    for i in range(2):
        ref = TF.elastic(images[i], disp[i : i + 1])
        inside = out[i, 3] > 0.999
        torch.testing.assert_close(out[i, :3][:, inside], ref[:3][:, inside], atol=1e-5, rtol=0)
        torch.testing.assert_close(out[i, 3], ref[3], atol=1e-5, rtol=0)
    # the displacement is torchvision's recipe: U[-1, 1) blurred (41 taps, sigma 5), times alpha/size
    raw = T._field_uniform(seeds, 2 * 32 * 32).reshape(2, 2, 32, 32) * 2 - 1
    blurred = TF.gaussian_blur(raw, [41, 41], [5.0, 5.0])
    torch.testing.assert_close(disp.permute(0, 3, 1, 2), blurred * 150 / 32, atol=1e-5, rtol=0)
    small = T._elastic_displacement(seeds, 12, 12, torch.device("cpu"), torch.float32)
    assert small.shape == (2, 12, 12, 2) and torch.isfinite(small).all()  # pad 20 > size works


def test_noise_modes():
    images = objects(3)
    params = {"applied": torch.ones(3, dtype=torch.bool), "seed": torch.tensor([1, 2, 3])}
    field = T._field_normal(params["seed"], 3 * 32 * 32).reshape(3, 3, 32, 32)
    assert abs(field.mean().item()) < 0.05 and abs(field.std().item() - 1) < 0.05
    inside = images[:, 3:] > 0
    out = T.apply_noise(images, params, OPTS)
    expected = torch.where(inside, (images[:, :3] + field).clamp(0, 1), 0)
    torch.testing.assert_close(out[:, :3], expected, atol=1e-6, rtol=0)
    wrapped = T.apply_noise(images, params, TransformOptions(noise="reference-wrap"))
    value = torch.floor((images[:, :3] + field.clamp(0, 1)) * 255 + 1e-4) % 256 / 255
    torch.testing.assert_close(wrapped[:, :3], torch.where(inside, value, 0), atol=1e-6, rtol=0)
    assert ((images[:, :3] + field.clamp(0, 1)) > 1.01).any()  # wrap-around actually happens
    assert torch.equal(wrapped[:, 3], images[:, 3])


def test_erasing_square():
    images = opaque(50, size=20)
    params = params_for("erasing", 50, seed=8, options=TransformOptions(probability=1.0))
    out = T.apply_erasing(images, params, OPTS)
    erased = out[:, 3] == 0
    assert torch.equal(erased.sum((1, 2)), torch.full((50,), 196))
    assert torch.equal(out[:, :3][erased[:, None].expand(-1, 3, -1, -1)], torch.zeros(50 * 196 * 3))
    left = torch.nonzero(erased.any(1))
    assert set(left[:, 1].tolist()) <= set(range(20))
    starts = erased.any(1).float().argmax(1)
    assert starts.min() == 0 and starts.max() == 20 - 14 - 1  # reference int(U·(size - 14))
    with pytest.raises(ValueError, match="erasing square"):
        T.apply_erasing(opaque(1, size=10), params_for("erasing", 1), OPTS)


# --- bad input ---------------------------------------------------------------------------------


def test_bad_inputs():
    rng = CounterRNG(0, range(2))
    with pytest.raises(ValueError, match=r"unknown transformation 'rotation'.*'rotate'"):
        apply_transforms(objects(2), ["rotation"], rng)
    with pytest.raises(ValueError, match="use an empty list"):
        get_transform("none")
    with pytest.raises(TypeError, match="list"):
        apply_transforms(objects(2), "rotate", rng)
    with pytest.raises(ValueError, match="more than once"):
        apply_transforms(objects(2), ["hue", "hue"], rng)
    with pytest.raises(TypeError, match="N×4×H×W"):
        apply_transforms(objects(2)[:, :3], ["hue"], rng)
    with pytest.raises(TypeError, match="N×4×H×W"):
        T.apply_hue(objects(2)[0], {"factor": torch.zeros(2)}, OPTS)
    with pytest.raises(TypeError, match="float"):
        T.apply_hue((objects(2) * 255).byte(), {"factor": torch.zeros(2)}, OPTS)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        apply_transforms(objects(2) * 2, ["hue"], rng)
    with pytest.raises(ValueError, match="3 samples"):
        apply_transforms(objects(2), ["hue"], CounterRNG(0, range(3)))
    with pytest.raises(ValueError, match="lack 'angle'"):
        T.apply_rotate(objects(2), {"theta": torch.zeros(2)}, OPTS)
    with pytest.raises(TypeError, match=r"shape \(2,\)"):
        T.apply_rotate(objects(2), {"angle": torch.zeros(3)}, OPTS)
    with pytest.raises(ValueError, match="factor"):
        T.apply_hue(objects(2), {"factor": torch.tensor([0.0, 0.7])}, OPTS)
    with pytest.raises(ValueError, match="factor"):
        T.apply_brightness(objects(2), {"factor": torch.tensor([-1.0, 1.0])}, OPTS)
    with pytest.raises(ValueError, match="non-finite"):
        T.apply_blur(objects(2), {"sigma": torch.tensor([float("nan"), 1.0])}, OPTS)
    with pytest.raises(TypeError, match="bool"):
        T.apply_invert(objects(2), {"applied": torch.ones(2)}, OPTS)


def test_options_validation():
    with pytest.raises(ValueError, match="probability"):
        TransformOptions(probability=1.5)
    with pytest.raises(ValueError, match="resample"):
        TransformOptions(resample="bicubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale_resample"):
        TransformOptions(scale_resample="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="noise"):
        TransformOptions(noise="uniform")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="translate"):
        TransformOptions(translate="anywhere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_translate_fraction"):
        TransformOptions(image_translate_fraction=-0.1)
    with pytest.raises(ValueError, match="pixelate_fraction"):
        TransformOptions(pixelate_fraction=0.0)
    with pytest.raises(ValueError, match="contrast_mean"):
        TransformOptions(contrast_mean="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown option"):
        TransformOptions.from_mapping({"resample": "nearest", "colour": 1})
    assert TransformOptions.from_mapping({"resample": "nearest"}).resample == "nearest"


# --- devices -----------------------------------------------------------------------------------


def _device_path_layers(n: int) -> torch.Tensor:
    """Objects that reach every branch: centred, moved off-centre (flips read off the canvas),
    scaled down, an empty layer and one with a stray visible pixel (a wider box)."""
    images = objects(n, seed=5)
    images[1] = torch.roll(images[1], shifts=(3, -4), dims=(1, 2))
    images[2] = TRANSFORMS["scale"].apply(images[2:3], {"factor": torch.tensor([0.5])}, OPTS)[0]
    images[3] = 0.0
    images[4, :, 30, 1] = 0.75
    return images


@pytest.mark.parametrize(
    "options",
    [
        OPTS,
        TransformOptions(
            resample="bilinear",
            scale_resample="bilinear",
            noise="reference-wrap",
            contrast_mean="object",
            probability=0.7,
        ),
    ],
    ids=["defaults", "variants"],
)
@pytest.mark.parametrize("name", NAMES)
def test_device_paths_equal_the_host_fast_paths_bit_for_bit(name, options, monkeypatch):
    """What CUDA runs, checked on the CPU: with ``HOST_FAST_PATHS`` off every kernel takes its
    device path (torch ops on the images' device instead of NumPy on the host, whole-batch
    blocks, masks instead of in-place zeroing) and must give the same bits as the host paths,
    out of place and in place, for one batch and for one that spans several blocks."""
    for n in (7, 70):
        images = _device_path_layers(n)
        params = params_for(name, n, seed=33, options=options)
        spec = TRANSFORMS[name]
        host = spec.apply(images, params, options)
        host_inplace = (
            spec.apply_inplace(images.clone(), params, options) if spec.apply_inplace else None
        )
        monkeypatch.setattr(T, "HOST_FAST_PATHS", False)
        device = spec.apply(images, params, options)
        device_inplace = (
            spec.apply_inplace(images.clone(), params, options) if spec.apply_inplace else None
        )
        monkeypatch.setattr(T, "HOST_FAST_PATHS", True)
        assert torch.equal(_bits(device), _bits(host)), f"{name}: device path differs (n={n})"
        if host_inplace is not None:
            assert torch.equal(_bits(device_inplace), _bits(host)), f"{name}: in place (n={n})"
            assert torch.equal(_bits(host_inplace), _bits(host))


def test_device_paths_equal_the_host_paths_for_a_whole_pipeline(monkeypatch):
    """apply_transforms over all 18 types in the paper's order, each one's input the previous
    one's output, handed over (``overwrite``): the same bits on both paths."""
    images = _device_path_layers(40)
    rng = CounterRNG.from_seed(8, 40, "pipeline")
    host, host_columns = apply_transforms(images.clone(), PAPER_ORDER, rng, overwrite=True)
    monkeypatch.setattr(T, "HOST_FAST_PATHS", False)
    device, device_columns = apply_transforms(images.clone(), PAPER_ORDER, rng, overwrite=True)
    assert torch.equal(_bits(device), _bits(host))
    assert host_columns.keys() == device_columns.keys()
    for key, column in host_columns.items():
        np.testing.assert_array_equal(device_columns[key], column, err_msg=key)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is present")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_equals_cpu(name):
    images = objects(16)
    params = params_for(name, 16, seed=21, options=TransformOptions(probability=0.7))
    cpu = TRANSFORMS[name].apply(images, params, OPTS)
    gpu = TRANSFORMS[name].apply(images.cuda(), params, OPTS)
    assert gpu.device.type == "cuda" and gpu.dtype == cpu.dtype
    if name in ("rotate", "shear", "elastic", "scale"):
        # resampling positions may differ in the last ulp: compare per-pixel, allow rare edge pixels
        differs = (gpu.cpu() - cpu).abs().amax(1) > 1e-4
        assert differs.float().mean() < 0.002
    else:
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)
