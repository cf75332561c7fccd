"""The Snakemake workflow: lint, formatting, dry runs, and a tiny end-to-end run with incremental rebuilds."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow files, so runs never write into the repository."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("workflow", "profiles", "envs"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name)
    return dest


def test_snakemake_lint_is_clean():
    proc = run([*SNAKEMAKE, "--lint"], cwd=ROOT)
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_formatting():
    run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"], cwd=ROOT)


def test_ruff_clean():
    run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT)
    run([sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT)


def _dry_run_jobs(stdout: str) -> dict[str, int]:
    """Parse Snakemake's job-count table from a dry run."""
    counts: dict[str, int] = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def test_quick_preset_dry_run(tmp_path):
    wf = copy_workflow(tmp_path)
    proc = run([*SNAKEMAKE, "--profile", "profiles/quick", "-n"], cwd=wf)
    jobs = _dry_run_jobs(proc.stdout)
    assert jobs["pretrain"] > 0 and jobs["probe"] > 0 and jobs["sens"] > 0
    assert jobs["figure"] >= 5 and jobs["table"] >= 1 and jobs["scorecard"] == 1


@pytest.mark.slow
def test_tiny_end_to_end_and_incremental(tmp_path):
    wf = copy_workflow(tmp_path)
    targets = ["figures/fig2.pdf", "figures/fig4.pdf", "tables/table2.md", "tables/scorecard.md"]
    run([*SNAKEMAKE, "--profile", "profiles/tiny", *targets], cwd=wf, timeout=1500)

    for target in targets:
        assert (wf / target).stat().st_size > 0, target
    assert (wf / "figures/fig2.png").stat().st_size > 0
    tvo = pd.read_csv(wf / "results/tables/tvo_t2d_lp.csv")
    assert set(tvo["relation"]) == {"same", "disjoint"}
    assert set(tvo["factor"]) == {"class_rel", "arch", "pt_samples"}
    assert tvo["transfer_acc"].between(0, 1).all() and tvo["training_acc"].between(0, 1).all()
    table2 = (wf / "tables/table2.md").read_text()
    for row in ("Same", "Other", "None"):
        assert row in table2
    assert "In-Distribution" in table2 and "CIFAR-10" in table2
    assert "—" in table2  # CIFAR columns are absent in the tiny preset, and say so
    it = pd.read_csv(wf / "results/tables/it_cnn4.csv")
    assert set(it["eval"]) == {"in_dist", "mild_ood", "strong_ood"}
    assert it["sens"].between(0, 2).all()
    scorecard = (wf / "tables/scorecard.md").read_text()
    assert "Table 2" in scorecard and ("holds" in scorecard or "fails" in scorecard)

    # A second run of a finished target schedules nothing.
    proc = run([*SNAKEMAKE, "--profile", "profiles/tiny", "-n", *targets], cwd=wf)
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # Changing one factor value reruns only its dependents: the pt_samples=200 models are replaced.
    overrides = wf / "profiles/tiny/overrides.yaml"
    cfg = yaml.safe_load(overrides.read_text())
    cfg["experiments"]["tvo"]["pt_samples"]["t2d"] = [300, 400]
    overrides.write_text(yaml.safe_dump(cfg))
    proc = run([*SNAKEMAKE, "--profile", "profiles/tiny", "-n", *targets], cwd=wf)
    jobs = _dry_run_jobs(proc.stdout)
    seeds = 2
    assert jobs["pretrain"] == 2 * seeds  # (same, disjoint) x seeds for the new value only
    assert jobs["materialize"] == 2 * seeds
    assert jobs["probe"] == 2 * seeds
    assert "sens" not in jobs and "evalset" not in jobs  # invariance transfer is untouched
