"""How fast can a network fit one invariance-mismatch training set? Own-task test accuracy
against training time, one recipe per run.

The mismatch claims (``tm_superset_keeps_accuracy``, ``tm_missing_invariance_hurts``) presume
models that learned their own training set; the quick preset's ``cnn4`` under-fits the sets
that combine several hard transformations (bench/RESULTS.md). This script trains candidate
recipes — architecture, width, epochs, batch, learning rate, fixed or per-epoch draws — on one
materialized dataset folder (e.g. ``results/datasets/t2d-scale+noise+translate+2more-15k-s15-…``)
and prints, per run, wall time, the training accuracy per epoch and the test accuracy, so "how
much training does this set need" is a measured number.

    python bench/bench_tm_fit.py results/datasets/t2d-…-s15-… \
        --run cnn4:width=16:epochs=5:batch=64:lr=0.004 \
        --run cnn4:width=32:epochs=30:batch=64:lr=0.004:rendering=per-epoch

A run is ``ARCH[:key=value]...``: keys ``epochs`` (5), ``batch`` (64), ``lr`` (0.004),
``rendering`` (fixed | per-epoch; fixed), ``seed`` (0) and the architecture's own arguments
(``width``, …). Training is the workflow's (Adam, learning rate decaying linearly to 0, bf16
autocast as the quick preset trains), one torch thread by default. Besides the registry's
architectures, two ``cnn4`` variants measured once as candidates live here, not in the package:
``cnn4_var`` with ``first_pool=false`` (the first layer at full resolution, a 4×4 final map) and
``extra=N`` (N residual 3×3 conv-BN-ReLU blocks at the last resolution).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from _common import machine
from torch import Tensor, nn

from invtransfer.engine import TrainHParams
from invtransfer.labeled_data import load_train_val_test, training_renderer
from invtransfer.models import MODELS, ModelSpec, register_model
from invtransfer.models.base import Classifier, check_input
from invtransfer.pretraining import train_model

TRAIN_KEYS = {"epochs": int, "batch": int, "lr": float, "rendering": str, "seed": int}
DEFAULTS: dict[str, Any] = {
    "epochs": 5,
    "batch": 64,
    "lr": 0.004,
    "rendering": "fixed",
    "seed": 0,
}


class CNN4Variant(Classifier):
    """``cnn4`` (widths w, 2w, 4w, 8w) with the first max-pool optional and ``extra`` residual
    conv-BN-ReLU blocks at the last resolution: candidates, not part of the package."""

    def __init__(
        self, num_classes: int, width: int = 16, first_pool: bool = True, extra: int = 0
    ) -> None:
        super().__init__()
        chans = (3, width, 2 * width, 4 * width, 8 * width)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False) for i in range(4)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[1:])
        self.first_pool = first_pool
        self.extra = nn.ModuleList(
            nn.Conv2d(chans[-1], chans[-1], 3, padding=1, bias=False) for _ in range(extra)
        )
        self.extra_bns = nn.ModuleList(nn.BatchNorm2d(chans[-1]) for _ in range(extra))
        self.feature_dim = chans[-1]
        self.head = nn.Linear(chans[-1], num_classes)

    def features(self, x: Tensor) -> Tensor:
        check_input(x)
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            x = bn(conv(x))
            x = F.relu(x) if i == 0 and not self.first_pool else F.relu(F.max_pool2d(x, 2))
        for conv, bn in zip(self.extra, self.extra_bns, strict=True):
            x = F.relu(bn(conv(x))) + x
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def _register_variants() -> None:
    if "cnn4_var" not in MODELS:
        defaults = MappingProxyType({"width": 16, "first_pool": True, "extra": 0})
        register_model(ModelSpec("cnn4_var", CNN4Variant, "cnn4 variant (bench)", defaults))


def parse_run(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``ARCH[:key=value]...`` → (arch, training settings, architecture arguments)."""
    arch, *items = text.split(":")
    if arch not in MODELS:
        raise SystemExit(f"--run {text!r}: unknown architecture {arch!r}; valid: "
                         f"{', '.join(sorted(MODELS))}")  # fmt: skip
    train, arch_kwargs = dict(DEFAULTS), {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--run {text!r}: {item!r} is not key=value")
        if key in TRAIN_KEYS:
            try:
                train[key] = TRAIN_KEYS[key](raw)
            except ValueError:
                raise SystemExit(f"--run {text!r}: {key} must be {TRAIN_KEYS[key].__name__}, "
                                 f"got {raw!r}") from None  # fmt: skip
        elif key in MODELS[arch].defaults:
            arch_kwargs[key] = yaml.safe_load(raw)  # true, 16, 0.5 as YAML reads them
        else:
            valid = sorted(TRAIN_KEYS) + sorted(MODELS[arch].defaults)
            raise SystemExit(f"--run {text!r}: unknown key {key!r}; valid: {', '.join(valid)}")
    if train["rendering"] not in ("fixed", "per-epoch"):
        raise SystemExit(f"--run {text!r}: rendering must be fixed or per-epoch")
    return arch, train, arch_kwargs


def fit_run(dataset: Path, splits: tuple[Any, Any, Any], arch: str, train: dict[str, Any],
            arch_kwargs: dict[str, Any], *, bf16: bool = True) -> dict[str, Any]:  # fmt: skip
    """Train one recipe on ``splits`` (:func:`load_train_val_test` of ``dataset``, loaded once for
    every run); wall time covers rendering set-up, training and the test evaluation."""
    tr, val, test = splits
    dev = torch.device("cpu")
    t0 = time.perf_counter()
    source = tr if train["rendering"] == "fixed" else training_renderer(dataset, tr, dev)
    hp = TrainHParams(epochs=train["epochs"], batch_size=train["batch"], lr=train["lr"],
                      schedule="linear", seed=train["seed"])  # fmt: skip
    result = train_model(arch, source, val, test, num_classes=int(tr.num_classes),
                         arch_kwargs=arch_kwargs, hparams=hp, device=dev, bf16=bf16)  # fmt: skip
    wall = time.perf_counter() - t0
    return {
        "arch": arch,
        "arch_kwargs": dict(result.model.arch_kwargs),
        **train,
        "wall_s": wall,
        "train_accuracy": [float(h["train_accuracy"]) for h in result.fit.history],
        "test_accuracy": float(result.metrics["test_accuracy"]),
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="a materialized dataset folder")
    ap.add_argument("--run", action="append", required=True, help="ARCH[:key=value]...")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    ap.add_argument("--json", type=Path, help="also write the runs as JSON here")
    args = ap.parse_args(argv)
    if not (args.dataset / "manifest.json").is_file():
        raise SystemExit(f"{args.dataset}: not a materialized dataset folder (no manifest.json)")
    _register_variants()
    runs = [parse_run(r) for r in args.run]  # every spec checked before any training
    torch.set_num_threads(args.threads)
    print(f"# Fitting one mismatch training set: {args.dataset.name}")
    print(f"machine: {machine()}; torch threads {args.threads}", flush=True)
    splits = load_train_val_test(args.dataset)
    rows = []
    for arch, train, kwargs in runs:
        row = fit_run(args.dataset, splits, arch, train, kwargs, bf16=not args.fp32)
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]["wall_s"]
    print("\n| arch | arguments | epochs | batch | lr | rendering | wall s | × first | "
          "train acc (last) | test acc |")  # fmt: skip
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        kw = ", ".join(f"{k}={v}" for k, v in r["arch_kwargs"].items())
        print(f"| {r['arch']} | {kw} | {r['epochs']} | {r['batch']} | {r['lr']:g} | "
              f"{r['rendering']} | {r['wall_s']:.1f} | {r['wall_s'] / base:.2f} | "
              f"{r['train_accuracy'][-1]:.3f} | {r['test_accuracy']:.3f} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
