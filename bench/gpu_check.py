"""Every GPU check in one run (issue 15 §2): what ``bench/gpu_check.sh`` runs.

    bench/gpu_check.sh                 # on an NVIDIA H100/H200: all checks, ≤ 8 min
    bench/gpu_check.sh --dry           # CPU, tiny sizes: every step end to end (CI)
    bench/gpu_check.sh --out FILE.md   # default bench/gpu_check-<UTC date>[-N].md (+ a .json twin)
    bench/gpu_check.sh --only render pretrain --limit pretrain=200

Steps, each a child process (``bench/gpu_steps.py <step>``) with its own time limit, so a slow
or hanging step is killed and reported and the next one still runs:

1. ``transforms``: the tests that need CUDA (``pytest -m gpu``: transform kernels on CUDA equal
   the CPU, …); they skip on the CPU, so ``--dry`` only checks that they are found and run.
2. ``render``: Transforms-2D rendering on the device: the per-epoch renderer
   (``EpochRenderer``, what per-epoch training calls) on the TvO mix, the headline, judged
   against the goal ≥ 1M img/s (issue 13); and the batched kernels of ``invtransfer.transforms``
   alone (the 18-type mix, a typical set, each type).
3. ``per_epoch``: ResNet-18 pretraining (50k Transforms-2D images, 2 epochs) with per-epoch
   rendering on the device against the fixed dataset, side by side (``bench_render.
   training_times``); goal: within 10 % (issue 13).
4. ``pretrain``: ``bench/bench_training.py``'s full pretraining, ResNet-18, 50 epochs × 50k
   images; goal ≤ 45 s.
5. ``pipeline``: the workflow's features, probe (200 epochs) and sens (10,000 pairs) jobs for one
   paper-scale model on 50k/10k/10k images and a 2 × 10k twin evaluation set.
6. ``fig2``: ``figures/fig2.pdf`` of the quick preset through ``profiles/gpu`` on CUDA, from an
   empty copy of the workflow.

The report (Markdown, plus a JSON twin) is rewritten after every step, so a run that is cut
short still leaves what it measured. It starts with the machine (GPU, driver, CUDA, torch,
commit) and a summary table: status (pass / fail / timeout / skipped), seconds used, limit and
the measured number of every step. Exit status 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEPS_SCRIPT = ROOT / "bench" / "gpu_steps.py"
BUDGET_S = 480  # the whole check on a GPU machine: 8 minutes
DRY_BUDGET_S = 900  # --dry on a loaded 2-core CI machine


@dataclass
class Step:
    name: str
    title: str
    limit_s: float  # on a GPU machine (never more than what the budget has left)
    dry_limit_s: float
    args: list[str]  # options of gpu_steps.py on a GPU machine
    dry_args: list[str]  # options for --dry (tiny sizes, CPU)


def plan(repeats: int, gpu_jobs: int) -> list[Step]:
    """The checks in the order they run (most wanted first)."""
    r = ["--repeats", str(repeats)]
    return [
        Step("transforms", "CUDA-vs-CPU tests (pytest -m gpu)", 60, 240, [], []),
        Step(
            "render",
            "Transforms-2D rendering on the device",
            75,
            120,
            [*r, "--images", "16384", "--batch", "512", "8192"],
            [*r, "--images", "256", "--batch", "64", "128"],
        ),
        Step(
            "per_epoch",
            "per-epoch rendering vs fixed datasets (ResNet-18 pretraining)",
            90,
            120,
            [
                *r,
                "--arch",
                "resnet18",
                "--images",
                "50000",
                "--epochs",
                "2",
                "--batch",
                "512",
            ],
            [
                "--repeats",
                "1",
                "--arch",
                "cnn4",
                "--width",
                "16",
                "--images",
                "256",
                "--epochs",
                "1",
                "--batch",
                "64",
            ],
        ),
        Step(
            "pretrain",
            "pretraining benchmark (ResNet-18, 50 epochs × 50k)",
            180,  # 135.5 s on an H200 (2026-12-04: warm-up + 2 × 56.7 s); 150 left too little room
            120,
            [*r, "--arch", "resnet18", "--epochs", "50", "--images", "50000"],
            [*r, "--arch", "cnn4", "--epochs", "1", "--images", "256", "--eval-images", "64"],
        ),
        Step(
            "pipeline",
            "features + probe + sens of one paper-scale model",
            80,
            180,
            [*r, "--arch", "resnet18"],
            [
                *r,
                "--arch",
                "cnn4",
                "--train",
                "300",
                "--val",
                "100",
                "--test",
                "100",
                "--sens-images",
                "100",
                "--pairs",
                "200",
                "--probe-epochs",
                "3",
            ],
        ),
        Step(
            "fig2",
            "the quick preset's Fig 2 on CUDA (profiles/gpu)",
            300,  # last: in practice whatever the budget has left
            600,
            ["--gpu-jobs", str(gpu_jobs)],
            ["--gpu-jobs", "2"],
        ),
    ]


@dataclass
class Outcome:
    name: str
    title: str
    status: str = "not run"  # pass | fail | timeout | skipped | not run
    seconds: float = 0.0
    limit_s: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    log_tail: str = ""


def default_report_path(folder: Path, started: datetime) -> Path:
    """``gpu_check-<UTC date>.md`` in ``folder``, or ``-2``, ``-3``, … after the date when a report
    (or its .json twin) of that day is already there: a second check never overwrites the first."""
    stem, n = f"gpu_check-{started:%Y-%m-%d}", 1
    path = folder / f"{stem}.md"
    while path.exists() or path.with_suffix(".json").exists():
        n += 1
        path = folder / f"{stem}-{n}.md"
    return path


def run_step(
    cmd: list[str], limit_s: float, log_path: Path, env: dict[str, str]
) -> tuple[str, float]:
    """Run ``cmd`` in its own session with a wall-clock limit; on timeout the whole process group
    (the step and anything it started, e.g. Snakemake's jobs) gets SIGTERM, then SIGKILL after
    10 s. Returns (``"exited <rc>"`` or ``"timeout"``, seconds)."""
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=max(limit_s, 0.1))
            return f"exited {rc}", time.perf_counter() - t0
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            return "timeout", time.perf_counter() - t0


def _number(result: dict[str, Any]) -> str:
    value, std = result.get("value"), result.get("std")
    if value is None:
        return "—"
    digits = 0 if isinstance(value, int) or abs(value) >= 1000 else 2
    text = f"{value:,.{digits}f}" + (f" ± {std:,.{digits}f}" if std is not None else "")
    return f"{text} {result.get('unit', '')}".strip()


def _goal(result: dict[str, Any], dry: bool) -> str:
    goal = result.get("goal")
    if not goal:
        return "—"
    if dry:
        return f"{goal['text']}: n/a (dry run)"
    return f"{goal['text']}: " + {True: "met", False: "NOT met", None: "not judged"}[goal["met"]]


def render_report(facts: dict[str, Any], outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    dry = meta["dry"]
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in facts.get("gpus", []))
    lines = [
        f"# GPU check, {facts.get('date_utc', meta['started'])}",
        "",
        f"`bench/gpu_check.sh {' '.join(meta['argv'])}`"
        + (
            " (**dry run**: CPU, tiny sizes; checks the script, measures nothing about a GPU)"
            if dry
            else ""
        ),
        "",
        "| machine | |",
        "|---|---|",
        f"| GPU | {gpus or 'none'} |",
        f"| driver, CUDA (torch build), cuDNN | {facts.get('driver')}, {facts.get('cuda_build')}, "
        f"{facts.get('cudnn', '—')} |",
        f"| CUDA_VISIBLE_DEVICES | {facts.get('cuda_visible_devices')} |",
        f"| torch, torchvision, Snakemake, Python | {facts.get('torch')}, "
        f"{facts.get('torchvision', '—')}, {facts.get('snakemake', '—')}, {facts.get('python')} |",
        f"| CPU | {facts.get('cpu')} |",
        f"| host | {facts.get('host')} |",
        f"| commit | {facts.get('commit')} (sources {facts.get('source_hash')}) |",
        f"| budget | {meta['budget_s']:.0f} s; used {meta['used_s']:.0f} s |",
        "",
        "## Summary",
        "",
        "| step | status | time s | limit s | measured | goal |",
        "|---|---|---:|---:|---|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.name} | {o.status} | {o.seconds:.1f} | {o.limit_s:.0f} | "
            f"{_number(o.result)} | {_goal(o.result, dry)} |"
        )
    for o in outcomes:
        lines += [
            "",
            f"## {o.name}: {o.title}",
            "",
            f"**{o.status}** in {o.seconds:.1f} s "
            f"(limit {o.limit_s:.0f} s). {o.result.get('summary', '')}".rstrip(),
        ]
        if o.result.get("details"):
            lines += ["", o.result["details"]]
        if o.status not in ("pass", "not run") and o.log_tail:
            lines += ["", "End of the step's log:", "", "```", o.log_tail, "```"]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        prog="bench/gpu_check.sh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dry", action="store_true", help="CPU, tiny sizes (CI)")
    p.add_argument(
        "--out",
        type=Path,
        help="report path (default bench/gpu_check-<date>.md, -2, -3, … if taken)",
    )
    p.add_argument(
        "--budget",
        type=float,
        help=f"seconds for all steps (default {BUDGET_S}; --dry {DRY_BUDGET_S})",
    )
    p.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps")
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="STEP=S",
        help="another time limit for a step (repeatable)",
    )
    p.add_argument("--repeats", type=int, default=2, help="timed runs per measurement")
    p.add_argument(
        "--fig2-gpu-jobs",
        type=int,
        default=8,
        help="GPU jobs side by side in the Fig 2 run (--resources gpu=N)",
    )
    p.add_argument("--workdir", type=Path, help="keep the steps' files here (default: a temp dir)")
    args = p.parse_args(argv)

    steps = plan(args.repeats, args.fig2_gpu_jobs)
    names = [s.name for s in steps]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        p.error(f"--only: unknown steps {unknown} (steps: {', '.join(names)})")
    limits: dict[str, float] = {}
    for item in args.limit:
        name, _, value = item.partition("=")
        if name not in names or not value:
            p.error(f"--limit {item!r}: use STEP=SECONDS with a step of {', '.join(names)}")
        limits[name] = float(value)
    budget = args.budget or (DRY_BUDGET_S if args.dry else BUDGET_S)
    started = datetime.now(UTC)
    out = args.out or default_report_path(ROOT / "bench", started)
    out = out if out.is_absolute() else Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        x for x in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if x
    )
    env.setdefault("PYTHONUNBUFFERED", "1")

    tmp = None
    if args.workdir:
        work = args.workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="gpu_check-")
        work = Path(tmp.name)
    t_start = time.perf_counter()
    common = [sys.executable, str(STEPS_SCRIPT)]

    header_json = work / "header.json"
    run_step([*common, "header", "--json", str(header_json)], 120, work / "header.log", env)
    facts = json.loads(header_json.read_text())["facts"] if header_json.exists() else {}
    if not args.dry and not facts.get("gpus"):
        print(
            "error: no CUDA device visible to torch (see the header step's log: "
            f"{work / 'header.log'}); use --dry to check the script on a CPU",
            file=sys.stderr,
        )
        return 2

    outcomes = [
        Outcome(
            s.name, s.title, limit_s=limits.get(s.name, s.dry_limit_s if args.dry else s.limit_s)
        )
        for s in steps
    ]
    meta = {
        "dry": args.dry,
        "argv": argv,
        "started": f"{started:%Y-%m-%d %H:%M UTC}",
        "budget_s": budget,
        "used_s": 0.0,
    }

    def save() -> None:
        meta["used_s"] = time.perf_counter() - t_start
        _write(out, render_report(facts, outcomes, meta))
        record = {"meta": meta, "facts": facts, "steps": [o.__dict__ for o in outcomes]}
        _write(out.with_suffix(".json"), json.dumps(record, indent=2, default=str) + "\n")

    save()
    for step, o in zip(steps, outcomes, strict=True):
        if args.only and step.name not in args.only:
            o.status = "skipped"
            o.result = {"summary": "not selected (--only)"}
            continue
        left = budget - (time.perf_counter() - t_start)
        if left < 5:
            o.status = "skipped"
            o.result = {"summary": f"budget of {budget:.0f} s used up before this step"}
            save()
            continue
        o.limit_s = min(o.limit_s, left)
        result_json = work / f"{step.name}.json"
        result_json.unlink(missing_ok=True)
        cmd = [
            *common,
            step.name,
            "--json",
            str(result_json),
            "--workdir",
            str(work / step.name),
            "--time-limit",
            f"{o.limit_s:.0f}",
            *(step.dry_args if args.dry else step.args),
        ]
        if args.dry:
            cmd.append("--dry")
        print(f"[gpu_check] {step.name}: {step.title} (limit {o.limit_s:.0f} s)", flush=True)
        log_path = work / f"{step.name}.log"
        how, o.seconds = run_step(cmd, o.limit_s, log_path, env)
        if result_json.exists():
            o.result = json.loads(result_json.read_text())
        if how == "timeout":
            o.status = "timeout"
            o.result.setdefault("summary", f"killed after its limit of {o.limit_s:.0f} s")
        elif how == "exited 0" and o.result.get("ok"):
            o.status = "pass"
        else:
            o.status = "fail"
            o.result.setdefault("summary", f"the step {how} without a result")
        if o.status != "pass":
            with contextlib.suppress(OSError):
                o.log_tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        print(
            f"[gpu_check] {step.name}: {o.status} in {o.seconds:.1f} s: "
            f"{o.result.get('summary', '')}",
            flush=True,
        )
        save()
    save()
    print(f"[gpu_check] report: {out}", flush=True)
    if tmp is not None:
        tmp.cleanup()
    ran = [o for o in outcomes if not (args.only and o.name not in args.only)]
    return 0 if all(o.status == "pass" for o in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
