"""Augmented CIFAR (kind "cifar") and CIFAR + pasted objects (kind "cifar_objects").

Built from a tiny fake CIFAR-10 release (``support.fake_cifar``, 20 train / 5 test images per class
plus the 20 real foolbox test images) in a tmp dir.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.fake_cifar import FIXTURE, OBJECTS, read_png_fixture, write_fake_cifar

from invtransfer.datasets import (
    canonicalize_spec,
    cifar,
    cifar_aug,
    cifar_objects,
    dataset_name,
    load_split,
    materialize,
    read_manifest,
    verify,
)
from invtransfer.errors import AssetError, ConfigError


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(cifar.ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar(root, "cifar10", 20, 5, seed=11, real_test_images=read_png_fixture(FIXTURE))
    return str(root)


def aug_spec(root, **kw):
    spec = {"kind": "cifar", "dataset": "cifar10", "seed": 0, "_root": root}
    spec.update(kw)
    return spec


def obj_spec(root, variant, **kw):
    spec = {
        "kind": "cifar_objects",
        "variant": variant,
        "objects": {"source": "bundle", "names": OBJECTS},
        "seed": 0,
        "_root": root,
    }
    spec.update(kw)
    return spec


def collect(build, spec, split, chunk_size=64):
    parts = list(build(spec).chunks(split, chunk_size=chunk_size))
    return np.concatenate([p[0] for p in parts]), pd.concat(
        [p[1] for p in parts], ignore_index=True
    )


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# -- kind "cifar" ----------------------------------------------------------------------------------


def test_materialized_cifar_dataset_round_trips_through_the_store(root, tmp_path):
    spec = aug_spec(
        root,
        classes=[3, 5, 1],
        transforms=["rotate", "hue"],
        splits={"train": None, "val": None, "test": 20},
    )
    manifest = materialize(spec, tmp_path / "ds", progress=False)
    verify(tmp_path / "ds")
    assert manifest["class_names"] == ["cat", "dog", "automobile"]
    counts = manifest["counts"]
    assert counts["test"] == 20 and counts["train"] + counts["val"] == 60  # 3 classes × 20 images
    test = load_split(tmp_path / "ds", "test")
    meta = test.meta
    source = cifar.load_raw_split(root, "cifar10", "test")
    # labels re-indexed in the given class order, class names from the meta file, cifar_index valid
    lut = {3: 0, 5: 1, 1: 2}
    assert [lut[c] for c in source.labels[meta["cifar_index"]]] == meta["label"].tolist()
    assert meta["cifar_label"].tolist() == source.labels[meta["cifar_index"]].tolist()
    assert {"rotate.angle", "hue.factor"} <= set(meta.columns)
    assert meta["cifar_index"].is_unique
    assert read_manifest(tmp_path / "ds")["spec"]["_root"] == root


def test_no_transforms_passes_images_through_exactly(root):
    images, meta = collect(cifar_aug.build, aug_spec(root, splits={"test": None}), "test")
    source = cifar.load_raw_split(root, "cifar10", "test")
    assert len(meta) == len(source) == 70
    np.testing.assert_array_equal(images, source.images[meta["cifar_index"]])


def test_rebuild_is_byte_identical_and_name_ignores_root(root, tmp_path):
    spec = aug_spec(
        root,
        classes=[0, 1],
        transforms=["translate", "elastic", "noise"],
        splits={"train": 30, "test": 10},
    )
    materialize(spec, tmp_path / "a", progress=False)
    materialize(spec, tmp_path / "b", progress=False, chunk_size=7)  # chunking must not matter
    digest_a, digest_b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    for digest in (digest_a, digest_b):
        digest.pop("build.json")  # the only file that records the wall time and chunk size
    assert digest_a == digest_b and "images-00000.npy" in digest_a
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    assert a["shards"] == b["shards"] and a["samples"] == b["samples"]
    assert dataset_name(spec) == dataset_name({**spec, "_root": "/elsewhere"})


def test_twin_has_the_same_images_and_new_transformation_draws(root):
    spec = aug_spec(root, transforms=["hue", "rotate"], splits={"test": 40})
    img_a, meta_a = collect(cifar_aug.build, spec, "test")
    img_b, meta_b = collect(cifar_aug.build, {**spec, "transform_seed": 99}, "test")
    assert meta_a["cifar_index"].tolist() == meta_b["cifar_index"].tolist()
    assert meta_a["label"].tolist() == meta_b["label"].tolist()
    assert (meta_a["hue.factor"] != meta_b["hue.factor"]).all()
    assert (img_a != img_b).any(axis=(1, 2, 3)).all()
    assert dataset_name(spec) != dataset_name({**spec, "transform_seed": 99})


def _expected_shift(u: np.ndarray, size: int = 32, fraction: float = 0.25) -> np.ndarray:
    return np.round((2.0 * u - 1.0) * fraction * size).astype(int)


@pytest.mark.parametrize("mode", ["image", "image-reference"])
def test_translate_moves_the_whole_image_and_blackens_the_rest(root, mode):
    # default f = 0.25 (paper: 50 % range, centred); the reference's shift used f = 0.3
    fraction = 0.25 if mode == "image" else 0.3
    options = {"translate": mode, "image_translate_fraction": fraction}
    spec = aug_spec(
        root, transforms=["translate"], transform_options=options, splits={"test": None}
    )
    images, meta = collect(cifar_aug.build, spec, "test")
    source = cifar.load_raw_split(root, "cifar10", "test").images[meta["cifar_index"]]
    ux, uy = meta["translate.u_x"].to_numpy(), meta["translate.u_y"].to_numpy()
    if mode == "image":
        dx, dy = _expected_shift(ux), _expected_shift(uy)
        assert (dx < 0).any() and (dx > 0).any() and (dy < 0).any()  # both directions
        assert np.abs(dx).max() <= 8
    else:
        dx, dy = np.floor(ux * 9.6).astype(int) + 4, np.floor(uy * 9.6).astype(int) + 4
        assert dx.min() >= 4 and dx.max() <= 13
    for i in range(len(meta)):
        expected = np.zeros((32, 32, 3), np.uint8)
        sx, sy = dx[i], dy[i]
        expected[max(sy, 0) : 32 + min(sy, 0), max(sx, 0) : 32 + min(sx, 0)] = source[i][
            max(-sy, 0) : 32 - max(sy, 0), max(-sx, 0) : 32 - max(sx, 0)
        ]
        np.testing.assert_array_equal(
            images[i], expected, err_msg=f"sample {i}, shift ({sx}, {sy})"
        )


def test_translate_object_option_means_image_for_whole_images(root):
    a = canonicalize_spec(
        aug_spec(root, transforms=["translate"], transform_options={"translate": "object"})
    )
    b = canonicalize_spec(aug_spec(root, transforms=["translate"]))
    assert a["transform_options"]["translate"] == b["transform_options"]["translate"] == "image"
    assert canonicalize_spec(a) == a


def test_samples_per_class_subsamples_nested(root):
    def per_class(n):
        spec = aug_spec(
            root, classes=[2, 4, 6], samples_per_class={"train": n}, splits={"train": None}
        )
        _, meta = collect(cifar_aug.build, spec, "train")
        return meta

    small, big = per_class(3), per_class(10)
    assert small["label"].value_counts().tolist() == [3, 3, 3]
    assert big["label"].value_counts().tolist() == [10, 10, 10]
    assert set(small["cifar_index"]) <= set(big["cifar_index"])
    with pytest.raises(ValueError, match="fewer than the 50 samples per class"):
        cifar_aug.build(aug_spec(root, classes=[2], samples_per_class={"train": 50}))


def test_train_and_val_are_disjoint_and_cover_the_training_set(root):
    spec = aug_spec(root, splits={"train": None, "val": None})
    plan = cifar_aug.build(spec)
    assert plan.splits == {"train": 180, "val": 20}
    _, train = collect(cifar_aug.build, spec, "train")
    _, val = collect(cifar_aug.build, spec, "val")
    assert sorted([*train["cifar_index"], *val["cifar_index"]]) == list(range(200))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"classes": [0, 10]}, "classes\\[1\\]"),
        ({"classes": [1, 1]}, "listed twice"),
        ({"dataset": "cifar1000"}, "dataset"),
        ({"colour": "red"}, "unknown key"),
        ({"splits": {"train": -3}}, "splits.train"),
        ({"splits": {"holdout": 3}}, "unknown key"),
        ({"splits": {"test": 1.0}}, "ambiguous"),
        ({"samples_per_class": {"train": 0}}, "samples_per_class.train"),
        ({"transforms": ["twirl"]}, "twirl"),
        ({"val_fraction": 1.0}, "val_fraction"),
    ],
)
def test_bad_cifar_specs_name_the_key(root, change, match):
    with pytest.raises(ConfigError, match=match):
        canonicalize_spec(aug_spec(root, **change))


def test_missing_cifar_is_a_clear_asset_error(tmp_path):
    with pytest.raises(AssetError, match=r"cifar-10-batches-py.*download: true"):
        cifar_aug.build(aug_spec(str(tmp_path / "nowhere")))


# -- kind "cifar_objects" --------------------------------------------------------------------------

BOX = (slice(0, 12), slice(19, 31))  # the 12 px upper-right box at 32 px


def test_variants_label_by_cifar_or_object_and_keep_both_columns(root):
    cc_img, cc = collect(cifar_objects.build, obj_spec(root, "C/C", splits={"test": None}), "test")
    co_img, co = collect(
        cifar_objects.build, obj_spec(root, "C+O/C", splits={"test": None}), "test"
    )
    _, coo = collect(cifar_objects.build, obj_spec(root, "C+O/O", splits={"test": None}), "test")
    o_img, o = collect(cifar_objects.build, obj_spec(root, "O/O", splits={"test": None}), "test")
    assert cifar_objects.build(obj_spec(root, "C+O/O")).class_names == OBJECTS
    assert cifar_objects.build(obj_spec(root, "C+O/C")).class_names[0] == "airplane"
    # same CIFAR images and same object draw at every index in all variants
    for m in (co, coo, o):
        assert m["cifar_index"].tolist() == cc["cifar_index"].tolist()
    assert co["object"].tolist() == coo["object"].tolist() == o["object"].tolist()
    assert co["label"].tolist() == co["cifar_label"].tolist()  # all 10 classes: label = CIFAR id
    assert coo["label"].tolist() == coo["object_label"].tolist()
    assert (coo["class_name"] == coo["object"]).all() and (
        co["class_name"] == co["cifar_class"]
    ).all()
    assert cc["object"].isna().all() and (cc["object_label"] == -1).all()
    # C/C is plain CIFAR; the object only changes pixels inside its box; O/O is black elsewhere
    source = cifar.load_raw_split(root, "cifar10", "test").images[cc["cifar_index"]]
    np.testing.assert_array_equal(cc_img, source)
    outside = np.ones((32, 32), bool)
    outside[BOX] = False
    np.testing.assert_array_equal(co_img[:, outside], source[:, outside])
    assert (co_img[:, BOX[0], BOX[1]] != source[:, BOX[0], BOX[1]]).any(axis=(1, 2, 3)).all()
    assert (o_img[:, outside] == 0).all() and (o_img[:, BOX[0], BOX[1]] > 0).any(
        axis=(1, 2, 3)
    ).all()
    assert (co["object_x"] == 19).all() and (co["object_y"] == 0).all()


def test_object_is_about_12_px(root):
    img, _ = collect(cifar_objects.build, obj_spec(root, "O/O", splits={"test": 30}), "test")
    ys, xs = np.nonzero(img.max(axis=3).max(axis=0))
    side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    assert side == 12 == cifar_objects.object_side(32)


def test_random_placement_stays_inside_and_varies(root):
    img, meta = collect(
        cifar_objects.build,
        obj_spec(root, "O/O", placement="random", splits={"test": None}),
        "test",
    )
    x, y = meta["object_x"].to_numpy(), meta["object_y"].to_numpy()
    assert x.min() >= 0 and y.min() >= 0 and x.max() <= 20 and y.max() <= 20
    assert len(set(zip(x, y, strict=True))) > 30
    for i in range(len(meta)):
        mask = np.ones((32, 32), bool)
        mask[y[i] : y[i] + 12, x[i] : x[i] + 12] = False
        assert (img[i][mask] == 0).all()


def test_full_correlation_ties_each_cifar_class_to_one_object(root):
    _, meta = collect(
        cifar_objects.build,
        obj_spec(root, "C+O/C", correlation=1.0, splits={"train": None}),
        "train",
    )
    per_class = meta.groupby("cifar_label")["object"].nunique()
    assert (per_class == 1).all() and len(per_class) == 10
    tie = meta.groupby("cifar_label")["object"].first()
    assert tie.is_unique  # one distinct object per class
    assert meta["object_tied"].all()
    _, none = collect(
        cifar_objects.build,
        obj_spec(root, "C+O/C", correlation=0.0, splits={"train": None}),
        "train",
    )
    assert (
        not none["object_tied"].any()
        and (none.groupby("cifar_label")["object"].nunique() > 1).all()
    )
    _, part = collect(
        cifar_objects.build,
        obj_spec(root, "C+O/C", correlation=0.6, splits={"train": None}),
        "train",
    )
    assert 0.45 < part["object_tied"].mean() < 0.75


def test_zero_availability_is_plain_cifar(root):
    spec = obj_spec(root, "C+O/C", availability=0.0, splits={"train": None, "test": None})
    plain = obj_spec(root, "C/C", splits={"train": None, "test": None})
    for split in ("train", "test"):
        img, meta = collect(cifar_objects.build, spec, split)
        ref, ref_meta = collect(cifar_objects.build, plain, split)
        np.testing.assert_array_equal(img, ref)
        assert meta["object"].isna().all() and (meta["object_x"] == -1).all()
        assert meta["label"].tolist() == ref_meta["label"].tolist()
    _, half = collect(
        cifar_objects.build,
        obj_spec(root, "C+O/C", availability=0.5, splits={"train": None}),
        "train",
    )
    assert 0.35 < half["object"].notna().mean() < 0.65


def test_sens_pairs_hold_the_right_part_fixed(root):
    base_spec = obj_spec(root, "C+O/C", placement="random", splits={"test": None})
    _, base = collect(cifar_objects.build, base_spec, "test")
    _, other_cifar = collect(cifar_objects.build, {**base_spec, "cifar_seed": 1}, "test")
    _, other_obj = collect(cifar_objects.build, {**base_spec, "object_seed": 1}, "test")
    # changing the CIFAR image: same objects and positions at every index, other images
    for col in ("object", "object_x", "object_y"):
        assert other_cifar[col].tolist() == base[col].tolist()
    assert sorted(other_cifar["cifar_index"]) == sorted(base["cifar_index"])
    assert (other_cifar["cifar_index"] != base["cifar_index"]).mean() > 0.9
    # changing the object: same CIFAR image at every index, other objects
    assert other_obj["cifar_index"].tolist() == base["cifar_index"].tolist()
    assert (other_obj["object"] != base["object"]).mean() > 0.7
    names = {
        dataset_name(s)
        for s in (base_spec, {**base_spec, "cifar_seed": 1}, {**base_spec, "object_seed": 1})
    }
    assert len(names) == 3


def test_cifar_objects_materializes_deterministically(root, tmp_path):
    spec = obj_spec(root, "C+O/O", placement="random", splits={"train": 40, "test": 20})
    materialize(spec, tmp_path / "a", progress=False)
    materialize(spec, tmp_path / "b", progress=False, chunk_size=9)
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    assert a["shards"] == b["shards"] and a["samples"] == b["samples"]
    meta = load_split(tmp_path / "a", "train").meta
    assert {"cifar_class", "object", "object_label", "object_x", "object_y", "cifar_index"} <= set(
        meta.columns
    )


def test_cifar_only_canonical_form_drops_object_keys(root):
    a = canonicalize_spec(obj_spec(root, "C/C"))
    b = canonicalize_spec(
        obj_spec(
            root, "C/C", objects={"source": "bundle", "names": OBJECTS[:3]}, placement="random"
        )
    )
    assert a == b and "objects" not in a and dataset_name(a) == dataset_name(b)
    full = canonicalize_spec(obj_spec(root, "C+O/C"))
    assert (
        full["placement"] == "upper-right"
        and full["availability"] == 1.0
        and canonicalize_spec(full) == full
    )


@pytest.mark.parametrize(
    ("variant", "change", "match"),
    [
        ("C+O/O", {"availability": 0.5}, "availability"),
        ("O/O", {"availability": 0.0}, "availability"),
        ("C+O/C", {"transforms": ["hue"]}, "no transformations"),
        ("C+O/C", {"placement": "centre"}, "placement"),
        ("C+O/C", {"correlation": 1.5}, "correlation"),
        ("C+O/C", {"objects": None}, "objects"),
        ("C+X/C", {}, "variant"),
    ],
)
def test_bad_cifar_objects_specs_name_the_key(root, variant, change, match):
    with pytest.raises(ConfigError, match=match):
        canonicalize_spec(obj_spec(root, variant, **change))


def test_correlation_needs_an_object_per_class(root):
    spec = obj_spec(
        root, "C+O/C", objects={"source": "bundle", "names": OBJECTS[:4]}, correlation=0.5
    )
    with pytest.raises(ConfigError, match="at least as many objects"):
        cifar_objects.build(spec)


# -- paper scale: every CIFAR dataset of config.yaml resolves for every seed --------------------


def test_paper_scale_plan_resolves_every_cifar_dataset_of_every_seed(tmp_path):
    """Issue 11: on a release of the real size (50k train / 10k test, real per-class counts),
    every CIFAR selection of the paper-scale plan (10 seeds; Fig 3b/c, 7-13, Table 1, Fig 14,
    the IT CIFAR columns) and every fine-tuning subset of it must exist: e.g. 4,500 training
    images per CIFAR-10 class need the stratified train/val split."""
    from invtransfer.config import load_config
    from invtransfer.experiments import build_plan
    from invtransfer.finetune import stratified_subset

    for dataset, train, test in (("cifar10", 5000, 1000), ("cifar100", 500, 100)):
        write_fake_cifar(tmp_path, dataset, train, test, seed=0, blank=True)
    config = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
    assert config["seeds"] == 10
    plan = build_plan(config)
    named = list(plan.datasets.items())
    named += [(f"{e}/{m}", spec) for e, ms in plan.evalsets.items() for m, spec in ms.items()]
    # what a selection depends on (transformations only change pixels)
    keys = ("dataset", "classes", "samples_per_class", "splits", "val_fraction", "seed")
    jobs: dict[tuple, tuple[dict, str, int]] = {}
    train_key: dict[str, tuple] = {}
    for name, spec in named:
        if spec["kind"] not in ("cifar", "cifar_objects"):
            continue
        canonical = canonicalize_spec({**spec, "_root": str(tmp_path)})
        order_seed = canonical.get("cifar_seed", canonical["seed"])
        for split in canonical["splits"]:
            key = (split, order_seed, *(repr(canonical[k]) for k in keys))
            jobs.setdefault(key, (canonical, split, order_seed))
            if split == "train":
                train_key[name] = key
    assert len(jobs) > 100
    labels: dict[tuple, np.ndarray] = {}
    seeds, per_class = set(), {"cifar10": set(), "cifar100": set()}
    # grouped by official file, so the loader's two-entry cache never reloads a release
    for key, (canonical, split, order_seed) in sorted(
        jobs.items(), key=lambda kv: (kv[1][0]["dataset"], kv[1][1] == "test")
    ):
        selection = cifar_aug.select_split(canonical, split, order_seed=order_seed)
        labels[key] = selection.label
        n_classes = len(canonical["classes"])
        counts = np.bincount(selection.label, minlength=n_classes)
        want = canonical["samples_per_class"][split]
        if want is not None:
            assert counts.tolist() == [want] * n_classes
            per_class[canonical["dataset"]].add(want)
        elif canonical["splits"][split] is None:  # every image: the stratified split's counts
            full = {"train": 4500, "val": 500, "test": 1000}[split]
            full = full if canonical["dataset"] == "cifar10" else full // 10
            assert counts.tolist() == [full] * n_classes
        seeds.add(canonical["seed"])
    assert seeds == set(range(10))
    assert per_class["cifar10"] == {10, 50, 200, 1000, 4500}  # config.yaml pt_samples grid
    assert per_class["cifar100"] == {10, 50, 100, 250}  # and "all" (450)
    # full fine-tuning: a class-stratified fraction of the target's train split
    fractions = set()
    for job in plan.finetunes.values():
        if job.dataset not in train_key:
            continue  # a Transforms-2D target
        y = labels[train_key[job.dataset]]
        for run in job.runs.values():
            subset = stratified_subset(y, run.n_samples, run.seed)
            assert subset.size == round(run.n_samples * y.size)
            assert np.unique(y[subset]).size == np.unique(y).size  # every class kept
            fractions.add(run.n_samples)
    assert fractions == {0.01, 0.1}
