"""Sharded dataset storage: ``images-NNNNN.npy`` + ``samples.parquet`` + ``manifest.json``.

Layout of a dataset folder (see ``docs/ARCHITECTURE.md``, "Datasets on disk"):

- ``images-00000.npy``, ...: ``uint8`` ``N×H×W×3`` C-order, at most ``shard_size`` images, one split
  per shard, shards of a split in index order;
- ``samples.parquet``: one row per image (``index``, ``split``, ``label``, ``class_name``, ...), in
  the order of the shards, one row group per shard;
- ``manifest.json``: the spec, counts, class names, per-shard ``{file, split, start, count,
  sha256}`` and the SHA-256 of ``samples.parquet``.

:class:`DatasetWriter` streams chunks into shard buffers, so memory stays at one shard whatever the
dataset size. The reader never trusts a file it has not checked: a missing, truncated, altered or
malformed file raises :class:`~invtransfer.errors.DatasetIntegrityError` naming it. With
``verify=True`` a shard is hashed while it is read into the output array (one pass over the bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from invtransfer import recovery
from invtransfer.errors import DatasetIntegrityError
from invtransfer.io import save_npy, sha256_file

__all__ = [
    "BUILD",
    "MANIFEST",
    "REQUIRED_COLUMNS",
    "SAMPLES",
    "DatasetWriter",
    "SplitData",
    "load_split",
    "problems",
    "read_manifest",
    "rebuild_advice",
    "shard_file",
    "verify",
]

MANIFEST = "manifest.json"
BUILD = "build.json"  # how a build ran (timings, host, workers): not part of the dataset's identity
SAMPLES = "samples.parquet"
REQUIRED_COLUMNS = ("index", "split", "label", "class_name")
_SHARD_KEYS = ("file", "split", "start", "count", "sha256")


def shard_file(number: int) -> str:
    return f"images-{number:05d}.npy"


# --------------------------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------------------------
class DatasetWriter:
    """Streams ``(images, meta)`` chunks of each split into shards and one Parquet file.

    Call :meth:`add` with consecutive chunks of a split (indices ``0, 1, ...`` in order), then
    :meth:`end_split`; after the last split, :meth:`close` writes ``samples.parquet`` and returns
    the shard table and the Parquet checksum for the manifest. The folder is expected to be a
    temporary one that is renamed into place afterwards (``invtransfer.io.atomic_dir``).
    """

    def __init__(self, folder: str | os.PathLike[str], *, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.folder = Path(folder)
        self.shard_size = int(shard_size)
        self.shards: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.image_shape: tuple[int, int, int] | None = None
        self._split: str | None = None
        self._buf: np.ndarray | None = None
        self._fill = 0
        self._tables: list[pa.Table] = []  # rows of the shard being filled
        self._schema: pa.Schema | None = None
        self._pq: pq.ParquetWriter | None = None
        self._closed = False

    # -- input checks --------------------------------------------------------------------------
    def _check_chunk(self, split: str, images: np.ndarray, meta: pd.DataFrame) -> None:
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
            raise TypeError(
                f"split {split!r}: images must be a uint8 numpy array N×H×W×3, got "
                f"{type(images).__name__} {getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}"
            )
        if images.shape[3] != 3:
            raise TypeError(
                f"split {split!r}: images must have 3 channels last, got {images.shape}"
            )
        if self.image_shape is None:
            self.image_shape = tuple(int(s) for s in images.shape[1:])  # type: ignore[assignment]
        elif tuple(images.shape[1:]) != self.image_shape:
            raise TypeError(
                f"split {split!r}: image shape {images.shape[1:]} differs from {self.image_shape}"
            )
        if not isinstance(meta, pd.DataFrame) or len(meta) != len(images):
            raise TypeError(
                f"split {split!r}: meta must be a DataFrame with one row per image "
                f"({len(images)}), got {type(meta).__name__} of length {len(meta)}"
            )
        missing = [c for c in REQUIRED_COLUMNS if c not in meta.columns]
        if missing:
            raise ValueError(f"split {split!r}: meta lacks the required columns {missing}")
        start = self.counts.get(split, 0)
        idx = meta["index"].to_numpy()
        if not np.array_equal(idx, np.arange(start, start + len(meta))):
            raise ValueError(
                f"split {split!r}: chunk indices must continue at {start} in order, got "
                f"{idx[:3].tolist()}..."
            )
        if not (meta["split"] == split).all():
            raise ValueError(f"split {split!r}: meta['split'] holds other split names")

    # -- streaming -----------------------------------------------------------------------------
    def add(self, split: str, images: np.ndarray, meta: pd.DataFrame) -> None:
        """Append a chunk of ``split`` (must continue where the previous chunk stopped)."""
        if self._closed:
            raise RuntimeError("DatasetWriter is closed")
        if self._split is not None and split != self._split:
            raise ValueError(f"call end_split({self._split!r}) before adding split {split!r}")
        if self._split is None and split in self.counts:
            raise ValueError(f"split {split!r} was already written")
        self._check_chunk(split, images, meta)
        self._split = split
        table = pa.Table.from_pandas(meta, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            try:
                table = table.select(self._schema.names).cast(self._schema)
            except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise ValueError(
                    f"split {split!r}: meta columns {table.schema.names} / types do not match "
                    f"the first chunk's {self._schema}"
                ) from exc
        pos = 0
        n = len(images)
        while pos < n:
            if self._buf is None:
                self._buf = np.empty((self.shard_size, *self.image_shape), dtype=np.uint8)  # type: ignore[misc]
                self._fill = 0
            take = min(n - pos, self.shard_size - self._fill)
            self._buf[self._fill : self._fill + take] = images[pos : pos + take]
            self._tables.append(table.slice(pos, take))
            self._fill += take
            pos += take
            if self._fill == self.shard_size:
                self._flush()
        self.counts[split] = self.counts.get(split, 0) + n

    def end_split(self, split: str) -> None:
        """Write the partial last shard of ``split`` (each shard holds one split only)."""
        if self._split != split:
            raise ValueError(f"end_split({split!r}) but the open split is {self._split!r}")
        self._flush()
        self._split = None

    def _flush(self) -> None:
        if self._buf is None or self._fill == 0:
            return
        assert self._split is not None
        file = shard_file(len(self.shards))
        path = self.folder / file
        save_npy(path, self._buf[: self._fill])
        # start of this shard within its split = rows of the split already in earlier shards
        start = sum(s["count"] for s in self.shards if s["split"] == self._split)
        self.shards.append(
            {
                "file": file,
                "split": self._split,
                "start": start,
                "count": self._fill,
                "sha256": sha256_file(path),
            }
        )
        rows = pa.concat_tables(self._tables)
        if self._pq is None:
            self._pq = pq.ParquetWriter(self.folder / SAMPLES, rows.schema, compression="zstd")
        self._pq.write_table(rows, row_group_size=max(rows.num_rows, 1))
        self._tables = []
        self._buf = None
        self._fill = 0

    def close(self) -> dict[str, Any]:
        """Finish ``samples.parquet``; returns ``{"shards", "counts", "samples", "image_shape"}``."""
        if self._split is not None:
            raise ValueError(f"end_split({self._split!r}) was not called")
        if self._pq is None:
            raise ValueError("no images were written")
        self._pq.close()
        self._closed = True
        path = self.folder / SAMPLES
        return {
            "shards": self.shards,
            "counts": dict(self.counts),
            "image_shape": list(self.image_shape or ()),
            "samples": {
                "file": SAMPLES,
                "sha256": sha256_file(path),
                "rows": sum(self.counts.values()),
                "columns": list(self._schema.names) if self._schema is not None else [],
            },
        }


# --------------------------------------------------------------------------------------------
# manifest
# --------------------------------------------------------------------------------------------
def rebuild_advice(dataset_dir: str | os.PathLike[str]) -> str:
    """The one command that rebuilds the dataset folder ``dataset_dir``: ``snakemake --force
    results/datasets/<name>`` (or the evaluation set holding it) inside the workflow, else
    ``python -m invtransfer materialize`` on its ``spec.json`` (see :mod:`invtransfer.recovery`)."""
    folder = Path(dataset_dir)
    fallback = None
    if (folder / "spec.json").is_file():
        spec = shlex.quote(str(folder / "spec.json"))
        fallback = (
            f"python -m invtransfer materialize --spec {spec} --out {shlex.quote(str(folder))}"
        )
    return recovery.rebuild_advice(folder, fallback=fallback)


def _integrity(path: Path, problem: str) -> DatasetIntegrityError:
    """``<path>: <problem>; rebuild it with: <command>`` (``path`` is a file of a dataset
    folder); ``.path`` and ``.problem`` keep the parts for reports that list several files."""
    advice = rebuild_advice(path.parent)
    return DatasetIntegrityError(f"{path}: {problem}; {advice}", path=path, problem=problem)


def _is_workflow_dataset(folder: Path) -> bool:
    """A folder ``results/datasets/<name>``: its name is the dataset's (the plan's key)."""
    return folder.parent.name == "datasets" and folder.parent.parent.name == recovery.RESULTS


def read_manifest(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a dataset folder, with its structure checked."""
    folder = Path(dataset_dir)
    if not folder.exists():
        raise FileNotFoundError(f"dataset folder {folder} does not exist (materialize it first)")
    path = folder / MANIFEST
    if not folder.is_dir():
        raise _integrity(path, f"{folder} is a file, not a dataset folder")
    if not path.is_file():
        raise _integrity(path, "missing; the dataset folder is incomplete")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _integrity(path, f"not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise _integrity(path, "must hold a JSON object")
    for key, kind in (
        ("name", str),
        ("counts", dict),
        ("class_names", list),
        ("shards", list),
        ("samples", dict),
        ("image_shape", list),
    ):
        if not isinstance(manifest.get(key), kind):
            raise _integrity(path, f"key {key!r} is missing or not a {kind.__name__}")
    for i, shard in enumerate(manifest["shards"]):
        if not isinstance(shard, dict) or any(k not in shard for k in _SHARD_KEYS):
            raise _integrity(path, f"shards[{i}] must have the keys {', '.join(_SHARD_KEYS)}")
        if Path(shard["file"]).name != shard["file"]:
            raise _integrity(path, f"shards[{i}].file {shard['file']!r} must be a plain file name")
    samples = manifest["samples"]
    if not isinstance(samples.get("file"), str) or not isinstance(samples.get("sha256"), str):
        raise _integrity(path, "samples must have the keys 'file' and 'sha256'")
    for split, n in manifest["counts"].items():
        total = sum(s["count"] for s in manifest["shards"] if s["split"] == split)
        if total != n:
            raise _integrity(path, f"shards of split {split!r} hold {total} images, counts say {n}")
    if _is_workflow_dataset(folder) and manifest["name"] != folder.name:
        raise _integrity(
            path,
            f"holds dataset {manifest['name']!r}, not {folder.name!r} (a dataset folder copied "
            "or renamed into another's place)",
        )
    return manifest


def _split_shards(folder: Path, manifest: Mapping[str, Any], split: str) -> list[dict[str, Any]]:
    shards = [s for s in manifest["shards"] if s["split"] == split]
    expected = 0
    for s in shards:
        if s["start"] != expected:
            raise _integrity(
                folder / MANIFEST,
                f"shard {s['file']} of split {split!r} starts at {s['start']}, expected {expected}",
            )
        expected += s["count"]
    return shards


# --------------------------------------------------------------------------------------------
# shard reading
# --------------------------------------------------------------------------------------------
def _read_header(
    path: Path, fh: Any, shard: Mapping[str, Any], image_shape: tuple[int, ...]
) -> int:
    """Check the .npy header against the manifest; returns the data offset."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, SyntaxError) as exc:
        raise _integrity(path, f"not a valid .npy file ({exc})") from exc
    expected = (int(shard["count"]), *image_shape)
    if dtype != np.uint8 or fortran or tuple(shape) != expected:
        raise _integrity(
            path,
            f"holds {dtype} {tuple(shape)}{' Fortran-order' if fortran else ''}, the manifest "
            f"says uint8 {expected}",
        )
    return fh.tell()


def _check_size(path: Path, offset: int, nbytes: int) -> None:
    size = path.stat().st_size
    if size != offset + nbytes:
        what = "truncated" if size < offset + nbytes else "longer than its header says"
        raise _integrity(path, f"{what} ({size} bytes, expected {offset + nbytes})")


def _read_shard(
    folder: Path,
    shard: Mapping[str, Any],
    image_shape: tuple[int, ...],
    out: np.ndarray | None,
    check_hash: bool,
) -> None:
    """Check one shard; copy its images into ``out`` (if given), hashing in the same pass."""
    path = folder / shard["file"]
    if not path.is_file():
        raise _integrity(path, "missing shard listed in the manifest")
    with open(path, "rb") as fh:
        offset = _read_header(path, fh, shard, image_shape)
        nbytes = int(shard["count"]) * int(np.prod(image_shape))
        _check_size(path, offset, nbytes)
        digest = hashlib.sha256()
        if check_hash:
            fh.seek(0)
            digest.update(fh.read(offset))
        if out is not None:
            view = memoryview(out.reshape(-1)).cast("B")
            done = 0
            while done < nbytes:
                got = fh.readinto(view[done : min(nbytes, done + (64 << 20))])
                if not got:
                    raise _integrity(path, "truncated while reading")
                if check_hash:
                    digest.update(view[done : done + got])
                done += got
        elif check_hash:
            while block := fh.read(1 << 22):
                digest.update(block)
    if check_hash and digest.hexdigest() != shard["sha256"]:
        raise _integrity(path, "SHA-256 differs from the manifest (the file was altered)")


def _check_samples(folder: Path, manifest: Mapping[str, Any]) -> Path:
    path = folder / manifest["samples"]["file"]
    if not path.is_file():
        raise _integrity(path, "missing")
    if sha256_file(path) != manifest["samples"]["sha256"]:
        raise _integrity(path, "SHA-256 differs from the manifest (the file was altered)")
    return path


def problems(dataset_dir: str | os.PathLike[str]) -> list[DatasetIntegrityError]:
    """Every integrity problem of a dataset folder, one error per bad file (all shards and
    ``samples.parquet`` are checked, not only up to the first bad one); empty when intact.

    A manifest that cannot be used is the only problem reported (nothing else can be checked
    without it). A missing folder raises FileNotFoundError."""
    folder = Path(dataset_dir)
    try:
        manifest = read_manifest(folder)
        image_shape = tuple(int(s) for s in manifest["image_shape"])
        for split in manifest["counts"]:
            _split_shards(folder, manifest, split)
    except DatasetIntegrityError as exc:
        return [exc]
    found = []
    for shard in manifest["shards"]:
        try:
            _read_shard(folder, shard, image_shape, None, check_hash=True)
        except DatasetIntegrityError as exc:
            found.append(exc)
    try:
        _check_samples(folder, manifest)
    except DatasetIntegrityError as exc:
        found.append(exc)
    return found


def verify(dataset_dir: str | os.PathLike[str]) -> None:
    """Check every shard (header, size, SHA-256) and ``samples.parquet`` against the manifest.

    Raises :class:`~invtransfer.errors.DatasetIntegrityError` naming every bad file and the
    command that rebuilds the dataset."""
    folder = Path(dataset_dir)
    found = problems(folder)
    if len(found) == 1:
        raise found[0]
    if found:
        listed = "; ".join(f"{e.path}: {e.problem}" for e in found)
        raise DatasetIntegrityError(
            f"dataset {folder}: {len(found)} bad files: {listed}; {rebuild_advice(folder)}"
        )


# --------------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------------
@dataclass
class SplitData:
    """One split of a materialised dataset, ready for training (CPU tensors)."""

    images: torch.Tensor  # uint8 N×H×W×3
    labels: torch.Tensor  # int64 N
    class_names: list[str]
    num_classes: int
    meta: pd.DataFrame = field(repr=False)  # this split's rows of samples.parquet, by index
    name: str = ""
    split: str = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_split(
    dataset_dir: str | os.PathLike[str], split: str, *, verify: bool = True
) -> SplitData:
    """Load ``split`` of a dataset folder as tensors.

    Headers and file sizes are always checked; with ``verify=True`` (the default) the SHA-256 of
    every shard of the split and of ``samples.parquet`` is checked too, in the same pass that reads
    the bytes. Any problem raises :class:`~invtransfer.errors.DatasetIntegrityError` naming the file.
    """
    folder = Path(dataset_dir)
    manifest = read_manifest(folder)
    counts = manifest["counts"]
    if split not in counts:
        raise ValueError(
            f"split {split!r} is not in dataset {manifest['name']} (has: {', '.join(counts)})"
        )
    image_shape = tuple(int(s) for s in manifest["image_shape"])
    n = int(counts[split])
    images = np.empty((n, *image_shape), dtype=np.uint8)
    for shard in _split_shards(folder, manifest, split):
        start, count = int(shard["start"]), int(shard["count"])
        _read_shard(folder, shard, image_shape, images[start : start + count], check_hash=verify)
    if verify:
        samples = _check_samples(folder, manifest)
    else:
        samples = folder / manifest["samples"]["file"]
        if not samples.is_file():
            raise _integrity(samples, "missing")
    try:
        meta = pq.read_table(samples, filters=[("split", "==", split)]).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise _integrity(samples, f"unreadable Parquet ({exc})") from exc
    meta = meta.reset_index(drop=True)
    if len(meta) != n or not np.array_equal(meta["index"].to_numpy(), np.arange(n)):
        raise _integrity(samples, f"rows of split {split!r} do not match the {n} images")
    class_names = [str(c) for c in manifest["class_names"]]
    labels = meta["label"].to_numpy().astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise _integrity(samples, f"labels outside [0, {len(class_names)}) in split {split!r}")
    return SplitData(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels),
        class_names=class_names,
        num_classes=len(class_names),
        meta=meta,
        name=str(manifest["name"]),
        split=split,
    )
