# Shared helpers: the configuration, the experiment plan, and the input functions the rules use.
# Everything substantive is in the invtransfer package; these functions only look names up.

import sys

from invtransfer.config import workflow_config
from invtransfer.experiments import build_plan, finetune_regimes
from invtransfer.artifacts import ARTIFACTS
from invtransfer.reporting import artifact_settings, artifact_tables, wildcard_pattern
from invtransfer.reporting import final_targets as _final_targets
from invtransfer.profile import profile_entries, profile_input_files

# One validated configuration: the schema's defaults < config.yaml < the preset's overlay
# (profiles/<preset>/overrides.yaml) < each --configfile < --config. It replaces Snakemake's own
# merge, which would put a --configfile in place of a profile's preset overlay.
CONFIG = workflow_config(
    "config.yaml",  # the Snakefile's configfile
    configfiles=workflow.config_settings.configfiles,
    overrides=workflow.config_settings.config,
    basedir=workflow.basedir,
    local=workflow.local_exec,
    argv=sys.argv,
)
config.clear()
config.update(CONFIG.to_dict())
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


# Tiny bookkeeping jobs run where Snakemake runs (on a cluster: the login node, which also has the
# network access an optional CIFAR download needs).
localrules:
    all,
    check_assets,
    check_cifar,
    collect,
    figure,
    table,
    scorecard,
    example_figure,


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


def _data_checks(specs):
    """The asset checks a set of dataset specs needs: the photo bundle, and CIFAR if used."""
    needs = {"results/assets/check.json"}
    for spec in specs:
        if spec["kind"] in ("cifar", "cifar_objects"):
            needs.add(f"results/assets/{spec.get('dataset', 'cifar10')}.json")
    return sorted(needs)


def dataset_checks(wildcards):
    return _data_checks([dataset_spec(wildcards)])


def evalset_checks(wildcards):
    return _data_checks(evalset_members(wildcards).values())


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
    names = {p.evalset for ps in _sens(wildcards).models.values() for p in ps}
    return [f"results/evalsets/{n}" for n in sorted(names)]


def table_records(wildcards):
    return _lookup("table", PLAN.records, wildcards.table)


def table_inputs(wildcards):
    files = set()
    for rec in table_records(wildcards):
        files.update(PLAN.requires(v) for k, v in rec.items() if k.endswith("_path"))
    return sorted(files)


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


onstart:
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
