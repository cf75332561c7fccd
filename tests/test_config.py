"""Config validation: the paper config and presets load; bad values fail naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from support.workflow import copy_workflow, dry_run_counts

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
        "schedule": "constant",  # paper App. B.2: Adam at a fixed rate
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
        ("experiments.tm.pretrain_batch_size", 0, "experiments.tm.pretrain_batch_size"),
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
    from invtransfer.config.schema import _resolve

    node = _resolve(node)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        path = f"{prefix}.{key}" if prefix else key
        yield path, sub
        yield from _schema_keys(sub, path)


def test_every_schema_key_has_a_description_and_one_default():
    from invtransfer.config import load_schema

    keys = dict(_schema_keys(load_schema()))
    # 126 + training.rendering.{t2d,cifar} + the profile section's 8 + assets.backgrounds.bank_seed,
    # training.pretrain.schedule, experiments.it.n_train, experiments.tvo.min_steps,
    # experiments.{it,tm}.pretrain_epochs, experiments.{it,tm}.rendering,
    # experiments.tm.pretrain_batch_size, data.random_pixels, assets.backgrounds.crops
    assert len(keys) == 148
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


# -- cross-field constraints decided at parse time, each naming its key (issue 14) ---------------
TINY = ["config.yaml", "profiles/tiny/overrides.yaml"]


def _tiny(**overrides):
    return load_config(*[ROOT / f for f in TINY], overrides=overrides)


def _error(**overrides) -> str:
    with pytest.raises(ConfigError) as err:
        _tiny(**overrides)
    return str(err.value)


def test_finetune_samples_larger_than_the_training_split():
    msg = _error(experiments={"tvo": {"regimes": ["lp", "ft-low", "ft-high"]}})
    assert (
        "config key 'experiments.tvo.finetune_samples.t2d.ft-high': 2000 samples, but the "
        "target's training split has only 400 images (data.n_train); use at most 400, or a "
        "fraction in (0, 1]"
    ) in msg
    assert "ft-low" not in msg  # 200 of 400 fits
    _tiny(
        experiments={"tvo": {"regimes": ["ft-high"], "finetune_samples": {"t2d": {"ft-high": 0.5}}}}
    )


def test_cifar_sample_counts_against_the_release():
    msg = _error(
        experiments={"tvo": {"families": ["cifar10"], "pt_samples": {"cifar10": [10, 5000]}}}
    )
    assert (
        "config key 'experiments.tvo.pt_samples.cifar10[1]': 5000 images per class, but cifar10 "
        "has only 4500 training images per class (assets.cifar.val_fraction=0.1)"
    ) in msg
    msg = _error(
        experiments={
            "tvo": {"families": ["cifar100"], "regimes": ["ft-low"],
                    "finetune_samples": {"cifar100": {"ft-low": 30000}}},
        }
    )  # fmt: skip
    assert "'experiments.tvo.finetune_samples.cifar100.ft-low': 30000 samples" in msg
    assert "only 22500 images (50 classes (experiments.tvo.n_classes.cifar100) x 450" in msg
    msg = _error(experiments={"ife": {"enabled": True, "n_train": 50000}})
    assert "config key 'experiments.ife.n_train': 50000 images, but CIFAR-10 has 45000" in msg


def test_misspelt_architecture_argument_fails_at_parse_time():
    msg = _error(models={"arch_kwargs": {"cnn4": {"widht": 8}}})
    assert (
        "config key 'models.arch_kwargs.cnn4.widht': cnn4 has no argument 'widht' "
        "(did you mean 'width'?); its arguments: width"
    ) in msg
    msg = _error(models={"arch_kwargs": {"cnn4": {"width": "8"}}})
    assert "config key 'models.arch_kwargs.cnn4.width': expected int (like the default 16)" in msg
    msg = _error(models={"arch_kwargs": {"resnet18": {"width": 8}}})
    assert "'models.arch_kwargs.resnet18.width': resnet18 has no argument 'width'" in msg
    assert "its arguments: none" in msg
    msg = _error(models={"arch_kwargs": {"vit": {"depht": 4}}})
    assert "(did you mean 'depth'?)" in msg


def test_vit_min_lr_above_the_learning_rate():
    msg = _error(training={"vit": {"min_lr": 0.01}}, experiments={"tm": {"architectures": ["vit"]}})
    assert (
        "config key 'training.vit.min_lr': 0.01 is above the learning rate it decays from " in msg
    )


def test_sens_needs_two_test_images():
    assert "config key 'data.n_test': 1 test image" in _error(data={"n_test": 1})


def test_device_without_cuda_is_named_at_parse_time_and_at_job_start(monkeypatch):
    import torch

    from invtransfer.steps import _runtime

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = _tiny(device="cuda").to_dict()  # not local: a cluster node may have CUDA
    with pytest.raises(ConfigError, match=r"config key 'device': 'cuda' requested but CUDA is not"):
        check_config(cfg, local=True)
    with (
        pytest.raises(ConfigError, match=r"config key 'device': 'cuda:1' requested .* set device"),
        _runtime(None, {"device": "cuda:1", "compile": False, "bf16": "auto"}),
    ):
        pass
    with _runtime(None, {"device": "cpu"}) as rt:
        assert rt["device"] == "cpu"


# -- layers: a user's overlay adds to the preset's (issue 14) ------------------------------------
def test_a_preset_sits_under_the_users_overlays(tmp_path):
    mine = tmp_path / "my.yaml"
    mine.write_text("seeds: 1\ndata: {n_val: 50}\n")
    cfg = load_config(ROOT / "config.yaml", mine, preset="tiny")
    assert cfg["preset"] == "tiny"
    assert (cfg["seeds"], cfg["data"]["n_train"], cfg["data"]["n_val"]) == (1, 400, 50)
    assert cfg["experiments"]["tvo"]["architectures"] == ("cnn4",)  # the preset's, kept
    # the preset named inside an overlay works the same way
    mine.write_text("preset: tiny\nseeds: 1\n")
    assert load_config(ROOT / "config.yaml", mine)["data"]["n_train"] == 400
    with pytest.raises(ConfigError, match=r"config key 'preset': no preset 'tyni'.*did you mean"):
        load_config(ROOT / "config.yaml", preset="tyni")


def test_names_in_an_overlay_win_over_an_inherited_count(tmp_path):
    from invtransfer.assets import available_object_names
    from invtransfer.config import compose_layers
    from invtransfer.experiments import build_plan

    base = tmp_path / "config.yaml"
    base.write_text("assets: {objects: {count: 61}}\n")
    mine = tmp_path / "my.yaml"
    names = available_object_names({"source": "bundle"})[100:110]  # beyond the default 61
    mine.write_text(yaml.safe_dump({"assets": {"objects": {"names": names}}}))
    cfg = load_config(base, ROOT / "profiles/tiny/overrides.yaml", mine)
    assert cfg["assets"]["objects"]["count"] is None
    assert cfg["assets"]["objects"]["names"] == tuple(names)
    plan = build_plan(cfg)  # the plan draws from exactly these objects
    used = {n for spec in plan.datasets.values() if spec["kind"] == "t2d"
            for n in spec["objects"]["names"]}  # fmt: skip
    assert used <= set(names) and len(used) >= 8
    # and the other way round; a layer giving both is an error naming both keys
    assert compose_layers([{"assets": {"objects": {"names": names}}},
                           {"assets": {"objects": {"count": 5}}}])["assets"]["objects"] == {
        "names": None, "count": 5}  # fmt: skip
    mine.write_text(yaml.safe_dump({"assets": {"objects": {"names": names, "count": 10}}}))
    with pytest.raises(ConfigError, match=r"'assets.objects.count' and 'assets.objects.names'"):
        load_config(base, ROOT / "profiles/tiny/overrides.yaml", mine)


def test_an_si_score_folder_with_too_few_classes_is_named_at_plan_time():
    from invtransfer.experiments import build_plan

    folder = ROOT / "tests/fixtures/si-score-mini"
    cfg = load_config(
        ROOT / "config.yaml",
        overrides={"assets": {"objects": {"source": "si-score", "path": str(folder)}}},
    )
    with pytest.raises(ConfigError) as err:
        build_plan(cfg)
    assert (
        "config key 'experiments.tvo.n_classes.t2d': needs 60 distinct objects, but "
        "assets.objects provides only 9"
    ) in str(err.value)
    # a count beyond the folder is named by the object source itself
    cfg = load_config(
        ROOT / "config.yaml",
        overrides={"assets": {"objects": {"source": "si-score", "path": str(folder), "count": 61}}},
    )
    with pytest.raises(
        ConfigError, match=r"assets.objects.count=61 is out of range: source 'si-score' has 9"
    ):
        build_plan(cfg)


def test_si_score_backgrounds_default_to_one_per_photo_and_a_too_large_bank_is_named():
    """SI-Score backgrounds default to the reference's one top-left square per photo
    (``crops: auto``): a bank larger than the photos is a plan-time error naming both numbers
    and the ways out; a bank that fits, or random crops, plan."""
    from invtransfer.experiments import build_plan

    folder = ROOT / "tests/fixtures/si-score-mini"
    n = len(list((folder / "backgrounds").iterdir()))
    tiny = ROOT / "profiles/tiny/overrides.yaml"
    bg = {"source": "si-score", "path": str(folder)}
    cfg = load_config(ROOT / "config.yaml", tiny, overrides={"assets": {"backgrounds": bg}})
    with pytest.raises(ConfigError) as err:
        build_plan(cfg)
    assert (
        f"'assets.backgrounds.bank_size': 867 backgrounds, but assets.backgrounds.crops is "
        f"'top-left' ('auto' for source 'si-score'), one background per photo, and the source "
        f"has {n} photos; set assets.backgrounds.bank_size to at most {n}"
    ) in str(err.value)
    disjoint = {**bg, "split_photos": "disjoint", "bank_size": n}
    cfg = load_config(ROOT / "config.yaml", tiny, overrides={"assets": {"backgrounds": disjoint}})
    with pytest.raises(ConfigError, match=r"has 1 photos \(split_photos: disjoint, val\)"):
        build_plan(cfg)
    from invtransfer.datasets import canonicalize_spec

    for fits, crops in (
        ({**bg, "bank_size": n}, "top-left"),
        ({**bg, "crops": "random"}, "random"),
    ):
        cfg = load_config(ROOT / "config.yaml", tiny, overrides={"assets": {"backgrounds": fits}})
        specs = [s for s in build_plan(cfg).datasets.values() if s["kind"] == "t2d"]
        assert specs
        assert {canonicalize_spec(s)["backgrounds"]["crops"] for s in specs} == {crops}


def test_asset_max_size_is_passed_to_every_dataset_that_decodes_the_assets():
    from invtransfer.datasets import canonicalize_spec
    from invtransfer.experiments import build_plan

    tiny = ROOT / "profiles/tiny/overrides.yaml"
    plain = build_plan(load_config(ROOT / "config.yaml", tiny))
    assets = {"objects": {"max_size": 32}, "backgrounds": {"max_size": 64}}
    small = build_plan(load_config(ROOT / "config.yaml", tiny, overrides={"assets": assets}))
    t2d = [canonicalize_spec(s) for s in small.datasets.values() if s["kind"] == "t2d"]
    assert t2d and all(
        s["objects"]["max_size"] == 32 and s["backgrounds"]["max_size"] == 64 for s in t2d
    )
    assert not any(
        "max_size" in canonicalize_spec(s)["objects"]
        for s in plain.datasets.values()
        if s["kind"] == "t2d"
    )
    assert set(small.datasets).isdisjoint(
        n for n, s in plain.datasets.items() if s["kind"] == "t2d"
    )  # other pixels, other names


def test_a_disabled_experiment_is_named_in_every_table_it_would_fill():
    from invtransfer.experiments import build_plan

    plan = build_plan(_tiny())
    why = "the ife experiment is disabled in this config (experiments.ife.enabled: false)"
    for table in ("ife", "ife_fixed", "ife_translate", "ife_sens_fixed", "ife_sens_translate"):
        assert plan.notes[table] == why
    plan = build_plan(_tiny(experiments={"it": {"enabled": False}, "tm": {"enabled": False}}))
    assert plan.notes["it_cnn4"] == (
        "the it experiment is disabled in this config (experiments.it.enabled: false)"
    )
    assert plan.notes["tm"].startswith("the tm experiment is disabled")


# -- the same through Snakemake: --profile + --configfile, --config, device ----------------------
def _dry_run(tmp_path, *args, env=None):
    import os
    import subprocess
    import sys

    wf = copy_workflow(tmp_path)
    (wf / "my.yaml").write_text("seeds: 1\n")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args],
        cwd=wf,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.dryrun
def test_profile_and_configfile_compose(tmp_path):
    proc = _dry_run(tmp_path, "--profile", "profiles/tiny", "--configfile", "my.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = dry_run_counts(proc.stdout)
    # the tiny preset with one seed: 63 jobs (two seeds: 112; the paper's scale: 7389)
    assert sum(jobs.values()) == 63
    assert (jobs["pretrain"], jobs["materialize"], jobs["sens"], jobs["evalset"]) == (14, 14, 1, 4)


@pytest.mark.dryrun
def test_command_line_config_that_drops_the_profiles_preset_is_an_error(tmp_path):
    proc = _dry_run(tmp_path, "--profile", "profiles/tiny", "--config", "seeds=1")
    assert proc.returncode != 0
    assert (
        "config key 'preset': profile profiles/tiny sets preset=tiny" in proc.stdout + proc.stderr
    )


@pytest.mark.dryrun
def test_device_cuda_without_cuda_fails_the_local_dry_run_naming_the_key(tmp_path):
    proc = _dry_run(
        tmp_path, "--profile", "profiles/tiny", "--config", "preset=tiny", "device=cuda",
        env={"CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "config key 'device': 'cuda' requested but CUDA is not available" in (
        proc.stdout + proc.stderr
    )


def test_profile_settings_read_like_snakemake(tmp_path):
    from invtransfer.config import profile_settings

    assert profile_settings(ROOT / "profiles/tiny") == {
        "preset": "tiny",
        "config": {"preset": "tiny"},
        "configfiles": [],
    }
    assert profile_settings(ROOT / "profiles/quick")["preset"] == "quick"
    (tmp_path / "extra.yaml").write_text("seeds: 1\n")
    (tmp_path / "config.yaml").write_text(
        "config: ['preset=tiny', 'seeds=3']\nconfigfile: extra.yaml other.yaml\n"
    )
    assert profile_settings(tmp_path) == {
        "preset": "tiny",
        "config": {"preset": "tiny", "seeds": 3},
        "configfiles": [str(tmp_path / "extra.yaml"), "other.yaml"],
    }


@pytest.mark.parametrize("profile", ["quick", "gpu"])
def test_local_profiles_recheck_the_rate_limit_every_five_seconds(profile):
    # Snakemake re-runs its scheduler one rate-limit timespan after every round and each finished
    # job adds a chain of such rounds; the local profiles stretch the timespan to 5 s (measured:
    # Snakemake's own CPU for the quick preset's fig2 74.5 -> 27.9 s) without limiting anything
    from snakemake.settings.types import MaxJobsPerTimespan

    settings = yaml.safe_load((ROOT / "profiles" / profile / "config.yaml").read_text())
    limit = MaxJobsPerTimespan.parse_choice(settings["max-jobs-per-timespan"])
    assert limit.timespan == 5
    assert limit.max_jobs / limit.timespan >= 100  # Snakemake's default rate, still never reached
