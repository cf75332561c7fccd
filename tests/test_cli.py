"""``invtransfer`` CLI: inspect (datasets and the generic fallback) and materialize."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from invtransfer.cli import main
from invtransfer.datasets import dataset_name, load_split
from invtransfer.inspect import inspect_path, register_inspector

SPEC = {
    "kind": "random",
    "objects": {"count": 4},
    "transforms": ["rotate", "v_flip"],
    "splits": {"train": 24, "test": 8},
    "shard_size": 16,
    "class_balance": "exact",  # counts checked below (the default draws classes i.i.d.)
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    spec_file = root / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    out = root / "ds"
    assert main(["materialize", "--spec", str(spec_file), "--out", str(out), "--threads", "1"]) == 0
    return out


def test_materialize_writes_a_loadable_dataset(dataset, capsys):
    data = load_split(dataset, "train")
    assert len(data) == 24 and data.num_classes == 4


def test_materialize_under_root_uses_the_dataset_name(tmp_path, capsys):
    spec_file = tmp_path / "spec.json"
    spec = {**SPEC, "splits": {"test": 4}, "transforms": []}
    spec_file.write_text(json.dumps(spec))
    assert main(["materialize", "--spec", str(spec_file), "--root", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / dataset_name(spec) / "manifest.json").is_file()
    assert dataset_name(spec) in capsys.readouterr().out


def test_materialize_bad_spec_is_one_line_naming_the_key(tmp_path, capsys):
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps({**SPEC, "splits": {"train": -3}}))
    assert main(["materialize", "--spec", str(spec_file), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "splits.train" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_inspect_dataset_prints_counts_parameters_and_checksums(dataset, capsys):
    assert main(["inspect", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert dataset_name(SPEC) in out
    assert "transforms: rotate, v_flip" in out
    assert "checksums: OK" in out
    assert "splits: train 24, test 8" in out
    # exact balance: 24 / 4 classes = 6 per class in train, 2 in test
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert ["0", "pattern00", "6", "2"] in rows
    assert "rotate.angle" in out and "v_flip.applied" in out and "fraction true" in out


def test_inspect_reports_a_corrupted_shard(dataset, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    shard = broken / "images-00001.npy"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\x00")
    assert main(["inspect", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "checksums: FAILED" in out and "images-00001.npy" in out


def test_inspect_generic_fallback_lists_files_and_metrics(tmp_path):
    # (a file named model.pt / head.pt is a weights file: the weights inspector checks it)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 2048)
    (tmp_path / "metrics.json").write_text(json.dumps({"test_accuracy": 0.875, "epochs": 3}))
    report = inspect_path(tmp_path)
    text = "\n".join(report.lines)
    assert report.ok and "weights.bin" in text and "2.0 KiB" in text
    assert '"test_accuracy": 0.875' in text


def test_register_inspector_takes_priority_and_rejects_duplicates(tmp_path):
    from invtransfer.inspect import _INSPECTORS, Report

    (tmp_path / "MARKER").write_text("")
    register_inspector(
        "test-marker",
        lambda p: (p / "MARKER").exists(),
        lambda p: Report("marker", f"marker {p.name}", ["custom"]),
        priority=100,
    )
    try:
        assert inspect_path(tmp_path).lines == ["custom"]
        with pytest.raises(ValueError, match="already registered"):
            register_inspector("test-marker", lambda p: False, lambda p: Report("x", "x"))
    finally:
        del _INSPECTORS["test-marker"]


def test_python_dash_m_inspect(dataset):
    proc = subprocess.run(
        [sys.executable, "-m", "invtransfer", "inspect", str(dataset)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "checksums: OK" in proc.stdout and "counts per class" in proc.stdout


def test_inspect_missing_path_is_an_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    assert f"inspect: {tmp_path / 'nope'} does not exist" in capsys.readouterr().err


def test_inspect_evaluation_set_summarises_each_member(dataset, tmp_path, capsys):
    import shutil

    evalset = tmp_path / "evalset"
    for member in ("a", "b"):
        shutil.copytree(dataset, evalset / member)
    (evalset / "manifest.json").write_text(json.dumps({"members": ["a", "b"], "wall_time_s": 1}))
    assert main(["inspect", str(evalset)]) == 0
    out = capsys.readouterr().out
    assert "evaluation set evalset" in out and out.count("checksums: OK") == 2
    (evalset / "b" / "images-00000.npy").unlink()
    assert main(["inspect", str(evalset)]) == 1
    assert "images-00000.npy" in capsys.readouterr().out


# -- find and config: the plan and the configuration a profile gives ----------------------------
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--profile", str(ROOT / "profiles/tiny"), "--base", str(ROOT / "config.yaml")]


def test_find_prints_the_matching_model_folders(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = ["find", *TINY, "--arch", "cnn4", "--transform", "rotate", "--seed", "1"]
    assert main([*args, "--experiment", "it"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit("--", 1)[0] for line in lines] == [
        "results/models/cnn4--it-image-rotate-4c-400--s1",
        "results/models/cnn4--it-random-rotate-4c-400--s1",
    ]
    assert main(["find", *TINY, "--transform", "none", "--seed", "0", "--results", "r"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit("--", 1)[0] for line in lines] == [
        "r/models/cnn4--it-image-none-4c-400--s0",
        "r/models/cnn4--it-random-none-4c-400--s0",
    ]


def test_find_without_a_match_says_what_exists(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["find", *TINY, "--arch", "resnet18"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no model of this config matches (architectures: cnn4; seeds: 0, 1)" in captured.err


def test_config_prints_the_effective_configuration_with_descriptions(capsys, monkeypatch):
    import yaml

    from invtransfer.config import load_config

    monkeypatch.chdir(ROOT)
    assert main(["config", *TINY]) == 0
    out = capsys.readouterr().out
    expected = load_config(ROOT / "config.yaml", preset="tiny").to_dict()
    assert yaml.safe_load(out) == expected
    assert "preset: tiny  # name of a preset" in out
    assert "seeds: 2  # number of seeds" in out
    assert "  n_train: 400  # training images per dataset" in out
