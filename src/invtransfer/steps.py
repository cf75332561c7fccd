"""One function per workflow step: what each ``workflow/scripts/*.py`` shim calls.

These functions translate the plan's job dictionaries (see :mod:`invtransfer.experiments`) into
calls of the component APIs (datasets, training, probing, sens, reporting). They hold no experiment
logic of their own and can be called without Snakemake, e.g. from a notebook.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invtransfer.device import setup_logging
from invtransfer.io import atomic_dir, atomic_path, atomic_write_json

log = logging.getLogger("invtransfer.steps")

__all__ = [
    "build_evalset",
    "check_assets",
    "check_cifar",
    "collect_table",
    "extract_features",
    "finetune_model",
    "log_to",
    "make_example_figure",
    "make_figure",
    "make_table",
    "materialize_dataset",
    "pretrain_model",
    "probe_features",
    "sens_models",
]


def log_to(path: str | Path) -> None:
    """Send stderr (and the ``invtransfer`` loggers) to a rule's log file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    setup_logging()


def _threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def _runtime(threads: int | None, runtime: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply the job's thread budget; return the device / compile / bf16 settings (config keys
    ``device``, ``training.compile``, ``training.bf16``; the config's defaults where not given).
    A device this machine lacks fails here, at the job's start, naming the ``device`` key."""
    from invtransfer.config import check_device, schema_defaults

    _threads(threads)
    defaults = schema_defaults()
    settings = {
        "device": defaults["device"],
        "compile": defaults["training"]["compile"],
        "bf16": defaults["training"]["bf16"],
        **(runtime or {}),
    }
    unknown = set(settings) - {"device", "compile", "bf16"}
    if unknown:
        raise ValueError(f"runtime settings: unknown keys {sorted(unknown)}")
    check_device(settings["device"])
    return settings


# -- assets and data ------------------------------------------------------------------------------
def check_assets(
    objects: Mapping[str, Any], backgrounds: Mapping[str, Any], out: str | Path
) -> None:
    """Load every configured object and background photo once; fail early with a clear error."""
    from invtransfer.assets import load_background_photos, load_objects

    objs = load_objects(objects)
    photos = load_background_photos(backgrounds)
    summary = {
        "objects": {
            "source": objects.get("source"),
            "count": len(objs),
            "names": [o.name for o in objs],
        },
        "backgrounds": {"source": backgrounds.get("source"), "photos": [p.name for p in photos]},
    }
    log.info("assets OK: %d objects, %d background photos", len(objs), len(photos))
    atomic_write_json(out, summary)


def check_cifar(root: str, dataset: str, *, download: bool, out: str | Path) -> None:
    """Make sure the CIFAR release is present (fetching it only when ``download`` is set)."""
    from invtransfer.datasets import cifar

    folder = cifar.ensure_cifar(cifar.resolve_root(root), dataset, download=download)
    files = sorted(p.name for p in Path(folder).iterdir() if p.is_file())
    log.info("%s found in %s (%d files)", dataset, folder, len(files))
    atomic_write_json(out, {"dataset": dataset, "folder": str(folder), "files": files})


def materialize_dataset(
    spec: Mapping[str, Any], out_dir: str | Path, *, threads: int | None = None
) -> None:
    from invtransfer.datasets.builders import materialize

    _threads(threads)
    materialize(dict(spec), Path(out_dir), threads=threads)


def build_evalset(
    members: Mapping[str, Mapping[str, Any]], out_dir: str | Path, *, threads: int | None = None
) -> None:
    """Materialize every member dataset of an evaluation set into ``out_dir/<member>/``."""
    from invtransfer.datasets.builders import materialize

    _threads(threads)
    t0 = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        for i, (key, spec) in enumerate(sorted(members.items()), start=1):
            log.info("evalset member %d/%d: %s", i, len(members), key)
            materialize(dict(spec), tmp / key, progress=False)
        atomic_write_json(
            tmp / "manifest.json",
            {"members": sorted(members), "wall_time_s": round(time.perf_counter() - t0, 2)},
        )


# -- training ------------------------------------------------------------------------------------
def pretrain_model(
    job: Mapping[str, Any],
    dataset_dir: Path,
    out_dir: Path,
    *,
    threads: int | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    from invtransfer.training import pretrain

    rt = _runtime(threads, runtime)
    kwargs = {k: v for k, v in job.items() if k not in ("dataset",)}
    pretrain(dataset_dir, out_dir, **rt, **kwargs)


def extract_features(
    model_path: Path,
    dataset_dirs: Sequence[Path],
    out_dir: Path,
    *,
    threads: int | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    """Features of one model on each of its target datasets: ``out_dir/<dataset>/``."""
    from invtransfer.features import extract_features_many

    rt = _runtime(threads, runtime)
    extract_features_many(model_path, dataset_dirs, out_dir, device=rt["device"])


def probe_features(
    job: Mapping[str, Any],
    features_dir: Path,
    out_dir: Path,
    *,
    threads: int | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    """A linear probe per target dataset of the job: ``features_dir/<dataset>/`` →
    ``out_dir/<dataset>/{metrics.json, head.pt, history.csv}``; ``out_dir`` appears whole."""
    from invtransfer.probing import linear_probe

    rt = _runtime(threads, runtime)
    kwargs = {k: v for k, v in job.items() if k in ("epochs", "batch_size", "lr", "seed")}
    datasets = list(job["datasets"])
    missing = [d for d in datasets if not (Path(features_dir) / d).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"feature cache {features_dir} lacks {missing}; rerun its features job "
            f"(snakemake --forcerun features {features_dir})"
        )
    t0 = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        for i, dataset in enumerate(datasets, start=1):
            log.info("probe %d/%d: %s (%.1f s so far)", i, len(datasets), dataset,
                     time.perf_counter() - t0)  # fmt: skip
            linear_probe(Path(features_dir) / dataset, tmp / dataset, device=rt["device"], **kwargs)


def finetune_model(
    job: Mapping[str, Any],
    model_path: Path,
    probes_dir: Path,
    dataset_dir: Path,
    out_metrics: Sequence[Path],
    *,
    threads: int | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    """LP-FT of one model on one target dataset, once per regime of the job: each starts from
    the probe head of that dataset (``probes_dir/<dataset>/``) and writes
    ``<regime>/metrics.json`` (the folders of ``out_metrics``; each resumes on its own)."""
    from invtransfer.finetune import finetune

    rt = _runtime(threads, runtime)
    out_dirs = {Path(p).parent.name: Path(p).parent for p in out_metrics}
    runs = dict(job["runs"])
    if set(out_dirs) != set(runs):
        raise ValueError(
            f"fine-tuning job {job['model']}/{job['dataset']}: regimes {sorted(runs)} but "
            f"outputs for {sorted(out_dirs)}"
        )
    keys = ("n_samples", "epochs", "batch_size", "lr", "lr_decay_epochs", "seed")
    for i, (regime, params) in enumerate(runs.items(), start=1):
        log.info("fine-tuning %d/%d: %s (%s samples)", i, len(runs), regime, params["n_samples"])
        finetune(
            model_path,
            Path(probes_dir) / job["dataset"],
            dataset_dir,
            out_dirs[regime],
            device=rt["device"],
            **{k: params[k] for k in keys},
        )


# -- sens ----------------------------------------------------------------------------------------
def sens_models(
    job: Mapping[str, Any],
    model_paths: Sequence[Path],
    evalset_dirs: Sequence[Path],
    out_dir: Path,
    *,
    sens: Mapping[str, Any],
    threads: int | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    """sens (paper Eq. 1) of every model of a sens group on each of its pairs.

    ``job["models"]`` maps model names (the folder of ``results/models/<model>/model.pt``) to
    pairs ``{eval, target_transform, evalset, a, b}``; ``evalset_dirs`` are the evaluation sets
    by folder name. Each evaluation member is read once and each model's features of it
    computed once, for all models of the group; features are dropped after their last use.
    Writes ``out_dir/<model>.csv`` (eval, target_transform, sens; in the job's pair order),
    and ``out_dir`` appears as a whole.
    """
    from collections import Counter

    from invtransfer.datasets.store import load_split
    from invtransfer.device import resolve_device
    from invtransfer.sensitivity import sens as sens_metric
    from invtransfer.training import compute_features, load_model

    rt = _runtime(threads, runtime)
    dev = resolve_device(rt["device"])
    wanted: dict[str, list[Mapping[str, Any]]] = dict(job["models"])
    paths = {Path(p).parent.name: Path(p) for p in model_paths}
    evalsets = {Path(d).name: Path(d) for d in evalset_dirs}
    lacking = sorted(set(wanted) - set(paths))
    if lacking:
        raise ValueError(f"sens job: no checkpoint given for models {lacking}")
    unknown = sorted({p["evalset"] for ps in wanted.values() for p in ps} - set(evalsets))
    if unknown:
        raise ValueError(
            f"sens job: evaluation sets {unknown} were not given (have {sorted(evalsets)})"
        )

    # the work, pair by pair, with every model that needs the pair; members and features are
    # cached until their last use (counted up front)
    work: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
    for model, pairs in wanted.items():
        for i, pair in enumerate(pairs):
            work.setdefault((pair["evalset"], pair["a"], pair["b"]), []).append((model, i))
    data_uses: Counter[tuple[str, str]] = Counter()
    feat_uses: Counter[tuple[str, str, str]] = Counter()
    for (ev, a, b), users in work.items():
        for member in (a, b):
            data_uses[(ev, member)] += 1
            for model, _ in users:
                feat_uses[(model, ev, member)] += 1
    data: dict[tuple[str, str], Any] = {}
    feats: dict[tuple[str, str, str], np.ndarray] = {}
    nets: dict[str, Any] = {}

    def images(ev: str, member: str) -> Any:
        if (ev, member) not in data:
            data[(ev, member)] = load_split(evalsets[ev] / member, "test").images
        return data[(ev, member)]

    def features(model: str, ev: str, member: str) -> np.ndarray:
        key = (model, ev, member)
        if key not in feats:
            if model not in nets:
                nets[model] = load_model(paths[model], dev)
            feats[key] = compute_features(
                nets[model], images(ev, member), batch_size=1024, device=dev
            )
        value = feats[key]
        feat_uses[key] -= 1
        if feat_uses[key] == 0:
            del feats[key]
        return value

    rows: dict[str, list[dict[str, Any] | None]] = {m: [None] * len(ps) for m, ps in wanted.items()}
    t0 = time.perf_counter()
    n_pairs = sum(len(ps) for ps in wanted.values())
    done = 0
    for (ev, a, b), users in sorted(work.items()):
        for model, i in users:
            pair = wanted[model][i]
            value = sens_metric(
                features(model, ev, a),
                features(model, ev, b),
                n_pairs=int(sens.get("pairs", 10000)),
                seed=0,
                estimator=sens.get("estimator", "global"),
            )
            rows[model][i] = {
                "eval": pair["eval"],
                "target_transform": pair["target_transform"],
                "sens": value,
            }
        for member in (a, b):
            data_uses[(ev, member)] -= 1
            if data_uses[(ev, member)] == 0:
                data.pop((ev, member), None)
        done += len(users)
        log.info("sens %d/%d (model, pair) values, %d models (%.1f s)", done, n_pairs,
                 len(wanted), time.perf_counter() - t0)  # fmt: skip
    with atomic_dir(out_dir) as tmp:
        for model, model_rows in rows.items():
            pd.DataFrame(model_rows).to_csv(tmp / f"{model}.csv", index=False)


# -- aggregation and reporting --------------------------------------------------------------------
# Which result-file keys become which tidy columns, per table family (see aggregation.SCHEMAS).
_TABLE_FIELDS = {
    "tvo": {
        "training_acc": "training_path:test_accuracy",
        "transfer_acc": "transfer_path:test_accuracy",
        "transfer_acc_macro": "transfer_path:test_macro_accuracy",
    },
    "tm": {"accuracy": "transfer_path:test_accuracy"},
    "ife": {"accuracy": "transfer_path:test_accuracy"},
    "it": {
        "eval": "sens_path:eval",
        "target_transform": "sens_path:target_transform",
        "sens": "sens_path:sens",
    },
    "ife_sens": {"changed": "sens_path:target_transform", "sens": "sens_path:sens"},
}


def collect_table(table: str, records: Sequence[Mapping[str, Any]], out_csv: str | Path) -> None:
    """Turn the plan's records for ``table`` into one tidy CSV (one row per run / measurement)."""
    from invtransfer.aggregation import collect

    kind = "ife_sens" if table.startswith("ife_sens") else table.split("_", 1)[0]
    if kind not in _TABLE_FIELDS:
        raise ValueError(
            f"table {table!r}: unknown family {kind!r} (known: {sorted(_TABLE_FIELDS)})"
        )
    df = collect(records, _TABLE_FIELDS[kind])
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    log.info("%s: %d rows", table, len(df))


def make_example_figure(
    artifact: str, panels: Mapping[str, Mapping[str, Mapping[str, Any]]], out_pdf: str | Path
) -> None:
    """Fig 1, 5, 6, 15: example images drawn from dataset specs (first images, built in memory)."""
    from invtransfer import example_figures as ex

    if artifact == "fig1":
        ex.fig1(out_pdf, panels["rows"], object_label=0)
    elif artifact == "fig5":
        ex.fig5(out_pdf, panels["rows"], object_label=0)
    elif artifact == "fig6":
        rows = panels["rows"]
        ex.fig6(out_pdf, rows["cifar"], rows["cifar_objects"], rows["objects"])
    elif artifact == "fig15":
        ex.fig15(out_pdf, panels["random"], panels["cifar"])
    else:
        raise ValueError(f"{artifact!r} is not an example figure (fig1, fig5, fig6, fig15)")


def _read_tables(paths: Sequence[str]) -> dict[str, pd.DataFrame]:
    return {Path(p).stem: pd.read_csv(p) for p in paths}


def make_figure(
    artifact: str,
    inputs: Sequence[str],
    out_pdf: str | Path,
    *,
    notes: Mapping[str, str],
    config: Mapping[str, Any],
) -> None:
    from invtransfer import reporting

    reporting.figure(artifact, _read_tables(inputs), Path(out_pdf), notes=notes, config=config)


def make_table(
    artifact: str,
    inputs: Sequence[str],
    out_md: str | Path,
    *,
    notes: Mapping[str, str],
    config: Mapping[str, Any],
) -> None:
    from invtransfer import reporting

    reporting.table(artifact, _read_tables(inputs), Path(out_md), notes=notes, config=config)
