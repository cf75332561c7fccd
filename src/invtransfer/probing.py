"""Linear probing (paper §4.1, App. B.2): a fresh linear layer on frozen penultimate features,
Adam lr 1e-3, 200 epochs, batch 512, best validation epoch kept.

The probe trains on features cached by :mod:`invtransfer.features`; the whole feature matrix
sits on the device and batches are slices of it. Because the frozen backbone runs in eval mode
(BatchNorm statistics frozen — as in the reference, whose Lightning loop never switches the
frozen modules back to train mode), this equals probing through the backbone, which
:func:`probe_through_backbone` does for comparison (tests, benchmark).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from invtransfer import __version__
from invtransfer.checkpoint import save_head
from invtransfer.device import assignment_fields, describe_device, place_model, resolve_device
from invtransfer.engine import FitResult, TrainHParams, evaluate, fit, write_history
from invtransfer.features import load_features, read_features_manifest
from invtransfer.io import atomic_dir, atomic_write_json, sha256_file
from invtransfer.labeled_data import LabeledData, as_image_split, check_labels
from invtransfer.models import Classifier
from invtransfer.rng import derive_seed

__all__ = [
    "ProbeResult",
    "linear_probe",
    "new_head",
    "probe_through_backbone",
    "train_probe",
]

log = logging.getLogger("invtransfer.probing")

SPLITS = ("train", "val", "test")


@dataclass
class ProbeResult:
    head: nn.Linear  # best-validation weights, on the device
    fit: FitResult
    metrics: dict[str, Any]  # {split}_{loss,accuracy,macro_accuracy} for the splits given


def new_head(feature_dim: int, num_classes: int, seed: int) -> nn.Linear:
    """The probe's fresh linear layer; the same seed gives the same initial weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "probe-head"))
        return nn.Linear(feature_dim, num_classes)


def _as_features(
    feats: np.ndarray | Tensor, labels: np.ndarray | Tensor, name: str, num_classes: int
) -> tuple[Tensor, Tensor]:
    x = torch.as_tensor(feats)
    y = torch.as_tensor(labels)
    if x.dim() != 2 or not x.is_floating_point():
        raise TypeError(
            f"{name}: features must be a float N×D array, got {x.dtype} {tuple(x.shape)}"
        )
    if y.dtype != torch.int64:
        raise TypeError(f"{name}: labels must be int64, got {y.dtype}")
    check_labels(y, x.shape[0], name, num_classes)
    return x.float(), y


def train_probe(
    features: dict[str, tuple[np.ndarray | Tensor, np.ndarray | Tensor]],
    *,
    num_classes: int,
    hparams: TrainHParams | None = None,
    device: str | torch.device = "auto",
) -> ProbeResult:
    """Train a linear probe on in-memory features ``{"train": (X, y), "val": (X, y), ...}``
    (``"train"`` and ``"val"`` required) and report every given split with the best head."""
    hp = hparams or TrainHParams(epochs=200)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    for required in ("train", "val"):
        if required not in features:
            raise ValueError(f"train_probe: features must include the {required!r} split")
    data = {
        name: LabeledData(
            *(t.to(dev) for t in _as_features(x, y, name, num_classes)), "features", num_classes
        )
        for name, (x, y) in features.items()
    }
    dim = data["train"].x.shape[1]
    for name, d in data.items():
        if d.x.shape[1] != dim:
            raise TypeError(f"{name}: features have {d.x.shape[1]} dims, train has {dim}")
    head = new_head(dim, num_classes, hp.seed).to(dev)
    result = fit(head, data["train"], data["val"], hp, device=dev, label="probe")
    head.eval()
    metrics = _split_metrics(head, data, hp)
    return ProbeResult(head=head, fit=result, metrics=metrics)


def _split_metrics(
    model: nn.Module, data: dict[str, LabeledData], hp: TrainHParams, bf16: bool = False
) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for name, d in data.items():
        m = evaluate(model, d, batch_size=hp.eval_batch_size, bf16=bf16)
        metrics.update({f"{name}_{k}": v for k, v in m.items()})
    return metrics


class FrozenBackboneProbe(nn.Module):
    """``head(backbone.features(x))`` with the backbone frozen and held in eval mode."""

    def __init__(self, backbone: Classifier, head: nn.Linear):
        super().__init__()
        self.backbone = backbone
        self.head = head
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> FrozenBackboneProbe:
        super().train(mode)
        self.backbone.eval()  # BatchNorm statistics stay frozen
        return self

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            feats = self.backbone.features(x)
        return self.head(feats.float())


def probe_through_backbone(
    backbone: Classifier,
    splits: dict[str, Any],
    *,
    num_classes: int,
    hparams: TrainHParams | None = None,
    device: str | torch.device = "auto",
    bf16: bool = False,
) -> ProbeResult:
    """The reference's probe: every epoch runs the images through the frozen backbone.

    Same head initialisation and batch order as :func:`train_probe` for the same seed; used to
    check that probing cached features is equivalent, and to measure what caching saves.
    """
    hp = hparams or TrainHParams(epochs=200)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    data = {
        name: LabeledData(
            *(t.to(dev) for t in as_image_split(s, name, num_classes)), "images", num_classes
        )
        for name, s in splits.items()
    }
    backbone = place_model(backbone, dev)
    head = new_head(backbone.feature_dim, num_classes, hp.seed).to(dev)
    model = FrozenBackboneProbe(backbone, head)
    result = fit(
        model, data["train"], data["val"], hp, device=dev, bf16=bf16, label="probe-backbone"
    )
    model.eval()
    return ProbeResult(head=head, fit=result, metrics=_split_metrics(model, data, hp, bf16))


def linear_probe(
    features_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    epochs: int = 200,
    batch_size: int = 512,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """Probe the feature cache in ``features_dir``; writes ``out_dir/{metrics.json,
    history.csv, head.pt}`` as one atomically renamed folder."""
    t0 = time.perf_counter()
    hp = TrainHParams(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    dev = resolve_device(device)
    manifest = read_features_manifest(features_dir)
    missing = [s for s in SPLITS if s not in manifest["splits"]]
    if missing:
        raise ValueError(f"feature cache {features_dir}: split(s) {missing} missing; need {SPLITS}")
    num_classes = int(manifest["num_classes"])
    features = {s: load_features(features_dir, s) for s in SPLITS}
    log.info(
        "probing %s (%d × %d train features, %d classes) for %d epochs on %s",
        features_dir, *features["train"][0].shape, num_classes, epochs, describe_device(dev),
    )  # fmt: skip
    result = train_probe(features, num_classes=num_classes, hparams=hp, device=dev)
    metrics = {
        **result.metrics,
        "best_epoch": result.fit.best_epoch,
        "epochs": epochs,
        "num_classes": num_classes,
        "feature_dim": int(features["train"][0].shape[1]),
        "seed": seed,
        "hparams": asdict(hp),
        "model": manifest["model"],
        "dataset": manifest["dataset"],
        "features_manifest_sha256": sha256_file(Path(features_dir) / "manifest.json"),
        "device": describe_device(dev),
        **assignment_fields(),
        "wall_time_s": time.perf_counter() - t0,
        "package_version": __version__,
    }
    log.info(
        "probe: best epoch %d, val acc %.4f, test acc %.4f (macro %.4f)",
        result.fit.best_epoch, metrics["val_accuracy"], metrics["test_accuracy"],
        metrics["test_macro_accuracy"],
    )  # fmt: skip
    with atomic_dir(out_dir) as tmp:
        save_head(
            tmp / "head.pt", result.head, model=manifest["model"], dataset=manifest["dataset"]
        )
        write_history(tmp / "history.csv", result.fit.history)
        atomic_write_json(tmp / "metrics.json", metrics)
    return metrics
