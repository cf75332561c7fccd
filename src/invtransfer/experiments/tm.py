"""Invariance mismatch (paper Sec. 5.2, App. D.3; Fig 4, 18).

Per seed: K objects and n transformations drawn from all 18, nested prefixes T_1 ⊂ … ⊂ T_n. A
model pretrained on D(O, T_i) is probed on every D(O, T_j).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from invtransfer.config import resolve_arch
from invtransfer.experiments.jobs import ProbeJob
from invtransfer.experiments.naming import count_label, transforms_label
from invtransfer.experiments.plan import Plan
from invtransfer.experiments.specs import all_transforms, draw_objects, rng, t2d_spec

__all__ = ["plan_tm"]


def plan_tm(
    plan: Plan, config: Mapping[str, Any], seeds: Sequence[int], pool: Sequence[str]
) -> None:
    tm = config["experiments"]["tm"]
    if not tm["enabled"]:
        plan.disabled("tm", [f"tm_{resolve_arch(a, config)}" for a in tm["architectures"]])
        return
    k, n_t = int(tm["n_classes"]), int(tm["n_transforms"])
    for seed in seeds:
        generator = rng("tm", seed)
        ts = [str(t) for t in generator.choice(all_transforms(), size=n_t, replace=False)]
        objs = draw_objects(pool, k, generator, "experiments.tm.n_classes")
        datasets = [
            plan.add_dataset(t2d_spec(config, objs, ts[:j], seed)) for j in range(1, n_t + 1)
        ]
        for arch in tm["architectures"]:
            arch_r = resolve_arch(arch, config)
            for i, ds_train in enumerate(datasets, start=1):
                label = (
                    f"tm-{transforms_label(ts[:i])}-{k}c-{count_label(config['data']['n_train'])}"
                )
                model = plan.add_pretraining(
                    config,
                    arch,
                    ds_train,
                    seed,
                    experiment="tm",
                    label=label,
                    epochs=tm["pretrain_epochs"],  # None: training.pretrain.epochs
                    batch_size=tm["pretrain_batch_size"],  # None: training.pretrain.batch_size
                    rendering=tm["rendering"],  # None: training.rendering.t2d
                )
                for j, ds_target in enumerate(datasets, start=1):
                    probe = plan.add_probe(
                        model, ds_target, ProbeJob.from_config(config, model, seed)
                    )
                    plan.record(
                        f"tm_{arch_r}",
                        {
                            "arch": arch_r,
                            "seed": seed,
                            "n_train_transforms": i,
                            "n_target_transforms": j,
                            "model": model,
                            "transforms": ",".join(ts),
                            "transfer_path": f"results/probes/{probe}/metrics.json",
                        },
                    )
