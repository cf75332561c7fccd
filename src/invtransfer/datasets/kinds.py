"""The dataset kinds: one registry entry per kind, looked up by name.

A kind is a name, a function that canonicalises its specs (defaults filled, values checked,
unknown keys rejected, idempotent) and a function that turns a canonical spec into a
:class:`~invtransfer.datasets.base.BuildPlan`. :func:`invtransfer.datasets.spec.canonicalize_spec`
and :func:`invtransfer.datasets.builders.dataset_build_plan` dispatch through
:data:`DATASET_KINDS`; a new kind is one module with those two functions and one
:func:`register_dataset_kind` call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from invtransfer.datasets import cifar_aug, cifar_objects, t2d
from invtransfer.datasets.base import BuildPlan
from invtransfer.errors import ConfigError

__all__ = ["DATASET_KINDS", "DatasetKind", "get_dataset_kind", "register_dataset_kind"]


@dataclass(frozen=True)
class DatasetKind:
    name: str  # the spec's "kind"
    canonicalize: Callable[[Mapping[str, Any]], dict[str, Any]]  # spec -> canonical spec
    build: Callable[[Mapping[str, Any]], BuildPlan]  # canonical spec -> build plan
    description: str  # one line for listings and error messages


DATASET_KINDS: dict[str, DatasetKind] = {}


def register_dataset_kind(kind: DatasetKind) -> DatasetKind:
    """Add ``kind`` to :data:`DATASET_KINDS`; a second kind under the same name is an error."""
    if not isinstance(kind, DatasetKind):
        raise TypeError(f"register_dataset_kind expects a DatasetKind, got {type(kind).__name__}")
    if kind.name in DATASET_KINDS:
        raise ValueError(f"dataset kind {kind.name!r} is already registered")
    DATASET_KINDS[kind.name] = kind
    return kind


def get_dataset_kind(name: Any) -> DatasetKind:
    """The registered kind ``name``; an unknown name raises :class:`ConfigError` listing the kinds."""
    if not isinstance(name, str) or name not in DATASET_KINDS:
        raise ConfigError(
            f"dataset spec key 'kind': unknown kind {name!r}; valid kinds: "
            + ", ".join(DATASET_KINDS)
        )
    return DATASET_KINDS[name]


for _kind in (
    DatasetKind("t2d", t2d.canonicalize_t2d_spec, t2d.build, "Transforms-2D D(O, T) (paper §3.3)"),
    DatasetKind(
        "random",
        t2d.canonicalize_t2d_spec,
        t2d.build,
        "structured random patterns on random backgrounds (paper App. D.1)",
    ),
    DatasetKind(
        "cifar",
        cifar_aug.canonicalize_spec,
        cifar_aug.build,
        "CIFAR-10/100 with the transformations as augmentations (paper §4.1, App. C.1)",
    ),
    DatasetKind(
        "cifar_objects",
        cifar_objects.canonicalize_spec,
        cifar_objects.build,
        "CIFAR-10 with pasted objects, irrelevant features (paper §4.2, App. A.2)",
    ),
):
    register_dataset_kind(_kind)
del _kind
