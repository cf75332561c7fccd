"""Recovery advice that recovers: the workflow test follows an integrity error's advice literally.

In a clone of the shared tiny run, one bit of a pretrained ``model.pt`` and one bit of a target
dataset's shard are flipped. Rerunning the target fails naming the file and one command; the
test runs exactly that command (parsed from the message), then the target again, until the run
succeeds, and checks that everything the run produced equals the clean run's.
"""

from __future__ import annotations

import json
import re
import shlex
import struct
import time
import zipfile
from pathlib import Path

import pytest
import torch
from support.workflow import SNAKEMAKE, TINY, TINY_TARGETS, clone_run, run

from invtransfer.config import load_config
from invtransfer.experiments import build_plan
from invtransfer.jobgraph import table_inputs

pytestmark = pytest.mark.workflow

ADVICE = re.compile(r"rebuild it with: (snakemake (?:\S+ )*?--force [^\s,]+)")


def flip_tensor_bit(path: Path) -> None:
    """Flip one bit in the middle of the largest tensor stored in a torch zip file: the file
    still loads with ``torch.load`` (the fault that used to go unnoticed), one weight differs."""
    with zipfile.ZipFile(path) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.file_size // 2] ^= 0x04
    path.write_bytes(bytes(raw))


def flip_last_bit(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))


def advice_in(output: str) -> str:
    """The one command an integrity error in ``output`` advises (exactly one distinct)."""
    commands = set(ADVICE.findall(output))
    assert len(commands) == 1, f"expected one rebuild command, got {commands}:\n{output[-6000:]}"
    return commands.pop()


def run_command(command: str, wf: Path):
    """Run a ``snakemake ...`` command line as given (with this interpreter's Snakemake)."""
    argv = shlex.split(command)
    assert argv[0] == "snakemake"
    return run([*SNAKEMAKE, *argv[1:]], cwd=wf, timeout=1200)


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if not str(k).endswith("_s")}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def outputs(wf: Path) -> dict[str, object]:
    """Every file the run produced (results, figures, tables), JSON without durations and
    rates (keys ending in ``_s``), build.json (how a dataset build ran) left out."""
    found: dict[str, object] = {}
    for sub in ("results", "figures", "tables"):
        for p in sorted((wf / sub).rglob("*")):
            if not p.is_file() or p.name in ("build.json", ".snakemake_timestamp"):
                continue
            rel = str(p.relative_to(wf))
            if p.suffix == ".json":
                found[rel] = _without_timings(json.loads(p.read_text()))
            else:
                found[rel] = p.read_bytes()
    return found


def _tables_behind(wf: Path, model: str, dataset: str) -> list[str]:
    """The tidy tables (file names) drawn from ``model`` or from a model probed on ``dataset``
    (the plan's records: a table reads models' metrics and probe folders)."""
    plan = build_plan(load_config(wf / "config.yaml", preset="tiny"))
    affected = {model} | {m for m, job in plan.features.items() if dataset in job.datasets}
    bases = {f"results/{kind}/{m}" for kind in ("models", "probes") for m in affected}
    return sorted(
        f"{table}.csv"
        for table in plan.records
        if any(p in bases or p.rsplit("/", 1)[0] in bases for p in table_inputs(plan, table))
    )


def test_integrity_errors_give_one_command_that_rebuilds_the_file(tiny_run, tmp_path):
    wf = clone_run(tiny_run, tmp_path / "wf")
    clean = outputs(tiny_run)
    # a model probed on another dataset than it was pretrained on (TM or TvO), and that dataset
    model, target_ds = next(
        (m.name, d.name)
        for m in sorted((wf / "results/features").iterdir())
        for d in sorted(m.iterdir())
        if d.is_dir() and d.name != json.loads((wf / "results/models" / m.name /
                                                "metrics.json").read_text())["dataset"]["name"]
    )  # fmt: skip
    model_pt = wf / "results/models" / model / "model.pt"
    flip_tensor_bit(model_pt)
    torch.load(model_pt, weights_only=True)  # torch alone would use it
    shard = wf / "results/datasets" / target_ds / "images-00000.npy"
    flip_last_bit(shard)
    corrupted_at = time.time()  # the clone keeps the clean run's timestamps: older than this

    # 1. the corrupt model: the features job that reads it fails, naming it and one command
    first = run([*SNAKEMAKE, *TINY, *TINY_TARGETS], cwd=wf, check=False)
    assert first.returncode != 0
    out = first.stdout + first.stderr
    assert f"results/models/{model}/model.pt is corrupt" in out
    command = advice_in(out)
    assert command == f"snakemake --profile profiles/tiny --force results/models/{model}/model.pt"
    run_command(command, wf)

    # 2. the target again: now the corrupt shard of the target dataset is found
    second = run([*SNAKEMAKE, *TINY, *TINY_TARGETS], cwd=wf, check=False)
    assert second.returncode != 0
    out = second.stdout + second.stderr
    assert (
        f"results/datasets/{target_ds}/images-00000.npy: SHA-256 differs from the manifest" in out
    )
    command = advice_in(out)
    assert command == f"snakemake --profile profiles/tiny --force results/datasets/{target_ds}"
    run_command(command, wf)

    # 3. the target once more: it succeeds, and everything equals the clean run's
    run([*SNAKEMAKE, *TINY, *TINY_TARGETS], cwd=wf, timeout=1500)
    proc = run([*SNAKEMAKE, *TINY, "-n", *TINY_TARGETS], cwd=wf)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    recovered = outputs(wf)
    assert recovered.keys() == clean.keys()
    differ = sorted(k for k in clean if clean[k] != recovered[k])
    assert differ == []
    # and the comparison covered rebuilt files: the model, the dataset, the features and probes
    # of the model, and a table drawn from them
    rebuilt = [
        model_pt,
        shard,
        wf / "results/features" / model / target_ds / "train.npy",
        wf / "results/probes" / model / target_ds / "head.pt",
    ]
    assert all(p.stat().st_mtime > corrupted_at for p in rebuilt)
    tables = [p.name for p in (wf / "results/tables").iterdir() if p.stat().st_mtime > corrupted_at]
    assert sorted(tables) == _tables_behind(wf, model, target_ds)
