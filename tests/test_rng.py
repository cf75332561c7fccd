"""The counter-based RNG (``invtransfer.rng``): every draw a pure function of (key, index, stream).

Datasets are byte-identical across versions only if these values never change, so the first tests
pin values computed by the original implementation (and SplitMix64's published first output)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from invtransfer.rng import CounterRNG, derive_seed, splitmix64


def test_splitmix64_is_the_published_generator():
    # SplitMix64 seeded with 0: first output 0xE220A8397B1DCDAF (Steele, Lea & Flood; Vigna)
    out = splitmix64(np.arange(3, dtype=np.uint64) * np.uint64(12345678901))
    assert [hex(int(v)) for v in out] == [
        "0xe220a8397b1dcdaf",
        "0x8e8a7fc661bbc3a",
        "0xe567e46fc6699035",
    ]
    x = np.array([1, 2], dtype=np.uint64)
    splitmix64(x)
    assert x.tolist() == [1, 2]  # the input is not modified


def test_pinned_values_of_the_original_implementation():
    assert derive_seed(1, "x", 3) == 4380171618238665341
    assert derive_seed("a") == 8260280544287282447
    assert derive_seed(2**62, "stream", "u") == 8319483309060085054
    rng = CounterRNG(12345, np.arange(1000) * 7919 + 3)
    assert rng.sample_seeds("a")[:3].tolist() == [
        878583534296411345,
        5277639262865286050,
        7882306156497291212,
    ]
    np.testing.assert_array_equal(
        rng.uniform("a", (3,))[:2].numpy(),
        np.array(
            [
                [0.4232400357723236, 0.9193355441093445, 0.6555185317993164],
                [0.9489517211914062, 0.6582861542701721, 0.06658019870519638],
            ],
            dtype=np.float32,
        ),
    )


def test_derive_seed_distinguishes_types_and_order():
    assert derive_seed(1) != derive_seed("1")
    assert derive_seed("a", "b") != derive_seed("b", "a")
    assert 0 <= derive_seed("anything", 7) < 2**63


def test_draws_do_not_depend_on_chunking_and_raise_no_overflow_warnings():
    indices = np.arange(0, 50_000, 37)
    whole = CounterRNG(99, indices)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # uint64 arithmetic wraps silently, as SplitMix64 needs
        parts = [CounterRNG(99, chunk) for chunk in np.array_split(indices, 7)]
        for name in ("u", "applied"):
            np.testing.assert_array_equal(
                whole.uniform(name).numpy(), np.concatenate([p.uniform(name) for p in parts])
            )
            np.testing.assert_array_equal(
                whole.bits(name, 3), np.concatenate([p.bits(name, 3) for p in parts])
            )
        single = CounterRNG(99, indices[5:6])
        assert whole.sample_seeds("s")[5] == single.sample_seeds("s")[0]


def test_uniform01_equals_the_single_stream_draws():
    rng = CounterRNG(7, np.arange(10, 300))
    names = ("applied", "u_x", "u_y")
    u = rng.uniform01(names)
    assert u.shape == (3, 290) and u.dtype == np.float64
    assert ((u >= 0) & (u < 1)).all()
    for row, name in zip(u, names, strict=True):
        np.testing.assert_array_equal(torch.from_numpy(row).float().numpy(), rng.uniform(name))
        np.testing.assert_array_equal(row < 0.3, rng.bernoulli(name, 0.3).numpy())
        np.testing.assert_array_equal(
            (rng.bits(name, 1)[:, 0] >> np.uint64(11)).astype(np.float64) / 2.0**53, row
        )
    assert rng.uniform01(()).shape == (0, 290)


def test_child_is_independent_and_keeps_the_indices():
    rng = CounterRNG(5, [3, 1, 4])
    child = rng.child("rotate")
    assert child.indices is rng.indices and child.n == 3
    assert child.key == derive_seed(rng.key, "rotate") != rng.key
    assert not np.array_equal(child.uniform("a"), rng.uniform("a"))
    np.testing.assert_array_equal(
        child.uniform("a"), CounterRNG(derive_seed(5, "rotate"), [3, 1, 4]).uniform("a")
    )


@pytest.mark.parametrize(
    ("indices", "error", "match"),
    [
        ([[1, 2]], TypeError, "one-dimensional"),
        ([0.5, 1.0], TypeError, "integers"),
        ([-1, 2], ValueError, "non-negative"),
    ],
)
def test_bad_indices_are_rejected(indices, error, match):
    with pytest.raises(error, match=match):
        CounterRNG(0, indices)
    with pytest.raises(ValueError, match="non-negative int"):
        CounterRNG(-1, [0])
