"""The steps of ``bench/gpu_check.sh``, one per subcommand; each writes its measurement as JSON.

Run by ``bench/gpu_check.py`` (one child process per step, with its own time limit), or alone:

    python bench/gpu_steps.py header    --json out.json
    python bench/gpu_steps.py transforms --json out.json [--dry]
    python bench/gpu_steps.py render    --json out.json --device cuda [--images 65536 --batch 512 8192]
    python bench/gpu_steps.py per_epoch --json out.json --device cuda [--images 50000 --epochs 2]
    python bench/gpu_steps.py pretrain  --json out.json --device cuda [--repeats 2]
    python bench/gpu_steps.py pipeline  --json out.json --device cuda --workdir DIR
    python bench/gpu_steps.py fig2      --json out.json --device cuda --workdir DIR [--gpu-jobs 8]

Every result has ``ok`` (the step ran and its checks hold), ``value`` / ``std`` / ``unit`` (the
headline number), ``summary`` (one line), ``goal`` (``{"text", "met"}``; ``met`` is ``None``
when a dry run cannot judge it) and ``details`` (Markdown). Timings follow airbench: warm-up
runs excluded, mean ± sample std over ``--repeats`` runs, on CUDA timed with events after a
synchronize around only the claimed work (``_common.Timer``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import ROOT, Timer, copy_workflow, cpu_name, mean_std

Result = dict[str, Any]
STARTED = time.perf_counter()

# The goals (issue 13: rendering on the device; issue 15 / bench_training: pretraining).
RENDER_GOAL = 1_000_000  # images/s, Transforms-2D mix on the GPU
PRETRAIN_GOAL_S = 45.0  # ResNet-18, 50 epochs × 50k images, on an H100
PER_EPOCH_GOAL = 1.10  # per-epoch / fixed pretraining time, ResNet-18 on the GPU (issue 13)
TYPICAL = ["rotate", "hue", "blur"]  # the "typical" set of the dataset benchmarks


def _fmt(mean: float, std: float, digits: int = 1) -> str:
    return f"{mean:,.{digits}f} ± {std:,.{digits}f}"


def _run(cmd: list[str], timeout: float = 30, cwd: Path | None = None) -> str:
    """stdout of a small helper command, or '' when it is missing or fails."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=True
        )
        return proc.stdout.strip()
    return ""


# -- header ------------------------------------------------------------------------------------
def source_hash() -> str:
    """SHA-256 (12 hex) of the package, bench and workflow sources: names the code even in a
    copy without ``.git``."""
    import hashlib

    h = hashlib.sha256()
    for folder in ("src", "bench", "workflow"):
        for f in sorted((ROOT / folder).rglob("*")):
            if f.is_file() and f.suffix in (".py", ".smk", ".yaml", ".sh"):
                h.update(str(f.relative_to(ROOT)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def machine_facts() -> dict[str, Any]:
    """GPU name(s), driver, CUDA, torch and code version: the header of the report."""
    import torch

    commit = _run(["git", "rev-parse", "HEAD"], cwd=ROOT)
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT))
    facts: dict[str, Any] = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": socket.gethostname(),
        "cpu": f"{cpu_name()}, {os.cpu_count()} CPUs visible",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "commit": (commit + (" (+ uncommitted changes)" if dirty else "")) if commit else "no git",
        "source_hash": source_hash(),
        "gpus": [],
    }
    with contextlib.suppress(ImportError):
        import torchvision

        facts["torchvision"] = torchvision.__version__
    with contextlib.suppress(ImportError):
        import snakemake

        facts["snakemake"] = snakemake.__version__
    if torch.cuda.is_available():
        facts["cudnn"] = torch.backends.cudnn.version()
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            facts["gpus"].append(
                {"index": i, "name": props.name, "memory_gib": round(props.total_memory / 2**30)}
            )
    smi = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    facts["driver"] = smi.splitlines()[0] if smi else "none (no nvidia-smi)"
    facts["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)")
    return facts


def step_header(args: argparse.Namespace) -> Result:
    facts = machine_facts()
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in facts["gpus"]) or "none"
    return {"ok": True, "facts": facts, "summary": gpus}


# -- 1. the CUDA-vs-CPU tests ----------------------------------------------------------------------
def parse_pytest_summary(text: str) -> dict[str, int]:
    """Counts from pytest's last line, e.g. '18 passed, 2 skipped, 5 deselected in 3.1s'."""
    counts = {k: 0 for k in ("passed", "failed", "skipped", "errors", "deselected", "xfailed")}
    lines = [ln for ln in text.splitlines() if re.search(r"\bin [\d.]+s\b", ln)]
    if lines:
        for n, word in re.findall(
            r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed)", lines[-1]
        ):
            counts["errors" if word.startswith("error") else word] += int(n)
    return counts


def step_transforms(args: argparse.Namespace) -> Result:
    """``pytest -m gpu``: every test that needs CUDA (they skip on a machine without it)."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-m",
        "gpu",
        "-p",
        "no:cacheprovider",
        "tests",
        "--ignore=tests/slurm",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    counts = parse_pytest_summary(proc.stdout)
    ran = counts["passed"] + counts["failed"] + counts["errors"] + counts["skipped"]
    if args.dry:  # no CUDA: every test skips; the check is that they are found and run cleanly
        ok = proc.returncode == 0 and ran > 0
        goal_met = None
    else:
        ok = proc.returncode == 0 and counts["passed"] > 0 and counts["skipped"] == 0
        goal_met = ok
    summary = (
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['errors']} errors, "
        f"{counts['skipped']} skipped in {seconds:.1f} s"
    )
    tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
    return {
        "ok": ok,
        "value": ran,
        "std": None,
        "unit": f"tests run ({counts['passed']} passed, {counts['skipped']} skipped, "
        f"{counts['failed'] + counts['errors']} failed)",
        "counts": counts,
        "seconds": seconds,
        "summary": summary,
        "goal": {"text": "every CUDA test passes, none skipped", "met": goal_met},
        "details": f"`python {' '.join(cmd[1:])}`\n\n```\n{tail}\n```",
    }


# -- 2. rendering on the device --------------------------------------------------------------------
class _Renderer:
    """Transforms-2D images rendered on the device from resident parts: 30 bundle objects'
    prototype layers and a 867-crop background bank stay on the device; per batch the classes,
    background indices and transformation parameters of its sample indices are drawn
    (``CounterRNG``, as ``datasets.t2d`` does), the object layers are transformed and composited
    and the result is quantised to ``uint8``."""

    def __init__(self, device: Any, classes: int = 30, bank_size: int = 867):
        import torch

        from invtransfer.assets import background_bank, load_background_photos, load_objects
        from invtransfer.datasets.t2d import object_prototypes
        from invtransfer.transforms import TransformOptions

        objects = load_objects({"source": "bundle", "count": classes})
        photos = load_background_photos({"source": "bundle"})
        bank = background_bank(photos, size=32, count=bank_size, seed=0, split="train")
        self.device = device
        self.options = TransformOptions()
        self.prototypes = object_prototypes([o.rgba for o in objects], 32).to(device)
        self.bank = torch.from_numpy(bank).to(device).float().div_(255.0)
        self.classes = classes

    def draw(self, names: list[str], first: int, n: int) -> tuple[Any, Any, list[dict]]:
        """Classes, background indices (on the device) and per-type parameters of ``n`` samples."""
        import numpy as np
        import torch

        from invtransfer.datasets.t2d import assign_backgrounds, assign_classes
        from invtransfer.rng import CounterRNG, derive_seed
        from invtransfer.transforms import TRANSFORMS

        idx = np.arange(first, first + n, dtype=np.int64)
        labels = torch.from_numpy(assign_classes(0, "train", idx, self.classes))
        backgrounds = torch.from_numpy(assign_backgrounds(0, "train", idx, self.bank.shape[0]))
        rng = CounterRNG(derive_seed(0, "train", "transforms"), idx)
        params = []
        for name in names:
            drawn = TRANSFORMS[name].sample(rng.child(name), self.options)
            params.append({k: v.to(self.device, non_blocking=True) for k, v in drawn.items()})
        return labels.to(self.device), backgrounds.to(self.device), params

    def render(self, names: list[str], labels: Any, backgrounds: Any, params: list[dict]) -> Any:
        import torch

        from invtransfer.datasets.compose import composite
        from invtransfer.transforms import TRANSFORMS

        layer = self.prototypes[labels]
        for name, p in zip(names, params, strict=True):
            layer = TRANSFORMS[name].apply(layer, p, self.options)
        images = composite(layer, self.bank[backgrounds])
        return images.mul_(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)


def _render_rates(
    r: _Renderer, sets: list[list[str]], images: int, batch: int, repeats: int, draw_in_time: bool
) -> list[float]:
    """img/s of ``repeats`` passes, each rendering ``images`` images per transformation set in
    batches of ``batch`` (sets in turn, like the datasets of an experiment grid); one untimed
    warm-up pass first. ``draw_in_time``: the parameter draws (CPU) and their copy to the device
    are part of the timed work; otherwise they are made before the clock starts."""
    batches = [(names, first) for names in sets for first in range(0, images, batch)]

    def one_pass() -> float:
        if draw_in_time:
            with Timer(r.device) as t:
                for names, first in batches:
                    r.render(names, *r.draw(names, first, min(batch, images - first)))
        else:
            drawn = [
                (names, r.draw(names, first, min(batch, images - first)))
                for names, first in batches
            ]
            with Timer(r.device) as t:
                for names, d in drawn:
                    r.render(names, *d)
        return len(sets) * images / t.seconds

    one_pass()  # warm-up: allocator, cuDNN/kernel caches
    return [one_pass() for _ in range(repeats)]


def step_render(args: argparse.Namespace) -> Result:
    import torch

    from invtransfer.transforms import TRANSFORMS

    device = torch.device(args.device)
    torch.manual_seed(0)
    r = _Renderer(device)
    singles = [[name] for name in TRANSFORMS]
    rows, mix = [], {}
    big = max(args.batch)
    for batch in args.batch:
        for label, sets in (("mix (18 types, one each)", singles), ("rotate+hue+blur", [TYPICAL])):
            for draw in (False, True):
                rates = _render_rates(r, sets, args.images, batch, args.repeats, draw)
                mean, std = mean_std(rates)
                rows.append((label, batch, "yes" if draw else "no", mean, std))
                if label.startswith("mix"):
                    mix[(batch, draw)] = (mean, std)
    per_type = []
    for name in TRANSFORMS:
        mean, std = mean_std(_render_rates(r, [[name]], args.images, big, args.repeats, False))
        per_type.append((name, mean, std))
    # the per-epoch renderer itself (datasets.render.EpochRenderer) on the TvO mix, as training
    # uses it: bench_render.render_throughput, one warm-up and args.repeats timed epochs per set;
    # a dry run times the first set only (each set builds and checks its own renderer)
    import bench_render

    tvo = bench_render.tvo_mix()
    renderer = bench_render.render_throughput(
        args.device, args.images, big, args.repeats + 1, sets=tvo[:1] if args.dry else tvo
    )
    head_mean, head_std = renderer["mix"], 0.0
    lines = [
        f"{args.images:,} images per set and pass, {args.repeats} timed passes after a warm-up, "
        f"30 bundle objects on a 867-crop photo bank, 32 px, on {device}. *draws timed*: the "
        "per-sample class/background/parameter draws (CPU, `CounterRNG`) and their copy to the "
        "device are inside the timed work; otherwise only the device work (gather, transform, "
        "composite, uint8) is.",
        "",
        "| transformations | batch | draws timed | img/s (mean ± std) |",
        "|---|---:|---|---:|",
        *(f"| {lab} | {b:,} | {d} | {_fmt(m, s, 0)} |" for lab, b, d, m, s in rows),
        "",
        f"The per-epoch renderer (`EpochRenderer`, what per-epoch training calls), batch "
        f"{big:,}, {args.images:,}-image training split per set, {args.repeats} timed epochs "
        "after a warm-up, each a fresh permutation and fresh draws (class, background and "
        "parameter draws included):",
        "",
        "| TvO transformation set | img/s |",
        "|---|---:|",
        *(
            f"| {'**the mix**' if name == 'mix' else name} | {rate:,.0f} |"
            for name, rate in renderer.items()
        ),
        "",
        f"Per type (batch {big:,}, device work only):",
        "",
        "| transformation | img/s (mean ± std) |",
        "|---|---:|",
        *(f"| {name} | {_fmt(m, s, 0)} |" for name, m, s in per_type),
    ]
    cuda = device.type == "cuda"
    return {
        "ok": all(math.isfinite(m) and m > 0 for *_, m, _s in rows)
        and all(math.isfinite(v) and v > 0 for v in renderer.values()),
        "value": head_mean,
        "std": head_std,
        "unit": f"img/s (per-epoch renderer, TvO mix, batch {big:,})",
        "summary": f"per-epoch renderer {head_mean:,.0f} img/s on the TvO mix at batch {big:,}; "
        f"kernels alone: 18-type mix {_fmt(*mix[(big, False)], 0)} img/s, with draws "
        f"{_fmt(*mix[(big, True)], 0)} img/s",
        "renderer": renderer,
        "goal": {
            "text": f"≥ {RENDER_GOAL:,} img/s (issue 13)",
            "met": (head_mean >= RENDER_GOAL) if cuda and not args.dry else None,
        },
        "rows": [
            dict(zip(("set", "batch", "draws_timed", "mean", "std"), row, strict=True))
            for row in rows
        ],
        "per_type": {name: {"mean": m, "std": s} for name, m, s in per_type},
        "details": "\n".join(lines),
    }


# -- 3. per-epoch rendering against fixed datasets, pretraining -----------------------------------
def step_per_epoch(args: argparse.Namespace) -> Result:
    """``bench_render.training_times``: whole pretraining calls with ``rendering="fixed"`` and
    ``"per-epoch"`` side by side on the device (issue 13: within 10 % for ResNet-18 on a GPU)."""
    import bench_render

    res = bench_render.training_times(
        args.device, args.arch, args.width, args.images, args.epochs, args.batch[0],
        args.repeats, progress=lambda line: print(line, flush=True),
    )  # fmt: skip
    ratios = res["ratio_wall"]
    mean, std = mean_std(ratios)
    cuda = args.device.startswith("cuda")
    rows = [
        f"| {mode} | {_fmt(*mean_std(res['wall_s'][mode]))} | "
        f"{mean_std(res['test_accuracy'][mode])[0]:.3f} |"
        for mode in ("fixed", "per-epoch")
    ]
    details = "\n".join(
        [
            f"`bench_render.training_times`: {args.arch} {res['arch_kwargs']}, "
            f"{args.images:,} Transforms-2D training images ({'+'.join(res['transforms'])}), "
            f"{args.epochs} epochs, batch {args.batch[0]}, on {res['device']}; a 1-epoch warm-up "
            f"run, then {len(ratios)} repeats of both settings, alternating which goes first; "
            "each time is a whole `pretrain()` call (dataset loading, the renderer's build and "
            "checks, training, evaluation, the run folder).",
            "",
            "| rendering | wall s (mean ± std) | test accuracy |",
            "|---|---:|---:|",
            *rows,
            "",
            f"per-epoch / fixed per repeat: {', '.join(f'{r:.3f}' for r in ratios)}",
        ]
    )
    return {
        "ok": bool(ratios) and all(math.isfinite(r) and r > 0 for r in ratios),
        "value": mean,
        "std": std,
        "unit": f"× fixed-dataset time ({args.arch}, {args.epochs} ep × {args.images:,})",
        "summary": f"per-epoch rendering {_fmt(mean, std, 3)} × the fixed-dataset pretraining "
        f"time ({args.arch}, {args.epochs} epochs × {args.images:,})",
        "goal": {
            "text": f"≤ {PER_EPOCH_GOAL:.2f} × fixed (ResNet-18, GPU; issue 13)",
            "met": (mean <= PER_EPOCH_GOAL)
            if cuda and args.arch == "resnet18" and not args.dry
            else None,
        },
        "result": res,
        "details": details,
    }


# -- 4. the pretraining benchmark --------------------------------------------------------------
def step_pretrain(args: argparse.Namespace) -> Result:
    """bench_training.py's full-pretraining benchmark (the ``--gpu-only`` measurement)."""
    import bench_training

    out = Path(args.workdir) / "pretrain.json"
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    argv = [
        "--pretrain-only",
        "--device",
        args.device,
        "--gpu-arch",
        args.arch,
        "--gpu-epochs",
        str(args.epochs),
        "--gpu-images",
        str(args.images),
        "--gpu-eval-images",
        str(args.eval_images),
        "--repeats",
        str(args.repeats),
        "--threads",
        "1" if args.dry else str(os.cpu_count() or 1),
        "--json",
        str(out),
    ]
    if args.time_limit:  # leave room for start-up and the data: fewer runs rather than none
        argv += ["--max-seconds", f"{args.time_limit - (time.perf_counter() - STARTED) - 15:.0f}"]
    rc = bench_training.main(argv)
    res = json.loads(out.read_text())["gpu_pretrain"] if rc == 0 and out.exists() else {}
    mean, std = res.get("seconds_mean", float("nan")), res.get("seconds_std", float("nan"))
    paper = args.arch == "resnet18" and args.epochs == 50 and args.images == 50_000
    cuda = args.device.startswith("cuda")
    details = (
        f"`python bench/bench_training.py {' '.join(argv[:-2])}`: {args.arch}, {args.epochs} "
        f"epochs × {args.images:,} synthetic images (+ {args.eval_images:,} val and test), batch "
        "512, the whole `train_model` call timed (per-epoch validation and the resume checkpoints "
        f"included: {res.get('checkpoints', '?')}), "
        "a 1-epoch warm-up run excluded.\n\n"
        f"| quantity | value |\n|---|---|\n"
        f"| wall time per pretraining | {_fmt(mean, std)} s over {len(res.get('runs', []))} runs |\n"
        f"| runs | {', '.join(f'{s:.1f}' for s in res.get('runs', []))} s |\n"
        f"| warm-up run (1 epoch, excluded) | {res.get('warmup_s', float('nan')):.1f} s |\n"
        f"| training steps only (last run) | {res.get('train_time_s', float('nan')):.1f} s, "
        f"{res.get('img_per_s', float('nan')):,.0f} img/s |\n"
        f"| test accuracy (last run) | {res.get('test_accuracy', float('nan')):.4f} |\n"
        f"| device, bf16, compile | {res.get('device')}, {res.get('bf16')}, {res.get('compile')} |"
    )
    return {
        "ok": rc == 0 and math.isfinite(mean) and mean > 0,
        "value": mean,
        "std": std,
        "unit": f"s per pretraining ({args.arch}, {args.epochs} ep × {args.images:,})",
        "summary": f"{_fmt(mean, std)} s per {args.arch} pretraining ({args.epochs} epochs × "
        f"{args.images:,}), {res.get('img_per_s', float('nan')):,.0f} img/s in training steps",
        "goal": {
            "text": f"≤ {PRETRAIN_GOAL_S:.0f} s (ResNet-18, 50 epochs × 50k, H100)",
            "met": (mean <= PRETRAIN_GOAL_S) if cuda and paper and not args.dry else None,
        },
        "result": res,
        "details": details,
    }


# -- 5. features + probe + sens of one paper-scale model ------------------------------------------
def _deadline(args: argparse.Namespace, share: float = 1.0) -> float:
    """When a step should stop repeating measurements: ``share`` of what its --time-limit has
    left now, minus a margin for writing the result (infinite without a limit)."""
    if not args.time_limit:
        return math.inf
    left = args.time_limit - (time.perf_counter() - STARTED) - 10
    return time.perf_counter() + share * left


def _timed_runs(
    device: Any, repeats: int, fn: Any, warmup: Any | None = None, deadline: float = math.inf
) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn(run)`` after one untimed ``(warmup or fn)(-1)``;
    fewer (at least one) when another would end after ``deadline``."""
    (warmup or fn)(-1)
    times: list[float] = []
    for run in range(repeats):
        if times and time.perf_counter() + times[-1] > deadline:
            break
        with Timer(device) as t:
            fn(run)
        times.append(t.seconds)
    return times


def step_pipeline(args: argparse.Namespace) -> Result:
    """The workflow's features, probe and sens jobs (``invtransfer.steps``) for one model, on a
    Transforms-2D dataset of the paper's size and a twin evaluation set."""
    import pandas as pd
    import torch

    from invtransfer import steps
    from invtransfer.checkpoint import save_model
    from invtransfer.datasets.builders import materialize
    from invtransfer.io import read_json
    from invtransfer.models import build_model

    work = Path(args.workdir)
    if work.exists():
        shutil.rmtree(work)
    device = torch.device(args.device)
    threads = os.cpu_count() or 1
    base = {"kind": "t2d", "objects": {"source": "bundle", "count": 30}, "seed": 0}
    splits = {"train": args.train, "val": args.val, "test": args.test}
    t0 = time.perf_counter()
    materialize(
        {**base, "transforms": ["rotate"], "splits": splits},
        work / "data" / "target",
        threads=threads,
        progress=False,
    )
    members = {
        f"rotate.{twin}": {
            **base,
            "transforms": ["rotate"],
            "splits": {"test": args.sens_images},
            "seed": 1,
            "transform_seed": 1 + i,
        }
        for i, twin in enumerate("ab")
    }
    steps.build_evalset(members, work / "evalsets" / "ev", threads=threads)
    data_s = time.perf_counter() - t0

    model_path = work / "models" / "m" / "model.pt"
    save_model(model_path, build_model(args.arch, 30, seed=0))  # random init: timing only
    runtime = {"device": args.device}
    n_images = args.train + args.val + args.test

    def features(run: int) -> None:
        steps.extract_features(
            model_path, [work / "data" / "target"], work / f"features-{run}", runtime=runtime
        )

    feat_s = _timed_runs(device, args.repeats, features, deadline=_deadline(args, 1 / 4))
    feats = work / "features-0"
    job = {
        "model": "m",  # the features' model (its folder name), checked by the probe step
        "datasets": ["target"],
        "epochs": args.probe_epochs,
        "batch_size": 512,
        "lr": 1e-3,
        "seed": 0,
    }

    def probe(run: int, epochs: int = args.probe_epochs) -> None:
        steps.probe_features(
            {**job, "epochs": epochs}, feats, work / f"probes-{run}", runtime=runtime
        )

    probe_s = _timed_runs(
        device,
        args.repeats,
        probe,
        warmup=lambda run: probe(run, 2),
        deadline=_deadline(args, 3 / 4),
    )
    pair = {
        "eval": "in_dist",
        "target_transform": "rotate",
        "evalset": "ev",
        "a": "rotate.a",
        "b": "rotate.b",
    }

    def sens(run: int) -> None:
        steps.sens_models(
            {"models": {"m": [pair]}},
            [model_path],
            [work / "evalsets" / "ev"],
            work / f"sens-{run}",
            sens={"pairs": args.pairs},
            runtime=runtime,
        )

    sens_s = _timed_runs(device, args.repeats, sens, deadline=_deadline(args))
    metrics = read_json(work / "probes-0" / "target" / "metrics.json")
    manifest = read_json(feats / "target" / "manifest.json")
    sens_value = float(pd.read_csv(work / "sens-0" / "m.csv")["sens"][0])
    (fm, fsd), (pm, psd), (sm, ssd) = mean_std(feat_s), mean_std(probe_s), mean_std(sens_s)
    total = fm + pm + sm
    details = "\n".join(
        [
            f"One {args.arch} (random init, 30 classes; timings do not depend on the weights) through "
            f"the workflow's job functions (`invtransfer.steps`, runtime device `{args.device}`): "
            f"a rotate dataset of {args.train:,}/{args.val:,}/{args.test:,} images and a twin "
            f"evaluation set of 2 × {args.sens_images:,}, generated first on {threads} CPU threads "
            f"in {data_s:.1f} s (not timed below). Each job: one warm-up call excluded (probe: 2 "
            f"epochs), then up to {args.repeats} timed calls (n: fewer where the step's time "
            "limit would be passed), files read and written as in a workflow job.",
            "",
            "| job | what | seconds (mean ± std) | n | rate |",
            "|---|---|---:|---:|---:|",
            f"| features | {n_images:,} images → {manifest['feature_dim']}-d | {_fmt(fm, fsd, 2)} | "
            f"{len(feat_s)} | {n_images / fm:,.0f} img/s |",
            f"| probe | {args.probe_epochs} epochs, batch 512, on the cached features | "
            f"{_fmt(pm, psd, 2)} | {len(probe_s)} | {args.probe_epochs / pm:,.1f} epochs/s |",
            f"| sens | 2 × {args.sens_images:,} images, {args.pairs:,} pairs | {_fmt(sm, ssd, 2)} | "
            f"{len(sens_s)} | |",
            f"| all three | | {total:.2f} | | |",
            "",
            f"Probe test accuracy {metrics['test_accuracy']:.4f} (random backbone), sens "
            f"{sens_value:.4f}; device recorded: {metrics['device']}.",
        ]
    )
    return {
        "ok": all(math.isfinite(x) and x > 0 for x in (fm, pm, sm)),
        "value": total,
        "std": None,
        "unit": "s (features + probe + sens, one model)",
        "summary": f"features {_fmt(fm, fsd, 2)} s, probe {_fmt(pm, psd, 2)} s, sens "
        f"{_fmt(sm, ssd, 2)} s (data generation {data_s:.1f} s, untimed)",
        "goal": None,
        "seconds": {"features": feat_s, "probe": probe_s, "sens": sens_s, "data": data_s},
        "details": details,
    }


# -- 6. the quick preset's Fig 2 ------------------------------------------------------------------
DRY_FIG2 = """# gpu_check --dry: the tiny preset cut down to the fewest jobs that still build Fig 2
seeds: 1
experiments:
  tvo:
    class_relationships: [disjoint]
    pt_samples: {t2d: [400]}
"""


def step_fig2(args: argparse.Namespace) -> Result:
    """``figures/fig2.pdf`` from an empty copy of the workflow, through ``profiles/gpu``."""
    import pandas as pd

    work = Path(args.workdir)
    if work.exists():
        shutil.rmtree(work)
    copy_workflow(work)
    target = "figures/fig2.pdf"
    device = "cpu" if args.dry else args.device  # where the models must have been trained
    env = dict(os.environ)
    if args.dry:  # device auto with 2 pretend cards: the jobs take card slots and run on the CPU
        env.update(INVTRANSFER_FAKE_GPUS="2", INVTRANSFER_GPU_SLOT_DIR=str(work / "gpu-slots"))
    # profiles/gpu for the resources; the preset through `config: preset=...` (a second
    # --profile would replace the first, and --config must repeat the preset it keeps)
    preset = ["--profile", "profiles/gpu"]
    if args.dry:
        (work / "gpu-check-dry.yaml").write_text(DRY_FIG2)
        preset += ["--configfile", "gpu-check-dry.yaml"]
    # targets first: multi-value flags (--configfile, --resources) swallow what follows them
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        target,
        *preset,
        "--resources",
        f"gpu={args.gpu_jobs}",
        "--config",
        f"preset={'tiny' if args.dry else 'quick'}",
        f"device={'auto' if args.dry else device}",
    ]
    t0 = time.perf_counter()
    with open(work / "snakemake.log", "w") as log:
        proc = subprocess.run(
            cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env, check=False
        )
    seconds = time.perf_counter() - t0
    text = (work / "snakemake.log").read_text()
    m = re.search(r"(\d+) of (\d+) steps \(100%\) done", text)
    jobs = int(m.group(2)) if m else 0
    devices: dict[str, int] = {}
    cards: dict[str, int] = {}  # models by the card they held (several cards only)
    for f in sorted((work / "results" / "models").glob("*/metrics.json")):
        metrics = json.loads(f.read_text())
        dev = metrics.get("device", "?")
        devices[dev] = devices.get(dev, 0) + 1
        held = metrics.get("gpu_assignment")
        card = (
            "none"
            if held is None
            else f"card {held['card']}" + (" (pretend)" if held["fake"] else "")
        )
        cards[card] = cards.get(card, 0) + 1
    on_device = sum(n for d, n in devices.items() if d.startswith(device.split(":")[0]))
    built = (work / target).is_file() and (work / target).stat().st_size > 0
    lines = [
        f"`snakemake {' '.join(cmd[3:])}` in an empty copy of the workflow "
        f"({'the tiny preset cut to one seed, one class relationship, one PT size; 2 pretend GPUs, INVTRANSFER_FAKE_GPUS=2' if args.dry else 'the quick preset'}); "
        "wall time of the whole run, Snakemake start-up included (for comparison: the quick "
        "preset's Fig 2 took 9.1 min on the 2-core CPU VM, bench/RESULTS.md).",
        "",
        f"| quantity | value |\n|---|---|\n| wall time | {seconds:.1f} s |\n| jobs | {jobs} |",
        f"| pretrained models by recorded device | {', '.join(f'{d}: {n}' for d, n in devices.items()) or 'none'} |",
        f"| pretrained models by assigned card | {', '.join(f'{c}: {n}' for c, n in sorted(cards.items())) or 'none'} |",
    ]
    tvo = work / "results" / "tables" / "tvo_t2d_lp.csv"
    if tvo.exists():
        df = pd.read_csv(tvo)
        means = df.groupby(["factor", "value", "relation"])["transfer_acc"].mean().unstack()
        lines += [
            "",
            "Fig 2 data, transfer accuracy (mean over seeds):",
            "",
            "```",
            means.round(3).to_string(),
            "```",
        ]
    if proc.returncode != 0:
        lines += [
            "",
            "Snakemake failed; the end of its log:",
            "",
            "```",
            *text.strip().splitlines()[-30:],
            "```",
        ]
    ok = proc.returncode == 0 and built and jobs > 0 and on_device == sum(devices.values()) > 0
    return {
        "ok": ok,
        "value": seconds,
        "std": None,
        "unit": "s wall time",
        "summary": f"{seconds:.1f} s, {jobs} jobs, {on_device}/{sum(devices.values())} models "
        f"trained on {device}",
        "goal": None,
        "jobs": jobs,
        "devices": devices,
        "cards": cards,
        "details": "\n".join(lines),
    }


STEPS = {
    "header": step_header,
    "transforms": step_transforms,
    "render": step_render,
    "per_epoch": step_per_epoch,
    "pretrain": step_pretrain,
    "pipeline": step_pipeline,
    "fig2": step_fig2,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=sorted(STEPS))
    p.add_argument("--json", type=Path, required=True, help="where the result goes")
    p.add_argument("--dry", action="store_true", help="CPU, tiny sizes: a check of the script")
    p.add_argument("--device", default="cuda")
    p.add_argument("--workdir", type=Path, default=Path("bench/out/gpu_check"))
    p.add_argument("--repeats", type=int, default=2, help="timed runs after the warm-up")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="the step's limit in seconds (pretrain: fewer timed runs to fit it)",
    )
    # render
    p.add_argument(
        "--images",
        type=int,
        default=None,
        help="render: images per set and pass; pretrain: training images",
    )
    p.add_argument("--batch", type=int, nargs="+", default=[512, 8192])
    # pretrain
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--width", type=int, default=0, help="per_epoch: arch width (0: the default)")
    p.add_argument("--epochs", type=int, default=None, help="pretrain: 50; per_epoch: 2")
    p.add_argument("--eval-images", type=int, default=10_000)
    # pipeline
    p.add_argument("--train", type=int, default=50_000)
    p.add_argument("--val", type=int, default=10_000)
    p.add_argument("--test", type=int, default=10_000)
    p.add_argument("--sens-images", type=int, default=10_000)
    p.add_argument("--pairs", type=int, default=10_000)
    p.add_argument("--probe-epochs", type=int, default=200)
    # fig2
    p.add_argument("--gpu-jobs", type=int, default=8, help="fig2: GPU jobs side by side")
    args = p.parse_args(argv)
    if args.images is None:
        args.images = 50_000 if args.step in ("pretrain", "per_epoch") else 65_536
    if args.epochs is None:
        args.epochs = 2 if args.step == "per_epoch" else 50
    if args.dry:
        args.device = "cpu"
    result = STEPS[args.step](args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
