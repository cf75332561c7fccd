"""The SLURM profile against a real single-node SLURM cluster on localhost.

`profiles/slurm` plus the CI overlay `tests/slurm/ci-profile` (`squeue` status polling, short
poll delay, kept logs), with `SBATCH_PARTITION=debug` in the environment, drive the toy workflow
in `tests/slurm/toy/` through `sbatch`/`srun`. One SLURM run injects two failures:

- flaky job `once` fails on its first attempt only -> resubmitted, succeeds;
- flaky job `never` fails on every attempt -> reported, Snakemake exits non-zero.

Everything else must complete with the same bytes as a local run of the same workflow. The run
is shared by the tests of this module (module-scoped fixture); each test checks one property.
Runtime: ~1-2 minutes on a 2-core machine, mostly the plugin's status-poll interval.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TOY = HERE / "toy" / "Snakefile"
SLURM_PROFILE = ROOT / "profiles" / "slurm"
CI_PROFILE = HERE / "ci-profile"
#: Hard wall-clock limit of one SLURM workflow run; `timeout -s KILL` because a plugin that
#: cannot see its jobs finish ignores SIGTERM (trap 1).
RUN_LIMIT_S = 300

pytestmark = pytest.mark.slurm


@dataclass
class Run:
    workdir: Path
    returncode: int
    output: str  # stdout + stderr

    def files(self, sub: str = "results") -> dict[str, bytes]:
        base = self.workdir / sub
        return {
            str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
        }


def snakemake(
    workdir: Path, args: list[str], *, env: dict[str, str] | None = None, limit_s: int = 120
) -> Run:
    """Run Snakemake in `workdir` under `timeout -s KILL`, capturing everything it prints."""
    cmd = ["timeout", "-s", "KILL", str(limit_s), sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if proc.returncode in (124, 137, -9):
        raise AssertionError(
            f"snakemake was killed after {limit_s} s (hung?): {' '.join(cmd)}\n{proc.stdout[-6000:]}"
        )
    return Run(workdir, proc.returncode, proc.stdout)


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def toy_runs(slurm_cluster, tmp_path_factory) -> tuple[Run, Run]:
    """(local reference run, SLURM run with injected failures) of the toy workflow."""
    local_dir = tmp_path_factory.mktemp("toy-local")
    config = {"shards": 3, "flaky": ["once", "never"]}
    local = snakemake(
        local_dir,
        [
            "-s",
            str(TOY),
            "--cores",
            "2",
            "--configfile",
            str(write_config(local_dir / "c.yaml", config)),
        ],
    )
    assert local.returncode == 0, f"local reference run failed:\n{local.output[-6000:]}"

    slurm_dir = tmp_path_factory.mktemp("toy-slurm")
    inject = {
        **config,
        "fail_once": ["once"],
        "fail_always": ["never"],
        "marker_dir": str(slurm_dir / "flags"),
    }
    cfg = write_config(slurm_dir / "c.yaml", inject)
    args = ["-s", str(TOY), "--configfile", str(cfg), "--workflow-profile", "none"]
    args += ["--profile", str(SLURM_PROFILE), "--profile", str(CI_PROFILE)]
    # the partition reaches sbatch through profiles/slurm's default-resources expression
    env = {**slurm_cluster.env(), "SBATCH_PARTITION": slurm_cluster.partition}
    slurm = snakemake(slurm_dir, args, env=env, limit_s=RUN_LIMIT_S)
    if "SLURM-job" not in slurm.output and "submitted with SLURM jobid" not in slurm.output:
        raise AssertionError(
            f"the run never reached SLURM:\n{slurm.output[-6000:]}\n{slurm_cluster.daemon_logs()}"
        )
    return local, slurm


def slurm_logs(run: Run, sub: str) -> list[Path]:
    return sorted((run.workdir / ".snakemake" / "slurm_logs" / sub).rglob("*.log"))


def test_independent_outputs_match_local_run_byte_for_byte(toy_runs):
    local, slurm = toy_runs
    expected = local.files()
    got = slurm.files()
    # the permanently failing job is the only output allowed to be missing
    assert set(got) == set(expected) - {"flaky/never.txt"}, sorted(set(got) ^ set(expected))
    different = [name for name in got if got[name] != expected[name]]
    assert not different, f"SLURM outputs differ from the local run: {different}"


def test_retry_resubmits_with_more_memory_and_succeeds(toy_runs):
    _, slurm = toy_runs
    assert (slurm.workdir / "flags" / "once").exists(), "the first attempt of 'once' never ran"
    # the log holds the last attempt: mem_mb = 200 * attempt, so 400 = the second attempt
    assert "attempt mem_mb=400" in (slurm.workdir / "logs/flaky/once.log").read_text()
    attempts = slurm_logs(slurm, "rule_flaky/once")
    assert len(attempts) == 2, f"expected 2 SLURM jobs for 'once', got {attempts}"
    assert "Trying to restart job" in slurm.output


def test_permanent_failure_is_reported_and_leaves_no_partial_output(toy_runs):
    _, slurm = toy_runs
    assert slurm.returncode != 0, "Snakemake must exit non-zero when a job fails for good"
    assert "Error in rule flaky" in slurm.output
    assert re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", slurm.output)
    assert "injected failure in flaky job 'never'" in slurm.output  # the job's error is shown
    leftovers = list((slurm.workdir / "results" / "flaky").glob("never*"))
    assert not leftovers, f"partial output of the failed job remains: {leftovers}"
    # profiles/slurm has retries: 2 -> three attempts, the last asking for 3 x 200 MB
    assert "attempt mem_mb=600" in (slurm.workdir / "logs/flaky/never.log").read_text()
    assert len(slurm_logs(slurm, "rule_flaky/never")) == 3


def test_failed_run_leaves_consistent_metadata(toy_runs, slurm_cluster):
    """A rerun plans exactly the failed job (and `all`): nothing else is stale or incomplete."""
    _, slurm = toy_runs
    cfg = slurm.workdir / "c.yaml"
    dry = snakemake(slurm.workdir, ["-s", str(TOY), "--configfile", str(cfg), "-n", "--cores", "1"])
    assert dry.returncode == 0, dry.output[-4000:]
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.output, flags=re.M))
    planned.pop("total", None)
    assert planned == {"flaky": "1", "all": "1"}, dry.output[-3000:]


def test_gpu_rule_gets_a_gpu_from_slurm(toy_runs):
    _, slurm = toy_runs
    log = (slurm.workdir / "logs" / "train.log").read_text()
    # gpu=1 -> sbatch --gpus=1 / srun --gpus=1; the node's fake GPU is handed to the job
    assert "CUDA_VISIBLE_DEVICES=0" in log, log
    assert re.search(r"SLURM_JOB_ID=\d+", log), log


def test_grouped_rules_run_as_one_slurm_job_per_group(toy_runs):
    _, slurm = toy_runs
    for group, rule in (("data", "make_shard"), ("probe", "probe"), ("sens", "sens")):
        logs = slurm_logs(slurm, f"group_{group}_{rule}")
        assert len(logs) == 1, f"group {group!r}: expected one SLURM job, got {logs}"
        assert not slurm_logs(slurm, f"rule_{rule}"), f"{rule} jobs were submitted one by one"
    job_ids = {
        (slurm.workdir / "logs" / "probe" / f"{shard}.log").read_text() for shard in range(3)
    }
    assert len(job_ids) == 1, f"probe jobs ran in different SLURM jobs: {job_ids}"


def test_jobs_ran_in_the_partition_from_the_environment(toy_runs, slurm_cluster):
    partitions = slurm_cluster.job_partitions()
    assert partitions, "slurmctld remembers no jobs"
    assert set(partitions.values()) == {slurm_cluster.partition}, partitions


def test_cluster_queue_is_empty_after_the_run(toy_runs, slurm_cluster):
    assert slurm_cluster.job_ids() == []
    # the cluster's settings reach only the subprocesses, never this process
    assert os.environ.get("SLURM_CONF") != str(slurm_cluster.conf)
