"""The training engine: the fit/evaluate loop that pretraining, probing and fine-tuning share
(paper App. B.2), its resumable checkpoints, the history CSV and a run's output folder.

Inputs are :class:`~invtransfer.labeled_data.LabeledData` already on the device (or, with
per-epoch rendering, a :class:`~invtransfer.labeled_data.RenderedData` that renders each batch
there); each step takes a batch with a seeded permutation. On CUDA the step runs under bf16 autocast with
channels-last tensors, TF32 and optionally ``torch.compile`` (see :mod:`invtransfer.device`).

Epochs end with an atomic checkpoint (model, optimizer, step, RNG states, best-so-far,
history): the first epoch at least :data:`CHECKPOINT_EVERY_S` seconds (``checkpoint_every_s``;
0: every epoch) after the last checkpoint, and always the last epoch. A rerun after a kill
resumes from the last checkpointed epoch; on the CPU the resumed run ends with exactly the
weights of an uninterrupted one. The checkpoint is written by a background thread from a CPU
snapshot, so the next epoch does not wait for the disk. The best epoch's weights are kept on the
training device (a copy there costs no host-device round trip) and go to the CPU once per new
best epoch, when a checkpoint needs them.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from invtransfer import __version__
from invtransfer.augment import augment_batch, check_augment
from invtransfer.checkpoint import (
    CHECKPOINT_FORMAT,
    load_resume_checkpoint,
    load_state_checked,
    remove_torch_file,
    save_model,
    save_torch_file,
    state_to_cpu,
)
from invtransfer.device import autocast, eval_chunk
from invtransfer.errors import CheckpointError
from invtransfer.io import atomic_write_json, atomic_write_text
from invtransfer.labeled_data import LabeledData, RenderedData
from invtransfer.models import Classifier
from invtransfer.rng import derive_seed

__all__ = [
    "CHECKPOINT_EVERY_S",
    "HISTORY_COLUMNS",
    "EpochCallback",
    "FitResult",
    "TrainHParams",
    "close_run",
    "evaluate",
    "fit",
    "open_run",
    "write_history",
]

log = logging.getLogger("invtransfer.engine")

HISTORY_COLUMNS = (
    "epoch",  # 1-based
    "lr_start",  # learning rate of the epoch's first step
    "lr_end",  # learning rate after its last step (what the next step would use)
    "train_loss",  # mean over the epoch's training batches (train mode, as in Lightning)
    "train_accuracy",  # micro accuracy over the same batches
    "val_loss",  # eval mode, whole validation split
    "val_accuracy",  # micro accuracy, recomputed from zero for this split
)

EpochCallback = Callable[[int, Mapping[str, float]], None]

#: Seconds between resume checkpoints (after the epoch that ends at least this long after the
#: last one; the last epoch always has one): a kill loses at most this much and one epoch of
#: training. Every epoch's checkpoint cost a ResNet-18 pretraining on an H200 8 s of its 56 s
#: (epochs of 1 s; ``bench/RESULTS.md``, "GPU check"); at the CPU's epochs of a minute or more
#: it is every epoch as before.
CHECKPOINT_EVERY_S = 60.0


# -- hyper-parameters ------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainHParams:
    """One training run's optimisation settings (paper App. B.2 defaults)."""

    epochs: int = 50  # passes over the training split
    batch_size: int = 512  # examples per optimizer step
    lr: float = 1e-3  # Adam learning rate (peak for the "vit" schedule)
    weight_decay: float = 0.0  # Adam L2 penalty; the paper uses 1e-5 for ViT
    schedule: Literal["constant", "vit", "linear"] = "constant"
    # "vit": linear warm-up for warmup_epochs, then cosine decay lr -> min_lr (paper B.2);
    # "linear": linear decay lr -> 0 over decay_epochs (full fine-tuning, paper C.2)
    warmup_epochs: int = 5  # "vit" only, in epochs
    min_lr: float = 1e-5  # "vit" only: learning rate at the last step
    decay_epochs: int | None = None  # "linear" only: epochs until lr = 0 (None: all epochs)
    seed: int = 0  # shuffling stream (weights are seeded by whoever builds the model)
    eval_batch_size: int = 1024  # examples per forward pass in evaluation
    augment: str = "none"  # training batches only: "none" | "crop-flip" (see invtransfer.augment)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("warmup_epochs", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.schedule not in ("constant", "vit", "linear"):
            raise ValueError(
                f"schedule must be 'constant', 'vit' or 'linear', got {self.schedule!r}"
            )
        if not (isinstance(self.min_lr, (int, float)) and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"min_lr must be in [0, lr={self.lr}], got {self.min_lr!r}")
        check_augment(self.augment)
        if self.decay_epochs is not None and (
            not isinstance(self.decay_epochs, int) or self.decay_epochs < 1
        ):
            raise ValueError(
                f"decay_epochs must be a positive int or None, got {self.decay_epochs!r}"
            )

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate of optimizer step ``step`` (0-based); a pure function, so resuming
        needs only the step count."""
        if self.schedule == "constant":
            return float(self.lr)
        if self.schedule == "linear":
            total = (self.decay_epochs or self.epochs) * steps_per_epoch
            return float(self.lr) * max(0.0, 1.0 - step / total)
        warmup = min(self.warmup_epochs, self.epochs - 1) * steps_per_epoch
        if step < warmup:  # reaches lr at the last warm-up step
            return float(self.lr) * (step + 1) / warmup
        total = self.epochs * steps_per_epoch
        progress = min(1.0, (step - warmup) / max(1, total - 1 - warmup))
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


# -- batches and evaluation ---------------------------------------------------------------
def _batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Batch bounds over a permutation of ``n`` examples, without dropping any: a trailing
    batch of a single example joins the previous one (BatchNorm cannot train on one)."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def evaluate(
    model: nn.Module,
    data: LabeledData,
    *,
    batch_size: int = 1024,
    bf16: bool = False,
) -> dict[str, float]:
    """Loss, micro accuracy and macro accuracy (mean per-class recall over the classes present)
    of ``model`` on ``data``, in eval mode, counted from zero for this split alone."""
    was_training = model.training
    model.eval()
    device = data.y.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    hits = torch.zeros(data.num_classes, dtype=torch.int64, device=device)
    seen = torch.zeros(data.num_classes, dtype=torch.int64, device=device)
    step = eval_chunk(device, batch_size)
    with torch.inference_mode(), autocast(device, bf16):
        for start in range(0, len(data), batch_size):
            x, y = data.batch(slice(start, start + batch_size))
            # forward in device-sized chunks (per-sample identical); the loss sums per batch
            if step >= len(x):  # one pass (a GPU, or a small batch): no concatenated copy
                logits = model(x)
            else:
                logits = torch.cat([model(x[i : i + step]) for i in range(0, len(x), step)])
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            seen += torch.bincount(y, minlength=data.num_classes)
            hits += torch.bincount(y[logits.argmax(1) == y], minlength=data.num_classes)
    model.train(was_training)
    hits_np, seen_np = hits.cpu().numpy(), seen.cpu().numpy()
    present = seen_np > 0
    return {
        "loss": float(loss_sum.item()) / len(data),
        "accuracy": float(hits_np.sum()) / len(data),
        "macro_accuracy": float(np.mean(hits_np[present] / seen_np[present])),
    }


# -- the loop --------------------------------------------------------------------------------
@dataclass
class FitResult:
    history: list[dict[str, float]]  # one record per epoch, keys HISTORY_COLUMNS
    best_epoch: int  # 1-based epoch whose weights the model now holds
    best_val_accuracy: float
    train_time_s: float  # training steps of this process only (excludes evaluation)
    train_images: int  # images this process trained on
    resumed_from_epoch: int  # epochs finished by an earlier, interrupted process

    @property
    def img_per_s(self) -> float | None:
        """Training throughput of this process; None if it trained nothing (resumed at the end)."""
        return self.train_images / self.train_time_s if self.train_time_s > 0 else None


class _CheckpointWriter:
    """Writes one checkpoint at a time in a background thread; errors surface on ``wait``."""

    def __init__(self, path: Path):
        self.path = path
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, payload: dict[str, Any]) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(payload,), daemon=True)
        self._thread.start()

    def _write(self, payload: dict[str, Any]) -> None:
        try:
            save_torch_file(self.path, payload)
        except BaseException as exc:
            self._error = exc

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise CheckpointError(f"could not write checkpoint {self.path}: {error}") from error


def fit(
    model: nn.Module,
    train: LabeledData | RenderedData,
    val: LabeledData,
    hparams: TrainHParams,
    *,
    device: torch.device,
    bf16: bool = False,
    compile: bool = False,
    checkpoint_path: str | os.PathLike[str] | None = None,
    checkpoint_every_s: float = CHECKPOINT_EVERY_S,
    fingerprint: Mapping[str, Any] | None = None,
    on_epoch_end: EpochCallback | None = None,
    label: str = "train",
) -> FitResult:
    """Train the parameters of ``model`` that require grad with Adam on ``train``; after each
    epoch evaluate on ``val``. Returns with the best-validation-accuracy weights loaded
    (ties go to the earlier epoch).

    ``model``, ``train`` and ``val`` must already be on ``device``; ``train`` may be a
    :class:`~invtransfer.labeled_data.RenderedData` (per-epoch rendering: epoch ``e``'s batches
    are rendered with that epoch's draws). With ``checkpoint_path``, a
    checkpoint is written after the first epoch that ends ``checkpoint_every_s`` seconds after
    the last checkpoint (or the start; 0: after every epoch) and after the last epoch, and an
    existing one (same ``fingerprint`` and data) is resumed. ``on_epoch_end(epoch, record)``
    runs after that epoch's checkpoint, if it has one, exists; an exception it raises stops
    training (the tests use this to simulate a kill).
    """
    if not (
        isinstance(checkpoint_every_s, (int, float))
        and not isinstance(checkpoint_every_s, bool)
        and math.isfinite(checkpoint_every_s)
        and checkpoint_every_s >= 0
    ):
        raise ValueError(f"checkpoint_every_s must be a number >= 0, got {checkpoint_every_s!r}")
    if len(train) < 2:
        raise ValueError(f"{label}: need at least 2 training examples, got {len(train)}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{label}: the model has no trainable parameters")
    if hparams.augment != "none" and train.kind != "images":
        raise ValueError(f"{label}: augment={hparams.augment!r} needs image inputs, not features")
    fused = device.type == "cuda"
    optimizer = torch.optim.Adam(
        params, lr=hparams.lr, weight_decay=hparams.weight_decay, fused=fused or None
    )
    shuffle = torch.Generator().manual_seed(derive_seed(hparams.seed, "shuffle"))
    runner = torch.compile(model) if compile else model
    bounds = _batches(len(train), hparams.batch_size)
    steps_per_epoch = len(bounds)
    ckpt_path = Path(checkpoint_path) if checkpoint_path is not None else None
    full_fingerprint = {}
    if ckpt_path is not None:  # hashing the data costs ~0.3 s per 50k images: only if needed
        full_fingerprint = {
            **(fingerprint or {}),
            "hparams": asdict(hparams),
            "train_data": train.fingerprint(),
            "val_data": val.fingerprint(),
        }

    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": 0, "val_accuracy": -1.0, "state": None}
    start_epoch = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(hparams.seed, "torch"))  # any stray global draw
        if ckpt_path is not None and ckpt_path.exists():
            state = load_resume_checkpoint(ckpt_path, full_fingerprint)
            load_state_checked(model, state["model"], ckpt_path)
            optimizer.load_state_dict(state["optimizer"])
            shuffle.set_state(state["shuffle_rng"])
            torch.set_rng_state(state["torch_rng"])
            history = list(state["history"])
            best = dict(state["best"])
            start_epoch = int(state["epoch"])
            log.info("%s: resuming from %s after epoch %d", label, ckpt_path, start_epoch)
        writer = _CheckpointWriter(ckpt_path) if ckpt_path is not None else None
        train_time, train_images = 0.0, 0
        last_checkpoint = time.perf_counter()
        best_on_cpu: dict[str, Any] = state_to_cpu(best)  # copied once per new best epoch
        try:
            for epoch in range(start_epoch, hparams.epochs):
                t0 = time.perf_counter()
                record = _train_epoch(
                    runner, model, optimizer, train, bounds, shuffle, hparams, epoch, bf16
                )
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                epoch_time = time.perf_counter() - t0
                train_time += epoch_time
                train_images += len(train)
                val_metrics = evaluate(runner, val, batch_size=hparams.eval_batch_size, bf16=bf16)
                record.update(val_loss=val_metrics["loss"], val_accuracy=val_metrics["accuracy"])
                history.append(record)
                if record["val_accuracy"] > best["val_accuracy"]:
                    best = {
                        "epoch": epoch + 1,
                        "val_accuracy": record["val_accuracy"],
                        "state": _snapshot(model.state_dict()),
                    }
                _log_epoch(
                    label,
                    record,
                    epoch_time,
                    len(train),
                    train_time,
                    epoch - start_epoch,
                    hparams.epochs - epoch - 1,
                )
                due = time.perf_counter() - last_checkpoint >= checkpoint_every_s
                if writer is not None and (due or epoch + 1 == hparams.epochs):
                    last_checkpoint = time.perf_counter()
                    if best_on_cpu["epoch"] != best["epoch"]:
                        best_on_cpu = state_to_cpu(best)
                    writer.submit(
                        {
                            "format": CHECKPOINT_FORMAT,
                            "fingerprint": full_fingerprint,
                            "epoch": epoch + 1,
                            "step": (epoch + 1) * steps_per_epoch,
                            "model": state_to_cpu(model.state_dict()),
                            "optimizer": state_to_cpu(optimizer.state_dict()),
                            "shuffle_rng": shuffle.get_state(),
                            "torch_rng": torch.get_rng_state(),
                            "history": [dict(r) for r in history],
                            "best": best_on_cpu,
                        }
                    )
                if on_epoch_end is not None:
                    if writer is not None:
                        writer.wait()  # the callback may simulate a kill: the file must exist
                    on_epoch_end(epoch + 1, dict(record))
        finally:
            if writer is not None:
                writer.wait()
    assert best["state"] is not None  # at least one epoch ran here or in the resumed run
    load_state_checked(model, best["state"], ckpt_path or "best state")
    return FitResult(
        history=history,
        best_epoch=int(best["epoch"]),
        best_val_accuracy=float(best["val_accuracy"]),
        train_time_s=train_time,
        train_images=train_images,
        resumed_from_epoch=start_epoch,
    )


def _snapshot(state: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a state dict on its own device (training continues in place)."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _train_epoch(
    runner: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: LabeledData | RenderedData,
    bounds: Sequence[tuple[int, int]],
    shuffle: torch.Generator,
    hparams: TrainHParams,
    epoch: int,
    bf16: bool,
) -> dict[str, float]:
    device = train.y.device
    model.train()
    order = torch.randperm(len(train), generator=shuffle)  # CPU: also the augmentation's keys
    perm = order.to(device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    first_step = epoch * len(bounds)
    for i, (start, stop) in enumerate(bounds):
        lr = hparams.lr_at(first_step + i, len(bounds))
        for group in optimizer.param_groups:
            group["lr"] = lr
        augment = None
        if hparams.augment != "none":
            augment = partial(
                augment_batch, name=hparams.augment, seed=hparams.seed, epoch=epoch,
                indices=order[start:stop],
            )  # fmt: skip
        x, y = train.batch(perm[start:stop], augment, epoch=epoch, host_index=order[start:stop])
        with autocast(device, bf16):
            logits = runner(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().double() * (stop - start)
        correct += (logits.detach().argmax(1) == y).sum()
    n = len(train)
    return {
        "epoch": epoch + 1,
        "lr_start": hparams.lr_at(first_step, len(bounds)),
        "lr_end": hparams.lr_at(first_step + len(bounds), len(bounds)),
        "train_loss": float(loss_sum.item()) / n,
        "train_accuracy": int(correct.item()) / n,
    }


def _log_epoch(
    label: str,
    record: Mapping[str, float],
    epoch_time: float,
    n: int,
    train_time: float,
    done_here: int,
    remaining: int,
) -> None:
    eta = train_time / (done_here + 1) * remaining * 1.1  # +10 %: evaluation is not in train_time
    log.info(
        "%s epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | lr %.2e | %.0f img/s"
        " | ETA %s",
        label,
        record["epoch"],
        record["train_loss"],
        record["train_accuracy"],
        record["val_loss"],
        record["val_accuracy"],
        record["lr_end"],
        n / epoch_time if epoch_time > 0 else float("nan"),
        _fmt_duration(eta),
    )


def _fmt_duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s"


def write_history(path: str | os.PathLike[str], history: Sequence[Mapping[str, float]]) -> None:
    """history.csv with :data:`HISTORY_COLUMNS`; floats written shortest-round-trip, so equal
    runs give byte-identical files."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for rec in history:
        writer.writerow(
            [repr(rec[c]) if isinstance(rec[c], float) else rec[c] for c in HISTORY_COLUMNS]
        )
    atomic_write_text(path, buf.getvalue())


# -- a run's output folder --------------------------------------------------------------------
def open_run(out_dir: str | os.PathLike[str], *, resume: bool) -> tuple[Path, Path]:
    """The output folder of a training run and its resume checkpoint path
    (``out_dir/checkpoint.pt``; deleted first unless ``resume``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    if not resume:
        remove_torch_file(ckpt)
    return out, ckpt


def close_run(
    out: Path,
    ckpt: Path,
    model: Classifier,
    history: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    *,
    class_names: Sequence[str],
    seed: int,
    started: float,
) -> dict[str, Any]:
    """Write ``model.pt``, ``history.csv`` and ``metrics.json`` (last, with wall time and
    versions) of a finished run into ``out``, then drop its resume checkpoint."""
    save_model(out / "model.pt", model, class_names=list(class_names), seed=seed)
    write_history(out / "history.csv", history)
    final = {
        **metrics,
        "wall_time_s": time.perf_counter() - started,
        "package_version": __version__,
        "torch_version": torch.__version__,
    }
    atomic_write_json(out / "metrics.json", final)
    remove_torch_file(ckpt)
    return final
