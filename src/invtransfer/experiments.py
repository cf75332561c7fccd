"""The paper's experiments as data: expand the config into concrete jobs per seed.

:func:`build_plan` turns the validated config into a :class:`Plan` — every dataset spec, evaluation
set, model, feature cache, probe, fine-tuning and sens job, keyed by readable unique names — plus,
for every table and figure, the *records* (job metadata + result paths) that aggregation turns into
tidy CSVs. The Snakemake rules only look names up in the plan; no experiment logic lives in rules.

Per-seed sampling follows ``shared/spec/experiments.md``:

* TvO: draw 2·K objects, O_e = first K (target), O_t = the rest; per category (geometric,
  photometric, corruption) draw 2 types, T_e takes the first of each, T_t the second. Pretraining
  pairs: g_s on D(O_rel, T_e) ("same"), g_d on D(O_rel, T_t) ("disjoint"); target D(O_e, T_e).
* IT: 2·K objects (primary / secondary), two random pattern sets; 19 image + 19 random models.
* TM: K objects, n transforms drawn from all 18, nested prefixes T_1 ⊂ … ⊂ T_n.
* IFE: 10 objects pasted onto CIFAR-10 (Table 1, relevance and availability sweeps).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from invtransfer.config import resolve_arch
from invtransfer.datasets.spec import dataset_name, hashed_part
from invtransfer.rng import derive_seed

__all__ = ["Plan", "build_plan", "finetune_regimes", "spec_hash"]

CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}


def spec_hash(obj: Any, length: int = 10) -> str:
    """Hash of the canonical JSON of a job dict; keys starting with ``_`` are ignored."""
    text = json.dumps(hashed_part(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass
class Plan:
    """Everything one config asks for, by name. Names are path components under ``results/``."""

    datasets: dict[str, dict] = field(default_factory=dict)
    evalsets: dict[str, dict[str, dict]] = field(default_factory=dict)  # name -> {member: spec}
    models: dict[str, dict] = field(default_factory=dict)
    # One features job and one probe job per model, over all of that model's target datasets
    # (the invariance-mismatch grid probes each model on 8 datasets: 8x fewer jobs this way).
    features: dict[str, dict] = field(default_factory=dict)  # model -> {model, datasets}
    probes: dict[str, dict] = field(default_factory=dict)  # model -> {model, datasets, hparams}
    # "model/dataset" -> {model, dataset, runs: {regime: hparams}}: both regimes in one job
    finetunes: dict[str, dict] = field(default_factory=dict)
    # One sens job per group of models that share their evaluation sets (IT: a seed and an
    # architecture, 38 models; IFE: a seed and a variant, 4 models): the evaluation data are
    # read once per group, and the paper-scale DAG has 60 sens jobs instead of 1,600.
    sens: dict[str, dict] = field(default_factory=dict)  # group -> {models: {model: pairs}}
    records: dict[str, list[dict]] = field(default_factory=dict)  # table key -> records
    notes: dict[str, str] = field(default_factory=dict)  # table key -> why it is absent

    # -- registration helpers (dedupe identical artifacts) ------------------------------------
    def add_dataset(self, spec: dict) -> str:
        name = dataset_name(spec)
        self.datasets.setdefault(name, spec)
        return name

    def add_evalset(self, label: str, members: dict[str, dict]) -> str:
        name = f"{label}-{spec_hash(members)}"
        self.evalsets.setdefault(name, members)
        return name

    def add_model(self, job: dict) -> str:
        name = f"{job['arch']}--{job['dataset']}--{spec_hash(job, 6)}"
        self.models.setdefault(name, job)
        return name

    def add_probe(self, model: str, dataset: str, probe: dict) -> str:
        """Probe ``model`` on ``dataset``; returns ``"model/dataset"``, the folder of its result
        under ``results/probes/`` (inside the model's probe folder, see :meth:`requires`)."""
        job = self.probes.setdefault(model, {"model": model, "datasets": [], **probe})
        clash = {k: (job[k], v) for k, v in probe.items() if job.get(k) != v}
        if clash:
            raise ValueError(
                f"model {model} is probed with different settings {clash}; one model has one "
                "probe configuration"
            )
        if dataset not in job["datasets"]:
            job["datasets"].append(dataset)
            self.features.setdefault(model, {"model": model, "datasets": []})
            self.features[model]["datasets"].append(dataset)
        return f"{model}/{dataset}"

    @staticmethod
    def requires(path: str) -> str:
        """The workflow artifact that produces the result file ``path``: a probe result
        ``results/probes/<model>/<dataset>/metrics.json`` is inside the folder the model's probe
        job writes (``results/probes/<model>``), a sens result ``results/sens/<group>/<model>.csv``
        inside its group's folder; every other result file is its own artifact."""
        parts = path.split("/")
        if len(parts) > 3 and parts[0] == "results" and parts[1] in ("probes", "sens"):
            return "/".join(parts[:3])
        return path

    def add_finetune(self, model: str, dataset: str, regime: str, job: dict) -> str:
        """Fine-tune ``model`` on ``dataset`` in ``regime``; one job per (model, dataset) runs
        every regime. Returns ``"model/dataset/regime"``, its folder under results/finetune/."""
        entry = self.finetunes.setdefault(
            f"{model}/{dataset}", {"model": model, "dataset": dataset, "runs": {}}
        )
        entry["runs"].setdefault(regime, job)
        return f"{model}/{dataset}/{regime}"

    def add_sens(self, model: str, group: str, pairs: list[dict]) -> str:
        """sens of ``model`` on ``pairs`` within sens job ``group``; returns the path of the
        model's result file (inside the group's folder, see :meth:`requires`)."""
        job = self.sens.setdefault(group, {"models": {}})
        job["models"].setdefault(model, []).extend(pairs)
        return f"results/sens/{group}/{model}.csv"

    def record(self, table: str, row: dict) -> None:
        self.records.setdefault(table, []).append(row)


# ---------------------------------------------------------------------------------------------
# Spec builders
# ---------------------------------------------------------------------------------------------
def _data(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["data"]


def _transform_options(config: Mapping[str, Any], whole_image: bool = False) -> dict:
    opts = dict(_data(config).get("transform_options", {}))
    cifar_translate = opts.pop("cifar_translate", "image")
    out = {k: v for k, v in opts.items() if k != "image_translate_fraction"}
    if whole_image:
        out["translate"] = cifar_translate
        out["image_translate_fraction"] = opts.get("image_translate_fraction", 0.25)
    return out


def _splits(config: Mapping[str, Any], n_train: int | None = None, test_only: bool = False) -> dict:
    d = _data(config)
    if test_only:
        return {"test": int(d["n_test"])}
    return {
        "train": int(n_train if n_train is not None else d["n_train"]),
        "val": int(d["n_val"]),
        "test": int(d["n_test"]),
    }


def _common(config: Mapping[str, Any]) -> dict:
    d = _data(config)
    return {
        "image_size": int(config["image_size"]),
        "object_scale": float(d.get("object_scale", 0.7)),
        "squash_aspect": bool(d.get("squash_aspect", True)),
        **({"prototype_resample": d["prototype_resample"]} if "prototype_resample" in d else {}),
        "class_balance": d.get("class_balance", "iid"),
        "shard_size": int(d.get("shard_size", 10000)),
    }


_OBJECT_ONLY_KEYS = ("object_scale", "squash_aspect", "prototype_resample")  # not for random


def _object_source(config: Mapping[str, Any]) -> dict:
    src = config["assets"]["objects"]
    out = {"source": src["source"]}
    for key in ("path", "font"):
        if src.get(key):
            out["_" + key] = src[key]  # location, not content: excluded from the name hash
    return out


def _background_source(config: Mapping[str, Any], seed: int) -> dict:
    bg = config["assets"]["backgrounds"]
    out = {
        "source": bg["source"],
        "bank_size": int(bg.get("bank_size", 867)),
        "split_photos": bg.get("split_photos", "shared"),
        "seed": int(seed),
    }
    if bg.get("path"):
        out["_path"] = bg["path"]
    return out


def t2d_spec(
    config: Mapping[str, Any],
    objects: list[str],
    transforms: list[str],
    seed: int,
    *,
    n_train: int | None = None,
    test_only: bool = False,
    transform_seed: int | None = None,
) -> dict:
    return {
        "kind": "t2d",
        "objects": {**_object_source(config), "names": list(objects)},
        "backgrounds": _background_source(config, seed),
        "transforms": list(transforms),
        "transform_options": _transform_options(config),
        "splits": _splits(config, n_train, test_only),
        "seed": int(seed),
        "transform_seed": int(seed if transform_seed is None else transform_seed),
        **_common(config),
    }


def random_spec(
    config: Mapping[str, Any],
    n_classes: int,
    pattern_seed: int,
    transforms: list[str],
    seed: int,
    *,
    test_only: bool = False,
    transform_seed: int | None = None,
) -> dict:
    return {
        "kind": "random",
        "objects": {"source": "random", "count": int(n_classes), "seed": int(pattern_seed)},
        "backgrounds": {"source": "random"},
        "transforms": list(transforms),
        "transform_options": _transform_options(config),
        "splits": _splits(config, None, test_only),
        "seed": int(seed),
        "transform_seed": int(seed if transform_seed is None else transform_seed),
        **{k: v for k, v in _common(config).items() if k not in _OBJECT_ONLY_KEYS},
    }


def _cifar_root(config: Mapping[str, Any]) -> str:
    return str(config["assets"]["cifar"].get("path", "data/cifar"))


def cifar_spec(
    config: Mapping[str, Any],
    dataset: str,
    classes: list[int],
    transforms: list[str],
    seed: int,
    *,
    samples_per_class: int | str | None = None,
    test_only: bool = False,
    transform_seed: int | None = None,
) -> dict:
    spc = None if samples_per_class in (None, "all") else int(samples_per_class)
    return {
        "kind": "cifar",
        "dataset": dataset,
        "classes": [int(c) for c in classes],
        "samples_per_class": {"train": spc},
        "splits": ({"test": None} if test_only else {"train": None, "val": None, "test": None}),
        "val_fraction": float(config["assets"]["cifar"].get("val_fraction", 0.1)),
        "transforms": list(transforms),
        "transform_options": _transform_options(config, whole_image=True),
        "seed": int(seed),
        "transform_seed": int(seed if transform_seed is None else transform_seed),
        "image_size": int(config["image_size"]),
        "shard_size": int(_data(config).get("shard_size", 10000)),
        "_root": _cifar_root(config),
    }


def twin_seed(seed: int, which: str = "b") -> int:
    """The transformation seed of a sens twin (same objects and backgrounds, new draws)."""
    return derive_seed("twin", which, seed) & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------------
# Models, probes
# ---------------------------------------------------------------------------------------------
def model_job(config: Mapping[str, Any], arch: str, dataset: str, seed: int) -> dict:
    arch = resolve_arch(arch, config)
    tr = config["training"]
    pre = tr["pretrain"]
    job = {
        "arch": arch,
        "arch_kwargs": dict(config.get("models", {}).get("arch_kwargs", {}).get(arch, {})),
        "dataset": dataset,
        "seed": int(seed),
        "epochs": int(pre["epochs"]),
        "batch_size": int(pre["batch_size"]),
        "lr": float(pre["lr"]),
        "weight_decay": float(pre.get("weight_decay", 0.0)),
        "schedule": "constant",
    }
    if arch == "vit":
        vit = tr.get("vit", {})
        job.update(
            schedule="vit",
            warmup_epochs=int(vit.get("warmup_epochs", 5)),
            min_lr=float(vit.get("min_lr", 1e-5)),
            weight_decay=float(vit.get("weight_decay", 1e-5)),
        )
    return job


def probe_params(config: Mapping[str, Any], seed: int) -> dict:
    p = config["training"]["probe"]
    return {
        "epochs": int(p["epochs"]),
        "batch_size": int(p["batch_size"]),
        "lr": float(p["lr"]),
        "seed": int(seed),
    }


def finetune_params(config: Mapping[str, Any], n_samples: int | float, seed: int) -> dict:
    f = config["training"]["finetune"]
    return {
        "n_samples": n_samples,
        "epochs": int(f["epochs"]),
        "batch_size": int(f["batch_size"]),
        "lr": float(f["lr"]),
        "lr_decay_epochs": f.get("lr_decay_epochs"),
        "seed": int(seed),
    }


# ---------------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------------
def _rng(*parts: int | str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(*parts))


def _object_pool(config: Mapping[str, Any]) -> list[str]:
    from invtransfer.assets import available_object_names

    cfg = config["assets"]["objects"]
    names = list(available_object_names(cfg))
    if cfg.get("names"):
        return list(cfg["names"])
    return names[: int(cfg.get("count", len(names)))]


def _categories() -> dict[str, tuple[str, ...]]:
    from invtransfer.transforms import CATEGORIES

    return dict(CATEGORIES)


def _all_transforms() -> list[str]:
    from invtransfer.transforms import TRANSFORMS

    return list(TRANSFORMS)


def draw_tvo_transforms(seed: int, family: str) -> tuple[list[str], list[str]]:
    """T_e (target/"same") and T_t ("disjoint"): per category draw 2 types, first → T_e."""
    rng = _rng("tvo-transforms", family, seed)
    same, disjoint = [], []
    for cat in ("geometric", "photometric", "corruption"):
        a, b = rng.choice(list(_categories()[cat]), size=2, replace=False)
        same.append(str(a))
        disjoint.append(str(b))
    return same, disjoint


def _subset_size(n: int) -> int:
    return max(2, round(n / 3))


def _tvo(plan: Plan, config: Mapping[str, Any], seeds: list[int]) -> None:
    tvo = config["experiments"].get("tvo", {})
    families = tvo.get("families", [])
    regimes = tvo.get("regimes", ["lp"])
    default_arch = tvo.get("default_arch", "resnet18")
    archs = tvo.get("architectures", [default_arch])
    rels = tvo.get("class_relationships", ["disjoint"])
    for family in ("t2d", "cifar10", "cifar100"):
        if family not in families:
            for regime in ("lp", "ft-low", "ft-high"):
                plan.notes[f"tvo_{family}_{regime}"] = (
                    f"family {family} not in experiments.tvo.families"
                )
    for family in families:
        k = int(tvo.get("n_classes", {}).get(family, 30 if family == "t2d" else 5))
        pt_values = list(tvo.get("pt_samples", {}).get(family, []))
        pt_default = tvo.get("default_pt_samples", {}).get(
            family, config["data"]["n_train"] if family == "t2d" else "all"
        )
        for seed in seeds:
            same_t, disj_t = draw_tvo_transforms(seed, family)
            rng = _rng("tvo-classes", family, seed)
            if family == "t2d":
                pool = _object_pool(config)
                drawn = [pool[i] for i in rng.choice(len(pool), size=2 * k, replace=False)]
            else:
                drawn = [int(c) for c in rng.permutation(CIFAR_CLASSES[family])[: 2 * k]]
            target, train = drawn[:k], drawn[k:]
            rel_classes = {
                "subset": target[: _subset_size(k)],
                "disjoint": train,
                "same": target,
                "superset": target + train,
            }

            def make(classes, transforms, n, family=family, seed=seed):
                if family == "t2d":
                    return t2d_spec(config, classes, transforms, seed, n_train=n)
                return cifar_spec(config, family, classes, transforms, seed, samples_per_class=n)

            target_n = None if family == "t2d" else "all"
            target_ds = plan.add_dataset(make(target, same_t, target_n))
            runs: list[
                tuple[str, str, int, str, str, Any]
            ] = []  # factor, value, order, arch, rel, n
            for i, rel in enumerate(rels):
                runs.append(("class_rel", rel, i, default_arch, rel, pt_default))
            for i, arch in enumerate(archs):
                runs.append(("arch", arch, i, arch, "disjoint", pt_default))
            for i, n in enumerate(pt_values):
                runs.append(("pt_samples", str(n), i, default_arch, "disjoint", n))
            for factor, value, order, arch, rel, n in runs:
                for relation, transforms in (("same", same_t), ("disjoint", disj_t)):
                    ds = plan.add_dataset(make(rel_classes[rel], transforms, n))
                    model = plan.add_model(model_job(config, arch, ds, seed))
                    probe = plan.add_probe(model, target_ds, probe_params(config, seed))
                    meta = {
                        "family": family,
                        "factor": factor,
                        "value": value,
                        "value_order": order,
                        "relation": relation,
                        "seed": seed,
                        "arch": resolve_arch(arch, config),
                        "model": model,
                    }
                    for regime in regimes:
                        if regime == "lp":
                            result = f"results/probes/{probe}/metrics.json"
                        else:
                            n_ft = tvo["finetune_samples"][family][regime]
                            ft = plan.add_finetune(
                                model, target_ds, regime, finetune_params(config, n_ft, seed)
                            )
                            result = f"results/finetune/{ft}/metrics.json"
                        plan.record(
                            f"tvo_{family}_{regime}",
                            {
                                **meta,
                                "regime": regime,
                                "training_path": f"results/models/{model}/metrics.json",
                                "transfer_path": result,
                            },
                        )
        for regime in ("lp", "ft-low", "ft-high"):
            if regime not in regimes:
                plan.notes[f"tvo_{family}_{regime}"] = (
                    f"regime {regime} not in experiments.tvo.regimes"
                )


IT_EVAL_SOURCES = {
    # eval column -> (image models' data, random models' data)
    "in_dist": ("op-img", "rp-rand"),
    "mild_ood": ("os-img", "rs-rand"),
    "strong_ood": ("rs-rand", "os-img"),
    "cifar10": ("cifar10", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
}


def _it(plan: Plan, config: Mapping[str, Any], seeds: list[int]) -> None:
    it = config["experiments"].get("it", {})
    if not it.get("enabled", False):
        plan.notes["it"] = "experiments.it.enabled is false"
        return
    k = int(it.get("n_classes", 30))
    transforms = (
        _all_transforms() if it.get("transforms", "all") == "all" else list(it["transforms"])
    )
    evals = list(it.get("evals", IT_EVAL_SOURCES))
    for seed in seeds:
        rng = _rng("it-objects", seed)
        pool = _object_pool(config)
        drawn = [pool[i] for i in rng.choice(len(pool), size=2 * k, replace=False)]
        o_p, o_s = drawn[:k], drawn[k:]
        pattern = {
            "rp": derive_seed("it-rp", seed) & 0x7FFFFFFF,
            "rs": derive_seed("it-rs", seed) & 0x7FFFFFFF,
        }
        sources = {s for e in evals for s in IT_EVAL_SOURCES[e]}

        def eval_spec(source, t, tseed, seed=seed, o_p=o_p, o_s=o_s, pattern=pattern):
            if source in ("op-img", "os-img"):
                objs = o_p if source == "op-img" else o_s
                return t2d_spec(config, objs, [t], seed, test_only=True, transform_seed=tseed)
            if source in ("rp-rand", "rs-rand"):
                return random_spec(
                    config, k, pattern[source[:2]], [t], seed, test_only=True, transform_seed=tseed
                )
            n_test = min(int(config["data"]["n_test"]), 10000)
            spec = cifar_spec(
                config,
                source,
                list(range(CIFAR_CLASSES[source])),
                [t],
                seed,
                test_only=True,
                transform_seed=tseed,
            )
            spec["splits"] = {"test": n_test}
            return spec

        evalsets = {}
        for source in sorted(sources):
            members = {}
            for t in transforms:
                members[f"{t}.a"] = eval_spec(source, t, twin_seed(seed, "a"))
                members[f"{t}.b"] = eval_spec(source, t, twin_seed(seed, "b"))
            evalsets[source] = plan.add_evalset(f"it-{source}-s{seed}", members)
        for arch in it.get("architectures", ["resnet18"]):
            arch_r = resolve_arch(arch, config)
            for model_type in ("image", "random"):
                for train_t in [*transforms, "none"]:
                    ts = [] if train_t == "none" else [train_t]
                    if model_type == "image":
                        spec = t2d_spec(config, o_p, ts, seed)
                    else:
                        spec = random_spec(config, k, pattern["rp"], ts, seed)
                    ds = plan.add_dataset(spec)
                    model = plan.add_model(model_job(config, arch, ds, seed))
                    pairs = []
                    for e in evals:
                        source = IT_EVAL_SOURCES[e][0 if model_type == "image" else 1]
                        for t in transforms:
                            pairs.append(
                                {
                                    "eval": e,
                                    "target_transform": t,
                                    "evalset": evalsets[source],
                                    "a": f"{t}.a",
                                    "b": f"{t}.b",
                                }
                            )
                    sens_path = plan.add_sens(model, f"it-{arch_r}-s{seed}", pairs)
                    plan.record(
                        f"it_{arch_r}",
                        {
                            "arch": arch_r,
                            "seed": seed,
                            "model_type": model_type,
                            "train_transform": train_t,
                            "model": model,
                            "sens_path": sens_path,
                        },
                    )


def _tm(plan: Plan, config: Mapping[str, Any], seeds: list[int]) -> None:
    tm = config["experiments"].get("tm", {})
    if not tm.get("enabled", False):
        plan.notes["tm"] = "experiments.tm.enabled is false"
        return
    k = int(tm.get("n_classes", 30))
    n_t = int(tm.get("n_transforms", 8))
    for seed in seeds:
        rng = _rng("tm", seed)
        ts = [str(t) for t in rng.choice(_all_transforms(), size=n_t, replace=False)]
        pool = _object_pool(config)
        objs = [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]
        datasets = [
            plan.add_dataset(t2d_spec(config, objs, ts[:j], seed)) for j in range(1, n_t + 1)
        ]
        for arch in tm.get("architectures", ["resnet18"]):
            arch_r = resolve_arch(arch, config)
            for i, ds_train in enumerate(datasets, start=1):
                model = plan.add_model(model_job(config, arch, ds_train, seed))
                for j, ds_target in enumerate(datasets, start=1):
                    probe = plan.add_probe(model, ds_target, probe_params(config, seed))
                    plan.record(
                        f"tm_{arch_r}",
                        {
                            "arch": arch_r,
                            "seed": seed,
                            "n_train_transforms": i,
                            "n_target_transforms": j,
                            "model": model,
                            "transforms": ",".join(ts),
                            "transfer_path": f"results/probes/{probe}/metrics.json",
                        },
                    )


IFE_CORE = ("C/C", "C+O/C", "C+O/O", "O/O")


def ife_spec(
    config: Mapping[str, Any],
    variant: str,
    objects: list[str],
    seed: int,
    *,
    placement: str,
    correlation: float = 0.0,
    availability: float = 1.0,
    cifar_seed: int | None = None,
    object_seed: int | None = None,
    test_only: bool = False,
) -> dict:
    spec = {
        "kind": "cifar_objects",
        "variant": variant,
        "objects": {**_object_source(config), "names": list(objects)},
        "placement": placement,
        "correlation": float(correlation),
        "availability": float(availability),
        "splits": ({"test": None} if test_only else {"train": None, "val": None, "test": None}),
        "val_fraction": float(config["assets"]["cifar"].get("val_fraction", 0.1)),
        "seed": int(seed),
        "cifar_seed": int(seed if cifar_seed is None else cifar_seed),
        "object_seed": int(seed if object_seed is None else object_seed),
        "image_size": int(config["image_size"]),
        "shard_size": int(_data(config).get("shard_size", 10000)),
        "_root": _cifar_root(config),
    }
    ife_n = config["experiments"].get("ife", {}).get("n_train")
    if ife_n and not test_only:
        spec["splits"]["train"] = int(ife_n)
    return spec


def _ife(plan: Plan, config: Mapping[str, Any], seeds: list[int]) -> None:
    ife = config["experiments"].get("ife", {})
    if not ife.get("enabled", False):
        plan.notes["ife"] = "experiments.ife.enabled is false"
        return
    arch = ife.get("arch", "resnet18")
    for seed in seeds:
        rng = _rng("ife-objects", seed)
        pool = _object_pool(config)
        objs = [
            pool[i]
            for i in rng.choice(len(pool), size=int(ife.get("n_objects", 10)), replace=False)
        ]
        for variant in ife.get("variants", ["fixed", "translate"]):
            placement = "upper-right" if variant == "fixed" else "random"
            core = {
                v: plan.add_dataset(ife_spec(config, v, objs, seed, placement=placement))
                for v in IFE_CORE
            }
            models = {v: plan.add_model(model_job(config, arch, core[v], seed)) for v in IFE_CORE}
            for pre in IFE_CORE:
                for tgt in IFE_CORE:
                    probe = plan.add_probe(models[pre], core[tgt], probe_params(config, seed))
                    plan.record(
                        f"ife_{variant}",
                        {
                            "seed": seed,
                            "variant": variant,
                            "experiment": "table1",
                            "sweep_value": float("nan"),
                            "pretrain": pre,
                            "target": tgt,
                            "transfer_path": f"results/probes/{probe}/metrics.json",
                        },
                    )
            # sens pairs on C+O test data: change the CIFAR image / change the object.
            base = ife_spec(config, "C+O/C", objs, seed, placement=placement, test_only=True)
            other_cifar = ife_spec(
                config,
                "C+O/C",
                objs,
                seed,
                placement=placement,
                test_only=True,
                cifar_seed=seed + 1,
            )
            other_obj = ife_spec(
                config,
                "C+O/C",
                objs,
                seed,
                placement=placement,
                test_only=True,
                object_seed=seed + 1,
            )
            evalset = plan.add_evalset(
                f"ife-{variant}-s{seed}", {"base": base, "cifar": other_cifar, "objects": other_obj}
            )
            for pre in IFE_CORE:
                pairs = [
                    {
                        "eval": "ife",
                        "target_transform": changed,
                        "evalset": evalset,
                        "a": "base",
                        "b": changed,
                    }
                    for changed in ("cifar", "objects")
                ]
                sens_path = plan.add_sens(models[pre], f"ife-{variant}-s{seed}", pairs)
                plan.record(
                    f"ife_sens_{variant}",
                    {
                        "seed": seed,
                        "variant": variant,
                        "pretrain": pre,
                        "sens_path": sens_path,
                    },
                )
            if variant != "fixed":
                continue
            sweeps = [("relevance", a, {"correlation": a}) for a in ife.get("correlations", [])]
            sweeps += [
                ("availability", b, {"availability": b}) for b in ife.get("availabilities", [])
            ]
            for experiment, value, kwargs in sweeps:
                ds = plan.add_dataset(
                    ife_spec(config, "C+O/C", objs, seed, placement=placement, **kwargs)
                )
                model = plan.add_model(model_job(config, arch, ds, seed))
                for tgt in ("C+O/C", "C+O/O"):
                    probe = plan.add_probe(model, core[tgt], probe_params(config, seed))
                    plan.record(
                        "ife_fixed",
                        {
                            "seed": seed,
                            "variant": variant,
                            "experiment": experiment,
                            "sweep_value": float(value),
                            "pretrain": "C+O/C",
                            "target": tgt,
                            "transfer_path": f"results/probes/{probe}/metrics.json",
                        },
                    )


def finetune_regimes(config: Mapping[str, Any]) -> list[str]:
    """The full fine-tuning regimes the config asks for (every fine-tuning job runs each)."""
    regimes = config["experiments"].get("tvo", {}).get("regimes", ["lp"])
    return [r for r in regimes if r != "lp"]


def seed_list(config: Mapping[str, Any]) -> list[int]:
    start = int(config.get("seed_offset", 0))
    return list(range(start, start + int(config["seeds"])))


def build_plan(config: Mapping[str, Any]) -> Plan:
    """Expand a validated config (see :func:`invtransfer.config.check_config`) into a Plan."""
    config = copy.deepcopy(dict(config))
    plan = Plan()
    seeds = seed_list(config)
    _tvo(plan, config, seeds)
    _it(plan, config, seeds)
    _tm(plan, config, seeds)
    _ife(plan, config, seeds)
    return plan
