"""sens (paper Eq. 1): estimators against brute force, invariances of the ratio, input checks."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from invtransfer.sensitivity import (
    pair_sens,
    sample_sens_pairs,
    sens,
    sens_from_npy,
    sens_rows,
    sens_terms,
)


def _twins(n: int = 200, d: int = 16, noise: float = 0.3, seed: int = 0):
    gen = np.random.default_rng(seed)
    f1 = gen.normal(size=(n, d))
    f2 = f1 + noise * gen.normal(size=(n, d))
    return f1, f2


def _dist(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(((x - y) ** 2).sum()))


def test_global_equals_brute_force_when_pairs_cover_everything():
    f1, f2 = _twins(n=12, d=5)
    n = len(f1)
    num = np.mean([_dist(f1[i], f2[i]) for i in range(n)])
    den = np.mean([_dist(f1[a], f1[b]) for a, b in itertools.permutations(range(n), 2)])
    assert sample_sens_pairs(n, n * (n - 1), seed=0).exact
    assert sens(f1, f2, n_pairs=n * (n - 1)) == pytest.approx(num / den, rel=1e-12)
    # more pairs than exist: still the exact value, independent of the seed
    assert sens(f1, f2, n_pairs=10_000, seed=7) == pytest.approx(num / den, rel=1e-12)


def test_global_with_fixed_seed_equals_explicit_loop():
    f1, f2 = _twins(n=300, d=7)
    pairs = sample_sens_pairs(300, 100, seed=3)
    assert not pairs.exact
    assert len(pairs.same) == 100 and len(set(pairs.same.tolist())) == 100  # without replacement
    assert np.all(pairs.a != pairs.b) and pairs.a.max() < 300 and pairs.b.max() < 300
    num = np.mean([_dist(f1[i], f2[i]) for i in pairs.same])
    den = np.mean([_dist(f1[a], f1[b]) for a, b in zip(pairs.a, pairs.b, strict=True)])
    assert sens(f1, f2, n_pairs=100, seed=3) == pytest.approx(num / den, rel=1e-12)


def test_all_rows_used_for_numerator_when_n_le_n_pairs():
    pairs = sample_sens_pairs(50, 1000, seed=1)
    np.testing.assert_array_equal(pairs.same, np.arange(50))
    assert len(pairs.a) == 1000  # 50·49 = 2450 > 1000: sampled, not exact


def test_denominator_pairs_are_uniform_over_ordered_pairs():
    assert not sample_sens_pairs(5, 19, seed=0).exact  # 19 < 5·4: sampled
    assert sample_sens_pairs(5, 20, seed=0).exact  # every ordered pair
    counts = np.zeros((6, 6))
    for s in range(300):
        p = sample_sens_pairs(6, 29, seed=s)
        np.add.at(counts, (p.a, p.b), 1)
    off = counts[~np.eye(6, dtype=bool)]
    assert np.all(np.diag(counts) == 0)
    assert off.min() > 0.6 * off.mean() and off.max() < 1.4 * off.mean()


def test_seed_determinism():
    f1, f2 = _twins(n=500)
    assert sens(f1, f2, n_pairs=200, seed=4) == sens(f1, f2, n_pairs=200, seed=4)
    assert sens(f1, f2, n_pairs=200, seed=4) != sens(f1, f2, n_pairs=200, seed=5)


def test_identical_twins_give_zero():
    f1, _ = _twins()
    assert sens(f1, f1.copy()) == 0.0
    assert sens(f1, f1.copy(), estimator="reference-batch", batch_size=64) == 0.0


@pytest.mark.parametrize("estimator", ["global", "reference-batch"])
def test_scale_and_translation_invariance(estimator):
    f1, f2 = _twins(n=300)
    base = sens(f1, f2, n_pairs=500, estimator=estimator, batch_size=64)
    shift = np.random.default_rng(9).normal(size=f1.shape[1]) * 10
    assert sens(3.7 * f1, 3.7 * f2, n_pairs=500, estimator=estimator, batch_size=64) == (
        pytest.approx(base, rel=1e-10)
    )
    assert sens(f1 + shift, f2 + shift, n_pairs=500, estimator=estimator, batch_size=64) == (
        pytest.approx(base, rel=1e-10)
    )


def test_more_noise_means_more_sensitive():
    small = sens(*_twins(noise=0.1))
    large = sens(*_twins(noise=1.0))
    assert 0 < small < large


def test_reference_batch_matches_direct_loop():
    f1, f2 = _twins(n=200, d=6)
    gen = torch.Generator()  # the reference's unseeded generator, advanced batch after batch
    d_same, d_rand = [], []
    for start in range(0, 200, 64):  # batches 64, 64, 64, 8
        r1, r2 = f1[start : start + 64], f2[start : start + 64]
        perm = torch.randperm(len(r1), generator=gen).numpy()
        d_same.append(np.mean([_dist(r1[i], r2[i]) for i in range(len(r1))]))
        d_rand.append(np.mean([_dist(r1[i], r1[perm[i]]) for i in range(len(r1))]))
    expected = np.mean(d_same) / np.mean(d_rand)
    got = sens(f1, f2, estimator="reference-batch", batch_size=64)
    assert got == pytest.approx(expected, rel=1e-12)
    # the reference's shuffle seed had no effect, and neither does ours for this estimator
    assert sens(f1, f2, estimator="reference-batch", batch_size=64, seed=123) == got


def test_float32_input_matches_float64():
    f1, f2 = _twins(n=400, d=32)
    a = sens(f1.astype(np.float32), f2.astype(np.float32), n_pairs=300)
    b = sens(f1, f2, n_pairs=300)
    assert a == pytest.approx(b, rel=1e-6)


def test_pair_sens_uses_reference_denominator():
    fa, fb = _twins(n=40, d=4)
    ref = np.random.default_rng(2).normal(size=(30, 4)) * 5
    pairs = sample_sens_pairs(40, 500, seed=0, n_ref=30)
    num = np.mean([_dist(fa[i], fb[i]) for i in pairs.same])
    den = np.mean([_dist(ref[a], ref[b]) for a, b in zip(pairs.a, pairs.b, strict=True)])
    assert pair_sens(fa, fb, ref, n_pairs=500) == pytest.approx(num / den, rel=1e-12)
    assert pair_sens(fa, fb, fa, n_pairs=500) == sens(fa, fb, n_pairs=500)


def test_sens_terms_are_the_two_expectations_sens_divides():
    f1, f2 = _twins(n=300, d=8)
    pairs = sample_sens_pairs(300, 200, seed=4)
    num, den = sens_terms(f1, f2, n_pairs=200, seed=4)
    assert num == pytest.approx(np.mean([_dist(f1[i], f2[i]) for i in pairs.same]), rel=1e-12)
    assert den == pytest.approx(
        np.mean([_dist(f1[a], f1[b]) for a, b in zip(pairs.a, pairs.b, strict=True)]), rel=1e-12
    )
    assert num / den == sens(f1, f2, n_pairs=200, seed=4)  # the same rows and pairs, bit for bit
    # scaling the features scales both terms alike: sens does not change
    num2, den2 = sens_terms(3 * f1, 3 * f2, n_pairs=200, seed=4)
    assert (num2, den2) == pytest.approx((3 * num, 3 * den), rel=1e-12)
    assert sens_terms(f1, f1.copy(), n_pairs=200, seed=4)[0] == 0.0
    with pytest.raises(TypeError, match=r"\(300, 8\) and \(300, 3\)"):
        sens_terms(f1, f2[:, :3])
    with pytest.raises(ValueError, match="n_pairs"):
        sens_terms(f1, f2, n_pairs=0)


@pytest.mark.parametrize(
    ("f1", "f2", "exc", "match"),
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), TypeError, r"\(5, 3\) and \(5, 4\)"),
        (np.zeros((5, 3)), np.zeros((6, 3)), TypeError, r"\(5, 3\) and \(6, 3\)"),
        (np.zeros(5), np.zeros(5), TypeError, r"shape \(N, D\), got shape \(5,\)"),
        ([[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]], TypeError, "numpy.ndarray"),
        (np.zeros((1, 3)), np.zeros((1, 3)), ValueError, "at least 2 rows"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), np.zeros((2, 2)), ValueError, "row 0, column 1"),
        (np.array([[0.0, 1.0], [1.0, 2.0]]), np.array([[np.inf, 1], [1, 2]]), ValueError, "f2"),
        (np.ones((4, 3)), np.ones((4, 3)), ValueError, "undefined"),
        (np.array([["a"], ["b"]]), np.array([["a"], ["b"]]), TypeError, "real numbers"),
    ],
)
def test_bad_inputs(f1, f2, exc, match):
    with pytest.raises(exc, match=match):
        sens(f1, f2)


def test_bad_arguments():
    f1, f2 = _twins(n=10)
    with pytest.raises(ValueError, match="n_pairs"):
        sens(f1, f2, n_pairs=0)
    with pytest.raises(ValueError, match="batch_size"):
        sens(f1, f2, batch_size=0)
    with pytest.raises(ValueError, match="estimator"):
        sens(f1, f2, estimator="batch")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="feature dimension"):
        pair_sens(f1, f2, np.zeros((10, 3)))


def test_sens_rows_are_tidy_and_sorted():
    pairs = {("mild_ood", "rotate"): _twins(seed=1), ("in_dist", "hue"): _twins(seed=2)}
    rows = sens_rows(pairs, metadata={"arch": "resnet18", "seed": 0}, n_pairs=100)
    assert [(r["eval"], r["target_transform"]) for r in rows] == [
        ("in_dist", "hue"),
        ("mild_ood", "rotate"),
    ]
    assert rows[0]["arch"] == "resnet18" and rows[0]["n"] == 200
    assert rows[1]["sens"] == sens(*pairs[("mild_ood", "rotate")], n_pairs=100)
    with pytest.raises(ValueError, match="eval='x', target_transform='y'"):
        sens_rows({("x", "y"): (np.zeros((3, 2)), np.zeros((3, 2)))})
    with pytest.raises(ValueError, match="override"):
        sens_rows(pairs, metadata={"sens": 1})


def test_sens_from_npy(tmp_path):
    f1, f2 = _twins(n=50)
    np.save(tmp_path / "a.npy", f1)
    np.save(tmp_path / "b.npy", f2)
    assert sens_from_npy(tmp_path / "a.npy", tmp_path / "b.npy", n_pairs=100) == sens(
        f1, f2, n_pairs=100
    )
    assert sens_from_npy(
        tmp_path / "a.npy", tmp_path / "b.npy", path_ref=tmp_path / "b.npy", n_pairs=100
    ) == pair_sens(f1, f2, f2, n_pairs=100)
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        sens_from_npy(tmp_path / "a.npy", tmp_path / "missing.npy")
    np.save(tmp_path / "c.npy", f1[:, :3])
    with pytest.raises(TypeError, match=r"c\.npy"):
        sens_from_npy(tmp_path / "a.npy", tmp_path / "c.npy")


def test_grouped_sens_job_equals_per_model_computation(tmp_path, monkeypatch):
    """invtransfer.steps.sens_models: several models, shared evaluation members; each value is
    sens of that model's features, whatever the grouping, and each model gets its own CSV."""
    import pandas as pd

    from invtransfer import steps
    from invtransfer.checkpoint import save_model
    from invtransfer.datasets import store
    from invtransfer.features import compute_features
    from invtransfer.models import build_model

    gen = torch.Generator().manual_seed(0)
    members = {
        name: torch.randint(0, 256, (40, 32, 32, 3), dtype=torch.uint8, generator=gen)
        for name in ("x.a", "x.b", "y.a", "y.b")
    }
    evalset = tmp_path / "evalsets" / "ev"
    for name in members:
        (evalset / name).mkdir(parents=True)

    class _Split:
        def __init__(self, images):
            self.images = images

    reads = []

    def fake_split(folder, split):
        reads.append(Path(folder).name)
        return _Split(members[Path(folder).name])

    monkeypatch.setattr(store, "load_split", fake_split)
    nets, paths = {}, []
    for i, name in enumerate(("m1", "m2")):
        torch.manual_seed(i)
        nets[name] = build_model("cnn4", num_classes=3, width=4)
        paths.append(tmp_path / "models" / name / "model.pt")
        save_model(paths[-1], nets[name])

    def pair(t):
        return {
            "eval": "in_dist",
            "target_transform": t,
            "evalset": "ev",
            "a": f"{t}.a",
            "b": f"{t}.b",
        }

    job = {"models": {"m1": [pair("y"), pair("x")], "m2": [pair("x")]}}
    out = tmp_path / "sens" / "group"
    cfg = {"pairs": 500, "estimator": "global"}
    steps.sens_models(job, paths, [evalset], out, sens=cfg, threads=1, runtime={"device": "cpu"})
    assert sorted(p.name for p in out.iterdir()) == ["m1.csv", "m2.csv"]
    assert sorted(reads) == ["x.a", "x.b", "y.a", "y.b"]  # every member read once for both models
    m1 = pd.read_csv(out / "m1.csv")
    assert list(m1["target_transform"]) == ["y", "x"]  # the job's pair order
    for model, t, value in [("m1", "y", m1["sens"][0]), ("m1", "x", m1["sens"][1]),
                            ("m2", "x", pd.read_csv(out / "m2.csv")["sens"][0])]:  # fmt: skip
        net = nets[model].eval()
        fa = compute_features(net, members[f"{t}.a"], device="cpu")
        fb = compute_features(net, members[f"{t}.b"], device="cpu")
        assert value == pytest.approx(sens(fa, fb, n_pairs=500, seed=0), rel=1e-6)
    # training.bf16: true computes the features under bf16 autocast on the CPU too
    out16 = tmp_path / "sens" / "bf16"
    steps.sens_models(
        job, paths, [evalset], out16, sens=cfg, runtime={"device": "cpu", "bf16": True}
    )
    value16 = pd.read_csv(out16 / "m2.csv")["sens"][0]
    net = nets["m2"].eval()
    fa = compute_features(net, members["x.a"], device="cpu", bf16=True)
    fb = compute_features(net, members["x.b"], device="cpu", bf16=True)
    assert value16 == pytest.approx(sens(fa, fb, n_pairs=500, seed=0), rel=1e-6)
    assert value16 != pd.read_csv(out / "m2.csv")["sens"][0]
    with pytest.raises(ValueError, match="no checkpoint"):
        steps.sens_models(job, paths[:1], [evalset], tmp_path / "s2", sens=cfg)
    with pytest.raises(ValueError, match="evaluation sets"):
        steps.sens_models(job, paths, [], tmp_path / "s3", sens=cfg)


def test_grouped_sens_on_the_reference_layer(tmp_path, monkeypatch):
    """sens.layer = reference: a DenseNet's sens is computed on its 6144-d pre-pool output and
    differs from the penultimate value; an unknown layer fails before any work."""
    from invtransfer import steps
    from invtransfer.checkpoint import save_model
    from invtransfer.datasets import store
    from invtransfer.features import compute_features
    from invtransfer.models import build_model

    gen = torch.Generator().manual_seed(3)
    members = {n: torch.randint(0, 256, (24, 32, 32, 3), dtype=torch.uint8, generator=gen)
               for n in ("x.a", "x.b")}  # fmt: skip
    evalset = tmp_path / "ev"
    for name in members:
        (evalset / name).mkdir(parents=True)

    class _Split:
        def __init__(self, images):
            self.images = images

    monkeypatch.setattr(
        store, "load_split", lambda folder, split: _Split(members[Path(folder).name])
    )
    net = build_model("densenet_cifar", 3, seed=0)
    path = tmp_path / "models" / "dn" / "model.pt"
    save_model(path, net)
    pair = {"eval": "in_dist", "target_transform": "x", "evalset": "ev", "a": "x.a", "b": "x.b"}
    job = {"models": {"dn": [pair]}}
    values = {}
    for layer in ("penultimate", "reference"):
        out = tmp_path / "sens" / layer
        cfg = {"pairs": 200, "estimator": "global", "layer": layer}
        steps.sens_models(job, [path], [evalset], out, sens=cfg, runtime={"device": "cpu"})
        values[layer] = float(pd.read_csv(out / "dn.csv")["sens"][0])
        fa, fb = (compute_features(net.eval(), members[m], device="cpu", layer=layer)
                  for m in ("x.a", "x.b"))  # fmt: skip
        assert fa.shape == (24, 6144 if layer == "reference" else 384)
        assert values[layer] == pytest.approx(sens(fa, fb, n_pairs=200, seed=0), rel=1e-6)
    assert values["reference"] != pytest.approx(values["penultimate"], rel=1e-3)
    empty = compute_features(net, members["x.a"][:0], device="cpu", layer="reference")
    assert empty.shape == (0, 6144) and empty.dtype == np.float32
    with pytest.raises(ValueError, match="unknown representation layer 'pooled'"):
        steps.sens_models(job, [path], [evalset], tmp_path / "s-bad",
                          sens={"layer": "pooled"}, runtime={"device": "cpu"})  # fmt: skip
    assert not (tmp_path / "s-bad").exists()
    with pytest.raises(ValueError, match=r"unknown keys \['pair'\]"):
        steps.sens_models(job, [path], [evalset], tmp_path / "s-bad", sens={"pair": 10})
