"""The training engine: pretraining (paper §4.1, App. B.2) and the loop that probing and
fine-tuning reuse.

Design (after airbench's ``CifarLoader``): the whole split moves to the device once as
``uint8``; each step slices a batch with a seeded permutation and converts/normalises it on the
device, so there are no DataLoader workers and no host-device copies in the loop. On CUDA the
step runs under bf16 autocast with channels-last tensors, TF32 and optionally ``torch.compile``.

Every epoch ends with an atomic checkpoint (model, optimizer, step, RNG states, best-so-far,
history). A rerun after a kill resumes from the last finished epoch; on the CPU the resumed run
ends with exactly the weights of an uninterrupted one. The checkpoint is written by a
background thread from a CPU snapshot, so the next epoch does not wait for the disk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invtransfer import __version__
from invtransfer.checkpoint import load_model as load_model
from invtransfer.checkpoint import (
    load_state_checked,
    load_torch_file,
    save_model,
    save_torch_file,
    state_to_cpu,
)
from invtransfer.device import describe_device, resolve_device
from invtransfer.errors import CheckpointError
from invtransfer.io import atomic_write_json, atomic_write_text, sha256_file
from invtransfer.models import Classifier, build_model
from invtransfer.rng import derive_seed

__all__ = [
    "HISTORY_COLUMNS",
    "EpochCallback",
    "FitResult",
    "LabeledData",
    "TrainHParams",
    "TrainResult",
    "as_image_split",
    "check_labels",
    "evaluate",
    "fit",
    "load_dataset_split",
    "load_model",
    "place_model",
    "prepare_images",
    "pretrain",
    "train_model",
    "write_history",
]

log = logging.getLogger("invtransfer.training")

CHECKPOINT_FORMAT = "invtransfer.checkpoint/1"
HISTORY_COLUMNS = (
    "epoch",  # 1-based
    "lr_start",  # learning rate of the epoch's first step
    "lr_end",  # learning rate after its last step (what the next step would use)
    "train_loss",  # mean over the epoch's training batches (train mode, as in Lightning)
    "train_accuracy",  # micro accuracy over the same batches
    "val_loss",  # eval mode, whole validation split
    "val_accuracy",  # micro accuracy, recomputed from zero for this split
)


class SplitLike(Protocol):
    """What :func:`invtransfer.datasets.store.load_split` returns (duck-typed here)."""

    images: Tensor
    labels: Tensor


EpochCallback = Callable[[int, Mapping[str, float]], None]


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


# -- data ------------------------------------------------------------------------------------
def prepare_images(images: Tensor) -> Tensor:
    """uint8 N×H×W×3 → float32 N×3×H×W in [-1, 1]: ``(x/255 − 0.5)/0.5`` as the reference's
    ToTensor+Normalize(0.5, 0.5). Runs on the images' device; the permuted view is already
    channels-last in memory, and the float copy keeps that layout."""
    return images.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5).div_(0.5)


@dataclass
class LabeledData:
    """Inputs and labels already on the training device.

    ``kind="images"``: ``x`` is uint8 N×H×W×3 and batches go through :func:`prepare_images`;
    ``kind="features"``: ``x`` is float32 N×D and batches are used as they are.
    """

    x: Tensor
    y: Tensor
    kind: Literal["images", "features"]
    num_classes: int

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, index: Tensor | slice) -> tuple[Tensor, Tensor]:
        x = self.x[index]
        return (prepare_images(x) if self.kind == "images" else x), self.y[index]

    def fingerprint(self) -> str:
        """SHA-256 of the inputs and labels (what a resume checkpoint must have been made on)."""
        h = hashlib.sha256()
        for t in (self.x, self.y):
            arr = t.detach().cpu().contiguous().numpy()
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(arr.tobytes())
        return h.hexdigest()


def as_image_split(
    data: SplitLike | tuple[Tensor, Tensor], name: str, num_classes: int
) -> tuple[Tensor, Tensor]:
    """Validate a split (``.images``/``.labels`` or an ``(images, labels)`` pair)."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise TypeError(f"{name}: expected (images, labels), got a tuple of {len(data)}")
        images, labels = data
    elif hasattr(data, "images") and hasattr(data, "labels"):
        images, labels = data.images, data.labels
    else:
        raise TypeError(
            f"{name}: expected a SplitData or (images, labels), got {type(data).__name__}"
        )
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        desc = (images.dtype, tuple(images.shape)) if isinstance(images, Tensor) else type(images)
        raise TypeError(f"{name}: images must be a uint8 tensor N×H×W×3, got {desc}")
    if images.shape[-1] != 3:
        raise TypeError(f"{name}: images must be N×H×W×3 (RGB last), got {tuple(images.shape)}")
    check_labels(labels, images.shape[0], name, num_classes)
    return images, labels


def check_labels(labels: Tensor, n: int, name: str, num_classes: int) -> None:
    """int64 labels of shape (n,), n > 0, all in [0, num_classes)."""
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
        desc = (labels.dtype, tuple(labels.shape)) if isinstance(labels, Tensor) else type(labels)
        raise TypeError(f"{name}: labels must be an int64 tensor of shape (N,), got {desc}")
    if labels.shape[0] != n:
        raise TypeError(f"{name}: {n} inputs but {labels.shape[0]} labels")
    if n == 0:
        raise ValueError(f"{name}: the split has 0 samples; nothing to train or evaluate on")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{name}: labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
            f"found range [{lo}, {hi}]"
        )


def _batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Batch bounds over a permutation of ``n`` examples, without dropping any: a trailing
    batch of a single example joins the previous one (BatchNorm cannot train on one)."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


# -- evaluation ------------------------------------------------------------------------------
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
    with torch.inference_mode(), _autocast(device, bf16):
        for start in range(0, len(data), batch_size):
            x, y = data.batch(slice(start, start + batch_size))
            logits = model(x).float()
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


def _autocast(device: torch.device, bf16: bool) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


def resolve_bf16(bf16: bool | str, device: torch.device) -> bool:
    """``"auto"``: bf16 autocast on CUDA, fp32 on the CPU (exact and deterministic)."""
    if bf16 == "auto":
        return device.type == "cuda"
    if isinstance(bf16, bool):
        return bf16
    raise ValueError(f"bf16 must be 'auto', true or false, got {bf16!r}")


def configure_cuda() -> None:
    """TF32 matmuls/convolutions and cuDNN autotuning: the speed settings for CUDA runs."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


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


def _load_resume_state(path: Path, fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    state = load_torch_file(path, "resume checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"resume checkpoint {path}: not an invtransfer checkpoint; delete it to start over"
        )
    saved = state.get("fingerprint", {})
    diff = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if diff:
        details = "; ".join(f"{k}: {saved.get(k)!r} != {fingerprint.get(k)!r}" for k in diff[:4])
        raise CheckpointError(
            f"resume checkpoint {path} belongs to a different run ({details}); delete it to "
            "start over, or rerun with the settings it was made with"
        )
    return state


def fit(
    model: nn.Module,
    train: LabeledData,
    val: LabeledData,
    hparams: TrainHParams,
    *,
    device: torch.device,
    bf16: bool = False,
    compile: bool = False,
    checkpoint_path: str | os.PathLike[str] | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    on_epoch_end: EpochCallback | None = None,
    label: str = "train",
) -> FitResult:
    """Train the parameters of ``model`` that require grad with Adam on ``train``; after each
    epoch evaluate on ``val``. Returns with the best-validation-accuracy weights loaded
    (ties go to the earlier epoch).

    ``model``, ``train`` and ``val`` must already be on ``device``. With ``checkpoint_path``, a
    checkpoint is written after every epoch and an existing one (same ``fingerprint`` and data)
    is resumed. ``on_epoch_end(epoch, record)`` runs after the checkpoint of that epoch exists;
    an exception it raises stops training (the tests use this to simulate a kill).
    """
    if len(train) < 2:
        raise ValueError(f"{label}: need at least 2 training examples, got {len(train)}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{label}: the model has no trainable parameters")
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
            state = _load_resume_state(ckpt_path, full_fingerprint)
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
                        "state": state_to_cpu(model.state_dict()),
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
                if writer is not None:
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
                            "best": best,
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


def _train_epoch(
    runner: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: LabeledData,
    bounds: Sequence[tuple[int, int]],
    shuffle: torch.Generator,
    hparams: TrainHParams,
    epoch: int,
    bf16: bool,
) -> dict[str, float]:
    device = train.y.device
    model.train()
    perm = torch.randperm(len(train), generator=shuffle).to(device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    first_step = epoch * len(bounds)
    for i, (start, stop) in enumerate(bounds):
        lr = hparams.lr_at(first_step + i, len(bounds))
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = train.batch(perm[start:stop])
        with _autocast(device, bf16):
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


# -- pretraining -----------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: Classifier  # best-validation weights, on the training device, eval mode
    fit: FitResult
    metrics: dict[str, Any] = field(default_factory=dict)


def place_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device``; convolutional models go channels-last, which is ~2x faster
    for these networks on CUDA and on the CPU (oneDNN) alike."""
    model = model.to(device)
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


def train_model(
    arch: str,
    train: SplitLike | tuple[Tensor, Tensor],
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
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """Pretrain ``arch`` from a seeded initialisation (``build_model(seed=hparams.seed)``) on
    in-memory splits; evaluate the best-validation weights on ``test`` if given."""
    hp = hparams or TrainHParams()
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    use_bf16 = resolve_bf16(bf16, dev)
    if not isinstance(compile, bool):
        raise ValueError(f"compile must be true or false, got {compile!r}")
    kwargs = dict(arch_kwargs or {})
    model = build_model(arch, num_classes, seed=hp.seed, **kwargs)
    splits = {"train": train, "val": val} | ({"test": test} if test is not None else {})
    data = {
        name: LabeledData(
            *(t.to(dev) for t in as_image_split(s, name, num_classes)), "images", num_classes
        )
        for name, s in splits.items()
    }
    if dev.type == "cuda":
        configure_cuda()
    model = place_model(model, dev)
    log.info(
        "pretraining %s (%d classes, %d params) on %d images, %d epochs, device %s, bf16 %s, "
        "compile %s",
        arch, num_classes, model.num_parameters(), len(data["train"]), hp.epochs,
        describe_device(dev), use_bf16, compile,
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
        "train_time_s": result.train_time_s,
        "img_per_s": result.img_per_s,
        "resumed_from_epoch": result.resumed_from_epoch,
        "device": describe_device(dev),
        "bf16": use_bf16,
        "compile": compile,
        "hparams": asdict(hp),
    }
    if "test" in data:
        test_metrics = evaluate(model, data["test"], batch_size=hp.eval_batch_size, bf16=use_bf16)
        metrics.update(
            test_loss=test_metrics["loss"],
            test_accuracy=test_metrics["accuracy"],
            test_macro_accuracy=test_metrics["macro_accuracy"],
        )
        log.info(
            "%s: best epoch %d (val acc %.4f), test acc %.4f (macro %.4f)",
            arch, result.best_epoch, result.best_val_accuracy,
            test_metrics["accuracy"], test_metrics["macro_accuracy"],
        )  # fmt: skip
    return TrainResult(model=model, fit=result, metrics=metrics)


def load_dataset_split(dataset_dir: str | os.PathLike[str], split: str) -> Any:
    """``invtransfer.datasets.store.load_split(dataset_dir, split, verify=True)``, imported
    lazily so that the training code does not depend on the data stage at import time."""
    from invtransfer.datasets.store import load_split

    return load_split(dataset_dir, split, verify=True)


def dataset_info(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a result file records about its input dataset: folder name and manifest hash."""
    path = Path(dataset_dir)
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(
            f"dataset {path}: manifest.json is missing; is it a dataset folder?"
        )
    return {"name": path.name, "path": str(path), "manifest_sha256": sha256_file(manifest)}


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
    schedule: Literal["constant", "vit"] = "constant",
    warmup_epochs: int = 5,
    min_lr: float = 1e-5,
    seed: int = 0,
    device: str = "auto",
    compile: bool = False,
    bf16: bool | str = "auto",
    resume: bool = True,
) -> dict[str, Any]:
    """Pretrain ``arch`` on the dataset in ``dataset_dir`` and write ``out_dir/model.pt``,
    ``history.csv`` and ``metrics.json`` (written last). ``out_dir/checkpoint.pt`` holds the
    resume state while training runs and is removed at the end.

    Declare the three files, not the folder, as the rule's outputs: Snakemake deletes a
    ``directory()`` output before a rerun, which would throw the checkpoint away.
    """
    wall0 = time.perf_counter()
    if schedule not in ("constant", "vit"):
        raise ValueError(f"pretrain: schedule must be 'constant' or 'vit', got {schedule!r}")
    hp = TrainHParams(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        warmup_epochs=warmup_epochs,
        min_lr=min_lr,
        seed=seed,
    )
    out, ckpt = open_run(out_dir, resume=resume)
    train, val, test = load_run_splits(dataset_dir)
    result = train_model(
        arch, train, val, test,
        num_classes=int(train.num_classes), arch_kwargs=arch_kwargs, hparams=hp, device=device,
        bf16=bf16, compile=compile, checkpoint_path=ckpt,
    )  # fmt: skip
    class_names = [str(c) for c in getattr(train, "class_names", [])]
    metrics = {**result.metrics, "dataset": dataset_info(dataset_dir), "class_names": class_names}
    return close_run(
        out, ckpt, result.model, result.fit.history, metrics, class_names=class_names, seed=seed,
        started=wall0,
    )  # fmt: skip


def open_run(out_dir: str | os.PathLike[str], *, resume: bool) -> tuple[Path, Path]:
    """The output folder of a training run and its resume checkpoint path
    (``out_dir/checkpoint.pt``; deleted first unless ``resume``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    if not resume and ckpt.exists():
        ckpt.unlink()
    return out, ckpt


def load_run_splits(dataset_dir: str | os.PathLike[str]) -> tuple[Any, Any, Any]:
    """The train, val and test splits of a dataset folder."""
    train, val, test = (load_dataset_split(dataset_dir, s) for s in ("train", "val", "test"))
    return train, val, test


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
    ckpt.unlink(missing_ok=True)
    return final


def __getattr__(name: str) -> Any:
    """``training.compute_features`` lives in :mod:`invtransfer.features` (which imports this
    module, hence the lazy lookup); kept reachable here for callers that import it from here."""
    if name == "compute_features":
        from invtransfer.features import compute_features

        return compute_features
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
