"""What each job of the workflow computes, without running it: images trained, passed forward
and rendered (:func:`workloads`), from the plan's dataset specs (:func:`split_counts`).

:mod:`invtransfer.estimate` prices these workloads; :class:`~invtransfer.jobgraph.JobGraph`
lists the jobs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from invtransfer.experiments import Plan
from invtransfer.jobgraph import Job

__all__ = ["Workload", "split_counts", "workloads"]

CIFAR_TRAIN_PER_CLASS = {"cifar10": 5000, "cifar100": 500}
CIFAR_TEST_PER_CLASS = {"cifar10": 1000, "cifar100": 100}
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}


def split_counts(spec: Mapping[str, Any]) -> dict[str, int]:
    """Images per split of a dataset spec, without building it (CIFAR counts from the official
    per-class numbers, the ``val_fraction`` split, ``samples_per_class`` and ``splits``)."""
    from invtransfer.datasets.spec import canonicalize_spec

    spec = canonicalize_spec(dict(spec))
    if spec["kind"] not in ("cifar", "cifar_objects"):
        return {s: int(n) for s, n in spec["splits"].items()}
    family = spec.get("dataset", "cifar10")
    classes = spec.get("classes") or list(range(CIFAR_CLASSES[family]))
    per_train = CIFAR_TRAIN_PER_CLASS[family]
    n_val = round(per_train * spec["val_fraction"])
    available = {
        "train": per_train - n_val,
        "val": n_val,
        "test": CIFAR_TEST_PER_CLASS[family],
    }
    per_class = spec.get("samples_per_class") or {}
    out = {}
    for split, count in spec["splits"].items():
        cap = per_class.get(split)
        n = len(classes) * (available[split] if cap is None else min(cap, available[split]))
        if isinstance(count, float):
            n = round(count * n)
        elif count is not None:
            n = min(int(count), n)
        out[split] = n
    return out


@dataclass(frozen=True)
class Workload:
    """What one job computes: training and forward passes of one architecture, and/or
    rendered images. ``trained`` = training images × epochs; ``forward`` = images through the
    model without a backward pass (validation each epoch, test, features, sens)."""

    job: Job
    arch: str | None = None
    arch_kwargs: tuple[tuple[str, Any], ...] = ()
    batch_size: int = 0
    image_size: int = 32
    trained: int = 0
    forward: int = 0
    rendered: int = 0
    models: int = 0  # pretrainings (pretrain) or fine-tuning runs (finetune)


def _kwargs(mapping: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in mapping.items()))


def workloads(plan: Plan, jobs: Iterable[Job]) -> list[Workload]:
    """The workloads of ``jobs`` (jobs of uncounted rules give none; a sens job gives one per
    architecture it evaluates)."""
    counts: dict[str, dict[str, int]] = {}

    def sizes(dataset: str) -> dict[str, int]:
        if dataset not in counts:
            counts[dataset] = split_counts(plan.datasets[dataset])
        return counts[dataset]

    member_counts: dict[tuple[str, str], int] = {}

    def member_images(evalset: str, member: str) -> int:
        if (evalset, member) not in member_counts:
            spec = plan.evalsets[evalset][member]
            member_counts[(evalset, member)] = sum(split_counts(spec).values())
        return member_counts[(evalset, member)]

    def on_model(job: Job, m: Any, batch_size: int, dataset: str, **counts: int) -> Workload:
        """``counts`` (trained, forward, models) of model ``m``'s architecture, on images the
        size of ``dataset``'s."""
        size = int(plan.datasets[dataset].get("image_size", 32))
        return Workload(job, m.arch, _kwargs(m.arch_kwargs), batch_size, size, **counts)

    out: list[Workload] = []
    for job in jobs:
        if job.rule == "pretrain":
            m = plan.models[job.key]
            n = sizes(m.dataset)
            trained = n["train"] * m.epochs
            forward = n.get("val", 0) * m.epochs + n.get("test", 0)
            load = on_model(
                job, m, m.batch_size, m.dataset, trained=trained, forward=forward, models=1
            )
            out.append(load)
        elif job.rule == "finetune":
            ft = plan.finetunes[job.key]
            m = plan.models[ft.model]
            n = sizes(ft.dataset)
            trained = forward = 0
            for run in ft.runs.values():
                k = run.n_samples
                k = round(k * n["train"]) if isinstance(k, float) else min(int(k), n["train"])
                trained += k * run.epochs
                forward += n.get("val", 0) * run.epochs + n.get("test", 0)
            batch = max(r.batch_size for r in ft.runs.values())
            load = on_model(
                job, m, batch, ft.dataset, trained=trained, forward=forward, models=len(ft.runs)
            )
            out.append(load)
        elif job.rule == "features":
            m = plan.models[job.key]
            images = sum(sum(sizes(d).values()) for d in plan.features[job.key].datasets)
            out.append(on_model(job, m, m.batch_size, m.dataset, forward=images))
        elif job.rule == "sens":
            per_arch: dict[tuple[str, tuple], int] = defaultdict(int)
            group = plan.sens[job.key]
            for model, pairs in group.models.items():
                m = plan.models[model]
                members = {(p.evalset, x) for p in pairs for x in (p.a, p.b)}
                images = sum(member_images(e, x) for e, x in members)
                per_arch[(m.arch, _kwargs(m.arch_kwargs))] += images
            for (arch, kw), images in per_arch.items():
                out.append(Workload(job, arch, kw, 1024, 32, forward=images))
        elif job.rule == "materialize":
            out.append(Workload(job, rendered=sum(sizes(job.key).values())))
        elif job.rule == "evalset":
            images = sum(member_images(job.key, x) for x in plan.evalsets[job.key])
            out.append(Workload(job, rendered=images))
    return out
