"""Error types. Every message names the culprit (key, file, value) and, where it helps, the fix."""

from __future__ import annotations

import errno as _errno
import os


class InvTransferError(Exception):
    """Base class for errors raised by invtransfer on bad input or broken artifacts."""


class ConfigError(InvTransferError, ValueError):
    """The workflow configuration is invalid (the message names the key)."""


class AssetError(InvTransferError, FileNotFoundError):
    """Input images (objects, backgrounds, CIFAR) are missing, unreadable or malformed."""


class DatasetIntegrityError(InvTransferError):
    """A materialised dataset, evaluation set or feature cache is incomplete, truncated or
    altered (the message names the file and the command that rebuilds it). ``path`` and
    ``problem``, when set, are the bad file and what is wrong with it, for reports that list
    several."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        problem: str | None = None,
    ):
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)
        self.problem = problem


class CheckpointError(InvTransferError):
    """A model checkpoint is corrupt or does not match the requested architecture."""


class WriteError(InvTransferError, OSError):
    """An output could not be written (read-only or unwritable folder, full disk); the message
    names the output and the cause, and nothing half-written is left under the output's name.

    An ``OSError`` (``errno`` set), so code that handles OS errors keeps working; ``str()`` is
    the message alone."""

    def __init__(self, message: str, *, path: str | os.PathLike[str], code: int | None = None):
        super().__init__(code, message, os.fspath(path))
        self.message = message

    def __str__(self) -> str:
        return self.message


class NoSpaceError(WriteError):
    """A write ran out of disk space or quota (``ENOSPC`` / ``EDQUOT``). ``needed`` is the size
    of the write that failed when known, ``free`` the bytes left on that filesystem."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str],
        needed: int | None = None,
        free: int | None = None,
        code: int = _errno.ENOSPC,
    ):
        super().__init__(message, path=path, code=code)
        self.needed = needed
        self.free = free
