"""Datasets outside the pipeline (issue 16): exports read back with the standard readers, and the
memory-mapped torch Dataset over a dataset folder."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from invtransfer.cli import main
from invtransfer.datasets.builders import materialize
from invtransfer.datasets.store import load_split
from invtransfer.datasets.torch_dataset import MaterializedDataset
from invtransfer.errors import DatasetIntegrityError
from invtransfer.export import export_dataset

SPLITS = ("train", "test")
SPEC = {
    "kind": "t2d",
    "objects": {"source": "bundle", "count": 12},  # 12 classes: label order != name order
    "transforms": ["rotate", "noise"],
    "splits": {"train": 45, "test": 20},
    "image_size": 20,
    "shard_size": 16,  # several shards per split
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "ds"
    materialize(SPEC, folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def reference(dataset):
    return {s: load_split(dataset, s) for s in SPLITS}


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    cols = list(want.columns)
    got = got[cols].reset_index(drop=True)
    want = want.reset_index(drop=True)
    for c in cols:
        if pd.api.types.is_float_dtype(want[c]):
            np.testing.assert_array_equal(got[c].to_numpy(np.float64), want[c].to_numpy(np.float64))
        else:
            assert got[c].astype(str).tolist() == want[c].astype(str).tolist(), c


def test_imagefolder_round_trip(dataset, reference, tmp_path):
    from torchvision.datasets import ImageFolder

    out = tmp_path / "if"
    export_dataset(dataset, out, format="imagefolder")
    for split in SPLITS:
        ref = reference[split]
        labels = set(ref.labels.tolist())
        if len(labels) < len(ref.class_names):  # a class without samples: an empty folder
            with pytest.raises(FileNotFoundError, match="Found no valid file for the classes"):
                ImageFolder(str(out / split))
        folder = ImageFolder(str(out / split), allow_empty=True)
        assert [c.split("_", 1)[1] for c in folder.classes] == ref.class_names
        meta = pd.read_csv(out / split / "metadata.csv")
        by_file = {f: i for i, f in enumerate(meta["file_name"])}
        assert len(folder) == len(ref) == len(meta)
        for path, target in folder.samples:
            rel = str(Path(path).relative_to(out / split))
            i = int(meta["index"].iloc[by_file[rel]])
            assert target == int(ref.labels[i])  # ImageFolder's label == the dataset's
            np.testing.assert_array_equal(np.asarray(folder.loader(path)), ref.images[i].numpy())
        _same_rows(meta.sort_values("index"), ref.meta)


def test_webdataset_round_trip_with_tarfile(dataset, reference, tmp_path):
    out = tmp_path / "wds"
    summary = export_dataset(dataset, out, format="webdataset", shard_size=16)
    assert sorted(summary["files"]) == [
        "test-000000.tar", "test-000001.tar", "train-000000.tar", "train-000001.tar",
        "train-000002.tar",
    ]  # fmt: skip
    for split in SPLITS:
        ref = reference[split]
        rows, seen = [], 0
        for shard in sorted(out.glob(f"{split}-*.tar")):
            with tarfile.open(shard) as tar:
                names = tar.getnames()
                assert names[:3] == [f"{seen:06d}.png", f"{seen:06d}.cls", f"{seen:06d}.json"]
                for m in tar.getmembers():
                    assert (m.mtime, m.uid, m.mode) == (0, 0, 0o644)
                    key, ext = m.name.split(".", 1)
                    i = int(key)
                    data = tar.extractfile(m).read()
                    if ext == "png":
                        np.testing.assert_array_equal(_decode(data), ref.images[i].numpy())
                    elif ext == "cls":
                        assert int(data) == int(ref.labels[i])
                    else:
                        rows.append(json.loads(data))
                seen += len(names) // 3
        assert seen == len(ref)
        _same_rows(pd.DataFrame(rows), ref.meta)
    again = export_dataset(dataset, tmp_path / "wds2", format="webdataset", shard_size=16)
    assert again["files"] == summary["files"]  # same bytes


def test_webdataset_package_reads_the_shards(dataset, reference, tmp_path):
    wds = pytest.importorskip("webdataset", reason="webdataset is optional; tarfile is tested")
    out = tmp_path / "wds"
    export_dataset(dataset, out, format="webdataset", splits=["test"], shard_size=16)
    urls = [str(p) for p in sorted(out.glob("test-*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("rgb8"))
    ref = reference["test"]
    assert len(samples) == len(ref)
    for s in samples:
        i = int(s["__key__"])
        np.testing.assert_array_equal(s["png"], ref.images[i].numpy())
        assert s["cls"] == int(ref.labels[i])
        assert s["json"]["rotate.angle"] == float(ref.meta["rotate.angle"].iloc[i])


def test_parquet_round_trip_with_pyarrow(dataset, reference, tmp_path):
    out = tmp_path / "pq"
    export_dataset(dataset, out, format="parquet", shard_size=16)
    for split in SPLITS:
        files = sorted((out / "data").glob(f"{split}-*.parquet"))
        assert len(files) == -(-len(reference[split]) // 16)
        table = pq.read_table(files)  # the files of a split in order
        meta = json.loads(pq.read_schema(files[0]).metadata[b"huggingface"])["info"]["features"]
        assert meta["image"] == {"_type": "Image"}
        assert meta["label"] == {"names": reference[split].class_names, "_type": "ClassLabel"}
        assert meta["rotate.angle"] == {"dtype": "float32", "_type": "Value"}  # as sampled
        frame = table.to_pandas()
        ref = reference[split]
        for i, cell in enumerate(frame["image"]):
            np.testing.assert_array_equal(_decode(cell["bytes"]), ref.images[i].numpy())
        assert frame["label"].tolist() == ref.labels.tolist()
        _same_rows(frame.drop(columns="image"), ref.meta)
    assert "configs:" in (out / "README.md").read_text()


def test_hugging_face_datasets_loads_the_parquet_export(dataset, reference, tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is optional; pyarrow is tested")
    out = tmp_path / "hf"
    export_dataset(dataset, out, format="parquet", shard_size=16)
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded) == sorted(SPLITS)
    for split in SPLITS:
        ds = loaded[split]
        assert ds.features["label"].names == reference[split].class_names
        assert isinstance(ds.features["image"], datasets.Image)
        for i in (0, len(ds) - 1):
            np.testing.assert_array_equal(
                np.asarray(ds[i]["image"].convert("RGB")), reference[split].images[i].numpy()
            )
            assert ds[i]["label"] == int(reference[split].labels[i])
            assert ds[i]["noise.seed"] == int(reference[split].meta["noise.seed"].iloc[i])


def test_exports_carry_licences_and_attribution(dataset, tmp_path):
    out = tmp_path / "lic"
    summary = export_dataset(dataset, out, format="imagefolder", splits=["test"])
    assert (out / "LICENSES" / "tuxpaint-stamps-default" / "copyright").is_file()
    assert (out / "LICENSES" / "common" / "GPL-2").is_file()
    attribution = pd.read_csv(out / "attribution.csv")
    objects = attribution[attribution["kind"] == "object"]
    assert len(objects) == 12 and set(objects["licence"]) == {"GPL-2+"}
    assert (attribution["kind"] == "background").sum() == 27
    assert "banana" in (out / "ATTRIBUTION.md").read_text()
    assert summary["counts"] == {"test": 20}
    with pytest.raises(ValueError, match="splits \\['val'\\] are not in dataset"):
        export_dataset(dataset, tmp_path / "x", format="parquet", splits=["val"])
    with pytest.raises(ValueError, match="format must be one of"):
        export_dataset(dataset, tmp_path / "x", format="zip")


def test_cli_export(dataset, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["export", str(dataset), "--format", "parquet", "--out", str(out)]) == 0
    assert "test 20, train 45 images as parquet" in capsys.readouterr().out
    assert (out / "export.json").is_file()
    assert main(["export", str(tmp_path / "none"), "--format", "parquet", "--out", str(out)]) == 2


def _to_float(image: torch.Tensor) -> torch.Tensor:
    return image.float() / 255


def test_torch_dataset_over_a_dataset_folder(dataset, reference):
    ds = MaterializedDataset(dataset, "train", return_params=True)
    ref = reference["train"]
    assert len(ds) == 45 and ds.classes == ref.class_names
    for i in (0, 15, 16, 44):  # across shard boundaries
        image, label, params = ds[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 20, 20)
        torch.testing.assert_close(image.permute(1, 2, 0), ref.images[i], rtol=0, atol=0)
        assert label == int(ref.labels[i])
        assert params["rotate.angle"] == float(ref.meta["rotate.angle"].iloc[i])
    np.testing.assert_array_equal(ds.images(10, 40), ref.images[10:40].numpy())
    plain = MaterializedDataset(dataset, "test", transform=_to_float)
    loader = torch.utils.data.DataLoader(plain, batch_size=8, shuffle=False)
    x, y = next(iter(loader))
    assert x.shape == (8, 3, 20, 20) and y.tolist() == reference["test"].labels[:8].tolist()
    clone = pickle.loads(pickle.dumps(plain))  # what spawn workers get: no open maps
    assert clone._maps is None and clone[3][1] == plain[3][1]
    torch.testing.assert_close(clone[3][0], x[3])


def test_torch_dataset_refuses_altered_shards(dataset, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad)
    shard = bad / "images-00001.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetIntegrityError, match=r"images-00001\.npy: SHA-256 differs"):
        MaterializedDataset(bad, "train")
    assert len(MaterializedDataset(bad, "train", verify=False)) == 45  # header and size still fine
    shard.write_bytes(bytes(data[:-10]))
    with pytest.raises(DatasetIntegrityError, match="truncated or padded"):
        MaterializedDataset(bad, "train", verify=False)
    with pytest.raises(ValueError, match="split 'val' is not in dataset"):
        MaterializedDataset(dataset, "val")
