"""Pretraining runs (paper §4.1, App. B.2): a model built from a seeded initialisation, trained
with the engine on a dataset folder, written as ``model.pt``, ``history.csv`` and
``metrics.json``.

``rendering="per-epoch"`` trains on fresh transformation draws every epoch, rendered per batch
on the training device (:mod:`invtransfer.datasets.render`); ``"fixed"`` on the materialized
draws. Validation and test always use the materialized splits.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from invtransfer.device import (
    assignment_fields,
    configure_cuda,
    describe_device,
    place_model,
    resolve_bf16,
    resolve_device,
)
from invtransfer.engine import (
    CHECKPOINT_EVERY_S,
    EpochCallback,
    FitResult,
    TrainHParams,
    close_run,
    evaluate,
    fit,
    open_run,
)
from invtransfer.labeled_data import (
    DEFAULT_RENDERING,
    Renderer,
    SplitLike,
    check_rendering,
    dataset_info,
    device_splits,
    is_renderer,
    load_train_val_test,
    training_renderer,
)
from invtransfer.models import Classifier, build_model

__all__ = ["TrainResult", "pretrain", "train_model"]

log = logging.getLogger("invtransfer.pretraining")


@dataclass
class TrainResult:
    model: Classifier  # best-validation weights, on the training device, eval mode
    fit: FitResult
    metrics: dict[str, Any] = field(default_factory=dict)


def train_model(
    arch: str,
    train: SplitLike | tuple[Tensor, Tensor] | Renderer,
    val: SplitLike | tuple[Tensor, Tensor],
    test: SplitLike | tuple[Tensor, Tensor] | None = None,
    *,
    num_classes: int,
    arch_kwargs: Mapping[str, Any] | None = None,
    hparams: TrainHParams | None = None,
    device: str | torch.device = "auto",
    bf16: bool | str = "auto",
    compile: bool = False,
    checkpoint_path: str | os.PathLike[str] | None = None,
    checkpoint_every_s: float = CHECKPOINT_EVERY_S,
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """Pretrain ``arch`` from a seeded initialisation (``build_model(seed=hparams.seed)``) on
    in-memory splits; evaluate the best-validation weights on ``test`` if given. ``train`` may
    be a per-epoch renderer on ``device`` (e.g. :func:`training_renderer`): each epoch then
    trains on its own transformation draws. ``checkpoint_every_s``: see
    :func:`~invtransfer.engine.fit` (0: a checkpoint after every epoch)."""
    hp = hparams or TrainHParams()
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    use_bf16 = resolve_bf16(bf16, dev)
    if not isinstance(compile, bool):
        raise ValueError(f"compile must be true or false, got {compile!r}")
    kwargs = dict(arch_kwargs or {})
    model = build_model(arch, num_classes, seed=hp.seed, **kwargs)
    rendering = "per-epoch" if is_renderer(train) else "fixed"
    data = device_splits(train, val, test, num_classes, dev)
    if dev.type == "cuda":
        configure_cuda()
    model = place_model(model, dev)
    log.info(
        "pretraining %s (%d classes, %d params) on %d images, %d epochs, rendering %s, augment "
        "%s, device %s, bf16 %s, compile %s",
        arch, num_classes, model.num_parameters(), len(data["train"]), hp.epochs, rendering,
        hp.augment, describe_device(dev), use_bf16, compile,
    )  # fmt: skip
    fingerprint = {"arch": arch, "arch_kwargs": model.arch_kwargs, "num_classes": num_classes}
    result = fit(
        model,
        data["train"],
        data["val"],
        hp,
        device=dev,
        bf16=use_bf16,
        compile=compile,
        checkpoint_path=checkpoint_path,
        checkpoint_every_s=checkpoint_every_s,
        fingerprint=fingerprint,
        on_epoch_end=on_epoch_end,
        label=arch,
    )
    model.eval()
    metrics: dict[str, Any] = {
        "arch": arch,
        "arch_kwargs": dict(model.arch_kwargs),
        "num_classes": num_classes,
        "seed": hp.seed,
        "epochs": hp.epochs,
        "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy,
        "train_images_per_epoch": len(data["train"]),
        "rendering": rendering,
        "train_time_s": result.train_time_s,
        "img_per_s": result.img_per_s,
        "resumed_from_epoch": result.resumed_from_epoch,
        "device": describe_device(dev),
        **assignment_fields(),
        "bf16": use_bf16,
        "compile": compile,
        "hparams": asdict(hp),
    }
    if "test" in data:
        m = evaluate(model, data["test"], batch_size=hp.eval_batch_size, bf16=use_bf16)
        metrics.update({f"test_{k}": v for k, v in m.items()})
        log.info(
            "%s: best epoch %d (val acc %.4f), test acc %.4f (macro %.4f)",
            arch, result.best_epoch, result.best_val_accuracy,
            metrics["test_accuracy"], metrics["test_macro_accuracy"],
        )  # fmt: skip
    return TrainResult(model=model, fit=result, metrics=metrics)


def pretrain(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    arch: str,
    arch_kwargs: Mapping[str, Any] | None = None,
    epochs: int = 50,
    batch_size: int = 512,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: Literal["constant", "linear", "vit"] = "constant",
    warmup_epochs: int = 5,
    min_lr: float = 1e-5,
    seed: int = 0,
    augment: str = "none",
    rendering: str = DEFAULT_RENDERING,
    device: str = "auto",
    compile: bool = False,
    bf16: bool | str = "auto",
    resume: bool = True,
) -> dict[str, Any]:
    """Pretrain ``arch`` on the dataset in ``dataset_dir`` and write ``out_dir/model.pt``,
    ``history.csv`` and ``metrics.json`` (written last). ``out_dir/checkpoint.pt`` holds the
    resume state while training runs and is removed at the end. ``augment``: training-time
    augmentation of the batches (:data:`invtransfer.augment.AUGMENTATIONS`; ``"crop-flip"`` is
    CIFAR's random crop + horizontal flip, which the reference used for the IFE C/C model).
    ``rendering``: ``"fixed"`` trains on the stored train split every epoch; ``"per-epoch"``
    renders each batch with that epoch's own transformation draws (epoch 0 = the stored split;
    see :mod:`invtransfer.datasets.render`).

    Declare the three files, not the folder, as the rule's outputs: Snakemake deletes a
    ``directory()`` output before a rerun, which would throw the checkpoint away.
    """
    wall0 = time.perf_counter()
    if schedule not in ("constant", "linear", "vit"):
        raise ValueError(
            f"pretrain: schedule must be 'constant', 'linear' or 'vit', got {schedule!r}"
        )
    hp = TrainHParams(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        warmup_epochs=warmup_epochs,
        min_lr=min_lr,
        seed=seed,
        augment=augment,
    )
    check_rendering(rendering)
    out, ckpt = open_run(out_dir, resume=resume)
    train, val, test = load_train_val_test(dataset_dir)
    dev = resolve_device(device)
    source = train if rendering == "fixed" else training_renderer(dataset_dir, train, dev)
    result = train_model(
        arch, source, val, test,
        num_classes=int(train.num_classes), arch_kwargs=arch_kwargs, hparams=hp, device=dev,
        bf16=bf16, compile=compile, checkpoint_path=ckpt,
    )  # fmt: skip
    class_names = [str(c) for c in getattr(train, "class_names", [])]
    metrics = {**result.metrics, "dataset": dataset_info(dataset_dir), "class_names": class_names}
    return close_run(
        out, ckpt, result.model, result.fit.history, metrics, class_names=class_names, seed=seed,
        started=wall0,
    )  # fmt: skip
