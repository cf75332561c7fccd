"""Aggregation: collecting per-run files, statistics, and the paper's aggregates by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from invtransfer.aggregation import (
    TRANSFORM_ORDER,
    bootstrap_ci,
    canonical_arch,
    collect,
    it_heatmap,
    it_relation_values,
    it_summary,
    mean_std,
    read_results,
    table1_summary,
    tm_matrix,
    tvo_curves,
    tvo_diff,
    validate_frame,
)


def _write_json(path, obj):
    path.write_text(json.dumps(obj))
    return path


# -- collect -----------------------------------------------------------------------------------


def test_collect_json_dotted_keys_and_metadata(tmp_path):
    a = _write_json(
        tmp_path / "a.json", {"test": {"accuracy": 0.9}, "history": [{"l": 2}, {"l": 1}]}
    )
    b = _write_json(tmp_path / "b.json", {"test": {"accuracy": 0.8}, "history": [{"l": 3}]})
    df = collect(
        [{"seed": 0, "arch": "resnet18", "path": a}, {"seed": 1, "arch": "vit", "path": str(b)}],
        {"acc": "test.accuracy", "last_loss": "history.-1.l"},
    )
    assert list(df.columns) == ["seed", "arch", "acc", "last_loss"]
    assert df.to_dict("list") == {
        "seed": [0, 1],
        "arch": ["resnet18", "vit"],
        "acc": [0.9, 0.8],
        "last_loss": [1, 3],
    }


def test_collect_csv_rows_and_several_files(tmp_path):
    pd.DataFrame({"eval": ["in_dist", "mild_ood"], "sens": [0.1, 0.2]}).to_csv(
        tmp_path / "s.csv", index=False
    )
    m = _write_json(tmp_path / "m.json", {"test": {"accuracy": 0.5}})
    plain = collect([{"seed": 3, "path_csv": tmp_path / "s.csv"}], {"eval": "eval", "sens": "sens"})
    assert plain.to_dict("list") == {
        "seed": [3, 3],
        "eval": ["in_dist", "mild_ood"],
        "sens": [0.1, 0.2],
    }
    both = collect(
        [{"seed": 3, "sens_path": tmp_path / "s.csv", "training_path": m}],
        {"sens": "sens_path:sens", "train_acc": "training_path:test.accuracy"},
    )
    assert both.to_dict("list") == {"seed": [3, 3], "sens": [0.1, 0.2], "train_acc": [0.5, 0.5]}


def test_collect_errors_name_file_and_record(tmp_path):
    ok = _write_json(tmp_path / "ok.json", {"test": {"accuracy": 1.0}})
    with pytest.raises(FileNotFoundError, match=r"missing\.json.*'seed': 4"):
        collect([{"seed": 4, "path": tmp_path / "missing.json"}], {"acc": "test.accuracy"})
    with pytest.raises(
        KeyError, match=r"ok\.json.*'test.acc'.*available: \['accuracy'\].*'seed': 5"
    ):
        collect([{"seed": 5, "path": ok}], {"acc": "test.acc"})
    with pytest.raises(ValueError, match="no result file"):
        collect([{"seed": 1}], {"acc": "test.accuracy"})
    with pytest.raises(ValueError, match="collide"):
        collect([{"acc": 1, "path": ok}], {"acc": "test.accuracy"})
    with pytest.raises(ValueError, match="several"):
        collect([{"a_path": ok, "b_path": ok}], {"acc": "test.accuracy"})
    with pytest.raises(KeyError, match="c_path"):
        collect([{"a_path": ok}], {"acc": "c_path:test.accuracy"})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json.*not valid JSON"):
        collect([{"path": tmp_path / "bad.json"}], {"acc": "x"})


# -- statistics --------------------------------------------------------------------------------


def test_mean_std_matches_numpy():
    df = pd.DataFrame({"g": ["a", "a", "a", "b"], "v": [1.0, 2.0, 4.0, 5.0]})
    out = mean_std(df, "g", "v")
    assert out["g"].tolist() == ["a", "b"]
    assert out["mean"].tolist() == pytest.approx([7 / 3, 5.0])
    assert out["std"].iloc[0] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert math.isnan(out["std"].iloc[1])  # one run: undefined, not 0
    assert out["n"].tolist() == [3, 1]


def test_bootstrap_ci_matches_seaborn():
    from seaborn._statistics import EstimateAggregator

    values = np.array([0.81, 0.84, 0.79, 0.9, 0.86])
    agg = EstimateAggregator("mean", ("ci", 95), n_boot=1000, seed=0)
    ref = agg(pd.DataFrame({"y": values}), "y")
    assert bootstrap_ci(values, seed=0) == pytest.approx((ref["ymin"], ref["ymax"]))
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high
    assert all(math.isnan(v) for v in bootstrap_ci([0.5]))


def test_canonical_arch():
    assert canonical_arch("densenet_cifar") == canonical_arch("DenseNet-121") == "densenet"
    assert canonical_arch("resnet-18") == "resnet18"
    assert canonical_arch("mystery") == "mystery"


def test_transform_order_matches_registry():
    from invtransfer.transforms import TRANSFORMS

    assert tuple(TRANSFORMS) == TRANSFORM_ORDER


def test_validate_frame_and_read_results(tmp_path):
    with pytest.raises(ValueError, match=r"lacks columns \['accuracy'\]"):
        validate_frame(
            pd.DataFrame(columns=["arch", "seed", "n_train_transforms", "n_target_transforms"]),
            "tm",
        )
    with pytest.raises(ValueError, match="unknown results table"):
        validate_frame(pd.DataFrame(), "nope")
    with pytest.raises(FileNotFoundError, match=r"tvo\.csv"):
        read_results(tmp_path / "tvo.csv", "tvo")


# -- TvO ---------------------------------------------------------------------------------------


def _tvo_frame() -> pd.DataFrame:
    rows = []
    # transfer accuracies per (value, relation): two seeds each
    acc = {
        ("subset", "same"): (0.90, 0.92), ("same", "same"): (0.98, 1.00),
        ("subset", "disjoint"): (0.70, 0.72), ("same", "disjoint"): (0.80, 0.86),
    }  # fmt: skip
    for (value, rel), accs in acc.items():
        for seed, a in enumerate(accs):
            rows.append(dict(family="t2d", regime="lp", factor="class_rel", value=value,
                             value_order={"subset": 0, "same": 2}[value], relation=rel, seed=seed,
                             training_acc=0.99, transfer_acc=a, transfer_acc_macro=a))  # fmt: skip
    return pd.DataFrame(rows)


def test_tvo_curves_and_diff_by_hand():
    df = _tvo_frame()
    curves = tvo_curves(df, "t2d", "lp")
    same_subset = curves[
        (curves.value == "subset") & (curves.relation == "same") & (curves.metric == "transfer")
    ]
    assert same_subset["mean"].item() == pytest.approx(0.91)
    diff = tvo_diff(df, "t2d", "lp")
    row = diff.iloc[0]
    assert row["factor"] == "class_rel"
    assert row["same_span"] == pytest.approx(0.99 - 0.91)
    assert row["disjoint_span"] == pytest.approx(0.83 - 0.71)
    assert row["gap"] == pytest.approx(abs((0.91 + 0.99) / 2 - (0.71 + 0.83) / 2))
    assert tvo_diff(df, "cifar10", "lp").empty


def test_tvo_value_column_is_text():
    df = _tvo_frame().assign(factor="pt_samples", value=1000)
    assert set(validate_frame(df, "tvo")["value"]) == {"1000"}


# -- IT ----------------------------------------------------------------------------------------


def _it_frame(transforms=("rotate", "hue", "blur"), seeds=(0, 1)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for train in [*transforms, "none"]:
            for target in transforms:
                value = 0.1 + seed / 100 if train == target else (0.5 if train == "none" else 0.4)
                value += 0.01 * transforms.index(target)
                rows.append(dict(arch="resnet18", seed=seed, model_type="image", train_transform=train,
                                 eval="in_dist", target_transform=target, sens=value))  # fmt: skip
    return pd.DataFrame(rows)


def test_it_relations_by_hand():
    vals = it_relation_values(_it_frame(), "resnet18")
    same = vals[(vals.relation == "Same") & (vals.seed == 1) & (vals.target_transform == "hue")]
    assert same["sens"].item() == pytest.approx(0.1 + 0.01 + 0.01)
    other = vals[(vals.relation == "Other") & (vals.seed == 0) & (vals.target_transform == "blur")]
    assert other["sens"].item() == pytest.approx(0.4 + 0.02)  # mean over rotate, hue models
    summary = it_summary(_it_frame(), "resnet18")
    assert summary[["relation"]].drop_duplicates()["relation"].tolist() == ["Same", "Other", "None"]
    none = summary[summary.relation == "None"]
    assert none["mean"].item() == pytest.approx(0.51)
    assert none["n"].item() == 6  # 2 seeds × 3 targets
    assert none["std"].item() == pytest.approx(np.std([0.5, 0.51, 0.52] * 2, ddof=1))


def test_it_duplicates_are_an_error():
    df = _it_frame()
    with pytest.raises(ValueError, match="duplicate rows"):
        it_summary(pd.concat([df, df.iloc[:1]]), "resnet18")


def test_it_heatmap_layout():
    m = it_heatmap(_it_frame(), "image", "resnet18")
    assert m.shape == (19, 18)
    assert list(m.index) == [*TRANSFORM_ORDER, "none"] and list(m.columns) == list(TRANSFORM_ORDER)
    assert m.loc["hue", "hue"] == pytest.approx(0.1 + 0.005 + 0.01)
    assert np.isnan(m.loc["scale", "scale"])
    bad = _it_frame().replace({"train_transform": {"rotate": "spin"}})
    with pytest.raises(ValueError, match="spin"):
        it_heatmap(bad, "image", "resnet18")


# -- TM / IFE ----------------------------------------------------------------------------------


def test_tm_matrix_filters_by_canonical_arch():
    df = pd.DataFrame(
        [dict(arch=a, seed=s, n_train_transforms=1, n_target_transforms=2, accuracy=acc)
         for a, s, acc in [("densenet_cifar", 0, 0.5), ("densenet_cifar", 1, 0.7), ("vit", 0, 0.1)]]
    )  # fmt: skip
    out = tm_matrix(df, "densenet")
    assert out["mean"].item() == pytest.approx(0.6) and out["n"].item() == 2


def test_table1_summary_and_label_check():
    acc = pd.DataFrame([dict(seed=s, variant="fixed", experiment="table1", sweep_value=np.nan,
                             pretrain="C/C", target="O/O", accuracy=a) for s, a in [(0, 1.0), (1, 0.9)]])  # fmt: skip
    sens_df = pd.DataFrame(
        [dict(seed=0, variant="fixed", pretrain="C/C", changed="objects", sens=0.2)]
    )
    out = table1_summary(acc, sens_df, "fixed")
    assert set(out["column"]) == {"acc:O/O", "sens:objects"}
    assert out.loc[out.column == "acc:O/O", "mean"].item() == pytest.approx(0.95)
    with pytest.raises(ValueError, match="C\\+O/X"):
        table1_summary(acc.assign(target="C+O/X"), sens_df, "fixed")
    with pytest.raises(ValueError, match="changed"):
        table1_summary(acc, sens_df.assign(changed="both"), "fixed")
