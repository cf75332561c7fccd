"""Running the Snakemake workflow from tests and bench scripts: private copies, dry-run job
counts, one shared tiny run.

:func:`copy_workflow` is the one way tests and benchmarks copy the workflow (bench scripts
import it through ``bench/_common.py``, which puts ``tests/`` on ``sys.path``).

``tests/conftest.py`` exposes :func:`build_tiny_run` as the session fixture ``tiny_run``: the
tiny preset's standard targets (:data:`TINY_TARGETS`) built once per test session in a private
copy of the workflow. Treat that folder as read-only; a test that changes anything (a dry run
too: Snakemake writes its metadata) works on :func:`clone_run` of it (results, logs and
Snakemake's metadata copied with their timestamps, so Snakemake sees the clone as up to date).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = ["--profile", "profiles/tiny"]
#: what the tiny end-to-end run builds (every stage: datasets, evaluation sets, pretraining,
#: features, probes, sens, tables, figures, scorecard)
TINY_TARGETS = ["figures/fig2.pdf", "figures/fig4.pdf", "tables/table2.md", "tables/scorecard.md"]


def run(
    cmd: list[str], cwd: Path, timeout: int = 900, *, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd``; with ``check`` a failure raises with the end of its output."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


#: what :func:`copy_workflow` copies: everything Snakemake reads to plan and run the workflow
WORKFLOW_FILES = ("Snakefile", "config.yaml")
WORKFLOW_DIRS = ("workflow", "profiles", "envs")


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow (:data:`WORKFLOW_FILES` and :data:`WORKFLOW_DIRS`) in
    ``dest`` (created if needed), so that runs never write into the repository; returns
    ``dest``. The package itself is not copied: runs import the installed ``invtransfer``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        shutil.copy2(ROOT / name, dest / name)
    for name in WORKFLOW_DIRS:
        shutil.copytree(ROOT / name, dest / name)
    return dest


_JOB_COUNT = re.compile(r"^(\w+)\s+(\d+)$")


def dry_run_counts(stdout: str) -> dict[str, int]:
    """Jobs per rule from the job-count table Snakemake prints (``snakemake -n``), the
    ``total`` line left out."""
    counts: dict[str, int] = {}
    for line in stdout.splitlines():
        m = _JOB_COUNT.match(line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def build_tiny_run(dest: Path) -> Path:
    """Build :data:`TINY_TARGETS` with the tiny preset in a fresh copy of the workflow."""
    wf = copy_workflow(dest)
    run([*SNAKEMAKE, *TINY, *TINY_TARGETS], cwd=wf, timeout=1800)
    return wf


def clone_run(src: Path, dest: Path) -> Path:
    """A copy of a workflow folder and everything it built, timestamps kept (``copy2``), that
    Snakemake treats as up to date; symlinks are copied as links."""
    shutil.copytree(src, dest, symlinks=True)
    return dest
