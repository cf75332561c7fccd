"""Representation-similarity measures: debiased linear CKA, cosine relative invariance, flip rate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from invtransfer.rng import derive_seed
from invtransfer.similarity import (
    flip_rate,
    linear_cka,
    relative_invariance,
    relative_invariance_values,
    unbiased_hsic,
)


def _direct_hsic1(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al. (2012) Eq. 5 written out as sums over distinct indices (O(n^4)-free form):
    HSIC1 = 1/(n(n-3)) [sum_{i!=j} K_ij L_ij + (sum_{i!=j} K_ij)(sum_{i!=j} L_ij)/((n-1)(n-2))
                        - 2/(n-2) sum_i (sum_{j!=i} K_ij)(sum_{j!=i} L_ij)]."""
    n = x.shape[0]
    k = [[float(np.dot(x[i], x[j])) for j in range(n)] for i in range(n)]
    l = [[float(np.dot(y[i], y[j])) for j in range(n)] for i in range(n)]  # noqa: E741
    off = [(i, j) for i, j in itertools.product(range(n), range(n)) if i != j]
    t1 = sum(k[i][j] * l[i][j] for i, j in off)
    t2 = sum(k[i][j] for i, j in off) * sum(l[i][j] for i, j in off) / ((n - 1) * (n - 2))
    t3 = sum(
        sum(k[i][j] for j in range(n) if j != i) * sum(l[i][j] for j in range(n) if j != i)
        for i in range(n)
    )
    return (t1 + t2 - 2.0 / (n - 2) * t3) / (n * (n - 3))


def ortho(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _direct_cka(x: np.ndarray, y: np.ndarray) -> float:
    return _direct_hsic1(x, y) / np.sqrt(_direct_hsic1(x, x) * _direct_hsic1(y, y))


@pytest.fixture
def features():
    gen = np.random.default_rng(0)
    x = gen.normal(size=(12, 5))
    y = x @ gen.normal(size=(5, 7)) + 0.5 * gen.normal(size=(12, 7))
    return x, y


def test_cka_equals_direct_computation(features):
    x, y = features  # n=12 > D: the feature-space path
    assert linear_cka(x, y) == pytest.approx(_direct_cka(x, y), rel=1e-10)
    wide_x = np.random.default_rng(1).normal(size=(9, 30))  # n < D: the Gram path
    wide_y = wide_x[:, :20] ** 2
    assert linear_cka(wide_x, wide_y) == pytest.approx(_direct_cka(wide_x, wide_y), rel=1e-10)


def test_unbiased_hsic_on_gram_matrices_equals_direct_sums(features):
    x, y = features
    assert unbiased_hsic(x @ x.T, y @ y.T) == pytest.approx(_direct_hsic1(x, y), rel=1e-10)


def test_cka_invariant_to_orthogonal_maps_isotropic_scaling_and_translation(features):
    x, y = features
    q = ortho(7, 3)
    assert np.allclose(q @ q.T, np.eye(7))
    ref = linear_cka(x, y)
    assert linear_cka(x, y @ q) == pytest.approx(ref, rel=1e-10)
    assert linear_cka(3.7 * x, 0.02 * y) == pytest.approx(ref, rel=1e-10)
    assert linear_cka(x + 5.0, y - 2.0) == pytest.approx(ref, rel=1e-10)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, 2 * x @ ortho(5, 4)) == pytest.approx(1.0)


def test_biased_cka_is_the_original_formula(features):
    x, y = features
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = np.linalg.norm(xc.T @ yc) ** 2 / (
        np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    )
    assert linear_cka(x, y, debiased=False) == pytest.approx(expected, rel=1e-12)


def test_cka_errors():
    with pytest.raises(ValueError, match="at least 4 rows"):
        linear_cka(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="no variance"):
        linear_cka(np.ones((6, 2)), np.random.default_rng(0).normal(size=(6, 2)))
    with pytest.raises(TypeError, match="same number of rows"):
        linear_cka(np.ones((6, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(np.full((6, 2), np.nan), np.ones((6, 2)))


def test_relative_invariance_of_identical_twins_is_one():
    f = np.random.default_rng(0).normal(size=(50, 8))
    # Bouchacourt et al.: (baseline - twin distance) / baseline with twin distance 0 -> 1 for
    # every pair, i.e. the twins' relative *variance* 1 - value is 0
    assert np.all(relative_invariance_values(f, f.copy()) == 1.0)
    assert relative_invariance(f, 2.5 * f) == pytest.approx(1.0)  # cosine ignores the norm


def test_relative_invariance_by_hand_and_near_zero_for_unrelated_twins():
    f1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    f2 = np.array([[2.0, 1.0], [1.0, 3.0], [-1.0, 2.0]])
    values = relative_invariance_values(f1, f2, seed=0)
    gen = np.random.default_rng(derive_seed("relative-invariance", 0))
    other = (np.arange(3) + gen.integers(1, 3, size=3)) % 3

    def cos_dist(a, b):
        return 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    for i in range(3):
        d, b = cos_dist(f1[i], f2[i]), cos_dist(f1[i], f2[other[i]])
        assert values[i] == pytest.approx((b - d) / b)
    gen = np.random.default_rng(5)
    a, b = gen.normal(size=(4000, 16)), gen.normal(size=(4000, 16))
    assert abs(relative_invariance(a, b)) < 0.05


def test_flip_rate_on_a_known_toy_classifier():
    # classifier: class = 1 if x > 0 else 0 (a tie at 0 goes to class 0, as argmax does); twins
    # shifted by +1 flip exactly where x in (-1, 0]: -0.5, -0.2, 0.0, -0.9
    x = np.array([-3.0, -0.5, -0.2, 0.0, 0.4, 2.0, -1.5, -0.9])
    w = np.array([[-1.0], [1.0]])
    logits1 = x[:, None] @ w.T
    logits2 = (x + 1.0)[:, None] @ w.T
    expected = np.mean((x > 0) != (x + 1.0 > 0))
    assert expected == pytest.approx(4 / 8)
    assert flip_rate(logits1, logits2) == pytest.approx(4 / 8)
    assert flip_rate(np.array([0, 1, 2]), np.array([0, 1, 2])) == 0.0
    with pytest.raises(TypeError, match="same N"):
        flip_rate(np.zeros(3), np.zeros(4))
