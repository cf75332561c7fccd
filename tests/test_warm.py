"""The warm job runner (invtransfer.warm): jobs run in forked children of one warm server, with
the job's cwd and environment, their status and logs intact, and no process outliving its owner.

A toy step module stands in for invtransfer.steps so that the server starts in milliseconds.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from invtransfer import warm

TOY = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    __all__ = ["write", "fail", "sleep_forever", "where", "preloaded"]
    WARM_PRELOAD = ("toy_lazy",)  # what the steps import lazily: the server imports it once

    def preloaded(path):
        Path(path).write_text(str("toy_lazy" in sys.modules))

    def log_to(path):
        sys.stderr = open(path, "w", buffering=1)

    def write(path, text):
        Path(path).write_text(f"{text} {os.getpid()} {os.getppid()}")

    def where(path):
        Path(path).write_text(f"{os.getcwd()}|{os.environ.get('TOY_VALUE')}")

    def fail():
        raise RuntimeError("boom from the toy step")

    def sleep_forever(pidfile):
        Path(pidfile).write_text(str(os.getpid()))
        time.sleep(600)
    """
)


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    """A toy step module on PYTHONPATH and a running warm server preloading it."""
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "toy_steps.py").write_text(TOY)
    (mod_dir / "toy_lazy.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(mod_dir))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(mod_dir), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.delenv(warm.ENV_SOCKET, raising=False)
    monkeypatch.delenv(warm.ENV_DISABLE, raising=False)
    server = warm.start(preload=("toy_steps",), timeout=60)
    assert server is not None, "the warm server did not start"
    yield server
    server.stop()


def _client(code: str, cwd: Path, **env: str) -> subprocess.Popen:
    """A job shim in its own process (run_step exits the process on failure)."""
    full = {**os.environ, **env}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_step_runs_in_a_fresh_child_of_the_server(toy, tmp_path):
    out = tmp_path / "out.txt"
    warm.run_step("write", str(out), "hello", module="toy_steps", log=tmp_path / "job.log")
    text, pid, ppid = out.read_text().split()
    assert text == "hello"
    assert int(ppid) == toy.process.pid  # forked by the server
    assert int(pid) not in (os.getpid(), toy.process.pid)
    assert "step ran in warm child" in (tmp_path / "job.log").read_text()
    # a second job gets another fresh child
    warm.run_step("write", str(out), "again", module="toy_steps", log=tmp_path / "job2.log")
    assert int(out.read_text().split()[1]) != int(pid)


def test_server_preloads_what_the_steps_import_lazily(toy, tmp_path):
    out = tmp_path / "loaded.txt"
    warm.run_step("preloaded", str(out), module="toy_steps", log=tmp_path / "job.log")
    assert out.read_text() == "True"  # the child found it imported: the fork inherited it
    assert "0 modules imported after the fork" in (tmp_path / "job.log").read_text()
    assert "toy_lazy" not in sys.modules  # this process (a cold job) never imported it


def test_child_gets_the_jobs_cwd_and_environment(toy, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    code = (
        "from invtransfer.warm import run_step; "
        "run_step('where', 'where.txt', module='toy_steps', log='job.log')"
    )
    proc = _client(code, workdir, TOY_VALUE="42")
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert (workdir / "where.txt").read_text() == f"{workdir}|42"


def test_a_failing_step_fails_the_job_with_its_traceback_in_the_log(toy, tmp_path):
    code = (
        "from invtransfer.warm import run_step; run_step('fail', module='toy_steps', log='job.log')"
    )
    proc = _client(code, tmp_path)
    assert proc.wait(timeout=60) == 1
    assert "fail failed with exit status 1" in proc.stderr.read()
    log = (tmp_path / "job.log").read_text()
    assert "RuntimeError: boom from the toy step" in log


def test_killing_the_job_kills_its_child(toy, tmp_path):
    pidfile = tmp_path / "child.pid"
    code = (
        "from invtransfer.warm import run_step; "
        f"run_step('sleep_forever', {str(pidfile)!r}, module='toy_steps', log='job.log')"
    )
    proc = _client(code, tmp_path)
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)  # what Snakemake does to a job on Ctrl-C
    proc.wait(timeout=30)
    assert _gone(child, within=10), "the step kept running after its job was killed"
    assert toy.process.poll() is None  # the server itself carries on


def test_server_exits_when_its_starter_dies(tmp_path):
    code = (
        "import sys, time; from invtransfer.warm import start; "
        "s = start(preload=()); print(s.process.pid, flush=True); time.sleep(600)"
    )
    starter = _client(code, tmp_path)
    server_pid = int(starter.stdout.readline())
    starter.kill()
    starter.wait()
    assert _gone(server_pid, within=10), "the warm server outlived the Snakemake process"


def test_without_a_server_the_step_runs_in_process(tmp_path, monkeypatch):
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "toy_steps.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(mod_dir))
    out = tmp_path / "out.txt"
    monkeypatch.delenv(warm.ENV_SOCKET, raising=False)
    warm.run_step("write", str(out), "cold", module="toy_steps")
    assert int(out.read_text().split()[1]) == os.getpid()
    # an announced server that is not there (e.g. on a cluster node): in-process, and the log says so
    monkeypatch.setenv(warm.ENV_SOCKET, str(tmp_path / "missing.sock"))
    code = (
        "from invtransfer.warm import run_step; "
        f"run_step('write', {str(out)!r}, 'node', module='toy_steps', log='job.log')"
    )
    proc = _client(
        code, tmp_path, PYTHONPATH=f"{mod_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    )
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert out.read_text().startswith("node ")
    assert f"no warm server at {tmp_path / 'missing.sock'}" in (tmp_path / "job.log").read_text()


def test_only_public_steps_run(toy, tmp_path):
    with pytest.raises(ValueError, match="no public step 'log_to'"):
        warm._call("toy_steps", "log_to", (str(tmp_path / "x"),), {}, None)


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv(warm.ENV_DISABLE, "0")
    assert warm.start(preload=()) is None


def _lazy_imports(path: Path) -> set[str]:
    """Modules imported inside the functions of a module (not at its top level)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.module:
                    found.add(node.module)
                elif isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
    return found


def test_steps_preload_list_covers_their_lazy_imports():
    import invtransfer.steps as steps

    lazy = {m for m in _lazy_imports(Path(steps.__file__)) if m.startswith("invtransfer")}
    assert lazy, "the parser found no lazy imports: the test is not looking at the steps"
    assert lazy <= set(steps.WARM_PRELOAD), sorted(lazy - set(steps.WARM_PRELOAD))


def test_steps_preload_list_covers_the_optimizers_lazy_import():
    """Building the first optimizer imports torch._dynamo (1-2.5 s on the project VM): after the
    preload list, the server's children build one without importing it again."""
    code = textwrap.dedent(
        """
        import importlib, sys
        import torch
        import invtransfer.steps as steps
        assert "torch._dynamo" not in sys.modules, "imported before: this test checks nothing"
        for name in steps.WARM_PRELOAD:
            importlib.import_module(name)
        before = set(sys.modules)
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
        print(sorted(m for m in set(sys.modules) - before if m.startswith("torch._")))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
