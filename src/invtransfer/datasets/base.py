"""The builder protocol: what a dataset kind's ``build(spec)`` returns.

::

    plan.class_names: list[str]                  # label i = class_names[i]
    plan.chunks(split[, chunk_size=256]) -> Iterator[(images, meta)]
        # images: uint8 numpy N×H×W×3; meta: DataFrame with at least index, split, label,
        # class_name (indices 0, 1, ... of the split in order) plus any builder-specific columns
    plan.splits: dict[str, int]   (optional)       # splits and counts; default: spec["splits"]
    plan.info: dict               (optional)       # JSON-able facts recorded in the manifest
    plan.prepare()                (optional)       # per-split state, built before workers fork
    plan.chunks(split, chunk_size, *, start=0, stop=None)   (optional: parallel builds)

:class:`BuildPlan` is a convenient base class; any object with these attributes works.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BuildPlan"]


class BuildPlan:
    """Base class for builder plans: class names, splits, manifest info and a chunk generator."""

    def __init__(
        self,
        class_names: list[str],
        splits: Mapping[str, int] | None = None,
        info: Mapping[str, Any] | None = None,
    ):
        self.class_names = list(class_names)
        self.splits = dict(splits) if splits is not None else None
        self.info = dict(info) if info is not None else {}

    def prepare(self) -> None:
        """Optional: build per-split state (e.g. background banks) before workers are forked."""

    def chunks(
        self, split: str, chunk_size: int = 256
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        raise NotImplementedError
