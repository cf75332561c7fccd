"""The :class:`Plan`: every job one config asks for, by name, and the records behind each table.

Names are path components under ``results/``. Registering an artifact twice returns the same
name (e.g. the default ResNet-18 pair shared by the three TvO factors is trained once).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from invtransfer.datasets.spec import dataset_name
from invtransfer.experiments.jobs import (
    FeaturesJob,
    FinetuneJob,
    FinetuneRun,
    ModelJob,
    ProbeJob,
    SensJob,
    SensPair,
    job_hash,
    rendering_for,
)

__all__ = ["Plan"]


@dataclass
class Plan:
    """Everything one config asks for, by name. Names are path components under ``results/``."""

    datasets: dict[str, dict] = field(default_factory=dict)  # name -> dataset spec
    evalsets: dict[str, dict[str, dict]] = field(default_factory=dict)  # name -> {member: spec}
    models: dict[str, ModelJob] = field(default_factory=dict)
    # One features job and one probe job per model, over all of that model's target datasets
    # (the invariance-mismatch grid probes each model on 8 datasets: 8x fewer jobs this way).
    features: dict[str, FeaturesJob] = field(default_factory=dict)  # by model
    probes: dict[str, ProbeJob] = field(default_factory=dict)  # by model
    # "model/dataset" -> both fine-tuning regimes in one job
    finetunes: dict[str, FinetuneJob] = field(default_factory=dict)
    # One sens job per group of models that share their evaluation sets (IT: a seed and an
    # architecture, 38 models; IFE: a seed and a variant, 4 models): the evaluation data are
    # read once per group, and the paper-scale DAG has 60 sens jobs instead of 1,600.
    sens: dict[str, SensJob] = field(default_factory=dict)  # by group
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> records
    notes: dict[str, str] = field(default_factory=dict)  # table key -> why it is absent
    _trained: dict[str, str] = field(default_factory=dict, repr=False)  # training hash -> name

    # -- registration (dedupes identical artifacts) -------------------------------------------
    def add_dataset(self, spec: dict) -> str:
        name = dataset_name(spec)
        self.datasets.setdefault(name, spec)
        return name

    def add_evalset(self, label: str, members: dict[str, dict]) -> str:
        name = f"{label}-{job_hash(members)}"
        self.evalsets.setdefault(name, members)
        return name

    def add_model(self, job: ModelJob) -> str:
        """Register ``job``; returns its folder name. A job that trains exactly the same weights
        as a registered one (whatever its label) is the registered model."""
        key = job.training_hash(16)
        if key in self._trained:
            return self._trained[key]
        name = model_name(job)
        if name in self.models:
            raise ValueError(f"two different model jobs are both named {name}")
        self.models[name] = job
        self._trained[key] = name
        return name

    def add_pretraining(
        self, config: Mapping[str, Any], arch: str, dataset: str, seed: int, **options: Any
    ) -> str:
        """Register the pretraining of ``arch`` on the registered dataset ``dataset``:
        :meth:`ModelJob.from_config` with ``options`` (``experiment``, ``label``; ``epochs``,
        ``augment``) and the rendering ``config`` gives the dataset's spec
        (:func:`~invtransfer.experiments.jobs.rendering_for`; the option ``rendering``, an
        experiment's own key, overrides it where the data have transformations); with
        ``min_steps`` (an option, e.g. ``experiments.tvo.min_steps``), a small dataset gets the
        epochs that reach that many optimiser steps; returns the model's name
        (:meth:`add_model`)."""
        rendering = rendering_for(config, self.datasets[dataset], options.pop("rendering", None))
        min_steps = options.pop("min_steps", None)
        if min_steps and "epochs" not in options:
            pre = config["training"]["pretrain"]
            n_train = int(self.datasets[dataset]["splits"]["train"])
            per_epoch = max(1, math.ceil(n_train / int(pre["batch_size"])))
            options["epochs"] = max(int(pre["epochs"]), math.ceil(min_steps / per_epoch))
        return self.add_model(
            ModelJob.from_config(config, arch, dataset, seed, rendering=rendering, **options)
        )

    def find_models(
        self,
        *,
        arch: str | None = None,
        transforms: Sequence[str] = (),
        seed: int | None = None,
        experiment: str | None = None,
    ) -> list[str]:
        """Names of the models trained with ``arch`` (as resolved, e.g. ``densenet_cifar``), on
        data with every one of ``transforms`` (``["none"]``: no transformation at all), with
        ``seed``, for ``experiment`` (tvo, it, tm, ife); ``None`` / empty matches anything."""
        out = []
        for name, job in self.models.items():
            trained = self.datasets[job.dataset].get("transforms", [])
            if arch is not None and job.arch != arch:
                continue
            if seed is not None and job.seed != seed:
                continue
            if experiment is not None and job.experiment != experiment:
                continue
            if list(transforms) == ["none"]:
                if trained:
                    continue
            elif not set(transforms) <= set(trained):
                continue
            out.append(name)
        return sorted(out)

    def add_probe(self, model: str, dataset: str, probe: ProbeJob) -> str:
        """Probe ``model`` on ``dataset`` with ``probe``'s settings; returns ``"model/dataset"``,
        the folder of its result under ``results/probes/`` (see :meth:`requires`)."""
        job = self.probes.setdefault(model, dataclasses.replace(probe, model=model, datasets=()))
        clash = {
            k: (v, probe.settings()[k])
            for k, v in job.settings().items()
            if probe.settings()[k] != v
        }
        if clash:
            raise ValueError(
                f"model {model} is probed with different settings {clash}; one model has one "
                "probe configuration"
            )
        if dataset not in job.datasets:
            self.probes[model] = dataclasses.replace(job, datasets=(*job.datasets, dataset))
            feats = self.features.get(model, FeaturesJob(model, ()))
            self.features[model] = dataclasses.replace(feats, datasets=(*feats.datasets, dataset))
        return f"{model}/{dataset}"

    @staticmethod
    def requires(path: str) -> str:
        """The workflow artifact that produces the result file ``path``: a probe result
        ``results/probes/<model>/<dataset>/metrics.json`` is inside the folder the model's probe
        job writes (``results/probes/<model>``), a sens result ``results/sens/<group>/<model>.csv``
        inside its group's folder; every other result file is its own artifact."""
        parts = path.split("/")
        if len(parts) > 3 and parts[0] == "results" and parts[1] in ("probes", "sens"):
            return "/".join(parts[:3])
        return path

    def add_finetune(self, model: str, dataset: str, regime: str, run: FinetuneRun) -> str:
        """Fine-tune ``model`` on ``dataset`` in ``regime``; one job per (model, dataset) runs
        every regime. Returns ``"model/dataset/regime"``, its folder under results/finetune/."""
        key = f"{model}/{dataset}"
        job = self.finetunes.get(key, FinetuneJob(model, dataset, {}))
        if regime not in job.runs:
            self.finetunes[key] = dataclasses.replace(job, runs={**job.runs, regime: run})
        return f"{model}/{dataset}/{regime}"

    def add_sens(self, model: str, job: SensJob, pairs: list[SensPair]) -> str:
        """sens of ``model`` on ``pairs`` within the sens job of ``job.group`` (created from
        ``job`` when new); returns the path of the model's result file (inside the group's
        folder, see :meth:`requires`)."""
        current = self.sens.setdefault(job.group, job)
        if current.settings() != job.settings():
            raise ValueError(
                f"sens group {job.group} holds models with different sens settings "
                f"({current.settings()} vs {job.settings()})"
            )
        models = dict(current.models)
        models[model] = (*models.get(model, ()), *pairs)
        self.sens[job.group] = dataclasses.replace(current, models=models)
        return f"results/sens/{job.group}/{model}.csv"

    def record(self, table: str, row: dict[str, Any]) -> None:
        self.records.setdefault(table, []).append(row)

    def disabled(self, experiment: str, tables: Sequence[str]) -> None:
        """Note that ``experiment`` is off: its key and each of its ``tables`` say so."""
        why = (
            f"the {experiment} experiment is disabled in this config "
            f"(experiments.{experiment}.enabled: false)"
        )
        for key in (experiment, *tables):
            self.notes[key] = why


def model_name(job: ModelJob) -> str:
    """The folder of a model under ``results/models/``: ``<arch>--<label>--s<seed>--<hash6>``
    (see :mod:`invtransfer.experiments.naming`)."""
    if not job.label:
        raise ValueError(f"model job of {job.arch} on {job.dataset} has no label")
    return f"{job.arch}--{job.label}--s{job.seed}--{job.training_hash(6)}"
