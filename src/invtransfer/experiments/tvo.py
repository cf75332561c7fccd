"""Transformations vs other factors (paper Sec. 4.1, App. C.1, C.2; Fig 2, 3, 7-13).

Per seed and family: draw 2·K classes, O_e = the first K (target), O_t = the rest; per category
(geometric, photometric, corruption) draw 2 transformations, T_e takes the first of each ("same"),
T_t the second ("disjoint"). Each factor value pretrains a pair g_s on D(O_rel, T_e) and g_d on
D(O_rel, T_t); both transfer to the target D(O_e, T_e) by a linear probe and, per regime, by full
fine-tuning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from invtransfer.config import resolve_arch
from invtransfer.experiments.jobs import FinetuneRun, ProbeJob, rendering_for
from invtransfer.experiments.naming import count_label, transforms_label
from invtransfer.experiments.plan import Plan
from invtransfer.experiments.specs import (
    CIFAR_CLASSES,
    categories,
    cifar_spec,
    draw_objects,
    rng,
    t2d_spec,
)

__all__ = ["FAMILIES", "REGIMES", "draw_tvo_transforms", "plan_tvo"]

FAMILIES = ("t2d", "cifar10", "cifar100")
REGIMES = ("lp", "ft-low", "ft-high")


def draw_tvo_transforms(seed: int, family: str) -> tuple[list[str], list[str]]:
    """T_e (target/"same") and T_t ("disjoint"): per category draw 2 types, first → T_e."""
    generator = rng("tvo-transforms", family, seed)
    same, disjoint = [], []
    for cat in ("geometric", "photometric", "corruption"):
        a, b = generator.choice(list(categories()[cat]), size=2, replace=False)
        same.append(str(a))
        disjoint.append(str(b))
    return same, disjoint


def _subset_size(n: int) -> int:
    return max(2, round(n / 3))


def plan_tvo(
    plan: Plan, config: Mapping[str, Any], seeds: Sequence[int], pool: Sequence[str]
) -> None:
    tvo = config["experiments"]["tvo"]
    families, regimes = tvo["families"], tvo["regimes"]
    default_arch = tvo["default_arch"]
    for family in FAMILIES:
        if family not in families:
            for regime in REGIMES:
                plan.notes[f"tvo_{family}_{regime}"] = (
                    f"family {family} not in experiments.tvo.families"
                )
    for family in families:
        k = int(tvo["n_classes"][family])
        pt_default = tvo["default_pt_samples"][family]
        for seed in seeds:
            same_t, disj_t = draw_tvo_transforms(seed, family)
            generator = rng("tvo-classes", family, seed)
            if family == "t2d":
                drawn = draw_objects(pool, 2 * k, generator, "experiments.tvo.n_classes.t2d")
            else:
                drawn = [int(c) for c in generator.permutation(CIFAR_CLASSES[family])[: 2 * k]]
            target, train = drawn[:k], drawn[k:]
            rel_classes = {
                "subset": target[: _subset_size(k)],
                "disjoint": train,
                "same": target,
                "superset": target + train,
            }

            def make(classes, transforms, n, family=family, seed=seed):
                if family == "t2d":
                    return t2d_spec(config, classes, transforms, seed, n_train=n)
                return cifar_spec(config, family, classes, transforms, seed, samples_per_class=n)

            target_ds = plan.add_dataset(make(target, same_t, None if family == "t2d" else "all"))
            runs: list[
                tuple[str, str, int, str, str, Any]
            ] = []  # factor, value, order, arch, rel, n
            for i, rel in enumerate(tvo["class_relationships"]):
                runs.append(("class_rel", rel, i, default_arch, rel, pt_default))
            for i, arch in enumerate(tvo["architectures"]):
                runs.append(("arch", arch, i, arch, "disjoint", pt_default))
            for i, n in enumerate(tvo["pt_samples"][family]):
                runs.append(("pt_samples", str(n), i, default_arch, "disjoint", n))
            for factor, value, order, arch, rel, n in runs:
                for relation, transforms in (("same", same_t), ("disjoint", disj_t)):
                    ds = plan.add_dataset(make(rel_classes[rel], transforms, n))
                    size = count_label(n, per_class=family != "t2d")
                    label = f"tvo-{family}-{transforms_label(transforms)}-{len(rel_classes[rel])}c-{size}"
                    model = plan.add_pretraining(
                        config, arch, ds, seed, experiment="tvo", label=label,
                        min_steps=tvo["min_steps"],
                    )  # fmt: skip
                    probe = plan.add_probe(
                        model, target_ds, ProbeJob.from_config(config, model, seed)
                    )
                    meta = {
                        "family": family,
                        "factor": factor,
                        "value": value,
                        "value_order": order,
                        "relation": relation,
                        "seed": seed,
                        "arch": resolve_arch(arch, config),
                        "model": model,
                    }
                    for regime in regimes:
                        if regime == "lp":
                            result = f"results/probes/{probe}/metrics.json"
                        else:
                            n_ft = tvo["finetune_samples"][family][regime]
                            ft = plan.add_finetune(
                                model,
                                target_ds,
                                regime,
                                FinetuneRun.from_config(
                                    config,
                                    n_ft,
                                    seed,
                                    rendering=rendering_for(config, plan.datasets[target_ds]),
                                ),
                            )
                            result = f"results/finetune/{ft}/metrics.json"
                        plan.record(
                            f"tvo_{family}_{regime}",
                            {
                                **meta,
                                "regime": regime,
                                "training_path": f"results/models/{model}/metrics.json",
                                "transfer_path": result,
                            },
                        )
        for regime in REGIMES:
            if regime not in regimes:
                plan.notes[f"tvo_{family}_{regime}"] = (
                    f"regime {regime} not in experiments.tvo.regimes"
                )
