"""A ``torch.utils.data.Dataset`` over one split of a materialised dataset folder, for your own
training loops (and the reader behind ``python -m invtransfer export``).

    from invtransfer.datasets.torch_dataset import MaterializedDataset
    ds = MaterializedDataset("results/datasets/<name>", "train")     # checksums verified here
    image, label = ds[0]          # uint8 tensor 3×H×W (torchvision's read_image layout), int
    loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=True, num_workers=2)

Shards are memory-mapped (``numpy.load(mmap_mode="r")``): opening a 50,000-image split costs no
image memory, and each item reads only its own bytes. Before use every shard of the split is
checked against ``manifest.json`` — ``.npy`` header (uint8, shape), file size and SHA-256 — and so
is ``samples.parquet``; a missing, truncated or altered file raises
:class:`~invtransfer.errors.DatasetIntegrityError` naming it (``verify=False`` skips the hashes,
not the header and size checks). The maps are opened lazily in each process and not pickled, so
``DataLoader`` workers (fork or spawn) open their own.

``transform`` (e.g. torchvision v2 transforms, which take uint8 tensors) maps the image,
``target_transform`` the label; ``return_params=True`` adds the sample's row of
``samples.parquet`` (transformation parameters, object, background) as a dict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from invtransfer.datasets.store import read_manifest
from invtransfer.errors import DatasetIntegrityError
from invtransfer.io import sha256_file

__all__ = ["MaterializedDataset"]


def _check_shard(
    folder: Path, shard: dict[str, Any], image_shape: tuple[int, ...], verify: bool
) -> None:
    path = folder / shard["file"]
    if not path.is_file():
        raise DatasetIntegrityError(
            f"{path}: missing shard listed in the manifest; rebuild the dataset"
        )
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        except (ValueError, OSError, SyntaxError) as exc:
            raise DatasetIntegrityError(
                f"{path}: not a valid .npy file ({exc}); rebuild the dataset"
            ) from exc
        offset = fh.tell()
    expected = (int(shard["count"]), *image_shape)
    if dtype != np.uint8 or fortran or tuple(shape) != expected:
        raise DatasetIntegrityError(
            f"{path}: holds {dtype} {tuple(shape)}, the manifest says uint8 {expected}; rebuild "
            "the dataset"
        )
    size = path.stat().st_size
    if size != offset + int(np.prod(expected)):
        raise DatasetIntegrityError(
            f"{path}: {size} bytes, expected {offset + int(np.prod(expected))} (truncated or "
            "padded); rebuild the dataset"
        )
    if verify and sha256_file(path) != shard["sha256"]:
        raise DatasetIntegrityError(
            f"{path}: SHA-256 differs from the manifest (the file was altered); rebuild the dataset"
        )


class MaterializedDataset(Dataset):
    """Split ``split`` of the dataset folder ``folder`` (see the module docstring)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        split: str,
        *,
        verify: bool = True,
        transform: Callable[[torch.Tensor], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        return_params: bool = False,
    ):
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        counts = self.manifest["counts"]
        if split not in counts:
            raise ValueError(
                f"split {split!r} is not in dataset {self.manifest['name']} (has: {', '.join(counts)})"
            )
        self.split = split
        self.name = str(self.manifest["name"])
        self.image_shape = tuple(int(s) for s in self.manifest["image_shape"])
        self.shards = [s for s in self.manifest["shards"] if s["split"] == split]
        expected = 0
        for shard in self.shards:
            if int(shard["start"]) != expected:
                raise DatasetIntegrityError(
                    f"{self.folder / 'manifest.json'}: shard {shard['file']} of split {split!r} "
                    f"starts at {shard['start']}, expected {expected}"
                )
            expected += int(shard["count"])
            _check_shard(self.folder, shard, self.image_shape, verify)
        samples = self.folder / self.manifest["samples"]["file"]
        if not samples.is_file():
            raise DatasetIntegrityError(f"{samples}: missing; rebuild the dataset")
        if verify and sha256_file(samples) != self.manifest["samples"]["sha256"]:
            raise DatasetIntegrityError(
                f"{samples}: SHA-256 differs from the manifest (the file was altered); rebuild"
            )
        try:
            meta = pq.read_table(samples, filters=[("split", "==", split)]).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise DatasetIntegrityError(f"{samples}: unreadable Parquet ({exc}); rebuild") from exc
        n = int(counts[split])
        if len(meta) != n or not np.array_equal(meta["index"].to_numpy(), np.arange(n)):
            raise DatasetIntegrityError(
                f"{samples}: rows of split {split!r} do not match its {n} images"
            )
        self.meta: pd.DataFrame = meta.reset_index(drop=True)
        self.classes: list[str] = [str(c) for c in self.manifest["class_names"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.targets: np.ndarray = self.meta["label"].to_numpy().astype(np.int64)
        if n and (self.targets.min() < 0 or self.targets.max() >= len(self.classes)):
            raise DatasetIntegrityError(f"{samples}: labels outside [0, {len(self.classes)})")
        self._starts = np.array([int(s["start"]) for s in self.shards], dtype=np.int64)
        self._maps: list[np.ndarray] | None = None
        self.transform = transform
        self.target_transform = target_transform
        self.return_params = return_params

    # -- memory maps (per process; never pickled) -------------------------------------------------
    def _shard_maps(self) -> list[np.ndarray]:
        if self._maps is None:
            self._maps = [np.load(self.folder / s["file"], mmap_mode="r") for s in self.shards]
        return self._maps

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = None
        return state

    # -- access -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.targets)

    def images(self, start: int, stop: int) -> np.ndarray:
        """Images ``start..stop`` as a new uint8 array N×H×W×3 (copied out of the shards)."""
        n = len(self)
        if not 0 <= start <= stop <= n:
            raise IndexError(f"need 0 <= start <= stop <= {n}, got {start}, {stop}")
        out = np.empty((stop - start, *self.image_shape), dtype=np.uint8)
        maps = self._shard_maps()
        pos = start
        while pos < stop:
            k = int(np.searchsorted(self._starts, pos, side="right") - 1)
            first = int(self._starts[k])
            take = min(stop, first + int(self.shards[k]["count"])) - pos
            out[pos - start : pos - start + take] = maps[k][pos - first : pos - first + take]
            pos += take
        return out

    def batches(self, size: int = 1024) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """``(images N×H×W×3, rows of samples.parquet)`` in index order, ``size`` at a time."""
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        for start in range(0, len(self), size):
            stop = min(len(self), start + size)
            yield self.images(start, stop), self.meta.iloc[start:stop]

    def params(self, index: int) -> dict[str, Any]:
        """The sample's row of ``samples.parquet`` as plain Python values."""
        row = self.meta.iloc[index]
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, (np.integer,)):
            index = int(index)
        if not isinstance(index, int):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += len(self)
        image = torch.from_numpy(self.images(index, index + 1)[0]).permute(2, 0, 1).contiguous()
        label: Any = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        if self.return_params:
            return image, label, self.params(index)
        return image, label

    def __repr__(self) -> str:
        return (
            f"MaterializedDataset({self.name!r}, split={self.split!r}, {len(self)} images "
            f"{self.image_shape[0]}×{self.image_shape[1]}, {len(self.classes)} classes)"
        )
