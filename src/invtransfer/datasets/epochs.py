"""Per-epoch rendering from dataset specs and folders: the spec of epoch e, renderers, checks.

:mod:`invtransfer.datasets.render` holds the seed rule and the renderer base class; this module
connects them to the kinds registry and the store:

- :func:`epoch_spec` — the spec whose materialized split equals epoch ``e`` of per-epoch rendering
  (the same spec with ``transform_seed = epoch_transform_seed(transform_seed, e)``);
- :func:`build_renderer` — the renderer of one split of a dataset folder (or spec) on a device;
- :func:`check_renderer` — the renderer reproduces the stored split at epoch 0 (labels, and the
  first images byte for byte on the CPU), so a changed asset or kernel cannot go unnoticed;
- :func:`render_epoch` — epoch ``e`` of a split written as a normal dataset folder (what
  ``python -m invtransfer render-epoch`` calls), so every parameter a run trained on can be
  inspected in its ``samples.parquet``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invtransfer.datasets.builders import dataset_build_plan, materialize
from invtransfer.datasets.render import EpochRenderer, epoch_transform_seed
from invtransfer.datasets.spec import canonicalize_spec, dataset_name
from invtransfer.datasets.store import read_manifest
from invtransfer.errors import DatasetIntegrityError

__all__ = [
    "build_renderer",
    "check_renderer",
    "epoch_spec",
    "render_epoch",
    "render_training_epoch",
    "training_dataset",
]

CHECK_ROWS = 64  # images of epoch 0 compared with the stored split by check_renderer


def epoch_spec(
    spec: Mapping[str, Any], epoch: int, *, splits: Sequence[str] | None = None
) -> dict[str, Any]:
    """The canonical spec whose materialized splits are epoch ``epoch`` (0-based) of per-epoch
    rendering of ``spec``: ``transform_seed`` replaced by :func:`epoch_transform_seed`, and the
    splits limited to ``splits`` if given (the other splits' images do not depend on them)."""
    canonical = canonicalize_spec(spec)
    if not canonical.get("transforms"):
        raise ValueError(
            f"dataset {dataset_name(canonical)} has no transformations: every epoch is the "
            "dataset itself"
        )
    out = dict(canonical)
    out["transform_seed"] = epoch_transform_seed(canonical["transform_seed"], epoch)
    if splits is not None:
        missing = [s for s in splits if s not in canonical["splits"]]
        if missing:
            raise ValueError(
                f"splits {missing} are not in the dataset (has {list(canonical['splits'])})"
            )
        out["splits"] = {s: canonical["splits"][s] for s in splits}
    return canonicalize_spec(out)


def _spec_of(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return canonicalize_spec(source)
    manifest = read_manifest(source)
    if not isinstance(manifest.get("spec"), Mapping):
        raise DatasetIntegrityError(
            f"{Path(source) / 'manifest.json'}: no 'spec' recorded; rebuild the dataset"
        )
    return canonicalize_spec(manifest["spec"])


def build_renderer(
    source: str | os.PathLike[str] | Mapping[str, Any],
    split: str = "train",
    device: str | torch.device = "cpu",
) -> EpochRenderer:
    """The per-epoch renderer of ``split`` of a dataset folder (its manifest's spec) or a spec,
    with its resident parts on ``device``. Kinds without transformations (``cifar_objects``, or
    an empty transformation list) raise ``ValueError``."""
    spec = _spec_of(source)
    name = dataset_name(spec)
    if not spec.get("transforms"):
        raise ValueError(
            f"dataset {name}: per-epoch rendering needs transformations, and its spec has none "
            "(every epoch would be the stored dataset); train with rendering='fixed'"
        )
    plan = dataset_build_plan(spec)
    make = getattr(plan, "renderer", None)
    if not callable(make):
        raise ValueError(f"dataset kind {spec['kind']!r} has no per-epoch rendering")
    return make(split, torch.device(device), name=name)


def check_renderer(renderer: EpochRenderer, stored: Any, *, rows: int = CHECK_ROWS) -> None:
    """Check that ``renderer`` reproduces the stored split ``stored`` (``.images`` uint8
    N×H×W×3, ``.labels``) at epoch 0: every label, and the first ``rows`` images byte for byte
    (on the CPU; other devices may differ by float rounding, so up to 2 levels there).
    Raises :class:`DatasetIntegrityError` naming the dataset otherwise."""
    labels = torch.as_tensor(stored.labels)
    if labels.shape != renderer.labels.shape or not torch.equal(labels, renderer.labels):
        raise DatasetIntegrityError(
            f"dataset {renderer.dataset}: the labels of split {renderer.split!r} differ from "
            "what its spec gives now; rebuild the dataset"
        )
    k = min(rows, len(renderer))
    if k == 0:
        return
    got = renderer.render(np.arange(k), 0).cpu()
    want = torch.as_tensor(stored.images[:k])
    if got.shape != want.shape:
        raise DatasetIntegrityError(
            f"dataset {renderer.dataset}: rendered images are {tuple(got.shape)}, stored "
            f"{tuple(want.shape)}; rebuild the dataset"
        )
    diff = int((got.int() - want.int()).abs().max())
    allowed = 0 if renderer.device.type == "cpu" else 2
    if diff > allowed:
        raise DatasetIntegrityError(
            f"dataset {renderer.dataset}: per-epoch rendering does not reproduce the stored "
            f"{renderer.split!r} images at epoch 0 (max difference {diff} levels on "
            f"{renderer.device}, allowed {allowed}); the assets or the transformation code changed "
            "since it was materialized: rebuild the dataset"
        )


def render_epoch(
    source: str | os.PathLike[str] | Mapping[str, Any],
    epoch: int,
    out_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    chunk_size: int = 256,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write epoch ``epoch`` (0-based) of ``split`` of a dataset folder (or spec) as a normal
    dataset folder ``out_dir`` holding that one split: images, every sampled parameter in
    ``samples.parquet``, and a manifest whose spec is :func:`epoch_spec`. Returns the manifest."""
    spec = epoch_spec(_spec_of(source), epoch, splits=[split])
    return materialize(spec, out_dir, chunk_size=chunk_size, threads=threads, progress=progress)


def training_dataset(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """The dataset folder a training run folder (``metrics.json`` with ``dataset.path``, as
    pretraining and fine-tuning write it) trained on, and the run's metrics; a dataset folder
    itself gives ``(path, {})``."""
    folder = Path(path)
    if (folder / "manifest.json").is_file() and not (folder / "metrics.json").is_file():
        return folder, {}
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(
            f"{folder}: neither a finished training run (metrics.json) nor a dataset folder "
            "(manifest.json)"
        )
    metrics = json.loads(metrics_path.read_text())
    dataset = metrics.get("dataset", {})
    if not isinstance(dataset, Mapping) or not dataset.get("path"):
        raise ValueError(f"{metrics_path}: records no dataset path; is it a training run?")
    data_dir = Path(dataset["path"])
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"{metrics_path}: its dataset {data_dir} does not exist (paths are relative to the "
            "folder the run was started from; run this there, or pass the dataset folder)"
        )
    return data_dir, metrics


def render_training_epoch(
    path: str | os.PathLike[str],
    epoch: int,
    out_dir: str | os.PathLike[str],
    *,
    chunk_size: int = 256,
    threads: int | None = None,
) -> dict[str, Any]:
    """Epoch ``epoch`` (**1-based**, as ``history.csv`` counts) of the training split of a
    per-epoch run folder, or of a dataset folder, written by :func:`render_epoch`. Epoch 1 is
    the dataset's own train split. A fixed-rendering run is an error: every epoch of it saw the
    stored train split."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch must be an int >= 1 (1-based, as in history.csv), got {epoch!r}")
    data_dir, metrics = training_dataset(path)
    if metrics:
        rendering = metrics.get("rendering", "fixed")
        if rendering != "per-epoch":
            raise ValueError(
                f"run {path} trained with rendering {rendering!r}: every epoch saw the stored "
                f"train split of {data_dir} (inspect that folder instead)"
            )
        epochs = metrics.get("epochs")
        if isinstance(epochs, int) and epoch > epochs:
            raise ValueError(f"run {path} trained {epochs} epochs; got epoch {epoch}")
    return render_epoch(
        data_dir, epoch - 1, out_dir, chunk_size=chunk_size, threads=threads, progress=False
    )
