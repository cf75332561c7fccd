"""``python -m invtransfer plan``: job counts equal Snakemake's dry run, the calibration is
measured and cached, the GPU estimate says what it rests on, and a local run that would take
hours warns before its first job (and a tiny one does not)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.workflow import SNAKEMAKE, copy_workflow, dry_run_counts

from invtransfer import costs, estimate, rates, workloads
from invtransfer.config import load_config
from invtransfer.experiments import build_plan, finetune_regimes
from invtransfer.jobgraph import Job, JobGraph, producer

ROOT = Path(__file__).resolve().parents[1]


def _graph(preset: str | None) -> tuple[JobGraph, object]:
    config = load_config(ROOT / "config.yaml", preset=preset)
    plan = build_plan(config)
    return JobGraph(config, plan, finetune_regimes(config)), plan


def _plan_counts(stdout: str) -> dict[str, int]:
    """The 'Jobs per rule' block of ``invtransfer plan``."""
    block = stdout.split("Jobs per rule", 1)[1].split("\n\n", 1)[0]
    counts = {}
    for line in block.splitlines()[1:]:
        name, n = line.split()
        if name != "total":
            counts[name] = int(n.replace(",", ""))
    return counts


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One calibration cache for this module's tests (a calibration is seconds per model)."""
    return tmp_path_factory.mktemp("calibration-cache")


@pytest.mark.parametrize(
    ("profile", "targets"),
    [("profiles/tiny", ["figures/fig2.pdf", "tables/table2.md"]), ("profiles/quick", [])],
)
@pytest.mark.dryrun
def test_plan_job_counts_equal_a_snakemake_dry_run(tmp_path, profile, targets):
    wf = copy_workflow(tmp_path)
    dry = subprocess.run(
        [*SNAKEMAKE, "-n", "--profile", profile, *targets],
        cwd=wf,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    expected = dry_run_counts(dry.stdout)
    graph, _ = _graph(profile.removeprefix("profiles/"))
    assert expected == graph.counts(graph.jobs(targets))  # the job graph walks Snakemake's DAG

    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "invtransfer",
            "plan",
            "--no-calibrate",
            "--profile",
            profile,
            *targets,
        ],
        cwd=wf,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert _plan_counts(plan.stdout) == expected


def test_producer_names_the_rule_of_every_output():
    assert producer("results/models/m--x--s0--abc123/model.pt") == Job(
        "pretrain", "m--x--s0--abc123"
    )
    assert producer("results/finetune/m/d/ft-low/metrics.json") == Job("finetune", "m/d")
    assert producer("results/assets/cifar100.json") == Job("check_cifar", "cifar100")
    assert producer("tables/scorecard.md") == Job("scorecard", "scorecard")
    assert producer("figures/fig1.pdf") == Job("example_figure", "fig1")
    assert producer("figures/fig2.png") == Job("figure", "fig2")
    with pytest.raises(ValueError, match="no figure named 'fig99'"):
        producer("figures/fig99.pdf")
    with pytest.raises(ValueError, match="no rule of the workflow writes"):
        producer("results/probes/m/d/metrics.json")


def test_split_counts_match_the_cifar_selection(tmp_path):
    """CIFAR split sizes are computed without reading CIFAR; they equal what the builder
    selects from a release of the real size."""
    from support.fake_cifar import write_fake_cifar

    from invtransfer.datasets.cifar_aug import canonicalize_spec, select_split

    write_fake_cifar(tmp_path, "cifar10", 5000, 1000, seed=0, blank=True)
    specs = [
        {
            "kind": "cifar",
            "dataset": "cifar10",
            "classes": [1, 2, 7, 9, 0],
            "samples_per_class": {"train": 10},
            "_root": str(tmp_path),
        },
        {
            "kind": "cifar",
            "dataset": "cifar10",
            "classes": [3, 4],
            "splits": {"train": 0.5, "val": 100, "test": None},
            "_root": str(tmp_path),
        },
    ]
    expected = [{"train": 50, "val": 2500, "test": 5000}, {"train": 4500, "val": 100, "test": 2000}]
    for spec, want in zip(specs, expected, strict=True):
        counts = workloads.split_counts(spec)
        assert counts == want
        canonical = canonicalize_spec(spec)
        for split, n in counts.items():
            assert len(select_split(canonical, split)) == n, (spec, split)
    t2d = {"kind": "t2d", "splits": {"train": 300, "val": 20, "test": 40}}
    assert workloads.split_counts(t2d) == {"train": 300, "val": 20, "test": 40}


def test_workloads_count_trained_images_times_epochs():
    graph, plan = _graph("tiny")
    jobs = graph.jobs(["figures/fig2.pdf"])
    loads = workloads.workloads(plan, jobs)
    pretrain = [w for w in loads if w.job.rule == "pretrain"]
    assert len(pretrain) == graph.counts(jobs)["pretrain"]
    for w in pretrain:
        m = plan.models[w.job.key]
        splits = plan.datasets[m.dataset]["splits"]
        assert w.trained == splits["train"] * m.epochs
        assert w.forward == splits["val"] * m.epochs + splits["test"]
    feats = [w for w in loads if w.job.rule == "features"]
    for w in feats:
        datasets = plan.features[w.job.key].datasets
        assert w.forward == sum(sum(plan.datasets[d]["splits"].values()) for d in datasets)
    rendered = sum(w.rendered for w in loads)
    assert rendered == sum(
        sum(plan.datasets[j.key]["splits"].values()) for j in jobs if j.rule == "materialize"
    )


def test_calibration_is_measured_and_cached(cache_dir, monkeypatch):
    monkeypatch.setenv(rates.ENV_CACHE, str(cache_dir))
    model = ("cnn4", (("width", 8),), 100)
    first = rates.cached_calibrations([model], device="cpu")[model]
    assert first.cached is False and first.device == "cpu"
    assert first.batch_size == rates.CPU_CALIBRATION_BATCH  # 100 capped on the CPU
    assert first.img_per_s > 0 and first.img_per_s_std >= 0
    path = rates.cache_path()
    assert path == cache_dir / "calibration.json"
    data = json.loads(path.read_text())
    assert data["format"] == rates.CACHE_FORMAT
    (key, entry), *_ = data["entries"].items()
    assert "cnn4" in key and '"width": 8' in key and "batch 16" in key
    assert entry["img_per_s"] == first.img_per_s and entry["steps"] == rates.CALIBRATION_STEPS

    again = rates.cached_calibrations([model], device="cpu")[model]
    assert again.cached is True and again.img_per_s == first.img_per_s

    # the local estimate is the cached rate applied to the work
    graph, plan = _graph("tiny")
    jobs = [j for j in graph.jobs(["figures/fig2.pdf"]) if j.rule == "pretrain"]
    est = estimate.estimate(plan, jobs, device="cpu")
    (line,) = est.archs.values()
    assert line.arch == "cnn4" and line.models == len(jobs)
    assert line.local_s == pytest.approx((line.trained + line.forward / 3) / first.img_per_s)
    assert "cached" in line.local_rate and est.cache == str(path)


def test_a_broken_cache_is_an_error_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(rates.ENV_CACHE, str(tmp_path))
    (tmp_path / "calibration.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"calibration\.json: calibration cache unreadable"):
        rates.cached_calibrations([("cnn4", (), 16)], device="cpu")


RESULTS_WITH_H100 = """\
# Benchmark results

## Cost estimates

| gpu | arch | training img/s | measured by |
|---|---|---|---|
| H100 | resnet18 | **40,000** | bench/gpu_check.sh 2026-12-01 |
| H200 | resnet18 | not measured yet | |
"""


def test_gpu_estimate_prefers_a_measured_throughput(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text(RESULTS_WITH_H100)
    gpu_rates = rates.measured_gpu_rates(results)
    assert [(r.gpu, r.arch, r.img_per_s) for r in gpu_rates] == [("H100", "resnet18", 40_000.0)]
    assert rates.measured_gpu_rates(tmp_path / "missing.md") == []

    graph, plan = _graph(None)  # the paper's settings
    jobs = graph.jobs(["figures/fig2.pdf"])
    measured = estimate.estimate(plan, jobs, gpu="H100", local=False, results_md=results)
    r18 = measured.archs["resnet18"]
    assert r18.gpu_s == pytest.approx((r18.trained + r18.forward / 3) / 40_000)
    assert "measured on H100" in r18.gpu_rate
    # other architectures: FLOPs at the utilisation ResNet-18's measurement implies
    util = 40_000 * 3 * costs.forward_gflop("resnet18") * 1e9 / (989.4e12)
    vgg = measured.archs["vgg11"]
    assert vgg.gpu_s == pytest.approx(vgg.flop / (989.4e12 * util), rel=1e-6)
    assert f"{util:.0%} of peak, the utilisation measured for resnet18" in vgg.gpu_rate
    # a GPU without a row of its own: the utilisation measured on another GPU, said so
    other = estimate.estimate(plan, jobs, gpu="A100", local=False, results_md=results)
    for arch in ("resnet18", "vgg11"):
        line = other.archs[arch]
        assert line.gpu_s == pytest.approx(line.flop / (312.0e12 * util), rel=1e-6)
        assert line.gpu_rate == (
            f"FLOPs at {util:.0%} of peak, the utilisation measured for resnet18 on H100 "
            "(none measured on A100)"
        )

    assumed = estimate.estimate(plan, jobs, gpu="H100", local=False, results_md=tmp_path / "x.md")
    r18 = assumed.archs["resnet18"]
    assert r18.gpu_s == pytest.approx(r18.flop / (989.4e12 * costs.ASSUMED_UTILIZATION))
    assert "assumed 25% of the bf16 peak" in r18.gpu_rate
    text = estimate.format_estimate(assumed, targets=["figures/fig2.pdf"])
    assert "assumed 25% of the bf16 peak" in text and "one H100:" in text
    # Fig 2 at the paper's scale: 240 pretrainings (issue 15), 160 of them ResNet-18
    assert sum(a.models for a in assumed.archs.values()) == 240
    assert assumed.archs["resnet18"].models == 160


def test_the_warning_fires_for_the_paper_config_on_a_cpu_and_not_for_tiny(cache_dir, monkeypatch):
    monkeypatch.setenv(rates.ENV_CACHE, str(cache_dir))
    graph, plan = _graph(None)
    jobs = graph.jobs(["figures/fig2.pdf"])
    message = estimate.long_run_warning(plan, jobs, device="cpu")
    assert message is not None
    assert re.search(
        r"this run would take at least [\d,]+ days on this machine \(cpu, \d+ torch threads\)",
        message,
    )
    assert "883 jobs, 240 pretrainings" in message
    for route in ("profiles/quick", "profiles/gpu", "profiles/slurm", "INVTRANSFER_COST_WARNING=0"):
        assert route in message
    # only the most expensive architecture had to be calibrated to pass the threshold
    cached = json.loads((cache_dir / "calibration.json").read_text())["entries"]
    assert any("resnet18 {}" in k for k in cached)
    assert not any("vgg11" in k for k in cached)

    monkeypatch.setenv(estimate.ENV_WARNING, "0")
    assert estimate.long_run_warning(plan, jobs, device="cpu") is None
    monkeypatch.delenv(estimate.ENV_WARNING)

    graph, plan = _graph("tiny")
    assert estimate.long_run_warning(plan, graph.jobs(), device="cpu") is None


@pytest.mark.dryrun
def test_a_local_run_warns_before_its_first_job(tmp_path, cache_dir):
    """The paper's Fig 2 on this CPU: the warning is printed after the DAG and before the first
    job starts; the run is stopped there."""
    wf = copy_workflow(tmp_path)
    env = {**os.environ, rates.ENV_CACHE: str(cache_dir), "INVTRANSFER_WARM": "0"}
    proc = subprocess.Popen(
        [*SNAKEMAKE, "figures/fig2.pdf", "--cores", "1", "--config", "device=cpu"],
        cwd=wf,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 300
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(("rule ", "localrule ")) or time.monotonic() > deadline:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    text = "".join(lines)
    assert "this run would take at least" in text, text[-3000:]
    warning_at = text.index("this run would take")
    first_job = max(text.find("\nlocalrule "), text.find("\nrule "))
    assert first_job > warning_at, text[-3000:]
    assert "Job stats" in text[:warning_at]  # after Snakemake planned the run
