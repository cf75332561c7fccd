"""One function per workflow step: what each ``workflow/scripts/*.py`` shim calls.

These functions translate the plan's job dictionaries (see :mod:`invtransfer.experiments`) into
calls of the component APIs (datasets, training, probing, sens, reporting). They hold no experiment
logic of their own and can be called without Snakemake, e.g. from a notebook.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from invtransfer.device import job_device, setup_logging, tune_cpu_allocator
from invtransfer.io import atomic_dir, atomic_path, atomic_write_json

log = logging.getLogger("invtransfer.steps")

WARM_PRELOAD = (
    "invtransfer.aggregation",
    "invtransfer.assets",
    "invtransfer.config",
    "invtransfer.datasets",
    "invtransfer.datasets.builders",
    "invtransfer.datasets.cifar",
    "invtransfer.datasets.cifar_download",
    "invtransfer.features",
    "invtransfer.finetune",
    "invtransfer.pretraining",
    "invtransfer.probing",
    "invtransfer.profile",
    "invtransfer.profile_jobs",
    "invtransfer.recovery",
    "invtransfer.reporting",
    "invtransfer.sens_groups",
    "torch._dynamo",
)
"""What the warm server (:mod:`invtransfer.warm`) imports once, after this module, so that no
forked job pays for it: the modules the steps below import lazily (which keeps a cold
``import invtransfer.steps`` cheap for the small jobs), and ``torch._dynamo``, which torch
imports on the first construction of an optimizer (``torch.optim.Optimizer.__init__``): 1–2.5 s
of every training, fine-tuning and probe job on the 2-core VM. A test keeps the list complete."""

__all__ = [
    "build_evalset",
    "check_assets",
    "check_cifar",
    "collect_table",
    "extract_features",
    "finetune_model",
    "log_to",
    "make_artifact",
    "materialize_dataset",
    "pretrain_model",
    "probe_features",
    "profile_model_job",
    "profile_summary",
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


@contextlib.contextmanager
def _runtime(threads: int | None, runtime: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
    """A job's runtime for the ``with`` block: its thread budget and the CPU allocator's
    thresholds (:func:`invtransfer.device.tune_cpu_allocator`) applied, and the device /
    compile / bf16 settings (config keys ``device``, ``training.compile``, ``training.bf16``;
    the config's defaults where not given). A device this machine lacks fails here, at the
    job's start, naming the ``device`` key. ``device: auto`` (or ``cuda``) on a machine with
    several GPUs holds one card for the block (:func:`invtransfer.device.job_device`): the
    settings then name ``cuda:<card>``, result files record the card, and the card is freed
    when the block ends or the process dies. One card or none: the setting is passed on as is."""
    from invtransfer.config import check_device, schema_defaults

    _threads(threads)
    tune_cpu_allocator()
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
    with job_device(settings["device"]) as device:
        yield {**settings, "device": device}


# -- assets and data ------------------------------------------------------------------------------
def check_assets(
    objects: Mapping[str, Any], backgrounds: Mapping[str, Any], out: str | Path
) -> None:
    """Load every configured object and background photo once; fail early with a clear error."""
    from invtransfer.assets import load_background_photos, load_objects, resolve_crops

    objs = load_objects(objects)
    photos = load_background_photos(backgrounds)
    source = backgrounds.get("source", "bundle")
    summary = {
        "objects": {
            "source": objects.get("source"),
            "count": len(objs),
            "names": [o.name for o in objs],
        },
        "backgrounds": {
            "source": source,
            "crops": resolve_crops(backgrounds.get("crops", "auto"), source),
            "photos": [p.name for p in photos],
        },
    }
    log.info("assets OK: %d objects, %d background photos", len(objs), len(photos))
    atomic_write_json(out, summary)


def check_cifar(root: str, dataset: str, *, download: bool, out: str | Path) -> None:
    """Make sure the CIFAR release is present (fetching it only when ``download`` is set)."""
    from invtransfer.datasets import cifar, cifar_download

    folder = cifar_download.ensure_cifar(cifar.resolve_root(root), dataset, download=download)
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
        # the manifest names the members only (deterministic); how long it took goes beside it
        atomic_write_json(tmp / "manifest.json", {"members": sorted(members)})
        atomic_write_json(tmp / "build.json", {"wall_time_s": round(time.perf_counter() - t0, 2)})


# -- training ------------------------------------------------------------------------------------
def pretrain_model(
    job: Mapping[str, Any],
    dataset_dir: Path,
    out_dir: Path,
    *,
    threads: int | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    from invtransfer.pretraining import pretrain

    kwargs = {k: v for k, v in job.items() if k not in ("dataset",)}
    with _runtime(threads, runtime) as rt:
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

    with _runtime(threads, runtime) as rt:
        extract_features_many(
            model_path, dataset_dirs, out_dir, device=rt["device"], bf16=rt["bf16"]
        )


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

    kwargs = {k: v for k, v in job.items() if k in ("epochs", "batch_size", "lr", "seed")}
    from invtransfer.features import read_features_manifest
    from invtransfer.recovery import rebuild_advice

    datasets = list(job["datasets"])
    missing = [d for d in datasets if not (Path(features_dir) / d).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"feature cache {features_dir} lacks {missing}; {rebuild_advice(features_dir)}"
        )
    for dataset in datasets:  # the cache must be this model's, on this dataset
        read_features_manifest(Path(features_dir) / dataset, model=job["model"], dataset=dataset)
    t0 = time.perf_counter()
    with _runtime(threads, runtime) as rt, atomic_dir(out_dir) as tmp:
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

    out_dirs = {Path(p).parent.name: Path(p).parent for p in out_metrics}
    runs = dict(job["runs"])
    if set(out_dirs) != set(runs):
        raise ValueError(
            f"fine-tuning job {job['model']}/{job['dataset']}: regimes {sorted(runs)} but "
            f"outputs for {sorted(out_dirs)}"
        )
    keys = ("n_samples", "epochs", "batch_size", "lr", "lr_decay_epochs", "seed")
    with _runtime(threads, runtime) as rt:
        for i, (regime, params) in enumerate(runs.items(), start=1):
            log.info("fine-tuning %d/%d: %s (%s samples)", i, len(runs), regime,
                     params["n_samples"])  # fmt: skip
            finetune(
                model_path,
                Path(probes_dir) / job["dataset"],
                dataset_dir,
                out_dirs[regime],
                device=rt["device"],
                bf16=rt["bf16"],
                rendering=params.get("rendering", "fixed"),  # absent: fixed (FinetuneRun)
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
    """sens of every model of a sens group on each of its pairs
    (:func:`invtransfer.sens_groups.sens_group`); ``sens`` is the config's ``sens`` section."""
    from invtransfer.sens_groups import sens_group

    unknown = sorted(set(sens) - set(_SENS_OPTIONS))
    if unknown:
        raise ValueError(f"sens settings: unknown keys {unknown} (known: {sorted(_SENS_OPTIONS)})")
    options = {_SENS_OPTIONS[key]: value for key, value in sens.items()}
    with _runtime(threads, runtime) as rt:
        sens_group(job["models"], model_paths, evalset_dirs, out_dir, device=rt["device"],
                   bf16=rt["bf16"], **options)  # fmt: skip


# config key of the sens section -> keyword of sens_group
_SENS_OPTIONS = {"pairs": "n_pairs", "estimator": "estimator", "layer": "layer"}


# -- aggregation and reporting --------------------------------------------------------------------
def collect_table(table: str, records: Sequence[Mapping[str, Any]], out_csv: str | Path) -> None:
    """Turn the plan's records for ``table`` into one tidy CSV (one row per run / measurement)."""
    from invtransfer.aggregation import collect, table_fields

    df = collect(records, table_fields(table))
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    log.info("%s: %d rows", table, len(df))


def make_artifact(
    artifact: str, inputs: Sequence[str], out: str | Path, *, settings: Mapping[str, Any]
) -> None:
    """Draw a paper artifact (figure, table, example figure or the scorecard) into ``out`` from
    the tidy tables ``inputs`` and the settings the registry derived from the config
    (:func:`invtransfer.reporting.artifact_settings`)."""
    from invtransfer.reporting import render_artifact

    render_artifact(artifact, list(inputs), Path(out), settings)


# -- invariance profiles (config section profile; invtransfer.profile) -----------------------------
def profile_model_job(
    entry: Mapping[str, Any],
    settings: Mapping[str, Any],
    out_dir: Path,
    *,
    threads: int | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    """The invariance profile of one ``profile.models`` entry into ``out_dir``."""
    from invtransfer.profile_jobs import profile_job

    with _runtime(threads, runtime) as rt:
        profile_job(entry, settings, out_dir, device=rt["device"])


def profile_summary(folders: Sequence[Path], *, table: Path, curves: Path, figure: Path) -> None:
    """Every profiled model in one tidy table, its curves and ``figure``.pdf/.png."""
    from invtransfer.profile import summarize_profiles

    summarize_profiles(folders, table=table, curves=curves, figure=figure)
