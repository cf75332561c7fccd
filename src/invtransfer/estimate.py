"""What a target costs before it runs (issue 15 §1): ``python -m invtransfer plan``.

:class:`~invtransfer.jobgraph.JobGraph` lists the jobs of the targets;
:func:`invtransfer.workloads.workloads` says what each computes; this module prices them:

- **training** (``pretrain``, ``finetune``): training images × epochs, plus the validation and
  test passes; **forward passes** (``features``, ``sens``): images through a model.
  - *this machine*: at the training rate measured by :func:`invtransfer.costs.calibrate` on the
    device the jobs would use (a forward pass counted as 1/3 of a training step, as in
    :mod:`invtransfer.costs`). Calibrations are cached per machine, device, architecture and
    batch size (:func:`invtransfer.rates.cached_calibrations`; ``rates.cache_path`` says where).
  - *a named GPU* (``--gpu H100``): at a training throughput measured on that GPU and listed in
    ``bench/RESULTS.md`` (:func:`invtransfer.rates.measured_gpu_rates`) where there is one; else FLOPs
    (:func:`invtransfer.costs.forward_gflop`) over the GPU's bf16 peak × a utilisation derived from
    another architecture measured on that GPU, else from a measurement on another GPU (the same
    architecture first; a measured share of the peak beats a guess), else the **assumed**
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
import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invtransfer.costs import TRAIN_FORWARD_FACTOR
from invtransfer.experiments import Plan
from invtransfer.jobgraph import Job
from invtransfer.rates import GpuRate, cache_path, isolated_calibrations, measured_gpu_rates
from invtransfer.workloads import Workload, workloads

__all__ = [
    "ENV_WARNING",
    "LONG_RUN_HOURS",
    "RENDER_IMG_PER_S",
    "Estimate",
    "estimate",
    "format_duration",
    "format_estimate",
    "long_run_warning",
]

#: A local run estimated above this many hours gets a warning before its first job.
LONG_RUN_HOURS = 3.0
#: ``INVTRANSFER_COST_WARNING=0`` silences that warning.
ENV_WARNING = "INVTRANSFER_COST_WARNING"
#: Transforms-2D rendering, images/s on one thread ("typical" set, bench/RESULTS.md "Datasets").
RENDER_IMG_PER_S = 5166.0
#: Interpreter start-up + imports per job, cold (bench/RESULTS.md, "Quick preset": 3.5-4 s).
JOB_STARTUP_S = (3.5, 4.0)

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
    # another architecture on this GPU, else this architecture (then any) on another GPU
    elsewhere = [r for r in rates if r.gpu.upper() != gpu.upper() and r.gpu.upper() in GPUS]
    elsewhere.sort(key=lambda r: r.arch != arch)
    if on_gpu or elsewhere:
        ref = (on_gpu or elsewhere)[0]
        ref_peak = GPUS[ref.gpu.upper()].bf16_dense_tflops * 1e12
        util = ref.img_per_s * TRAIN_FORWARD_FACTOR * _gflop(ref.arch, (), 32, memo) * 1e9
        util /= ref_peak
        how = f"FLOPs at {util:.0%} of peak, the utilisation measured for {ref.arch} on {ref.gpu}"
        if not on_gpu:
            how += f" (none measured on {gpu})"
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
            rate = isolated_calibrations([(arch, kw, batch)], device, isolate)[(arch, kw, batch)]
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
