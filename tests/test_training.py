"""Training engine, features, linear probe and fine-tuning on tiny in-memory datasets.

The datasets are coloured squares on noise (class = colour), built here so that these tests do
not depend on the dataset store; the path-level entry points get them through a monkeypatched
``load_dataset_split``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from invtransfer import checkpoint, labeled_data
from invtransfer import features as features_mod
from invtransfer.augment import augment_batch, crop_flip
from invtransfer.checkpoint import (
    load_head,
    load_model,
    read_model_file,
    rebuild_advice,
    save_model,
    save_torch_file,
)
from invtransfer.cli import main as cli_main
from invtransfer.engine import HISTORY_COLUMNS, TrainHParams, evaluate, fit
from invtransfer.errors import CheckpointError, DatasetIntegrityError
from invtransfer.features import compute_features, extract_features, load_features
from invtransfer.finetune import finetune, finetune_model, stratified_subset
from invtransfer.io import read_json, sha256_file
from invtransfer.labeled_data import LabeledData
from invtransfer.models import build_model
from invtransfer.pretraining import pretrain, train_model
from invtransfer.probing import linear_probe, probe_through_backbone, train_probe

CPU = torch.device("cpu")
PALETTE = torch.tensor(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255]],
    dtype=torch.uint8,
)
TINY = {"arch": "cnn4", "arch_kwargs": {"width": 4}}


@dataclass
class Split:  # what invtransfer.datasets.store.load_split returns
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)


def squares(n: int, num_classes: int, seed: int) -> Split:
    """A 12×12 square of the class colour at a random place on dark noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.randint(0, 60, (n, 32, 32, 3), generator=g, dtype=torch.uint8)
    pos = torch.randint(0, 20, (n, 2), generator=g)
    for i in range(n):
        r, c = pos[i].tolist()
        images[i, r : r + 12, c : c + 12] = PALETTE[labels[i]]
    return Split(images, labels, num_classes, [f"c{k}" for k in range(num_classes)])


@pytest.fixture(scope="module")
def data():
    return {"train": squares(192, 4, 0), "val": squares(64, 4, 1), "test": squares(64, 4, 2)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def dataset_dirs(tmp_path, monkeypatch, data):
    """Two fake dataset folders served by a monkeypatched loader (no dependency on the store)."""
    folders = {
        "pretrain-ds": data,
        "target-ds": {
            "train": squares(160, 3, 10),
            "val": squares(48, 3, 11),
            "test": squares(48, 3, 12),
        },
        "other-ds": {
            "train": squares(30, 3, 13),
            "val": squares(9, 3, 14),
            "test": squares(9, 3, 15),
        },
    }
    for name in folders:
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(f'{{"name": "{name}"}}\n')

    def fake_load(dataset_dir, split):
        return folders[Path(dataset_dir).name][split]

    for module in (labeled_data, features_mod):  # pretrain and finetune read via labeled_data
        monkeypatch.setattr(module, "load_dataset_split", fake_load)
    return tmp_path / "pretrain-ds", tmp_path / "target-ds"


def hp(**kw) -> TrainHParams:
    return TrainHParams(**{"epochs": 3, "batch_size": 32, **kw})


def run_tiny(data, **kw):
    kw.setdefault("hparams", hp())
    return train_model(
        **TINY,
        train=data["train"],
        val=data["val"],
        test=data["test"],
        num_classes=4,
        device="cpu",
        **kw,
    )


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- learning-rate schedules -------------------------------------------------------------------
def test_lr_schedules():
    spe = 10
    const = TrainHParams(epochs=4)
    assert {const.lr_at(s, spe) for s in range(40)} == {1e-3}

    vit = TrainHParams(epochs=50, schedule="vit", warmup_epochs=5, min_lr=1e-5)
    warm = [vit.lr_at(s, spe) for s in range(50)]
    assert warm == sorted(warm) and warm[0] == pytest.approx(1e-3 / 50)
    assert warm[-1] == pytest.approx(1e-3)  # peak at the end of the warm-up
    cosine = [vit.lr_at(s, spe) for s in range(50, 500)]
    assert cosine == sorted(cosine, reverse=True)
    assert cosine[-1] == pytest.approx(1e-5)  # floor at the last step

    lin = TrainHParams(epochs=50, schedule="linear")
    assert lin.lr_at(0, spe) == 1e-3 and lin.lr_at(500, spe) == 0.0
    assert lin.lr_at(250, spe) == pytest.approx(5e-4)
    ref = TrainHParams(epochs=50, schedule="linear", decay_epochs=5)
    assert ref.lr_at(49, spe) > 0 and ref.lr_at(50, spe) == 0.0 and ref.lr_at(400, spe) == 0.0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"lr": -1}, "lr"),
        ({"schedule": "step"}, "schedule"),
        ({"min_lr": 1.0}, "min_lr"),
        ({"decay_epochs": 0}, "decay_epochs"),
    ],
)
def test_bad_hyperparameters(kw, message):
    with pytest.raises(ValueError, match=message):
        TrainHParams(**kw)


# -- pretraining -------------------------------------------------------------------------------
def test_tiny_run_learns(data):
    res = run_tiny(data)
    hist = res.fit.history
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert set(hist[0]) == set(HISTORY_COLUMNS)
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert res.metrics["test_accuracy"] > 0.5  # chance is 0.25
    assert res.metrics["best_epoch"] == 1 + int(np.argmax([r["val_accuracy"] for r in hist]))
    for key in ("test_macro_accuracy", "val_accuracy", "img_per_s", "device", "seed", "arch"):
        assert key in res.metrics


def test_bf16_on_cpu_runs(data):
    res = run_tiny(data, hparams=hp(epochs=1), bf16=True)
    assert res.metrics["bf16"] is True and math.isfinite(res.fit.history[0]["train_loss"])


def test_resume_after_interrupt_gives_identical_weights(data, tmp_path):
    full = run_tiny(data, checkpoint_path=tmp_path / "a" / "checkpoint.pt")

    def kill_after_epoch_2(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")

    ckpt = tmp_path / "b" / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        run_tiny(data, checkpoint_path=ckpt, on_epoch_end=kill_after_epoch_2, checkpoint_every_s=0)
    assert ckpt.is_file()
    resumed = run_tiny(data, checkpoint_path=ckpt)
    assert resumed.fit.resumed_from_epoch == 2
    assert resumed.fit.history == full.fit.history
    assert states_equal(resumed.model.state_dict(), full.model.state_dict())
    # byte-identical model files (same file name: torch.save embeds it)
    save_model(tmp_path / "a" / "model.pt", full.model)
    save_model(tmp_path / "b" / "model.pt", resumed.model)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_checkpoint_interval_skips_epochs_but_not_the_last(data, tmp_path):
    """With ``checkpoint_every_s`` a checkpoint is written only when that much time has passed
    since the last one, and after the last epoch; a kill before any restarts from scratch and
    still ends with the uninterrupted run's weights."""
    full = run_tiny(data)
    ckpt = tmp_path / "b" / "checkpoint.pt"
    seen: list[tuple[int, bool]] = []

    def kill_after_epoch_2(epoch, record):
        seen.append((epoch, ckpt.exists()))
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        run_tiny(data, checkpoint_path=ckpt, checkpoint_every_s=1e9,
                 on_epoch_end=kill_after_epoch_2)  # fmt: skip
    assert seen == [(1, False), (2, False)]
    seen.clear()
    resumed = run_tiny(data, checkpoint_path=ckpt, checkpoint_every_s=1e9,
                       on_epoch_end=lambda e, r: seen.append((e, ckpt.exists())))  # fmt: skip
    assert seen == [(1, False), (2, False), (3, True)] and resumed.fit.resumed_from_epoch == 0
    assert resumed.fit.history == full.fit.history
    assert states_equal(resumed.model.state_dict(), full.model.state_dict())
    for bad in (-1.0, float("nan"), "10"):
        with pytest.raises(ValueError, match="checkpoint_every_s must be a number >= 0"):
            run_tiny(data, checkpoint_path=ckpt, checkpoint_every_s=bad)


def test_a_checkpoint_that_cannot_be_written_stops_training_with_a_clear_error(
    data, tmp_path, monkeypatch
):
    """A failed write in the background thread (disk full, no permission) surfaces as a
    CheckpointError naming the file, not as a silently missing resume point."""
    from invtransfer import engine

    def disk_full(path, payload):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine, "save_torch_file", disk_full)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(
        CheckpointError, match=r"could not write checkpoint .*checkpoint\.pt: .*No space"
    ):
        run_tiny(data, checkpoint_path=ckpt, checkpoint_every_s=0)
    assert not ckpt.exists()


def test_crop_flip_is_torchvisions_padded_random_crop_and_flip():
    import torchvision.transforms.v2.functional as TF

    images = squares(6, 4, 7).images
    dy, dx = torch.tensor([0, 8, 3, 4, 8, 0]), torch.tensor([0, 8, 5, 4, 0, 8])
    flip = torch.tensor([False, False, True, False, True, True])
    out = crop_flip(images, dy, dx, flip)
    assert out.shape == images.shape and out.dtype == torch.uint8
    for i in range(6):  # torchvision on one C×H×W image: pad 4 with zeros, crop, flip
        chw = TF.crop(TF.pad(images[i].permute(2, 0, 1), [4]), int(dy[i]), int(dx[i]), 32, 32)
        chw = TF.horizontal_flip(chw) if flip[i] else chw
        assert torch.equal(out[i], chw.permute(1, 2, 0))
    assert torch.equal(out[3], images[3])  # offset 4 without a flip is the identity
    with pytest.raises(ValueError, match=r"dx must hold 6 offsets in \[0, 8\]"):
        crop_flip(images, dy, dx + 1, flip)


def test_augmentation_is_a_pure_function_of_seed_epoch_and_example():
    images = squares(64, 4, 8).images
    idx = torch.arange(64)
    a = augment_batch(images, "crop-flip", seed=3, epoch=2, indices=idx)
    assert a.shape == images.shape and a.dtype == torch.uint8
    assert torch.equal(a, augment_batch(images, "crop-flip", seed=3, epoch=2, indices=idx))
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))[:20]
    part = augment_batch(images[perm], "crop-flip", seed=3, epoch=2, indices=perm)
    assert torch.equal(part, a[perm])  # per example, whatever the batch it is in
    changed = (a != images).flatten(1).any(1)
    assert changed.sum() >= 50  # offsets (4, 4) without a flip are the only identity: p = 1/162
    for other in ({"seed": 4, "epoch": 2}, {"seed": 3, "epoch": 3}):
        assert not torch.equal(a, augment_batch(images, "crop-flip", indices=idx, **other))
    assert augment_batch(images, "none", seed=3, epoch=2, indices=idx) is images
    with pytest.raises(ValueError, match="unknown augmentation 'flip'; valid: none, crop-flip"):
        augment_batch(images, "flip", seed=3, epoch=2, indices=idx)
    with pytest.raises(ValueError, match="unknown augmentation 'crop'"):
        TrainHParams(augment="crop")


def test_resume_with_augmentation_gives_identical_weights(data, tmp_path):
    aug = hp(augment="crop-flip")
    full = run_tiny(data, hparams=aug, checkpoint_path=tmp_path / "a" / "checkpoint.pt")

    def kill_after_epoch_1(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill")

    ckpt = tmp_path / "b" / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        run_tiny(data, hparams=aug, checkpoint_path=ckpt, on_epoch_end=kill_after_epoch_1,
                 checkpoint_every_s=0)  # fmt: skip
    resumed = run_tiny(data, hparams=aug, checkpoint_path=ckpt)
    assert resumed.fit.resumed_from_epoch == 1 and resumed.fit.history == full.fit.history
    assert states_equal(resumed.model.state_dict(), full.model.state_dict())
    plain = run_tiny(data)  # the augmentation changed what was trained on
    assert plain.fit.history[0]["train_loss"] != full.fit.history[0]["train_loss"]
    assert full.metrics["hparams"]["augment"] == "crop-flip"
    with pytest.raises(CheckpointError, match=r"different run.*augment"):
        run_tiny(data, checkpoint_path=ckpt, on_epoch_end=kill_after_epoch_1, checkpoint_every_s=0)
    feats = LabeledData(torch.zeros(8, 3), torch.arange(8) % 2, "features", 2)
    with pytest.raises(ValueError, match="needs image inputs"):
        fit(torch.nn.Linear(3, 2), feats, feats, aug, device=CPU)


def test_resume_refuses_a_checkpoint_of_another_run(data, tmp_path):
    ckpt = tmp_path / "checkpoint.pt"

    def stop(epoch, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tiny(data, checkpoint_path=ckpt, on_epoch_end=stop, checkpoint_every_s=0)
    with pytest.raises(CheckpointError, match=r"different run.*lr"):
        run_tiny(data, checkpoint_path=ckpt, hparams=hp(lr=2e-3))
    ckpt.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt"):
        run_tiny(data, checkpoint_path=ckpt)


def test_best_validation_epoch_is_kept(data):
    # validation labels shifted by one class: the better the model fits the colours, the worse
    # it does on "val", so the best epoch is an early one and not the last
    train = data["train"]
    val = Split(train.images[:64], (train.labels[:64] + 1) % 4, 4)
    model = build_model("cnn4", 4, seed=0, width=4)
    snapshots = {}

    def snapshot(epoch, record):
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    result = fit(
        model,
        LabeledData(train.images, train.labels, "images", 4),
        LabeledData(val.images, val.labels, "images", 4),
        hp(epochs=4),
        device=CPU,
        on_epoch_end=snapshot,
    )
    accs = [r["val_accuracy"] for r in result.history]
    assert result.best_epoch == 1 + int(np.argmax(accs))
    assert result.best_epoch < 4 and accs[-1] < max(accs)
    assert states_equal(model.state_dict(), snapshots[result.best_epoch])


def test_evaluate_counts_each_split_from_zero():
    head = torch.nn.Linear(2, 3)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))  # always predicts class 0
    a = LabeledData(torch.zeros(4, 2), torch.tensor([0, 0, 0, 1]), "features", 3)
    b = LabeledData(torch.zeros(4, 2), torch.tensor([0, 1, 2, 2]), "features", 3)
    evaluate(head, a)
    m = evaluate(head, b)
    assert m["accuracy"] == 0.25  # micro: 1 of 4
    assert m["macro_accuracy"] == pytest.approx(1 / 3)  # recalls 1, 0, 0


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda s: Split(s.images[:0], s.labels[:0], 4), ValueError, "0 samples"),
        (lambda s: Split(s.images, s.labels + 4, 4), ValueError, r"labels must lie in \[0, 3\]"),
        (lambda s: Split(s.images.float(), s.labels, 4), TypeError, "uint8"),
        (lambda s: Split(s.images, s.labels.int(), 4), TypeError, "int64"),
        (lambda s: Split(s.images, s.labels[:-1], 4), TypeError, "labels"),
    ],
)
def test_bad_training_data(data, mutate, error, message):
    bad = dict(data, train=mutate(data["train"]))
    with pytest.raises(error, match=message):
        run_tiny(bad)


def test_pretrain_writes_outputs_and_removes_checkpoint(dataset_dirs, tmp_path):
    src, _ = dataset_dirs
    out_a, out_b = tmp_path / "m" / "a", tmp_path / "m" / "b"
    for out in (out_a, out_b):
        pretrain(src, out, **TINY, epochs=2, batch_size=32, seed=3, device="cpu")
    metrics = read_json(out_a / "metrics.json")
    assert not (out_a / "checkpoint.pt").exists()
    assert metrics["epochs"] == 2 and metrics["seed"] == 3 and metrics["num_classes"] == 4
    assert metrics["dataset"]["name"] == "pretrain-ds" and metrics["class_names"][0] == "c0"
    for key in (
        "test_accuracy",
        "test_macro_accuracy",
        "best_epoch",
        "wall_time_s",
        "img_per_s",
        "device",
        "arch",
    ):
        assert key in metrics
    rows = list(csv.DictReader(io.StringIO((out_a / "history.csv").read_text())))
    assert len(rows) == 2 and tuple(rows[0]) == HISTORY_COLUMNS
    # deterministic on the CPU: the same call gives the same bytes
    for name in ("model.pt", "history.csv"):
        assert (out_a / name).read_bytes() != b"" and sha256_file(out_a / name) == sha256_file(
            out_b / name
        )
    payload = read_model_file(out_a / "model.pt")
    assert payload["arch"] == "cnn4" and payload["arch_kwargs"] == {"width": 4}
    assert payload["class_names"] == ["c0", "c1", "c2", "c3"]


# -- model files -------------------------------------------------------------------------------
def test_model_file_round_trip_and_bad_files(tmp_path):
    model = build_model("cnn4", 5, seed=1, width=4)
    path = tmp_path / "model.pt"
    save_model(path, model)
    loaded = load_model(path, "cpu")
    assert states_equal(loaded.state_dict(), model.state_dict()) and not loaded.training

    with pytest.raises(CheckpointError, match="holds 'cnn4', expected 'resnet18'"):
        load_model(path, arch="resnet18")
    with pytest.raises(CheckpointError, match="has 5 classes, expected 7"):
        load_model(path, num_classes=7)

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt.*corrupt"):
        load_model(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match=r"garbage\.pt"):
        load_model(garbage)

    wrong = tmp_path / "wrong.pt"  # claims width 8 but holds width-4 weights
    payload = read_model_file(path)
    payload["arch_kwargs"] = {"width": 8}
    save_torch_file(wrong, payload)
    with pytest.raises(CheckpointError, match="do not match the architecture"):
        load_model(wrong)
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_model(tmp_path / "missing.pt")


def flip_bit(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def zero_page(path: Path, page: int) -> None:
    data = bytearray(path.read_bytes())
    data[page * 4096 : (page + 1) * 4096] = bytes(4096)
    path.write_bytes(bytes(data))


def tensor_offset(path: Path, tensor: torch.Tensor) -> int:
    """Byte offset of ``tensor``'s data inside a torch zip file (a bit there changes a weight
    but leaves the file loadable: the fault that used to go unnoticed)."""
    raw = tensor.detach().contiguous().numpy().tobytes()
    offset = path.read_bytes().find(raw)
    assert offset > 0
    return offset + len(raw) // 2


def test_corrupted_model_file_is_detected_on_load_and_by_inspect(tmp_path, capsys):
    model = build_model("cnn4", 4, seed=1, width=4)
    folder = tmp_path / "results" / "models" / "cnn4--ds--abc123"
    path = folder / "model.pt"
    save_model(path, model)
    (folder / "metrics.json").write_text('{"arch": "cnn4", "test_accuracy": 0.75}')
    assert (folder / "model.pt.sha256").read_text() == f"{sha256_file(path)}  model.pt\n"
    assert cli_main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "checksums: OK (1 weights file(s))" in out and "test_accuracy 0.75" in out

    good = path.read_bytes()
    flip_bit(path, tensor_offset(path, model.head.weight))
    silently = torch.load(path, weights_only=True)  # torch alone loads the damaged file
    assert not torch.equal(silently["state_dict"]["head.weight"], model.head.weight)
    command = "snakemake --force results/models/cnn4--ds--abc123/model.pt"
    for damage in ("bit", "page"):
        if damage == "page":
            path.write_bytes(good)
            zero_page(path, 1)
        with pytest.raises(CheckpointError, match=r"model\.pt is corrupt: its SHA-256") as err:
            load_model(path)
        assert command in str(err.value)
        with pytest.raises(CheckpointError, match=r"model\.pt is corrupt"):
            read_model_file(path)
        assert cli_main(["inspect", str(folder)]) == 1
        out = capsys.readouterr().out
        assert "checksums: FAILED for 1 of 1: model.pt" in out and command in out
        assert cli_main(["inspect", str(path)]) == 1  # the file itself, too
        capsys.readouterr()

    path.write_bytes(good)
    assert states_equal(load_model(path).state_dict(), model.state_dict())
    (folder / "model.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match=r"model\.pt\.sha256 is missing") as err:
        load_model(path)
    assert command in str(err.value)


def test_rebuild_advice_names_the_rule_output_that_rebuilds_the_file(tmp_path):
    root = tmp_path / "work"
    assert "snakemake --force results/models/m/model.pt " in rebuild_advice(
        root / "results" / "models" / "m" / "model.pt"
    )
    assert "snakemake --force results/probes/m " in rebuild_advice(
        Path("results/probes/m/t2d-x/head.pt")
    )
    assert "snakemake --force results/finetune/m/t2d-x/ft-low/metrics.json " in rebuild_advice(
        root / "results" / "finetune" / "m" / "t2d-x" / "ft-low" / "model.pt"
    )
    ckpt = root / "results" / "models" / "m" / "checkpoint.pt"
    assert rebuild_advice(ckpt).startswith(f"delete it (rm {ckpt} {ckpt}.sha256)")
    assert rebuild_advice(tmp_path / "model.pt") == "rebuild it by rerunning the step that wrote it"


def test_a_kill_between_file_and_record_leaves_a_file_that_verifies(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_torch_file(path, {"step": torch.tensor([1])})
    real_replace = checkpoint_os_replace = __import__("os").replace

    def kill_at_rename(src, dst):
        if Path(dst) == path:
            raise KeyboardInterrupt("simulated kill before the file is renamed")
        return real_replace(src, dst)

    monkeypatch.setattr("os.replace", kill_at_rename)
    with pytest.raises(KeyboardInterrupt):
        save_torch_file(path, {"step": torch.tensor([2])})
    monkeypatch.setattr("os.replace", checkpoint_os_replace)
    assert len((tmp_path / "checkpoint.pt.sha256").read_text().splitlines()) == 2
    assert checkpoint.load_torch_file(path)["step"].item() == 1  # the old file, still verified

    calls = []
    real_write = checkpoint._write_record

    def kill_at_final_record(p, digests):
        calls.append(digests)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill after the rename")
        real_write(p, digests)

    monkeypatch.setattr(checkpoint, "_write_record", kill_at_final_record)
    with pytest.raises(KeyboardInterrupt):
        save_torch_file(path, {"step": torch.tensor([3])})
    assert checkpoint.load_torch_file(path)["step"].item() == 3  # the new file, verified
    monkeypatch.setattr(checkpoint, "_write_record", real_write)
    save_torch_file(path, {"step": torch.tensor([4])})
    assert len((tmp_path / "checkpoint.pt.sha256").read_text().splitlines()) == 1


# -- features and probing ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def pretrained(data):
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return run_tiny(data, hparams=hp(epochs=2)).model


def test_probe_on_cached_features_matches_probe_through_backbone(pretrained):
    target = {"train": squares(160, 3, 20), "val": squares(48, 3, 21), "test": squares(48, 3, 22)}
    probe_hp = TrainHParams(epochs=8, batch_size=32, seed=5)
    cached = {
        s: (compute_features(pretrained, d.images, 64, "cpu"), d.labels) for s, d in target.items()
    }
    assert cached["train"][0].shape == (160, pretrained.feature_dim)
    assert cached["train"][0].dtype == np.float32
    fast = train_probe(cached, num_classes=3, hparams=probe_hp, device="cpu")
    slow = probe_through_backbone(pretrained, target, num_classes=3, hparams=probe_hp, device="cpu")
    assert abs(fast.metrics["test_accuracy"] - slow.metrics["test_accuracy"]) <= 0.01
    for a, b in zip(fast.fit.history, slow.fit.history, strict=True):
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=0.03)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
    # the backbone stayed frozen (weights and BatchNorm statistics)
    again = compute_features(pretrained, target["train"].images, 64, "cpu")
    np.testing.assert_array_equal(again, cached["train"][0])


def test_extract_probe_finetune_paths(dataset_dirs, tmp_path, pretrained):
    src, target = dataset_dirs
    model_path = tmp_path / "models" / "m" / "model.pt"
    save_model(model_path, pretrained)

    feats_dir = tmp_path / "features" / "m" / "target-ds"
    manifest = extract_features(model_path, target, feats_dir, batch_size=50, device="cpu")
    assert manifest["feature_dim"] == pretrained.feature_dim and manifest["num_classes"] == 3
    assert sorted(p.name for p in feats_dir.iterdir()) == sorted(
        ["manifest.json"]
        + [f"{p}{s}.npy" for s in ("train", "val", "test") for p in ("", "labels-")]
    )
    x, y = load_features(feats_dir, "train")
    assert x.shape == (160, pretrained.feature_dim) and y.dtype == np.int64
    first = {p.name: p.read_bytes() for p in feats_dir.iterdir()}
    extract_features(model_path, target, feats_dir, batch_size=50, device="cpu")
    assert {p.name: p.read_bytes() for p in feats_dir.iterdir()} == first  # byte-identical rerun

    probe_dir = tmp_path / "probes" / "m" / "target-ds"
    metrics = linear_probe(feats_dir, probe_dir, epochs=40, batch_size=32, lr=1e-2, device="cpu")
    assert {p.name for p in probe_dir.iterdir()} == {
        "metrics.json", "history.csv", "head.pt", "head.pt.sha256"
    }  # fmt: skip
    for split in ("train", "val", "test"):
        assert 0.0 <= metrics[f"{split}_accuracy"] <= 1.0 and f"{split}_macro_accuracy" in metrics
    assert metrics["test_accuracy"] > 0.6, metrics  # the colours transfer; chance is 1/3

    ft_dir = tmp_path / "finetune" / "m"
    ft = finetune(
        model_path, probe_dir, target, ft_dir, n_samples=0.25, epochs=3, batch_size=16, device="cpu"
    )
    assert (
        ft["n_samples"] == 40 and "test_accuracy" in ft and not (ft_dir / "checkpoint.pt").exists()
    )
    rows = list(csv.DictReader(io.StringIO((ft_dir / "history.csv").read_text())))
    assert float(rows[-1]["lr_end"]) == 0.0 and all(float(r["lr_end"]) > 0 for r in rows[:-1])
    assert load_model(ft_dir / "model.pt").num_classes == 3

    with pytest.raises(CheckpointError, match="has 3 classes, the dataset has 4"):
        finetune(
            model_path, probe_dir, src, tmp_path / "ft-wrong", n_samples=20, epochs=1, device="cpu"
        )
    other = src.parent / "other-ds"
    with pytest.raises(ValueError, match="trained on dataset 'target-ds'"):
        finetune(
            model_path, probe_dir, other, tmp_path / "ft-wrong", n_samples=9, epochs=1, device="cpu"
        )

    (feats_dir / "val.npy").write_bytes((feats_dir / "val.npy").read_bytes()[:-8])
    with pytest.raises(DatasetIntegrityError, match=r"val\.npy"):
        load_features(feats_dir, "val")


def test_corrupted_head_file_is_detected_on_load_and_by_inspect(tmp_path, pretrained, capsys):
    feats = {s: (np.random.default_rng(i).normal(size=(40, 8)).astype(np.float32),
                 torch.arange(40) % 3) for i, s in enumerate(("train", "val", "test"))}  # fmt: skip
    result = train_probe(feats, num_classes=3, hparams=TrainHParams(epochs=2), device="cpu")
    probes = tmp_path / "results" / "probes" / "m"
    for name in ("ds-a", "ds-b"):
        checkpoint.save_head(probes / name / "head.pt", result.head, dataset={"name": name})
        (probes / name / "metrics.json").write_text('{"test_accuracy": 0.5}')
    head, info = load_head(probes / "ds-a" / "head.pt", feature_dim=8, num_classes=3)
    assert torch.equal(head.weight, result.head.weight) and info["dataset"] == {"name": "ds-a"}
    assert cli_main(["inspect", str(probes)]) == 0
    assert "checksums: OK (2 weights file(s))" in capsys.readouterr().out

    command = "snakemake --force results/probes/m "
    for name, damage in (("ds-a", "bit"), ("ds-b", "page")):
        path = probes / name / "head.pt"
        if damage == "bit":
            flip_bit(path, tensor_offset(path, result.head.weight))
        else:
            zero_page(path, 0)
        with pytest.raises(CheckpointError, match=rf"{name}/head\.pt is corrupt") as err:
            load_head(path)
        assert command in str(err.value)
    assert cli_main(["inspect", str(probes)]) == 1
    out = capsys.readouterr().out  # every bad file is named, not only the first
    assert "checksums: FAILED for 2 of 2: ds-a/head.pt, ds-b/head.pt" in out
    assert out.count(command) == 2


def test_finetune_lr_reaches_zero_at_the_decay_epoch(pretrained):
    target = {"train": squares(96, 4, 30), "val": squares(32, 4, 31)}
    model = build_model("cnn4", 4, width=4)
    model.load_state_dict(pretrained.state_dict())
    snapshots = {}

    def snapshot(epoch, record):
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items() if "weight" in k}

    _, history = finetune_model(
        model, target["train"], target["val"], n_samples=48, device="cpu",
        hparams=TrainHParams(epochs=7, batch_size=16, schedule="linear", decay_epochs=5),
        on_epoch_end=snapshot,
    )  # fmt: skip
    lr_end = [r["lr_end"] for r in history]
    assert lr_end[3] > 0 and lr_end[4] == 0.0 and lr_end[5:] == [0.0, 0.0]
    # with lr = 0 the weights no longer move after epoch 5 (the reference's quirk)
    assert states_equal(snapshots[5], snapshots[7])
    assert not states_equal(snapshots[4], snapshots[5])


def test_stratified_subset():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    idx = stratified_subset(labels, 10, seed=0)
    assert idx.tolist() == sorted(idx.tolist()) and len(set(idx.tolist())) == 10
    assert np.bincount(labels[idx].numpy()).tolist() == [5, 3, 2]
    assert np.array_equal(idx, stratified_subset(labels, 10, seed=0))
    assert not np.array_equal(idx, stratified_subset(labels, 10, seed=1))
    assert len(stratified_subset(labels, 0.1, seed=0)) == 10
    assert len(stratified_subset(labels, 1.0, seed=0)) == 100
    for bad, error in ((0, ValueError), (101, ValueError), (1.5, ValueError), (True, TypeError)):
        with pytest.raises(error, match="n_samples"):
            stratified_subset(labels, bad, seed=0)


def test_grouped_steps_match_the_single_dataset_calls(dataset_dirs, tmp_path, pretrained):
    """The workflow's features / probe / fine-tuning jobs cover several datasets or regimes at
    once (invtransfer.steps); each per-dataset result equals what the single call gives."""
    from invtransfer import steps

    _src, target = dataset_dirs
    other = target.parent / "other-ds"
    model_path = tmp_path / "models" / "m" / "model.pt"
    save_model(model_path, pretrained)
    runtime = {"device": "cpu"}

    feats = tmp_path / "features" / "m"
    steps.extract_features(model_path, [target, other], feats, threads=1, runtime=runtime)
    assert sorted(p.name for p in feats.iterdir()) == ["other-ds", "target-ds"]
    single = tmp_path / "single-features"
    extract_features(model_path, other, single, device="cpu")
    for name in ("train.npy", "labels-test.npy", "manifest.json"):
        assert (feats / "other-ds" / name).read_bytes() == (single / name).read_bytes()
    with pytest.raises(ValueError, match="same name"):
        steps.extract_features(model_path, [target, target], tmp_path / "f2", runtime=runtime)

    probe_job = {"datasets": ["target-ds", "other-ds"], "epochs": 5, "batch_size": 32,
                 "lr": 1e-2, "seed": 3, "model": "m"}  # fmt: skip
    probes = tmp_path / "probes" / "m"
    steps.probe_features(probe_job, feats, probes, threads=1, runtime=runtime)
    direct = linear_probe(
        single, tmp_path / "single-probe", epochs=5, batch_size=32, lr=1e-2, seed=3, device="cpu"
    )
    grouped = read_json(probes / "other-ds" / "metrics.json")
    for key in ("train_accuracy", "val_accuracy", "test_accuracy", "best_epoch"):
        assert grouped[key] == direct[key]
    bad = {**probe_job, "datasets": ["target-ds", "missing-ds"]}
    with pytest.raises(FileNotFoundError, match="missing-ds"):
        steps.probe_features(bad, feats, tmp_path / "p2", runtime=runtime)
    assert not (tmp_path / "p2").exists()  # nothing half-written

    run = {"n_samples": 0.25, "epochs": 1, "batch_size": 16, "lr": 1e-3,
           "lr_decay_epochs": None, "seed": 0}  # fmt: skip
    ft_job = {"model": "m", "dataset": "target-ds",
              "runs": {"ft-low": run, "ft-high": {**run, "n_samples": 0.5}}}  # fmt: skip
    outs = [tmp_path / "ft" / r / "metrics.json" for r in ("ft-low", "ft-high")]
    steps.finetune_model(ft_job, model_path, probes, target, outs, threads=1, runtime=runtime)
    assert [read_json(p)["n_samples"] for p in outs] == [40, 80]
    assert [read_json(p)["bf16"] for p in outs] == [False, False]  # training.bf16 auto: CPU fp32

    # training.bf16: true reaches every forward pass of the jobs, not only pretraining
    bf16 = {"device": "cpu", "bf16": True}
    steps.extract_features(model_path, [other], tmp_path / "f-bf16", threads=1, runtime=bf16)
    assert read_json(feats / "other-ds" / "manifest.json")["bf16"] is False
    assert read_json(tmp_path / "f-bf16" / "other-ds" / "manifest.json")["bf16"] is True
    images = features_mod.load_dataset_split(other, "train").images
    expect = compute_features(pretrained, images, device="cpu", bf16=True)
    assert np.array_equal(np.load(tmp_path / "f-bf16" / "other-ds" / "train.npy"), expect)
    assert not np.array_equal(expect, np.load(feats / "other-ds" / "train.npy"))
    outs16 = [tmp_path / "ft16" / r / "metrics.json" for r in ("ft-low", "ft-high")]
    steps.finetune_model(ft_job, model_path, probes, target, outs16, threads=1, runtime=bf16)
    assert [read_json(p)["bf16"] for p in outs16] == [True, True]
    with pytest.raises(ValueError, match="regimes"):
        steps.finetune_model(ft_job, model_path, probes, target, outs[:1], runtime=runtime)


def test_pretraining_linear_schedule_decays_to_zero(tmp_path):
    """training.pretrain.schedule: linear (the quick preset's) decays the rate linearly to 0
    over the pretraining epochs; the paper's constant rate stays the default."""
    from invtransfer.config import load_config
    from invtransfer.engine import TrainHParams
    from invtransfer.experiments import build_plan

    hp = TrainHParams(epochs=4, batch_size=8, lr=0.004, schedule="linear")
    assert [hp.lr_at(s, 10) for s in (0, 10, 20, 30, 39)] == pytest.approx(
        [0.004, 0.003, 0.002, 0.001, 0.0001]
    )
    root = Path(__file__).resolve().parents[1]
    tiny = root / "profiles" / "tiny" / "overrides.yaml"
    default = build_plan(load_config(root / "config.yaml", tiny))
    assert {job.schedule for job in default.models.values()} == {"constant"}
    linear = build_plan(
        load_config(
            root / "config.yaml", tiny, overrides={"training": {"pretrain": {"schedule": "linear"}}}
        )
    )
    assert {job.schedule for job in linear.models.values()} == {"linear"}
    assert all(j.to_params()["schedule"] == "linear" for j in linear.models.values())


@pytest.mark.parametrize("bf16", [False, True])
def test_cpu_evaluation_chunk_does_not_change_results(pretrained, monkeypatch, bf16):
    """On the CPU, features and evaluation run at most ``CPU_EVAL_CHUNK`` images per forward
    pass (a speed setting): every feature, loss and accuracy must be the same, bit for bit,
    whatever the chunk, so outputs stay those of one big pass."""
    import invtransfer.device as device_mod

    images = squares(300, 4, 30)
    data = LabeledData(images.images, images.labels, "images", 4)
    linear = torch.nn.Linear(pretrained.feature_dim, 4)
    results = []
    for chunk in (1024, 128, 37):
        monkeypatch.setattr(device_mod, "CPU_EVAL_CHUNK", chunk)
        feats = compute_features(pretrained, images.images, 1024, "cpu", bf16=bf16)
        as_data = LabeledData(torch.from_numpy(feats), images.labels, "features", 4)
        results.append(
            (
                feats,
                evaluate(pretrained, data, batch_size=256, bf16=bf16),
                evaluate(linear, as_data, batch_size=256),
            )
        )
    (feats, metrics, probe), *others = results
    assert feats.shape == (300, pretrained.feature_dim) and np.abs(feats).sum() > 0
    for other_feats, other_metrics, other_probe in others:
        assert np.array_equal(feats, other_feats)
        assert metrics == other_metrics and probe == other_probe
    assert device_mod.eval_chunk(torch.device("cpu"), 1024) == 37  # the patched chunk applied
    assert device_mod.eval_chunk(torch.device("cpu"), 16) == 16
    assert device_mod.eval_chunk(torch.device("cuda"), 1024) == 1024


def test_take_rows_is_indexing():
    """The training batches' row gather (``index_select`` for integer indices) gives exactly what
    indexing gives, for every kind of index the engine or a user may pass."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 8, 8, 3), dtype=torch.uint8, generator=gen)
    feats = torch.randn(50, 7, generator=gen)
    labels = torch.randint(0, 5, (50,), generator=gen)
    idx = torch.tensor([3, 0, 49, 3, 17])  # repeated and unordered rows
    mask = torch.arange(50) % 3 == 0
    for t in (images, feats, labels):
        for index in (idx, idx.to(torch.int32), mask, slice(5, 20), slice(None, None, 7)):
            got, want = labeled_data.take_rows(t, index), t[index]
            assert got.dtype == want.dtype and torch.equal(got, want)
    data = labeled_data.LabeledData(feats, labels, "features", 5)
    x, y = data.batch(idx)
    assert torch.equal(x, feats[idx]) and torch.equal(y, labels[idx])
    with pytest.raises(IndexError):
        labeled_data.take_rows(feats, torch.tensor([50]))
