"""Per-epoch rendering (issue 13): fresh transformation draws every epoch, rendered per batch.

Pins the contract of :mod:`invtransfer.datasets.render` / :mod:`~invtransfer.datasets.epochs`:
epoch e rendered in any batches equals, byte for byte, materializing the spec with that epoch's
transformation seed (epoch 0 = the stored dataset); and of the training entry points: the
``rendering`` switch, resuming a per-epoch run mid-run, and the ``render-epoch`` command.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support.fake_cifar import write_fake_cifar

from invtransfer import labeled_data, transforms
from invtransfer.checkpoint import load_model
from invtransfer.cli import main as cli_main
from invtransfer.datasets import load_split, materialize, read_manifest
from invtransfer.datasets.epochs import (
    build_renderer,
    check_renderer,
    epoch_spec,
    render_epoch,
    render_training_epoch,
)
from invtransfer.datasets.render import epoch_transform_seed
from invtransfer.engine import TrainHParams, fit
from invtransfer.errors import CheckpointError, DatasetIntegrityError
from invtransfer.finetune import finetune_model
from invtransfer.models import build_model
from invtransfer.pretraining import pretrain, train_model
from invtransfer.rng import derive_seed

TRANSFORMS = ["scale", "rotate", "hue", "noise", "erasing"]
PARAM_COLUMNS = ["scale.factor", "rotate.angle", "hue.factor", "noise.applied", "erasing.u_x"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def t2d_spec(photo_dir, **override):
    spec = {
        "kind": "t2d",
        "objects": {"source": "bundle", "count": 4},
        "backgrounds": {"source": "folder", "_path": str(photo_dir), "bank_size": 12},
        "transforms": TRANSFORMS,
        "splits": {"train": 96, "val": 32, "test": 32},
        "seed": 5,
    }
    spec.update(override)
    return spec


@pytest.fixture(scope="module")
def t2d_dir(tmp_path_factory, photo_dir):
    out = tmp_path_factory.mktemp("t2d") / "ds"
    materialize(t2d_spec(photo_dir), out, chunk_size=40, progress=False)
    return out


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar(root, "cifar10", 12, 3, seed=4)
    return str(root)


def render_shuffled(renderer, epoch: int, batch: int, seed: int = 0) -> torch.Tensor:
    """Epoch ``epoch`` rendered in shuffled batches of ``batch`` rows, reassembled in row order."""
    order = np.random.default_rng(seed).permutation(len(renderer))
    out = torch.empty((len(renderer), *renderer.image_shape), dtype=torch.uint8)
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        out[torch.from_numpy(rows)] = renderer.render(rows, epoch).cpu()
    return out


# -- the seed rule -------------------------------------------------------------------------------
def test_epoch_transform_seed_rule():
    assert epoch_transform_seed(7, 0) == 7  # epoch 0 is the stored dataset
    assert epoch_transform_seed(7, 3) == derive_seed(7, "epoch", 3)
    seeds = {epoch_transform_seed(7, e) for e in range(50)}
    assert len(seeds) == 50 and all(0 <= s < 2**63 for s in seeds)
    with pytest.raises(ValueError, match="epoch must be a non-negative int"):
        epoch_transform_seed(7, -1)


def test_epoch_spec_changes_only_the_transform_seed_and_splits(photo_dir):
    spec = epoch_spec(t2d_spec(photo_dir), 4, splits=["train"])
    assert spec["transform_seed"] == derive_seed(5, "epoch", 4)
    assert spec["splits"] == {"train": 96} and spec["seed"] == 5
    assert spec["transforms"] == TRANSFORMS
    with pytest.raises(ValueError, match="has no transformations"):
        epoch_spec(t2d_spec(photo_dir, transforms=[]), 1)
    with pytest.raises(ValueError, match=r"splits \['extra'\] are not in the dataset"):
        epoch_spec(t2d_spec(photo_dir), 1, splits=["extra"])


# -- byte identity with materialize ---------------------------------------------------------------
@pytest.mark.parametrize("epoch", [0, 1, 7])
def test_t2d_epoch_equals_materializing_with_the_epoch_seed(t2d_dir, photo_dir, tmp_path, epoch):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    materialize(epoch_spec(t2d_spec(photo_dir), epoch, splits=["train"]), tmp_path / "e")
    want = load_split(tmp_path / "e", "train")
    for batch in (96, 32, 13):  # any batch composition gives the same bytes
        assert torch.equal(render_shuffled(renderer, epoch, batch, seed=batch), want.images)
    images, columns = renderer.render(np.arange(96), epoch, columns=True)
    for column in PARAM_COLUMNS:  # every sampled parameter is what samples.parquet stores
        np.testing.assert_array_equal(columns[column], want.meta[column].to_numpy())
    if epoch == 0:  # epoch 0 is the stored dataset
        assert torch.equal(images, load_split(t2d_dir, "train").images)


def test_epochs_differ_in_draws_not_in_what_images_are_made_of(t2d_dir):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    rows = np.arange(96)
    (a, cols_a), (b, cols_b) = (renderer.render(rows, e, columns=True) for e in (1, 2))
    assert not np.array_equal(cols_a["rotate.angle"], cols_b["rotate.angle"])
    assert (a != b).flatten(1).any(1).all()  # a continuous rotate: every image changes
    stored = load_split(t2d_dir, "train")
    assert torch.equal(renderer.labels, stored.labels)  # classes and backgrounds are fixed


def test_random_backgrounds_and_black_backgrounds_render_like_materialize(tmp_path):
    random_spec = {
        "kind": "random",
        "objects": {"source": "random", "count": 5, "seed": 1},
        "backgrounds": {"source": "random"},
        "transforms": ["translate", "invert", "blur"],
        "splits": {"train": 40},
        "seed": 2,
    }
    black_spec = {
        "kind": "t2d",
        "objects": {"source": "bundle", "count": 3},
        "backgrounds": {"source": "black"},
        "transforms": ["shear", "contrast"],
        "splits": {"train": 40},
        "seed": 2,
    }
    reference_bytes = {
        **random_spec,
        "objects": {**random_spec["objects"], "pixels": "float32-bytes"},
        "backgrounds": {"source": "random", "pixels": "float32-bytes"},
    }  # data.random_pixels: float32-bytes (FIDELITY D13)
    for name, spec in (
        ("random", random_spec),
        ("black", black_spec),
        ("float32-bytes", reference_bytes),
    ):
        renderer = build_renderer(spec, "train", "cpu")
        materialize(epoch_spec(spec, 2), tmp_path / name, progress=False)
        want = load_split(tmp_path / name, "train").images
        assert torch.equal(render_shuffled(renderer, 2, 9), want), name


def test_cifar_epoch_equals_materializing_with_the_epoch_seed(cifar_root, tmp_path):
    spec = {
        "kind": "cifar",
        "dataset": "cifar10",
        "classes": [1, 4, 7],
        "transforms": ["translate", "h_flip", "brightness", "pixelate"],
        "seed": 3,
        "_root": cifar_root,
    }
    materialize(spec, tmp_path / "ds", progress=False)
    renderer = build_renderer(tmp_path / "ds", "train", "cpu")
    stored = load_split(tmp_path / "ds", "train")
    check_renderer(renderer, stored)
    assert torch.equal(render_shuffled(renderer, 0, 7), stored.images)
    manifest = render_epoch(tmp_path / "ds", 5, tmp_path / "e5", progress=False)
    assert manifest["spec"]["transform_seed"] == derive_seed(3, "epoch", 5)
    assert list(manifest["counts"]) == ["train"]
    e5 = load_split(tmp_path / "e5", "train")
    assert torch.equal(render_shuffled(renderer, 5, 10), e5.images)
    np.testing.assert_array_equal(e5.meta["cifar_index"], stored.meta["cifar_index"])
    assert not torch.equal(e5.images, stored.images)


def test_renderer_errors(t2d_dir, photo_dir, cifar_root):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 96\)"):
        renderer.render([0, 96], 1)
    with pytest.raises(TypeError, match="rows must be a 1-D integer array"):
        renderer.render(np.zeros((2, 2), dtype=np.int64), 1)
    with pytest.raises(ValueError, match="per-epoch rendering needs transformations"):
        build_renderer(t2d_spec(photo_dir, transforms=[]), "train", "cpu")
    objects_spec = {
        "kind": "cifar_objects",
        "variant": "C/C",
        "_root": cifar_root,
    }
    with pytest.raises(ValueError, match="per-epoch rendering needs transformations"):
        build_renderer(objects_spec, "train", "cpu")
    with pytest.raises(ValueError, match="split 'extra' is not in this dataset"):
        build_renderer(t2d_dir, "extra", "cpu")


def test_check_renderer_detects_a_stale_dataset(t2d_dir):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    stored = load_split(t2d_dir, "train")
    check_renderer(renderer, stored)
    stored.images[3, 5, 5, 0] ^= 1  # one level in one pixel of a checked image
    with pytest.raises(DatasetIntegrityError, match="does not reproduce the stored 'train' images"):
        check_renderer(renderer, stored)
    stored.images[3, 5, 5, 0] ^= 1
    stored.labels[0] = (stored.labels[0] + 1) % 4
    with pytest.raises(DatasetIntegrityError, match="labels of split 'train' differ"):
        check_renderer(renderer, stored)


def test_device_paths_render_the_stored_bytes(t2d_dir, cifar_root, tmp_path, monkeypatch):
    """The kernels' device paths (what a GPU runs; ``transforms.HOST_FAST_PATHS`` off) render the
    bytes materialize stored with the host paths, for Transforms-2D and CIFAR."""
    spec = {"kind": "cifar", "dataset": "cifar10", "classes": [2, 5], "seed": 4}
    spec |= {"transforms": ["translate", "v_flip", "erasing", "noise"], "_root": cifar_root}
    materialize(spec, tmp_path / "cifar", progress=False)
    monkeypatch.setattr(transforms, "HOST_FAST_PATHS", False)
    for folder in (t2d_dir, tmp_path / "cifar"):
        renderer = build_renderer(folder, "train", "cpu")
        assert torch.equal(render_shuffled(renderer, 0, 17), load_split(folder, "train").images)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is present")
def test_cuda_rendering_matches_materialize(t2d_dir, photo_dir, tmp_path):
    """On CUDA the kernels' float rounding may differ from the CPU's in rare pixels: batches are
    still a pure function of (epoch, row) on the device, and within one level of materialize."""
    renderer = build_renderer(t2d_dir, "train", "cuda")
    assert renderer.render(np.arange(4), 1).device.type == "cuda"
    a, b = render_shuffled(renderer, 3, 96), render_shuffled(renderer, 3, 13, seed=4)
    assert torch.equal(a, b)
    materialize(epoch_spec(t2d_spec(photo_dir), 3, splits=["train"]), tmp_path / "e")
    want = load_split(tmp_path / "e", "train").images
    diff = (a.int() - want.int()).abs()
    assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 1e-3
    check_renderer(renderer, load_split(t2d_dir, "train"))
    # training renders a whole epoch up front on CUDA: the same images as batch by batch
    data = labeled_data.rendered_split(renderer, 4, torch.device("cuda"))
    assert data.epoch_chunk == labeled_data.EPOCH_CHUNK
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:50]
    x, y = data.batch(index.cuda(), epoch=3)
    assert torch.equal(x, labeled_data.prepare_images(renderer.render(index, 3)))
    assert torch.equal(y.cpu(), renderer.labels[index])


# -- training ------------------------------------------------------------------------------------
def hp(**kw) -> TrainHParams:
    return TrainHParams(**{"epochs": 3, "batch_size": 32, **kw})


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run(t2d_dir, source, **kw):
    val, test = load_split(t2d_dir, "val"), load_split(t2d_dir, "test")
    kw.setdefault("hparams", hp())
    return train_model(
        "cnn4", source, val, test, num_classes=4, arch_kwargs={"width": 4}, device="cpu", **kw
    )


def test_per_epoch_training_first_epoch_equals_fixed_then_departs(t2d_dir):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    fixed = run(t2d_dir, load_split(t2d_dir, "train"))
    per_epoch = run(t2d_dir, renderer)
    # epoch 0 of per-epoch rendering is the stored split, and the shuffle is the same
    assert per_epoch.fit.history[0] == fixed.fit.history[0]
    assert per_epoch.fit.history[1]["train_loss"] != fixed.fit.history[1]["train_loss"]
    assert (fixed.metrics["rendering"], per_epoch.metrics["rendering"]) == ("fixed", "per-epoch")


def test_resume_mid_run_with_per_epoch_rendering_gives_identical_weights(t2d_dir, tmp_path):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    full = run(t2d_dir, renderer, checkpoint_path=tmp_path / "a" / "checkpoint.pt")

    def kill_after_epoch_2(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")

    ckpt = tmp_path / "b" / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        run(t2d_dir, build_renderer(t2d_dir, "train", "cpu"), checkpoint_path=ckpt,
            on_epoch_end=kill_after_epoch_2, checkpoint_every_s=0)  # fmt: skip
    resumed = run(t2d_dir, build_renderer(t2d_dir, "train", "cpu"), checkpoint_path=ckpt)
    assert resumed.fit.resumed_from_epoch == 2 and resumed.fit.history == full.fit.history
    assert states_equal(resumed.model.state_dict(), full.model.state_dict())
    # a checkpoint of a per-epoch run is not resumed by a fixed one (different training data)
    other = tmp_path / "c" / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        run(t2d_dir, renderer, checkpoint_path=other, on_epoch_end=kill_after_epoch_2,
            checkpoint_every_s=0)  # fmt: skip
    with pytest.raises(CheckpointError, match="different run"):
        run(t2d_dir, load_split(t2d_dir, "train"), checkpoint_path=other)


def test_pretrain_switch_and_render_epoch_command(t2d_dir, tmp_path, capsys, monkeypatch):
    kw = {"arch": "cnn4", "arch_kwargs": {"width": 4}, "epochs": 2, "batch_size": 32}
    fixed = pretrain(t2d_dir, tmp_path / "fixed", device="cpu", **kw)
    per_epoch = pretrain(t2d_dir, tmp_path / "pe", device="cpu", rendering="per-epoch", **kw)
    assert (fixed["rendering"], per_epoch["rendering"]) == ("fixed", "per-epoch")
    assert load_model(tmp_path / "pe" / "model.pt").num_classes == 4
    with pytest.raises(ValueError, match="rendering must be one of fixed, per-epoch"):
        pretrain(t2d_dir, tmp_path / "bad", device="cpu", rendering="each-epoch", **kw)

    out = tmp_path / "epoch2"
    assert cli_main(["render-epoch", str(tmp_path / "pe"), "--epoch", "2", "--out", str(out)]) == 0
    assert "epoch 2: 96 images" in capsys.readouterr().out
    rendered = load_split(out, "train")
    renderer = build_renderer(t2d_dir, "train", "cpu")
    assert torch.equal(rendered.images, renderer.render(np.arange(96), 1))  # 1-based: epoch index 1
    assert read_manifest(out)["spec"]["transform_seed"] == derive_seed(5, "epoch", 1)
    assert "rotate.angle" in rendered.meta.columns  # every sampled parameter, inspectable
    # epoch 1 is the stored split; a fixed run and epochs past the end are errors
    cli_main(["render-epoch", str(tmp_path / "pe"), "--epoch", "1", "--out", str(tmp_path / "e1")])
    assert torch.equal(
        load_split(tmp_path / "e1", "train").images, load_split(t2d_dir, "train").images
    )
    assert (
        cli_main(["render-epoch", str(tmp_path / "fixed"), "--epoch", "2", "--out", str(out)]) == 2
    )
    assert "trained with rendering 'fixed'" in capsys.readouterr().err
    assert cli_main(["render-epoch", str(tmp_path / "pe"), "--epoch", "3", "--out", str(out)]) == 2
    assert "trained 2 epochs; got epoch 3" in capsys.readouterr().err
    with pytest.raises(ValueError, match="epoch must be an int >= 1"):
        render_training_epoch(t2d_dir, 0, out)
    # the path a run records is relative to where it ran: a clear message elsewhere
    metrics = json.loads((tmp_path / "pe" / "metrics.json").read_text())
    assert Path(metrics["dataset"]["path"]) == Path(t2d_dir)
    monkeypatch.chdir(tmp_path)
    metrics["dataset"]["path"] = "results/datasets/missing"
    (tmp_path / "pe" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(FileNotFoundError, match="its dataset results/datasets/missing does not"):
        render_training_epoch(tmp_path / "pe", 2, out)


def test_pretrain_per_epoch_refuses_a_dataset_its_spec_no_longer_reproduces(t2d_dir, tmp_path):
    stale = tmp_path / "stale"
    stale.mkdir()
    for f in Path(t2d_dir).iterdir():
        (stale / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((stale / "manifest.json").read_text())
    manifest["spec"]["transform_seed"] = 6  # the stored draws are not this spec's any more
    (stale / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetIntegrityError, match="does not reproduce the stored 'train'"):
        pretrain(stale, tmp_path / "m", arch="cnn4", epochs=1, device="cpu", rendering="per-epoch")


def test_finetune_per_epoch_renders_the_stratified_subset(t2d_dir):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    val, test = load_split(t2d_dir, "val"), load_split(t2d_dir, "test")
    metrics = {}
    for rendering, source in (("fixed", load_split(t2d_dir, "train")), ("per-epoch", renderer)):
        model = build_model("cnn4", 4, seed=0, width=4)
        metrics[rendering], history = finetune_model(
            model, source, val, test, n_samples=40, hparams=hp(schedule="linear", epochs=2),
            device="cpu",
        )  # fmt: skip
        metrics[rendering]["history"] = history
    assert metrics["per-epoch"]["rendering"] == "per-epoch" and metrics["fixed"]["n_samples"] == 40
    fixed_h, pe_h = metrics["fixed"]["history"], metrics["per-epoch"]["history"]
    assert pe_h[0] == fixed_h[0] and pe_h[1]["train_loss"] != fixed_h[1]["train_loss"]


def test_rendered_data_batches(t2d_dir):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    rows = torch.tensor([5, 9, 2, 70])
    data = labeled_data.rendered_split(renderer, 4, torch.device("cpu"), rows)
    x, y = data.batch(torch.tensor([3, 0]), epoch=2)
    assert torch.equal(y, renderer.labels[torch.tensor([70, 5])])
    want = labeled_data.prepare_images(renderer.render([70, 5], 2))
    assert torch.equal(x, want)
    assert (
        data.fingerprint()
        != labeled_data.rendered_split(renderer, 4, torch.device("cpu")).fingerprint()
    )
    with pytest.raises(ValueError, match="renders on cpu, training runs on meta"):
        labeled_data.rendered_split(renderer, 4, torch.device("meta"))
    assert pd.Series(renderer.labels.numpy()).nunique() == 4


def test_rendered_data_whole_epoch_equals_batch_by_batch(t2d_dir):
    """A whole epoch rendered up front in chunks (the CUDA default) gives every batch the images
    the batch-by-batch path (the CPU default) renders; one epoch is resident at a time."""
    renderer = build_renderer(t2d_dir, "train", "cpu")
    rows = torch.tensor([5, 9, 2, 70, 11, 3, 40])
    per_batch = labeled_data.rendered_split(renderer, 4, torch.device("cpu"), rows)
    assert per_batch.epoch_chunk == 0  # the CPU's default
    whole = labeled_data.RenderedData(renderer, rows, per_batch.y, 4, epoch_chunk=3)
    for epoch in (1, 2, 1):
        for index in (torch.tensor([6, 0, 3]), torch.tensor([4]), slice(1, 5)):
            a, b = per_batch.batch(index, epoch=epoch), whole.batch(index, epoch=epoch)
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert whole._epoch == epoch and whole._images.shape == (7, *renderer.image_shape)
        assert torch.equal(whole.epoch_images(epoch), renderer.render(rows, epoch))
    # an augmentation maps the rendered uint8 batch before it is normalised, on either path
    flip = lambda x: x.flip(2)  # noqa: E731
    index = torch.tensor([2, 5])
    want = labeled_data.prepare_images(renderer.render(rows[index], 3).flip(2))
    for data in (per_batch, whole):
        assert torch.equal(data.batch(index, flip, epoch=3)[0], want)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="epoch_chunk must be None or an int >= 0"):
            labeled_data.RenderedData(renderer, rows, per_batch.y, 4, epoch_chunk=bad)


def test_training_on_a_whole_epoch_rendered_up_front_is_identical(t2d_dir):
    renderer = build_renderer(t2d_dir, "train", "cpu")
    val = load_split(t2d_dir, "val")
    val_data = labeled_data.LabeledData(val.images, val.labels, "images", 4)
    results = []
    for chunk in (0, 64):
        data = labeled_data.RenderedData(
            renderer, torch.arange(len(renderer)), renderer.labels, 4, epoch_chunk=chunk
        )
        model = build_model("cnn4", 4, seed=0, width=4)
        result = fit(model, data, val_data, hp(), device=torch.device("cpu"))
        results.append((result.history, model.state_dict()))
    assert results[0][0] == results[1][0] and states_equal(results[0][1], results[1][1])


# -- the config switch and planning --------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def plan_for(preset: str | None = None, **rendering):
    from invtransfer.config import load_config
    from invtransfer.experiments import build_plan

    overrides = {"training": {"rendering": rendering}} if rendering else None
    config = load_config(ROOT / "config.yaml", preset=preset, overrides=overrides)
    return config, build_plan(config)


def test_config_defaults_per_family_and_planning():
    config, plan = plan_for()
    assert dict(config["training"]["rendering"]) == {"t2d": "fixed", "cifar": "per-epoch"}
    by_kind: dict[tuple[str, bool], set[str]] = {}
    for job in plan.models.values():
        spec = plan.datasets[job.dataset]
        by_kind.setdefault((spec["kind"], bool(spec.get("transforms"))), set()).add(job.rendering)
        params = job.to_params()
        assert params.get("rendering", "fixed") == job.rendering  # absent means fixed
    assert by_kind[("cifar", True)] == {"per-epoch"}  # the paper's "as data augmentations"
    assert by_kind[("t2d", True)] == by_kind[("random", True)] == {"fixed"}  # n-sample D(O,T)
    assert by_kind[("t2d", False)] == by_kind[("cifar_objects", False)] == {"fixed"}
    for job in plan.finetunes.values():
        kind = plan.datasets[job.dataset]["kind"]
        want = "per-epoch" if kind == "cifar" else "fixed"
        assert {run.rendering for run in job.runs.values()} == {want}
        for run in job.runs.values():
            assert ("rendering" in run.to_params()) == (want == "per-epoch")


def test_switching_t2d_to_per_epoch_renames_only_the_t2d_models_with_transformations():
    _, fixed = plan_for("quick")
    _, per_epoch = plan_for("quick", t2d="per-epoch")
    assert len(fixed.models) == len(per_epoch.models)
    changed = set(fixed.models) ^ set(per_epoch.models)
    kept = set(fixed.models) & set(per_epoch.models)
    for name in kept:  # untransformed data: one model for both settings
        assert not fixed.datasets[fixed.models[name].dataset].get("transforms")
        assert per_epoch.models[name].rendering == "fixed"
    renamed = [n for n in per_epoch.models if n in changed]
    assert renamed and all(per_epoch.models[n].rendering == "per-epoch" for n in renamed)
    assert all(per_epoch.models[n].to_params()["rendering"] == "per-epoch" for n in renamed)
    # the per-epoch jobs differ from their fixed twins in the rendering only
    fixed_by_key = {
        (j.arch, j.dataset, j.seed, j.experiment, j.label): n for n, j in fixed.models.items()
    }
    for name in renamed:
        job = per_epoch.models[name]
        twin = fixed.models[
            fixed_by_key[(job.arch, job.dataset, job.seed, job.experiment, job.label)]
        ]
        assert dataclasses.replace(twin, rendering="per-epoch") == job
    with pytest.raises(Exception, match="each-epoch"):
        plan_for(t2d="each-epoch")


@pytest.mark.parametrize("experiment", ["it", "tm"])
def test_an_experiments_own_rendering_key_switches_only_its_models(experiment):
    """``experiments.{it,tm}.rendering`` overrides ``training.rendering.t2d`` for that
    experiment's models with transformations only; null (the default) follows the global key."""
    from invtransfer.config import load_config
    from invtransfer.experiments import build_plan

    def plan(**exp):
        overrides = {"experiments": {experiment: exp}} if exp else None
        config = load_config(ROOT / "config.yaml", preset="quick", overrides=overrides)
        return build_plan(config)

    base, own = plan(), plan(rendering="per-epoch")
    assert len(base.models) == len(own.models)
    for name, job in own.models.items():
        transformed = bool(own.datasets[job.dataset].get("transforms"))
        want = "per-epoch" if job.experiment == experiment and transformed else "fixed"
        assert job.rendering == want, name
        assert (name in base.models) == (want == "fixed")  # only the switched models renamed
    assert any(j.rendering == "per-epoch" for j in own.models.values())
    # an explicit "fixed" keeps the experiment fixed when the global key says per-epoch
    overrides = {"training": {"rendering": {"t2d": "per-epoch"}}}
    overrides["experiments"] = {experiment: {"rendering": "fixed"}}
    config = load_config(ROOT / "config.yaml", preset="quick", overrides=overrides)
    mixed = build_plan(config)
    assert {j.rendering for j in mixed.models.values() if j.experiment == experiment} == {"fixed"}
    assert "per-epoch" in {j.rendering for j in mixed.models.values()}
    with pytest.raises(Exception, match="each-epoch"):
        plan(rendering="each-epoch")


def test_finetune_step_passes_the_rendering(monkeypatch, tmp_path):
    from invtransfer import finetune as finetune_mod
    from invtransfer import steps

    calls = []
    monkeypatch.setattr(finetune_mod, "finetune", lambda *a, **kw: calls.append(kw))
    job = {
        "model": "m",
        "dataset": "d",
        "runs": {
            "ft-low": {"n_samples": 10, "epochs": 1, "batch_size": 4, "lr": 0.1,
                       "lr_decay_epochs": None, "seed": 0, "rendering": "per-epoch"},
            "ft-high": {"n_samples": 20, "epochs": 1, "batch_size": 4, "lr": 0.1,
                        "lr_decay_epochs": None, "seed": 0},
        },
    }  # fmt: skip
    outs = [tmp_path / r / "metrics.json" for r in ("ft-low", "ft-high")]
    steps.finetune_model(job, tmp_path / "m.pt", tmp_path, tmp_path / "d", outs)
    assert [c["rendering"] for c in calls] == ["per-epoch", "fixed"]
