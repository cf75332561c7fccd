"""bench/it_sens_terms.py: splits a finished run's invariance-transfer sens values into the two
expectations of Eq. 1, reproduces every recorded value from them, and refuses options that are
not the run's."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import it_sens_terms  # noqa: E402

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("one_torch_thread")]


def test_terms_reproduce_every_recorded_same_and_none_value(tiny_run, tmp_path, capsys):
    out = tmp_path / "terms.csv"
    table = it_sens_terms.main([str(tiny_run), "--profile", "profiles/tiny", "--csv", str(out)])
    # the tidy table's rows of the models trained on the target transformation or on none
    it = pd.read_csv(tiny_run / "results/tables/it_cnn4.csv")
    it = it[it["eval"].isin(["in_dist", "mild_ood"])]
    it = it[(it["train_transform"] == it["target_transform"]) | (it["train_transform"] == "none")]
    key = ["seed", "model_type", "eval", "target_transform"]
    same = table[table["kind"] == "same"].set_index(key).sort_index()
    expected = it[it["train_transform"] != "none"].set_index(key).sort_index()
    assert len(table) == len(it) > 0
    assert same.index.equals(expected.index)
    # numerator / denominator is the sens the run recorded, exactly (same features and pairs)
    assert (same["sens"] == expected["sens"]).all()
    assert (table["numerator"] > 0).all() and (table["denominator"] > 0).all()
    assert pd.read_csv(out).shape == table.shape
    printed = capsys.readouterr().out
    assert f"{len(table)} values; each ratio equals the run's recorded sens" in printed
    rows = [line for line in printed.splitlines() if line.startswith(("| image", "| random"))]
    assert [r.split(" | ")[:2] for r in rows] == [
        ["| image", "none"], ["| image", "same"], ["| random", "none"], ["| random", "same"],
    ]  # fmt: skip


def test_options_that_are_not_the_runs_are_refused(tiny_run, tmp_path):
    overlay = tmp_path / "other.yaml"
    overlay.write_text("sens: {pairs: 11}\n")  # the run measured with the preset's pairs
    with pytest.raises(SystemExit, match="differs from the run's"):
        it_sens_terms.main(
            [str(tiny_run), "--profile", "profiles/tiny", "--configfile", str(overlay)]
        )
    other_data = tmp_path / "other_data.yaml"
    other_data.write_text("seed_offset: 5\n")  # other seeds: models the run never trained
    with pytest.raises(SystemExit, match="names a file the run does not have"):
        it_sens_terms.main(
            [str(tiny_run), "--profile", "profiles/tiny", "--configfile", str(other_data)]
        )
    with pytest.raises(SystemExit, match="plans no invariance-transfer models"):
        it_sens_terms.main([str(tiny_run), "--profile", "profiles/tiny", "--arch", "vgg11_w"])
