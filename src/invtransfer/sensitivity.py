"""The sens metric of the paper (Eq. 1): how much representations move under a transformation.

``sens(g | T, O) = E[‖g(x1) − g(x2)‖₂] / E[‖g(x) − g(x')‖₂]`` where ``x1, x2`` share object and
background and differ only in the sampled transformation, and ``x, x'`` are independent samples of
the same dataset. Lower is more invariant; 0 means the transformation is invisible to ``g``; about 1
means the transformation moves a representation as far as swapping in a random other sample does.

The caller materialises a dataset and its *twin* (same objects, backgrounds and class per index,
a different transformation draw) and passes their penultimate features ``f1``, ``f2`` (N×D): row
``i`` of both belongs to the same (object, background).

Two estimators:

* ``"global"`` (default, what the paper states): the numerator averages ``‖f1[i] − f2[i]‖`` over
  ``n_pairs`` rows (all rows when ``N ≤ n_pairs``, else a seeded sample without replacement); the
  denominator averages ``‖f1[a] − f1[b]‖`` over ``n_pairs`` seeded random pairs ``a ≠ b`` drawn
  from the whole dataset. When ``n_pairs ≥ N·(N−1)`` the denominator is the exact mean over all
  ordered pairs ``a ≠ b`` instead of a sample (only happens for tiny N).
* ``"reference-batch"``: reproduces the reference code (reference_implementation.md §5.3): per
  batch of ``batch_size`` rows in order, ``d_same = mean ‖r1 − r2‖`` and
  ``d_rand = mean ‖r1 − r1[perm]‖`` with ``perm = torch.randperm(B)`` drawn from one *unseeded*
  ``torch.Generator()`` (default seed, advanced batch after batch); the value is
  ``mean_b d_same / mean_b d_rand``. Random pairs are only ever drawn within a batch and a
  permutation's fixed points contribute a distance of 0, which biases the denominator low — the
  reason the global estimator is the default. ``seed`` and ``n_pairs`` are not used by this
  estimator (the reference's shuffle seed had no effect and it used every row).

All distances are computed in float64, in chunks (10k×512 features: about 0.2 s on a loaded 2-core machine).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from invtransfer.rng import derive_seed

__all__ = [
    "DEFAULT_ESTIMATOR",
    "DEFAULT_PAIRS",
    "ESTIMATORS",
    "SensPairs",
    "mean_pair_distance",
    "pair_sens",
    "sample_sens_pairs",
    "sens",
    "sens_from_npy",
    "sens_rows",
    "sens_terms",
]

Estimator = Literal["global", "reference-batch"]
ESTIMATORS: tuple[str, ...] = ("global", "reference-batch")
DEFAULT_ESTIMATOR: Estimator = "global"
DEFAULT_PAIRS = 10_000  # pairs per expectation of Eq. 1

# Rows per distance chunk: bounds the float64 temporary at about 2048 x D x 8 bytes.
_CHUNK = 2048


class SensPairs:
    """The indices behind one global sens estimate (exposed so tests can recompute it by hand).

    ``same``: rows of ``f1``/``f2`` for the numerator. ``a``, ``b``: rows of the reference features
    for the denominator (``a[k] != b[k]``), or ``None`` when every ordered pair is used (``exact``).
    """

    __slots__ = ("a", "b", "exact", "same")

    def __init__(self, same: np.ndarray, a: np.ndarray | None, b: np.ndarray | None):
        self.same = same
        self.a = a
        self.b = b
        self.exact = a is None

    def __repr__(self) -> str:
        den = "all pairs" if self.exact else f"{len(self.a)} random pairs"  # type: ignore[arg-type]
        return f"SensPairs(numerator={len(self.same)} rows, denominator={den})"


def _check_features(name: str, f: Any) -> np.ndarray:
    if not isinstance(f, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray of shape (N, D), got {type(f).__name__}; "
            "convert torch tensors with .cpu().numpy()"
        )
    if f.ndim != 2:
        raise TypeError(f"{name} must have shape (N, D), got shape {f.shape}")
    if not (np.issubdtype(f.dtype, np.floating) or np.issubdtype(f.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {f.dtype}")
    if f.shape[0] < 2:
        raise ValueError(
            f"{name} needs at least 2 rows (samples) to form random pairs, got {f.shape[0]}"
        )
    if f.shape[1] < 1:
        raise TypeError(f"{name} must have at least one feature column, got shape {f.shape}")
    if np.issubdtype(f.dtype, np.floating) and not np.isfinite(f).all():
        bad = np.argwhere(~np.isfinite(f))[0]
        raise ValueError(
            f"{name} contains NaN or infinite values (first at row {bad[0]}, column {bad[1]}); "
            "the features are broken — check the model checkpoint and the feature extraction"
        )
    return f


def _check_twins(
    f1: Any, f2: Any, names: tuple[str, str] = ("f1", "f2")
) -> tuple[np.ndarray, np.ndarray]:
    f1 = _check_features(names[0], f1)
    f2 = _check_features(names[1], f2)
    if f1.shape != f2.shape:
        raise TypeError(
            f"{names[0]} and {names[1]} must have the same shape (row i of both is the same object "
            f"and background), got {f1.shape} and {f2.shape}"
        )
    return f1, f2


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def mean_pair_distance(x: np.ndarray, y: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> float:
    """Mean of ``‖x[ia[k]] − y[ib[k]]‖₂`` over k, in float64 and chunks of rows."""
    total = 0.0
    for start in range(0, len(ia), _CHUNK):
        sa = ia[start : start + _CHUNK]
        sb = ib[start : start + _CHUNK]
        diff = x[sa].astype(np.float64) - y[sb].astype(np.float64)
        total += float(np.sqrt(np.einsum("ij,ij->i", diff, diff)).sum())
    return total / len(ia)


def _mean_all_pairs(x: np.ndarray) -> float:
    """Exact mean of ``‖x[a] − x[b]‖`` over all ordered pairs ``a != b``."""
    n = x.shape[0]
    xf = x.astype(np.float64)
    total = 0.0
    rows = max(1, 4_000_000 // (n * x.shape[1]))  # keeps the (rows, n, D) temporary near 32 MB
    for start in range(0, n, rows):
        block = xf[start : start + rows]
        diff = block[:, None, :] - xf[None, :, :]
        total += float(np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)).sum())  # diagonal adds 0
    return total / (n * (n - 1))


def sample_sens_pairs(n: int, n_pairs: int, seed: int, n_ref: int | None = None) -> SensPairs:
    """The seeded row indices used by the global estimator for ``n`` twin rows.

    ``n_ref`` is the number of rows of the reference features for the denominator (default ``n``).
    The generator is ``numpy.random.default_rng(derive_seed("sens", seed))`` — local, never the
    global numpy state. Numerator: all rows if ``n <= n_pairs`` else ``n_pairs`` rows without
    replacement (sorted). Denominator: ``a`` uniform, ``b = (a + U{1..m-1}) mod m`` — uniform over
    ordered pairs with ``a != b`` — or every ordered pair when ``n_pairs >= m·(m−1)``.
    """
    n = _check_positive_int("n", n)
    n_pairs = _check_positive_int("n_pairs", n_pairs)
    m = n if n_ref is None else _check_positive_int("n_ref", n_ref)
    if m < 2:
        raise ValueError(f"the reference features need at least 2 rows, got {m}")
    gen = np.random.default_rng(derive_seed("sens", int(seed)))
    sampled = n > n_pairs
    same = np.sort(gen.choice(n, size=n_pairs, replace=False)) if sampled else np.arange(n)
    if n_pairs >= m * (m - 1):
        return SensPairs(same, None, None)
    a = gen.integers(0, m, size=n_pairs)
    b = (a + gen.integers(1, m, size=n_pairs)) % m
    return SensPairs(same, a, b)


def pair_sens(
    fa: np.ndarray,
    fb: np.ndarray,
    f_ref: np.ndarray,
    *,
    n_pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
) -> float:
    """sens with the numerator from row-aligned ``fa``/``fb`` and the denominator from ``f_ref``.

    Used for Table 1's columns: ``fa``, ``fb`` are features of two C+O datasets that differ in one
    factor only (the CIFAR image, or the pasted object) and ``f_ref`` is the dataset whose random
    pairs set the scale (normally ``fa``). ``f_ref`` must have the same feature dimension.
    """
    fa, fb = _check_twins(fa, fb, ("fa", "fb"))
    f_ref = _check_features("f_ref", f_ref)
    if f_ref.shape[1] != fa.shape[1]:
        raise TypeError(
            f"f_ref must have the same feature dimension as fa, got {f_ref.shape} and {fa.shape}"
        )
    return _ratio(*_pair_terms(fa, fb, f_ref, n_pairs, seed))


def _pair_terms(
    fa: np.ndarray, fb: np.ndarray, f_ref: np.ndarray, n_pairs: int, seed: int
) -> tuple[float, float]:
    n_pairs = _check_positive_int("n_pairs", n_pairs)
    pairs = sample_sens_pairs(fa.shape[0], n_pairs, seed, n_ref=f_ref.shape[0])
    numerator = mean_pair_distance(fa, fb, pairs.same, pairs.same)
    if pairs.exact:
        denominator = _mean_all_pairs(f_ref)
    else:
        denominator = mean_pair_distance(f_ref, f_ref, pairs.a, pairs.b)  # type: ignore[arg-type]
    return numerator, denominator


def sens_terms(
    f1: np.ndarray, f2: np.ndarray, *, n_pairs: int = DEFAULT_PAIRS, seed: int = 0
) -> tuple[float, float]:
    """The two expectations of Eq. 1 that the global estimator divides, ``(numerator,
    denominator)``: the mean distance between twins and between random pairs of ``f1``, with the
    same rows and pairs as :func:`sens` (``sens == numerator / denominator``). They tell whether a
    change of sens comes from the transformation moving representations more or from the data's
    representations lying closer together."""
    f1, f2 = _check_twins(f1, f2)
    return _pair_terms(f1, f2, f1, n_pairs, seed)


def _ratio(numerator: float, denominator: float) -> float:
    if denominator <= 0.0:
        raise ValueError(
            "sens is undefined: every random pair of representations is identical (mean distance 0), "
            "so the model maps all inputs to the same point — check that the model was trained and "
            "that the features come from the penultimate layer"
        )
    return numerator / denominator


def _sens_reference_batch(f1: np.ndarray, f2: np.ndarray, batch_size: int) -> float:
    import torch  # local import: only this estimator needs torch's generator

    generator = torch.Generator()  # unseeded on purpose: the reference's default-seed generator
    d_same: list[float] = []
    d_rand: list[float] = []
    for start in range(0, f1.shape[0], batch_size):
        r1 = f1[start : start + batch_size]
        r2 = f2[start : start + batch_size]
        idx = np.arange(r1.shape[0])
        perm = torch.randperm(r1.shape[0], generator=generator).numpy()
        d_same.append(mean_pair_distance(r1, r2, idx, idx))
        d_rand.append(mean_pair_distance(r1, r1, idx, perm))
    return _ratio(float(np.mean(d_same)), float(np.mean(d_rand)))


def sens(
    f1: np.ndarray,
    f2: np.ndarray,
    *,
    n_pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
    estimator: Estimator = DEFAULT_ESTIMATOR,
    batch_size: int = 2048,
) -> float:
    """sens of the representations ``f1`` (N×D) to the transformation that separates them from ``f2``.

    ``f1[i]``, ``f2[i]``: features of the same object on the same background under two independent
    transformation draws. See the module docstring for the two estimators. Raises ``TypeError`` for
    bad shapes or types, ``ValueError`` for NaN/inf, fewer than 2 rows, bad arguments, or features
    whose random pairs all coincide (sens undefined).
    """
    f1, f2 = _check_twins(f1, f2)
    n_pairs = _check_positive_int("n_pairs", n_pairs)
    batch_size = _check_positive_int("batch_size", batch_size)
    if estimator == "global":
        return pair_sens(f1, f2, f1, n_pairs=n_pairs, seed=seed)
    if estimator == "reference-batch":
        return _sens_reference_batch(f1, f2, batch_size)
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


def _load_features(path: str | os.PathLike[str]) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"features file {path} does not exist; run the feature-extraction rule that writes it"
        )
    return np.load(path, allow_pickle=False)


def sens_from_npy(
    path1: str | os.PathLike[str],
    path2: str | os.PathLike[str],
    *,
    path_ref: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> float:
    """:func:`sens` (or :func:`pair_sens` when ``path_ref`` is given) on features stored as ``.npy``.

    Shape errors name the files, so a workflow log says which features disagree.
    """
    f1, f2 = _load_features(path1), _load_features(path2)
    try:
        if path_ref is None:
            return sens(f1, f2, **kwargs)
        if kwargs.get("estimator", "global") != "global":
            raise ValueError(
                "path_ref (a separate reference set) only works with estimator='global'"
            )
        kwargs.pop("estimator", None)
        kwargs.pop("batch_size", None)
        return pair_sens(f1, f2, _load_features(path_ref), **kwargs)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc} (features: {path1}, {path2})") from exc


def sens_rows(
    pairs: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    *,
    metadata: Mapping[str, Any] | None = None,
    n_pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
    estimator: Estimator = DEFAULT_ESTIMATOR,
    batch_size: int = 2048,
) -> list[dict[str, Any]]:
    """Tidy rows ``{**metadata, eval, target_transform, sens, n, estimator}``, one per pair.

    ``pairs`` maps ``(eval_name, target_transform)`` to the twin features ``(f1, f2)``. Rows come
    out sorted by key, so the output does not depend on dict insertion order.
    """
    meta = dict(metadata or {})
    clash = {"eval", "target_transform", "sens", "n", "estimator"} & meta.keys()
    if clash:
        raise ValueError(f"metadata must not override the result columns {sorted(clash)}")
    rows: list[dict[str, Any]] = []
    for key in sorted(pairs):
        if not (isinstance(key, tuple) and len(key) == 2):
            raise TypeError(f"pairs keys must be (eval_name, target_transform) tuples, got {key!r}")
        f1, f2 = pairs[key]
        try:
            value = sens(
                f1, f2, n_pairs=n_pairs, seed=seed, estimator=estimator, batch_size=batch_size
            )
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (eval={key[0]!r}, target_transform={key[1]!r})") from exc
        rows.append(
            {
                **meta,
                "eval": key[0],
                "target_transform": key[1],
                "sens": value,
                "n": int(np.asarray(f1).shape[0]),
                "estimator": estimator,
            }
        )
    return rows
