"""``materialize``: build any dataset kind and write it to disk atomically.

:func:`dataset_build_plan` looks the spec's kind up in :data:`invtransfer.datasets.kinds.DATASET_KINDS`
and calls its ``build``; the plan follows the protocol of :mod:`invtransfer.datasets.base`.
"""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import os
import platform
import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import invtransfer
from invtransfer.datasets.kinds import get_dataset_kind
from invtransfer.datasets.spec import canonicalize_spec, dataset_name, spec_digest
from invtransfer.datasets.store import BUILD, MANIFEST, DatasetWriter
from invtransfer.io import atomic_dir, atomic_write_json

__all__ = ["PREVIEW_CLASSES", "PREVIEW_SAMPLES", "dataset_build_plan", "materialize"]

log = logging.getLogger("invtransfer.datasets")

PREVIEW_CLASSES = 10  # rows of preview.png: the first classes by label
PREVIEW_SAMPLES = 8  # columns: the first samples of each class in the first split


def dataset_build_plan(spec: Mapping[str, Any]) -> Any:
    """The build plan of ``spec``: its kind's ``build`` (see :mod:`invtransfer.datasets.kinds`)
    on the canonical spec."""
    canonical = canonicalize_spec(spec)
    kind = get_dataset_kind(canonical["kind"])
    plan = kind.build(canonical)
    if not hasattr(plan, "class_names") or not callable(getattr(plan, "chunks", None)):
        raise TypeError(
            f"dataset kind {kind.name!r}: build must return an object with class_names and "
            "chunks(split)"
        )
    return plan


def _iter_chunks(
    plan: Any, split: str, chunk_size: int
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    params = inspect.signature(plan.chunks).parameters
    if "chunk_size" in params:
        return iter(plan.chunks(split, chunk_size=chunk_size))
    return iter(plan.chunks(split))


# -- parallel generation ------------------------------------------------------------------------
# Intra-op threads do not pay off on 256-image chunks (~1 MB tensors): on the shared 2-core
# machine, 2 torch threads ran the transforms 3-13x *slower* than 1 (bench/RESULTS.md). So
# generation always runs with one torch thread per process, and a thread budget > 1 becomes that
# many forked worker processes, each generating whole chunks (samples depend only on their index,
# so the bytes do not change). Fork, not spawn: spawn re-imports ``__main__``, which under
# Snakemake is the rule's script and would run the build again in every worker. Workers set one
# torch thread before any work, as torch's DataLoader workers do.
POOL_MIN_CHUNKS_PER_WORKER = 4  # smaller builds run in-process (forking costs more than it saves)
_POOL_PLAN: Any = None  # the plan the forked workers inherit


def _pool_init() -> None:
    torch.set_num_threads(1)


def _pool_chunk(split: str, start: int, stop: int) -> tuple[np.ndarray, pd.DataFrame]:
    (chunk,) = _POOL_PLAN.chunks(split, chunk_size=stop - start, start=start, stop=stop)
    return chunk


def _supports_ranges(plan: Any) -> bool:
    params = inspect.signature(plan.chunks).parameters
    return "chunk_size" in params and "start" in params and "stop" in params


def _pool_chunks(
    pool: ProcessPoolExecutor, workers: int, split: str, n: int, chunk_size: int
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """Chunks of ``split`` in order, at most ``2·workers`` in flight (bounded memory)."""
    ranges = iter([(s, min(n, s + chunk_size)) for s in range(0, n, chunk_size)])
    window: deque[Future[tuple[np.ndarray, pd.DataFrame]]] = deque()
    for _ in range(2 * workers):
        r = next(ranges, None)
        if r is not None:
            window.append(pool.submit(_pool_chunk, split, *r))
    while window:
        done = window.popleft()
        r = next(ranges, None)
        if r is not None:
            window.append(pool.submit(_pool_chunk, split, *r))
        yield done.result()


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
    one shard plus the per-sample metadata whatever the size.

    ``threads`` is the CPU budget (default: ``torch.get_num_threads()``). Generation always uses
    one torch thread per process; a budget > 1 runs that many forked workers on whole chunks
    when the plan supports index ranges, fork is available and the build is big enough
    (:data:`POOL_MIN_CHUNKS_PER_WORKER`). The bytes written do not depend on ``threads``.
    """
    from invtransfer.datasets.preview import write_preview

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    global _POOL_PLAN
    t0 = time.perf_counter()
    canonical = canonicalize_spec(spec)
    name = dataset_name(canonical)
    out_dir = Path(out_dir)
    old_threads = torch.get_num_threads()
    budget = old_threads if threads is None else threads
    torch.set_num_threads(1)
    pool: ProcessPoolExecutor | None = None
    try:
        plan = dataset_build_plan(canonical)
        class_names = [str(c) for c in plan.class_names]
        k = len(class_names)
        if k < 1:
            raise ValueError(f"{name}: the builder gave no classes")
        splits = getattr(plan, "splits", None) or canonical.get("splits")
        if not splits:
            raise ValueError(f"{name}: neither the builder nor the spec names any split")
        known = isinstance(splits, Mapping) and all(
            isinstance(n, int) and not isinstance(n, bool) for n in splits.values()
        )
        expected = {s: int(n) for s, n in splits.items()} if known else None  # None: builder's say
        split_names = list(splits)
        total = sum(expected.values()) if expected else None
        meter = _Progress(
            name, total, canonical["shard_size"], logging.INFO if progress else logging.DEBUG
        )
        workers = 1
        if (
            budget > 1
            and expected
            and total >= POOL_MIN_CHUNKS_PER_WORKER * chunk_size * budget
            and _supports_ranges(plan)
            and "fork" in multiprocessing.get_all_start_methods()
        ):
            workers = budget
            if callable(getattr(plan, "prepare", None)):
                plan.prepare()  # shared by the forked workers instead of rebuilt in each
            _POOL_PLAN = plan
            pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork"), initializer=_pool_init
            )
            pool.submit(_pool_init).result()  # fork every worker now, before any file is open
        log.log(
            meter.level,
            "%s: building %s images into %s (%d worker process%s)",
            name,
            total or "?",
            out_dir,
            workers,
            "" if workers == 1 else "es",
        )
        with atomic_dir(out_dir) as tmp:
            writer = DatasetWriter(tmp, shard_size=canonical["shard_size"])
            preview_rows: dict[int, list[np.ndarray]] = {
                c: [] for c in range(min(k, PREVIEW_CLASSES))
            }
            preview_missing = len(preview_rows) * PREVIEW_SAMPLES
            for si, split in enumerate(split_names):
                if pool is not None and expected:
                    chunks = _pool_chunks(pool, workers, split, expected[split], chunk_size)
                else:
                    chunks = _iter_chunks(plan, split, chunk_size)
                for images, meta in chunks:
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
                    if si == 0 and preview_missing:  # stops after the first few chunks
                        for row, lab in enumerate(labels):
                            cell = preview_rows.get(int(lab))
                            if cell is not None and len(cell) < PREVIEW_SAMPLES:
                                cell.append(images[row].copy())
                                preview_missing -= 1
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
                "spec_hash": spec_digest(canonical),
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
            }
            # How this build ran (timings, host, worker count): beside the manifest, so that
            # the manifest, and with it the identity of the dataset, is a pure function of the
            # spec and the software versions.
            build = {
                "format": "invtransfer-dataset-build/1",
                "wall_time_s": round(wall, 3),
                "images_per_s": round(n_images / wall, 1) if wall > 0 else None,
                "workers": workers,
                "torch_threads": 1,
                "chunk_size": chunk_size,
                "host": platform.node(),
            }
            atomic_write_json(tmp / "spec.json", canonical)
            atomic_write_json(tmp / BUILD, build)
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
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        _POOL_PLAN = None
        torch.set_num_threads(old_threads)
