"""Scorecard: the transcribed paper numbers, the claim rules, and the report on synthetic runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from invtransfer.aggregation import IFE_LABELS, TRANSFORM_ORDER
from invtransfer.scorecard import (
    ARTIFACTS,
    CLAIM_KINDS,
    Claim,
    build_scorecard,
    evaluate_claims,
    load_claims,
    load_paper_numbers,
    measured_numbers,
)


@pytest.fixture(scope="module")
def paper() -> pd.DataFrame:
    return load_paper_numbers()


@pytest.fixture(scope="module")
def claims() -> list[Claim]:
    return load_claims()


def _cell(df, artifact, row, column, statistic="value"):
    sel = df[
        (df.artifact == artifact)
        & (df.row == row)
        & (df.column == column)
        & (df.statistic == statistic)
    ]
    assert len(sel) == 1, (artifact, row, column, statistic)
    return float(sel["value"].iloc[0])


# -- paper numbers -----------------------------------------------------------------------------


def test_paper_number_counts(paper):
    counts = paper.groupby("artifact").size()
    assert counts["table1"] == 4 * 6 * 2
    for t in ("table2", "table3", "table4", "table5"):
        assert counts[t] == 6 * 5 * 2
        assert set(paper.loc[paper.artifact == t, "statistic"]) == {"mean", "std"}
    for fig in ("fig3", "fig12", "fig13"):
        for panel in "abc":
            assert counts[f"{fig}{panel}"] == 3 * 3
    assert counts["fig16"] == counts["fig17"] == 19 * 18
    approx = paper[paper.note.str.contains("APPROXIMATE")]
    assert set(approx.artifact) == {"fig2a", "fig2b", "fig2c", "fig4"}
    assert not paper.note.eq("").any()
    assert paper["value"].between(0, 1).all()


def test_paper_number_spot_values(paper):
    assert _cell(paper, "table1", "C/C", "acc:C+O/O", "mean") == 0.56
    assert _cell(paper, "table1", "O/O", "sens:objects", "std") == 0.04
    assert _cell(paper, "table2", "image:Same", "in_dist", "mean") == 0.14
    assert _cell(paper, "table2", "random:None", "cifar100", "std") == 0.19
    assert _cell(paper, "table4", "random:Same", "mild_ood", "mean") == 0.50
    assert _cell(paper, "table5", "image:Other", "strong_ood", "mean") == 0.64
    assert _cell(paper, "fig3a", "pt_samples", "gap") == 0.15
    assert _cell(paper, "fig13c", "class_rel", "same_span") == 0.26
    assert _cell(paper, "fig16", "scale", "scale") == 0.18
    assert _cell(paper, "fig16", "none", "contrast") == 0.45
    assert _cell(paper, "fig17", "contrast", "contrast") == 0.09
    assert _cell(paper, "fig17", "scale", "translate") == 0.88


@pytest.mark.parametrize(
    ("fig", "table", "model"), [("fig16", "table2", "image"), ("fig17", "table2", "random")]
)
def test_heatmap_transcription_is_consistent_with_table2(paper, fig, table, model):
    """Rows and columns in the right order: the heatmap's diagonal / off-diagonal / none row
    reproduce Table 2's Same / Other / None in-distribution means (the paper's Table 2 Same value
    for image models, 0.14, is a little above the heatmap's diagonal mean, 0.122)."""
    m = paper[paper.artifact == fig].pivot(index="row", columns="column", values="value")
    m = m.loc[[*TRANSFORM_ORDER, "none"], list(TRANSFORM_ORDER)].to_numpy()
    diag = np.diag(m[:18])
    other = (m[:18].sum(axis=0) - diag) / 17
    assert diag.mean() == pytest.approx(
        _cell(paper, table, f"{model}:Same", "in_dist", "mean"), abs=0.025
    )
    assert other.mean() == pytest.approx(
        _cell(paper, table, f"{model}:Other", "in_dist", "mean"), abs=0.01
    )
    assert m[18].mean() == pytest.approx(
        _cell(paper, table, f"{model}:None", "in_dist", "mean"), abs=0.01
    )


def test_fig3_bars_agree_with_fig2_read_offs(paper):
    """The Fig. 2 read-offs (approximate) give the Fig. 3a spans to within 0.01."""
    for factor, art in (("class_rel", "fig2a"), ("arch", "fig2b")):
        for rel in ("same", "disjoint"):
            vals = paper[(paper.artifact == art) & (paper.row == f"{rel}, transfer")]["value"]
            assert vals.max() - vals.min() == pytest.approx(
                _cell(paper, "fig3a", factor, f"{rel}_span"), abs=0.011
            )


# -- claims ------------------------------------------------------------------------------------


def test_claims_file(claims):
    assert len(claims) >= 8
    assert {c.kind for c in claims} == set(CLAIM_KINDS)
    assert all(a in ARTIFACTS for c in claims for a in c.artifacts)


def test_every_claim_evaluable_on_paper_numbers_holds(paper, claims):
    results = {r.claim.id: r for r in evaluate_claims(claims, paper)}
    assert not [cid for cid, r in results.items() if r.verdict == "fails"]
    must_hold = [
        "table1_co_c_invariant_to_objects", "table1_irrelevant_features_hurt_transfer",
        "table1_objects_only_task_is_easy", "it_same_more_invariant_than_other_and_none",
        "it_random_data_is_harder", "tvo_same_beats_disjoint", "tvo_worst_same_beats_best_disjoint_t2d",
        "tvo_invariance_effect_dominates_t2d", "tvo_finetuning_data_shrinks_gap_t2d",
        "it_heatmap_diagonal_below_row_mean", "it_heatmap_diagonal_below_none",
        "tm_superset_keeps_accuracy",
    ]  # fmt: skip
    assert all(results[c].verdict == "holds" for c in must_hold)
    assert results["it_same_more_invariant_than_other_and_none"].checks == 4 * 4 * 5
    assert results["ife_cifar_accuracy_independent_of_availability"].verdict == "not evaluable"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("- {id: a, artifacts: [table1], kind: bogus, statement: s, source: s}", "kind 'bogus'"),
        ("- {id: a, artifacts: [table9], kind: cell_less_than, statement: s, source: s, params: {comparisons: []}}", "artifacts"),
        ("- {id: a, artifacts: [fig4], kind: cells_at_least, statement: s, source: s, params: {cells: []}}", "threshold"),
        ("- {id: a, artifacts: [fig4], kind: nested_subset_below, statement: s, source: s}\n"
         "- {id: a, artifacts: [fig4], kind: nested_subset_below, statement: s, source: s}", "duplicate id"),
        ("- {id: a, kind: nested_subset_below, statement: s, source: s}", "lacks 'artifacts'"),
    ],
)  # fmt: skip
def test_load_claims_validation(tmp_path, text, match):
    path = tmp_path / "claims.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=match):
        load_claims(path)


def _numbers(rows):
    return pd.DataFrame(rows, columns=["artifact", "row", "column", "statistic", "value"])


def test_claim_holds_and_fails_with_evidence(claims):
    tm_claims = [
        c for c in claims if c.id in ("tm_superset_keeps_accuracy", "tm_missing_invariance_hurts")
    ]
    good = [("fig4", str(k), str(j), "value", 0.99 if j <= k else 0.99 - 0.1 * (j - k))
            for k in range(1, 9) for j in range(1, 9)]  # fmt: skip
    verdicts = evaluate_claims(tm_claims, _numbers(good))
    assert [v.verdict for v in verdicts] == ["holds", "holds"]
    assert verdicts[0].checks == 36 and verdicts[0].missing == 3  # fig18a-c absent
    bad = [(a, r, c, s, 0.5 if (r, c) == ("5", "3") else v) for a, r, c, s, v in good]
    verdicts = evaluate_claims(tm_claims, _numbers(bad))
    assert [v.verdict for v in verdicts] == ["fails", "fails"]
    assert "train 5 → target 3: 0.500" in verdicts[0].evidence
    assert "1 of 36 checks fail" in verdicts[0].evidence
    assert evaluate_claims(tm_claims, _numbers([]))[0].verdict == "not evaluable"


def test_cell_less_than_margin_and_wildcards():
    claim = Claim("c", ("fig9a",), "cell_less_than", "s", "s",
                  {"statistic": "value", "margin": -0.01,
                   "comparisons": [[["disjoint, transfer", "*"], ["same, transfer", "*"]]]})  # fmt: skip
    rows = [
        ("fig9a", "same, transfer", "subset", "value", 0.80),
        ("fig9a", "disjoint, transfer", "subset", "value", 0.805),  # within the slack
        ("fig9a", "disjoint, transfer", "same", "value", 0.9),
    ]  # no partner: ignored
    assert evaluate_claims([claim], _numbers(rows))[0].verdict == "holds"
    rows[1] = ("fig9a", "disjoint, transfer", "subset", "value", 0.82)
    assert evaluate_claims([claim], _numbers(rows))[0].verdict == "fails"


# -- the report --------------------------------------------------------------------------------


def _it_results(same=0.1):
    rows = []
    for seed in (0, 1):
        for mt in ("image", "random"):
            for train in [*TRANSFORM_ORDER, "none"]:
                for target in TRANSFORM_ORDER:
                    value = same if train == target else 0.5
                    rows.append(dict(arch="resnet18", seed=seed, model_type=mt, train_transform=train,
                                     eval="in_dist", target_transform=target, sens=value + 0.01 * seed))  # fmt: skip
    return pd.DataFrame(rows)


def _ife_results():
    acc, sens = [], []
    for seed in (0, 1):
        for pre in IFE_LABELS:
            for tgt in IFE_LABELS:
                acc.append(dict(seed=seed, variant="translate", experiment="table1", sweep_value=math.nan,
                                pretrain=pre, target=tgt, accuracy=0.9))  # fmt: skip
            for changed in ("cifar", "objects"):
                sens.append(
                    dict(seed=seed, variant="translate", pretrain=pre, changed=changed, sens=0.5)
                )
    return pd.DataFrame(acc), pd.DataFrame(sens)


def test_measured_numbers_follow_the_paper_format():
    ours = measured_numbers({"it": _it_results()})
    same = ours[
        (ours.artifact == "table2") & (ours.row == "image:Same") & (ours.column == "in_dist")
    ]
    assert same.set_index("statistic")["value"]["mean"] == pytest.approx(0.105)
    assert same["n"].tolist() == [36, 36]
    heat = ours[ours.artifact == "fig16"]
    assert len(heat) == 19 * 18 and set(heat["n"]) == {2}
    assert not (ours.artifact == "table3").any()


def test_build_scorecard_on_synthetic_results(tmp_path, paper):
    acc, sens = _ife_results()
    results = {"it": _it_results(), "ife": acc, "ife_sens": sens}
    out = tmp_path / "tables" / "scorecard.md"
    comp, verdicts = build_scorecard(
        results, out, reasons={"table3": "VGG-11 is not part of the quick preset"},
        arch_labels={"densenet": "densenet_cifar"},
    )  # fmt: skip
    text = out.read_text()
    assert len(comp) == len(paper)
    row = comp[(comp.artifact == "table2") & (comp.row == "image:Same") & (comp.column == "in_dist")
               & (comp.statistic == "mean")].iloc[0]  # fmt: skip
    assert row.ours == pytest.approx(0.105) and row["diff"] == pytest.approx(0.105 - 0.14)
    assert row.within_paper_std == "yes" and row.status == "compared"
    cifar = comp[(comp.artifact == "table2") & (comp.column == "cifar10")]
    assert (cifar.status == "not run").all()
    assert cifar.reason.str.contains("cifar10").all()
    assert (
        comp[comp.artifact == "table3"].reason == "VGG-11 is not part of the quick preset"
    ).all()
    assert comp[comp.artifact == "fig4"].reason.str.contains(r"results\['tm'\] not provided").all()
    assert "Not run (60 numbers): VGG-11 is not part of the quick preset" in text
    assert "densenet = densenet_cifar" in text
    by_id = {v.claim.id: v for v in verdicts}
    assert by_id["it_same_more_invariant_than_other_and_none"].verdict == "holds"
    # equal accuracies everywhere: the strict comparisons of Table 1 fail, honestly
    assert by_id["table1_irrelevant_features_hurt_transfer"].verdict == "fails"
    assert by_id["tm_superset_keeps_accuracy"].verdict == "not evaluable"
    assert "| `table1_objects_only_task_is_easy` |" in text and "**fails**" in text
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert len(csv) == len(paper)
    first = out.read_bytes()
    build_scorecard(results, out, reasons={"table3": "VGG-11 is not part of the quick preset"},
                    arch_labels={"densenet": "densenet_cifar"})  # fmt: skip
    assert out.read_bytes() == first


def test_scorecard_with_a_failing_it_claim(tmp_path):
    _, verdicts = build_scorecard({"it": _it_results(same=0.9)}, tmp_path / "s.md")
    by_id = {v.claim.id: v for v in verdicts}
    assert by_id["it_same_more_invariant_than_other_and_none"].verdict == "fails"
    assert by_id["it_heatmap_diagonal_below_none"].verdict == "fails"


def test_scorecard_without_results(tmp_path, paper):
    comp, verdicts = build_scorecard({}, tmp_path / "s.md")
    assert (comp.status == "not run").all() and len(comp) == len(paper)
    assert {v.verdict for v in verdicts} == {"not evaluable"}
    assert "0 of 1078 paper numbers compared" in (tmp_path / "s.md").read_text()
