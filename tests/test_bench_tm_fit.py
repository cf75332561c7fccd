"""bench/bench_tm_fit.py: measures own-task accuracy against time per recipe on a real dataset
folder, and rejects a malformed recipe before any training."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from invtransfer.datasets import materialize
from invtransfer.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_tm_fit  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def registry_restored():
    """The script registers its candidate ``cnn4_var`` in the package's model registry; the
    registry of the rest of the session must not see it."""
    saved = dict(MODELS)
    yield
    MODELS.clear()
    MODELS.update(saved)


@pytest.fixture(scope="module")
def tm_dir(tmp_path_factory, photo_dir):
    spec = {
        "kind": "t2d",
        "objects": {"source": "bundle", "count": 3},
        "backgrounds": {"source": "folder", "_path": str(photo_dir), "bank_size": 8},
        "transforms": ["rotate", "erasing"],
        "splits": {"train": 64, "val": 24, "test": 24},
        "seed": 3,
    }
    out = tmp_path_factory.mktemp("tm") / "ds"
    materialize(spec, out, chunk_size=32, progress=False)
    return out


def test_every_recipe_is_trained_and_reported(tm_dir, tmp_path, capsys):
    out = tmp_path / "runs.json"
    rows = bench_tm_fit.main([
        str(tm_dir),
        "--run", "cnn4:width=4:epochs=2:batch=16",
        "--run", "cnn4_var:width=4:first_pool=false:extra=1:epochs=1:rendering=per-epoch",
        "--run", "cnn4:width=4:epochs=2:batch=16",
        "--json", str(out),
    ])  # fmt: skip
    assert [r["arch"] for r in rows] == ["cnn4", "cnn4_var", "cnn4"]
    # the splits are loaded once for every run: a run leaves nothing behind for the next
    same = [{k: v for k, v in r.items() if k != "wall_s"} for r in (rows[0], rows[2])]
    assert same[0] == same[1]
    assert rows[0]["arch_kwargs"] == {"width": 4} and rows[0]["batch"] == 16
    assert rows[1]["arch_kwargs"] == {"width": 4, "first_pool": False, "extra": 1}
    assert rows[1]["rendering"] == "per-epoch" and rows[1]["batch"] == 64  # the default
    assert [len(r["train_accuracy"]) for r in rows] == [2, 1, 2]
    for r in rows:
        assert math.isfinite(r["wall_s"]) and r["wall_s"] > 0
        assert 0.0 <= r["test_accuracy"] <= 1.0
    assert json.loads(out.read_text()) == rows
    table = capsys.readouterr().out.split("| arch |", 1)[1]
    assert table.count("| cnn4") == 3 and "per-epoch" in table
    assert "cnn4_var" in MODELS  # restored after the test by ``registry_restored``


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("nonet:epochs=2", "unknown architecture 'nonet'"),
        ("cnn4:epochs=two", "epochs must be int"),
        ("cnn4:depth=3", "unknown key 'depth'"),
        ("cnn4:width", "is not key=value"),
        ("cnn4:rendering=sometimes", "rendering must be fixed or per-epoch"),
    ],
)
def test_a_malformed_recipe_stops_before_training(tm_dir, monkeypatch, run, message):
    monkeypatch.setattr(bench_tm_fit, "fit_run", lambda *a, **k: pytest.fail("trained"))
    ok = "cnn4:epochs=1"
    with pytest.raises(SystemExit, match=message):
        bench_tm_fit.main([str(tm_dir), "--run", ok, "--run", run])


def test_a_folder_that_is_no_dataset_is_named(tmp_path):
    with pytest.raises(SystemExit, match="not a materialized dataset folder"):
        bench_tm_fit.main([str(tmp_path), "--run", "cnn4"])
