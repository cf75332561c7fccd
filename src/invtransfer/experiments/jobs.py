"""The jobs a plan holds: typed, frozen records of what one workflow job computes.

Each job knows the parameters its workflow step takes (:meth:`to_params`, plain JSON-able data:
Snakemake's ``rerun-triggers: params`` only sees changes in builtin types) and, for models, the
hash that makes its folder name unique. Dataset specs are the datasets package's dicts
(:mod:`invtransfer.datasets.spec`) and are referred to by their canonical name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from invtransfer.config import resolve_arch

__all__ = [
    "AUGMENTATIONS",
    "RENDERED_KINDS",
    "FeaturesJob",
    "FinetuneJob",
    "FinetuneRun",
    "ModelJob",
    "ProbeJob",
    "SensJob",
    "SensPair",
    "job_hash",
    "rendering_for",
]

#: Training-time augmentations a pretraining job may ask for ("crop-flip": CIFAR's random crop
#: with 4 px padding + horizontal flip, as the reference trains its C/C model).
AUGMENTATIONS = ("none", "crop-flip")


def _plain(value: Any) -> Any:
    """JSON-able builtins: mappings → dicts, sequences → lists, jobs → their params."""
    if hasattr(value, "to_params"):
        return value.to_params()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def job_hash(obj: Any, length: int = 10) -> str:
    """First ``length`` hex digits of the SHA-256 of the canonical JSON of ``obj`` (a job, its
    params or any JSON-able value); mapping keys starting with ``_`` are ignored."""

    def strip(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: strip(x) for k, x in v.items() if not str(k).startswith("_")}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    text = json.dumps(strip(_plain(obj)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


#: Dataset kinds whose transformations training can redraw every epoch, and the key of
#: ``training.rendering`` that chooses for each (structured random data goes with Transforms-2D).
RENDERED_KINDS = {"t2d": "t2d", "random": "t2d", "cifar": "cifar"}


def rendering_for(
    config: Mapping[str, Any], spec: Mapping[str, Any], override: str | None = None
) -> str:
    """How pretraining / fine-tuning on the dataset ``spec`` sees its transformations:
    ``override`` (an experiment's own ``rendering`` key) or else ``training.rendering.<family>``
    for kinds with transformations (:data:`RENDERED_KINDS`), ``"fixed"`` for data without any
    (every epoch would be the same images). The value is checked where it is used
    (:class:`ModelJob`) and, from a config, by the schema."""
    key = RENDERED_KINDS.get(spec.get("kind", ""))
    if key is None or not spec.get("transforms"):
        return "fixed"
    return str(override if override is not None else config["training"]["rendering"][key])


def _freeze_mapping(job: Any, name: str) -> None:
    object.__setattr__(job, name, MappingProxyType(dict(getattr(job, name))))


def _check_rendering(value: str) -> None:
    if value not in ("fixed", "per-epoch"):
        raise ValueError(f"rendering must be 'fixed' or 'per-epoch', got {value!r}")


@dataclass(frozen=True)
class ModelJob:
    """Pretrain ``arch`` on dataset ``dataset`` (``results/models/<name>/``).

    ``experiment`` and ``label`` say where the job comes from and what it is trained on, in
    words (they make its folder name readable); they are not part of what is computed.
    """

    arch: str
    arch_kwargs: Mapping[str, Any]
    dataset: str
    seed: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    schedule: str  # "constant" | "linear" (to 0) | "vit" (linear warm-up, then cosine to min_lr)
    warmup_epochs: int | None  # "vit" only
    min_lr: float | None  # "vit" only
    augment: str  # one of AUGMENTATIONS
    rendering: str = "fixed"  # "fixed" | "per-epoch": fresh transformation draws every epoch
    experiment: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        _freeze_mapping(self, "arch_kwargs")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {self.augment!r}")
        _check_rendering(self.rendering)
        if (self.schedule == "vit") != (self.warmup_epochs is not None):
            raise ValueError("warmup_epochs and min_lr are set exactly for the 'vit' schedule")

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        arch: str,
        dataset: str,
        seed: int,
        *,
        experiment: str,
        label: str,
        epochs: int | None = None,
        batch_size: int | None = None,
        augment: str = "none",
        rendering: str = "fixed",
    ) -> ModelJob:
        """The pretraining job of ``arch`` on ``dataset`` under ``config["training"]``
        (``epochs`` and ``batch_size`` override ``training.pretrain.epochs`` / ``batch_size``,
        e.g. for the IFE or the mismatch family; ``rendering`` is :func:`rendering_for` the
        dataset's spec)."""
        arch = resolve_arch(arch, config)
        pre = config["training"]["pretrain"]
        vit = config["training"]["vit"] if arch == "vit" else None
        return cls(
            arch=arch,
            arch_kwargs=dict(config["models"]["arch_kwargs"].get(arch, {})),
            dataset=dataset,
            seed=int(seed),
            epochs=int(pre["epochs"] if epochs is None else epochs),
            batch_size=int(pre["batch_size"] if batch_size is None else batch_size),
            lr=float(pre["lr"]),
            weight_decay=float(vit["weight_decay"] if vit else pre["weight_decay"]),
            schedule="vit" if vit else pre["schedule"],
            warmup_epochs=int(vit["warmup_epochs"]) if vit else None,
            min_lr=float(vit["min_lr"]) if vit else None,
            augment=augment,
            rendering=rendering,
            experiment=experiment,
            label=label,
        )

    def to_params(self) -> dict[str, Any]:
        """Keyword arguments of the pretraining step (``steps.pretrain_model``)."""
        out: dict[str, Any] = {
            "arch": self.arch,
            "arch_kwargs": _plain(self.arch_kwargs),
            "dataset": self.dataset,
            "seed": self.seed,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "schedule": self.schedule,
        }
        if self.schedule == "vit":
            out.update(warmup_epochs=self.warmup_epochs, min_lr=self.min_lr)
        if self.augment != "none":
            out["augment"] = self.augment
        if self.rendering != "fixed":
            out["rendering"] = self.rendering
        return out

    def training_hash(self, length: int = 6) -> str:
        """Hash of everything that determines the trained weights (not ``experiment``/``label``;
        ``rendering`` only when it is not ``"fixed"``, so fixed models keep their names)."""
        fields = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("experiment", "label")
            and not (f.name == "rendering" and self.rendering == "fixed")
        }
        return job_hash(fields, length)


@dataclass(frozen=True)
class ProbeJob:
    """Linear probes of ``model`` on each of ``datasets`` (``results/probes/<model>/<dataset>/``)."""

    model: str
    datasets: tuple[str, ...]
    epochs: int
    batch_size: int
    lr: float
    seed: int

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], model: str, seed: int, *, epochs: int | None = None
    ) -> ProbeJob:
        """No datasets yet (see :meth:`Plan.add_probe`); ``epochs`` overrides
        ``training.probe.epochs`` (e.g. for the IFE family)."""
        p = config["training"]["probe"]
        return cls(
            model=model,
            datasets=(),
            epochs=int(p["epochs"] if epochs is None else epochs),
            batch_size=int(p["batch_size"]),
            lr=float(p["lr"]),
            seed=int(seed),
        )

    def settings(self) -> dict[str, Any]:
        """Everything but the model and its datasets: one model has one probe configuration."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "seed": self.seed}  # fmt: skip

    def to_params(self) -> dict[str, Any]:
        return {"model": self.model, "datasets": list(self.datasets), **self.settings()}


@dataclass(frozen=True)
class FeaturesJob:
    """Cached features of ``model`` on each of ``datasets`` (``results/features/<model>/``)."""

    model: str
    datasets: tuple[str, ...]

    def to_params(self) -> dict[str, Any]:
        return {"model": self.model, "datasets": list(self.datasets)}


@dataclass(frozen=True)
class FinetuneRun:
    """One full fine-tuning regime (LP-FT, paper App. C.2)."""

    n_samples: int | float  # int: count; float in (0, 1]: fraction of the target's train split
    epochs: int
    batch_size: int
    lr: float
    lr_decay_epochs: int | None
    seed: int
    rendering: str = "fixed"  # "fixed" | "per-epoch" (see ModelJob)

    def __post_init__(self) -> None:
        _check_rendering(self.rendering)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        n_samples: int | float,
        seed: int,
        *,
        rendering: str = "fixed",
    ) -> FinetuneRun:
        f = config["training"]["finetune"]
        return cls(
            n_samples=n_samples,
            epochs=int(f["epochs"]),
            batch_size=int(f["batch_size"]),
            lr=float(f["lr"]),
            lr_decay_epochs=f["lr_decay_epochs"],
            seed=int(seed),
            rendering=rendering,
        )

    def to_params(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.rendering == "fixed":  # the default: params (and reruns) as before the switch
            del out["rendering"]
        return out


@dataclass(frozen=True)
class FinetuneJob:
    """Fine-tune ``model`` on ``dataset`` in every regime of ``runs``
    (``results/finetune/<model>/<dataset>/<regime>/``)."""

    model: str
    dataset: str
    runs: Mapping[str, FinetuneRun]

    def __post_init__(self) -> None:
        _freeze_mapping(self, "runs")

    def to_params(self) -> dict[str, Any]:
        return {"model": self.model, "dataset": self.dataset, "runs": _plain(self.runs)}


@dataclass(frozen=True)
class SensPair:
    """sens of a model between members ``a`` and ``b`` of evaluation set ``evalset``."""

    eval: str  # the evaluation data (in_dist, mild_ood, ..., or "ife")
    target_transform: str  # the transformation (or, for IFE, what changes: cifar | objects)
    evalset: str
    a: str
    b: str

    def to_params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SensJob:
    """sens of every model of a group on its pairs (``results/sens/<group>/<model>.csv``)."""

    group: str
    models: Mapping[str, tuple[SensPair, ...]]
    n_pairs: int  # random pairs per expectation of Eq. 1
    estimator: str  # "global" | "reference-batch"
    layer: str  # "penultimate" | "reference" (the layer the reference hooks)

    def __post_init__(self) -> None:
        _freeze_mapping(self, "models")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], group: str) -> SensJob:
        s = config["sens"]
        return cls(
            group=group,
            models={},
            n_pairs=int(s["pairs"]),
            estimator=str(s["estimator"]),
            layer=str(s["layer"]),
        )

    def settings(self) -> dict[str, Any]:
        """How sens is computed (the step's ``sens`` argument)."""
        return {"pairs": self.n_pairs, "estimator": self.estimator, "layer": self.layer}

    def to_params(self) -> dict[str, Any]:
        return {"models": _plain(self.models), **self.settings()}
