"""Invariance profile of any model: sens and three other measures on Transforms-2D twins.

For every transformation ``t`` (default: all 18) two *twin* datasets of kind ``t2d`` are rendered at
the model's input size: the same ``seed`` (objects, backgrounds, classes per index) and transform
seeds ``experiments.twin_seed(seed, "a" | "b")`` — the evaluation twins of the workflow's sens jobs,
at any size. Twins are rendered and embedded chunk by chunk (``chunk_size`` images) and never
stored, so memory is O(chunk) images + the N×D representations + one background bank of the data
layer (``bank_size``·S²·3 float32: 0.52 GB at 224 px). Rendering and the model share the
process's torch threads (see :func:`_render`).

Per (model, transformation) the table has:

* ``sens`` — paper Eq. 1 (:func:`invtransfer.sensitivity.sens`, global estimator): 0 = invariant;
* ``rel_inv`` — cosine relative invariance (Bouchacourt et al. 2021): 1 = invariant;
* ``cka`` — debiased linear CKA between the twins' representations (Kornblith et al. 2019): 1 =
  same similarity structure;
* ``flip_rate`` — fraction of twin pairs whose predicted class differs (NaN without classifier).

and per-magnitude **curves**: sens of the twin pairs binned by how far apart the two draws are,
read from the rendered samples' parameter columns (the columns of ``samples.parquet``): for
transformations with an ``applied`` flag the number of twins it was applied to (0, 1, 2), otherwise
the distance between the twins' parameters (``|Δ|`` for one parameter — circular for rotation
angles and hue shifts — the Euclidean norm of the differences for two), in ``bins`` equal-count
bins. Each bin's sens has the overall denominator (random pairs of the whole set), so the overall
sens is the count-weighted mean of the bins' when every pair enters the numerator.

Outputs (:func:`write_profile`): ``profile.csv`` (tidy, one row per transformation), ``curves.csv``
(one row per bin), ``info.json`` (model, input size, normalisation, layer, options, timings, peak
memory). :func:`summarize_profiles` merges several model folders into one table and figure
(:mod:`invtransfer.profile_plot`).
The workflow's ``profile`` section becomes jobs through :mod:`invtransfer.profile_jobs`.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from invtransfer.embedders import Embedder
from invtransfer.io import atomic_dir, atomic_write_json, read_json
from invtransfer.sensitivity import DEFAULT_PAIRS, mean_pair_distance, sample_sens_pairs, sens
from invtransfer.similarity import flip_rate, linear_cka, relative_invariance

__all__ = [
    "CIRCULAR_PERIODS",
    "CURVE_COLUMNS",
    "PROFILE_COLUMNS",
    "ProfileOptions",
    "ProfileResult",
    "embed_spec",
    "magnitudes",
    "profile_model",
    "read_profile",
    "sens_curve",
    "summarize_profiles",
    "twin_spec",
    "write_profile",
]

log = logging.getLogger("invtransfer.profile")

PROFILE_COLUMNS = (
    "model", "transform", "category", "sens", "rel_inv", "cka", "flip_rate", "n", "input_size",
    "layer",
)  # fmt: skip
CURVE_COLUMNS = ("model", "transform", "bin", "x_name", "x_low", "x_high", "x_mean", "n", "sens")
#: Parameter columns whose values live on a circle (period): the distance wraps around.
CIRCULAR_PERIODS: dict[str, float] = {"rotate.angle": 360.0, "hue.factor": 1.0}
_PROFILE_KEYS = ("transforms", "splits", "image_size", "seed", "transform_seed")  # set here
_SPLIT = "test"  # the split the twins are drawn from (as the workflow's evaluation sets)


@dataclass(frozen=True)
class ProbeOptions:
    """An optional linear probe on a Transforms-2D task rendered at the model's input size."""

    transforms: tuple[str, ...] = ()  # the target task's transformations
    n_train: int = 2000  # samples per split
    n_val: int = 500
    n_test: int = 1000
    epochs: int = 50  # Adam, lr 1e-3, on cached features (invtransfer.probing.train_probe)


@dataclass(frozen=True)
class ProfileOptions:
    transforms: tuple[str, ...] | None = None  # None: all registered, in registry order
    n_pairs: int = 1000  # twin pairs per transformation
    seed: int = 0  # dataset seed (objects, backgrounds, classes); twins: twin_seed(seed, a|b)
    chunk_size: int = 16  # images in memory at a time (~10 MB each: ResNet-50 at 224 px)
    bins: int = 5  # magnitude bins of a continuous parameter (equal counts)
    sens_pairs: int = DEFAULT_PAIRS  # random pairs for the sens denominator
    spec: Mapping[str, Any] | None = None  # base dataset spec: objects, backgrounds, options ...
    probe: ProbeOptions | None = None


@dataclass
class ProfileResult:
    table: pd.DataFrame  # PROFILE_COLUMNS
    curves: pd.DataFrame  # CURVE_COLUMNS
    info: dict[str, Any] = field(default_factory=dict)


def _check_options(options: ProfileOptions) -> tuple[str, ...]:
    from invtransfer.transforms import TRANSFORMS, canonical_order, get_transform

    for name, value, low in (
        ("n_pairs", options.n_pairs, 4), ("chunk_size", options.chunk_size, 1),
        ("bins", options.bins, 1), ("sens_pairs", options.sens_pairs, 1), ("seed", options.seed, 0),
    ):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if options.transforms is None:
        return tuple(TRANSFORMS)
    names = list(options.transforms)
    if isinstance(options.transforms, str) or not names:
        raise ValueError(
            f"transforms must be a non-empty list of names, got {options.transforms!r}"
        )
    for name in names:
        get_transform(name)  # unknown name: ValueError listing the valid ones
    if len(set(names)) != len(names):
        raise ValueError(f"transforms has repeated names: {names}")
    return tuple(canonical_order(names))


# -- twins ----------------------------------------------------------------------------------------
def twin_spec(
    base: Mapping[str, Any] | None, transform: str | Sequence[str], *, size: int, n: int,
    seed: int, twin: str | None, split: str = _SPLIT,
) -> dict[str, Any]:  # fmt: skip
    """The dataset spec of twin ``twin`` ("a" or "b"; None: ``transform_seed = seed``, a plain
    dataset) of ``transform`` at ``size`` px: ``base``
    (default ``{"kind": "t2d"}``; the data layer fills every other default) with ``transforms``,
    ``splits``, ``image_size``, ``seed`` and ``transform_seed`` set here."""
    from invtransfer.experiments import twin_seed

    spec = dict(base or {"kind": "t2d"})
    spec.setdefault("kind", "t2d")
    clash = sorted(set(spec) & set(_PROFILE_KEYS))
    if clash:
        raise ValueError(
            f"the base spec must not set {clash}: the profile sets them (use the profile's "
            "seed, n_pairs and transforms options)"
        )
    if spec["kind"] not in ("t2d", "random"):
        raise ValueError(f"the base spec's kind must be 't2d' or 'random', got {spec['kind']!r}")
    transforms = [transform] if isinstance(transform, str) else list(transform)
    return {
        **spec, "transforms": transforms, "splits": {split: int(n)}, "image_size": int(size),
        "seed": int(seed),
        "transform_seed": int(seed) if twin is None else twin_seed(int(seed), twin),
    }  # fmt: skip


def _render(
    spec: Mapping[str, Any], split: str, chunk_size: int
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """Chunks of a dataset spec's split, rendered in this process.

    With the process's torch threads: changing the thread count between rendering and the
    model costs more than it saves (OpenMP re-forms its pool; on the loaded 2-core machine a
    ResNet-18 forward went from 26 to 105 ms per image), so the caller picks one count for both
    (``--threads``; one thread is fastest on a loaded 2-core machine, bench/RESULTS.md)."""
    from invtransfer.datasets.builders import dataset_build_plan

    plan = dataset_build_plan(spec)
    yield from plan.chunks(split, chunk_size=chunk_size)


@dataclass
class Embedded:
    features: np.ndarray  # float32 N×D
    predictions: np.ndarray | None  # int64 N
    meta: pd.DataFrame  # the samples' rows (index, label, parameters, ...)
    render_s: float
    embed_s: float


def embed_spec(
    embedder: Embedder,
    spec: Mapping[str, Any],
    *,
    chunk_size: int = ProfileOptions.chunk_size,
    split: str = _SPLIT,
) -> Embedded:
    """Render ``split`` of ``spec`` chunk by chunk and embed each chunk; only the features, the
    predictions and the per-sample rows are kept."""
    feats: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    metas: list[pd.DataFrame] = []
    render_s = embed_s = 0.0
    t = time.perf_counter()
    for images, meta in _render(spec, split, chunk_size):
        t1 = time.perf_counter()
        render_s += t1 - t
        f, p = embedder.embed(torch.from_numpy(images))
        feats.append(f)
        if p is not None:
            preds.append(p)
        metas.append(meta)
        t = time.perf_counter()
        embed_s += t - t1
    if not feats:
        raise ValueError(f"dataset spec renders no {split} samples")
    return Embedded(
        features=np.concatenate(feats),
        predictions=np.concatenate(preds) if preds else None,
        meta=pd.concat(metas, ignore_index=True),
        render_s=render_s,
        embed_s=embed_s,
    )


# -- magnitude curves -----------------------------------------------------------------------------
def magnitudes(
    transform: str, params_a: pd.DataFrame, params_b: pd.DataFrame
) -> tuple[np.ndarray, str, bool]:
    """How far apart each twin pair's draws of ``transform`` are: ``(x (N,), x_name, discrete)``.

    With an ``applied`` flag: the number of twins it was applied to (0, 1, 2; discrete). Else the
    distance between the parameters: ``|Δ|`` (circular for :data:`CIRCULAR_PERIODS`), or the
    Euclidean norm of the differences for several parameters."""
    from invtransfer.transforms import get_transform

    cols = [f"{transform}.{c}" for c in get_transform(transform).columns]
    for frame, twin in ((params_a, "a"), (params_b, "b")):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise KeyError(f"twin {twin} of {transform!r} lacks the parameter columns {missing}")
    if len(params_a) != len(params_b):
        raise ValueError(f"{transform}: twins have {len(params_a)} and {len(params_b)} samples")
    flag = f"{transform}.applied"
    if flag in cols:
        x = params_a[flag].to_numpy().astype(np.int64) + params_b[flag].to_numpy().astype(np.int64)
        return x.astype(np.float64), "twins applied to (0-2)", True
    total = np.zeros(len(params_a))
    for c in cols:
        d = np.abs(params_a[c].to_numpy(np.float64) - params_b[c].to_numpy(np.float64))
        if c in CIRCULAR_PERIODS:
            d = np.minimum(d, CIRCULAR_PERIODS[c] - d)
        total += d * d
    short = [c.split(".", 1)[1] for c in cols]
    name = f"|Δ {short[0]}|" if len(cols) == 1 else f"‖Δ ({', '.join(short)})‖"
    return np.sqrt(total), name, False


def _bins(x: np.ndarray, discrete: bool, bins: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Bin index per value and each bin's (low, high)."""
    if discrete:
        values = np.unique(x)
        return np.searchsorted(values, x), [(float(v), float(v)) for v in values]
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) == 1:
        return np.zeros(len(x), dtype=np.int64), [(float(edges[0]), float(edges[0]))]
    idx = np.searchsorted(edges[1:-1], x, side="right")
    return idx, [(float(edges[i]), float(edges[i + 1])) for i in range(len(edges) - 1)]


def sens_curve(
    f1: np.ndarray, f2: np.ndarray, x: np.ndarray, *, discrete: bool, bins: int = 5,
    n_pairs: int = DEFAULT_PAIRS, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """sens per magnitude bin: the bin's mean twin distance over the random-pair mean distance of
    the whole set (the denominator :func:`~invtransfer.sensitivity.sens` uses with the same
    ``n_pairs`` and ``seed``). Columns ``bin, x_low, x_high, x_mean, n, sens``."""
    n = f1.shape[0]
    pairs = sample_sens_pairs(n, n_pairs, seed)
    if pairs.exact:
        a, b = np.nonzero(~np.eye(n, dtype=bool))
    else:
        a, b = pairs.a, pairs.b
    denominator = mean_pair_distance(f1, f1, a, b)
    if denominator <= 0:
        raise ValueError("sens is undefined: every random pair of representations is identical")
    diff = f1.astype(np.float64) - f2.astype(np.float64)
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    idx, ranges = _bins(np.asarray(x, dtype=np.float64), discrete, bins)
    rows = []
    for i, (low, high) in enumerate(ranges):
        sel = idx == i
        if not sel.any():
            continue
        rows.append({
            "bin": i, "x_low": low, "x_high": high, "x_mean": float(x[sel].mean()),
            "n": int(sel.sum()), "sens": float(dist[sel].mean() / denominator),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["bin", "x_low", "x_high", "x_mean", "n", "sens"])


# -- the profile ----------------------------------------------------------------------------------
def _params(meta: pd.DataFrame, transform: str) -> pd.DataFrame:
    return meta[[c for c in meta.columns if c.startswith(f"{transform}.")]].reset_index(drop=True)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def profile_transform(
    embedder: Embedder, transform: str, options: ProfileOptions
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float]]:
    """One transformation's row, curve and timings."""
    from invtransfer.transforms import get_transform

    twins = {}
    for twin in ("a", "b"):
        spec = twin_spec(options.spec, transform, size=embedder.input_size, n=options.n_pairs,
                         seed=options.seed, twin=twin)  # fmt: skip
        twins[twin] = embed_spec(embedder, spec, chunk_size=options.chunk_size)
    ea, eb = twins["a"], twins["b"]
    if not np.array_equal(ea.meta["label"].to_numpy(), eb.meta["label"].to_numpy()):
        raise AssertionError(f"{transform}: twins differ in class labels; they are not twins")
    fa, fb = ea.features, eb.features
    try:
        row = {
            "model": embedder.label,
            "transform": transform,
            "category": get_transform(transform).category,
            "sens": sens(fa, fb, n_pairs=options.sens_pairs, seed=0),
            "rel_inv": relative_invariance(fa, fb, seed=0),
            "cka": linear_cka(fa, fb),
            "flip_rate": (
                flip_rate(ea.predictions, eb.predictions)
                if ea.predictions is not None and eb.predictions is not None
                else float("nan")
            ),
            "n": int(fa.shape[0]),
            "input_size": embedder.input_size,
            "layer": embedder.layer,
        }
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{embedder.label}, transformation {transform!r}: {exc}") from exc
    x, x_name, discrete = magnitudes(
        transform, _params(ea.meta, transform), _params(eb.meta, transform)
    )
    curve = sens_curve(fa, fb, x, discrete=discrete, bins=options.bins, n_pairs=options.sens_pairs)
    curve.insert(0, "x_name", x_name)
    curve.insert(0, "transform", transform)
    curve.insert(0, "model", embedder.label)
    timing = {"render_s": ea.render_s + eb.render_s, "embed_s": ea.embed_s + eb.embed_s,
              "feature_dim": float(fa.shape[1])}  # fmt: skip
    return row, curve[list(CURVE_COLUMNS)], timing


def _probe(embedder: Embedder, options: ProfileOptions) -> dict[str, Any]:
    from invtransfer.engine import TrainHParams
    from invtransfer.probing import train_probe

    probe = options.probe
    assert probe is not None
    counts = {"train": probe.n_train, "val": probe.n_val, "test": probe.n_test}
    feats = {}
    num_classes = 0
    for split, n in counts.items():
        spec = twin_spec(options.spec, list(probe.transforms), size=embedder.input_size, n=n,
                         seed=options.seed, twin=None, split=split)  # fmt: skip
        from invtransfer.datasets.builders import dataset_build_plan

        num_classes = len(dataset_build_plan(spec).class_names)
        e = embed_spec(embedder, spec, chunk_size=options.chunk_size, split=split)
        feats[split] = (e.features, e.meta["label"].to_numpy().astype(np.int64))
        log.info("probe features: %s, %d samples", split, n)
    result = train_probe(
        feats, num_classes=num_classes,
        hparams=TrainHParams(epochs=probe.epochs, seed=options.seed), device=embedder.device,
    )  # fmt: skip
    return {
        "transforms": list(probe.transforms), "counts": counts, "epochs": probe.epochs,
        "num_classes": num_classes, **{k: float(v) for k, v in result.metrics.items()},
    }  # fmt: skip


def profile_model(embedder: Embedder, options: ProfileOptions | None = None) -> ProfileResult:
    """The invariance profile of ``embedder`` (see the module docstring); progress on the
    ``invtransfer.profile`` logger, one line per transformation with rates and an ETA."""
    options = options or ProfileOptions()
    transforms = _check_options(options)
    t0 = time.perf_counter()
    rows, curves = [], []
    render_s = embed_s = 0.0
    feature_dim = 0
    log.info(
        "profile of %s: %d transformations × %d twin pairs at %d px, chunks of %d",
        embedder.label, len(transforms), options.n_pairs, embedder.input_size, options.chunk_size,
    )  # fmt: skip
    for i, transform in enumerate(transforms, start=1):
        row, curve, timing = profile_transform(embedder, transform, options)
        rows.append(row)
        curves.append(curve)
        render_s += timing["render_s"]
        embed_s += timing["embed_s"]
        feature_dim = int(timing["feature_dim"])
        elapsed = time.perf_counter() - t0
        images = 2 * options.n_pairs * i
        eta = elapsed / i * (len(transforms) - i)
        log.info(
            "%s %d/%d %s: sens %.3f, rel. inv. %.3f, CKA %.3f, flips %.3f | %.0f img/s "
            "(render %.0f s, model %.0f s so far), ETA %.0f s",
            embedder.label, i, len(transforms), transform, row["sens"], row["rel_inv"],
            row["cka"], row["flip_rate"], images / elapsed, render_s, embed_s, eta,
        )  # fmt: skip
    info: dict[str, Any] = {
        "format": "invtransfer.profile/1",
        "model": {
            "label": embedder.label, "kind": embedder.kind, "input_size": embedder.input_size,
            "mean": list(embedder.mean), "std": list(embedder.std), "layer": embedder.layer,
            "pool": embedder.pool, "classifier": embedder.classifier, "feature_dim": feature_dim,
            **embedder.info,
        },
        "options": {k: v for k, v in asdict(options).items() if k != "probe"},
        "transforms": list(transforms),
        "twin_seeds": "experiments.twin_seed(seed, 'a' | 'b')",
    }  # fmt: skip
    if options.probe is not None:
        info["probe"] = _probe(embedder, options)
        log.info(
            "%s: linear probe test accuracy %.4f", embedder.label, info["probe"]["test_accuracy"]
        )
    wall = time.perf_counter() - t0
    info["timing"] = {
        "wall_s": round(wall, 2), "render_s": round(render_s, 2), "model_s": round(embed_s, 2),
        "images": 2 * options.n_pairs * len(transforms), "peak_rss_mb": round(_peak_rss_mb(), 1),
        "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    return ProfileResult(
        table=pd.DataFrame(rows, columns=list(PROFILE_COLUMNS)),
        curves=pd.concat(curves, ignore_index=True),
        info=info,
    )


# -- files ----------------------------------------------------------------------------------------
def write_profile(result: ProfileResult, folder: str | os.PathLike[str]) -> Path:
    """``folder/{profile.csv, curves.csv, info.json}``, written as one atomically renamed folder."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        result.table.to_csv(tmp / "profile.csv", index=False)
        result.curves.to_csv(tmp / "curves.csv", index=False)
        atomic_write_json(tmp / "info.json", result.info)
    return folder


def read_profile(folder: str | os.PathLike[str]) -> ProfileResult:
    """A profile folder written by :func:`write_profile` (columns checked)."""
    folder = Path(folder)
    for name in ("profile.csv", "curves.csv", "info.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"profile folder {folder}: {name} is missing; run `python -m invtransfer profile "
                "MODEL --out ...` to write it"
            )
    table = pd.read_csv(folder / "profile.csv")
    curves = pd.read_csv(folder / "curves.csv")
    for frame, cols, name in (
        (table, PROFILE_COLUMNS, "profile.csv"),
        (curves, CURVE_COLUMNS, "curves.csv"),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{folder / name}: missing columns {missing}")
    return ProfileResult(table=table, curves=curves, info=read_json(folder / "info.json"))


def summarize_profiles(
    folders: Sequence[str | os.PathLike[str]], *, table: str | os.PathLike[str],
    curves: str | os.PathLike[str] | None = None, figure: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Merge profile folders (in the given order) into one tidy table (and curves table), and draw
    the figure (``<figure>.pdf``/``.png``: one heatmap row per model, curves per transformation)."""
    from invtransfer.io import atomic_path

    if not folders:
        raise ValueError("no profile folders to summarise")
    results = [read_profile(f) for f in folders]
    labels = [r.table["model"].iloc[0] for r in results if len(r.table)]
    dupes = sorted({m for m in labels if labels.count(m) > 1})
    if dupes:
        raise ValueError(f"profile folders {list(map(str, folders))} repeat the models {dupes}")
    merged = pd.concat([r.table for r in results], ignore_index=True)
    merged_curves = pd.concat([r.curves for r in results], ignore_index=True)
    with atomic_path(table) as tmp:
        merged.to_csv(tmp, index=False)
    if curves is not None:
        with atomic_path(curves) as tmp:
            merged_curves.to_csv(tmp, index=False)
    if figure is not None:
        from invtransfer.profile_plot import fig_profile

        fig_profile(merged, merged_curves, figure)
    return merged
