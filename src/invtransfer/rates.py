"""The measured training rates the cost estimate (:mod:`invtransfer.estimate`) rests on.

- **this machine**: :func:`cached_calibrations` — the rate :func:`invtransfer.costs.calibrate`
  measures for an architecture and batch size on a device, cached per machine, device, torch
  version and thread count in ``calibration.json`` (:func:`cache_path`), so each is measured
  once; :func:`isolated_calibrations` does it in a fresh process on a GPU.
- **a named GPU**: :func:`measured_gpu_rates` — training throughputs measured on GPUs and listed
  in ``bench/RESULTS.md`` (section "Cost estimates").
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_FORMAT",
    "CALIBRATION_STEPS",
    "CPU_CALIBRATION_BATCH",
    "ENV_CACHE",
    "CachedRate",
    "GpuRate",
    "cache_path",
    "cached_calibrations",
    "isolated_calibrations",
    "machine_key",
    "measured_gpu_rates",
]

#: Where calibrations are cached (default ``$XDG_CACHE_HOME/invtransfer``, else ``~/.cache/...``).
ENV_CACHE = "INVTRANSFER_CACHE_DIR"
#: A short calibration on the CPU: a small batch, 1 warm-up and 3 timed steps (a few seconds per
#: architecture even for ResNet-50). On a GPU the jobs' own batch size is timed.
CPU_CALIBRATION_BATCH = 16
CALIBRATION_WARMUP = 1
CALIBRATION_STEPS = 3
CACHE_FORMAT = "invtransfer.calibration/1"


def cache_path() -> Path:
    """``$INVTRANSFER_CACHE_DIR/calibration.json`` (default ``$XDG_CACHE_HOME/invtransfer`` or
    ``~/.cache/invtransfer``)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        root = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "invtransfer"
    return root / "calibration.json"


def machine_key(device: Any) -> str:
    """What a calibration depends on besides the model: host, CPU, device, torch, threads."""
    import torch

    from invtransfer.device import cpu_name

    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        where = f"cuda {torch.cuda.get_device_name(idx)}"
    else:
        where = f"cpu {cpu_name()} x{os.cpu_count()} threads={torch.get_num_threads()}"
    return f"{socket.gethostname()} | {where} | torch {torch.__version__}"


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: calibration cache unreadable ({exc}); delete it (it is rebuilt) or set "
            f"{ENV_CACHE} to another folder"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        raise ValueError(
            f"{path}: not an invtransfer calibration cache (format {CACHE_FORMAT}); delete it"
        )
    return dict(data.get("entries", {}))


def _write_cache(path: Path, entries: Mapping[str, Any]) -> None:
    from invtransfer.io import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"format": CACHE_FORMAT, "entries": dict(entries)})


@dataclass(frozen=True)
class CachedRate:
    """A measured training rate (images/s) and where it came from."""

    arch: str
    arch_kwargs: tuple[tuple[str, Any], ...]
    batch_size: int
    img_per_s: float
    img_per_s_std: float
    device: str
    cached: bool  # True: read from the cache; False: measured now


def cached_calibrations(
    models: Iterable[tuple[str, tuple[tuple[str, Any], ...], int]],
    *,
    device: str = "auto",
    path: Path | None = None,
) -> dict[tuple[str, tuple, int], CachedRate]:
    """The measured training rate of each ``(arch, arch_kwargs, batch_size)`` on ``device``:
    from the cache when this machine measured it before, else measured now by
    :func:`invtransfer.costs.calibrate` (on the CPU at a batch of at most
    :data:`CPU_CALIBRATION_BATCH`) and added to the cache."""
    from invtransfer.costs import calibrate
    from invtransfer.device import resolve_bf16, resolve_device

    dev = resolve_device(device)
    path = cache_path() if path is None else Path(path)
    entries = _read_cache(path)
    host = machine_key(dev)
    bf16 = resolve_bf16("auto", dev)
    out: dict[tuple[str, tuple, int], CachedRate] = {}
    changed = False
    for arch, kw, batch in dict.fromkeys(models):
        timed_batch = min(batch, CPU_CALIBRATION_BATCH) if dev.type == "cpu" else batch
        key = f"{host} | {arch} {json.dumps(dict(kw), sort_keys=True)} | batch {timed_batch}"
        key += f" | bf16={bf16}"
        entry = entries.get(key)
        cached = entry is not None
        if not cached:
            cal = calibrate(
                [arch],
                device=dev,
                arch_kwargs={arch: dict(kw)},
                batch_size=timed_batch,
                warmup=CALIBRATION_WARMUP,
                steps=CALIBRATION_STEPS,
            )[arch]
            entry = {
                "img_per_s": cal.img_per_s,
                "img_per_s_std": cal.img_per_s_std,
                "steps": cal.steps,
                "device": cal.device,
                "user": getpass.getuser(),
            }
            entries[key] = entry
            changed = True
        out[(arch, kw, batch)] = CachedRate(
            arch,
            kw,
            timed_batch,
            float(entry["img_per_s"]),
            float(entry["img_per_s_std"]),
            str(entry["device"]),
            cached,
        )
    if changed:
        _write_cache(path, entries)
    return out


def _calibrate_in_child(models: list, device: str, path: str) -> dict:
    return cached_calibrations(models, device=device, path=Path(path))


def isolated_calibrations(models: list, device: str, isolate: bool) -> dict:
    """:func:`cached_calibrations`, in a fresh (spawned) process when ``isolate`` and the device
    is a GPU: the workflow's main process must not hold a CUDA context for the whole run."""
    import torch

    if isolate and device != "cpu" and torch.cuda.is_available():
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
            return pool.submit(_calibrate_in_child, models, device, str(cache_path())).result()
    return cached_calibrations(models, device=device)


@dataclass(frozen=True)
class GpuRate:
    """A training throughput measured on a GPU (a row of bench/RESULTS.md)."""

    gpu: str
    arch: str
    img_per_s: float
    source: str


def default_results_md() -> Path:
    """The checkout's ``bench/RESULTS.md`` (absent in an installed copy of the package)."""
    return Path(__file__).resolve().parents[2] / "bench" / "RESULTS.md"


_HEADER = re.compile(r"^\|\s*gpu\s*\|\s*arch\s*\|\s*training img/s\s*\|", re.IGNORECASE)


def measured_gpu_rates(path: Path | None = None) -> list[GpuRate]:
    """Rows of the table in ``bench/RESULTS.md`` whose header starts ``| gpu | arch | training
    img/s |`` (section "Cost estimates"): measured training throughput per GPU and architecture.
    No file or no rows: an empty list (the estimate then uses the assumed utilisation)."""
    path = default_results_md() if path is None else Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for i, line in enumerate(lines):
        if not _HEADER.match(line.strip()):
            continue
        for row in lines[i + 2 :]:
            if not row.strip().startswith("|"):
                break
            cells = [c.strip().strip("*") for c in row.strip().strip("|").split("|")]
            if len(cells) < 3:
                continue
            try:
                rate = float(cells[2].replace(",", ""))
            except ValueError:
                continue  # "not measured yet" and the like
            out.append(GpuRate(cells[0], cells[1], rate, f"{path.name}: {row.strip()}"))
    return out
