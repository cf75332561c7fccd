"""Irrelevant features (paper Sec. 4.2, App. A.2, C.3; Table 1, Fig 14).

Per seed: 10 objects pasted onto CIFAR-10. Per variant (objects fixed in the upper-right corner,
or translated), four core datasets (features / labels: C/C, C+O/C, C+O/O, O/O), a model pretrained
on each and probed on each (Table 1), sens on C+O test data when the CIFAR image or the object
changes; for the fixed variant also the relevance and availability sweeps (Fig 14).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from invtransfer.experiments.jobs import ProbeJob, SensJob, SensPair
from invtransfer.experiments.naming import ife_label
from invtransfer.experiments.plan import Plan
from invtransfer.experiments.specs import draw_objects, ife_spec, rng

__all__ = ["IFE_CORE", "plan_ife"]

IFE_CORE = ("C/C", "C+O/C", "C+O/O", "O/O")


def plan_ife(
    plan: Plan, config: Mapping[str, Any], seeds: Sequence[int], pool: Sequence[str]
) -> None:
    ife = config["experiments"]["ife"]
    variants = ("fixed", "translate")
    if not ife["enabled"]:
        plan.disabled("ife", [f"ife_{s}{v}" for s in ("", "sens_") for v in variants])
        return
    for variant in variants:
        if variant not in ife["variants"]:
            for table in (f"ife_{variant}", f"ife_sens_{variant}"):
                plan.notes[table] = f"variant {variant} not in experiments.ife.variants"
    arch = ife["arch"]

    def add_model(variant: str, dataset: str, seed: int, core: str, **sweep: float) -> str:
        """IFE models have their own epochs; the C/C model is trained with ``cc_augment``."""
        augment = ife["cc_augment"] if core == "C/C" and not sweep else "none"
        label = ife_label(variant, core, n_train=ife["n_train"], augment=augment, **sweep)
        return plan.add_pretraining(
            config, arch, dataset, seed, experiment="ife", label=label,
            epochs=ife["pretrain_epochs"], augment=augment,
        )  # fmt: skip

    for seed in seeds:
        objs = draw_objects(
            pool, int(ife["n_objects"]), rng("ife-objects", seed), "experiments.ife.n_objects"
        )
        probe_job = ProbeJob.from_config(config, "", seed, epochs=ife["probe_epochs"])
        for variant in ife["variants"]:
            placement = "upper-right" if variant == "fixed" else "random"
            core = {
                v: plan.add_dataset(ife_spec(config, v, objs, seed, placement=placement))
                for v in IFE_CORE
            }
            models = {v: add_model(variant, core[v], seed, v) for v in IFE_CORE}
            for pre in IFE_CORE:
                for tgt in IFE_CORE:
                    probe = plan.add_probe(models[pre], core[tgt], probe_job)
                    plan.record(
                        f"ife_{variant}",
                        {
                            "seed": seed,
                            "variant": variant,
                            "experiment": "table1",
                            "sweep_value": float("nan"),
                            "pretrain": pre,
                            "target": tgt,
                            "transfer_path": f"results/probes/{probe}/metrics.json",
                        },
                    )
            # sens pairs on C+O test data: change the CIFAR image / change the object.
            test_spec = functools.partial(
                ife_spec, config, "C+O/C", objs, seed, placement=placement, test_only=True
            )
            evalset = plan.add_evalset(
                f"ife-{variant}-s{seed}",
                {
                    "base": test_spec(),
                    "cifar": test_spec(cifar_seed=seed + 1),
                    "objects": test_spec(object_seed=seed + 1),
                },
            )
            sens_job = SensJob.from_config(config, f"ife-{variant}-s{seed}")
            for pre in IFE_CORE:
                pairs = [
                    SensPair(
                        eval="ife", target_transform=changed, evalset=evalset, a="base", b=changed
                    )
                    for changed in ("cifar", "objects")
                ]
                sens_path = plan.add_sens(models[pre], sens_job, pairs)
                plan.record(
                    f"ife_sens_{variant}",
                    {"seed": seed, "variant": variant, "pretrain": pre, "sens_path": sens_path},
                )
            if variant != "fixed":
                continue
            sweeps = [("relevance", a, {"correlation": a}) for a in ife["correlations"]]
            sweeps += [("availability", b, {"availability": b}) for b in ife["availabilities"]]
            for experiment, value, kwargs in sweeps:
                ds = plan.add_dataset(
                    ife_spec(config, "C+O/C", objs, seed, placement=placement, **kwargs)
                )
                model = add_model(variant, ds, seed, "C+O/C", **kwargs)
                for tgt in ("C+O/C", "C+O/O"):
                    probe = plan.add_probe(model, core[tgt], probe_job)
                    plan.record(
                        "ife_fixed",
                        {
                            "seed": seed,
                            "variant": variant,
                            "experiment": experiment,
                            "sweep_value": float(value),
                            "pretrain": "C+O/C",
                            "target": tgt,
                            "transfer_path": f"results/probes/{probe}/metrics.json",
                        },
                    )
