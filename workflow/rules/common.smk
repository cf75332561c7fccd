# Shared helpers: the configuration, the experiment plan, and the input functions the rules use.
# Everything substantive is in the invtransfer package; these functions only look names up.

import os
import sys
from pathlib import Path

from invtransfer.config import module_config, workflow_config
from invtransfer.experiments import build_plan, finetune_regimes
from invtransfer.artifacts import ARTIFACTS
from invtransfer.reporting import artifact_settings, artifact_tables, wildcard_pattern
from invtransfer.reporting import final_targets as _final_targets
from invtransfer.profile_jobs import profile_entries, profile_input_files

# what the rules' input functions share with `python -m invtransfer plan` (its job counts)
from invtransfer.jobgraph import data_checks
from invtransfer.jobgraph import sens_evalsets as _sens_evalsets
from invtransfer.jobgraph import table_inputs as _table_inputs

# This workflow's own folder (Snakefile, config.yaml, profiles/, envs/), found from this file
# and not from the working directory, so that it is the same when Snakemake runs elsewhere
# (--directory, --snakefile) and when this workflow is a module of another one. Rules name their
# scripts, environments and captions relative to their own file; the package ships the schema
# and the resources (invtransfer.resources.resources_dir()).
WORKFLOW_ROOT = Path(
    workflow.current_basedir.get_path_or_uri(secret_free=False)
).parents[1]
# envs/invtransfer.post-deploy.sh (--sdm conda) installs the package from here
os.environ.setdefault("INVTRANSFER_ROOT", str(WORKFLOW_ROOT))

if workflow.modifier.is_main_snakefile():
    # One validated configuration: the schema's defaults < config.yaml < the preset's overlay
    # (profiles/<preset>/overrides.yaml) < each --configfile < --config. It replaces Snakemake's
    # own merge, which would put a --configfile in place of a profile's preset overlay.
    CONFIG = workflow_config(
        # the Snakefile's configfile (relative to the working directory, as Snakemake reads it;
        # absent there when --configfile replaces it: this folder's empty one)
        (
            "config.yaml"
            if os.path.isfile("config.yaml")
            else WORKFLOW_ROOT / "config.yaml"
        ),
        configfiles=workflow.config_settings.configfiles,
        overrides=workflow.config_settings.config,
        basedir=WORKFLOW_ROOT,
        local=workflow.local_exec,
        argv=sys.argv,
    )
    config.clear()
    config.update(CONFIG.to_dict())
else:
    # A module of another workflow (`module invtransfer: snakefile: ...; config: <mapping>`):
    # the host's mapping is the configuration (the schema's defaults < the preset it names < the
    # mapping), validated the same way. The module gets its own filled-in copy; the host's
    # mapping is left as it was.
    CONFIG = module_config(config, basedir=WORKFLOW_ROOT, local=workflow.local_exec)
    config = CONFIG.to_dict()
PLAN = build_plan(CONFIG)
# label -> entry, checked now; plain data from `config` (rule params must pickle)
PROFILES = profile_entries(config["profile"]["models"])
FT_REGIMES = finetune_regimes(CONFIG)


wildcard_constraints:
    cifar=r"cifar10|cifar100",
    dataset=r"[^/]+",
    evalset=r"[^/]+",
    model=r"[^/]+",
    sensset=r"[^/]+",
    table=r"[^/]+",


def scaled(base, per=None):
    """A resource that grows with each retry (``--retries``): base × attempt, and × ``per``
    (a function of the wildcards: how many items the job covers) when given."""

    def resource(wildcards, attempt):
        return base * attempt * (per(wildcards) if per else 1)

    return resource


def final_targets():
    return _final_targets(CONFIG, PLAN) + (["figures/profile.pdf"] if PROFILES else [])


def _lookup(kind, mapping, key):
    try:
        return mapping[key]
    except KeyError:
        raise ValueError(
            f"{kind} {key!r} is not part of the current config's experiment plan "
            "(request figures/tables, or check that the config has not changed)"
        ) from None


def dataset_spec(wildcards):
    return _lookup("dataset", PLAN.datasets, wildcards.dataset)


# The asset checks a set of dataset specs needs (the photo bundle, and CIFAR if used). ancient():
# the check must have passed, but redoing it (its params are the whole assets section, so a new
# or edited key reruns it) never makes a dataset out of date; a dataset reruns when its own spec,
# which holds everything that shapes its bytes, changes.
def dataset_checks(wildcards):
    return [ancient(p) for p in data_checks([dataset_spec(wildcards)])]


def evalset_checks(wildcards):
    return [ancient(p) for p in data_checks(evalset_members(wildcards).values())]


def evalset_members(wildcards):
    return _lookup("evalset", PLAN.evalsets, wildcards.evalset)


# Jobs are typed (invtransfer.experiments.jobs); rules get their params as plain data, which
# Snakemake's rerun-triggers can compare.
def _model(wildcards):
    return _lookup("model", PLAN.models, wildcards.model)


def model_params(wildcards):
    return _model(wildcards).to_params()


def model_dataset(wildcards):
    return f"results/datasets/{_model(wildcards).dataset}"


def _probe(wildcards):
    return _lookup("probe job of model", PLAN.probes, wildcards.model)


def probe_params(wildcards):
    return _probe(wildcards).to_params()


def features_datasets(wildcards):
    job = _lookup("features job of model", PLAN.features, wildcards.model)
    return [f"results/datasets/{d}" for d in job.datasets]


def n_targets(wildcards):
    return len(_probe(wildcards).datasets)


def finetune_params(wildcards):
    key = f"{wildcards.model}/{wildcards.dataset}"
    return _lookup("fine-tuning", PLAN.finetunes, key).to_params()


def _sens(wildcards):
    return _lookup("sens group", PLAN.sens, wildcards.sensset)


def sens_params(wildcards):
    return _sens(wildcards).to_params()


def sens_settings(wildcards):
    return _sens(wildcards).settings()


def sens_models(wildcards):
    return [f"results/models/{m}/model.pt" for m in _sens(wildcards).models]


def n_sens_models(wildcards):
    return len(_sens(wildcards).models)


def sens_evalsets(wildcards):
    _sens(wildcards)
    return _sens_evalsets(PLAN, wildcards.sensset)


def table_records(wildcards):
    return _lookup("table", PLAN.records, wildcards.table)


def table_inputs(wildcards):
    table_records(wildcards)
    return _table_inputs(PLAN, wildcards.table)


# -- report rules: everything about an artifact comes from the registry (invtransfer.artifacts);
# each rule gets its artifact's tables, settings and caption, not the whole config.
ARTIFACT_NAMES = {
    kind: wildcard_pattern(kind) for kind in ("figure", "table", "example")
}
_REPORT = {}


def _report(wildcards):
    name = wildcards.get("artifact", "scorecard")
    if name not in _REPORT:
        tables = artifact_tables(name, config, PLAN)
        _REPORT[name] = {
            "tables": [f"results/tables/{t}.csv" for t in tables],
            "settings": artifact_settings(name, config, PLAN),
        }
    return _REPORT[name]


def artifact_inputs(wildcards):
    return _report(wildcards)["tables"]


def artifact_params(wildcards):
    return _report(wildcards)["settings"]


def artifact_caption(wildcards):
    return ARTIFACTS[wildcards.get("artifact", "scorecard")].caption_rst


def runtime_settings():
    return {
        "device": CONFIG["device"],
        "compile": CONFIG["training"]["compile"],
        "bf16": CONFIG["training"]["bf16"],
    }


# Local runs: one warm process imports torch once and every job forks from it
# (invtransfer.warm; INVTRANSFER_WARM=0 turns it off). Jobs on a cluster run in their allocation.
_WARM = []


def start_warm_server():
    from invtransfer.warm import start

    if workflow.local_exec:
        server = start()
        if server is not None:
            _WARM.append(server)


def stop_warm_server():
    while _WARM:
        _WARM.pop().stop()


# Before the first job of a local run: a warning with the estimate and the cheaper routes when
# the run would take more than invtransfer.estimate.LONG_RUN_HOURS here (INVTRANSFER_COST_WARNING=0
# silences it). Calibrations are cached per machine, so this costs seconds once.
# In a host workflow the hooks are the host's: it can call invtransfer.warn_long_run() and
# invtransfer.start_warm_server() / stop_warm_server() in its own onstart/onsuccess/onerror.
def warn_long_run():
    from invtransfer.estimate import warn_before_run
    from invtransfer.jobgraph import RULE_ORDER

    names = {getattr(rules, r).rule.name: r for r in RULE_ORDER if rules.has(r)}
    warn_before_run(workflow, CONFIG, PLAN, names)


onstart:
    warn_long_run()
    start_warm_server()


onsuccess:
    stop_warm_server()


onerror:
    stop_warm_server()


# -- invariance profiles (profile.smk) --------------------------------------------------------------
def _profile(wildcards):
    return _lookup("profile model", PROFILES, wildcards.label)


def profile_entry(wildcards):
    return _profile(wildcards)


def profile_inputs(wildcards):
    return profile_input_files(_profile(wildcards))


def profile_settings(wildcards):
    return {k: v for k, v in config["profile"].items() if k != "models"}


def profile_folders(wildcards):
    if not PROFILES:
        raise ValueError(
            "figures/profile.pdf needs models to profile: add entries to the config's "
            "profile.models (e.g. {model: torchvision:resnet50, weights: resnet50.pt})"
        )
    return [f"results/profile/{label}" for label in PROFILES]
