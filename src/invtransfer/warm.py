"""Warm job runner: pay for ``import torch`` once per workflow run, not once per job.

Every workflow job is a fresh Python process (Snakemake's ``script:``), and importing torch and
the step functions costs 3-7 s of CPU on the project machines: on a 2-core laptop that is about
40 % of a quick-preset run, whose jobs are small. When the workflow runs locally, the Snakefile's
``onstart`` hook starts one *warm server* (:func:`start`): a process that imports
:mod:`invtransfer.steps` once and then, for every job, forks a fresh child that runs the step
(a fork costs milliseconds and shares the imported modules copy-on-write). A job's shim calls
:func:`run_step`, which asks the server over a Unix socket, waits for the child and exits with
its status. Each job still runs in its own process: nothing leaks between jobs, and the outputs
are byte-identical to a cold run (the SLURM test compares a cluster run, which never uses the
server, with a local run, which does).

Lifetimes: the child is killed (with its process group) when the job's shim goes away (Ctrl-C,
``kill``), the server exits when the Snakemake process that started it is gone, and jobs on a
cluster node (no server announced in their environment, or none reachable) run in-process, as
before. ``INVTRANSFER_WARM=0`` turns the server off.

Since the work runs in the server's child, Snakemake's ``benchmark:`` files measure the waiting
shim: their wall time ``s`` is the job's, but ``cpu_time`` and ``max_rss`` are not. The child
writes its own CPU time and peak memory as the last line of the job's log.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ENV_DISABLE", "ENV_SOCKET", "WarmServer", "run_step", "serve", "start"]

ENV_SOCKET = "INVTRANSFER_WARM_SOCKET"  # set by start(): where the server listens
ENV_DISABLE = "INVTRANSFER_WARM"  # "0" turns the warm server off
STEPS_MODULE = "invtransfer.steps"
_HEADER = struct.Struct("!Q")
_STATUS = struct.Struct("!i")

log = logging.getLogger("invtransfer.warm")


# -- wire format: one length-prefixed pickle per request, one int per reply ------------------------
def _send_msg(sock: socket.socket, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed before the message was complete")
        buf += chunk
    return bytes(buf)


def _recv_msg(sock: socket.socket) -> Any:
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    return pickle.loads(_recv_exact(sock, size))


# -- the job side ---------------------------------------------------------------------------------
def _call(
    module: str,
    step: str,
    args: tuple,
    kwargs: Mapping[str, Any],
    log_path: str | None,
    note: str | None = None,
) -> Any:
    mod = importlib.import_module(module)
    public = getattr(mod, "__all__", ())
    if step not in public:
        raise ValueError(f"{module} has no public step {step!r}; valid: {', '.join(public)}")
    if log_path is not None:
        mod.log_to(log_path)
    if note:
        print(note, file=sys.stderr)
    return getattr(mod, step)(*args, **dict(kwargs))


def run_step(
    step: str,
    /,
    *args: Any,
    log: str | os.PathLike[str] | None = None,
    module: str = STEPS_MODULE,
    **kwargs: Any,
) -> None:
    """Run ``<module>.<step>(*args, **kwargs)``, in a forked child of the warm server when one is
    announced (``INVTRANSFER_WARM_SOCKET``) and reachable, otherwise in this process.

    ``log``: the job's log file; stderr and the ``invtransfer`` loggers go there (the step
    module's ``log_to``). Exits this process with the child's status when the server ran it.
    """
    log_path = None if log is None else os.fspath(log)
    address = os.environ.get(ENV_SOCKET)
    sock = _connect(address) if address else None
    if sock is None:
        # not silent: the job log says why this job paid the import cost itself
        note = (
            f"invtransfer.warm: no warm server at {address}; running in-process"
            if address
            else None
        )
        _call(module, step, args, kwargs, log_path, note)
        return
    request = {
        "module": module,
        "step": step,
        "args": args,
        "kwargs": kwargs,
        "log": log_path,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
    }
    with sock:
        _send_msg(sock, request)
        try:
            (status,) = _STATUS.unpack(_recv_exact(sock, _STATUS.size))
        except ConnectionError:
            sys.exit(f"invtransfer.warm: the warm server at {address} went away during {step}")
    if status != 0:
        where = f"; see {log_path}" if log_path else ""
        sys.exit(f"invtransfer.warm: {step} failed with exit status {status}{where}")


def _connect(address: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        return None
    return sock


# -- the server -------------------------------------------------------------------------------------
def _child(inherited: list[socket.socket], request: Mapping[str, Any]) -> None:
    """In the forked child: become the job (own process group, the job's cwd and environment)."""
    code = 1
    known = len(sys.modules)
    try:
        for sock in inherited:  # the listener and every job's connection stay the server's
            sock.close()
        os.setpgid(0, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(ENV_SOCKET, None)  # a step never talks to the server itself
        _call(
            request["module"], request["step"], request["args"], request["kwargs"], request["log"]
        )
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"invtransfer.warm: step ran in warm child {os.getpid()}: "
            f"cpu {usage.ru_utime + usage.ru_stime:.2f} s, max RSS {usage.ru_maxrss / 1024:.0f} MB, "
            f"{len(sys.modules) - known} modules imported after the fork",
            file=sys.stderr,
        )
        sys.stderr.flush()
        os._exit(code)


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            time.sleep(0.05)


def serve(address: str, *, preload: tuple[str, ...] = (STEPS_MODULE,), parent: int | None = None):
    """Listen on the Unix socket ``address`` and run each request in a forked child.

    Imports each ``preload`` module and then the modules it lists in ``WARM_PRELOAD`` (the
    steps' lazy imports), so the children share them. The server's own code is single-threaded
    (forking while another Python thread runs is unsafe); a native library may keep a helper
    thread of its own (pyarrow's jemalloc purger), which its fork handlers make safe. Returns when
    ``parent`` (the pid of the process that started it) is gone (we are re-parented), or on
    SIGTERM/SIGINT; children still running are killed.
    """
    for name in preload:
        module = importlib.import_module(name)
        for extra in getattr(module, "WARM_PRELOAD", ()):  # what its steps import lazily
            importlib.import_module(extra)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    os.chmod(address, 0o600)
    listener.listen(64)
    stop = False

    def _stop(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    running: dict[int, socket.socket] = {}  # child pid -> the job's connection
    try:
        while not stop and (parent is None or os.getppid() == parent):
            for key, _ in sel.select(timeout=0.2):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    try:
                        conn.settimeout(30.0)
                        request = _recv_msg(conn)
                        conn.settimeout(None)
                    except (OSError, ConnectionError, pickle.UnpicklingError):
                        conn.close()
                        continue
                    pid = os.fork()
                    if pid == 0:
                        _child([listener, conn, *running.values()], request)
                    running[pid] = conn
                    sel.register(conn, selectors.EVENT_READ, pid)
                else:  # the job's shim closed its end: it was killed, so kill its child
                    pid = key.data
                    sel.unregister(key.fileobj)
                    _kill_group(pid)
                    running.pop(pid).close()
            for pid in list(running):
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    code = os.waitstatus_to_exitcode(status) if done else 0
                except ChildProcessError:
                    done, code = pid, 1
                if done:
                    conn = running.pop(pid)
                    sel.unregister(conn)
                    with contextlib.suppress(OSError):
                        conn.sendall(_STATUS.pack(code))
                    conn.close()
    finally:
        for pid, conn in running.items():
            _kill_group(pid)
            conn.close()
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)


class WarmServer:
    """A running warm server (see :func:`start`); :meth:`stop` ends it and removes its folder."""

    def __init__(self, process: subprocess.Popen, folder: Path, address: str):
        self.process, self.folder, self.address = process, folder, address

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if os.environ.get(ENV_SOCKET) == self.address:
            del os.environ[ENV_SOCKET]
        for p in (Path(self.address), self.folder):
            with contextlib.suppress(OSError):
                p.rmdir() if p.is_dir() else p.unlink()


def start(
    *, preload: tuple[str, ...] = (STEPS_MODULE,), timeout: float = 120.0
) -> WarmServer | None:
    """Start a warm server for this process's jobs and announce it in ``os.environ`` (the local
    executor's job processes inherit it). Returns None, with a warning, when it cannot start, and
    does nothing when ``INVTRANSFER_WARM=0``."""
    if os.environ.get(ENV_DISABLE, "1") == "0":
        return None
    folder = Path(tempfile.mkdtemp(prefix="invtransfer-warm-"))  # 0700: only this user connects
    address = str(folder / "sock")
    code = (
        "import sys; from invtransfer.warm import serve; "
        "serve(sys.argv[1], preload=tuple(sys.argv[3:]), parent=int(sys.argv[2]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, address, str(os.getpid()), *preload],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal goes to Snakemake, which stops us
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.warning(
                "warm server exited at start (status %s); jobs run cold", process.returncode
            )
            return None
        sock = _connect(address) if os.path.exists(address) else None
        if sock is not None:
            sock.close()
            os.environ[ENV_SOCKET] = address
            return WarmServer(process, folder, address)
        time.sleep(0.05)
    process.kill()
    log.warning("warm server did not start within %.0f s; jobs run cold", timeout)
    return None
