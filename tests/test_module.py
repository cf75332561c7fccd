"""The workflow as a module of another workflow (issue 15 §4): a host workflow in another folder
imports every rule with a prefix, gives its own config mapping, and builds this workflow's
targets in its own folder; the mapping is validated like any configuration."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support.workflow import SNAKEMAKE, dry_run_counts

from invtransfer.config import module_config
from invtransfer.experiments import build_plan, finetune_regimes
from invtransfer.jobgraph import JobGraph

ROOT = Path(__file__).resolve().parents[1]

HOST_SNAKEFILE = """\
configfile: "config.yaml"


module invtransfer:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from invtransfer as it_*

# the host's own mapping is left as the host wrote it (the module fills in its own copy)
assert config == {expected!r}, config
"""

# Snakemake runs only the host's hooks: the host calls the module's (as docs/ARCHITECTURE.md says)
HOST_HOOKS = """

onstart:
    invtransfer.warn_long_run()
    invtransfer.start_warm_server()


onsuccess:
    invtransfer.stop_warm_server()


onerror:
    invtransfer.stop_warm_server()
"""


def _host(folder: Path, config: dict, snakefile: str = "Snakefile", hooks: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    text = HOST_SNAKEFILE.format(snakefile=ROOT / snakefile, expected=config)
    (folder / "Snakefile").write_text(text + (HOST_HOOKS if hooks else ""))
    return folder


TINY_ONE_SEED = {"preset": "tiny", "seeds": 1}


@pytest.mark.dryrun
@pytest.mark.parametrize("snakefile", ["Snakefile", "workflow/Snakefile"])
def test_a_host_workflow_plans_this_workflow_from_another_folder(tmp_path, snakefile):
    host = _host(tmp_path / "host", TINY_ONE_SEED, snakefile)
    proc = subprocess.run(
        [*SNAKEMAKE, "-n", "figures/fig2.pdf", "tables/table2.md"],
        cwd=host, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    counts = dry_run_counts(proc.stdout)
    assert counts and all(rule.startswith("it_") for rule in counts)

    # the same jobs as this workflow's plan for the same configuration
    config = module_config(TINY_ONE_SEED, basedir=ROOT)
    assert config["seeds"] == 1 and config["data"]["n_train"] == 400  # the tiny preset, 1 seed
    plan = build_plan(config)
    graph = JobGraph(config, plan, finetune_regimes(config))
    expected = graph.counts(graph.jobs(["figures/fig2.pdf", "tables/table2.md"]))
    assert counts == {f"it_{rule}": n for rule, n in expected.items()}
    assert sorted(p.name for p in host.iterdir()) == [".snakemake", "Snakefile", "config.yaml"]


@pytest.mark.dryrun
def test_a_host_config_is_validated_like_any_other(tmp_path):
    host = _host(tmp_path / "host", {"preset": "tiny", "seed": 3})
    proc = subprocess.run(
        [*SNAKEMAKE, "-n", "figures/fig2.pdf"], cwd=host, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode != 0
    assert re.search(r"seed.*did you mean 'seeds'", proc.stdout + proc.stderr)

    host = _host(tmp_path / "host2", {"preset": "tiniest"})
    proc = subprocess.run(
        [*SNAKEMAKE, "-n", "figures/fig2.pdf"], cwd=host, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "no preset 'tiniest'" in proc.stdout + proc.stderr


@pytest.mark.workflow
def test_a_host_workflow_builds_fig2_in_its_own_folder(tmp_path):
    host = _host(tmp_path / "host", TINY_ONE_SEED, hooks=True)
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "figures/fig2.pdf"],
        cwd=host, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-6000:]
    # the hooks ran: no long-run warning for the tiny preset, and no failed estimate either
    assert "invtransfer: this run would take" not in proc.stderr
    assert "no cost estimate" not in proc.stderr
    for log in (host / "logs/pretrain").iterdir():  # the jobs forked from the warm server
        assert "invtransfer.warm: step ran in warm child" in log.read_text(), log
    assert (host / "figures/fig2.pdf").read_bytes().startswith(b"%PDF")
    assert (host / "figures/fig2.png").read_bytes().startswith(b"\x89PNG")
    tvo = pd.read_csv(host / "results/tables/tvo_t2d_lp.csv")
    assert set(tvo["seed"]) == {0}  # one seed, from the host's mapping
    assert set(tvo["relation"]) == {"same", "disjoint"}
    assert tvo["transfer_acc"].between(0, 1).all()
    # Every job's model was trained with the tiny preset's settings
    models = list((host / "results/models").iterdir())
    assert len(models) == 6
    for model in models:
        history = pd.read_csv(model / "history.csv")
        assert list(history["epoch"]) == [1, 2]  # training.pretrain.epochs of the tiny preset
    # a second run of the finished target schedules nothing
    proc = subprocess.run(
        [*SNAKEMAKE, "-n", "figures/fig2.pdf"], cwd=host, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert "Nothing to be done" in proc.stdout + proc.stderr
