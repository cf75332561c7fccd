"""The paper's experiments as data: expand the config into concrete, typed jobs per seed.

:func:`build_plan` turns a config into a :class:`Plan` — every dataset spec, evaluation set,
model, feature cache, probe, fine-tuning and sens job (:mod:`~invtransfer.experiments.jobs`),
keyed by readable unique names — plus, for every table and figure, the *records* (job metadata +
result paths) that aggregation turns into tidy CSVs. The Snakemake rules only look names up in the
plan; no experiment logic lives in rules.

One module per experiment family (draws follow ``shared/spec/experiments.md``):

* :mod:`~invtransfer.experiments.tvo` — transformations vs other factors (Fig 2, 3, 7-13);
* :mod:`~invtransfer.experiments.it` — invariance transfer (Table 2-5, Fig 16, 17);
* :mod:`~invtransfer.experiments.tm` — invariance mismatch (Fig 4, 18);
* :mod:`~invtransfer.experiments.ife` — irrelevant features (Table 1, Fig 14);

and the shared parts: :mod:`~invtransfer.experiments.plan` (the Plan and its registration
rules), :mod:`~invtransfer.experiments.jobs` (the job types),
:mod:`~invtransfer.experiments.specs` (dataset specs, seeds, draws).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invtransfer.config import check_config
from invtransfer.experiments.ife import IFE_CORE, plan_ife
from invtransfer.experiments.it import IT_EVAL_SOURCES, plan_it
from invtransfer.experiments.jobs import (
    FeaturesJob,
    FinetuneJob,
    FinetuneRun,
    ModelJob,
    ProbeJob,
    SensJob,
    SensPair,
    job_hash,
)
from invtransfer.experiments.plan import Plan, model_name
from invtransfer.experiments.specs import (
    all_transforms,
    check_background_bank,
    cifar_spec,
    ife_spec,
    object_pool,
    random_spec,
    seed_list,
    t2d_spec,
    twin_seed,
)
from invtransfer.experiments.tm import plan_tm
from invtransfer.experiments.tvo import draw_tvo_transforms, plan_tvo

__all__ = [
    "IFE_CORE",
    "IT_EVAL_SOURCES",
    "FeaturesJob",
    "FinetuneJob",
    "FinetuneRun",
    "ModelJob",
    "Plan",
    "ProbeJob",
    "SensJob",
    "SensPair",
    "all_transforms",
    "build_plan",
    "cifar_spec",
    "draw_tvo_transforms",
    "finetune_regimes",
    "ife_spec",
    "job_hash",
    "model_name",
    "object_pool",
    "random_spec",
    "seed_list",
    "t2d_spec",
    "twin_seed",
]

# The names targets.example_specs imports (kept until it uses the public ones above).
_all_transforms = all_transforms
_object_pool = object_pool


def _uses_objects(config: Mapping[str, Any]) -> bool:
    exps = config["experiments"]
    return (
        "t2d" in exps["tvo"]["families"]
        or exps["it"]["enabled"]
        or exps["tm"]["enabled"]
        or exps["ife"]["enabled"]
    )


def finetune_regimes(config: Mapping[str, Any]) -> list[str]:
    """The full fine-tuning regimes the config asks for (every fine-tuning job runs each)."""
    return [r for r in config["experiments"]["tvo"]["regimes"] if r != "lp"]


def build_plan(config: Mapping[str, Any]) -> Plan:
    """Expand a config into a :class:`Plan`. A :class:`~invtransfer.config.Config` is used as
    it is; any other mapping is checked (and its defaults filled) first."""
    config = check_config(config)
    plan = Plan()
    seeds = seed_list(config)
    pool = object_pool(config) if _uses_objects(config) else []
    if _uses_objects(config):
        check_background_bank(config)
    plan_tvo(plan, config, seeds, pool)
    plan_it(plan, config, seeds, pool)
    plan_tm(plan, config, seeds, pool)
    plan_ife(plan, config, seeds, pool)
    return plan
