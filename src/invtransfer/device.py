"""Device selection and logging set-up shared by every stage."""

from __future__ import annotations

import logging
import sys

import torch

__all__ = ["describe_device", "resolve_device", "setup_logging"]


def resolve_device(spec: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as given.

    Asking for CUDA on a machine without it is an error, never a silent fallback.
    """
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string, got {type(spec).__name__}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(
            f"device: unknown device {spec!r} (use auto, cpu, cuda or cuda:N)"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {spec!r} requested but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: {spec!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return dev


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def setup_logging(level: int = logging.INFO) -> None:
    """Log ``invtransfer.*`` messages to stderr (a rule's log file under Snakemake)."""
    root = logging.getLogger("invtransfer")
    if not any(getattr(h, "_invtransfer", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._invtransfer = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
