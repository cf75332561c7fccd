"""Dataset specs, D(O, T) and structured-random generation, determinism and twins.

Small sizes throughout: the bundled objects (fast to load) on a few synthetic background photos
in a folder (the bundled photos take seconds to decode), 100-300 images per dataset.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from invtransfer.datasets import (
    canonicalize_spec,
    dataset_name,
    load_split,
    materialize,
    read_manifest,
)
from invtransfer.datasets.compose import prototype_layer
from invtransfer.datasets.preview import grid_size
from invtransfer.datasets.t2d import assign_classes, build, random_patterns
from invtransfer.errors import ConfigError
from invtransfer.io import read_json, sha256_file

NAMES = ["banana", "binoculars", "broccoli", "candle", "hammer"]
SAMPLING_COLUMNS = ["index", "split", "label", "class_name", "object", "background"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def t2d_spec(photo_dir, **override):
    spec = {
        "kind": "t2d",
        "objects": {"source": "bundle", "names": NAMES},
        # "_path": a location, excluded from the name hash (as the experiment planner passes it)
        "backgrounds": {"source": "folder", "_path": str(photo_dir), "bank_size": 16},
        "transforms": ["rotate", "hue", "blur"],
        "splits": {"train": 60, "val": 20, "test": 20},
        "shard_size": 25,
        "seed": 3,
    }
    spec.update(override)
    return spec


def shard_hashes(folder):
    manifest = read_manifest(folder)
    return [sha256_file(folder / s["file"]) for s in manifest["shards"]], sha256_file(
        folder / "samples.parquet"
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory, photo_dir):
    out = tmp_path_factory.mktemp("ds") / "base"
    materialize(t2d_spec(photo_dir), out, chunk_size=16, progress=False)
    return out


# --------------------------------------------------------------------------------------------
# determinism and twins
# --------------------------------------------------------------------------------------------
def test_same_spec_gives_byte_identical_shards_and_parquet(base, photo_dir, tmp_path):
    again = tmp_path / "again"
    materialize(t2d_spec(photo_dir), again, chunk_size=16, progress=False)
    assert shard_hashes(again) == shard_hashes(base)
    first, second = read_manifest(base), read_manifest(again)
    assert first["shards"] == second["shards"]
    assert first["samples"]["sha256"] == second["samples"]["sha256"]
    assert first["name"] == second["name"] == dataset_name(t2d_spec(photo_dir))


def test_chunk_size_does_not_change_the_bytes(photo_dir, tmp_path):
    spec = t2d_spec(
        photo_dir,
        transforms=["scale", "translate", "rotate", "hue", "blur", "elastic", "erasing"],
        splits={"train": 300},
        shard_size=10_000,
    )
    materialize(spec, tmp_path / "c64", chunk_size=64, progress=False)
    materialize(spec, tmp_path / "c256", chunk_size=256, progress=False)
    assert shard_hashes(tmp_path / "c64") == shard_hashes(tmp_path / "c256")


def test_worker_processes_write_the_same_bytes(photo_dir, tmp_path, monkeypatch):
    import invtransfer.datasets.builders as builders

    spec = t2d_spec(photo_dir, transforms=["rotate", "noise"], splits={"train": 150, "val": 40})
    materialize(spec, tmp_path / "one", chunk_size=32, threads=1, progress=False)
    monkeypatch.setattr(builders, "POOL_MIN_CHUNKS_PER_WORKER", 0)
    materialize(spec, tmp_path / "two", chunk_size=32, threads=2, progress=False)
    one, two = (read_json(tmp_path / name / "build.json") for name in ("one", "two"))
    assert (one["workers"], two["workers"]) == (1, 2)
    assert shard_hashes(tmp_path / "one") == shard_hashes(tmp_path / "two")
    assert torch.get_num_threads() == 1  # restored (the autouse fixture set 1)


def test_transform_seed_changes_only_transformation_columns_and_pixels(base, photo_dir, tmp_path):
    twin_dir = tmp_path / "twin"
    materialize(t2d_spec(photo_dir, transform_seed=99), twin_dir, chunk_size=16, progress=False)
    assert dataset_name(t2d_spec(photo_dir, transform_seed=99)) != read_manifest(base)["name"]
    for split in ("train", "val", "test"):
        a, b = load_split(base, split), load_split(twin_dir, split)
        pd.testing.assert_frame_equal(a.meta[SAMPLING_COLUMNS], b.meta[SAMPLING_COLUMNS])
        assert torch.equal(a.labels, b.labels)
        param_cols = [c for c in a.meta.columns if c not in SAMPLING_COLUMNS]
        assert param_cols == ["rotate.angle", "hue.factor", "blur.sigma"]
        for col in param_cols:
            assert (a.meta[col].to_numpy() != b.meta[col].to_numpy()).all(), col
        differs = (a.images != b.images).flatten(1).any(1)
        assert differs.float().mean() > 0.95


def test_twins_without_transformations_are_identical(photo_dir, tmp_path):
    spec = t2d_spec(photo_dir, transforms=[], splits={"train": 40})
    materialize(spec, tmp_path / "a", progress=False)
    materialize({**spec, "transform_seed": 5}, tmp_path / "b", progress=False)
    assert shard_hashes(tmp_path / "a") == shard_hashes(tmp_path / "b")


def test_sampling_depends_on_split_and_seed(base):
    train, val = load_split(base, "train"), load_split(base, "val")
    # same indices in different splits draw independently
    assert not np.array_equal(train.meta["label"][:20], val.meta["label"])
    assert not np.array_equal(train.meta["rotate.angle"][:20], val.meta["rotate.angle"])


# --------------------------------------------------------------------------------------------
# class assignment
# --------------------------------------------------------------------------------------------
def test_exact_class_balance_is_exact_and_a_pure_function_of_the_index():
    k = 7
    labels = assign_classes(0, "train", np.arange(k * 13), k, "exact")
    assert np.bincount(labels, minlength=k).tolist() == [13] * k
    for block in range(13):
        assert sorted(labels[block * k : (block + 1) * k]) == list(range(k))
    partial = np.bincount(
        assign_classes(0, "train", np.arange(k * 13 + 4), k, "exact"), minlength=k
    )
    assert partial.max() - partial.min() <= 1 and partial.sum() == k * 13 + 4
    # any subset of indices gets the same classes as the whole range
    sub = np.arange(10, 50)
    assert np.array_equal(assign_classes(0, "train", sub, k, "exact"), labels[10:50])
    # seed and split change the permutation
    assert not np.array_equal(assign_classes(1, "train", np.arange(k * 13), k, "exact"), labels)
    assert not np.array_equal(assign_classes(0, "val", np.arange(k * 13), k, "exact"), labels)


def test_iid_balance_is_the_default_and_draws_independently():
    # paper App. A.1: "choosing a foreground object o uniformly from a set of objects O"
    labels = assign_classes(0, "train", np.arange(3000), 30)
    assert np.array_equal(labels, assign_classes(0, "train", np.arange(3000), 30, "iid"))
    counts = np.bincount(labels, minlength=30)
    assert counts.sum() == 3000 and counts.min() > 50 and counts.max() - counts.min() > 5
    assert np.array_equal(assign_classes(0, "train", np.arange(10, 50), 30), labels[10:50])
    assert canonicalize_spec({"kind": "t2d"})["class_balance"] == "iid"


def test_dataset_classes_follow_the_class_draw(base, photo_dir, tmp_path):
    train = load_split(base, "train")
    assert train.class_names == NAMES and train.num_classes == 5
    expected = assign_classes(3, "train", np.arange(60), 5, "iid")  # the spec's seed 3
    assert np.array_equal(train.labels.numpy(), expected)
    assert (train.meta["class_name"] == np.array(NAMES)[train.labels.numpy()]).all()
    spec = t2d_spec(photo_dir, class_balance="exact", splits={"train": 60}, transforms=[])
    materialize(spec, tmp_path / "exact", progress=False)
    exact = load_split(tmp_path / "exact", "train")
    assert np.bincount(exact.labels.numpy(), minlength=5).tolist() == [12] * 5


# --------------------------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------------------------
def _alpha_box(layer: torch.Tensor, threshold: float = 0.0) -> tuple[int, int, int, int]:
    ys, xs = torch.nonzero(layer[3] > threshold, as_tuple=True)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def test_prototype_is_squashed_to_the_reference_box_by_default():
    rgba = np.zeros((40, 20, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    squashed = prototype_layer(rgba, 32, scale=0.7)  # reference: squash to a square, 22 px
    assert squashed.shape == (4, 32, 32) and squashed.dtype == torch.float32
    top, left, bottom, right = _alpha_box(squashed, 0.5)
    assert (top, left, bottom - top, right - left) == (5, 5, 22, 22)  # the reference's box
    assert torch.allclose(squashed[0][squashed[3] > 0.99], torch.tensor(200 / 255))
    layer = prototype_layer(rgba, 32, scale=0.7, squash_aspect=False)
    top, left, bottom, right = _alpha_box(layer, 0.5)
    assert (bottom - top, right - left) == (22, 11)  # round(0.7·32) = 22, aspect 2:1 kept
    assert (top, left) == (5, 10)  # centred
    assert torch.allclose(layer[0][layer[3] > 0.99], torch.tensor(200 / 255))
    assert (layer[:3][:, layer[3] == 0] == 0).all()  # straight alpha, RGB = 0 where transparent


def test_reference_prototype_resample_is_bilinear_to_the_canvas_then_bicubic():
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (57, 43, 4), dtype=np.uint8)
    rgba[..., 3] = 255  # opaque: premultiplication is the identity
    x = torch.from_numpy(rgba).permute(2, 0, 1)[None].float() / 255
    canvas = F.interpolate(x, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    small = F.interpolate(
        canvas, size=(22, 22), mode="bicubic", antialias=True, align_corners=False
    )
    layer = prototype_layer(rgba, 32)
    torch.testing.assert_close(layer[:3, 5:27, 5:27], small[0, :3].clamp(0, 1), atol=1e-6, rtol=0)
    one_step = prototype_layer(rgba, 32, resample="bilinear")
    assert (one_step - layer).abs().max() > 0.01  # the two-step filter differs visibly


def test_bundle_prototypes_occupy_seventy_percent_of_the_canvas(photo_dir):
    squashed = build(t2d_spec(photo_dir))  # default: the reference's squash to 22×22 at (5, 5)
    for k in range(len(NAMES)):
        assert _alpha_box(squashed.prototypes[k]) == (5, 5, 27, 27)
    plan = build(t2d_spec(photo_dir, squash_aspect=False))
    # the crops are tight, so the resized alpha reaches the edges of the round(0.7·32) = 22 box
    for k, name in enumerate(NAMES):
        top, left, bottom, right = _alpha_box(plan.prototypes[k])
        assert max(bottom - top, right - left) == 22, name
        assert abs((top + bottom) / 2 - 16) <= 0.5 and abs((left + right) / 2 - 16) <= 0.5


def test_no_transform_image_is_the_prototype_composited_on_its_background(photo_dir):
    from invtransfer.assets import background_bank, load_background_photos

    spec = canonicalize_spec(t2d_spec(photo_dir, transforms=[], splits={"val": 12}))
    plan = build(spec)
    images, meta = next(plan.chunks("val", chunk_size=12))
    photos = load_background_photos({"source": "folder", "path": str(photo_dir)})
    bank = background_bank(photos, size=32, count=16, seed=3, split="val")
    assert np.array_equal(bank, background_bank(photos, size=32, count=16, seed=3, split="train"))
    for i in range(12):
        proto = plan.prototypes[meta["label"][i]].permute(1, 2, 0).numpy().astype(np.float64)
        bg = bank[meta["background"][i]] / 255.0
        expected = proto[..., :3] * proto[..., 3:] + bg * (1 - proto[..., 3:])
        assert np.abs(images[i] / 255.0 - expected).max() <= 0.5 / 255 + 1e-6


def test_top_left_backgrounds_are_the_photos_themselves(photo_dir):
    """``backgrounds.crops: top-left`` (the reference's backgrounds): a sample without
    transformations is its prototype composited on the top-left square of photo ``background``."""
    from PIL import Image

    bg = {"source": "folder", "_path": str(photo_dir), "bank_size": 4, "crops": "top-left"}
    spec = canonicalize_spec(t2d_spec(photo_dir, transforms=[], splits={"val": 12}, backgrounds=bg))
    assert spec["backgrounds"]["crops"] == "top-left"
    plan = build(spec)
    images, meta = next(plan.chunks("val", chunk_size=12))
    assert set(meta["background"]) <= set(range(4)) and len(set(meta["background"])) > 1
    photos = sorted(photo_dir.glob("*.png"))
    for i in range(12):
        photo = Image.open(photos[meta["background"][i]]).convert("RGB")
        side = min(photo.size)
        tile = photo.crop((0, 0, side, side)).resize((32, 32), Image.Resampling.BILINEAR)
        proto = plan.prototypes[meta["label"][i]].permute(1, 2, 0).numpy().astype(np.float64)
        expected = proto[..., :3] * proto[..., 3:] + np.asarray(tile) / 255.0 * (1 - proto[..., 3:])
        assert np.abs(images[i] / 255.0 - expected).max() <= 0.5 / 255 + 1e-6
    too_many = {**bg, "bank_size": 5}
    with pytest.raises(ValueError, match=r"count=5 exceeds the 4 photos.*bank_size to at most 4"):
        next(build(canonicalize_spec(t2d_spec(photo_dir, backgrounds=too_many))).chunks("val"))


def test_crops_key_resolves_auto_per_source_and_keeps_old_names():
    """``crops`` (default ``auto``): random crops of the bundle or a folder are written as before
    the key existed (same canonical spec, same name); SI-Score's default is ``top-left``, and
    any SI-Score spec names its crops, so canonicalization stays idempotent."""
    plain = {"kind": "t2d", "transforms": ["rotate"], "seed": 1}
    before = canonicalize_spec(plain)
    assert "crops" not in before["backgrounds"]
    for crops in ("auto", "random"):
        spec = {**plain, "backgrounds": {"source": "bundle", "crops": crops}}
        assert canonicalize_spec(spec) == before and dataset_name(spec) == dataset_name(plain)
    left = {**plain, "backgrounds": {"source": "bundle", "crops": "top-left"}}
    assert canonicalize_spec(left)["backgrounds"]["crops"] == "top-left"
    assert dataset_name(left) != dataset_name(plain)
    si = {**plain, "backgrounds": {"source": "si-score", "_path": "/data/si-score"}}
    si_default = canonicalize_spec(si)
    assert si_default["backgrounds"]["crops"] == "top-left"
    si_random = canonicalize_spec({**si, "backgrounds": {**si["backgrounds"], "crops": "random"}})
    assert si_random["backgrounds"]["crops"] == "random"
    for c in (before, canonicalize_spec(left), si_default, si_random):
        assert canonicalize_spec(c) == c
    assert dataset_name(si_default) != dataset_name(si_random)
    with pytest.raises(ConfigError, match=r"backgrounds\.crops.*not used with background source"):
        canonicalize_spec(
            {"kind": "random", "backgrounds": {"source": "random", "crops": "random"}}
        )


def test_max_size_reaches_the_dataset_build_and_its_name(photo_dir):
    """``assets.{objects,backgrounds}.max_size`` (decode images at most N px) change the pixels,
    so they are part of a dataset's spec (hashed) and the builder decodes with them; absent, the
    spec and its name are as before the key was passed on."""
    base = t2d_spec(photo_dir, transforms=[], splits={"val": 8})
    small = t2d_spec(
        photo_dir,
        transforms=[],
        splits={"val": 8},
        objects={"source": "bundle", "names": NAMES, "max_size": 16},
        backgrounds={"source": "folder", "_path": str(photo_dir), "bank_size": 16, "max_size": 20},
    )
    spec = canonicalize_spec(small)
    assert spec["objects"]["max_size"] == 16 and spec["backgrounds"]["max_size"] == 20
    assert "max_size" not in canonicalize_spec(base)["objects"]
    assert dataset_name(small) != dataset_name(base)
    plan, plain = build(spec), build(canonicalize_spec(base))
    assert all(max(p.rgb.shape[:2]) <= 20 for p in plan._photos)
    assert max(max(p.rgb.shape[:2]) for p in plain._photos) > 20
    assert not torch.equal(plan.prototypes, plain.prototypes)  # objects decoded at 16 px
    images, _ = next(plan.chunks("val", chunk_size=8))
    assert not np.array_equal(images, next(plain.chunks("val", chunk_size=8))[0])
    with pytest.raises(ConfigError, match=r"objects\.max_size"):
        canonicalize_spec({**base, "objects": {"source": "bundle", "max_size": 4}})


# --------------------------------------------------------------------------------------------
# structured random data
# --------------------------------------------------------------------------------------------
def test_structured_random_data_has_one_fixed_pattern_per_class(tmp_path):
    spec = {"kind": "random", "objects": {"count": 6}, "transforms": [], "splits": {"train": 48}}
    materialize(spec, tmp_path / "r", progress=False)
    data = load_split(tmp_path / "r", "train")
    assert data.images.shape == (48, 32, 32, 3) and data.images.dtype == torch.uint8
    assert data.num_classes == 6 and set(data.labels.tolist()) == set(range(6))
    assert np.array_equal(data.labels.numpy(), assign_classes(0, "train", np.arange(48), 6))
    images, labels = data.images.numpy(), data.labels.numpy()
    inner = images[:, 5:27, 5:27]  # the 22×22 pattern (round(0.7·32))
    for c in range(6):
        same = inner[labels == c]
        assert (same == same[0]).all()  # identical pattern within a class
    assert not (inner[labels == 0][0] == inner[labels == 1][0]).all()
    # backgrounds: fresh uniform pixels per sample
    border = images[:, :5].reshape(48, -1)
    assert len({row.tobytes() for row in border}) == 48
    assert 100 < border.mean() < 155
    assert data.meta["background_seed"].nunique() == 48
    assert (data.meta["background"] == -1).all()


def test_random_patterns_are_keyed_by_seed_and_class():
    few, many = random_patterns(30, 32, seed=7), random_patterns(60, 32, seed=7)
    assert torch.equal(few, many[:30])
    assert not torch.equal(few, random_patterns(30, 32, seed=8))
    pixels = few[:, :3, 5:27, 5:27]
    assert (few[:, 3, 5:27, 5:27] == 1).all() and few[:, 3].sum() == 30 * 22 * 22
    assert abs(pixels.mean().item() - 0.5) < 0.02  # uniform pixels
    half = random_patterns(2, 32, seed=7, fraction=0.5)
    assert half[0, 3].sum() == 16 * 16


def _as_float32s(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(pixels).reshape(-1).view("<f4")


def test_float32_bytes_pixels_are_the_references_byte_reinterpretation():
    """`data.random_pixels: float32-bytes` (FIDELITY D13): an image is the raw little-endian bytes
    of uniform float32 values in [0, 1) read as RGB, as `Image.fromarray(rng.random((32, 32, 3),
    dtype=float32), "RGB")` does in the reference: every 4th byte is an exponent byte (57-63)."""
    from invtransfer.datasets.t2d import random_backgrounds

    pixels, seeds = random_backgrounds(3, "train", np.arange(8), 32, pixels="float32-bytes")
    assert pixels.shape == (8, 32, 32, 3) and pixels.dtype == np.uint8
    values = _as_float32s(pixels)
    assert len(values) == 8 * 32 * 32 * 3 // 4
    assert ((values >= 0) & (values < 1)).all()
    assert (values * 2.0**24 == np.round(values * 2.0**24)).all()  # 24-bit mantissas
    assert abs(values.mean() - 0.5) < 0.02 and values.std() > 0.27  # uniform
    exponent = pixels.reshape(8, -1)[:, 3::4]
    assert exponent.max() <= 63 and (exponent >= 57).mean() > 0.999
    assert len({p.tobytes() for p in pixels}) == 8  # fresh pixels per sample
    # the same stream seeds as the uniform pixels (only how the bytes are made differs)
    uniform, useeds = random_backgrounds(3, "train", np.arange(8), 32)
    assert np.array_equal(seeds, useeds) and not np.array_equal(pixels, uniform)
    again, _ = random_backgrounds(3, "train", np.arange(4, 8), 32, pixels="float32-bytes")
    assert np.array_equal(again, pixels[4:])  # a pure function of (seed, split, index)


def test_float32_bytes_patterns_are_bicubic_resized_canvases():
    """The reference's pattern: the whole 32-px float32-bytes image resized to the pattern side
    (bicubic, `scale_object(…, 0.7)`): an opaque 22×22 square, smoother than its source bytes."""
    few = random_patterns(30, 32, seed=7, pixels="float32-bytes")
    assert torch.equal(few, random_patterns(60, 32, seed=7, pixels="float32-bytes")[:30])
    assert not torch.equal(few, random_patterns(30, 32, seed=8, pixels="float32-bytes"))
    assert (few[:, 3, 5:27, 5:27] == 1).all() and few[:, 3].sum() == 30 * 22 * 22
    assert (few[:, :, :5] == 0).all() and (few[:, :, 27:] == 0).all()  # transparent outside
    uniform = random_patterns(30, 32, seed=7)
    assert not torch.equal(few, uniform)
    inner, raw = few[:, :3, 5:27, 5:27], uniform[:, :3, 5:27, 5:27]

    def roughness(x: torch.Tensor) -> float:  # mean absolute difference of horizontal neighbours
        return (x[..., 1:] - x[..., :-1]).abs().mean().item()

    assert roughness(inner) < 0.8 * roughness(raw)  # the resize smooths the byte noise
    with pytest.raises(ValueError, match="pixels must be one of"):
        random_patterns(2, 32, seed=7, pixels="bytes")


def test_random_pixels_key_is_validated_and_absent_at_its_default():
    plain = canonicalize_spec({"kind": "random"})
    assert "pixels" not in plain["objects"] and "pixels" not in plain["backgrounds"]
    uniform = {"pixels": "uniform"}
    assert (
        canonicalize_spec({"kind": "random", "objects": uniform, "backgrounds": uniform}) == plain
    )  # the default writes nothing: datasets built before the key keep their names
    ref = canonicalize_spec(
        {"kind": "random", "objects": {"pixels": "float32-bytes"}, "backgrounds": uniform}
    )
    assert ref["objects"]["pixels"] == "float32-bytes" and "pixels" not in ref["backgrounds"]
    with pytest.raises(ConfigError, match=r"objects\.pixels"):
        canonicalize_spec({"kind": "random", "objects": {"pixels": "bytes"}})
    with pytest.raises(ConfigError, match=r"backgrounds\.pixels"):
        canonicalize_spec({"kind": "random", "backgrounds": {"pixels": 1}})
    with pytest.raises(ConfigError, match=r"backgrounds\.pixels"):
        canonicalize_spec(
            {"kind": "t2d", "transforms": [], "backgrounds": {"pixels": "float32-bytes"}}
        )


def test_float32_bytes_random_data_materializes_deterministically(tmp_path):
    spec = {
        "kind": "random",
        "objects": {"count": 4, "pixels": "float32-bytes"},
        "backgrounds": {"source": "random", "pixels": "float32-bytes"},
        "transforms": ["hue"],
        "splits": {"train": 24},
    }
    for name in ("a", "b"):
        materialize(spec, tmp_path / name, progress=False)
    a, b = load_split(tmp_path / "a", "train"), load_split(tmp_path / "b", "train")
    assert torch.equal(a.images, b.images)
    border = a.images[:, :5].numpy()  # the backgrounds: float32 bytes, an exponent byte every 4th
    flat = border.reshape(24, -1)
    assert flat.shape[1] % 4 == 0 and (flat[:, 3::4] <= 63).all()
    plain = {**spec, "objects": {"count": 4}, "backgrounds": {"source": "random"}}
    materialize(plain, tmp_path / "plain", progress=False)
    assert not torch.equal(a.images, load_split(tmp_path / "plain", "train").images)


def test_random_twin_shares_patterns_and_backgrounds(tmp_path):
    spec = {
        "kind": "random",
        "objects": {"count": 4},
        "transforms": ["rotate"],
        "splits": {"test": 16},
    }
    materialize(spec, tmp_path / "a", progress=False)
    materialize({**spec, "transform_seed": 1}, tmp_path / "b", progress=False)
    a, b = load_split(tmp_path / "a", "test"), load_split(tmp_path / "b", "test")
    for col in ("label", "object", "background_seed"):
        assert (a.meta[col] == b.meta[col]).all()
    assert (a.meta["rotate.angle"] != b.meta["rotate.angle"]).all()


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------
def test_folder_contents_manifest_and_preview(base):
    files = sorted(p.name for p in base.iterdir())
    assert files == [
        "build.json",
        "images-00000.npy",
        "images-00001.npy",
        "images-00002.npy",
        "images-00003.npy",
        "images-00004.npy",
        "manifest.json",
        "preview.png",
        "samples.parquet",
        "spec.json",
    ]
    manifest = read_manifest(base)
    assert manifest["counts"] == {"train": 60, "val": 20, "test": 20}
    assert [(s["split"], s["start"], s["count"]) for s in manifest["shards"]] == [
        ("train", 0, 25),
        ("train", 25, 25),
        ("train", 50, 10),
        ("val", 0, 20),
        ("test", 0, 20),
    ]
    assert manifest["spec"] == canonicalize_spec(manifest["spec"])
    build = read_json(base / "build.json")  # how the build ran: beside the manifest
    assert build["images_per_s"] > 0 and build["wall_time_s"] > 0 and build["workers"] == 1
    assert not {"wall_time_s", "images_per_s", "workers", "chunk_size"} & set(manifest)
    assert manifest["preview"]["classes"] == NAMES
    with Image.open(base / "preview.png") as im:
        width, height = im.size
        assert im.mode == "RGB"
    grid_w, grid_h = grid_size(5, 8, 32, 32)  # 5 classes × 8 samples, ×2 upscale
    assert height == grid_h and grid_w < width < grid_w + 200


def test_load_split_round_trip(base):
    manifest = read_manifest(base)
    for split in ("train", "val", "test"):
        data = load_split(base, split)
        shards = [np.load(base / s["file"]) for s in manifest["shards"] if s["split"] == split]
        assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
        assert np.array_equal(data.images.numpy(), np.concatenate(shards))
        assert data.meta["index"].tolist() == list(range(manifest["counts"][split]))
        assert (data.meta["split"] == split).all() and len(data) == manifest["counts"][split]
    with pytest.raises(ValueError, match="split 'extra'"):
        load_split(base, "extra")


# --------------------------------------------------------------------------------------------
# specs and names
# --------------------------------------------------------------------------------------------
def test_locations_may_be_hashed_or_not(photo_dir):
    hidden = t2d_spec(photo_dir)
    bg = {"source": "folder", "bank_size": 16}
    shown = t2d_spec(photo_dir, backgrounds={**bg, "path": str(photo_dir)})
    elsewhere = t2d_spec(photo_dir, backgrounds={**bg, "_path": "/elsewhere"})
    assert dataset_name(hidden) == dataset_name(elsewhere) != dataset_name(shown)
    both = {"source": "folder", "path": "/a", "_path": "/b"}
    with pytest.raises(ConfigError, match=r"backgrounds\._path"):
        canonicalize_spec(t2d_spec(photo_dir, backgrounds=both))
    with pytest.raises(ConfigError, match=r"backgrounds\.path"):
        canonicalize_spec(t2d_spec(photo_dir, backgrounds={"source": "folder"}))


def test_dataset_names_are_readable_unique_and_ignore_underscore_keys():
    spec = {"kind": "t2d", "transforms": ["rotate", "hue"], "seed": 2}
    name = dataset_name(spec)
    assert re.fullmatch(r"t2d-rotate\+hue-50k-s2-[0-9a-f]{10}", name), name
    assert dataset_name({**spec, "_root": "/somewhere"}) == name
    explicit = canonicalize_spec(spec)
    assert dataset_name(explicit) == name and canonicalize_spec(explicit) == explicit
    assert dataset_name({**spec, "transform_seed": 5}).startswith("t2d-rotate+hue-50k-s2-t5-")
    assert dataset_name({**spec, "object_scale": 0.5}) != name
    assert dataset_name({"kind": "random", "transforms": ["v_flip"]}).startswith("random-vflip-")
    assert canonicalize_spec({**spec, "_root": "x"})["_root"] == "x"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"transforms": ["rotat"]}, "transforms[0]"),
        ({"transforms": ["none"]}, "transforms[0]"),
        ({"transforms": ["hue", "hue"]}, "transforms[1]"),
        ({"colour": 1}, "colour"),
        ({"objects": {"source": "bundle", "nmes": ["a"]}}, "objects.nmes"),
        ({"splits": {"train": -5}}, "splits.train"),
        ({"splits": {"train": 0}}, "splits.train"),
        ({"splits": {"tran": 10}}, "splits.tran"),
        ({"transform_options": {"probability": 1.5}}, "transform_options.probability"),
        ({"transform_options": {"pixelate_fraction": 0.0}}, "pixelate_fraction"),
        ({"transform_options": {"resample": "cubic"}}, "transform_options.resample"),
        ({"transform_options": {"blur": 1}}, "transform_options.blur"),
        ({"object_scale": 1.5}, "object_scale"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"squash_aspect": "yes"}, "squash_aspect"),
        ({"class_balance": "roughly"}, "class_balance"),
        ({"backgrounds": {"source": "black", "bank_size": 4}}, "backgrounds.bank_size"),
        ({"backgrounds": {"source": "bundle", "bank_size": 0}}, "backgrounds.bank_size"),
        ({"backgrounds": {"source": "bundle", "crops": "centre"}}, "backgrounds.crops"),
        ({"objects": {"source": "random"}}, "objects.source"),
        ({"kind": "cube"}, "kind"),
    ],
)
def test_bad_spec_names_the_key(override, key):
    spec = {"kind": "t2d", "transforms": ["rotate"], **override}
    with pytest.raises(ConfigError) as info:
        canonicalize_spec(spec)
    assert repr(key)[1:-1] in str(info.value), str(info.value)


def test_random_kind_rejects_prototype_keys_and_bad_fraction():
    with pytest.raises(ConfigError, match="object_scale"):
        canonicalize_spec({"kind": "random", "object_scale": 0.5})
    # planners pass the shared object keys to every kind: at their defaults they are no-ops
    plain = canonicalize_spec({"kind": "random"})
    defaults = {"object_scale": 0.7, "squash_aspect": True, "prototype_resample": "reference"}
    assert canonicalize_spec({"kind": "random", **defaults}) == plain
    with pytest.raises(ConfigError, match="squash_aspect"):
        canonicalize_spec({"kind": "random", "squash_aspect": False})
    assert "object_scale" not in plain
    with pytest.raises(ConfigError, match=r"objects\.pattern_fraction"):
        canonicalize_spec({"kind": "random", "objects": {"pattern_fraction": 1.2}})


def test_unknown_object_name_is_reported_before_anything_is_written(photo_dir, tmp_path):
    spec = t2d_spec(photo_dir, objects={"source": "bundle", "names": ["banana", "bananna"]})
    with pytest.raises(ConfigError, match=r"objects\.names\[1\].*'bananna'"):
        materialize(spec, tmp_path / "never", progress=False)
    assert not (tmp_path / "never").exists()
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


# --------------------------------------------------------------------------------------------
# fidelity defaults (docs/FIDELITY.md): config.yaml, the schema and the code say the same
# --------------------------------------------------------------------------------------------
def test_data_layer_defaults_agree_in_config_schema_and_code():
    """The effective config (schema defaults; config.yaml adds nothing), the schema and the code's
    own defaults say the same."""
    import dataclasses
    import inspect

    from invtransfer.assets import DEFAULT_SPLIT_PHOTOS, background_bank
    from invtransfer.config import load_config, load_schema
    from invtransfer.transforms import TransformOptions

    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "config.yaml")  # the effective defaults (config.yaml is empty)
    schema = load_schema()["properties"]
    data_schema = schema["data"]["properties"]
    spec = canonicalize_spec({"kind": "t2d"})
    proto = inspect.signature(prototype_layer).parameters
    bank = inspect.signature(background_bank).parameters
    expected = {  # key: (config.yaml, schema default, code default)
        "split_photos": (
            config["assets"]["backgrounds"]["split_photos"],
            schema["assets"]["properties"]["backgrounds"]["properties"]["split_photos"]["default"],
            spec["backgrounds"]["split_photos"],
        ),
        "squash_aspect": (
            config["data"]["squash_aspect"],
            data_schema["squash_aspect"]["default"],
            spec["squash_aspect"],
        ),
        "prototype_resample": (
            config["data"]["prototype_resample"],
            data_schema["prototype_resample"]["default"],
            spec["prototype_resample"],
        ),
        "class_balance": (
            config["data"]["class_balance"],
            data_schema["class_balance"]["default"],
            spec["class_balance"],
        ),
    }
    options = {f.name: f.default for f in dataclasses.fields(TransformOptions)}
    opt_schema = data_schema["transform_options"]["properties"]
    for key, value in config["data"]["transform_options"].items():
        if key != "cifar_translate":  # the planner's name for the whole-image translate mode
            expected[key] = (value, opt_schema[key]["default"], options[key])
    assert expected == {
        "split_photos": ("shared",) * 3,  # paper: one set of 867 backgrounds for every split
        "squash_aspect": (True,) * 3,  # reference: objects squashed to a square
        "prototype_resample": ("reference",) * 3,
        "class_balance": ("iid",) * 3,  # paper: objects drawn uniformly at random
        "resample": ("nearest",) * 3,  # reference: rotate/shear NEAREST
        "scale_resample": ("bicubic",) * 3,  # reference: Pillow's default resize
        "noise": ("gaussian",) * 3,  # paper: Gaussian noise, mu 0, sigma 1
        "pixelate_fraction": (0.5,) * 3,  # paper: "to half resolution"
        "contrast_mean": ("canvas",) * 3,  # reference: mean incl. the transparent area
        "image_translate_fraction": (0.3,) * 3,  # paper App. D.1: up to 30 % per axis
    }
    assert DEFAULT_SPLIT_PHOTOS == bank["split_photos"].default == "shared"
    # backgrounds: the reference's one top-left square per photo for SI-Score's 867 photos;
    # random crops where there are few photos (the bundle's 27)
    crops = schema["assets"]["properties"]["backgrounds"]["properties"]["crops"]["default"]
    assert config["assets"]["backgrounds"]["crops"] == crops == "auto"
    assert "crops" not in spec["backgrounds"]  # the bundle: random crops
    si = canonicalize_spec({"kind": "t2d", "backgrounds": {"source": "si-score", "_path": "/x"}})
    assert si["backgrounds"]["crops"] == "top-left"
    assert proto["squash_aspect"].default is True and proto["resample"].default == "reference"


# --------------------------------------------------------------------------------------------
# the kinds registry
# --------------------------------------------------------------------------------------------
def test_dataset_kinds_registry_lookup_duplicates_and_unknown_kinds(tmp_path):
    from invtransfer.datasets import (
        DATASET_KINDS,
        DatasetKind,
        cifar_aug,
        cifar_objects,
        register_dataset_kind,
        t2d,
    )
    from invtransfer.datasets.kinds import get_dataset_kind

    assert list(DATASET_KINDS) == ["t2d", "random", "cifar", "cifar_objects"]
    assert get_dataset_kind("cifar").build is cifar_aug.build
    assert get_dataset_kind("cifar_objects").canonicalize is cifar_objects.canonicalize_spec
    assert get_dataset_kind("random").canonicalize is t2d.canonicalize_t2d_spec
    with pytest.raises(ValueError, match="'t2d' is already registered"):
        register_dataset_kind(DATASET_KINDS["t2d"])
    with pytest.raises(
        ConfigError, match=r"unknown kind 'cube'.*t2d, random, cifar, cifar_objects"
    ):
        get_dataset_kind("cube")
    with pytest.raises(ConfigError, match="unknown kind 'cube'"):
        canonicalize_spec({"kind": "cube"})

    # a new kind is one entry: canonicalize + build, then every entry point knows it
    class _Plan:
        class_names = ("a", "b")

        def chunks(self, split, chunk_size=256):
            images = np.full((4, 8, 8, 3), 7, dtype=np.uint8)
            meta = pd.DataFrame(
                {
                    "index": range(4),
                    "split": split,
                    "label": [0, 1, 0, 1],
                    "class_name": list("abab"),
                }
            )
            yield images, meta

    def canon(spec):
        return {"kind": "unit_test_kind", "seed": 0, "transform_seed": 0, "transforms": [],
                "shard_size": 10, "splits": {"test": 4}}  # fmt: skip

    kind = DatasetKind("unit_test_kind", canon, lambda spec: _Plan(), "a test kind")
    try:
        assert register_dataset_kind(kind) is kind
        assert canonicalize_spec({"kind": "unit_test_kind", "_where": "x"})["_where"] == "x"
        assert dataset_name({"kind": "unit_test_kind"}).startswith("unit-test-kind-none-test4-s0-")
        materialize({"kind": "unit_test_kind"}, tmp_path / "new", progress=False)
        data = load_split(tmp_path / "new", "test")
        assert data.labels.tolist() == [0, 1, 0, 1] and int(data.images.max()) == 7
    finally:
        DATASET_KINDS.pop("unit_test_kind", None)
