"""Tidy results -> the summary numbers behind every table, figure and scorecard row.

The workflow writes one tidy CSV per experiment family (``results/tables/<family>.csv``, one row
per run; schemas in :data:`SCHEMAS`). Everything shown in a table, a figure or the scorecard is
computed here, once, so the three always agree:

* :func:`collect` turns per-run ``metrics.json`` / CSV files plus run metadata into a tidy frame;
* :func:`mean_std` and :func:`bootstrap_ci` are the two statistics the paper uses (tables:
  mean ± std over runs; plots: mean with a 95 % bootstrap CI over seeds, seaborn's recipe);
* ``tvo_*``, ``table1_summary``, ``it_*``, ``tm_matrix``, ``ife_sweep`` compute the paper's
  aggregates (see each docstring for the exact definition and its source).

Why one module of ~530 lines: it is the one place where a number shown anywhere is computed. The
tidy-table half (schemas, :func:`collect`, validation) and the aggregates use the same schemas and
the same architecture names (:func:`canonical_arch`); splitting them would make every plot, table
and scorecard module import two modules for one contract.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ARCH_ALIASES",
    "IFE_LABELS",
    "IT_EVALS",
    "IT_MODEL_TYPES",
    "IT_RELATIONS",
    "SCHEMAS",
    "TABLE_FIELDS",
    "TRANSFORM_ORDER",
    "TVO_FACTORS",
    "TVO_FAMILIES",
    "TVO_REGIMES",
    "bootstrap_ci",
    "canonical_arch",
    "collect",
    "ife_sweep",
    "it_heatmap",
    "it_summary",
    "mean_std",
    "read_results",
    "table1_summary",
    "table_fields",
    "table_kind",
    "tm_matrix",
    "tvo_curves",
    "tvo_diff",
    "validate_frame",
]

# The 18 transformations in the paper's order (App. A.1 / reference TRANSFORMS); heatmap axes use it.
TRANSFORM_ORDER: tuple[str, ...] = (
    "scale", "translate", "v_flip", "h_flip", "rotate", "shear",
    "hue", "brightness", "grayscale", "posterize", "invert", "sharpen",
    "blur", "noise", "pixelate", "elastic", "erasing", "contrast",
)  # fmt: skip
TVO_FAMILIES: tuple[str, ...] = ("t2d", "cifar10", "cifar100")
TVO_REGIMES: tuple[str, ...] = ("lp", "ft-low", "ft-high")
TVO_FACTORS: tuple[str, ...] = ("class_rel", "arch", "pt_samples")
IT_EVALS: tuple[str, ...] = ("in_dist", "mild_ood", "strong_ood", "cifar10", "cifar100")
IT_MODEL_TYPES: tuple[str, ...] = ("image", "random")
IT_RELATIONS: tuple[str, ...] = ("Same", "Other", "None")
IFE_LABELS: tuple[str, ...] = ("C/C", "C+O/C", "C+O/O", "O/O")  # "X/Y": input features / labels

# Required columns per tidy table (extra columns are allowed and ignored).
SCHEMAS: dict[str, tuple[str, ...]] = {
    "tvo": (
        "family", "regime", "factor", "value", "value_order", "relation", "seed",
        "training_acc", "transfer_acc",
    ),
    "ife": ("seed", "variant", "experiment", "sweep_value", "pretrain", "target", "accuracy"),
    "ife_sens": ("seed", "variant", "pretrain", "changed", "sens"),
    "it": ("arch", "seed", "model_type", "train_transform", "eval", "target_transform", "sens"),
    "tm": ("arch", "seed", "n_train_transforms", "n_target_transforms", "accuracy"),
}  # fmt: skip

# Per table family: tidy column -> "<file key>:<dotted key>" of the plan's records (for collect).
TABLE_FIELDS: dict[str, dict[str, str]] = {
    "tvo": {
        "training_acc": "training_path:test_accuracy",
        "transfer_acc": "transfer_path:test_accuracy",
        "transfer_acc_macro": "transfer_path:test_macro_accuracy",
    },
    "tm": {"accuracy": "transfer_path:test_accuracy"},
    "ife": {"accuracy": "transfer_path:test_accuracy"},
    "it": {
        "eval": "sens_path:eval",
        "target_transform": "sens_path:target_transform",
        "sens": "sens_path:sens",
    },
    "ife_sens": {"changed": "sens_path:target_transform", "sens": "sens_path:sens"},
}


def table_kind(table: str) -> str:
    """The kind of a tidy table from its name, a key of :data:`SCHEMAS` when the name is one:
    the name's first part (``tvo_t2d_lp`` -> ``tvo``), ``ife_sens`` for the IFE sens tables."""
    return "ife_sens" if table.startswith("ife_sens") else table.split("_", 1)[0]


def table_fields(table: str) -> dict[str, str]:
    """The ``collect`` fields of a tidy table (``tvo_t2d_lp``, ``it_resnet18``, ``ife_sens_fixed``
    ...): those of its kind (:func:`table_kind`)."""
    kind = table_kind(table)
    if kind not in TABLE_FIELDS:
        raise ValueError(
            f"table {table!r}: unknown family {kind!r} (known: {sorted(TABLE_FIELDS)})"
        )
    return TABLE_FIELDS[kind]


# Architecture names as they appear in configs, tidy tables and the reference -> one canonical
# name per paper architecture. Both DenseNets map to "densenet": the paper's "DenseNet-121" is the
# reference's densenet_cifar; which one a run used is shown through the caller's label mapping.
ARCH_ALIASES: dict[str, str] = {
    "resnet18": "resnet18", "resnet-18": "resnet18", "rn18": "resnet18", "resnet18_w": "resnet18",
    "resnet50": "resnet50", "resnet-50": "resnet50", "rn50": "resnet50",
    "densenet": "densenet", "densenet121": "densenet", "densenet-121": "densenet",
    "densenet_cifar": "densenet", "dn121": "densenet",
    "vgg11": "vgg11", "vgg-11": "vgg11",
    "vit": "vit",
}  # fmt: skip


def canonical_arch(name: str) -> str:
    """The canonical paper architecture for a config/table name (unknown names pass through)."""
    return ARCH_ALIASES.get(str(name).strip().lower(), str(name))


# ----------------------------------------------------------------------------------------------
# collecting per-run files


def _dotted(obj: Any, key: str, path: Path) -> Any:
    cur = obj
    walked: list[str] = []
    for part in key.split("."):
        walked.append(part)
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and _is_index(part) and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            have = sorted(cur) if isinstance(cur, Mapping) else type(cur).__name__
            raise KeyError(
                f"{path}: key {'.'.join(walked)!r} (from field {key!r}) not found; available: {have}"
            )
    return cur


def _is_index(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _is_file_key(key: str) -> bool:
    return key in ("path", "path_csv") or key.endswith("_path")


def _is_csv(key: str, path: Path) -> bool:
    return key == "path_csv" or path.suffix.lower() == ".csv"


def _load_result(path: Path, key: str, meta: Mapping[str, Any]) -> Any:
    if not path.is_file():
        raise FileNotFoundError(
            f"result file {path} ({key} of record {dict(meta)}) does not exist; the rule that "
            "writes it has not run (or failed) — run the workflow up to it"
        )
    if _is_csv(key, path):
        return pd.read_csv(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} ({key} of record {dict(meta)}) is not valid JSON: {exc}") from exc


def collect(records: Iterable[Mapping[str, Any]], fields: Mapping[str, str]) -> pd.DataFrame:
    """One tidy row per run from per-run result files.

    Each record holds metadata columns plus file references: ``path`` (a ``metrics.json``),
    ``path_csv`` (a CSV), or any keys ending in ``_path`` (``training_path``, ``sens_path``, …;
    ``.csv`` files are read as CSV, everything else as JSON). File keys do not become columns.
    ``fields`` maps output columns to ``"<file key>:<key>"``, or just ``"<key>"`` when the record
    has a single file. For JSON the key is a dotted path (``"test.accuracy"``; list indices
    allowed: ``"history.-1.loss"``); for CSV it is a column name and every CSV row becomes one
    output row (at most one CSV per record; JSON values are repeated on each of its rows).

    Metadata and field names must not collide. Missing files raise ``FileNotFoundError`` and
    missing keys ``KeyError``, both naming the file and the record. Column order: metadata (in
    first-seen order), then ``fields``.
    """
    if not fields:
        raise ValueError("fields must map at least one output column to a key")
    rows: list[dict[str, Any]] = []
    meta_cols: list[str] = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"records[{i}] must be a mapping, got {type(record).__name__}")
        files = {k: Path(v) for k, v in record.items() if _is_file_key(k)}
        meta = {k: v for k, v in record.items() if not _is_file_key(k)}
        if not files:
            raise ValueError(
                f"records[{i}] has no result file: give 'path' (metrics.json), 'path_csv' or a "
                f"'<name>_path' key; got keys {sorted(record)}"
            )
        clash = set(meta) & set(fields)
        if clash:
            raise ValueError(f"records[{i}]: metadata columns {sorted(clash)} collide with fields")
        for k in meta:
            if k not in meta_cols:
                meta_cols.append(k)
        wanted: dict[str, tuple[str, str]] = {}
        for col, spec in fields.items():
            file_key, sep, key = spec.partition(":")
            if not sep:
                if len(files) != 1:
                    raise ValueError(
                        f"field {col!r} = {spec!r} names no file but records[{i}] has several "
                        f"{sorted(files)}; write it as '<file key>:{spec}'"
                    )
                file_key, key = next(iter(files)), spec
            if file_key not in files:
                raise KeyError(
                    f"field {col!r} reads {file_key!r}, which records[{i}] ({dict(meta)}) lacks; "
                    f"its files: {sorted(files)}"
                )
            wanted[col] = (file_key, key)
        loaded = {
            k: _load_result(files[k], k, meta) for k in dict.fromkeys(f for f, _ in wanted.values())
        }
        csv_keys = [k for k in loaded if isinstance(loaded[k], pd.DataFrame)]
        if len(csv_keys) > 1:
            raise ValueError(f"records[{i}]: fields read several CSV files {csv_keys}; use one")
        scalars: dict[str, Any] = {}
        csv_cols: dict[str, str] = {}
        for col, (file_key, key) in wanted.items():
            data = loaded[file_key]
            if isinstance(data, pd.DataFrame):
                if key not in data.columns:
                    raise KeyError(
                        f"{files[file_key]}: column {key!r} not found (record {dict(meta)}); "
                        f"available: {list(data.columns)}"
                    )
                csv_cols[col] = key
            else:
                try:
                    scalars[col] = _dotted(data, key, files[file_key])
                except KeyError as exc:
                    raise KeyError(f"{exc.args[0]} (record {dict(meta)})") from None
        if csv_keys:
            table = loaded[csv_keys[0]]
            for csv_row in table.to_dict("records"):
                values = {**scalars, **{col: csv_row[key] for col, key in csv_cols.items()}}
                rows.append({**meta, **{col: values[col] for col in fields}})
        else:
            rows.append({**meta, **{col: scalars[col] for col in fields}})
    return pd.DataFrame(rows, columns=[*meta_cols, *fields])


def validate_frame(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Check ``df`` has the columns of tidy table ``kind`` (see :data:`SCHEMAS`); returns a copy
    with canonical dtypes (TvO ``value`` as string, seeds as int)."""
    if kind not in SCHEMAS:
        raise ValueError(f"unknown results table {kind!r}; expected one of {sorted(SCHEMAS)}")
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"results[{kind!r}] must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in SCHEMAS[kind] if c not in df.columns]
    if missing:
        raise ValueError(
            f"results table {kind!r} lacks columns {missing}; has {list(df.columns)} "
            f"(schema: {list(SCHEMAS[kind])})"
        )
    out = df.copy()
    if kind == "tvo":
        out["value"] = out["value"].map(_value_str)
    if len(out) and out["seed"].isna().any():
        raise ValueError(f"results table {kind!r} has rows without a seed")
    return out


def _value_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def read_results(path: str | os.PathLike[str], kind: str) -> pd.DataFrame:
    """Read a tidy results CSV and validate it as table ``kind``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"results table {path} ({kind}) does not exist; run its workflow rule"
        )
    return validate_frame(pd.read_csv(path, dtype={"value": str}), kind)


# ----------------------------------------------------------------------------------------------
# statistics


def mean_std(
    df: pd.DataFrame, by: str | Sequence[str], value: str, *, ddof: int = 1
) -> pd.DataFrame:
    """Mean, standard deviation (``ddof=1`` like pandas/the reference; NaN for one run) and count of
    ``value`` per group ``by``. Groups keep their first-appearance order."""
    by = [by] if isinstance(by, str) else list(by)
    for col in [*by, value]:
        if col not in df.columns:
            raise KeyError(f"mean_std: column {col!r} not in frame (columns: {list(df.columns)})")
    grouped = df.groupby(by, sort=False, dropna=False)[value]
    out = grouped.agg(mean="mean", std=lambda s: s.std(ddof=ddof), n="count").reset_index()
    return out


def bootstrap_ci(
    values: Sequence[float] | np.ndarray | pd.Series,
    *,
    level: float = 95.0,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Seaborn's ``errorbar=("ci", level)`` interval of the mean: ``n_boot`` bootstrap resamples
    (``seaborn.algorithms.bootstrap`` with ``seed``), percentile interval. NaN for < 2 values."""
    from seaborn.algorithms import bootstrap

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise TypeError(f"bootstrap_ci: values must be one-dimensional, got shape {arr.shape}")
    if not 0 < level < 100:
        raise ValueError(f"bootstrap_ci: level must be in (0, 100), got {level}")
    if arr.size < 2:
        return (math.nan, math.nan)
    boots = bootstrap(arr, func="mean", n_boot=n_boot, seed=seed)
    edge = (100 - level) / 2
    low, high = np.nanpercentile(boots, [edge, 100 - edge])
    return (float(low), float(high))


# ----------------------------------------------------------------------------------------------
# TvO (Sec. 4.1, Fig. 2/3, 7-13)


def _tvo_subset(tvo_df: pd.DataFrame, family: str, regime: str) -> pd.DataFrame:
    df = validate_frame(tvo_df, "tvo")
    return df[(df["family"] == family) & (df["regime"] == regime)]


def tvo_curves(tvo_df: pd.DataFrame, family: str, regime: str) -> pd.DataFrame:
    """Per factor, value, relation and metric (``training`` / ``transfer``): mean, std and n over
    seeds, plus ``value_order``. Rows sorted by factor (paper order), value_order, relation."""
    df = _tvo_subset(tvo_df, family, regime)
    long = df.melt(
        id_vars=["factor", "value", "value_order", "relation", "seed"],
        value_vars=["training_acc", "transfer_acc"],
        var_name="metric",
        value_name="accuracy",
    )
    long["metric"] = long["metric"].str.replace("_acc", "", regex=False)
    out = mean_std(long, ["factor", "value", "value_order", "relation", "metric"], "accuracy")
    order = {f: i for i, f in enumerate(TVO_FACTORS)}
    out["_f"] = out["factor"].map(lambda f: order.get(f, len(order)))
    out = out.sort_values(["_f", "value_order", "relation", "metric"], kind="stable")
    return out.drop(columns="_f").reset_index(drop=True)


def tvo_diff(tvo_df: pd.DataFrame, family: str, regime: str) -> pd.DataFrame:
    """The Fig. 3 statistics per factor (reference ``plot_performance_differences``).

    For each factor value take the mean transfer accuracy over seeds, separately for the same- and
    the disjoint-transformation models. ``disjoint_span`` / ``same_span`` = max − min of those means
    over the factor's values; ``disjoint_mean`` / ``same_mean`` = their mean over values;
    ``gap`` = |same_mean − disjoint_mean|. Factors without both relations are left out (the caller
    shows them as not run).
    """
    curves = tvo_curves(tvo_df, family, regime)
    curves = curves[curves["metric"] == "transfer"]
    rows = []
    for factor in [f for f in TVO_FACTORS if f in set(curves["factor"])]:
        sub = curves[curves["factor"] == factor]
        stats: dict[str, Any] = {"factor": factor}
        ok = True
        for rel in ("disjoint", "same"):
            means = sub.loc[sub["relation"] == rel, "mean"].to_numpy()
            if means.size == 0:
                ok = False
                break
            stats[f"{rel}_min"] = float(means.min())
            stats[f"{rel}_max"] = float(means.max())
            stats[f"{rel}_mean"] = float(means.mean())
            stats[f"{rel}_span"] = float(means.max() - means.min())
            stats[f"{rel}_n_values"] = int(means.size)
        if ok:
            stats["gap"] = abs(stats["same_mean"] - stats["disjoint_mean"])
            rows.append(stats)
    cols = ["factor"] + [
        f"{rel}_{s}" for rel in ("disjoint", "same") for s in ("min", "max", "mean", "span", "n_values")
    ] + ["gap"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


# ----------------------------------------------------------------------------------------------
# IFE (Sec. 4.2, Table 1, Fig. 14)


def _check_ife_labels(df: pd.DataFrame, cols: Sequence[str], kind: str) -> None:
    for col in cols:
        bad = sorted(set(df[col].dropna()) - set(IFE_LABELS))
        if bad:
            raise ValueError(
                f"{kind}.{col} has labels {bad}; expected X/Y labels from {IFE_LABELS}"
            )


def table1_summary(ife_df: pd.DataFrame, ife_sens_df: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Table 1 cells for one variant (``fixed`` / ``translate``): mean, std, n over seeds.

    Columns of the result: ``pretrain``, ``column`` (``acc:<target>`` for the accuracy block,
    ``sens:cifar`` / ``sens:objects`` for the two sensitivity columns — C+O data with the CIFAR
    image resp. the pasted object changed), ``mean``, ``std``, ``n``.
    """
    acc = validate_frame(ife_df, "ife")
    sen = validate_frame(ife_sens_df, "ife_sens")
    acc = acc[(acc["experiment"] == "table1") & (acc["variant"] == variant)]
    sen = sen[sen["variant"] == variant]
    _check_ife_labels(acc, ["pretrain", "target"], "ife")
    _check_ife_labels(sen, ["pretrain"], "ife_sens")
    bad = sorted(set(sen["changed"]) - {"cifar", "objects"})
    if bad:
        raise ValueError(f"ife_sens.changed has values {bad}; expected 'cifar' or 'objects'")
    a = mean_std(acc.assign(column="acc:" + acc["target"]), ["pretrain", "column"], "accuracy")
    s = mean_std(sen.assign(column="sens:" + sen["changed"]), ["pretrain", "column"], "sens")
    return pd.concat([a, s], ignore_index=True)


def ife_sweep(
    ife_df: pd.DataFrame, experiment: str, target: str, variant: str = "fixed"
) -> pd.DataFrame:
    """Fig. 14 curve data: per pretraining label and sweep value, mean/std/n transfer accuracy on
    ``target`` for ``experiment`` in ``relevance`` / ``availability``."""
    if experiment not in ("relevance", "availability"):
        raise ValueError(f"experiment must be 'relevance' or 'availability', got {experiment!r}")
    df = validate_frame(ife_df, "ife")
    df = df[
        (df["experiment"] == experiment) & (df["variant"] == variant) & (df["target"] == target)
    ]
    out = mean_std(df, ["pretrain", "sweep_value"], "accuracy")
    return out.sort_values(["pretrain", "sweep_value"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# IT (Sec. 5.1, Tables 2-5, Fig. 16/17)


def _it_subset(it_df: pd.DataFrame, arch: str) -> pd.DataFrame:
    df = validate_frame(it_df, "it")
    return df[df["arch"].map(canonical_arch) == canonical_arch(arch)]


def it_relation_values(it_df: pd.DataFrame, arch: str) -> pd.DataFrame:
    """Per (model_type, eval, seed, target t) the three paper quantities (reference
    ``target_vs_non_target_comparison``): ``Same`` = sens of the model trained on t, measured on t;
    ``Other`` = mean sens on t of the models trained on every other transformation (not ``none``);
    ``None`` = sens on t of the model trained without transformations."""
    df = _it_subset(it_df, arch)
    key = ["model_type", "eval", "seed", "target_transform", "train_transform"]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        first = df.loc[dup, key].iloc[0].to_dict()
        raise ValueError(
            f"it table has {int(dup.sum())} duplicate rows for arch {arch!r} (e.g. {first}); "
            "each (model_type, eval, seed, train_transform, target_transform) must appear once"
        )
    same = df[df["train_transform"] == df["target_transform"]].assign(relation="Same")
    other = df[
        (df["train_transform"] != df["target_transform"]) & (df["train_transform"] != "none")
    ]
    other = (
        other.groupby(["model_type", "eval", "seed", "target_transform"], sort=False)["sens"]
        .mean()
        .reset_index()
        .assign(relation="Other")
    )
    none = df[df["train_transform"] == "none"].assign(relation="None")
    cols = ["model_type", "eval", "seed", "target_transform", "relation", "sens"]
    return pd.concat([same[cols], other[cols], none[cols]], ignore_index=True)


def it_summary(it_df: pd.DataFrame, arch: str) -> pd.DataFrame:
    """Tables 2–5: mean, std (ddof 1) and n of :func:`it_relation_values` over seeds × targets,
    per model_type, relation (Same/Other/None) and eval."""
    vals = it_relation_values(it_df, arch)
    out = mean_std(vals, ["model_type", "relation", "eval"], "sens")
    key = {
        "model_type": {m: i for i, m in enumerate(IT_MODEL_TYPES)},
        "relation": {r: i for i, r in enumerate(IT_RELATIONS)},
        "eval": {e: i for i, e in enumerate(IT_EVALS)},
    }
    order = [out[c].map(lambda v, c=c: key[c].get(v, 99)) for c in key]
    out = out.assign(_a=order[0], _b=order[1], _c=order[2]).sort_values(["_a", "_b", "_c"])
    return out.drop(columns=["_a", "_b", "_c"]).reset_index(drop=True)


def it_heatmap(
    it_df: pd.DataFrame, model_type: str, arch: str = "resnet18", eval_name: str = "in_dist"
) -> pd.DataFrame:
    """Fig. 16/17 matrix: mean sens over seeds, rows = training transformation (the 18 in paper
    order, then ``none``), columns = target transformation (18). Missing cells are NaN."""
    df = _it_subset(it_df, arch)
    df = df[(df["model_type"] == model_type) & (df["eval"] == eval_name)]
    mean = df.groupby(["train_transform", "target_transform"])["sens"].mean().unstack()
    rows = [*TRANSFORM_ORDER, "none"]
    extra_rows = sorted(set(mean.index) - set(rows))
    extra_cols = sorted(set(mean.columns) - set(TRANSFORM_ORDER))
    if extra_rows or extra_cols:
        raise ValueError(
            f"it table has unknown transformations: train {extra_rows}, target {extra_cols}; "
            f"expected names from {TRANSFORM_ORDER} (+ 'none' for training)"
        )
    return mean.reindex(index=rows, columns=list(TRANSFORM_ORDER)).astype(float)


# ----------------------------------------------------------------------------------------------
# TM (Sec. 5.2, Fig. 4/18)


def tm_matrix(tm_df: pd.DataFrame, arch: str) -> pd.DataFrame:
    """Mean/std/n transfer accuracy over seeds per (n_train_transforms, n_target_transforms)."""
    df = validate_frame(tm_df, "tm")
    df = df[df["arch"].map(canonical_arch) == canonical_arch(arch)]
    out = mean_std(df, ["n_train_transforms", "n_target_transforms"], "accuracy")
    return out.sort_values(["n_train_transforms", "n_target_transforms"]).reset_index(drop=True)
