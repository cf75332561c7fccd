"""Sharded storage: the writer, the reader and integrity failures that must never pass silently."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from invtransfer.datasets import load_split, materialize, read_manifest, verify
from invtransfer.datasets.store import DatasetWriter
from invtransfer.errors import DatasetIntegrityError
from invtransfer.io import atomic_write_json


def _chunk(split: str, start: int, n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 4, 5, 3), dtype=np.uint8)
    meta = pd.DataFrame(
        {
            "index": np.arange(start, start + n),
            "split": split,
            "label": rng.integers(0, 3, n),
            "class_name": "c",
            "extra.value": rng.random(n),
        }
    )
    meta["class_name"] = np.array(["a", "b", "c"])[meta["label"]]
    return images, meta


def _write(folder, sizes: dict[str, list[int]], shard_size: int):
    writer = DatasetWriter(folder, shard_size=shard_size)
    expected: dict[str, tuple[list[np.ndarray], list[pd.DataFrame]]] = {}
    for s, (split, chunk_sizes) in enumerate(sizes.items()):
        start = 0
        for c, n in enumerate(chunk_sizes):
            images, meta = _chunk(split, start, n, seed=100 * s + c)
            writer.add(split, images, meta)
            expected.setdefault(split, ([], []))[0].append(images)
            expected[split][1].append(meta)
            start += n
        writer.end_split(split)
    result = writer.close()
    manifest = {
        "name": "unit",
        "class_names": ["a", "b", "c"],
        "counts": result["counts"],
        "shards": result["shards"],
        "samples": result["samples"],
        "image_shape": result["image_shape"],
    }
    atomic_write_json(folder / "manifest.json", manifest)
    return expected, result


def test_writer_shards_per_split_and_reader_round_trip(tmp_path):
    expected, result = _write(tmp_path, {"train": [5, 5, 5, 2], "test": [3, 3]}, shard_size=7)
    assert [(s["split"], s["start"], s["count"]) for s in result["shards"]] == [
        ("train", 0, 7),
        ("train", 7, 7),
        ("train", 14, 3),
        ("test", 0, 6),
    ]
    assert result["counts"] == {"train": 17, "test": 6}
    assert result["samples"]["columns"] == ["index", "split", "label", "class_name", "extra.value"]
    verify(tmp_path)
    for split, (images, metas) in expected.items():
        data = load_split(tmp_path, split)
        assert np.array_equal(data.images.numpy(), np.concatenate(images))
        meta = pd.concat(metas, ignore_index=True)
        assert np.array_equal(data.labels.numpy(), meta["label"].to_numpy())
        np.testing.assert_array_equal(data.meta["extra.value"], meta["extra.value"])
        assert data.images.shape[1:] == (4, 5, 3) and data.num_classes == 3


def test_writer_rejects_bad_chunks(tmp_path):
    writer = DatasetWriter(tmp_path, shard_size=10)
    images, meta = _chunk("train", 0, 4, 0)
    with pytest.raises(TypeError, match="uint8"):
        writer.add("train", images.astype(np.float32), meta)
    with pytest.raises(ValueError, match="continue at 0"):
        writer.add("train", *_chunk("train", 3, 4, 0))
    with pytest.raises(ValueError, match="required columns"):
        writer.add("train", images, meta.drop(columns=["label"]))
    writer.add("train", images, meta)
    with pytest.raises(ValueError, match="end_split"):
        writer.add("val", *_chunk("val", 0, 2, 1))
    with pytest.raises(TypeError, match="image shape"):
        writer.add("train", np.zeros((2, 3, 3, 3), np.uint8), _chunk("train", 4, 2, 1)[1])


# --------------------------------------------------------------------------------------------
# integrity
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small structured-random dataset: 3 shards (train 16 + 14, val 10) and their Parquet."""
    folder = tmp_path_factory.mktemp("store") / "ds"
    spec = {
        "kind": "random",
        "objects": {"count": 5},
        "transforms": ["rotate"],
        "splits": {"train": 30, "val": 10},
        "shard_size": 16,
    }
    materialize(spec, folder, threads=1, progress=False)
    return folder


@pytest.fixture
def copy(dataset, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(dataset, target)
    return target


def _expect_failure(folder, file_name: str, match: str, split: str = "train") -> None:
    for check in (lambda: verify(folder), lambda: load_split(folder, split)):
        with pytest.raises(DatasetIntegrityError) as info:
            check()
        assert file_name in str(info.value) and match in str(info.value), str(info.value)


def test_intact_dataset_verifies(dataset):
    verify(dataset)
    assert [s["count"] for s in read_manifest(dataset)["shards"]] == [16, 14, 10]


def test_truncated_shard(copy):
    path = copy / "images-00001.npy"
    path.write_bytes(path.read_bytes()[:-10])
    _expect_failure(copy, "images-00001.npy", "truncated")
    with pytest.raises(DatasetIntegrityError, match=r"images-00001\.npy"):
        load_split(copy, "train", verify=False)  # sizes are checked even without hashing


def test_altered_shard(copy):
    path = copy / "images-00000.npy"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    _expect_failure(copy, "images-00000.npy", "SHA-256")
    load_split(copy, "val")  # the other split's shards are intact


def test_shard_with_the_wrong_shape(copy):
    np.save(copy / "images-00002.npy", np.zeros((10, 32, 32, 4), np.uint8))
    _expect_failure(copy, "images-00002.npy", "manifest says uint8", split="val")


def test_missing_shard(copy):
    (copy / "images-00002.npy").unlink()
    _expect_failure(copy, "images-00002.npy", "missing", split="val")


def test_missing_manifest(copy):
    (copy / "manifest.json").unlink()
    _expect_failure(copy, "manifest.json", "missing")


def test_manifest_that_does_not_parse(copy):
    (copy / "manifest.json").write_text('{"name": "x", ')
    _expect_failure(copy, "manifest.json", "not valid JSON")


def test_manifest_with_inconsistent_counts(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["counts"]["train"] = 31
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _expect_failure(copy, "manifest.json", "counts say 31")


def test_altered_or_missing_samples_parquet(copy):
    path = copy / "samples.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    _expect_failure(copy, "samples.parquet", "SHA-256")
    path.unlink()
    _expect_failure(copy, "samples.parquet", "missing")


def test_missing_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_split(tmp_path / "nowhere", "train")
