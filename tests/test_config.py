"""Config validation: the paper config and presets load; bad values fail naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from invtransfer.config import check_config, deep_merge, load_config
from invtransfer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PRESETS = [
    ["config.yaml"],
    ["config.yaml", "profiles/quick/overrides.yaml"],
    ["config.yaml", "profiles/tiny/overrides.yaml"],
]


@pytest.fixture(scope="module")
def paper() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.mark.parametrize("files", PRESETS, ids=lambda f: f[-1])
def test_presets_are_valid(files):
    cfg = load_config(*[ROOT / f for f in files])
    assert cfg["image_size"] == 32


def test_paper_settings(paper):
    # The paper's sizes (App. A.1) and training constants (App. B.2).
    assert (paper["data"]["n_train"], paper["data"]["n_val"], paper["data"]["n_test"]) == (
        50000,
        10000,
        10000,
    )
    assert paper["seeds"] == 10
    assert paper["training"]["pretrain"] == {
        "epochs": 50,
        "batch_size": 512,
        "lr": 0.001,
        "weight_decay": 0.0,
    }
    assert paper["training"]["probe"]["epochs"] == 200
    assert paper["sens"]["pairs"] == 10000


def test_deep_merge_overlays_nested_keys():
    merged = deep_merge({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": 3}, "l": [9]})
    assert merged == {"a": {"b": 3, "c": 2}, "l": [9]}


def _broken(paper: dict, path: str, value) -> dict:
    cfg = copy.deepcopy(paper)
    *parents, last = path.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    node[last] = value
    return cfg


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("data.n_train", -5, "data.n_train"),
        ("data.n_val", "many", "data.n_val"),
        ("data.bogus", 1, "data.bogus"),
        ("seeds", 0, "seeds"),
        ("device", "tpu", "device"),
        ("assets.objects.source", "imagenet", "assets.objects.source"),
        ("experiments.ife.correlations", [0.5, 1.5], "experiments.ife.correlations[1]"),
        ("training.probe.lr", 0, "training.probe.lr"),
        ("experiments.it.transforms", ["rotate", "rotat"], "experiments.it.transforms[1]"),
        (
            "experiments.tm.architectures",
            ["resnet18", "alexnet"],
            "experiments.tm.architectures[1]",
        ),
        ("experiments.tvo.n_classes.t2d", 40, "experiments.tvo.n_classes.t2d"),
    ],
)
def test_bad_values_name_the_key(paper, path, value, expected):
    with pytest.raises(ConfigError) as err:
        check_config(_broken(paper, path, value))
    assert f"'{expected}'" in str(err.value)


def test_unknown_key_suggests_the_right_one(paper):
    cfg = copy.deepcopy(paper)
    cfg["training"]["pretrian"] = cfg["training"].pop("pretrain")
    with pytest.raises(ConfigError, match=r"training.pretrian.*did you mean 'pretrain'"):
        check_config(cfg)


def test_unknown_transformation_suggests(paper):
    cfg = _broken(paper, "experiments.it.transforms", ["rotat"])
    with pytest.raises(ConfigError, match="did you mean 'rotate'"):
        check_config(cfg)


def test_broken_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_config(ROOT / "config.yaml", bad)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
