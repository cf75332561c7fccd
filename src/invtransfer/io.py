"""Atomic file output and small serialisation helpers.

Every artifact is written under a temporary name in its destination folder and moved into place
with ``os.replace`` (atomic on POSIX), so a killed job never leaves a file a rerun would trust.

Temporary names say who writes them: ``.tmp-<name>.<pid>@<host>.<random>``. A writer killed
with ``kill -9`` cannot clean up after itself, so the next write of the same artifact removes
the leftovers of writers on this host that are no longer running (the process is gone, or its
pid now belongs to a process started after the leftover was last written); a live writer's temp
is never touched, and leftovers of other hosts are left alone with a warning (their writer
cannot be checked from here).

Write failures name the artifact: a full disk or quota (``ENOSPC``/``EDQUOT``, however the
library in between reports it: numpy's ``"N requested and M written"``, torch's
``inline_container.cc`` error, Arrow's ``IOError``) raises
:class:`~invtransfer.errors.NoSpaceError` ("no space left on <filesystem> while writing
<path>", with the size needed when known), a read-only or unwritable folder
:class:`~invtransfer.errors.WriteError`; in both cases the temporary file or folder is removed,
so nothing half-written is left.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from invtransfer.errors import NoSpaceError, WriteError

__all__ = [
    "TEMP_PREFIX",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "read_json",
    "remove_stale_temps",
    "save_npy",
    "sha256_file",
    "temp_owner",
]

log = logging.getLogger("invtransfer.io")

TEMP_PREFIX = ".tmp-"  # .tmp-<name>.<pid>@<host>.<random>
_OWNER = re.compile(r"^(\d+)@(.+)\.([A-Za-z0-9_]+)$")
_LEGACY = re.compile(r"^[a-z0-9_]{8}$")  # temporaries of versions without a writer id
_SHORT_WRITE = re.compile(r"(\d+) requested and (\d+) written")  # numpy's fwrite short write
_PID_REUSE_SLACK_S = 2.0  # /proc start times have a resolution of 1 s (btime)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask is racy)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------------------------
# temporary names and the leftovers of dead writers
# --------------------------------------------------------------------------------------------
def _host() -> str:
    """This host's name as it appears in temporary names (no separators, bounded length)."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname() or "localhost")[:48]


def _temp_prefix(path: Path) -> str:
    return f"{TEMP_PREFIX}{path.name}.{os.getpid()}@{_host()}."


def temp_owner(temp: str | os.PathLike[str], name: str) -> tuple[int, str] | None:
    """``(pid, host)`` of the writer of the temporary ``temp`` of the artifact ``name``; None
    when ``temp`` is not one of its temporaries or carries no writer (older versions)."""
    base = Path(temp).name
    prefix = f"{TEMP_PREFIX}{name}."
    if not base.startswith(prefix):
        return None
    match = _OWNER.match(base[len(prefix) :])
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _process_state(pid: int) -> tuple[str, float | None] | None:
    """``(state letter, start time as a Unix time)`` of ``pid`` from /proc; None without /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except FileNotFoundError:
        return ("X", None)
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # after "pid (comm) "
    boot = _boot_time()
    try:
        start = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") if boot is not None else None
    except (IndexError, ValueError, OSError):
        start = None
    return fields[0], start


def _writer_alive(pid: int, last_written: float) -> bool:
    """Whether process ``pid`` of this host may still be writing a temp last written at
    ``last_written``: it exists, is not a zombie, and did not start after that time (a
    later process that got the same pid is not the writer)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    except OSError:
        return True
    state = _process_state(pid)
    if state is None:
        return True  # no /proc: it exists, that is all we can tell
    letter, start = state
    if letter in ("Z", "X"):
        return False
    return not (start is not None and start > last_written + _PID_REUSE_SLACK_S)


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries of ``path`` (``.tmp-<name>.*`` beside it) left by writers on this
    host that are no longer running; returns what was removed. Temporaries of live writers,
    of other hosts and without a writer id are kept (the last two are logged)."""
    path = Path(path)
    removed: list[Path] = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    prefix = f"{TEMP_PREFIX}{path.name}."
    host = _host()
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        owner = temp_owner(entry, path.name)
        if owner is None:
            if _LEGACY.match(entry.name[len(prefix) :]) is not None:
                log.warning(
                    "%s: leftover temporary without a writer id (an older version's); remove it "
                    "by hand if no job is writing %s",
                    entry,
                    path,
                )
            continue
        pid, owner_host = owner
        if owner_host != host:
            log.warning(
                "%s: leftover temporary of a writer on host %s (pid %d); it cannot be checked "
                "from %s: remove it by hand if that job is gone",
                entry, owner_host, pid, host,
            )  # fmt: skip
            continue
        try:
            last_written = entry.lstat().st_mtime
        except FileNotFoundError:
            continue
        if _writer_alive(pid, last_written):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("%s: cannot remove the leftover of dead writer %d (%s)", entry, pid, exc)
            continue
        log.info("removed %s, left by writer %d on %s, which is no longer running", entry, pid,
                 host)  # fmt: skip
        removed.append(entry)
    return removed


# --------------------------------------------------------------------------------------------
# write errors: full disk, read-only or unwritable folder
# --------------------------------------------------------------------------------------------
def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding ``path`` (or its nearest existing parent)."""
    path = _existing_ancestor(path)
    try:
        dev = path.stat().st_dev
        while path.parent != path and path.parent.stat().st_dev == dev:
            path = path.parent
    except OSError:
        pass
    return path


def _free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(_existing_ancestor(path))
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _concerns(exc: BaseException, path: Path) -> bool:
    """Whether an OS error is about writing ``path``: it names no file, or a file in the folder
    of ``path`` (its temporaries) or a folder on the way to it. An error about another file
    (an input that could not be read, say) is not turned into a write error of ``path``."""
    filename = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
    if filename is None:
        return True
    try:
        named = Path(os.fsdecode(filename)).absolute()
    except (TypeError, ValueError):
        return True
    target = path.absolute()
    return named == target.parent or target.parent in named.parents or named in target.parents


def _space_failure(exc: BaseException, path: Path) -> tuple[int, int | None] | None:
    """``(errno, bytes the failed write asked for or None)`` if ``exc`` or an exception in its
    cause/context chain is a full disk or quota while writing ``path``; None otherwise."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, NoSpaceError):
            return e.errno or errno.ENOSPC, e.needed
        if not _concerns(e, path):
            continue
        code = e.errno if isinstance(e, OSError) else None
        if code in (errno.ENOSPC, errno.EDQUOT):
            return code, None
        text = str(e)
        if "No space left on device" in text or "[errno 28]" in text:
            return errno.ENOSPC, None
        if "Disk quota exceeded" in text or "[errno 122]" in text:
            return errno.EDQUOT, None
        short = _SHORT_WRITE.search(text)
        if short is not None and isinstance(e, OSError):
            # numpy's C fwrite came back short without an errno: a full disk if it is full now
            requested = int(short.group(1))
            free = _free_bytes(path)
            if free is not None and free < requested:
                return errno.ENOSPC, requested
        stack += [e.__cause__, e.__context__]
    return None


def _unwritable(exc: BaseException, path: Path) -> int | None:
    code = exc.errno if isinstance(exc, OSError) and _concerns(exc, path) else None
    return code if code in (errno.EROFS, errno.EACCES, errno.EPERM) else None


def _write_error(
    exc: BaseException, path: Path, *, temp: str | None, needed: int | None = None
) -> WriteError | None:
    """The :class:`WriteError` to raise for ``exc`` raised while writing ``path``, or None
    when ``exc`` is not a write failure (then it propagates unchanged)."""
    if isinstance(exc, WriteError) and Path(exc.filename or "") == path:
        return None  # already says everything about this path
    space = _space_failure(exc, path)
    if space is not None:
        code, asked = space
        inner = ""
        if isinstance(exc, NoSpaceError) and exc.filename and Path(exc.filename) != path:
            inner = f" (at {Path(exc.filename).name})"
        needed = asked if asked is not None else needed
        free = _free_bytes(path)
        what = "disk quota exceeded" if code == errno.EDQUOT else "no space left"
        sizes = []
        if needed is not None:
            sizes.append(f"the write needed {needed} bytes ({_human(needed)})")
        if free is not None:
            sizes.append(f"{free} bytes ({_human(free)}) are free there")
        return NoSpaceError(
            f"{what} on {_mount_point(path)} while writing {path}{inner}"
            + (f": {', '.join(sizes)}" if sizes else "")
            + "; nothing was written under that name"
            + (f" (the partial temporary {temp} was removed)" if temp else "")
            + ". Free some space there (or move the results folder to a larger disk) and rerun.",
            path=path,
            needed=needed,
            free=free,
            code=code,
        )
    code = _unwritable(exc, path)
    if code is not None:
        folder = _existing_ancestor(path.parent)
        why = (
            f"{folder} is on a read-only filesystem (mounted at {_mount_point(folder)})"
            if code == errno.EROFS
            else f"{folder} is not writable by this user ({os.strerror(code)})"
        )
        return WriteError(
            f"cannot write {path}: {why}; make it writable or run the workflow in a writable "
            "folder",
            path=path,
            code=code,
        )
    return None


@contextlib.contextmanager
def _mapped_errors(
    path: Path, *, temp: str | None, needed: int | None = None, cleanup: Any = None
) -> Iterator[None]:
    """Turn a write failure into a WriteError naming ``path``; ``cleanup`` (removing the
    temporary) runs first, so the free space reported is what a rerun would have."""
    try:
        yield
    except Exception as exc:
        if cleanup is not None:
            cleanup()
        error = _write_error(exc, path, temp=temp, needed=needed)
        if error is None:
            raise
        raise error from exc


def _remove_file(path: Path) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()


def _remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _start_write(path: Path, *, directory: bool) -> Path:
    """Create the folder of ``path``, clean dead writers' temporaries of it and create this
    writer's own temporary file or folder (errors name ``path``)."""
    with _mapped_errors(path, temp=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        if directory:
            return Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
        os.close(fd)
        return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``.

    ``needed``: the size of what will be written, if known (only used in a full-disk message).
    On any failure the temporary file is removed; a full disk raises NoSpaceError and an
    unwritable folder WriteError, both naming ``path``."""
    path = Path(path)
    tmp_path = _start_write(path, directory=False)
    try:
        with _mapped_errors(
            path, temp="file", needed=needed, cleanup=lambda: _remove_file(tmp_path)
        ):
            yield tmp_path
            # mkstemp creates 0600; give the artifact the permissions a plain open() would
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
    finally:
        _remove_file(tmp_path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success it replaces ``path`` as a whole.

    On any failure the temporary folder is removed; a full disk raises NoSpaceError and an
    unwritable folder WriteError, both naming ``path``."""
    path = Path(path)
    tmp = _start_write(path, directory=True)
    try:
        with _mapped_errors(path, temp="folder", cleanup=lambda: _remove_tree(tmp)):
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; match what os.mkdir gives
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
    finally:
        _remove_tree(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path, needed=len(data)) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


class _Sink:
    """A writable that numpy does not take for a real file: it then writes with ``.write()``,
    whose OSError keeps its errno, instead of C ``fwrite``, whose short write on a full disk
    only says ``"N requested and M written"``. The bytes are the same."""

    def __init__(self, fh: Any):
        self._fh = fh

    def write(self, data: bytes) -> int:
        return self._fh.write(data)


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` atomically."""
    array = np.ascontiguousarray(array)
    header = BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    needed = len(header.getvalue()) + array.nbytes
    with atomic_path(path, needed=needed) as tmp, open(tmp, "wb") as fh:
        np.save(_Sink(fh), array, allow_pickle=False)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
