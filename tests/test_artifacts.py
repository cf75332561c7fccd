"""The artifact registry: one entry per paper artifact, what the workflow derives from it, and the
settings a report rule gets (nothing else of the config)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from invtransfer.artifacts import ARTIFACTS, KINDS, PANELS
from invtransfer.config import load_config
from invtransfer.experiments import build_plan
from invtransfer.reporting import (
    artifact_settings,
    artifact_tables,
    final_targets,
    panel_reasons,
    wildcard_pattern,
)
from invtransfer.scorecard import load_paper_numbers

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {
    "paper": [ROOT / "config.yaml"],
    "quick": [ROOT / "config.yaml", ROOT / "profiles/quick/overrides.yaml"],
    "tiny": [ROOT / "config.yaml", ROOT / "profiles/tiny/overrides.yaml"],
}


@pytest.fixture(scope="module")
def configs():
    out = {}
    for name, files in PRESETS.items():
        cfg = load_config(*files)
        out[name] = (cfg, build_plan(cfg))
    return out


def test_registry_names_kinds_and_captions():
    by_kind = {k: sorted(a.name for a in ARTIFACTS.values() if a.kind == k) for k in KINDS}
    assert by_kind == {
        "figure": sorted(f"fig{i}" for i in (2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18)),
        "table": [f"table{i}" for i in range(1, 6)],
        "example": sorted(f"fig{i}" for i in (1, 5, 6, 15)),
        "scorecard": ["scorecard"],
    }
    for a in ARTIFACTS.values():
        number = a.name[3:] if a.name.startswith("fig") else a.name[5:]
        head = {"figure": "Figure", "example": "Figure", "table": "Table"}.get(a.kind)
        if head:
            assert a.title.startswith(f"{head} {number} -- "), a.name
        assert a.caption_rst.startswith(f"**{a.title}.** ") and "\n" not in a.caption_rst
        assert len(a.caption.split()) >= 5, a.name
    assert ARTIFACTS["fig2"].outputs == ["figures/fig2.pdf", "figures/fig2.png"]
    assert ARTIFACTS["table2"].outputs == [
        "tables/table2.md",
        "tables/table2.csv",
        "tables/table2.tex",
    ]
    assert ARTIFACTS["scorecard"].target == "tables/scorecard.md"
    assert ARTIFACTS["scorecard"].outputs == [
        "tables/scorecard.md",
        "tables/scorecard.csv",
        "tables/scorecard_claims.csv",  # every claim on the mean and on each seed
    ]


@pytest.mark.parametrize("kind", ["figure", "table", "example"])
def test_wildcard_patterns_match_exactly_the_registry(kind):
    pattern = wildcard_pattern(kind)
    candidates = [f"fig{i}" for i in range(40)] + [f"table{i}" for i in range(20)]
    candidates += ["scorecard", "fig2a", "fig", "table", "figure"]
    matched = [c for c in candidates if re.fullmatch(pattern, c)]
    assert sorted(matched) == sorted(a.name for a in ARTIFACTS.values() if a.kind == kind)
    with pytest.raises(ValueError, match="unknown artifact kind 'plot'"):
        wildcard_pattern("plot")


def test_panels_cover_every_paper_number():
    paper = load_paper_numbers(panels=PANELS)
    assert set(paper["artifact"]) <= set(PANELS)
    assert len(PANELS) == 51  # + the Fig. 13 curves (9) and Fig. 7-11, 14, 18 panels
    assert PANELS["fig7b"].params == {"family": "cifar10", "regime": "lp", "factor": "arch"}
    assert PANELS["fig13c:pt_samples"].params == {
        "family": "cifar100", "regime": "ft-high", "factor": "pt_samples",
    }  # fmt: skip
    assert PANELS["fig18b"].params == {"arch": "densenet"}


def test_targets_and_tables_per_preset(configs):
    cfg, plan = configs["quick"]
    quick = ["figures/fig1.pdf", "figures/fig2.pdf", "figures/fig3.pdf", "figures/fig4.pdf",
             "figures/fig5.pdf", "figures/fig9.pdf", "figures/fig12.pdf", "figures/fig13.pdf",
             "figures/fig16.pdf", "figures/fig17.pdf", "tables/table2.md",
             "tables/scorecard.md"]  # fmt: skip
    assert final_targets(cfg, plan) == quick
    assert artifact_tables("fig3", cfg, plan) == ["tvo_t2d_lp"]
    assert artifact_tables("table2", cfg, plan) == ["it_vgg11_w"]
    assert artifact_tables("fig18", cfg, plan) == []  # one TM architecture: Fig 4 only
    assert artifact_tables("scorecard", cfg, plan) == [
        "it_vgg11_w", "tm_cnn4", "tvo_t2d_ft-high", "tvo_t2d_ft-low", "tvo_t2d_lp"
    ]  # fmt: skip
    cfg, plan = configs["paper"]
    assert len(final_targets(cfg, plan)) == len(ARTIFACTS)
    assert artifact_tables("fig18", cfg, plan) == ["tm_vgg11", "tm_densenet_cifar", "tm_vit"]
    assert artifact_tables("table4", cfg, plan) == ["it_densenet_cifar"]
    with pytest.raises(ValueError, match="unknown artifact 'fig99'"):
        artifact_tables("fig99", cfg, plan)


# Config keys no figure or table depends on: editing them must not rerun any of them
# (the report rules run with `rerun-triggers: params`).
UNRELATED = [
    ("sens", "pairs", 123),
    ("training", "compile", True),
    ("device", None, "cpu"),
    ("seeds", None, 7),
]


def _set(cfg, section, key, value):
    cfg = copy.deepcopy(cfg.to_dict())  # a Config is read-only: edit a plain copy
    if key is None:
        cfg[section] = value
    else:
        cfg[section][key] = value
    return cfg


@pytest.mark.parametrize("preset", ["quick", "tiny", "paper"])
@pytest.mark.parametrize(("section", "key", "value"), UNRELATED)
def test_unrelated_config_edits_leave_every_artifacts_settings(
    configs, preset, section, key, value
):
    cfg, _ = configs[preset]
    edited = _set(cfg, section, key, value)
    edited["training"]["pretrain"] = {**cfg["training"]["pretrain"], "epochs": 3, "lr": 0.1}
    for name in ARTIFACTS:
        assert artifact_settings(name, edited) == artifact_settings(name, cfg), name


def test_settings_follow_the_keys_they_use(configs):
    cfg, plan = configs["quick"]
    fig2 = artifact_settings("fig2", cfg, plan)
    assert fig2 == {"labels": {"cnn4": "cnn4 (width=16)", "vgg11_w": "vgg11_w (width=16)"},
                    "reasons": {}}  # fmt: skip
    wider = copy.deepcopy(cfg.to_dict())
    wider["models"]["arch_kwargs"]["vgg11_w"] = {"width": 8}
    assert artifact_settings("fig2", wider, plan)["labels"]["vgg11_w"] == "vgg11_w (width=8)"
    # Fig 4 draws cnn4 only: the VGG width is not its; Table 2 and Fig 16 draw vgg11_w
    for name in ("fig4", "fig3"):
        assert artifact_settings(name, wider, plan) == artifact_settings(name, cfg, plan), name
    for name in ("table2", "fig16"):
        assert artifact_settings(name, cfg, plan)["label"] == "vgg11_w (width=16)"
        assert artifact_settings(name, wider, plan)["label"] == "vgg11_w (width=8)"
    fig3 = artifact_settings("fig3", cfg, plan)["reasons"]
    assert set(fig3) == {"cifar10", "cifar100"}
    assert fig3["cifar10"].startswith("cifar10 is not in experiments.tvo.families (add it; needs")
    assert "experiments.it" not in " ".join(fig3.values())


def test_report_rules_get_only_the_registry_settings():
    """The four report rules pass their artifact's name, settings and caption, not `config`."""
    text = (ROOT / "workflow/rules/report.smk").read_text()
    rules = dict(re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", text, flags=re.M | re.S))
    for rule in ("figure", "table", "scorecard", "example_figure"):
        params = re.search(r"params:\n((?:        .*\n)+)", rules[rule]).group(1)
        keys = re.findall(r"^        (\w+)=", params, flags=re.M)
        assert keys == ["artifact", "settings", "caption"], (rule, params)
        assert "config" not in params
    common = (ROOT / "workflow/rules/common.smk").read_text()
    assert "artifact=" not in common.split("def scaled")[0]  # constraints come from the registry


def test_every_absent_panel_has_a_config_reason(configs):
    cfg, _ = configs["quick"]
    reasons = panel_reasons(cfg)
    # every panel the quick preset does not build has a reason naming a config key
    built_tables = {"tvo_t2d_lp", "tvo_t2d_ft-low", "tvo_t2d_ft-high", "it_vgg11_w", "tm_cnn4"}
    for panel, spec in PANELS.items():
        p = spec.params
        if spec.source == "tvo":
            absent = f"tvo_{p['family']}_{p['regime']}" not in built_tables
        elif spec.source == "it":
            absent = panel in ("table3", "table4", "table5")
        elif spec.source == "tm":
            absent = panel.startswith("fig18")
        else:
            absent = True
        assert (panel in reasons) == absent, panel
        if absent:
            assert "experiments." in reasons[panel] and "(" in reasons[panel], panel
