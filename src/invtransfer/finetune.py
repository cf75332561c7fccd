"""Full fine-tuning after the linear probe (paper App. C.2; LP-FT, Kumar et al. 2022).

The whole network starts from the pretrained backbone plus the probe's head and trains for 50
epochs with Adam, lr 1e-3 decaying linearly to 0 over the 50 epochs, on N target samples: a
seeded, class-stratified subset of the target train split (200 / 2000 for Transforms-2D, 1 % /
10 % for CIFAR). The best validation epoch is kept.

The reference's schedule reaches 0 after 5 epochs (``LinearLR``'s default ``total_iters=5``),
so its epochs 6–50 do not move the weights; ``lr_decay_epochs=5`` reproduces that.

``rendering="per-epoch"`` renders the training subset with fresh transformation draws every
epoch (as pretraining does, :mod:`invtransfer.datasets.render`); validation and test use the
materialized splits.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from invtransfer.checkpoint import load_head, load_model
from invtransfer.device import (
    assignment_fields,
    configure_cuda,
    describe_device,
    place_model,
    resolve_bf16,
    resolve_device,
)
from invtransfer.engine import EpochCallback, TrainHParams, close_run, evaluate, fit, open_run
from invtransfer.labeled_data import (
    DEFAULT_RENDERING,
    Renderer,
    SplitLike,
    as_image_split,
    check_rendering,
    dataset_info,
    device_splits,
    is_renderer,
    load_train_val_test,
    training_renderer,
)
from invtransfer.models import Classifier
from invtransfer.rng import derive_seed

__all__ = ["finetune", "finetune_model", "resolve_n_samples", "stratified_subset"]

log = logging.getLogger("invtransfer.finetune")


def resolve_n_samples(n_samples: int | float, available: int) -> int:
    """An int is a count; a float in (0, 1] is a fraction of ``available`` (rounded, ≥ 1)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, float)):
        raise TypeError(f"n_samples must be an int or a float fraction, got {n_samples!r}")
    if isinstance(n_samples, float):
        if not 0.0 < n_samples <= 1.0:
            raise ValueError(f"n_samples as a fraction must be in (0, 1], got {n_samples}")
        return max(1, round(n_samples * available))
    if not 1 <= n_samples <= available:
        raise ValueError(
            f"n_samples must be in [1, {available}] (the train split), got {n_samples}"
        )
    return n_samples


def stratified_subset(labels: Tensor | np.ndarray, n_samples: int | float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded, class-stratified subset of ``labels`` of size ``n_samples``.

    Each class gets its share of ``n`` in proportion to its frequency (largest remainder, ties
    to the lower class id); the members of each class are a seeded random choice.
    """
    y = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    n = resolve_n_samples(n_samples, y.size)
    classes, counts = np.unique(y, return_counts=True)
    exact = n * counts / y.size
    quota = np.floor(exact).astype(np.int64)
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - quota[i]), i))
    for i in order[: n - int(quota.sum())]:
        quota[i] += 1
    rng = np.random.default_rng(derive_seed(seed, "finetune-subset"))
    chosen = [
        rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def finetune_model(
    model: Classifier,
    train: SplitLike | tuple[Tensor, Tensor] | Renderer,
    val: SplitLike | tuple[Tensor, Tensor],
    test: SplitLike | tuple[Tensor, Tensor] | None = None,
    *,
    n_samples: int | float,
    hparams: TrainHParams | None = None,
    device: str | torch.device = "auto",
    bf16: bool | str = "auto",
    compile: bool = False,
    checkpoint_path: str | os.PathLike[str] | None = None,
    on_epoch_end: EpochCallback | None = None,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Fine-tune every parameter of ``model`` (whose ``head`` is already the probe's) on a
    stratified subset of ``train``; returns ``(metrics, history)`` and leaves the
    best-validation weights in ``model``. ``train`` may be a per-epoch renderer on ``device``
    (the subset is then rendered with each epoch's own draws)."""
    hp = hparams or TrainHParams(schedule="linear")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    use_bf16 = resolve_bf16(bf16, dev)
    num_classes = model.num_classes
    rendering = "per-epoch" if is_renderer(train) else "fixed"
    if rendering == "fixed":
        labels = as_image_split(train, "train", num_classes)[1]  # type: ignore[arg-type]
    else:
        labels = train.labels  # type: ignore[union-attr]
    subset = torch.from_numpy(stratified_subset(labels, n_samples, hp.seed))
    data = device_splits(train, val, test, num_classes, dev, subset)
    if dev.type == "cuda":
        configure_cuda()
    for p in model.parameters():
        p.requires_grad_(True)
    model = place_model(model, dev)
    log.info(
        "fine-tuning %s on %d of %d train images for %d epochs (lr %.1e, decay over %s), "
        "rendering %s, device %s",
        model.arch, len(subset), len(labels), hp.epochs, hp.lr, hp.decay_epochs or hp.epochs,
        rendering, describe_device(dev),
    )  # fmt: skip
    fingerprint = {"arch": model.arch, "arch_kwargs": model.arch_kwargs, "num_classes": num_classes}
    result = fit(
        model, data["train"], data["val"], hp, device=dev, bf16=use_bf16, compile=compile,
        checkpoint_path=checkpoint_path, fingerprint=fingerprint, on_epoch_end=on_epoch_end,
        label="finetune",
    )  # fmt: skip
    model.eval()
    metrics: dict[str, Any] = {
        "arch": model.arch,
        "num_classes": num_classes,
        "n_samples": len(subset),
        "rendering": rendering,
        "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy,
        "epochs": hp.epochs,
        "lr_decay_epochs": hp.decay_epochs or hp.epochs,
        "train_time_s": result.train_time_s,
        "img_per_s": result.img_per_s,
        "resumed_from_epoch": result.resumed_from_epoch,
        "device": describe_device(dev),
        **assignment_fields(),
        "bf16": use_bf16,
        "seed": hp.seed,
    }
    if "test" in data:
        m = evaluate(model, data["test"], batch_size=hp.eval_batch_size, bf16=use_bf16)
        metrics.update({f"test_{k}": v for k, v in m.items()})
    return metrics, result.history


def finetune(
    model_path: str | os.PathLike[str],
    probe_dir: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    n_samples: int | float,
    epochs: int = 50,
    lr: float = 1e-3,
    lr_decay_epochs: int | None = None,
    batch_size: int = 512,
    seed: int = 0,
    rendering: str = DEFAULT_RENDERING,
    device: str = "auto",
    bf16: bool | str = "auto",
    compile: bool = False,
    resume: bool = True,
) -> dict[str, Any]:
    """Fine-tune the pretrained model in ``model_path`` with the head in ``probe_dir/head.pt``
    on ``dataset_dir``; writes ``out_dir/{model.pt, history.csv, metrics.json}`` (metrics
    last), keeping ``out_dir/checkpoint.pt`` for resuming until the end. ``rendering``:
    ``"fixed"`` (the stored train split) or ``"per-epoch"`` (fresh draws every epoch)."""
    t0 = time.perf_counter()
    hp = TrainHParams(
        epochs=epochs, batch_size=batch_size, lr=lr, schedule="linear",
        decay_epochs=lr_decay_epochs, seed=seed,
    )  # fmt: skip
    check_rendering(rendering)
    dev = resolve_device(device)
    out, ckpt = open_run(out_dir, resume=resume)
    train, val, test = load_train_val_test(dataset_dir)
    source = train if rendering == "fixed" else training_renderer(dataset_dir, train, dev)
    num_classes = int(train.num_classes)
    model = load_model(model_path, "cpu")
    head, head_info = load_head(
        Path(probe_dir) / "head.pt", feature_dim=model.feature_dim, num_classes=num_classes
    )
    _check_same_dataset(head_info, dataset_dir, probe_dir)
    model.head = head  # the probe's head replaces the pretraining head (LP-FT)
    metrics, history = finetune_model(
        model, source, val, test, n_samples=n_samples, hparams=hp, device=dev, bf16=bf16,
        compile=compile, checkpoint_path=ckpt,
    )  # fmt: skip
    class_names = [str(c) for c in getattr(train, "class_names", [])]
    metrics.update(
        pretrained_model=str(model_path), probe=str(probe_dir), dataset=dataset_info(dataset_dir)
    )
    return close_run(
        out, ckpt, model, history, metrics, class_names=class_names, seed=seed, started=t0
    )


def _check_same_dataset(head_info: Mapping[str, Any], dataset_dir: Any, probe_dir: Any) -> None:
    """A head probed on one dataset must not be fine-tuned on another by a wiring mistake."""
    probed = head_info.get("dataset", {}).get("name")
    target = Path(dataset_dir).name
    if probed is not None and probed != target:
        raise ValueError(
            f"probe {probe_dir} was trained on dataset {probed!r}, but fine-tuning was asked "
            f"on {target!r}; pass the probe of the same target dataset"
        )
