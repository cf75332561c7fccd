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
    return load_config(ROOT / "config.yaml").to_dict()


@pytest.mark.parametrize("files", PRESETS, ids=lambda f: f[-1])
def test_presets_are_valid(files):
    cfg = load_config(*[ROOT / f for f in files])
    assert cfg["image_size"] == 32


def test_paper_settings(paper):
    # The paper's sizes (App. A.1) and training constants (App. B.2) are the defaults.
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


def test_too_many_classes_for_the_objects_fail_naming_key_and_numbers():
    # count given: decided at parse time
    with pytest.raises(ConfigError) as err:
        check_config(
            {
                "assets": {"objects": {"count": 61}},
                "experiments": {"tvo": {"n_classes": {"t2d": 40}}},
            }
        )
    assert "'experiments.tvo.n_classes.t2d': needs 80 distinct objects" in str(err.value)
    assert "provides 61" in str(err.value)
    # count from the source (bundle: 61 by default): decided when the plan draws the objects
    from invtransfer.experiments import build_plan

    with pytest.raises(ConfigError) as err:
        build_plan(check_config({"experiments": {"tvo": {"n_classes": {"t2d": 40}}}}))
    assert "'experiments.tvo.n_classes.t2d': needs 80 distinct objects" in str(err.value)
    assert "provides only 61" in str(err.value)


# -- the schema: one place for every default -----------------------------------------------------
def _schema_keys(node, prefix=""):
    from invtransfer.config import _resolve

    node = _resolve(node)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        path = f"{prefix}.{key}" if prefix else key
        yield path, sub
        yield from _schema_keys(sub, path)


def test_every_schema_key_has_a_description_and_one_default():
    from invtransfer.config import load_schema

    keys = dict(_schema_keys(load_schema()))
    assert len(keys) == 123
    for path, sub in keys.items():
        assert str(sub.get("description", "")).strip(), f"{path} has no description"
        if "properties" in sub:
            assert "default" not in sub, f"{path}: defaults belong to its keys"
        else:
            assert "default" in sub, f"{path} has no default"


def test_the_defaults_are_the_paper_settings_and_config_yaml_repeats_none():
    from invtransfer.config import schema_defaults

    defaults = schema_defaults()
    assert load_config(ROOT / "config.yaml").to_dict() == defaults
    assert yaml.safe_load((ROOT / "config.yaml").read_text()) == {}
    assert defaults["training"]["vit"] == {"warmup_epochs": 5, "min_lr": 1e-5, "weight_decay": 1e-5}
    assert defaults["experiments"]["tvo"]["finetune_samples"]["t2d"] == {
        "ft-low": 200,
        "ft-high": 2000,
    }
    assert defaults["assets"]["objects"]["count"] is None  # the source decides (bundle: 61)


def test_missing_keys_are_filled_and_partial_mappings_keep_their_other_defaults():
    cfg = check_config({"experiments": {"tvo": {"finetune_samples": {"t2d": {"ft-low": 50}}}}})
    assert cfg["experiments"]["tvo"]["finetune_samples"]["t2d"] == {"ft-low": 50, "ft-high": 2000}
    assert cfg["experiments"]["tvo"]["finetune_samples"]["cifar10"]["ft-high"] == 0.1
    assert cfg["seeds"] == 10 and cfg["sens"]["estimator"] == "global"


def test_config_is_read_only_and_validated_once():
    from invtransfer.config import Config

    cfg = load_config(ROOT / "config.yaml")
    with pytest.raises(TypeError):
        cfg["experiments"]["tvo"]["families"] = []  # type: ignore[index]
    assert check_config(cfg) is cfg  # a Config is not validated again
    with pytest.raises(TypeError, match="check_config"):
        Config({"seeds": 1})
    plain = cfg.to_dict()
    plain["seeds"] = 2  # a plain copy is mutable and leaves the Config alone
    assert cfg["seeds"] == 10


def test_schema_ships_inside_the_package():
    import importlib.resources

    text = importlib.resources.files("invtransfer").joinpath("config.schema.yaml").read_text()
    assert yaml.safe_load(text)["properties"]["seeds"]["default"] == 10
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"config.schema.yaml"' in pyproject  # package data: a non-editable install has it
    assert not (ROOT / "workflow" / "schemas").exists()  # one schema, in the package
