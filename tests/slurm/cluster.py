"""A throw-away single-node SLURM cluster on localhost, for testing the SLURM profile for real.

Why a real cluster: the SLURM executor plugin's failure modes (status polling that never sees a
job finish, a config that is invisible inside jobs, flags the plugin refuses) only show up
against real `slurmctld`/`slurmd` daemons (see the project's SLURM notes, traps 1-8). Mocking
`sbatch` would test nothing of that.

Design:

- Everything lives under one fresh temp folder: munge key and socket, `slurm.conf`, state,
  spool, logs and pid files. TCP ports are picked free at start, so two clusters (or a
  leftover one) never collide, and nothing under `/etc` is touched.
- Trap 2 (the jobstep plugin strips every `SLURM_*` variable, `SLURM_CONF` included, before
  its inner `srun`) is solved with an `srun` wrapper placed first on `PATH`: it re-exports
  `SLURM_CONF` and execs the real `srun`. `env()` returns that environment.
- Fake GPUs (`Gres=gpu:2`, one character device each, `File=/dev/null` and `/dev/zero`) let
  `resources: gpu=1` jobs schedule on a GPU-less node, two at a time; such jobs see
  `CUDA_VISIBLE_DEVICES` set to their device's index.
- The node claims 8 CPUs on a 2-core machine: the test jobs are mostly Python start-up and
  status-poll waiting, and overlapping them hides that latency (measured on the 2-core project VM:
  the SLURM test module 243 s with 4 CPUs and 1 GPU, 185 s with 8 and 2).
- `stop()` cancels every job, waits for the queue to drain, then stops slurmd, slurmctld and
  munged by the PIDs in their pid files and waits for each to exit (SIGKILL after a grace
  period). It is idempotent and safe to call after a failed `start()`.

Command line (for trying the profile by hand)::

    python tests/slurm/cluster.py run -- snakemake --profile profiles/slurm ...

starts a cluster, runs the command with `SLURM_CONF`/`PATH` set, and always stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Debian packages that provide the daemons and client tools (slurm-wlm 22.05 on bookworm).
PACKAGES: tuple[str, ...] = ("slurmctld", "slurmd", "slurm-client", "munge")
#: Executables that must be on PATH once the packages are installed.
BINARIES: tuple[str, ...] = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "srun",
    "squeue",
    "sinfo",
    "scancel",
    "scontrol",
    "munged",
    "mungekey",
)
PARTITION = "debug"  # the partition the tests ask for
DEFAULT_PARTITION = "batch"  # the cluster's default, used when a job names none
NODE = "localhost"
#: Character devices that stand in for GPUs (slurmd counts one GPU per `File=`; nothing opens them).
FAKE_GPU_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")


class ClusterUnavailable(RuntimeError):
    """The SLURM packages are missing and cannot be installed here (not root, apt failed).

    The only condition under which the SLURM test may skip; the message says why.
    """


class ClusterError(RuntimeError):
    """A daemon did not start, or the cluster misbehaved; always a test failure."""


def missing_binaries() -> list[str]:
    """Names from `BINARIES` that are not on PATH."""
    return [b for b in BINARIES if shutil.which(b) is None]


def ensure_packages(timeout_s: float = 600.0) -> None:
    """Install the Debian SLURM/munge packages when any binary is missing.

    Raises `ClusterUnavailable` (not `ClusterError`) when installing is impossible, so that a
    test can skip with that reason instead of failing on machines without root or apt.
    """
    missing = missing_binaries()
    if not missing:
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(
            f"SLURM binaries {missing} are missing and installing {' '.join(PACKAGES)} needs "
            "root (run the tests as root, or `apt-get install` them first)"
        )
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(
            f"SLURM binaries {missing} are missing and there is no apt-get to install "
            f"{' '.join(PACKAGES)} (not a Debian/Ubuntu machine)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    )
    for cmd in commands:
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterUnavailable(
                f"`{' '.join(cmd)}` timed out after {timeout_s:.0f} s"
            ) from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout)[-1500:]
            raise ClusterUnavailable(
                f"`{' '.join(cmd)}` failed with exit code {proc.returncode}: {tail}"
            )
    still = missing_binaries()
    if still:
        raise ClusterUnavailable(f"installed {' '.join(PACKAGES)} but {still} are still missing")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # field 3 (after the parenthesised command name) is the state; Z = zombie, X = dead
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _wait_for(predicate, timeout_s: float, what: str, *, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise ClusterError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _node_memory_mb() -> int:
    """The node memory to declare: 90 % of what `slurmd -C` reports, at least 64 GiB.

    More than the machine has is accepted thanks to `SlurmdParameters=config_overrides` and
    harmless without cgroups (memory is not enforced); it lets rules that ask for 8 GB run on a
    small CI machine instead of pending forever.
    """
    out = subprocess.run(
        ["slurmd", "-C"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for tok in out.split():
        if tok.startswith("RealMemory="):
            return max(int(int(tok.split("=", 1)[1]) * 0.9), 65536)
    raise ClusterError(f"`slurmd -C` printed no RealMemory=: {out!r}")


@dataclass
class LocalSlurmCluster:
    """One single-node cluster (node `localhost`, partition `debug`, ``gpus`` fake GPUs).

    `root` must be an empty, private folder (e.g. from `tempfile.mkdtemp`). `min_job_age_s`
    must exceed 3x the plugin's `slurm-init-seconds-before-status-checks` when the workflow
    polls with `squeue` (trap 1): finished jobs stay visible that long.
    """

    root: Path
    cpus: int = field(default_factory=lambda: max(8, os.cpu_count() or 1))
    gpus: int = 2
    min_job_age_s: int = 600
    daemons: dict[str, Path] = field(default_factory=dict, init=False)  # name -> pid file
    partition: str = field(default=PARTITION, init=False)  # the partition tests should ask for

    # ---- paths -------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge-run" / "munge.socket"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for client commands and for Snakemake: `SLURM_CONF`, `srun` wrapper first."""
        env = dict(os.environ if base is None else base)
        for key in list(env):  # a caller inside a SLURM job must not leak its allocation
            if key.startswith(("SLURM_", "SBATCH_", "SRUN_")):
                del env[key]
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        """Start munged, slurmctld and slurmd; return once the node is idle."""
        missing = missing_binaries()
        if missing:
            raise ClusterError(f"SLURM binaries missing: {missing}; call ensure_packages() first")
        # munged insists that every folder above its socket is enterable by all users
        os.chmod(self.root, 0o755)
        for sub in ("etc", "munge", "munge-run", "state", "spool", "run", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)  # munged refuses a key folder others can read
        os.chmod(self.root / "munge-run", 0o755)  # ... and a socket folder others cannot enter
        self._start_munge(timeout_s)
        self._write_config()
        self._write_srun_wrapper()
        self._start_daemon(
            "slurmctld", ["slurmctld", "-f", str(self.conf)], self.root / "run" / "slurmctld.pid"
        )
        _wait_for(self._controller_up, timeout_s, "slurmctld to answer `scontrol ping`")
        self._start_daemon(
            "slurmd",
            ["slurmd", "-f", str(self.conf), "-N", NODE],
            self.root / "run" / "slurmd.pid",
        )
        _wait_for(lambda: self.node_state() == "idle", timeout_s, f"node {NODE} to become idle")

    def stop(self, timeout_s: float = 30.0) -> list[str]:
        """Cancel all jobs, stop every daemon this object started, wait for each to exit.

        Returns problems met on the way (a daemon that needed SIGKILL, jobs that would not
        drain); raising here would hide the test's own failure, so the caller reports them.
        """
        problems: list[str] = []
        if "slurmctld" in self.daemons and _alive(_read_pid(self.daemons["slurmctld"]) or -1):
            problems += self._drain_jobs(timeout_s)
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = self.daemons.pop(name, None)
            if pid_file is None:
                continue
            pid = _read_pid(pid_file)
            if pid is None or not _alive(pid):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                problems.append(f"{name} (pid {pid}) ignored SIGTERM for {timeout_s:.0f} s")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_for(lambda p=pid: not _alive(p), 10, f"{name} to die after SIGKILL")
        return problems

    def __enter__(self) -> LocalSlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        problems = self.stop()
        if problems and exc[0] is None:
            raise ClusterError("; ".join(problems))

    # ---- queries -----------------------------------------------------------------------
    def run_client(self, args: Sequence[str], timeout_s: float = 30.0) -> str:
        """Run a SLURM client command against this cluster; raise with its stderr on failure."""
        proc = subprocess.run(
            list(args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if proc.returncode != 0:
            raise ClusterError(
                f"`{' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc.stdout

    def node_state(self) -> str:
        try:
            return self.run_client(["sinfo", "-h", "-n", NODE, "-o", "%T"]).strip()
        except (ClusterError, subprocess.TimeoutExpired):
            return ""

    def job_ids(self) -> list[str]:
        """Jobs still pending or running (finished ones are excluded)."""
        out = self.run_client(["squeue", "-h", "-o", "%i", "-t", "PENDING,RUNNING,COMPLETING"])
        return out.split()

    def job_partitions(self) -> dict[str, str]:
        """Job id -> partition for every job slurmctld still remembers (MinJobAge)."""
        out = self.run_client(["squeue", "-h", "-t", "all", "-o", "%i %P"])
        return dict(line.split() for line in out.splitlines() if line.strip())

    def job_details(self) -> dict[str, dict[str, str]]:
        """Job id -> `scontrol show job` fields (NumCPUs, TresPerJob, Partition, ...)."""
        out = self.run_client(["scontrol", "show", "job", "--oneliner"])
        jobs: dict[str, dict[str, str]] = {}
        for line in out.splitlines():
            fields = dict(re.findall(r"(\w[\w/:.]*)=(\S*)", line))
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs

    def daemon_logs(self, tail_chars: int = 3000) -> str:
        """The end of every daemon log, for failure messages."""
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            parts.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-tail_chars:]}")
        return "\n".join(parts)

    # ---- internals ---------------------------------------------------------------------
    def _controller_up(self) -> bool:
        try:
            return "UP" in self.run_client(["scontrol", "ping"])
        except (ClusterError, subprocess.TimeoutExpired):
            return False

    def _start_daemon(self, name: str, cmd: list[str], pid_file: Path) -> None:
        """Start a self-daemonizing program and wait for its pid file to name a live process."""
        proc = subprocess.run(
            cmd, env=self.env(), capture_output=True, text=True, timeout=60, check=False
        )
        self.daemons[name] = pid_file  # recorded first, so stop() kills a half-started daemon
        if proc.returncode != 0:
            raise ClusterError(
                f"{name} exited with {proc.returncode}: {proc.stderr.strip()}\n{self.daemon_logs()}"
            )
        try:
            _wait_for(
                lambda: (pid := _read_pid(pid_file)) is not None and _alive(pid),
                20,
                f"{name} pid file {pid_file}",
            )
        except ClusterError as exc:
            raise ClusterError(f"{exc}\n{self.daemon_logs()}") from None

    def _start_munge(self, timeout_s: float) -> None:
        key = self.root / "munge" / "munge.key"
        subprocess.run(
            ["mungekey", "--create", f"--keyfile={key}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        pid_file = self.root / "munge-run" / "munged.pid"
        self._start_daemon(
            "munged",
            [
                "munged",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={pid_file}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
                f"--log-file={self.log_dir / 'munged.log'}",
            ],
            pid_file,
        )
        _wait_for(self.munge_socket.exists, timeout_s, f"munge socket {self.munge_socket}")

    def _write_config(self) -> None:
        host = socket.gethostname().split(".")[0]
        r = self.root
        gres = f"Gres=gpu:{self.gpus} " if self.gpus else ""
        lines = [
            "# Generated by tests/slurm/cluster.py for a throw-away single-node test cluster.",
            "ClusterName=invtransfer-test",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            # no cgroups in containers: memory limits are not enforced, failures are simulated
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            # squeue status polling needs finished jobs to stay visible (trap 1)
            f"MinJobAge={self.min_job_age_s}",
            "ReturnToService=2",
            # the node may claim more CPUs than the machine has: on a 2-core CI machine the
            # test jobs are mostly Python start-up, and overlapping them hides poll latency
            "SlurmdParameters=config_overrides",
            "InactiveLimit=0",
            "KillWait=5",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log_dir / 'slurmctld.log'}",
            f"SlurmdLogFile={self.log_dir / 'slurmd.log'}",
            f"PlugStackConfig={r / 'etc' / 'plugstack.conf'}",
            "GresTypes=gpu",
            f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={_node_memory_mb()} {gres}State=UNKNOWN",
            # two partitions on the one node: jobs that land in `debug` prove that the
            # partition the workflow asked for reached sbatch (the default is `batch`)
            f"PartitionName={DEFAULT_PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName={PARTITION} Nodes=ALL Default=NO MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        (r / "etc" / "plugstack.conf").write_text("")
        # without File= slurmd reports 0 GPUs and the node goes INVAL
        if self.gpus > len(FAKE_GPU_FILES):
            raise ClusterError(f"at most {len(FAKE_GPU_FILES)} fake GPUs (one device file each)")
        gres_lines = [f"NodeName={NODE} Name=gpu File={f}" for f in FAKE_GPU_FILES[: self.gpus]]
        (r / "etc" / "gres.conf").write_text("".join(f"{line}\n" for line in gres_lines))

    def _write_srun_wrapper(self) -> None:
        real = shutil.which("srun", path=os.environ.get("PATH"))
        if real is None:
            raise ClusterError("srun not found on PATH")
        wrapper = self.bin_dir / "srun"
        wrapper.write_text(
            "#!/bin/sh\n"
            "# The jobstep plugin strips SLURM_CONF before calling srun (trap 2): restore it.\n"
            f"export SLURM_CONF='{self.conf}'\n"
            f"exec '{real}' \"$@\"\n"
        )
        wrapper.chmod(0o755)

    def _drain_jobs(self, timeout_s: float) -> list[str]:
        try:
            if not self.job_ids():
                return []
            self.run_client(
                ["scancel", "--full", "--partition", f"{PARTITION},{DEFAULT_PARTITION}"]
            )
            _wait_for(lambda: not self.job_ids(), timeout_s, "cancelled jobs to leave the queue")
        except (ClusterError, subprocess.TimeoutExpired) as exc:
            return [f"could not drain the job queue: {exc}"]
        return []


@contextlib.contextmanager
def local_cluster(prefix: str = "invtransfer-slurm-", **kwargs) -> Iterator[LocalSlurmCluster]:
    """Install the packages if needed, start a cluster in a fresh temp folder, always stop it."""
    ensure_packages()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with LocalSlurmCluster(root=root, **kwargs) as cluster:
            yield cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="start a cluster, run COMMAND against it, stop it")
    run.add_argument("command", nargs=argparse.REMAINDER, help="command (after --)")
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"] or ["sinfo"]
    with local_cluster() as cluster:
        print(f"cluster up: SLURM_CONF={cluster.conf}", file=sys.stderr)
        return subprocess.run(command, env=cluster.env(), check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
