"""Helpers shared by the benchmark scripts (imported as ``_common``: each script is run as
``python bench/<script>.py``, which puts this folder first on ``sys.path``).

Importing it also puts ``tests/`` on ``sys.path``: the helpers the benchmarks share with the
tests (``support.workflow.copy_workflow``, ``support.fake_cifar``) exist once, there.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from invtransfer.device import cpu_name  # (re-exported for the bench scripts)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.workflow import copy_workflow  # noqa: E402  (re-exported for the bench scripts)

__all__ = [
    "ROOT",
    "Timer",
    "copy_workflow",
    "cpu_name",
    "fmt",
    "machine",
    "mean_std",
    "run_children",
]


def machine() -> str:
    """One line about the host: CPU, visible CPUs, Python, torch, load average now."""
    import torch

    return (
        f"{cpu_name()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at start"
    )


def fmt(values: list[float], digits: int) -> str:
    """``mean±std`` (sample std) of repeated measurements; the value itself for one."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.{digits}f}±{std:.{digits}f}"


def run_children(script: str, config: dict[str, Any], repeats: int, name: str) -> list[dict]:
    """Run ``script --child <config json>`` ``repeats`` times, each in a fresh interpreter; each
    child prints its measurement as JSON on its last stdout line."""
    runs = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, script, "--child", json.dumps(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"{name}: child failed\n{proc.stderr}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return runs


class Timer:
    """Seconds of the work inside the ``with`` block: wall clock on the CPU; on CUDA, events
    recorded after a ``torch.cuda.synchronize()`` and read after another, so queued kernels are
    counted and earlier work is not (the airbench way)."""

    def __init__(self, device: Any):
        self.cuda = getattr(device, "type", str(device)).startswith("cuda")
        self.seconds = float("nan")

    def __enter__(self) -> Timer:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            self._end.record()
            torch.cuda.synchronize()
            self.seconds = self._start.elapsed_time(self._end) / 1000.0
        else:
            self.seconds = time.perf_counter() - self._t0


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
