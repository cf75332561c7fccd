"""Tables 1–5 and the figures on small synthetic tidy frames: structure, bold, absent data, files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from invtransfer import plots
from invtransfer.aggregation import IFE_LABELS, TRANSFORM_ORDER
from invtransfer.tables import table1, table_it, to_latex, to_markdown, write_table

DPI = 30  # keeps the PNGs small and the tests fast
FAST = {"n_boot": 50}  # seaborn bootstraps in a Python loop; 1000 resamples per point is slow here


# -- synthetic tidy frames ---------------------------------------------------------------------


def it_frame(evals=("in_dist", "mild_ood", "strong_ood"), transforms=TRANSFORM_ORDER, seeds=(0, 1)):
    gen = np.random.default_rng(1)
    rows = []
    for seed in seeds:
        for model_type in ("image", "random"):
            for train in [*transforms, "none"]:
                for ev in evals:
                    for target in transforms:
                        base = 0.1 if train == target else 0.45
                        rows.append(dict(arch="resnet18", seed=seed, model_type=model_type,
                                         train_transform=train, eval=ev, target_transform=target,
                                         sens=base + 0.05 * gen.random()))  # fmt: skip
    return pd.DataFrame(rows)


def tvo_frame(families=("t2d",), seeds=(0, 1, 2)):
    gen = np.random.default_rng(0)
    values = {
        "class_rel": ["subset", "disjoint", "same", "superset"],
        "arch": ["resnet18", "densenet", "vit"],
        "pt_samples": ["1000", "10000"],
    }
    rows = []
    for family in families:
        for factor, vals in values.items():
            for order, value in enumerate(vals):
                for rel in ("same", "disjoint"):
                    for seed in seeds:
                        acc = (0.95 if rel == "same" else 0.8) + 0.01 * order + 0.01 * gen.random()
                        rows.append(dict(family=family, regime="lp", factor=factor, value=value,
                                         value_order=order, relation=rel, seed=seed,
                                         training_acc=0.98, transfer_acc=acc,
                                         transfer_acc_macro=acc))  # fmt: skip
    return pd.DataFrame(rows)


def tm_frame(archs=("resnet18",), seeds=(0, 1)):
    rows = [
        dict(arch=a, seed=s, n_train_transforms=k, n_target_transforms=j,
             accuracy=0.99 if j <= k else 0.99 - 0.08 * (j - k) + 0.001 * s)
        for a in archs for s in seeds for k in range(1, 9) for j in range(1, 9)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def ife_frames(seeds=(0, 1)):
    gen = np.random.default_rng(3)
    acc, sens = [], []
    for s in seeds:
        for pre in IFE_LABELS:
            for tgt in IFE_LABELS:
                acc.append(dict(seed=s, variant="fixed", experiment="table1", sweep_value=math.nan,
                                pretrain=pre, target=tgt, accuracy=0.5 + 0.4 * gen.random()))  # fmt: skip
            for changed in ("cifar", "objects"):
                sens.append(dict(seed=s, variant="fixed", pretrain=pre, changed=changed,
                                 sens=gen.random()))  # fmt: skip
        for a in (0.0, 0.5, 1.0):
            for tgt in ("C+O/C", "C+O/O"):
                acc.append(dict(seed=s, variant="fixed", experiment="relevance", sweep_value=a,
                                pretrain="C+O/C", target=tgt, accuracy=0.5 + 0.3 * a))  # fmt: skip
    return pd.DataFrame(acc), pd.DataFrame(sens)


# -- tables ------------------------------------------------------------------------------------


def test_table_it_structure_bold_and_absent_columns():
    df = it_frame()
    # make the "none" model the most invariant one for random models on mild OOD
    mask = (df.model_type == "random") & (df.train_transform == "none") & (df["eval"] == "mild_ood")
    df.loc[mask, "sens"] = 0.01
    t = table_it(df, "resnet18", reasons={"cifar10": "CIFAR-10 not in the quick preset"})
    assert t.row_labels == (
        ("Image", "Same"), ("Image", "Other"), ("Image", "None"),
        ("Random", "Same"), ("Random", "Other"), ("Random", "None"),
    )  # fmt: skip
    assert t.col_keys == ("in_dist", "mild_ood", "strong_ood", "cifar10", "cifar100")
    bold = [[c.bold for c in row] for row in t.cells]
    assert bold[0][:3] == [True] * 3 and bold[3][0] and bold[3][2]
    assert bold[5][1] and not bold[3][1]  # random: None is lowest on mild OOD
    assert sum(map(sum, bold)) == 6  # exactly one per column and model type, none in absent cols
    assert all(row[3].absent and row[4].absent for row in t.cells)
    md = to_markdown(t)
    assert "CIFAR-10 not in the quick preset" in md
    assert "no image-model results for CIFAR-100" in md  # default reason, never silently dropped
    assert md.count("—<sup>") == 12
    assert "**0.1" in md
    same = t.cells[0][0]
    assert same.n == 2 * 18 and 0.1 <= same.mean <= 0.15


def test_table1_layout():
    acc, sens = ife_frames()
    t = table1(acc, sens.drop(sens.index[sens.changed == "objects"]), "fixed")
    assert t.row_labels == (("C", "C"), ("C+O", "C"), ("C+O", "O"), ("O", "O"))
    assert t.col_header[0] == ("Accuracy",) * 4 + ("Sensitivity",) * 2
    assert t.col_header[1] == ("X=C", "X=C+O", "X=C+O", "X=O", "X=C+O", "X=C+O")
    assert t.col_header[2] == ("Y=C", "Y=C", "Y=O", "Y=O", "Y=C", "Y=O")
    assert all(not c.absent for row in t.cells for c in row[:5])
    assert all(row[5].absent for row in t.cells)
    expected = acc[(acc.pretrain == "C+O/O") & (acc.target == "C/C") & (acc.experiment == "table1")]
    assert t.cells[2][0].mean == pytest.approx(expected.accuracy.mean())
    assert t.cells[2][0].std == pytest.approx(expected.accuracy.std(ddof=1))
    tex = to_latex(t)
    assert r"\multicolumn{4}{c}{Accuracy}" in tex and r"\multicolumn{2}{c}{Sensitivity}" in tex
    assert "---" in tex and r"\textsuperscript{a}" in tex
    assert not any(c.bold for row in t.cells for c in row)  # the paper's Table 1 has no bold


def test_write_table_files_and_determinism(tmp_path):
    t = table_it(it_frame(evals=("in_dist",), transforms=TRANSFORM_ORDER[:3]), "resnet18")
    paths = write_table(t, tmp_path / "table2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table2.csv", "table2.md", "table2.tex"]
    first = {k: p.read_bytes() for k, p in paths.items()}
    write_table(t, tmp_path / "table2")
    assert {k: p.read_bytes() for k, p in paths.items()} == first
    csv = pd.read_csv(paths["csv"])
    assert len(csv) == 6 * 5
    assert set(csv.columns) >= {
        "Model type",
        "column",
        "mean",
        "std",
        "n",
        "bold",
        "display",
        "note",
    }
    absent = csv[csv.column == "cifar100"]
    assert absent["mean"].isna().all() and absent["note"].str.contains("no ").all()
    with pytest.raises(ValueError, match="suffix"):
        write_table(t, tmp_path / "table2.md")


# -- figures -----------------------------------------------------------------------------------


def _check_outputs(paths, min_px, max_px):
    assert set(paths) == {"pdf", "png"}
    pdf = paths["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    with Image.open(paths["png"]) as im:
        w, h = im.size
    assert min_px[0] <= w <= max_px[0] and min_px[1] <= h <= max_px[1], (w, h)
    leftovers = [p for p in paths["pdf"].parent.iterdir() if p.name.startswith(".tmp")]
    assert not leftovers


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_fig_tvo_factors(tmp_path):
    paths = plots.fig_tvo_factors(tvo_frame(), "t2d", "lp", tmp_path / "fig2", dpi=DPI,
                                  labels={"densenet": "DN (cifar)"}, **FAST)  # fmt: skip
    _check_outputs(paths, (250, 60), (500, 150))
    fig = plots.draw_tvo_factors(
        tvo_frame(), "t2d", "lp", labels={"densenet": "DN (cifar)"}, **FAST
    )
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert ticks == ["ResNet18", "DN (cifar)", "ViT"]
    (legend,) = fig.legends  # below the panels, never over an empty panel's note
    assert [t.get_text() for t in legend.get_texts()] == [
        "same, transfer", "same, training", "disjoint, transfer", "disjoint, training",
    ]  # fmt: skip
    partial = tvo_frame()
    partial = partial[partial.factor != "arch"]
    fig = plots.draw_tvo_factors(
        partial, "t2d", "lp", reasons={"arch": "one architecture only"}, **FAST
    )
    assert _texts(fig) == "not run: one architecture only"


def test_fig_tvo_diff_labels_and_not_run_panel(tmp_path):
    df = tvo_frame(families=("t2d", "cifar10"))
    fig = plots.draw_tvo_diff(df, "lp", reasons={"cifar100": "CIFAR-100 not downloaded"})
    assert [t.get_text() for t in fig.axes[2].texts] == ["not run: CIFAR-100 not downloaded"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "within disjoint", "within same", "same vs. disjoint",
    ]  # fmt: skip
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert len(labels) == 9 and all(len(x) == 4 for x in labels)  # three bars per factor, "0.xx"
    paths = plots.fig_tvo_diff(df, "lp", tmp_path / "fig3", dpi=DPI)
    _check_outputs(paths, (250, 60), (500, 160))
    first = {k: p.read_bytes() for k, p in paths.items()}
    plots.fig_tvo_diff(df, "lp", tmp_path / "fig3", dpi=DPI)
    assert {k: p.read_bytes() for k, p in paths.items()} == first  # byte-identical reruns


def test_fig_tm_panels(tmp_path):
    paths = plots.fig_tm(tm_frame(archs=("vgg11",)), ["vgg11", "densenet", "vit"], tmp_path / "fig18",
                         dpi=DPI, labels={"densenet": "DenseNet (densenet_cifar)"}, **FAST)  # fmt: skip
    _check_outputs(paths, (300, 70), (600, 170))
    fig = plots.draw_tm(tm_frame(archs=("vgg11",)), ["vgg11", "densenet"], **FAST)
    assert "not run" in _texts(fig) and len(fig.axes[0].get_lines()) >= 8
    _check_outputs(
        plots.fig_tm(tm_frame(), "resnet18", tmp_path / "fig4", dpi=DPI, **FAST),
        (100, 70),
        (300, 170),
    )


def test_fig_ife_sweeps(tmp_path):
    acc, _ = ife_frames()
    fig = plots.draw_ife_sweeps(acc, reasons={"availability": "sweep disabled"}, **FAST)
    texts = _texts(fig)
    assert texts.count("not run: sweep disabled") == 2
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("mixed CIFAR labels") and "CIFAR-only (C/C)" in legend
    dashed = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 3  # C/C, C+O/O, O/O reference models
    _check_outputs(
        plots.fig_ife_sweeps(acc, tmp_path / "fig14", dpi=DPI, **FAST), (300, 60), (600, 150)
    )


def test_fig_it_heatmap(tmp_path):
    df = it_frame(evals=("in_dist",), transforms=TRANSFORM_ORDER, seeds=(0,))
    df = df[~((df.train_transform == "blur") & (df.target_transform == "hue"))]
    fig = plots.draw_it_heatmap(df, "image")
    annotations = [t.get_text() for t in fig.axes[0].texts]
    assert len(annotations) == 19 * 18 - 1 and all(len(a) == 4 for a in annotations)
    assert "1 of 342 cells without data" in " ".join(t.get_text() for t in fig.texts)
    _check_outputs(
        plots.fig_it_heatmap(df, "image", tmp_path / "fig16", dpi=DPI), (250, 250), (450, 450)
    )
    empty = plots.draw_it_heatmap(df, "random", arch="vit", reason="ViT not run")
    assert _texts(empty) == "not run: ViT not run"
