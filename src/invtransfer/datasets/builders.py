"""``materialize``: build any dataset kind and write it to disk atomically.

Builder protocol (one module per kind, imported lazily, see :data:`spec.BUILDER_MODULES`)::

    build(spec) -> plan
    plan.class_names: list[str]                  # label i = class_names[i]
    plan.chunks(split[, chunk_size=256]) -> Iterator[(images, meta)]
        # images: uint8 numpy N×H×W×3; meta: DataFrame with at least index, split, label,
        # class_name (indices 0, 1, ... of the split in order) plus any builder-specific columns
    plan.splits: dict[str, int]   (optional)       # splits and counts; default: spec["splits"]
    plan.info: dict               (optional)       # JSON-able facts recorded in the manifest

:class:`BuildPlan` is a convenient base class; any object with these attributes works.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import platform
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import invtransfer
from invtransfer.datasets.spec import BUILDER_MODULES, canonicalize_spec, dataset_name, spec_hash
from invtransfer.datasets.store import MANIFEST, DatasetWriter
from invtransfer.io import atomic_dir, atomic_write_json

__all__ = ["PREVIEW_CLASSES", "PREVIEW_SAMPLES", "BuildPlan", "build_plan", "materialize"]

log = logging.getLogger("invtransfer.datasets")

PREVIEW_CLASSES = 10  # rows of preview.png: the first classes by label
PREVIEW_SAMPLES = 8  # columns: the first samples of each class in the first split


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

    def chunks(
        self, split: str, chunk_size: int = 256
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        raise NotImplementedError


def build_plan(spec: Mapping[str, Any]) -> Any:
    """Dispatch ``spec["kind"]`` to its builder module's ``build(spec)``."""
    canonical = canonicalize_spec(spec)
    module = importlib.import_module(BUILDER_MODULES[canonical["kind"]])
    plan = module.build(canonical)
    if not hasattr(plan, "class_names") or not callable(getattr(plan, "chunks", None)):
        raise TypeError(
            f"{module.__name__}.build must return an object with class_names and chunks(split)"
        )
    return plan


def _iter_chunks(
    plan: Any, split: str, chunk_size: int
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    params = inspect.signature(plan.chunks).parameters
    if "chunk_size" in params:
        return iter(plan.chunks(split, chunk_size=chunk_size))
    return iter(plan.chunks(split))


class _Progress:
    """One log line per shard's worth of images, with the rate and an ETA."""

    def __init__(self, name: str, total: int | None, every: int, level: int):
        self.name, self.total, self.every, self.level = name, total, max(1, every), level
        self.done = 0
        self.next = self.every
        self.t0 = time.perf_counter()

    def update(self, split: str, n: int, split_done: int, split_total: int | None) -> None:
        self.done += n
        if self.done < self.next and split_done != split_total:
            return
        while self.next <= self.done:
            self.next += self.every
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else float("inf")
        eta = f", ETA {(self.total - self.done) / rate:.0f} s" if self.total and rate > 0 else ""
        of = f"/{split_total}" if split_total else ""
        log.log(
            self.level,
            "%s: %s %d%s images (%.0f img/s%s)",
            self.name,
            split,
            split_done,
            of,
            rate,
            eta,
        )


def materialize(
    spec: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    chunk_size: int = 256,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build the dataset ``spec`` into ``out_dir`` (replaced atomically); returns the manifest.

    Writes ``images-NNNNN.npy`` shards, ``samples.parquet``, ``manifest.json``, ``spec.json`` and
    ``preview.png`` into a temporary folder next to ``out_dir`` and renames it into place, so a
    killed build leaves nothing a rerun would trust. Streams shard by shard: memory stays at about
    one shard plus the per-sample metadata whatever the size. ``threads`` sets
    ``torch.set_num_threads`` for the build (restored afterwards).
    """
    from invtransfer.datasets.preview import write_preview

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    t0 = time.perf_counter()
    canonical = canonicalize_spec(spec)
    name = dataset_name(canonical)
    out_dir = Path(out_dir)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        plan = build_plan(canonical)
        class_names = [str(c) for c in plan.class_names]
        k = len(class_names)
        if k < 1:
            raise ValueError(f"{name}: the builder gave no classes")
        splits = getattr(plan, "splits", None) or canonical.get("splits")
        if not splits:
            raise ValueError(f"{name}: neither the builder nor the spec names any split")
        expected = {s: int(n) for s, n in splits.items()} if isinstance(splits, Mapping) else None
        split_names = list(splits)
        total = sum(expected.values()) if expected else None
        meter = _Progress(
            name, total, canonical["shard_size"], logging.INFO if progress else logging.DEBUG
        )
        log.log(meter.level, "%s: building %s images into %s", name, total or "?", out_dir)
        with atomic_dir(out_dir) as tmp:
            writer = DatasetWriter(tmp, shard_size=canonical["shard_size"])
            preview_rows: dict[int, list[np.ndarray]] = {
                c: [] for c in range(min(k, PREVIEW_CLASSES))
            }
            for si, split in enumerate(split_names):
                for images, meta in _iter_chunks(plan, split, chunk_size):
                    labels = meta["label"].to_numpy()
                    if len(labels) and (labels.min() < 0 or labels.max() >= k):
                        raise ValueError(f"{name}: split {split!r} has labels outside [0, {k})")
                    if not np.array_equal(
                        meta["class_name"].to_numpy(dtype=object),
                        np.array(class_names, dtype=object)[labels],
                    ):
                        raise ValueError(
                            f"{name}: split {split!r}: class_name != class_names[label]"
                        )
                    writer.add(split, images, meta)
                    if si == 0:
                        for row, lab in enumerate(labels):
                            cell = preview_rows.get(int(lab))
                            if cell is not None and len(cell) < PREVIEW_SAMPLES:
                                cell.append(images[row].copy())
                    meter.update(
                        split,
                        len(images),
                        writer.counts[split],
                        expected.get(split) if expected else None,
                    )
                if split in writer.counts:
                    writer.end_split(split)
                if expected and writer.counts.get(split, 0) != expected[split]:
                    raise ValueError(
                        f"{name}: split {split!r} produced {writer.counts.get(split, 0)} images, "
                        f"expected {expected[split]}"
                    )
            result = writer.close()
            write_preview(
                tmp / "preview.png",
                [preview_rows[c] for c in sorted(preview_rows)],
                [class_names[c] for c in sorted(preview_rows)],
            )
            wall = time.perf_counter() - t0
            n_images = sum(result["counts"].values())
            manifest = {
                "format": "invtransfer-dataset/1",
                "name": name,
                "kind": canonical["kind"],
                "spec_hash": spec_hash(canonical),
                "spec": canonical,
                "counts": result["counts"],
                "class_names": class_names,
                "num_classes": k,
                "image_shape": result["image_shape"],
                "shards": result["shards"],
                "samples": result["samples"],
                "preview": {
                    "file": "preview.png",
                    "split": split_names[0],
                    "classes": [class_names[c] for c in sorted(preview_rows)],
                    "samples_per_class": PREVIEW_SAMPLES,
                    "upscale": 2,
                },
                "build": getattr(plan, "info", {}) or {},
                "versions": {
                    "invtransfer": invtransfer.__version__,
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "torch": torch.__version__,
                    "pandas": pd.__version__,
                },
                "wall_time_s": round(wall, 3),
                "images_per_s": round(n_images / wall, 1) if wall > 0 else None,
                "threads": torch.get_num_threads(),
                "chunk_size": chunk_size,
            }
            atomic_write_json(tmp / "spec.json", canonical)
            atomic_write_json(tmp / MANIFEST, manifest)
        log.log(
            meter.level,
            "%s: wrote %d images in %.1f s (%.0f img/s) to %s",
            name,
            n_images,
            wall,
            n_images / wall if wall > 0 else float("inf"),
            out_dir,
        )
        return manifest
    finally:
        torch.set_num_threads(old_threads)
