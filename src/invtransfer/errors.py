"""Error types. Every message names the culprit (key, file, value) and, where it helps, the fix."""

from __future__ import annotations


class InvTransferError(Exception):
    """Base class for errors raised by invtransfer on bad input or broken artifacts."""


class ConfigError(InvTransferError, ValueError):
    """The workflow configuration is invalid (the message names the key)."""


class AssetError(InvTransferError, FileNotFoundError):
    """Input images (objects, backgrounds, CIFAR) are missing, unreadable or malformed."""


class DatasetIntegrityError(InvTransferError):
    """A materialised dataset is incomplete, truncated or altered (the message names the file)."""


class CheckpointError(InvTransferError):
    """A model checkpoint is corrupt or does not match the requested architecture."""
