"""The experiment expansion: job counts per family match the paper's grid; per-seed draws are right."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from invtransfer.config import load_config
from invtransfer.errors import ConfigError
from invtransfer.experiments import Plan, build_plan, draw_tvo_transforms, twin_seed
from invtransfer.reporting import artifact_tables, final_targets
from invtransfer.transforms import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper_config() -> dict:
    return load_config(ROOT / "config.yaml")


@pytest.fixture(scope="module")
def paper_plan(paper_config):
    return build_plan(paper_config)


def _models_of(plan, table: str) -> set[str]:
    return {r["model"] for r in plan.records[table]}


def test_it_has_38_pretrainings_per_seed_per_architecture(paper_plan, paper_config):
    for arch in ("resnet18", "vgg11", "densenet_cifar", "vit"):
        recs = paper_plan.records[f"it_{arch}"]
        per_seed = Counter(r["seed"] for r in recs)
        assert set(per_seed) == set(range(10))
        assert all(n == 38 for n in per_seed.values())  # 19 image + 19 random models
        assert len(_models_of(paper_plan, f"it_{arch}")) == 380
        types = Counter((r["model_type"], r["train_transform"] == "none") for r in recs)
        assert types[("image", True)] == types[("random", True)] == 10


def test_it_sens_pairs_cover_every_eval_and_transform(paper_plan):
    rec = paper_plan.records["it_resnet18"][0]
    group = paper_plan.requires(rec["sens_path"]).removeprefix("results/sens/")
    assert rec["sens_path"] == f"results/sens/{group}/{rec['model']}.csv"
    pairs = paper_plan.sens[group].models[rec["model"]]
    cells = {(p.eval, p.target_transform) for p in pairs}
    assert len(cells) == 5 * 18


def test_sens_jobs_group_the_models_of_a_seed_and_architecture(paper_plan):
    # IT: one sens job per (architecture, seed) with its 38 models; IFE: one per (variant, seed)
    assert len(paper_plan.sens) == 4 * 10 + 2 * 10
    it = paper_plan.sens["it-resnet18-s3"].models
    assert len(it) == 38
    assert set(it) == {r["model"] for r in paper_plan.records["it_resnet18"] if r["seed"] == 3}
    assert len(paper_plan.sens["ife-fixed-s0"].models) == 4


def test_tm_grid(paper_plan):
    recs = paper_plan.records["tm_resnet18"]
    assert len(recs) == 10 * 8 * 8  # seeds x training sets x target sets
    assert len(_models_of(paper_plan, "tm_resnet18")) == 10 * 8
    for seed in range(10):
        ts = {r["transforms"] for r in recs if r["seed"] == seed}
        assert len(ts) == 1
        drawn = next(iter(ts)).split(",")
        assert len(drawn) == len(set(drawn)) == 8


def test_probe_jobs_are_one_per_model_over_all_its_targets(paper_plan):
    # TM: each model is probed on the 8 nested datasets of its seed by ONE features and ONE
    # probe job (the paper-scale DAG would otherwise hold 2 x 2,560 TM jobs).
    recs = paper_plan.records["tm_resnet18"]
    model = recs[0]["model"]
    targets = [r["transfer_path"].split("/")[3] for r in recs if r["model"] == model]
    assert len(targets) == 8
    assert paper_plan.probes[model].datasets == tuple(targets)
    assert paper_plan.features[model].datasets == tuple(targets)
    assert paper_plan.probes[model].epochs == 200
    # every probe result lives inside its model's probe folder, which is what a rule writes
    for rec in recs[:8]:
        assert paper_plan.requires(rec["transfer_path"]) == f"results/probes/{model}"
        assert (
            rec["transfer_path"]
            == f"results/probes/{model}/{rec['transfer_path'].split('/')[3]}/metrics.json"
        )
    assert paper_plan.requires("results/models/m/metrics.json") == "results/models/m/metrics.json"
    # every (model, dataset) pair of every table is covered by exactly one probe job
    probed = {
        (r["transfer_path"].split("/")[2], r["transfer_path"].split("/")[3])
        for recs in paper_plan.records.values()
        for r in recs
        if r.get("transfer_path", "").startswith("results/probes/")
    }
    jobs = {(m, d) for m, job in paper_plan.probes.items() for d in job.datasets}
    assert probed == jobs
    assert len(paper_plan.probes) == len(paper_plan.features) < len(jobs) / 2


def test_finetuning_is_one_job_per_model_and_target_running_both_regimes(paper_plan):
    recs = paper_plan.records["tvo_t2d_ft-low"] + paper_plan.records["tvo_t2d_ft-high"]
    rec = recs[0]
    model, dataset, regime = rec["transfer_path"].split("/")[2:5]
    job = paper_plan.finetunes[f"{model}/{dataset}"]
    assert list(job.runs) == ["ft-low", "ft-high"] and regime in job.runs
    assert job.runs["ft-low"].n_samples == 200
    assert job.runs["ft-high"].n_samples == 2000
    # every fine-tuning result of every table is a declared output of exactly one job
    wanted = {
        r["transfer_path"]
        for key, rs in paper_plan.records.items()
        if key.startswith("tvo_")
        for r in rs
        if r["transfer_path"].startswith("results/finetune/")
    }
    declared = {
        f"results/finetune/{key}/{regime}/metrics.json"
        for key, job in paper_plan.finetunes.items()
        for regime in job.runs
    }
    assert wanted == declared
    assert len(paper_plan.finetunes) == len(declared) / 2


def test_one_model_cannot_get_two_probe_configurations():
    from invtransfer.experiments import Plan, ProbeJob

    plan = Plan()
    probe = ProbeJob("m", (), epochs=200, batch_size=512, lr=1e-3, seed=0)
    plan.add_probe("m", "d1", probe)
    assert plan.add_probe("m", "d1", probe) == "m/d1"
    assert plan.probes["m"].datasets == ("d1",)
    assert plan.features["m"].datasets == ("d1",)
    with pytest.raises(ValueError, match="different settings"):
        plan.add_probe("m", "d2", dataclasses.replace(probe, epochs=100))


def test_tvo_grid_and_pairs(paper_plan):
    recs = paper_plan.records["tvo_t2d_lp"]
    # factors: 4 class relationships + 5 architectures + 5 sample counts, each same/disjoint
    assert len(recs) == 10 * (4 + 5 + 5) * 2
    per_seed = Counter(r["seed"] for r in recs)
    assert all(n == 28 for n in per_seed.values())
    # the default pair (ResNet-18, 50k, disjoint classes) is shared by the three factors
    assert len({r["model"] for r in recs if r["seed"] == 0}) == 2 * (4 + 4 + 4)
    for regime in ("ft-low", "ft-high"):
        assert len(paper_plan.records[f"tvo_t2d_{regime}"]) == len(recs)


def test_tvo_transform_draws_are_disjoint_and_ordered():
    for seed in range(10):
        same, disjoint = draw_tvo_transforms(seed, "t2d")
        assert set(same).isdisjoint(disjoint)
        for i, cat in enumerate(("geometric", "photometric", "corruption")):
            assert same[i] in CATEGORIES[cat] and disjoint[i] in CATEGORIES[cat]
    draws = {tuple(draw_tvo_transforms(s, "t2d")[0]) for s in range(10)}
    assert len(draws) > 1  # seeds change the draw


def test_tvo_objects_disjoint_between_pretraining_and_target(paper_plan):
    recs = paper_plan.records["tvo_t2d_lp"]
    for seed in range(3):
        rec = next(
            r
            for r in recs
            if r["seed"] == seed and r["factor"] == "class_rel" and r["value"] == "disjoint"
        )
        model = paper_plan.models[rec["model"]]
        pre = paper_plan.datasets[model.dataset]["objects"]["names"]
        target_ds = rec["transfer_path"].split("/")[3]
        target = paper_plan.datasets[target_ds]["objects"]["names"]
        assert len(pre) == len(target) == 30
        assert set(pre).isdisjoint(target)
        sub = next(
            r
            for r in recs
            if r["seed"] == seed and r["factor"] == "class_rel" and r["value"] == "subset"
        )
        sub_objs = paper_plan.datasets[paper_plan.models[sub["model"]].dataset]["objects"]["names"]
        assert len(sub_objs) == 10 and set(sub_objs) <= set(target)


def test_sens_twins_differ_only_in_transform_seed(paper_plan):
    _name, members = next(iter(paper_plan.evalsets.items()))
    a, b = members["rotate.a"], members["rotate.b"]
    assert a["transform_seed"] != b["transform_seed"]
    assert {k: v for k, v in a.items() if k != "transform_seed"} == {
        k: v for k, v in b.items() if k != "transform_seed"
    }
    assert twin_seed(0, "a") != twin_seed(0, "b")


def test_ife_grid(paper_plan):
    t1 = [r for r in paper_plan.records["ife_translate"] if r["experiment"] == "table1"]
    assert len(t1) == 10 * 4 * 4
    sweeps = Counter(r["experiment"] for r in paper_plan.records["ife_fixed"])
    assert sweeps["relevance"] == 10 * 9 * 2 and sweeps["availability"] == 10 * 6 * 2


def test_quick_preset_builds_only_t2d(tmp_path):
    cfg = load_config(ROOT / "config.yaml", ROOT / "profiles/quick/overrides.yaml")
    plan = build_plan(cfg)
    kinds = Counter(spec["kind"] for spec in plan.datasets.values())
    assert set(kinds) <= {"t2d", "random"}
    targets = final_targets(cfg, plan)
    for target in ("figures/fig2.pdf", "figures/fig4.pdf", "figures/fig16.pdf", "tables/table2.md"):
        assert target in targets
    assert "tables/table1.md" not in targets  # IFE needs CIFAR: disabled in the quick preset
    assert artifact_tables("fig3", cfg, plan) == ["tvo_t2d_lp"]


def test_changing_one_factor_value_changes_only_its_jobs():
    base = load_config(ROOT / "config.yaml", ROOT / "profiles/tiny/overrides.yaml")
    changed = load_config(
        ROOT / "config.yaml",
        ROOT / "profiles/tiny/overrides.yaml",
        overrides={"experiments": {"tvo": {"pt_samples": {"t2d": [300, 400]}}}},
    )
    a, b = build_plan(base), build_plan(changed)
    new_models = set(b.models) - set(a.models)
    assert new_models and len(new_models) == 2 * 2  # (same, disjoint) x 2 seeds for n=300
    assert all("-300-s" in b.models[m].dataset for m in new_models)
    assert set(a.models) - set(b.models) == {m for m in a.models if "-200-s" in a.models[m].dataset}


# -- model folders a person can find by hand ------------------------------------------------------
def test_model_folder_name_says_arch_training_data_and_seed():
    from invtransfer.experiments import ModelJob, model_name

    job = ModelJob(
        arch="resnet18",
        arch_kwargs={},
        dataset="t2d-rotate-50k-s3-0123456789",
        seed=3,
        epochs=50,
        batch_size=512,
        lr=0.001,
        weight_decay=0.0,
        schedule="constant",
        warmup_epochs=None,
        min_lr=None,
        augment="none",
        experiment="it",
        label="it-image-rotate-30c-50k",
    )
    assert model_name(job) == "resnet18--it-image-rotate-30c-50k--s3--4807e4"
    # the hash covers what is trained, not the words: another label, same weights, same hash
    relabelled = dataclasses.replace(job, experiment="tm", label="tm-rotate-30c-50k")
    assert model_name(relabelled) == "resnet18--tm-rotate-30c-50k--s3--4807e4"
    assert model_name(dataclasses.replace(job, epochs=49)) != model_name(job)


def test_label_parts():
    from invtransfer.experiments.naming import count_label, ife_label, transforms_label

    assert [count_label(n) for n in (50000, 400, 2500, None, "all")] == [
        "50k",
        "400",
        "2500",
        "all",
        "all",
    ]
    assert (
        count_label(4500, per_class=True) == "4500pc"
        and count_label("all", per_class=True) == "all"
    )
    assert transforms_label([]) == "none"
    assert transforms_label(["rotate", "hue", "blur"]) == "rotate+hue+blur"
    assert transforms_label(["scale", "rotate", "hue", "blur", "noise"]) == "scale+rotate+hue+2more"
    assert ife_label("fixed", "C/C") == "ife-fixed-c_c-all"
    assert ife_label("fixed", "C+O/C", correlation=0.2) == "ife-fixed-co_c-cor0.2-all"
    assert ife_label("translate", "C+O/O", availability=0.4, n_train=2000) == (
        "ife-translate-co_o-av0.4-2k"
    )


@pytest.fixture(scope="module")
def tiny_plan():
    return build_plan(load_config(ROOT / "config.yaml", ROOT / "profiles/tiny/overrides.yaml"))


def test_tiny_model_folders_by_family(tiny_plan):
    import re

    pattern = re.compile(r"^cnn4--(tvo|it|tm)-[a-z0-9_+.-]+--s[01]--[0-9a-f]{6}$")
    assert all(pattern.match(name) for name in tiny_plan.models), sorted(tiny_plan.models)
    stems = Counter(name.rsplit("--", 1)[0] for name in tiny_plan.models)
    same, disjoint = ("+".join(t) for t in draw_tvo_transforms(0, "t2d"))
    # TvO, seed 0: class relationships disjoint and same (4 classes each) at 400 images, and the
    # 200-image pretraining, each for the same and the disjoint transformations
    tvo = {s: n for s, n in stems.items() if s.startswith("cnn4--tvo") and s.endswith("--s0")}
    assert tvo == {
        f"cnn4--tvo-t2d-{same}-4c-400--s0": 2,
        f"cnn4--tvo-t2d-{disjoint}-4c-400--s0": 2,
        f"cnn4--tvo-t2d-{same}-4c-200--s0": 1,
        f"cnn4--tvo-t2d-{disjoint}-4c-200--s0": 1,
    }
    it = sorted(s for s in stems if s.startswith("cnn4--it") and s.endswith("--s1"))
    assert it == [
        f"cnn4--it-{kind}-{t}-4c-400--s1"
        for kind in ("image", "random")
        for t in ("hue", "none", "rotate")
    ]
    tm = sorted(s for s in stems if s.startswith("cnn4--tm"))
    assert len(tm) == 4 and all(
        re.match(r"cnn4--tm-[a-z_]+(\+[a-z_]+)?-4c-400--s[01]$", s) for s in tm
    )


def test_find_models_matches_on_the_typed_jobs(tiny_plan):
    found = tiny_plan.find_models(arch="cnn4", transforms=["rotate"], seed=1, experiment="it")
    assert [n.rsplit("--", 1)[0] for n in found] == [
        "cnn4--it-image-rotate-4c-400--s1",
        "cnn4--it-random-rotate-4c-400--s1",
    ]
    untransformed = tiny_plan.find_models(transforms=["none"], seed=0)
    assert [n.rsplit("--", 1)[0] for n in untransformed] == [
        "cnn4--it-image-none-4c-400--s0",
        "cnn4--it-random-none-4c-400--s0",
    ]
    assert len(tiny_plan.find_models(experiment="tvo")) == 2 * 6
    assert len(tiny_plan.find_models()) == len(tiny_plan.models) == 28
    assert tiny_plan.find_models(arch="resnet18") == []
    # every job is found by its own arch, seed and transformations
    for name, job in tiny_plan.models.items():
        ts = tiny_plan.datasets[job.dataset]["transforms"] or ["none"]
        assert name in tiny_plan.find_models(arch=job.arch, seed=job.seed, transforms=ts)


def test_identical_training_is_one_model_whatever_its_label():
    from invtransfer.experiments import ModelJob, Plan

    cfg = load_config(ROOT / "config.yaml")
    plan = Plan()
    a = ModelJob.from_config(cfg, "resnet18", "d", 0, experiment="it", label="it-image-x")
    b = dataclasses.replace(a, experiment="tm", label="tm-x")
    assert (
        plan.add_model(a) == plan.add_model(b) == "resnet18--it-image-x--s0--" + a.training_hash()
    )
    assert len(plan.models) == 1


# -- the IFE family's own training settings and the sens layer (issue 11) -------------------------
def test_ife_models_train_with_the_references_settings(paper_plan):
    ife = {n: j for n, j in paper_plan.models.items() if j.experiment == "ife"}
    assert len(ife) == 10 * (4 + 3 + 8 + 5)  # fixed 4 + translate 3 (C/C is shared) + sweeps
    assert {j.epochs for j in ife.values()} == {200}
    assert {paper_plan.probes[n].epochs for n in ife} == {100}
    cc = {n for n, j in ife.items() if j.augment == "crop-flip"}
    assert len(cc) == 10 and all("--ife-fixed-c_c-cropflip-all--" in n for n in cc)
    assert all(paper_plan.models[n].to_params()["augment"] == "crop-flip" for n in cc)
    assert all("augment" not in j.to_params() for n, j in ife.items() if n not in cc)
    # every other family keeps training.pretrain / training.probe
    others = [j for j in paper_plan.models.values() if j.experiment != "ife"]
    assert {j.epochs for j in others} == {50}
    assert {paper_plan.probes[n].epochs for n, j in paper_plan.models.items()
            if j.experiment in ("tvo", "tm")} == {200}  # fmt: skip


def test_ife_settings_are_config_keys():
    cfg = load_config(
        ROOT / "config.yaml",
        overrides={
            "seeds": 1,
            "experiments": {
                "tvo": {"families": []},
                "it": {"enabled": False},
                "tm": {"enabled": False},
                "ife": {"pretrain_epochs": 7, "probe_epochs": 3, "cc_augment": "none"},
            },
        },
    )
    plan = build_plan(cfg)
    assert {j.epochs for j in plan.models.values()} == {7}
    assert {p.epochs for p in plan.probes.values()} == {3}
    assert {j.augment for j in plan.models.values()} == {"none"}
    assert [n.rsplit("--", 1)[0] for n in plan.find_models(transforms=[]) if "c_c" in n] == [
        "resnet18--ife-fixed-c_c-all--s0"
    ]


def test_sens_jobs_carry_the_layer(paper_plan):
    assert {job.layer for job in paper_plan.sens.values()} == {"penultimate"}
    cfg = load_config(
        ROOT / "config.yaml", ROOT / "profiles/tiny/overrides.yaml",
        overrides={"sens": {"layer": "reference"}},
    )  # fmt: skip
    plan = build_plan(cfg)
    assert len(plan.sens) == 2
    for job in plan.sens.values():
        assert job.to_params()["layer"] == "reference"
        assert job.settings() == {"pairs": 100, "estimator": "global", "layer": "reference"}


def test_background_bank_is_the_same_for_every_seed_unless_asked(tmp_path):
    """The paper uses one set of 867 backgrounds for every D(O,T) (Sec. 3.3): by default the bank
    of crops does not depend on the experiment seed; `bank_seed: per-seed` draws one per seed."""
    from invtransfer.config import load_config
    from invtransfer.experiments import build_plan

    root = Path(__file__).resolve().parents[1]
    tiny = root / "profiles" / "tiny" / "overrides.yaml"
    for mode, expect_one in (("fixed", True), ("per-seed", False)):
        cfg = load_config(
            root / "config.yaml", tiny, overrides={"assets": {"backgrounds": {"bank_seed": mode}}}
        )
        plan = build_plan(cfg)
        banks = {
            (spec["backgrounds"]["seed"], spec["seed"])
            for spec in plan.datasets.values()
            if spec["kind"] == "t2d"
        }
        bank_seeds = {b for b, _ in banks}
        assert len({s for _, s in banks}) == 2  # both experiment seeds have t2d datasets
        assert (bank_seeds == {0}) if expect_one else (bank_seeds == {0, 1}), (mode, banks)


def test_it_models_can_train_on_fewer_images_than_the_other_experiments():
    """experiments.it.n_train (null = data.n_train, the paper's one size for every model) sizes
    the invariance-transfer models' training data only; their evaluation sets keep data.n_test."""
    from invtransfer.config import load_config
    from invtransfer.experiments import build_plan

    root = Path(__file__).resolve().parents[1]
    tiny = root / "profiles" / "tiny" / "overrides.yaml"
    plan = build_plan(
        load_config(root / "config.yaml", tiny, overrides={"experiments": {"it": {"n_train": 150}}})
    )
    it_models = [j for j in plan.models.values() if j.experiment == "it"]
    other = [j for j in plan.models.values() if j.experiment != "it"]
    assert it_models and other
    assert {plan.datasets[j.dataset]["splits"]["train"] for j in it_models} == {150}
    assert {plan.datasets[j.dataset]["splits"]["train"] for j in other} >= {400}
    assert all("-150--s" in name for name, j in plan.models.items() if j.experiment == "it")
    evalsets = [m for n, ms in plan.evalsets.items() if n.startswith("it-") for m in ms.values()]
    assert {m["splits"]["test"] for m in evalsets} == {200}  # tiny's data.n_test


def test_min_steps_gives_small_pretrainings_more_epochs_and_is_off_by_default(paper_plan):
    """experiments.tvo.min_steps (the quick preset's convergence rule): a TvO pretraining on n
    images gets max(epochs, ceil(min_steps / ceil(n / batch))) epochs; the paper trains every size
    for the same epochs, so the default (null) leaves every model at training.pretrain.epochs; the
    other families never use it."""
    assert {j.epochs for j in paper_plan.models.values() if j.experiment == "tvo"} == {50}
    overrides = {
        "seeds": 1,
        "data": {"n_train": 2000},
        "training": {"pretrain": {"epochs": 4, "batch_size": 100}},
        "experiments": {
            "tvo": {"families": ["t2d"], "regimes": ["lp"], "architectures": ["cnn4"], "min_steps": 80,
                    "default_arch": "cnn4", "pt_samples": {"t2d": [300, 1000, 2000]},
                    "default_pt_samples": {"t2d": 2000}},
            "it": {"n_train": 300, "architectures": ["cnn4"], "transforms": ["rotate"]},
            "tm": {"enabled": False}, "ife": {"enabled": False},
        },
    }  # fmt: skip
    plan = build_plan(load_config(ROOT / "config.yaml", overrides=overrides))
    assert {j.epochs for j in plan.models.values() if j.experiment == "it"} == {4}
    plan.models = {n: j for n, j in plan.models.items() if j.experiment == "tvo"}
    by_size = {plan.datasets[j.dataset]["splits"]["train"]: j.epochs for j in plan.models.values()}
    # 300 images: 3 steps per epoch -> 27 epochs; 1000: 10 -> 8; 2000: 20 per epoch x 4 = 80
    assert by_size == {300: 27, 1000: 8, 2000: 4}


def _small_family_plan(pretrain: dict, it: dict, tm: dict) -> Plan:
    """The plan of one seed of 200-image TvO, IT (rotate) and TM (2 transformations) `cnn4`
    models with ``training.pretrain`` and the IT/TM keys given."""
    overrides = {
        "seeds": 1,
        "data": {"n_train": 200, "n_val": 50, "n_test": 50},
        "training": {"pretrain": pretrain},
        "experiments": {
            "tvo": {"families": ["t2d"], "regimes": ["lp"], "architectures": ["cnn4"],
                    "default_arch": "cnn4", "pt_samples": {"t2d": [200]},
                    "default_pt_samples": {"t2d": 200}},
            "it": {"architectures": ["cnn4"], "transforms": ["rotate"], **it},
            "tm": {"architectures": ["cnn4"], "n_transforms": 2, **tm},
            "ife": {"enabled": False},
        },
    }  # fmt: skip
    return build_plan(load_config(ROOT / "config.yaml", overrides=overrides))


def _per_family(plan: Plan, attribute: str) -> dict[str, set]:
    return {
        e: {getattr(j, attribute) for j in plan.models.values() if j.experiment == e}
        for e in ("tvo", "it", "tm")
    }


def test_random_pixels_reaches_every_structured_random_dataset_and_nothing_else():
    """data.random_pixels (FIDELITY D13): uniform (default, the paper's App. D.1) leaves every
    spec as it was; float32-bytes sets the patterns' and backgrounds' pixels of every structured
    random dataset (the IT random models' data, the random OOD evaluation sets) and of nothing else."""

    def random_specs(plan: Plan) -> dict[str, dict]:
        specs = dict(plan.datasets)
        specs.update({f"{n}/{k}": s for n, ms in plan.evalsets.items() for k, s in ms.items()})
        return specs

    default = _small_family_plan({"epochs": 1}, {}, {})
    overrides = {"data": {"random_pixels": "float32-bytes"}}
    ref = build_plan(load_config(ROOT / "config.yaml", overrides=overrides))
    base = build_plan(load_config(ROOT / "config.yaml"))
    for plan in (default, base):
        assert all(
            "pixels" not in s.get("objects", {}) and "pixels" not in s.get("backgrounds", {})
            for s in random_specs(plan).values()
        )
    specs = random_specs(ref)
    rand = {n: s for n, s in specs.items() if s["kind"] == "random"}
    assert rand and len(rand) < len(specs)
    assert all(s["objects"]["pixels"] == "float32-bytes" for s in rand.values())
    assert all(s["backgrounds"]["pixels"] == "float32-bytes" for s in rand.values())
    other = {n for n, s in specs.items() if s["kind"] != "random"}
    assert other <= set(random_specs(base))  # image datasets keep their names (and data)
    assert not set(rand) & set(random_specs(base))  # random ones are new datasets
    with pytest.raises(ConfigError, match=r"data\.random_pixels"):
        load_config(ROOT / "config.yaml", overrides={"data": {"random_pixels": "bytes"}})


def test_it_and_tm_pretrain_epochs_override_only_their_family(paper_plan):
    """experiments.it/tm.pretrain_epochs: null (default) = training.pretrain.epochs, the paper's 50
    for every family; a value sets that family's epochs and no other family's."""
    assert {j.epochs for j in paper_plan.models.values() if j.experiment in ("it", "tm")} == {50}
    plan = _small_family_plan({"epochs": 4}, {"pretrain_epochs": 9}, {"pretrain_epochs": 7})
    assert _per_family(plan, "epochs") == {"tvo": {4}, "it": {9}, "tm": {7}}


def test_tm_pretrain_batch_size_overrides_only_the_mismatch_models(paper_plan):
    """experiments.tm.pretrain_batch_size: null (default) = training.pretrain.batch_size for the
    mismatch models too; a value sets their batch size (and so their steps, their folder's
    hash) and no other family's."""
    batch = {j.batch_size for j in paper_plan.models.values()}
    assert batch == {load_config(ROOT / "config.yaml")["training"]["pretrain"]["batch_size"]}
    pretrain = {"epochs": 4, "batch_size": 32}
    plan = _small_family_plan(pretrain, {}, {"pretrain_batch_size": 16})
    assert _per_family(plan, "batch_size") == {"tvo": {32}, "it": {32}, "tm": {16}}
    tm_jobs = [j for j in plan.models.values() if j.experiment == "tm"]
    assert {j.to_params()["batch_size"] for j in tm_jobs} == {16}  # what the step receives
    default = _small_family_plan(pretrain, {}, {})
    assert _per_family(default, "batch_size")["tm"] == {32}
    tm_names = {n for n, j in plan.models.items() if j.experiment == "tm"}
    assert tm_names.isdisjoint(default.models)  # another batch size is another model
