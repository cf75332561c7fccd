"""The SLURM profile against a real single-node SLURM cluster on localhost.

`profiles/slurm` plus the CI overlay `tests/slurm/ci-profile` (`squeue` status polling, short
poll delay, kept logs), with `SBATCH_PARTITION=debug` in the environment, drive two workflows
through `sbatch`/`srun`, each compared with a local run of the same targets:

- the toy workflow in `tests/slurm/toy/` (grouped jobs, a GPU rule, and two injected failures:
  flaky job `once` fails on its first attempt only -> resubmitted, succeeds; flaky job `never`
  fails on every attempt -> reported, Snakemake exits non-zero);
- the real workflow (tiny preset, one seed): one linear-probe result and one sens table, which
  exercise every stage -- assets, grouped dataset generation, GPU pretraining, grouped
  features+probe, grouped sens.

The four runs start together (the SLURM runs spend most of their time waiting for the plugin's
status polls, so overlapping them with the local runs saves minutes) and are shared by the
tests of this module; each test checks one property. Measured: 3.1 min for this module on the
idle 2-core project VM (Intel Xeon, 2026-12-03); the SLURM run of the real workflow is the
longest (four SLURM levels at 20-70 s each: job start-up on two busy cores and status-poll
waiting).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support.workflow import copy_workflow, dry_run_counts

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TOY = HERE / "toy" / "Snakefile"
SLURM_PROFILE = ROOT / "profiles" / "slurm"
CI_PROFILE = HERE / "ci-profile"
#: Hard wall-clock limit of one workflow run. `timeout -s KILL`, because a plugin that cannot
#: see its jobs finish ignores SIGTERM (trap 1).
RUN_LIMIT_S = 600
#: JSON/.pt keys that describe how a run executed, not what it computed: durations and rates
#: (`wall_time_s`, `images_per_s`, ... -- anything ending in `_s`), the parallelism used, and the
#: hashes of manifests that contain those. Data hashes (shard `sha256`) are compared.
RUN_KEYS = {"threads", "torch_threads", "workers", "hostname", "host"}


def _run_key(key: object) -> bool:
    k = str(key)
    return k in RUN_KEYS or k.endswith(("_s", "manifest_sha256"))


pytestmark = pytest.mark.slurm


@dataclass
class Run:
    name: str
    workdir: Path
    returncode: int
    output: str  # stdout + stderr
    seconds: float

    def files(self, sub: str = "results") -> dict[str, Path]:
        base = self.workdir / sub
        return {str(p.relative_to(base)): p for p in sorted(base.rglob("*")) if p.is_file()}

    def slurm_logs(self, sub: str) -> list[Path]:
        return sorted((self.workdir / ".snakemake" / "slurm_logs" / sub).rglob("*.log"))


class Launch:
    """One Snakemake run in the background, under `timeout -s KILL`, output to a file."""

    def __init__(self, name: str, workdir: Path, args: list[str], env: dict[str, str] | None):
        self.name, self.workdir = name, workdir
        self.cmd = ["timeout", "-s", "KILL", str(RUN_LIMIT_S), sys.executable, "-m", "snakemake"]
        self.cmd += args
        self.log = workdir / "snakemake-output.txt"
        self.start = time.monotonic()
        self.end: float | None = None
        with self.log.open("w") as fh:
            self.proc = subprocess.Popen(
                self.cmd, cwd=workdir, env=env, stdout=fh, stderr=subprocess.STDOUT
            )

    def poll(self) -> bool:
        """True once the run has ended; remembers when."""
        if self.proc.poll() is not None and self.end is None:
            self.end = time.monotonic()
        return self.end is not None

    def wait(self) -> Run:
        rc = self.proc.wait()
        self.poll()
        output = self.log.read_text(errors="replace")
        if rc in (124, 137, -9):
            raise AssertionError(
                f"{self.name}: snakemake was killed after {RUN_LIMIT_S} s (hung?)\n"
                f"{' '.join(self.cmd)}\n{output[-6000:]}"
            )
        assert self.end is not None
        return Run(self.name, self.workdir, rc, output, self.end - self.start)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def real_targets(workdir: Path, configfiles: list[Path]) -> list[str]:
    """One probe result and one sens table of the plan (the first of each, sorted)."""
    from invtransfer.config import load_config
    from invtransfer.experiments import build_plan

    plan = build_plan(load_config(workdir / "config.yaml", *configfiles))
    probe, sens = sorted(plan.probes)[0], sorted(plan.sens)[0]
    return [f"results/probes/{probe}", f"results/sens/{sens}"]


@dataclass
class Runs:
    toy_local: Run
    toy_slurm: Run
    real_local: Run
    real_slurm: Run


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory) -> Iterator[Runs]:
    base = tmp_path_factory.mktemp("slurm-runs")
    slurm_env = {**slurm_cluster.env(), "SBATCH_PARTITION": slurm_cluster.partition}
    slurm_args = ["--workflow-profile", "none"]
    slurm_args += ["--profile", str(SLURM_PROFILE), "--profile", str(CI_PROFILE)]

    # toy: the same config, failures injected only into the SLURM run
    toy = {"shards": 2, "flaky": ["once", "never"]}
    (base / "toy-local").mkdir()
    (base / "toy-slurm").mkdir()
    toy_local_cfg = write_yaml(base / "toy-local" / "c.yaml", toy)
    inject = {**toy, "fail_once": ["once"], "fail_always": ["never"]}
    inject["marker_dir"] = str(base / "toy-slurm" / "flags")
    toy_slurm_cfg = write_yaml(base / "toy-slurm" / "c.yaml", inject)

    # real workflow: tiny preset, one seed, in-distribution sens of one transformation only
    # (fewer evaluation sets; the sens table needs 4 pretrainings instead of 6)
    real_local_dir = copy_workflow(base / "real-local")
    real_slurm_dir = copy_workflow(base / "real-slurm")
    it = {"evals": ["in_dist"], "transforms": ["rotate"]}
    overlay = {"seeds": 1, "experiments": {"it": it}}
    configs = [Path("profiles/tiny/overrides.yaml"), Path("tiny-slurm.yaml")]
    for d in (real_local_dir, real_slurm_dir):
        write_yaml(d / "tiny-slurm.yaml", overlay)
    targets = real_targets(real_local_dir, [real_local_dir / c for c in configs])
    # targets first: --configfile takes several values and would swallow them (trap 6)
    real_args = [*targets, "--configfile", *map(str, configs)]

    launches: list[Launch] = []
    try:
        launches.append(
            Launch(
                "toy-slurm",
                base / "toy-slurm",
                ["-s", str(TOY), "--configfile", str(toy_slurm_cfg), *slurm_args],
                slurm_env,
            )
        )
        launches.append(Launch("real-slurm", real_slurm_dir, [*real_args, *slurm_args], slurm_env))
        launches.append(
            Launch(
                "toy-local",
                base / "toy-local",
                ["-s", str(TOY), "--cores", "2", "--configfile", str(toy_local_cfg)],
                None,
            )
        )
        launches.append(Launch("real-local", real_local_dir, [*real_args, "--cores", "2"], None))
        while not all([launch.poll() for launch in launches]):
            time.sleep(0.5)
        done = {launch.name: launch.wait() for launch in launches}
    finally:
        for launch in launches:
            launch.kill()
    for name in ("toy-local", "real-local", "real-slurm"):
        run = done[name]
        assert run.returncode == 0, f"{name} failed ({run.returncode}):\n{run.output[-8000:]}\n" + (
            slurm_cluster.daemon_logs() if "slurm" in name else ""
        )
    if "submitted with SLURM jobid" not in done["toy-slurm"].output:
        raise AssertionError(
            f"the toy run never reached SLURM:\n{done['toy-slurm'].output[-6000:]}\n"
            f"{slurm_cluster.daemon_logs()}"
        )
    for run in done.values():
        print(f"{run.name}: {run.seconds:.0f} s, exit {run.returncode}", file=sys.stderr)
    yield Runs(done["toy-local"], done["toy-slurm"], done["real-local"], done["real-slurm"])


# ---- the toy workflow ------------------------------------------------------------------------
def test_toy_outputs_match_local_run_byte_for_byte(runs):
    expected, got = runs.toy_local.files(), runs.toy_slurm.files()
    # the permanently failing job is the only output allowed to be missing
    assert set(got) == set(expected) - {"flaky/never.txt"}, sorted(set(got) ^ set(expected))
    different = [n for n in got if got[n].read_bytes() != expected[n].read_bytes()]
    assert not different, f"SLURM outputs differ from the local run: {different}"


def test_retry_resubmits_with_more_memory_and_succeeds(runs):
    slurm = runs.toy_slurm
    assert (slurm.workdir / "flags" / "once").exists(), "the first attempt of 'once' never ran"
    # the log holds the last attempt: mem_mb = 200 * attempt, so 400 = the second attempt
    assert "attempt mem_mb=400" in (slurm.workdir / "logs/flaky/once.log").read_text()
    attempts = slurm.slurm_logs("rule_flaky/once")
    assert len(attempts) == 2, f"expected 2 SLURM jobs for 'once', got {attempts}"
    assert "Trying to restart job" in slurm.output


def test_permanent_failure_is_reported_and_leaves_no_partial_output(runs):
    slurm = runs.toy_slurm
    assert slurm.returncode != 0, "Snakemake must exit non-zero when a job fails for good"
    assert "Error in rule flaky" in slurm.output
    assert re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", slurm.output)
    assert "injected failure in flaky job 'never'" in slurm.output  # the job's own error is shown
    leftovers = list((slurm.workdir / "results" / "flaky").glob("never*"))
    assert not leftovers, f"partial output of the failed job remains: {leftovers}"
    # profiles/slurm has retries: 2 -> three attempts, the last asking for 3 x 200 MB
    assert "attempt mem_mb=600" in (slurm.workdir / "logs/flaky/never.log").read_text()
    assert len(slurm.slurm_logs("rule_flaky/never")) == 3


def test_failed_run_leaves_consistent_metadata(runs):
    """A rerun plans exactly the failed job (and `all`): nothing else is stale or incomplete."""
    slurm = runs.toy_slurm
    cmd = [sys.executable, "-m", "snakemake", "-s", str(TOY), "--configfile", "c.yaml"]
    cmd += ["-n", "--cores", "1"]
    proc = subprocess.run(cmd, cwd=slurm.workdir, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert dry_run_counts(proc.stdout) == {"flaky": 1, "all": 1}, proc.stdout[-3000:]


def test_gpu_rule_gets_a_gpu_from_slurm(runs):
    log = (runs.toy_slurm.workdir / "logs" / "train.log").read_text()
    # gpu=1 -> sbatch --gpus=1 / srun --gpus=1; one of the node's (fake) GPUs is handed to the job
    assert re.search(r"CUDA_VISIBLE_DEVICES=\d", log), log
    assert re.search(r"SLURM_JOB_ID=\d+", log), log


def test_grouped_rules_run_as_one_slurm_job_per_group(runs):
    slurm = runs.toy_slurm
    for group, rule in (("data", "make_shard"), ("probe", "probe"), ("sens", "sens")):
        logs = slurm.slurm_logs(f"group_{group}_{rule}")
        assert len(logs) == 1, f"group {group!r}: expected one SLURM job, got {logs}"
        assert not slurm.slurm_logs(f"rule_{rule}"), f"{rule} jobs were submitted one by one"
    ids = {(slurm.workdir / "logs" / "probe" / f"{s}.log").read_text() for s in range(2)}
    assert len(ids) == 1, f"probe jobs ran in different SLURM jobs: {ids}"


# ---- the real workflow -----------------------------------------------------------------------
def _strip_volatile(obj: object) -> object:
    """Drop what describes the run rather than its results (see `RUN_KEYS`)."""
    if isinstance(obj, dict):
        return {k: _strip_volatile(v) for k, v in obj.items() if not _run_key(k)}
    if isinstance(obj, (list, tuple)):
        return [_strip_volatile(v) for v in obj]
    return obj


def _same_torch_content(a: object, b: object) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and torch.equal(a, b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_torch_content(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(_same_torch_content, a, b))
    return a == b


def _same_result(a: Path, b: Path) -> bool:
    """Bytes for data (NPY, Parquet, CSV, PNG); content without timings for JSON and .pt."""
    if a.read_bytes() == b.read_bytes():
        return True
    if a.suffix == ".json":
        return _strip_volatile(json.loads(a.read_text())) == _strip_volatile(
            json.loads(b.read_text())
        )
    if a.suffix == ".pt":
        import torch

        ta = torch.load(a, map_location="cpu", weights_only=True)
        tb = torch.load(b, map_location="cpu", weights_only=True)
        return _same_torch_content(_strip_volatile(ta), _strip_volatile(tb))
    return False


def test_real_workflow_outputs_match_local_run(runs):
    expected, got = runs.real_local.files(), runs.real_slurm.files()
    assert expected, "the local run produced nothing"
    assert set(got) == set(expected), sorted(set(got) ^ set(expected))
    data = [n for n in got if Path(n).suffix in {".npy", ".parquet", ".csv"}]
    assert any(n.endswith(".npy") for n in data) and any(n.endswith(".csv") for n in data)
    different = [n for n in got if not _same_result(got[n], expected[n])]
    assert not different, f"SLURM results differ from the local run: {different}"


def test_real_workflow_used_groups_and_gpu_jobs(runs):
    slurm = runs.real_slurm
    assert slurm.slurm_logs("rule_pretrain"), "pretraining never ran as its own SLURM job"
    for prefix in ("group_data_", "group_probe_", "group_sens_"):
        base = slurm.workdir / ".snakemake" / "slurm_logs"
        assert any(p.name.startswith(prefix) for p in base.iterdir()), (
            f"no {prefix}* SLURM job: {sorted(p.name for p in base.iterdir())}"
        )
    assert "gpu=1" in slurm.output  # the GPU rules' request is part of what was submitted


def _gpus(tres: str) -> int:
    """GPUs in a `TresPerJob` value such as `gres:gpu:1` (Slurm 22) or `gres/gpu:1`."""
    m = re.search(r"gpu(?::[\w.]+)?:(\d+)", tres)
    return int(m.group(1)) if m else 0


def test_allocations_follow_the_profile(runs, slurm_cluster):
    """What SLURM granted: GPU rules one GPU, groups at most `cores` CPUs and one GPU."""
    details = slurm_cluster.job_details()
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    checked = 0
    for run in (runs.toy_slurm, runs.real_slurm):
        for log in (run.workdir / ".snakemake" / "slurm_logs").rglob("*.log"):
            kind = log.relative_to(run.workdir / ".snakemake" / "slurm_logs").parts[0]
            job = details.get(log.stem)
            assert job is not None, f"slurmctld forgot job {log.stem} ({kind}) too early"
            cpus, gpus = int(job["NumCPUs"]), _gpus(job.get("TresPerJob", ""))
            if kind.startswith("group_"):
                assert cpus <= profile["cores"] and gpus <= 1, (kind, job)
            if run is runs.real_slurm and kind.startswith(("group_probe", "group_sens")):
                assert gpus == 1, (kind, job)  # features / sens declare gpu=1
            if kind in ("rule_train", "rule_pretrain"):
                assert gpus == 1, (kind, job)
            if kind == "rule_pretrain":
                assert cpus == 2, (kind, job)  # the rule's threads
            checked += 1
    assert checked >= 10, f"only {checked} SLURM jobs found"


# ---- the cluster -----------------------------------------------------------------------------
def test_jobs_ran_in_the_partition_from_the_environment(runs, slurm_cluster):
    partitions = slurm_cluster.job_partitions()
    assert partitions, "slurmctld remembers no jobs"
    assert set(partitions.values()) == {slurm_cluster.partition}, partitions


def test_cluster_queue_is_empty_after_the_runs(runs, slurm_cluster):
    assert slurm_cluster.job_ids() == []
