"""bench/gpu_check.sh: the GPU check runs end to end on the CPU with --dry, reports every step
with a measured number, and survives a step that hangs or fails."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
STEPS = ["transforms", "render", "per_epoch", "pretrain", "pipeline", "fig2"]

sys.path.insert(0, str(ROOT / "bench"))
import gpu_check  # noqa: E402
import gpu_steps  # noqa: E402


def _run_check(*args: str, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _summary_rows(md: str) -> dict[str, list[str]]:
    """The summary table of the report: step -> its cells."""
    block = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in STEPS:
            rows[cells[0]] = cells
    return rows


@pytest.mark.workflow
def test_dry_run_measures_every_step(tmp_path):
    out = tmp_path / "report.md"
    proc = _run_check("--dry", "--out", str(out), "--workdir", str(tmp_path / "work"), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["meta"]["dry"] is True
    assert record["facts"]["torch"] and record["facts"]["source_hash"]
    steps = {s["name"]: s for s in record["steps"]}
    assert list(steps) == STEPS
    for name, step in steps.items():
        assert step["status"] == "pass", (name, step)
        value = step["result"]["value"]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, name
        assert 0 < step["seconds"] <= step["limit_s"], name

    # each step measured what it claims
    tests = steps["transforms"]["result"]["counts"]
    assert tests["skipped"] >= 18 and tests["passed"] == tests["failed"] == 0  # no CUDA here
    render = steps["render"]["result"]
    assert len(render["per_type"]) == 18 and all(v["mean"] > 0 for v in render["per_type"].values())
    # the per-epoch renderer itself: one TvO set in a dry run, and the mix over it
    assert len(render["renderer"]) == 2 and render["value"] == render["renderer"]["mix"] > 0
    assert {(r["set"], r["batch"], r["draws_timed"]) for r in render["rows"]} == {
        (s, b, d)
        for s in ("mix (18 types, one each)", "rotate+hue+blur")
        for b in (64, 128)
        for d in ("yes", "no")
    }
    per_epoch = steps["per_epoch"]["result"]
    timed = per_epoch["result"]
    assert timed["images"] == 256 and timed["epochs"] == 1 and timed["device"] == "cpu"
    assert {k: len(v) for k, v in timed["wall_s"].items()} == {"fixed": 1, "per-epoch": 1}
    assert per_epoch["value"] == pytest.approx(
        timed["wall_s"]["per-epoch"][0] / timed["wall_s"]["fixed"][0]
    )
    assert per_epoch["goal"]["met"] is None  # a dry run on the CPU cannot judge the GPU goal
    pre = steps["pretrain"]["result"]["result"]
    assert pre["epochs"] == 1 and pre["images"] == 256 and len(pre["runs"]) == 2
    assert pre["seconds_mean"] == pytest.approx(sum(pre["runs"]) / 2)
    seconds = steps["pipeline"]["result"]["seconds"]
    assert all(len(seconds[k]) == 2 and min(seconds[k]) > 0 for k in ("features", "probe", "sens"))
    fig2 = steps["fig2"]["result"]
    assert fig2["jobs"] == 12  # the cut-down tiny preset's Fig 2 DAG
    assert sum(fig2["devices"].values()) == 2 and all(d.startswith("cpu") for d in fig2["devices"])
    # device auto with 2 pretend cards: every GPU job of the workflow held a card slot
    assert sum(fig2["cards"].values()) == 2
    assert set(fig2["cards"]) <= {"card 0 (pretend)", "card 1 (pretend)"}

    md = out.read_text()
    rows = _summary_rows(md)
    assert list(rows) == STEPS
    for name, (_, status, secs, limit, measured, goal) in rows.items():
        assert status == "pass" and float(secs) > 0 and float(limit) > 0, name
        assert re.match(r"[\d,]+(\.\d+)?( ± [\d,.]+)? \S", measured), (name, measured)
        assert goal == "—" or goal.endswith("n/a (dry run)"), (name, goal)
    for name in STEPS:
        assert f"\n## {name}: " in md


@pytest.mark.slow
def test_a_hanging_step_is_killed_reported_and_the_next_runs(tmp_path):
    out = tmp_path / "r.md"
    proc = _run_check(
        "--dry",
        "--out",
        str(out),
        "--only",
        "render",
        "pretrain",
        "--limit",
        "render=1",
        timeout=600,
    )
    assert proc.returncode == 1  # not every selected step passed
    steps = {s["name"]: s for s in json.loads(out.with_suffix(".json").read_text())["steps"]}
    assert steps["render"]["status"] == "timeout" and steps["render"]["seconds"] < 15
    assert steps["pretrain"]["status"] == "pass" and steps["pretrain"]["result"]["value"] > 0
    assert {steps[n]["status"] for n in ("transforms", "per_epoch", "pipeline", "fig2")} == {
        "skipped"
    }
    rows = _summary_rows(out.read_text())
    assert rows["render"][1] == "timeout" and rows["pretrain"][1] == "pass"


def test_run_step_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "pid"
    cmd = ["bash", "-c", f"sleep 120 & echo $! > {pidfile}; wait"]
    t0 = time.perf_counter()
    how, seconds = gpu_check.run_step(cmd, 1.0, tmp_path / "log", dict(os.environ))
    assert how == "timeout" and 1.0 <= seconds < 15 and time.perf_counter() - t0 < 15
    grandchild = int(pidfile.read_text())
    for _ in range(50):  # reaped by init shortly after the kill
        if not Path(f"/proc/{grandchild}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{grandchild}").exists()
    how, _ = gpu_check.run_step(["bash", "-c", "exit 3"], 10, tmp_path / "log", dict(os.environ))
    assert how == "exited 3"


def test_pytest_summary_parsing():
    text = "....s\n=== 3 passed, 1 skipped, 505 deselected in 6.59s ==="
    assert gpu_steps.parse_pytest_summary(text) == {
        "passed": 3,
        "failed": 0,
        "skipped": 1,
        "errors": 0,
        "deselected": 505,
        "xfailed": 0,
    }
    assert gpu_steps.parse_pytest_summary("1 failed, 2 errors in 0.1s")["errors"] == 2
    assert gpu_steps.parse_pytest_summary("no tests ran")["passed"] == 0


def test_a_second_report_of_the_day_never_overwrites_the_first(tmp_path):
    from datetime import UTC, datetime

    day = datetime(2026, 12, 4, 17, 3, tzinfo=UTC)
    first = gpu_check.default_report_path(tmp_path, day)
    assert first.name == "gpu_check-2026-12-04.md"
    first.write_text("first lease")
    second = gpu_check.default_report_path(tmp_path, day)
    assert second.name == "gpu_check-2026-12-04-2.md"
    # a .json twin alone (a report cut off before its .md was written) also takes the name
    second.with_suffix(".json").write_text("{}")
    assert gpu_check.default_report_path(tmp_path, day).name == "gpu_check-2026-12-04-3.md"
    assert first.read_text() == "first lease"


def test_repeats_stop_at_the_deadline():
    calls = []

    def work(run):
        calls.append(run)
        time.sleep(0.05)

    assert len(gpu_steps._timed_runs("cpu", 3, work)) == 3 and calls == [-1, 0, 1, 2]
    calls.clear()
    times = gpu_steps._timed_runs("cpu", 3, work, deadline=time.perf_counter())
    assert len(times) == 1 and times[0] >= 0.05 and calls == [-1, 0]  # at least one timed run


def test_bench_quick_measures_the_machine_speed_and_keeps_the_thread_budget():
    """bench/bench_quick.py's machine-speed probes (printed before and after the targets, so runs
    of different days can be compared): measured, positive training rates; the caller's torch
    thread count is restored."""
    import bench_quick
    import torch

    threads = torch.get_num_threads()
    rate = bench_quick.machine_speed(steps=5)
    assert math.isfinite(rate) and rate > 0
    assert torch.get_num_threads() == threads
    # the frozen network (no project code): a measured rate too, threads and global RNG kept
    rng = torch.get_rng_state()
    frozen = bench_quick.frozen_speed(steps=5, warmup=1)
    assert math.isfinite(frozen) and frozen > 0
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)


def test_bench_quick_rejects_a_missing_overlay_before_any_work(monkeypatch, tmp_path):
    """``--configfile`` (an overlay for every target, e.g. other seeds) must exist: a typo stops
    the benchmark with the path named, before it copies the workflow or measures anything."""
    import bench_quick

    missing = tmp_path / "seeds.yaml"
    monkeypatch.setattr(sys, "argv", ["bench_quick.py", "--configfile", str(missing)])
    monkeypatch.setattr(bench_quick, "copy_workflow", lambda wf: pytest.fail("work started"))
    with pytest.raises(SystemExit, match=f"--configfile: no such file: {missing}"):
        bench_quick.main()


@pytest.mark.dryrun
def test_bench_quick_passes_every_overlay_to_snakemake(tmp_path):
    """Several ``--configfile`` overlays (e.g. other seeds, and a training variant) all reach the
    run: Snakemake keeps only the last of repeated ``--configfile`` flags, so they go after one
    flag — checked against Snakemake itself with a dry run of the tiny workflow."""
    import bench_quick
    from support.workflow import copy_workflow

    seeds = tmp_path / "seeds.yaml"
    seeds.write_text("seed_offset: 45\n")
    tm = tmp_path / "tm.yaml"
    tm.write_text("experiments:\n  tm:\n    pretrain_epochs: 3\n")
    cmd = bench_quick.snakemake_command("figures/fig4.pdf", "profiles/tiny", [seeds, tm])
    assert cmd.count("--configfile") == 1
    assert cmd[cmd.index("--configfile") + 1 :] == [str(seeds), str(tm)]
    assert bench_quick.snakemake_command("all", "profiles/tiny", [])[-2:] == [
        "--profile",
        "profiles/tiny",
    ]
    wf = copy_workflow(tmp_path / "wf")

    def models(overlays: list[Path]) -> set[str]:
        """The model folders a dry run of fig4 would build with these overlays."""
        proc = subprocess.run(
            [*bench_quick.snakemake_command("figures/fig4.pdf", "profiles/tiny", overlays), "-n"],
            cwd=wf,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return set(re.findall(r"results/models/([^/\s,]+)/", proc.stdout))

    both, seeds_only = models([seeds, tm]), models([seeds])
    assert both and all("--s4" in m for m in both)  # the first overlay (seeds 45...) applied
    assert both.isdisjoint(seeds_only)  # and the second: 3 epochs give other model hashes
