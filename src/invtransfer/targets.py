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

__all__ = ["ARTIFACTS", "EXAMPLE_FIGURES", "artifact_tables", "example_specs", "final_targets"]

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

_IT_TABLES = {"table3": "vgg11", "table4": "densenet", "table5": "vit"}


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
    it_archs = [
        resolve_arch(a, config)
        for a in config["experiments"].get("it", {}).get("architectures", [])
    ]
    tm_archs = [
        resolve_arch(a, config)
        for a in config["experiments"].get("tm", {}).get("architectures", [])
    ]
    # The paper's main-text artifacts use ResNet-18, the first architecture of the list; a preset
    # with other architectures (e.g. the quick preset's small CNN) draws them with its first one.
    if artifact in ("table2", "fig16", "fig17"):
        return present([f"it_{it_archs[0]}"] if it_archs else [])
    if artifact in _IT_TABLES:
        return present([f"it_{resolve_arch(_IT_TABLES[artifact], config)}"])
    if artifact == "fig4":
        return present([f"tm_{tm_archs[0]}"] if tm_archs else [])
    if artifact == "fig18":
        paper = [resolve_arch(a, config) for a in ("vgg11", "densenet", "vit")]
        return present([f"tm_{a}" for a in tm_archs[1:] if a in paper] or [])
    if artifact == "fig14":
        return present(["ife_fixed"])
    if artifact == "table1":
        return present(["ife_translate", "ife_sens_translate"])
    if artifact == "scorecard":
        return sorted(have)
    return []


EXAMPLE_FIGURES = ("fig1", "fig5", "fig6", "fig15")


def _uses_cifar(config: Mapping[str, Any]) -> bool:
    exps = config["experiments"]
    return bool(
        {"cifar10", "cifar100"} & set(exps.get("tvo", {}).get("families", []))
        or exps.get("ife", {}).get("enabled", False)
        or {"cifar10", "cifar100"} & set(exps.get("it", {}).get("evals", []))
    )


def _example_figures(config: Mapping[str, Any]) -> list[str]:
    """Fig 1 and 5 need only the bundled photos; Fig 6 and 15 show CIFAR images."""
    return ["fig1", "fig5", *(("fig6", "fig15") if _uses_cifar(config) else ())]


def example_specs(artifact: str, config: Mapping[str, Any]) -> dict[str, dict[str, dict]]:
    """Dataset specs of the example figures' rows (built in memory; only the first images are used).

    Returns ``{panel: {row: spec}}``: Fig 1 and 5 have one panel ``rows``; Fig 15 ``random`` and
    ``cifar``; Fig 6 ``rows`` with C, C+O and O.
    """
    from invtransfer.example_figures import (
        FIG1_TRANSFORMS,
        FIG15_CIFAR_TRANSFORMS,
        FIG15_RANDOM_TRANSFORMS,
    )
    from invtransfer.experiments import (
        _all_transforms,
        _object_pool,
        cifar_spec,
        ife_spec,
        random_spec,
        t2d_spec,
    )

    small = {**config, "data": {**config["data"], "n_test": 64}}
    pool = _object_pool(config)
    if artifact in ("fig1", "fig5"):
        names = FIG1_TRANSFORMS if artifact == "fig1" else _all_transforms()
        return {"rows": {t: t2d_spec(small, pool[:4], [t], 0, test_only=True) for t in names}}
    if artifact == "fig15":
        return {
            "random": {
                t: random_spec(small, 4, 998, [t], 0, test_only=True)
                for t in FIG15_RANDOM_TRANSFORMS
            },
            "cifar": {
                t: cifar_spec(small, "cifar10", list(range(10)), [t], 0, test_only=True)
                for t in FIG15_CIFAR_TRANSFORMS
            },
        }
    if artifact == "fig6":
        objs = pool[:10]
        rows = {
            "cifar": ife_spec(small, "C/C", objs, 0, placement="random", test_only=True),
            "cifar_objects": ife_spec(small, "C+O/C", objs, 0, placement="random", test_only=True),
            "objects": ife_spec(small, "O/O", objs, 0, placement="random", test_only=True),
        }
        return {"rows": rows}
    raise ValueError(f"{artifact!r} is not an example figure; expected one of {EXAMPLE_FIGURES}")


def final_targets(config: Mapping[str, Any], plan: Plan) -> list[str]:
    """Every artifact the config can build: figures/*.pdf and tables/*.md with data behind them."""
    out = [f"figures/{f}.pdf" for f in _example_figures(config)]
    for name in ARTIFACTS:
        if name in EXAMPLE_FIGURES:
            continue
        if not artifact_tables(name, config, plan):
            continue
        out.append(
            f"tables/{name}.md"
            if name.startswith(("table", "scorecard"))
            else f"figures/{name}.pdf"
        )
    return out
