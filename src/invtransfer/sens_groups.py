"""sens of a group of models on their evaluation pairs (the workflow's ``sens`` job).

A group is the models that share evaluation sets (a seed × architecture in invariance transfer,
a seed × variant in irrelevant features). Each evaluation member is read once and each model's
features of it computed once, for all models of the group; members and features are dropped
after their last use (counted up front), so memory stays at a few members and feature matrices.
The metric itself is :func:`invtransfer.sensitivity.sens`.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from invtransfer.checkpoint import load_model
from invtransfer.datasets import store
from invtransfer.device import resolve_device
from invtransfer.features import compute_features
from invtransfer.io import atomic_dir
from invtransfer.models import Classifier, check_layer
from invtransfer.sensitivity import DEFAULT_ESTIMATOR, DEFAULT_PAIRS, sens

__all__ = ["sens_group"]

log = logging.getLogger("invtransfer.sens_groups")

Pair = Mapping[str, Any]  # {eval, target_transform, evalset, a, b}


def sens_group(
    models: Mapping[str, Sequence[Pair]],
    model_paths: Sequence[str | os.PathLike[str]],
    evalset_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    n_pairs: int = DEFAULT_PAIRS,
    estimator: str = DEFAULT_ESTIMATOR,
    layer: str = "penultimate",
    device: str | torch.device = "auto",
    batch_size: int = 1024,
    bf16: bool | str = "auto",
) -> dict[str, pd.DataFrame]:
    """sens (paper Eq. 1) of every model of a group on each of its pairs.

    ``models`` maps model names (the folder of ``<...>/<model>/model.pt`` in ``model_paths``)
    to pairs ``{eval, target_transform, evalset, a, b}``: the twin datasets ``a`` and ``b`` are
    members (sub-folders, test split) of the evaluation set named ``evalset`` in
    ``evalset_dirs`` (by folder name). Writes ``out_dir/<model>.csv`` (eval, target_transform,
    sens; in the given pair order); ``out_dir`` appears as a whole. Returns the same tables.

    ``layer``: the representation compared (:data:`invtransfer.models.LAYERS`): the pooled
    ``"penultimate"`` layer (the paper's, default) or the ``"reference"`` code's hooked layer
    (DenseNet: the 6144-d pre-pool BN output behind the paper's Table 4). ``bf16``: autocast
    while computing the features (``training.bf16``; ``"auto"``: on CUDA only).
    """
    check_layer(layer)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    wanted = {str(m): list(ps) for m, ps in models.items()}
    paths = {Path(p).parent.name: Path(p) for p in model_paths}
    evalsets = {Path(d).name: Path(d) for d in evalset_dirs}
    lacking = sorted(set(wanted) - set(paths))
    if lacking:
        raise ValueError(f"sens job: no checkpoint given for models {lacking}")
    unknown = sorted({p["evalset"] for ps in wanted.values() for p in ps} - set(evalsets))
    if unknown:
        raise ValueError(
            f"sens job: evaluation sets {unknown} were not given (have {sorted(evalsets)})"
        )

    # the work, pair by pair, with every model that needs the pair
    work: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
    for model, pairs in wanted.items():
        for i, pair in enumerate(pairs):
            work.setdefault((pair["evalset"], pair["a"], pair["b"]), []).append((model, i))
    data_uses: Counter[tuple[str, str]] = Counter()
    feat_uses: Counter[tuple[str, str, str]] = Counter()
    for (ev, a, b), users in work.items():
        for member in (a, b):
            data_uses[(ev, member)] += 1
            for model, _ in users:
                feat_uses[(model, ev, member)] += 1
    data: dict[tuple[str, str], torch.Tensor] = {}
    feats: dict[tuple[str, str, str], np.ndarray] = {}
    nets: dict[str, Classifier] = {}

    def images(ev: str, member: str) -> torch.Tensor:
        if (ev, member) not in data:
            data[(ev, member)] = store.load_split(evalsets[ev] / member, "test").images
        return data[(ev, member)]

    def features(model: str, ev: str, member: str) -> np.ndarray:
        key = (model, ev, member)
        if key not in feats:
            if model not in nets:
                nets[model] = load_model(paths[model], dev)
            feats[key] = compute_features(
                nets[model],
                images(ev, member),
                batch_size=batch_size,
                device=dev,
                layer=layer,
                bf16=bf16,
            )
        value = feats[key]
        feat_uses[key] -= 1
        if feat_uses[key] == 0:
            del feats[key]
        return value

    rows: dict[str, list[dict[str, Any] | None]] = {m: [None] * len(ps) for m, ps in wanted.items()}
    t0 = time.perf_counter()
    n_values = sum(len(ps) for ps in wanted.values())
    done = 0
    for (ev, a, b), users in sorted(work.items()):
        for model, i in users:
            pair = wanted[model][i]
            value = sens(
                features(model, ev, a),
                features(model, ev, b),
                n_pairs=int(n_pairs),
                seed=0,
                estimator=estimator,
            )
            rows[model][i] = {
                "eval": pair["eval"],
                "target_transform": pair["target_transform"],
                "sens": value,
            }
        for member in (a, b):
            data_uses[(ev, member)] -= 1
            if data_uses[(ev, member)] == 0:
                data.pop((ev, member), None)
        done += len(users)
        log.info("sens %d/%d (model, pair) values, %d models (%.1f s)", done, n_values,
                 len(wanted), time.perf_counter() - t0)  # fmt: skip
    tables = {model: pd.DataFrame(model_rows) for model, model_rows in rows.items()}
    with atomic_dir(out_dir) as tmp:
        for model, table in tables.items():
            table.to_csv(tmp / f"{model}.csv", index=False)
    return tables
