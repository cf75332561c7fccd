"""Invariance transfer (paper Sec. 5.1, App. D; Table 2-5, Fig 16, 17).

Per seed: 2·K objects (primary O_p / secondary O_s) and two random pattern sets (rp / rs). Per
architecture, 19 image models (trained on D(O_p, {t}) for each transformation t, and on no
transformation) and 19 random models (rp patterns); each model's sens is measured on twin
evaluation sets of every evaluation source and transformation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from invtransfer.config import resolve_arch
from invtransfer.experiments.jobs import SensJob, SensPair
from invtransfer.experiments.naming import count_label
from invtransfer.experiments.plan import Plan
from invtransfer.experiments.specs import (
    CIFAR_CLASSES,
    all_transforms,
    cifar_spec,
    draw_objects,
    random_spec,
    rng,
    t2d_spec,
    twin_seed,
)
from invtransfer.rng import derive_seed

__all__ = ["IT_EVAL_SOURCES", "it_transforms", "plan_it"]

IT_EVAL_SOURCES = {
    # eval column -> (image models' data, random models' data)
    "in_dist": ("op-img", "rp-rand"),
    "mild_ood": ("os-img", "rs-rand"),
    "strong_ood": ("rs-rand", "os-img"),
    "cifar10": ("cifar10", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
}


def it_transforms(config: Mapping[str, Any]) -> list[str]:
    """The transformations of the IT grid (``experiments.it.transforms``)."""
    chosen = config["experiments"]["it"]["transforms"]
    return all_transforms() if chosen == "all" else list(chosen)


def plan_it(
    plan: Plan, config: Mapping[str, Any], seeds: Sequence[int], pool: Sequence[str]
) -> None:
    it = config["experiments"]["it"]
    if not it["enabled"]:
        plan.disabled("it", [f"it_{resolve_arch(a, config)}" for a in it["architectures"]])
        return
    k = int(it["n_classes"])
    transforms = it_transforms(config)
    evals = list(it["evals"])
    for seed in seeds:
        drawn = draw_objects(pool, 2 * k, rng("it-objects", seed), "experiments.it.n_classes")
        o_p, o_s = drawn[:k], drawn[k:]
        pattern = {
            "rp": derive_seed("it-rp", seed) & 0x7FFFFFFF,
            "rs": derive_seed("it-rs", seed) & 0x7FFFFFFF,
        }
        sources = {s for e in evals for s in IT_EVAL_SOURCES[e]}

        def eval_spec(source, t, tseed, seed=seed, o_p=o_p, o_s=o_s, pattern=pattern):
            if source in ("op-img", "os-img"):
                objs = o_p if source == "op-img" else o_s
                return t2d_spec(config, objs, [t], seed, test_only=True, transform_seed=tseed)
            if source in ("rp-rand", "rs-rand"):
                return random_spec(
                    config, k, pattern[source[:2]], [t], seed, test_only=True, transform_seed=tseed
                )
            spec = cifar_spec(
                config,
                source,
                list(range(CIFAR_CLASSES[source])),
                [t],
                seed,
                test_only=True,
                transform_seed=tseed,
            )
            spec["splits"] = {"test": min(int(config["data"]["n_test"]), 10000)}
            return spec

        evalsets = {}
        for source in sorted(sources):
            members = {}
            for t in transforms:
                members[f"{t}.a"] = eval_spec(source, t, twin_seed(seed, "a"))
                members[f"{t}.b"] = eval_spec(source, t, twin_seed(seed, "b"))
            evalsets[source] = plan.add_evalset(f"it-{source}-s{seed}", members)
        n_train = int(it["n_train"] or config["data"]["n_train"])
        it_epochs = it["pretrain_epochs"]  # None: training.pretrain.epochs
        for arch in it["architectures"]:
            arch_r = resolve_arch(arch, config)
            sens_job = SensJob.from_config(config, f"it-{arch_r}-s{seed}")
            for model_type in ("image", "random"):
                for train_t in [*transforms, "none"]:
                    ts = [] if train_t == "none" else [train_t]
                    if model_type == "image":
                        spec = t2d_spec(config, o_p, ts, seed, n_train=n_train)
                    else:
                        spec = random_spec(config, k, pattern["rp"], ts, seed, n_train=n_train)
                    ds = plan.add_dataset(spec)
                    size = count_label(n_train)
                    label = f"it-{model_type}-{train_t}-{k}c-{size}"
                    model = plan.add_pretraining(
                        config, arch, ds, seed, experiment="it", label=label, epochs=it_epochs,
                        rendering=it["rendering"],  # None: training.rendering.t2d
                    )  # fmt: skip
                    pairs = [
                        SensPair(
                            eval=e,
                            target_transform=t,
                            evalset=evalsets[IT_EVAL_SOURCES[e][0 if model_type == "image" else 1]],
                            a=f"{t}.a",
                            b=f"{t}.b",
                        )
                        for e in evals
                        for t in transforms
                    ]
                    sens_path = plan.add_sens(model, sens_job, pairs)
                    plan.record(
                        f"it_{arch_r}",
                        {
                            "arch": arch_r,
                            "seed": seed,
                            "model_type": model_type,
                            "train_transform": train_t,
                            "model": model,
                            "sens_path": sens_path,
                        },
                    )
