"""The paper's artifacts (figures, tables) and the tidy tables each one is drawn from.

Used by the workflow to decide what ``rule all`` builds and which ``results/tables/*.csv`` a figure
or table needs: a figure depends only on the experiments it shows, so ``snakemake figures/fig2.pdf``
never waits for CIFAR or invariance-transfer jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invtransfer.config import resolve_arch
from invtransfer.experiments import Plan

__all__ = ["ARTIFACTS", "artifact_tables", "final_targets"]

TVO_FAMILIES = ("t2d", "cifar10", "cifar100")

# artifact -> (kind, description)
ARTIFACTS: dict[str, str] = {
    "fig1": "Transforms-2D examples (rotate, hue, blur)",
    "fig2": "TvO on Transforms-2D, linear probe",
    "fig3": "TvO differences, linear probe (T2D, CIFAR-10, CIFAR-100)",
    "fig4": "Invariance mismatch, ResNet-18",
    "fig5": "The 18 transformations",
    "fig6": "IFE examples (C, C+O, O)",
    "fig7": "TvO on CIFAR-10, linear probe",
    "fig8": "TvO on CIFAR-100, linear probe",
    "fig9": "TvO on Transforms-2D, full fine-tuning (low data)",
    "fig10": "TvO on CIFAR-10, full fine-tuning (low data)",
    "fig11": "TvO on CIFAR-100, full fine-tuning (low data)",
    "fig12": "TvO differences, full fine-tuning (low data)",
    "fig13": "TvO differences, full fine-tuning (high data)",
    "fig14": "Relevance and availability sweeps",
    "fig15": "Structured-random and augmented CIFAR-10 examples",
    "fig16": "Invariance transfer heatmap, image models",
    "fig17": "Invariance transfer heatmap, random models",
    "fig18": "Invariance mismatch, VGG-11 / DenseNet / ViT",
    "table1": "Irrelevant features: accuracy and sens",
    "table2": "Invariance transfer, ResNet-18",
    "table3": "Invariance transfer, VGG-11",
    "table4": "Invariance transfer, DenseNet",
    "table5": "Invariance transfer, ViT",
    "scorecard": "Paper numbers beside ours",
}

_IT_TABLES = {"table2": "resnet18", "table3": "vgg11", "table4": "densenet", "table5": "vit"}


def artifact_tables(artifact: str, config: Mapping[str, Any], plan: Plan) -> list[str]:
    """Keys of the tidy tables (``results/tables/<key>.csv``) that ``artifact`` is drawn from.

    Only tables the plan actually has records for are returned; the figure code shows an explicit
    "not run" note for the rest.
    """
    have = set(plan.records)

    def present(keys: list[str]) -> list[str]:
        return [k for k in keys if k in have]

    if artifact == "fig2":
        return present(["tvo_t2d_lp"])
    if artifact in ("fig7", "fig8"):
        return present([f"tvo_{'cifar10' if artifact == 'fig7' else 'cifar100'}_lp"])
    if artifact in ("fig9", "fig10", "fig11"):
        fam = {"fig9": "t2d", "fig10": "cifar10", "fig11": "cifar100"}[artifact]
        return present([f"tvo_{fam}_ft-low"])
    if artifact in ("fig3", "fig12", "fig13"):
        regime = {"fig3": "lp", "fig12": "ft-low", "fig13": "ft-high"}[artifact]
        return present([f"tvo_{f}_{regime}" for f in TVO_FAMILIES])
    if artifact in ("fig4", "fig16", "fig17") or artifact in _IT_TABLES:
        arch = _IT_TABLES.get(artifact, "resnet18")
        kind = "it" if artifact in _IT_TABLES or artifact in ("fig16", "fig17") else "tm"
        return present([f"{kind}_{resolve_arch(arch, config)}"])
    if artifact == "fig18":
        return present([f"tm_{resolve_arch(a, config)}" for a in ("vgg11", "densenet", "vit")])
    if artifact == "fig14":
        return present(["ife_fixed"])
    if artifact == "table1":
        return present(["ife_translate", "ife_sens_translate"])
    if artifact == "scorecard":
        return sorted(have)
    return []


def _example_figures(config: Mapping[str, Any]) -> list[str]:
    return ["fig1", "fig5"]


def final_targets(config: Mapping[str, Any], plan: Plan) -> list[str]:
    """Every artifact the config can build: figures/*.pdf and tables/*.md with data behind them."""
    out = [f"figures/{f}.pdf" for f in _example_figures(config)]
    for name in ARTIFACTS:
        if name in ("fig1", "fig5", "fig6", "fig15"):
            continue
        if not artifact_tables(name, config, plan):
            continue
        out.append(
            f"tables/{name}.md"
            if name.startswith(("table", "scorecard"))
            else f"figures/{name}.pdf"
        )
    return out
