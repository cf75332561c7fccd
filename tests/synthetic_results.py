"""Synthetic tidy tables shaped exactly like a config's: one row per record of its plan (plus, for
sens tables, one row per evaluation and target transformation), with made-up results that follow
the paper's findings. No training: the reporting tests draw every figure a preset builds from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from invtransfer.aggregation import TRANSFORM_ORDER


def _meta(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not (k == "path" or k.endswith("_path"))}


def tidy_tables(config: Mapping[str, Any], plan: Any, *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{table key: frame}`` for every table the plan records (what ``collect`` would write)."""
    gen = np.random.default_rng(seed)
    it_cfg = config["experiments"].get("it", {})
    transforms = it_cfg.get("transforms", "all")
    transforms = list(TRANSFORM_ORDER) if transforms == "all" else list(transforms)
    evals = list(it_cfg.get("evals", []))
    out: dict[str, pd.DataFrame] = {}
    for key, records in plan.records.items():
        rows: list[dict[str, Any]] = []
        for rec in records:
            meta = _meta(rec)
            noise = 0.01 * gen.random()
            if key.startswith("tvo_"):
                base = 0.95 if meta["relation"] == "same" else 0.80
                acc = base + 0.005 * int(meta["value_order"]) + noise
                rows.append({**meta, "training_acc": 0.98 + noise / 2, "transfer_acc": acc,
                             "transfer_acc_macro": acc})  # fmt: skip
            elif key.startswith("it_"):
                train = meta["train_transform"]
                for ev in evals:
                    for target in transforms:
                        v = 0.1 if train == target else 0.5 if train == "none" else 0.45
                        if (meta["model_type"], ev) in (("image", "strong_ood"),
                                                        ("random", "mild_ood")):  # fmt: skip
                            v += 0.2
                        rows.append({**meta, "eval": ev, "target_transform": target,
                                     "sens": v + 0.01 * gen.random()})  # fmt: skip
            elif key.startswith("tm_"):
                k, j = int(meta["n_train_transforms"]), int(meta["n_target_transforms"])
                acc = 0.99 - noise if j <= k else 0.99 - 0.1 * (j - k) - noise
                rows.append({**meta, "accuracy": acc})
            elif key.startswith("ife_sens_"):
                for changed in ("cifar", "objects"):
                    trained = "cifar" if meta["pretrain"].endswith("/C") else "objects"
                    rows.append({**meta, "changed": changed,
                                 "sens": (0.9 if changed == trained else 0.1) + noise})  # fmt: skip
            elif key.startswith("ife_"):
                same_label = meta["pretrain"][-1] == meta["target"][-1]
                rows.append({**meta, "accuracy": (0.9 if same_label else 0.3) + noise})
            else:
                raise ValueError(f"unknown table key {key!r}")
        out[key] = pd.DataFrame(rows)
    return out
