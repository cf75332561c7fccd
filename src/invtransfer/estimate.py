"""What a target costs before it runs (issue 15 §1): ``python -m invtransfer plan``.

:class:`~invtransfer.jobgraph.JobGraph` lists the jobs of the targets; this module turns each
into a workload (:func:`workloads`) and prices it:

- **training** (``pretrain``, ``finetune``): training images × epochs, plus the validation and
  test passes; **forward passes** (``features``, ``sens``): images through a model.
  - *this machine*: at the training rate measured by :func:`invtransfer.costs.calibrate` on the
    device the jobs would use (a forward pass counted as 1/3 of a training step, as in
    :mod:`invtransfer.costs`). Calibrations are cached per machine, device, architecture and
    batch size (:func:`cached_calibrations`; :func:`cache_path` says where).
  - *a named GPU* (``--gpu H100``): at a training throughput measured on that GPU and listed in
    ``bench/RESULTS.md`` (:func:`measured_gpu_rates`) where there is one; else FLOPs
    (:func:`invtransfer.costs.forward_gflop`) over the GPU's bf16 peak × a utilisation derived from
    another architecture measured on that GPU, else the **assumed**
    :data:`invtransfer.costs.ASSUMED_UTILIZATION`. The output says which.
- **rendering** (``materialize``, ``evalset``): images at the one-thread rate measured in
  ``bench/RESULTS.md`` (:data:`RENDER_IMG_PER_S`, not calibrated here); it runs on the CPU either way.
- **not counted**: linear probes on cached features (seconds each), the asset checks, tidy
  tables and figures, and each job's start-up (a few seconds; the warm runner saves most of it).

Times are serial: one job after the other on this machine or on one GPU. :func:`long_run_warning`
is what the workflow prints before its first job when a local run would exceed
:data:`LONG_RUN_HOURS`.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import math
import os
import platform
import re
import socket
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invtransfer.experiments import Plan
from invtransfer.jobgraph import Job

__all__ = [
    "ENV_CACHE",
    "ENV_WARNING",
    "LONG_RUN_HOURS",
    "RENDER_IMG_PER_S",
    "Estimate",
    "GpuRate",
    "Workload",
    "cache_path",
    "cached_calibrations",
    "estimate",
    "format_duration",
    "format_estimate",
    "long_run_warning",
    "measured_gpu_rates",
    "split_counts",
    "workloads",
]

#: A local run estimated above this many hours gets a warning before its first job.
LONG_RUN_HOURS = 3.0
#: ``INVTRANSFER_COST_WARNING=0`` silences that warning.
ENV_WARNING = "INVTRANSFER_COST_WARNING"
#: Where calibrations are cached (default ``$XDG_CACHE_HOME/invtransfer``, else ``~/.cache/...``).
ENV_CACHE = "INVTRANSFER_CACHE_DIR"
#: Transforms-2D rendering, images/s on one thread ("typical" set, bench/RESULTS.md "Datasets").
RENDER_IMG_PER_S = 5166.0
#: A short calibration on the CPU: a small batch, 1 warm-up and 3 timed steps (a few seconds per
#: architecture even for ResNet-50). On a GPU the jobs' own batch size is timed.
CPU_CALIBRATION_BATCH = 16
CALIBRATION_WARMUP = 1
CALIBRATION_STEPS = 3
CACHE_FORMAT = "invtransfer.calibration/1"
#: Interpreter start-up + imports per job, cold (bench/RESULTS.md, "Quick preset": 3.5-4 s).
JOB_STARTUP_S = (3.5, 4.0)
TRAIN_FORWARD_FACTOR = 3.0  # a training step ~ 3 forward passes (invtransfer.costs)

#: Cheaper routes named by the warning and by ``plan``.
ROUTES = (
    "the quick preset: snakemake --profile profiles/quick (laptop scale, ~20 min on 2 cores)",
    "a GPU: snakemake --profile profiles/gpu [targets] (profiles/gpu/README.md)",
    "a SLURM cluster: snakemake --profile profiles/slurm [targets] (docs/CLUSTER.md)",
)

TRAINING_RULES = ("pretrain", "finetune")
FORWARD_RULES = ("features", "sens")
RENDER_RULES = ("materialize", "evalset")
NOT_COUNTED = {
    "probe": "linear probes on cached features (seconds each)",
    "check_assets": "asset checks",
    "check_cifar": "asset checks",
    "collect": "tidy tables",
    "figure": "figures and tables",
    "table": "figures and tables",
    "scorecard": "figures and tables",
    "example_figure": "figures and tables",
}


# -- workloads ----------------------------------------------------------------------------------
CIFAR_TRAIN_PER_CLASS = {"cifar10": 5000, "cifar100": 500}
CIFAR_TEST_PER_CLASS = {"cifar10": 1000, "cifar100": 100}
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}


def split_counts(spec: Mapping[str, Any]) -> dict[str, int]:
    """Images per split of a dataset spec, without building it (CIFAR counts from the official
    per-class numbers, the ``val_fraction`` split, ``samples_per_class`` and ``splits``)."""
    from invtransfer.datasets.spec import canonicalize_spec

    spec = canonicalize_spec(dict(spec))
    if spec["kind"] not in ("cifar", "cifar_objects"):
        return {s: int(n) for s, n in spec["splits"].items()}
    family = spec.get("dataset", "cifar10")
    classes = spec.get("classes") or list(range(CIFAR_CLASSES[family]))
    per_train = CIFAR_TRAIN_PER_CLASS[family]
    n_val = round(per_train * spec["val_fraction"])
    available = {
        "train": per_train - n_val,
        "val": n_val,
        "test": CIFAR_TEST_PER_CLASS[family],
    }
    per_class = spec.get("samples_per_class") or {}
    out = {}
    for split, count in spec["splits"].items():
        cap = per_class.get(split)
        n = len(classes) * (available[split] if cap is None else min(cap, available[split]))
        if isinstance(count, float):
            n = round(count * n)
        elif count is not None:
            n = min(int(count), n)
        out[split] = n
    return out


@dataclass(frozen=True)
class Workload:
    """What one job computes: training and forward passes of one architecture, and/or
    rendered images. ``trained`` = training images × epochs; ``forward`` = images through the
    model without a backward pass (validation each epoch, test, features, sens)."""

    job: Job
    arch: str | None = None
    arch_kwargs: tuple[tuple[str, Any], ...] = ()
    batch_size: int = 0
    image_size: int = 32
    trained: int = 0
    forward: int = 0
    rendered: int = 0
    models: int = 0  # pretrainings (pretrain) or fine-tuning runs (finetune)


def _kwargs(mapping: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in mapping.items()))


def workloads(plan: Plan, jobs: Iterable[Job]) -> list[Workload]:
    """The workloads of ``jobs`` (jobs of uncounted rules give none; a sens job gives one per
    architecture it evaluates)."""
    counts: dict[str, dict[str, int]] = {}

    def sizes(dataset: str) -> dict[str, int]:
        if dataset not in counts:
            counts[dataset] = split_counts(plan.datasets[dataset])
        return counts[dataset]

    member_counts: dict[tuple[str, str], int] = {}

    def member_images(evalset: str, member: str) -> int:
        if (evalset, member) not in member_counts:
            spec = plan.evalsets[evalset][member]
            member_counts[(evalset, member)] = sum(split_counts(spec).values())
        return member_counts[(evalset, member)]

    def image_size(dataset: str) -> int:
        return int(plan.datasets[dataset].get("image_size", 32))

    out: list[Workload] = []
    for job in jobs:
        if job.rule == "pretrain":
            m = plan.models[job.key]
            n = sizes(m.dataset)
            out.append(
                Workload(
                    job,
                    m.arch,
                    _kwargs(m.arch_kwargs),
                    m.batch_size,
                    image_size(m.dataset),
                    trained=n["train"] * m.epochs,
                    forward=n.get("val", 0) * m.epochs + n.get("test", 0),
                    models=1,
                )
            )
        elif job.rule == "finetune":
            ft = plan.finetunes[job.key]
            m = plan.models[ft.model]
            n = sizes(ft.dataset)
            trained = forward = 0
            for run in ft.runs.values():
                k = run.n_samples
                k = round(k * n["train"]) if isinstance(k, float) else min(int(k), n["train"])
                trained += k * run.epochs
                forward += n.get("val", 0) * run.epochs + n.get("test", 0)
            batch = max(r.batch_size for r in ft.runs.values())
            out.append(
                Workload(
                    job,
                    m.arch,
                    _kwargs(m.arch_kwargs),
                    batch,
                    image_size(ft.dataset),
                    trained=trained,
                    forward=forward,
                    models=len(ft.runs),
                )
            )
        elif job.rule == "features":
            m = plan.models[job.key]
            images = sum(sum(sizes(d).values()) for d in plan.features[job.key].datasets)
            out.append(
                Workload(
                    job,
                    m.arch,
                    _kwargs(m.arch_kwargs),
                    m.batch_size,
                    image_size(m.dataset),
                    forward=images,
                )
            )
        elif job.rule == "sens":
            per_arch: dict[tuple[str, tuple], int] = defaultdict(int)
            group = plan.sens[job.key]
            for model, pairs in group.models.items():
                m = plan.models[model]
                members = {(p.evalset, x) for p in pairs for x in (p.a, p.b)}
                images = sum(member_images(e, x) for e, x in members)
                per_arch[(m.arch, _kwargs(m.arch_kwargs))] += images
            for (arch, kw), images in per_arch.items():
                out.append(Workload(job, arch, kw, 1024, 32, forward=images))
        elif job.rule == "materialize":
            out.append(Workload(job, rendered=sum(sizes(job.key).values())))
        elif job.rule == "evalset":
            images = sum(member_images(job.key, x) for x in plan.evalsets[job.key])
            out.append(Workload(job, rendered=images))
    return out


# -- calibrations, cached per machine ------------------------------------------------------------
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


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key(device: Any) -> str:
    """What a calibration depends on besides the model: host, CPU, device, torch, threads."""
    import torch

    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        where = f"cuda {torch.cuda.get_device_name(idx)}"
    else:
        where = f"cpu {_cpu_name()} x{os.cpu_count()} threads={torch.get_num_threads()}"
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


def _calibrations(models: list, device: str, isolate: bool) -> dict:
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


# -- GPU throughput measured in bench/RESULTS.md -------------------------------------------------
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


# -- the estimate --------------------------------------------------------------------------------
@dataclass
class ArchLine:
    """One architecture's training and forward work in an estimate."""

    arch: str
    models: int = 0  # pretrainings
    finetunes: int = 0  # fine-tuning runs
    trained: int = 0  # training images × epochs
    forward: int = 0
    flop: float = 0.0
    local_s: float | None = None
    gpu_s: float | None = None
    local_rate: str = ""  # how local_s was obtained
    gpu_rate: str = ""  # how gpu_s was obtained


@dataclass
class Estimate:
    """The cost of a set of jobs (see the module docstring for what is counted and how)."""

    counts: dict[str, int]
    archs: dict[str, ArchLine]
    rendered: int
    render_s: float
    device: str
    gpu: str | None
    cache: str | None
    lower_bound: bool = False  # True: some architectures were not calibrated (see long_run_warning)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def local_s(self) -> float:
        return sum(a.local_s or 0.0 for a in self.archs.values()) + self.render_s

    @property
    def gpu_s(self) -> float | None:
        """Seconds of GPU work (rendering runs on the CPU beside it and is not included)."""
        if self.gpu is None:
            return None
        return sum(a.gpu_s or 0.0 for a in self.archs.values())

    @property
    def jobs(self) -> int:
        return sum(self.counts.values())


def _gflop(arch: str, kw: tuple, image_size: int, memo: dict) -> float:
    from invtransfer.costs import forward_gflop

    key = (arch, kw, image_size)
    if key not in memo:
        memo[key] = forward_gflop(arch, image_size=image_size, **dict(kw))
    return memo[key]


def _gpu_seconds(
    loads: Sequence[Workload], gpu: str, rates: Sequence[GpuRate], memo: dict
) -> tuple[float, str]:
    """Seconds of ``loads`` (one architecture) on ``gpu`` and how they were obtained."""
    from invtransfer.costs import ASSUMED_UTILIZATION, GPUS

    if gpu not in GPUS:
        raise ValueError(f"--gpu: unknown GPU {gpu!r}; known: {', '.join(GPUS)}")
    arch = loads[0].arch
    peak = GPUS[gpu].bf16_dense_tflops * 1e12
    on_gpu = [r for r in rates if r.gpu.upper() == gpu.upper()]
    same = [r for r in on_gpu if r.arch == arch]
    steps = sum(w.trained + w.forward / TRAIN_FORWARD_FACTOR for w in loads)
    if same:
        rate = same[0].img_per_s
        return steps / rate, f"{rate:,.0f} img/s measured on {gpu} (bench/RESULTS.md)"
    flop = sum(
        (TRAIN_FORWARD_FACTOR * w.trained + w.forward)
        * _gflop(w.arch, w.arch_kwargs, w.image_size, memo)
        * 1e9
        for w in loads
    )
    if on_gpu:
        ref = on_gpu[0]
        util = ref.img_per_s * TRAIN_FORWARD_FACTOR * _gflop(ref.arch, (), 32, memo) * 1e9 / peak
        how = f"FLOPs at {util:.0%} of peak, the utilisation measured for {ref.arch} on {gpu}"
    else:
        util = ASSUMED_UTILIZATION
        how = (
            f"FLOPs at an assumed {util:.0%} of the bf16 peak (no measurement in bench/RESULTS.md)"
        )
    return flop / (peak * util), how


def estimate(
    plan: Plan,
    jobs: Sequence[Job],
    *,
    device: str = "auto",
    gpu: str | None = None,
    local: bool = True,
    stop_after_s: float | None = None,
    isolate: bool = False,
    results_md: Path | None = None,
) -> Estimate:
    """Price ``jobs`` on this machine's ``device`` (``local``; calibrated) and on ``gpu``.

    ``stop_after_s``: calibrate architectures in order of their FLOPs only until the local
    total passes this many seconds (the rest is left out; ``lower_bound`` is then True).
    """
    from invtransfer.device import resolve_device
    from invtransfer.jobgraph import JobGraph

    counts = JobGraph.counts(jobs)
    loads = workloads(plan, jobs)
    memo: dict = {}
    by_arch: dict[str, list[Workload]] = defaultdict(list)
    rendered = 0
    for w in loads:
        rendered += w.rendered
        if w.arch is not None:
            by_arch[w.arch].append(w)
    lines: dict[str, ArchLine] = {}
    for arch, ws in by_arch.items():
        line = ArchLine(arch)
        for w in ws:
            if w.job.rule == "pretrain":
                line.models += w.models
            elif w.job.rule == "finetune":
                line.finetunes += w.models
            line.trained += w.trained
            line.forward += w.forward
            line.flop += (
                (TRAIN_FORWARD_FACTOR * w.trained + w.forward)
                * _gflop(arch, w.arch_kwargs, w.image_size, memo)
                * 1e9
            )
        lines[arch] = line
    lines = dict(sorted(lines.items(), key=lambda kv: -kv[1].flop))
    render_s = rendered / RENDER_IMG_PER_S
    dev = "not estimated"
    if local:
        import torch

        resolved = resolve_device(device)
        dev = (
            f"cpu, {torch.get_num_threads()} torch threads"
            if resolved.type == "cpu"
            else str(resolved)
        )
    est = Estimate(
        counts, lines, rendered, render_s, dev, gpu, str(cache_path()) if local else None
    )
    if gpu is not None:
        rates = measured_gpu_rates(results_md)
        for arch, line in lines.items():
            line.gpu_s, line.gpu_rate = _gpu_seconds(by_arch[arch], gpu, rates, memo)
    if local:
        total = render_s
        for arch, line in lines.items():
            if stop_after_s is not None and total > stop_after_s:
                est.lower_bound = True
                break
            ws = by_arch[arch]
            # the most common (kwargs, batch) of this architecture stands for all its jobs
            (kw, batch), _ = Counter((w.arch_kwargs, w.batch_size) for w in ws).most_common(1)[0]
            rate = _calibrations([(arch, kw, batch)], device, isolate)[(arch, kw, batch)]
            steps = sum(w.trained + w.forward / TRAIN_FORWARD_FACTOR for w in ws)
            line.local_s = steps / rate.img_per_s
            line.local_rate = (
                f"{rate.img_per_s:,.1f} img/s ({'cached' if rate.cached else 'measured now'}, "
                f"batch {rate.batch_size})"
            )
            total += line.local_s
    skipped = sorted({NOT_COUNTED[j.rule] for j in jobs if j.rule in NOT_COUNTED})
    lo, hi = (n * len(jobs) for n in JOB_STARTUP_S)
    est.notes.append(
        "not counted: "
        + "".join(f"{s}, " for s in skipped)
        + f"each job's start-up ({JOB_STARTUP_S[0]:g}-{JOB_STARTUP_S[1]:g} s a job cold on the "
        f"2-core VM, bench/RESULTS.md: {format_duration(lo)}-{format_duration(hi)} for "
        f"{len(jobs):,} jobs; local runs save most of it with the warm job runner)"
    )
    return est


# -- output --------------------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.4 h``, ``12 days``."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def format_estimate(est: Estimate, *, targets: Sequence[str] = (), label: str = "") -> str:
    """The ``plan`` report: jobs per rule, training per architecture, time here and on a GPU."""
    out = []
    head = ", ".join(targets) if targets else "all (every figure and table the config builds)"
    out.append(f"invtransfer plan: {head}" + (f"  [{label}]" if label else ""))
    out.append("")
    out.append("Jobs per rule (as if nothing were built yet; Snakemake skips finished ones):")
    width = max([len(r) for r in est.counts] + [5])
    for rule, n in est.counts.items():
        out.append(f"  {rule:<{width}}  {n:>7,}")
    out.append(f"  {'total':<{width}}  {sum(est.counts.values()):>7,}")
    out.append("")
    if est.archs:
        out.append("Training and forward passes per architecture:")
        rows = [
            (
                "arch",
                "models",
                "fine-tunings",
                "trained images x epochs",
                "forward images",
                "PFLOP",
                "this machine",
                *(["on " + est.gpu] if est.gpu else []),
            )
        ]
        for a in est.archs.values():
            rows.append(
                (
                    a.arch,
                    f"{a.models:,}",
                    f"{a.finetunes:,}",
                    f"{a.trained:,}",
                    f"{a.forward:,}",
                    f"{a.flop / 1e15:,.2f}",
                    format_duration(a.local_s) if a.local_s is not None else "-",
                    *([format_duration(a.gpu_s or 0.0)] if est.gpu else []),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            out.append(
                "  "
                + "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        out.append("")
    if est.rendered:
        out.append(
            f"Rendering (materialize, evalset): {est.rendered:,} images, "
            f"{format_duration(est.render_s)} at {RENDER_IMG_PER_S:,.0f} img/s on one thread "
            "(bench/RESULTS.md, not calibrated here); on the CPU either way"
        )
        out.append("")
    out.append("Estimated time, one job after another:")
    if est.cache is not None:
        bound = "at least " if est.lower_bound else ""
        out.append(f"  this machine ({est.device}): {bound}{format_duration(est.local_s)}")
        for a in est.archs.values():
            if a.local_rate:
                out.append(f"    {a.arch}: calibrated {a.local_rate}")
        out.append(f"    calibration cache: {est.cache} (delete it to measure again)")
    if est.gpu is not None:
        out.append(
            f"  one {est.gpu}: {format_duration(est.gpu_s or 0.0)} of GPU work"
            + (
                f", plus rendering on the host's CPU ({format_duration(est.render_s)} on one "
                "thread, beside the GPU jobs)"
                if est.rendered
                else ""
            )
        )
        for a in est.archs.values():
            out.append(f"    {a.arch}: {a.gpu_rate}")
    for note in est.notes:
        out.append(f"  {note}")
    return "\n".join(out) + "\n"


def long_run_warning(
    plan: Plan,
    jobs: Sequence[Job],
    *,
    device: str = "auto",
    threshold_h: float = LONG_RUN_HOURS,
    isolate: bool = True,
) -> str | None:
    """The warning a local run prints before its first job when ``jobs`` would take more than
    ``threshold_h`` hours on this machine's ``device``; None otherwise or when
    ``$INVTRANSFER_COST_WARNING`` is ``0``. Calibrates only until the threshold is passed."""
    if os.environ.get(ENV_WARNING, "1") == "0":
        return None
    limit = threshold_h * 3600
    est = estimate(plan, jobs, device=device, stop_after_s=limit, isolate=isolate)
    if est.local_s <= limit:
        return None
    gpu = estimate(plan, jobs, gpu="H100", local=False)
    n_models = sum(a.models for a in est.archs.values())
    n_ft = sum(a.finetunes for a in est.archs.values())
    bound = "at least " if est.lower_bound else "about "
    lines = [
        f"invtransfer: this run would take {bound}{format_duration(est.local_s)} on this "
        f"machine ({est.device}): {sum(est.counts.values()):,} jobs, {n_models:,} pretrainings, "
        f"{n_ft:,} fine-tuning runs (estimated from a measured calibration; "
        f"`python -m invtransfer plan [targets]` for the breakdown).",
        f"  One H100 would take about {format_duration(gpu.gpu_s or 0.0)} of GPU work "
        f"({_gpu_basis(gpu)}). Cheaper routes:",
        *(f"  - {r}" for r in ROUTES),
        f"  The run goes on. Silence this warning with {ENV_WARNING}=0.",
    ]
    return "\n".join(lines)


def _gpu_basis(est: Estimate) -> str:
    """How the GPU estimate was made, in one phrase (the first architecture's way, and whether
    others differ)."""
    ways = list(dict.fromkeys(a.gpu_rate for a in est.archs.values()))
    if not ways:
        return "no training"
    return ways[0] + ("; other architectures otherwise, see `plan --gpu H100`" if ways[1:] else "")


def warn_before_run(
    workflow: Any,
    config: Mapping[str, Any],
    plan: Plan,
    rule_names: Mapping[str, str] | None = None,
) -> str | None:
    """The Snakefile's ``onstart`` hook: print :func:`long_run_warning` for the jobs this run
    will execute (Snakemake's DAG), when they run on this machine. ``rule_names`` maps the
    rules' names in the DAG to this workflow's (``it_pretrain`` -> ``pretrain`` when a host
    workflow imports the rules with a prefix); rules it does not map are the host's own. Returns
    the message."""
    from invtransfer.jobgraph import snakemake_job

    if not workflow.local_exec or getattr(workflow, "touch", False):
        return None
    if os.environ.get(ENV_WARNING, "1") == "0":
        return None
    try:
        jobs = [
            j
            for j in (
                snakemake_job(
                    (rule_names or {}).get(job.rule.name, job.rule.name), job.wildcards_dict
                )
                for job in workflow.dag.needrun_jobs()
            )
            if j is not None
        ]
        message = long_run_warning(plan, jobs, device=str(config["device"]))
    except Exception as exc:  # the warning is advice: it never stops a run
        message = f"invtransfer: no cost estimate for this run ({type(exc).__name__}: {exc})"
    if message:
        print(message, file=sys.stderr, flush=True)
    return message
