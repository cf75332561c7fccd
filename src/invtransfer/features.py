"""Penultimate-layer features of a frozen model, computed once and cached as NPY; this module
owns the cache format (writer and reader).

The reference's linear probe pushes every image through the frozen backbone in each of its 200
epochs (11.1 PFLOP per probe, more than pretraining; ``performance.md``). A frozen backbone in
eval mode is a fixed function, so its features can be computed once and the probe trained on
them (:mod:`invtransfer.probing`), which gives the same result at a small fraction of the cost.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from invtransfer import __version__, recovery
from invtransfer.checkpoint import load_model
from invtransfer.device import (
    assignment_fields,
    autocast,
    describe_device,
    eval_chunk,
    place_model,
    resolve_bf16,
    resolve_device,
)
from invtransfer.errors import DatasetIntegrityError
from invtransfer.io import atomic_dir, atomic_write_json, read_json, save_npy, sha256_file
from invtransfer.labeled_data import dataset_info, load_dataset_split, prepare_images
from invtransfer.models import Classifier, check_layer

__all__ = [
    "FEATURES_FORMAT",
    "compute_features",
    "extract_features",
    "extract_features_many",
    "load_features",
    "read_features_manifest",
]

log = logging.getLogger("invtransfer.features")

FEATURES_FORMAT = "invtransfer.features/1"


def compute_features(
    model: Classifier,
    images_uint8: Tensor,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    *,
    layer: str = "penultimate",
    bf16: bool | str = "auto",
) -> np.ndarray:
    """Features of ``images_uint8`` (uint8 N×H×W×3) as float32 N×D, in eval mode, batched.

    ``layer="penultimate"`` is ``model.features`` (pooled, flat); ``"reference"`` is the layer
    the reference code hooked for sens (differs only for DenseNet: the 6144-d pre-pool BN
    output); see :data:`invtransfer.models.LAYERS`. bf16 autocast on CUDA by default; fp32
    (exact) on the CPU.
    """
    if not isinstance(images_uint8, Tensor) or images_uint8.dtype != torch.uint8:
        raise TypeError(
            f"images must be a uint8 tensor, got {getattr(images_uint8, 'dtype', type(images_uint8))}"
        )
    if images_uint8.dim() != 4 or images_uint8.shape[-1] != 3:
        raise TypeError(f"images must have shape N×H×W×3, got {tuple(images_uint8.shape)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    check_layer(layer)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    use_bf16 = resolve_bf16(bf16, dev)
    was_training = model.training
    model = place_model(model, dev).eval()
    chunks = []
    step = eval_chunk(dev, batch_size)
    with torch.inference_mode(), autocast(dev, use_bf16):
        for start in range(0, images_uint8.shape[0], step):
            batch = images_uint8[start : start + step].to(dev, non_blocking=True)
            chunks.append(model.representation(prepare_images(batch), layer).float().cpu())
    model.train(was_training)
    if not chunks:
        return np.zeros((0, _width(model, layer, images_uint8.shape[1:3], dev)), dtype=np.float32)
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


def _width(model: Classifier, layer: str, size: Sequence[int], dev: torch.device) -> int:
    """Width of ``layer`` for images of ``size`` (the penultimate one is ``feature_dim``)."""
    if layer == "penultimate":
        return model.feature_dim
    was_training = model.training
    with torch.inference_mode():
        width = model.eval().representation(torch.zeros(1, 3, *size, device=dev), layer).shape[1]
    model.train(was_training)
    return int(width)


def _model_info(model_path: str | os.PathLike[str], model: Classifier) -> dict[str, Any]:
    return {
        "path": str(model_path),
        "sha256": sha256_file(model_path),
        "arch": model.arch,
        "arch_kwargs": dict(model.arch_kwargs),
        "num_classes": model.num_classes,
    }


def _check_splits(splits: Sequence[str]) -> None:
    if isinstance(splits, str) or not splits:
        raise ValueError(f"splits must be a non-empty list of split names, got {splits!r}")


def _write_features(
    model: Classifier,
    model_info: Mapping[str, Any],
    dataset_dir: str | os.PathLike[str],
    folder: Path,
    *,
    splits: Sequence[str],
    batch_size: int,
    dev: torch.device,
    layer: str,
    bf16: bool | str = "auto",
) -> dict[str, Any]:
    """Features of ``model`` on every split of ``dataset_dir`` into the (new) ``folder``."""
    manifest: dict[str, Any] = {
        "format": FEATURES_FORMAT,
        "model": dict(model_info),
        "dataset": dataset_info(dataset_dir),
        "representation": layer,  # the layer's name
        "bf16": resolve_bf16(bf16, dev),  # bf16 autocast while computing them
        "splits": {},
    }
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        data = load_dataset_split(dataset_dir, split)
        feats = compute_features(model, data.images, batch_size, dev, layer=layer, bf16=bf16)
        labels = data.labels.cpu().numpy().astype(np.int64)
        if feats.shape[0] == 0:
            raise ValueError(f"dataset {dataset_dir}: split {split!r} has 0 samples")
        save_npy(folder / f"{split}.npy", feats)
        save_npy(folder / f"labels-{split}.npy", labels)
        manifest["splits"][split] = {
            "count": int(feats.shape[0]),
            "file": f"{split}.npy",
            "sha256": sha256_file(folder / f"{split}.npy"),
            "labels_file": f"labels-{split}.npy",
            "labels_sha256": sha256_file(folder / f"labels-{split}.npy"),
        }
        manifest["feature_dim"] = int(feats.shape[1])
        manifest["num_classes"] = int(data.num_classes)
        manifest["class_names"] = [str(c) for c in getattr(data, "class_names", [])]
        log.info("%s: %d × %d features", split, feats.shape[0], feats.shape[1])
    # no timings in the manifest: equal inputs give a byte-identical folder on the CPU
    manifest.update(device=describe_device(dev), **assignment_fields(), package_version=__version__)
    atomic_write_json(folder / "manifest.json", manifest)
    return manifest


def extract_features(
    model_path: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    splits: Sequence[str] = ("train", "val", "test"),
    batch_size: int = 1024,
    device: str = "auto",
    layer: str = "penultimate",
    bf16: bool | str = "auto",
) -> dict[str, Any]:
    """Cache the features of the model in ``model_path`` on each split of ``dataset_dir``.

    Writes ``out_dir/{split}.npy`` (float32 N×D), ``labels-{split}.npy`` (int64 N) and
    ``manifest.json`` (model, dataset, dims, class names, SHA-256 of every file). The folder is
    built under a temporary name and renamed into place as a whole.
    """
    t0 = time.perf_counter()
    _check_splits(splits)
    check_layer(layer)
    dev = resolve_device(device)
    model = load_model(model_path, dev)
    log.info(
        "features of %s (%s) on %s, splits %s, device %s",
        model_path, model.arch, dataset_dir, list(splits), describe_device(dev),
    )  # fmt: skip
    info = _model_info(model_path, model)
    with atomic_dir(out_dir) as tmp:
        manifest = _write_features(
            model, info, dataset_dir, tmp, splits=splits, batch_size=batch_size, dev=dev,
            layer=layer, bf16=bf16,
        )  # fmt: skip
    log.info("features written to %s in %.1f s", out_dir, time.perf_counter() - t0)
    return manifest


def extract_features_many(
    model_path: str | os.PathLike[str],
    dataset_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    splits: Sequence[str] = ("train", "val", "test"),
    batch_size: int = 1024,
    device: str = "auto",
    layer: str = "penultimate",
    bf16: bool | str = "auto",
) -> dict[str, dict[str, Any]]:
    """Features of one model on several datasets: ``out_dir/<dataset folder name>/`` each, in
    the layout of :func:`extract_features`. The model is loaded once; the whole ``out_dir`` is
    renamed into place at the end, so a killed job leaves no partial cache."""
    t0 = time.perf_counter()
    _check_splits(splits)
    check_layer(layer)
    dirs = [Path(d) for d in dataset_dirs]
    if not dirs:
        raise ValueError("dataset_dirs is empty: nothing to extract features of")
    names = [d.name for d in dirs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"dataset folders with the same name {dupes}: their features would collide"
        )
    dev = resolve_device(device)
    model = load_model(model_path, dev)
    info = _model_info(model_path, model)
    log.info(
        "features of %s (%s) on %d datasets, splits %s, device %s",
        model_path, model.arch, len(dirs), list(splits), describe_device(dev),
    )  # fmt: skip
    manifests = {}
    with atomic_dir(out_dir) as tmp:
        for i, d in enumerate(dirs, start=1):
            log.info("dataset %d/%d: %s (%.1f s so far)", i, len(dirs), d, time.perf_counter() - t0)
            manifests[d.name] = _write_features(
                model, info, d, tmp / d.name, splits=splits, batch_size=batch_size, dev=dev,
                layer=layer, bf16=bf16,
            )  # fmt: skip
    log.info("features of %d datasets written to %s in %.1f s", len(dirs), out_dir,
             time.perf_counter() - t0)  # fmt: skip
    return manifests


def _cache_error(
    features_dir: str | os.PathLike[str], path: Path, problem: str
) -> DatasetIntegrityError:
    advice = recovery.rebuild_advice(
        path, fallback=f"invtransfer.features.extract_features into {features_dir} again"
    )
    return DatasetIntegrityError(f"{path}: {problem}; {advice}", path=path, problem=problem)


def read_features_manifest(
    features_dir: str | os.PathLike[str], *, model: str | None = None, dataset: str | None = None
) -> dict[str, Any]:
    """The ``manifest.json`` of a feature cache (format checked). ``model`` / ``dataset``, when
    given, must be the model folder name and dataset folder name the cache was computed from
    (a cache copied from another model or dataset is a DatasetIntegrityError)."""
    path = Path(features_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"feature cache {features_dir}: manifest.json is missing; "
            + recovery.rebuild_advice(path, fallback="run extract_features first")
        )
    try:
        manifest = read_json(path)
    except (ValueError, OSError) as exc:
        raise _cache_error(features_dir, path, f"unreadable ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FEATURES_FORMAT:
        raise _cache_error(features_dir, path, "not an invtransfer feature manifest")
    source = (
        manifest.get("model", {}).get("path") if isinstance(manifest.get("model"), dict) else None
    )
    if model is not None and (source is None or Path(source).parent.name != model):
        raise _cache_error(
            features_dir, path, f"holds the features of model {source!r}, not of {model!r}"
        )
    holds = (
        manifest.get("dataset", {}).get("name")
        if isinstance(manifest.get("dataset"), dict)
        else None
    )
    if dataset is not None and holds != dataset:
        raise _cache_error(
            features_dir, path, f"holds the features of dataset {holds!r}, not of {dataset!r}"
        )
    return manifest


def load_features(
    features_dir: str | os.PathLike[str], split: str, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(features float32 N×D, labels int64 N)`` of ``split`` from a feature cache; with
    ``verify`` the SHA-256 of both files is checked against the manifest. A missing, altered
    or inconsistent file is a DatasetIntegrityError naming it and the command that rebuilds
    the cache."""
    manifest = read_features_manifest(features_dir)
    if split not in manifest["splits"]:
        raise ValueError(
            f"feature cache {features_dir}: no split {split!r}; has {sorted(manifest['splits'])}"
        )
    entry = manifest["splits"][split]
    arrays = []
    for key in ("file", "labels_file"):
        path = Path(features_dir) / entry[key]
        if not path.is_file():
            raise _cache_error(features_dir, path, "missing (listed in manifest.json)")
        if verify:
            expected = entry["sha256" if key == "file" else "labels_sha256"]
            if sha256_file(path) != expected:
                raise _cache_error(
                    features_dir,
                    path,
                    "SHA-256 differs from manifest.json (the cache was altered or truncated)",
                )
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except (ValueError, OSError, EOFError) as exc:
            raise _cache_error(features_dir, path, f"not a readable .npy file ({exc})") from exc
    feats, labels = arrays
    if feats.shape[0] != labels.shape[0] or feats.shape[0] != entry["count"]:
        raise _cache_error(
            features_dir,
            Path(features_dir) / entry["file"],
            f"{split} has {feats.shape[0]} rows and {labels.shape[0]} labels, manifest says "
            f"{entry['count']}",
        )
    return feats, labels
