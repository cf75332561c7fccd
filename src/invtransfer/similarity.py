"""Measures of representational invariance beside sens (paper Eq. 1, :mod:`invtransfer.sensitivity`).

All take the representations of *twins*: ``f1[i]``, ``f2[i]`` (N×D) are the same object on the
same background under two independent draws of one transformation (the pairs sens uses).

* :func:`linear_cka` — debiased linear CKA (Kornblith et al. 2019, "Similarity of neural network
  representations revisited") between ``f1`` and ``f2``, with the unbiased HSIC estimator of
  Song et al. (2012), :func:`unbiased_hsic`. 1 = the twins' representations have the same
  (linear) similarity structure; unlike sens it ignores any orthogonal map and isotropic scaling
  between the two sets. Computed in float64 from the features (``‖XᵀY‖²``) or from the Gram
  matrices, whichever is cheaper; memory ``min(D_x·D_y, N²)`` floats.
* :func:`relative_invariance` — cosine relative invariance (Bouchacourt, Ibrahim & Morcos 2021,
  "Grounding inductive biases in natural images"): per pair ``(b_i − d_i) / b_i`` with ``d_i`` the
  cosine distance ``1 − cos`` between the twins and ``b_i`` the cosine distance between ``f1[i]``
  and a random other sample's twin ``f2[j]`` (j ≠ i, seeded); 1 = invariant (identical twins),
  0 = a transformation moves a representation as far as swapping in another sample. Summarised
  by the median over pairs (the authors report percentiles of the per-sample values).
* :func:`flip_rate` — the fraction of twin pairs whose predicted class differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from invtransfer.rng import derive_seed

__all__ = [
    "cosine_distances",
    "flip_rate",
    "linear_cka",
    "relative_invariance",
    "relative_invariance_values",
    "unbiased_hsic",
]


def _matrix(name: str, x: Any, min_rows: int) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of shape (N, D), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] < 1:
        raise TypeError(f"{name} must have shape (N, D) with D >= 1, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (samples), got {x.shape[0]}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(
            f"{name} contains NaN or infinite values (first at row {bad[0]}, column {bad[1]})"
        )
    return x


def _pair(x: Any, y: Any, names: tuple[str, str], min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    x = _matrix(names[0], x, min_rows)
    y = _matrix(names[1], y, min_rows)
    if x.shape[0] != y.shape[0]:
        raise TypeError(
            f"{names[0]} and {names[1]} must have the same number of rows (row i of both is one "
            f"twin pair), got {x.shape[0]} and {y.shape[0]}"
        )
    return x, y


# -- CKA ------------------------------------------------------------------------------------------
def unbiased_hsic(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741 - the papers' names
    """The unbiased HSIC estimator of Song et al. (2012, Eq. 5) on two N×N Gram matrices:

    ``[tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))`` with ``K̃``, ``L̃`` the
    Gram matrices with a zeroed diagonal. Needs n ≥ 4. O(n²) memory (the direct computation)."""
    k = np.asarray(k, dtype=np.float64)
    l = np.asarray(l, dtype=np.float64)  # noqa: E741
    n = k.shape[0]
    if k.shape != (n, n) or l.shape != (n, n):
        raise TypeError(
            f"Gram matrices must be square and equal in shape, got {k.shape}, {l.shape}"
        )
    if n < 4:
        raise ValueError(f"the unbiased HSIC estimator needs n >= 4 samples, got {n}")
    kt = k.copy()
    lt = l.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    trace = float(np.einsum("ij,ji->", kt, lt))
    sums = float(kt.sum()) * float(lt.sum()) / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * float(kt.sum(axis=0) @ lt.sum(axis=1))
    return (trace + sums - cross) / (n * (n - 3))


def _debiased_hsic_centered(xty: float, diag_x: np.ndarray, diag_y: np.ndarray, n: int) -> float:
    """``n(n−3)·HSIC₁`` for *column-centred* features, from ``tr(KL)`` and the Gram diagonals.

    With centred features ``K1 = 0``, so ``1ᵀK̃1 = −tr K`` and ``K̃1 = −diag K``; Song et al.'s
    estimator reduces to ``tr(KL) − n/(n−2)·Σ K_ii L_ii + tr K·tr L / ((n−1)(n−2))`` (the form of
    Kornblith et al.'s reference code)."""
    return (
        xty
        - n / (n - 2.0) * float(diag_x @ diag_y)
        + float(diag_x.sum()) * float(diag_y.sum()) / ((n - 1.0) * (n - 2.0))
    )


def _trace_products(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """``tr(KL), tr(KK), tr(LL)`` for ``K = XXᵀ``, ``L = YYᵀ``: through ``XᵀY`` (D×D) or the Gram
    matrices (N×N), whichever needs fewer operations."""
    n, dx = x.shape
    dy = y.shape[1]
    feature_cost = n * (dx * dy + dx * dx + dy * dy)
    gram_cost = n * n * (dx + dy) + 3 * n * n
    if feature_cost <= gram_cost:
        return (
            float(np.square(x.T @ y).sum()),
            float(np.square(x.T @ x).sum()),
            float(np.square(y.T @ y).sum()),
        )
    k = x @ x.T
    l = y @ y.T  # noqa: E741
    return float((k * l).sum()), float((k * k).sum()), float((l * l).sum())


def linear_cka(x: np.ndarray, y: np.ndarray, *, debiased: bool = True) -> float:
    """Linear CKA between the representations ``x`` (N×Dx) and ``y`` (N×Dy) of the same N inputs.

    ``debiased=True`` (default): HSIC by the unbiased estimator (:func:`unbiased_hsic`), the
    "debiased CKA" of Kornblith et al.'s code, which does not drift towards 1 for N not ≫ D;
    needs N ≥ 4 and can be slightly negative for unrelated representations. ``False``: the
    original (biased) estimator. Invariant to orthogonal maps, isotropic scaling and translation
    of either input. Raises ``ValueError`` when a representation has no variance (CKA undefined).
    """
    x, y = _pair(x, y, ("x", "y"), 4 if debiased else 2)
    n = x.shape[0]
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    yc = y.astype(np.float64) - y.mean(axis=0, dtype=np.float64)
    xy, xx, yy = _trace_products(xc, yc)
    if debiased:
        dx = np.einsum("ij,ij->i", xc, xc)
        dy = np.einsum("ij,ij->i", yc, yc)
        xy = _debiased_hsic_centered(xy, dx, dy, n)
        xx = _debiased_hsic_centered(xx, dx, dx, n)
        yy = _debiased_hsic_centered(yy, dy, dy, n)
    if xx <= 0.0 or yy <= 0.0:
        which = "x" if xx <= 0.0 else "y"
        raise ValueError(
            f"linear CKA is undefined: representation {which} has no variance across the "
            f"{n} samples (every row the same, or too few samples for the debiased estimator)"
        )
    return float(xy / np.sqrt(xx * yy))


# -- relative invariance --------------------------------------------------------------------------
def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance ``1 − a_i·b_i / (‖a_i‖‖b_i‖)`` (float64); a zero row is an error
    (the angle is undefined)."""
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    na = np.linalg.norm(a64, axis=1)
    nb = np.linalg.norm(b64, axis=1)
    zero = np.flatnonzero((na == 0) | (nb == 0))
    if zero.size:
        raise ValueError(
            f"cosine distance is undefined for an all-zero representation (row {int(zero[0])}); "
            "the layer maps that input to the origin — pick another layer"
        )
    # 1 − cos = ‖â − b̂‖²/2 for unit vectors: exactly 0 for twins pointing the same way, and
    # accurate for small angles, where 1 − a·b/(‖a‖‖b‖) loses its digits to rounding
    diff = a64 / na[:, None] - b64 / nb[:, None]
    return 0.5 * np.einsum("ij,ij->i", diff, diff)


def relative_invariance_values(f1: np.ndarray, f2: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Per-pair relative invariance ``(b_i − d_i) / b_i`` (see the module docstring); pairs whose
    baseline distance is 0 (the random other sample points the same way) are left out (NaN)."""
    f1, f2 = _pair(f1, f2, ("f1", "f2"), 2)
    n = f1.shape[0]
    gen = np.random.default_rng(derive_seed("relative-invariance", int(seed)))
    other = (np.arange(n) + gen.integers(1, n, size=n)) % n  # uniform over j != i
    d = cosine_distances(f1, f2)
    b = cosine_distances(f1, f2[other])
    out = np.full(n, np.nan)
    ok = b > 0.0
    out[ok] = (b[ok] - d[ok]) / b[ok]
    return out


def relative_invariance(f1: np.ndarray, f2: np.ndarray, *, seed: int = 0) -> float:
    """Median cosine relative invariance of the twin pairs (Bouchacourt et al. 2021): 1 for
    identical twins, about 0 when twins are no closer than random pairs. ``seed`` draws each
    pair's random other sample."""
    values = relative_invariance_values(f1, f2, seed=seed)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError(
            "relative invariance is undefined: every random pair of representations points in "
            "the same direction (cosine distance 0)"
        )
    return float(np.median(values))


# -- predictions ----------------------------------------------------------------------------------
def flip_rate(pred1: np.ndarray, pred2: np.ndarray) -> float:
    """Fraction of twin pairs whose predicted classes differ (``pred*``: int class ids, or N×C
    logits/scores, reduced by argmax)."""
    p1, p2 = np.asarray(pred1), np.asarray(pred2)
    if p1.ndim == 2:
        p1 = p1.argmax(axis=1)
    if p2.ndim == 2:
        p2 = p2.argmax(axis=1)
    if p1.ndim != 1 or p1.shape != p2.shape:
        raise TypeError(
            f"pred1 and pred2 must be class ids (N,) or scores (N, C) for the same N, got "
            f"{np.shape(pred1)} and {np.shape(pred2)}"
        )
    if p1.size == 0:
        raise ValueError("flip rate of zero pairs is undefined")
    return float(np.mean(p1 != p2))
