"""The Snakemake workflow: lint, formatting, dry runs, and the tiny end-to-end run with incremental
rebuilds (on the session's shared tiny run, ``tiny_run`` in tests/conftest.py)."""

from __future__ import annotations

import os
import re
import sys
from collections import Counter

import pandas as pd
import pytest
import yaml
from support.workflow import (
    ROOT,
    SNAKEMAKE,
    TINY,
    TINY_TARGETS,
    clone_run,
    copy_workflow,
    dry_run_counts,
    run,
)

from invtransfer.artifacts import ARTIFACTS, PANELS
from invtransfer.claims import FAILS, HOLDS, load_claims
from invtransfer.config import load_config
from invtransfer.experiments import build_plan, finetune_regimes
from invtransfer.jobgraph import JobGraph


@pytest.mark.dryrun
def test_snakemake_lint_is_clean():
    proc = run([*SNAKEMAKE, "--lint"], cwd=ROOT)
    assert "Congratulations" in proc.stdout + proc.stderr


@pytest.mark.dryrun
def test_snakefmt_formatting():
    run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"], cwd=ROOT)


@pytest.mark.dryrun
def test_ruff_clean():
    run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT)
    run([sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT)


@pytest.mark.dryrun
def test_quick_preset_dry_run(tmp_path):
    """The default target of the quick preset: exactly the jobs of the plan's job graph, and one
    report job per artifact the preset can build (the artifact registry's final targets)."""
    wf = copy_workflow(tmp_path)
    proc = run([*SNAKEMAKE, "--profile", "profiles/quick", "-n"], cwd=wf)
    jobs = dry_run_counts(proc.stdout)

    config = load_config(ROOT / "config.yaml", preset="quick")
    graph = JobGraph(config, build_plan(config), finetune_regimes(config))
    assert jobs == graph.counts(graph.jobs())
    kinds = Counter(ARTIFACTS[t.split("/")[1].split(".")[0]].kind for t in graph.final_targets())
    report_rules = {"figure": "figure", "example": "example_figure", "table": "table",
                    "scorecard": "scorecard"}  # fmt: skip
    assert {report_rules[k]: n for k, n in kinds.items()} == {
        rule: jobs[rule] for rule in report_rules.values() if rule in jobs
    }
    assert jobs["scorecard"] == 1 and jobs["all"] == 1


#: The claims the tiny preset can check: every comparison they make reads cells the tiny preset
#: fills. It runs Transforms-2D TvO with a linear probe (Fig. 2 and 3a: class relationship and
#: pretraining samples with two values each, one architecture), IT with one architecture trained
#: on rotate and hue, in distribution and under the OOD shifts (Table 2 without its CIFAR
#: columns; the rotate/hue cells of Fig. 16/17) and TM with two nested transformations (Fig. 4).
#: Not checkable: Fig. 3a's "invariance dominates" (it also compares the architecture span, and
#: there is one architecture), the spill-over claims (flips, shear, grayscale), Table 2's CIFAR
#: columns, and everything about CIFAR, fine-tuning, IFE or the other architectures.
TINY_CHECKABLE = {
    "tvo_t2d_same_beats_disjoint",
    "tvo_t2d_worst_same_beats_best_disjoint",
    "tvo_t2d_training_accuracy_similar",
    "tvo_t2d_class_rel_comparable",
    "it_same_beats_other_and_none",
    "it_random_data_is_harder",
    "it_image_close_to_mild_ood",
    "it_heatmap_diagonal_below_row_mean",
    "it_heatmap_diagonal_below_none",
    "tm_superset_keeps_accuracy",
    # not tm_missing_invariance_hurts: the tiny preset nests 2 transformations, so no model
    # misses two of a target's (min_missing: 2) and the claim has no comparison to make
    "tm_accuracy_falls_as_subset_shrinks",
}


def _claim_statuses(scorecard_md: str) -> dict[str, str]:
    """claim id -> status, from the scorecard's claims table (the mean over seeds)."""
    out = {}
    claims_table = scorecard_md.split("## Claims", 1)[1].split("\n## ", 1)[0]
    for line in claims_table.splitlines():
        claim = re.match(r"\| `(\w+)` \|", line)
        if claim:
            status = re.search(r"\| \*\*(holds|fails|not checked)\*\* \| ", line)
            assert status, line
            out[claim.group(1)] = status.group(1)
    return out


@pytest.mark.workflow
def test_tiny_end_to_end_and_incremental(tiny_run, tmp_path):
    wf = tiny_run
    assert TINY_TARGETS == [
        "figures/fig2.pdf", "figures/fig4.pdf", "tables/table2.md", "tables/scorecard.md",
    ]  # fmt: skip
    for fig in ("fig2", "fig4"):
        assert (wf / f"figures/{fig}.pdf").read_bytes().startswith(b"%PDF-"), fig
        assert (wf / f"figures/{fig}.png").read_bytes().startswith(b"\x89PNG\r\n"), fig
    seeds = 2  # the tiny preset

    # TvO on Transforms-2D: per seed, the (same, disjoint) pair at each factor value: class
    # relationship (disjoint, same), architecture (cnn4), pretraining samples (200, 400)
    tvo = pd.read_csv(wf / "results/tables/tvo_t2d_lp.csv")
    assert len(tvo) == seeds * 2 * (2 + 1 + 2)
    assert tvo.groupby(["factor", "relation"]).size().to_dict() == {
        (f, r): seeds * n for f, n in {"class_rel": 2, "arch": 1, "pt_samples": 2}.items()
        for r in ("disjoint", "same")
    }  # fmt: skip
    assert set(tvo["arch"]) == {"cnn4"} and set(tvo["seed"]) == {0, 1}
    assert tvo["transfer_acc"].between(0, 1).all() and tvo["training_acc"].between(0, 1).all()
    # IT: per seed, image and random models trained on rotate, hue and none, each measured on
    # both transformations of each evaluation set
    it = pd.read_csv(wf / "results/tables/it_cnn4.csv")
    assert len(it) == seeds * 2 * 3 * 3 * 2
    assert set(it["train_transform"]) == {"rotate", "hue", "none"}
    assert set(it["eval"]) == {"in_dist", "mild_ood", "strong_ood"}
    assert it["sens"].between(0, 2).all()
    # TM: per seed, models with 1 and 2 nested transformations, probed on 1 and 2
    tm = pd.read_csv(wf / "results/tables/tm_cnn4.csv")
    assert sorted(zip(tm["n_train_transforms"], tm["n_target_transforms"], strict=True)) == sorted(
        [(a, b) for a in (1, 2) for b in (1, 2)] * seeds
    )

    table2 = (wf / "tables/table2.md").read_text()
    rows = [line for line in table2.splitlines() if line.startswith("| Image") or
            line.startswith("| Random")]  # fmt: skip
    assert [r.split("|")[1:3] for r in rows] == [
        [f" {mt} ", f" {rel} "] for mt in ("Image", "Random") for rel in ("Same", "Other", "None")
    ]
    # the CIFAR columns are absent in the tiny preset, and say why
    assert all(r.endswith("| —<sup>a</sup> | —<sup>b</sup> |") for r in rows)
    assert "(a) —: cifar10 is not in experiments.it.evals" in table2

    scorecard = (wf / "tables/scorecard.md").read_text()
    statuses = _claim_statuses(scorecard)
    claims = load_claims(panels=PANELS)
    assert list(statuses) == [c.id for c in claims]
    assert {c for c, s in statuses.items() if s in (HOLDS, FAILS)} == TINY_CHECKABLE
    holding = sum(s == HOLDS for s in statuses.values())
    assert (
        f"**Claims: {len(claims)} from the paper; {len(TINY_CHECKABLE)} checked, {holding} "
        f"holding, {len(TINY_CHECKABLE) - holding} failing; {len(claims) - len(TINY_CHECKABLE)} "
        "not checkable at this scale.**"
    ) in scorecard.splitlines()
    # the claims table: every claim on the mean (as in the Markdown) and on each seed alone
    table = pd.read_csv(wf / "tables/scorecard_claims.csv")
    mean = table[table["scope"] == "mean"]
    assert dict(zip(mean["claim"], mean["status"], strict=True)) == statuses
    assert sorted(table.loc[table["scope"] == "seed", "seed"].unique()) == list(range(seeds))
    assert "## Per seed" in scorecard
    # and on resamples of the seeds, for every claim checked on the mean
    assert (seeds >= 2) == any(ln.startswith("**Resampling the") for ln in scorecard.splitlines())
    resampled = mean[mean["status"] != "not checked"]["resampled_holds"]
    assert resampled.between(0, 1).all() if seeds >= 2 else resampled.isna().all()

    # A second run of a finished target schedules nothing.
    wf = clone_run(tiny_run, tmp_path / "wf")
    proc = run([*SNAKEMAKE, *TINY, "-n", *TINY_TARGETS], cwd=wf)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # Nor does a redone asset check (a newer check.json: a new assets key reruns the check):
    # datasets depend on it only to know it passed.
    check = wf / "results/assets/check.json"
    os.utime(check, (check.stat().st_atime, check.stat().st_mtime + 3600))
    proc = run([*SNAKEMAKE, *TINY, "-n", *TINY_TARGETS], cwd=wf)
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # Changing one factor value reruns only its dependents: the pt_samples=200 models are replaced.
    overrides = wf / "profiles/tiny/overrides.yaml"
    cfg = yaml.safe_load(overrides.read_text())
    cfg["experiments"]["tvo"]["pt_samples"]["t2d"] = [300, 400]
    overrides.write_text(yaml.safe_dump(cfg))
    proc = run([*SNAKEMAKE, *TINY, "-n", *TINY_TARGETS], cwd=wf)
    # per seed the (same, disjoint) pair at 300 samples: its datasets, models, features and
    # probes; then the TvO table, Fig. 2 and the scorecard. Table 2 and Fig. 4 are untouched.
    assert dry_run_counts(proc.stdout) == {
        "materialize": 2 * seeds, "pretrain": 2 * seeds, "features": 2 * seeds,
        "probe": 2 * seeds, "collect": 1, "figure": 1, "scorecard": 1,
    }  # fmt: skip
