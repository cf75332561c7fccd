"""CIFAR loader: release format round trip, error paths, verified download, seeded splits and draws.

Everything runs on tiny releases written by ``support.fake_cifar`` in a tmp dir (plus the 20 real
CIFAR-10 test images foolbox ships); the network is never touched (downloads use file:// URLs and
the default opener is replaced by one that fails).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from support.fake_cifar import FIXTURE, read_png_fixture, write_fake_cifar

from invtransfer.datasets import cifar, cifar_download
from invtransfer.errors import AssetError, ConfigError

_REAL_URLOPEN = cifar_download._urlopen  # urllib; used below only with file:// URLs
FOOLBOX_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail loudly if anything tries the real opener, and ignore a developer's env override."""

    def refuse(url, timeout=60.0):
        raise AssertionError(f"test tried to open {url}")

    monkeypatch.setattr(cifar_download, "_urlopen", refuse)
    monkeypatch.delenv(cifar.ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def real_images():
    return read_png_fixture(FIXTURE)


@pytest.fixture(scope="module")
def c10_root(tmp_path_factory, real_images):
    root = tmp_path_factory.mktemp("c10")
    write_fake_cifar(root, "cifar10", 20, 3, seed=7, real_test_images=real_images)
    return root


# -- format round trip -----------------------------------------------------------------------------


def test_png_fixture_holds_the_real_foolbox_images(real_images):
    images, labels = real_images
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == FOOLBOX_LABELS
    assert images.std() > 30  # real photos, not blank files


def test_cifar10_round_trip_with_real_test_images(c10_root, real_images):
    test = cifar.load_raw_split(c10_root, "cifar10", "test")
    assert len(test) == 20 + 10 * 3
    np.testing.assert_array_equal(test.images[:20], real_images[0])
    np.testing.assert_array_equal(test.labels[:20], FOOLBOX_LABELS)
    train = cifar.load_raw_split(c10_root, "cifar10", "train")
    assert train.images.shape == (200, 32, 32, 3) and train.labels.dtype == np.int64
    assert np.bincount(train.labels).tolist() == [20] * 10
    assert train.class_names[:3] == ("airplane", "automobile", "bird")
    assert not train.images.flags.writeable  # cached arrays cannot be changed by a caller


def test_pickles_use_the_official_layout(c10_root, real_images):
    """Python-2 style dicts with bytes keys; rows are channel-planar R, G, B planes of 1024 each."""
    folder = c10_root / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(cifar.ARCHIVES["cifar10"].files)
    with open(folder / "test_batch", "rb") as fh:
        batch = pickle.load(fh, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (50, 3072)
    first = real_images[0][0]
    np.testing.assert_array_equal(batch[b"data"][0, :1024], first[:, :, 0].reshape(-1))
    np.testing.assert_array_equal(batch[b"data"][0, 2048:], first[:, :, 2].reshape(-1))
    with open(folder / "batches.meta", "rb") as fh:
        meta = pickle.load(fh, encoding="bytes")
    assert meta[b"label_names"][0] == b"airplane"


def test_cifar100_round_trip_uses_fine_labels(tmp_path):
    write_fake_cifar(tmp_path, "cifar100", 2, 1, seed=0)
    train = cifar.load_raw_split(tmp_path, "cifar100", "train")
    assert train.images.shape == (200, 32, 32, 3)
    assert np.bincount(train.labels, minlength=100).tolist() == [2] * 100
    assert len(cifar.class_names(tmp_path, "cifar100")) == 100
    with open(tmp_path / "cifar-100-python" / "train", "rb") as fh:
        batch = pickle.load(fh, encoding="bytes")
    assert {b"fine_labels", b"coarse_labels", b"data"} <= set(batch)


def test_fake_release_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_fake_cifar(a, "cifar10", 3, 1, seed=1)
    write_fake_cifar(b, "cifar10", 3, 1, seed=1)
    for name in cifar.ARCHIVES["cifar10"].files:
        rel = Path("cifar-10-batches-py") / name
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), name


# -- locating the data and error paths -------------------------------------------------------------


def test_environment_variable_overrides_the_configured_folder(monkeypatch, tmp_path):
    assert cifar.resolve_root("data/cifar") == Path("data/cifar")
    monkeypatch.setenv(cifar.ENV_VAR, str(tmp_path))
    assert cifar.resolve_root("data/cifar") == tmp_path
    monkeypatch.delenv(cifar.ENV_VAR)
    with pytest.raises(ConfigError, match=cifar.ENV_VAR):
        cifar.resolve_root(None)


def test_absent_data_names_folder_files_and_how_to_get_them(tmp_path):
    with pytest.raises(AssetError) as err:
        cifar.load_raw_split(tmp_path, "cifar10", "train")
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    assert "data_batch_1" in msg and "test_batch" in msg and "batches.meta" in msg
    assert "download: true" in msg and cifar.ARCHIVES["cifar10"].url in msg and cifar.ENV_VAR in msg
    # ensure_cifar without download never touches the network (the autouse fixture would fail)
    with pytest.raises(AssetError, match="cifar-10-batches-py"):
        cifar_download.ensure_cifar(tmp_path, "cifar10")


def test_missing_single_file_is_named(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", 1, 1, seed=0)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(AssetError, match="files missing: data_batch_4"):
        cifar.load_raw_split(tmp_path, "cifar10", "test")


def _corrupt(root: Path, name: str, payload: bytes) -> Path:
    path = root / "cifar-10-batches-py" / name
    path.write_bytes(payload)
    return path


def test_truncated_pickle_is_an_asset_error(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", 1, 1, seed=0)
    good = (tmp_path / "cifar-10-batches-py" / "data_batch_2").read_bytes()
    path = _corrupt(tmp_path, "data_batch_2", good[: len(good) // 2])
    with pytest.raises(AssetError, match=f"{path}.*corrupt or truncated"):
        cifar.load_raw_split(tmp_path, "cifar10", "train")


def test_pickle_that_would_run_code_is_refused(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", 1, 1, seed=0)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    _corrupt(tmp_path, "test_batch", pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(AssetError, match="refusing to load"):
        cifar.load_raw_split(tmp_path, "cifar10", "test")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        ({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, r"shape \(4, 100\)"),
        ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}, "uint8"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, "one label per image"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]}, r"\[0, 10\)"),
        ({b"labels": [0] * 4}, "key 'data' missing"),
        ([1, 2, 3], "expected a pickled dict"),
    ],
)
def test_malformed_batches_are_asset_errors(tmp_path, batch, match):
    write_fake_cifar(tmp_path, "cifar10", 1, 1, seed=0)
    path = _corrupt(tmp_path, "test_batch", pickle.dumps(batch, protocol=2))
    with pytest.raises(AssetError, match=match) as err:
        cifar.load_raw_split(tmp_path, "cifar10", "test")
    assert str(path) in str(err.value)


def test_meta_with_wrong_class_count_is_an_asset_error(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", 1, 1, seed=0)
    _corrupt(tmp_path, "batches.meta", pickle.dumps({b"label_names": [b"a", b"b"]}, protocol=2))
    with pytest.raises(AssetError, match="must list 10 class names"):
        cifar.class_names(tmp_path, "cifar10")


# -- download (file:// URLs only) ------------------------------------------------------------------


def _archive(tmp_path: Path, *, drop: str | None = None) -> tuple[cifar.CifarArchive, Path]:
    """A tar.gz of a fake release and an archive record with its real checksums."""
    src = tmp_path / "src"
    write_fake_cifar(src, "cifar10", 2, 1, seed=3)
    tgz = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name in cifar.ARCHIVES["cifar10"].files:
            if name != drop:
                tar.add(src / "cifar-10-batches-py" / name, arcname=f"cifar-10-batches-py/{name}")
    data = tgz.read_bytes()
    arch = dataclasses.replace(
        cifar.ARCHIVES["cifar10"],
        url=tgz.as_uri(),
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    return arch, src


def _file_opener(url: str, timeout: float = 60.0) -> io.BufferedReader:
    """Stands in for the network: opens a file:// URL (the caller closes it)."""
    return open(url.removeprefix("file://"), "rb")


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_download_verifies_and_extracts_atomically(tmp_path, monkeypatch):
    arch, src = _archive(tmp_path)
    monkeypatch.setitem(cifar.ARCHIVES, "cifar10", arch)
    monkeypatch.setattr(
        cifar_download, "_urlopen", _REAL_URLOPEN
    )  # the real opener, on a file:// URL
    root = tmp_path / "data"
    folder = cifar_download.ensure_cifar(root, "cifar10", download=True)
    assert folder == root / "cifar-10-batches-py"
    assert _leftovers(root) == ["cifar-10-batches-py"]  # no archive, no temp folder
    expected = cifar.load_raw_split(src, "cifar10", "train")
    got = cifar.load_raw_split(root, "cifar10", "train")
    np.testing.assert_array_equal(got.images, expected.images)
    # present data: no second download, and refusing to download over an existing folder
    assert cifar_download.ensure_cifar(root, "cifar10", download=True) == folder
    with pytest.raises(AssetError, match="already exists"):
        cifar_download.download_cifar("cifar10", root, archive=arch)


@pytest.mark.parametrize("field", ["md5", "sha256", "size"])
def test_download_with_wrong_checksum_leaves_nothing(tmp_path, field):
    arch, _ = _archive(tmp_path)
    bad = dataclasses.replace(arch, **{field: 1 if field == "size" else "0" * 32})
    root = tmp_path / "data"
    with pytest.raises(AssetError, match=f"does not match the published checksums.*{field}"):
        cifar_download.download_cifar("cifar10", root, archive=bad, fetch=_file_opener)
    assert _leftovers(root) == []


def test_corrupt_or_incomplete_archive_leaves_nothing(tmp_path):
    arch, _ = _archive(tmp_path, drop="data_batch_3")
    root = tmp_path / "data"
    with pytest.raises(AssetError, match=r"does not contain cifar-10-batches-py/\{data_batch_3\}"):
        cifar_download.download_cifar("cifar10", root, archive=arch, fetch=_file_opener)
    assert _leftovers(root) == []
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not a tar file at all" * 10)
    data = garbage.read_bytes()
    arch = dataclasses.replace(
        arch,
        url=garbage.as_uri(),
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    with pytest.raises(AssetError, match="cannot extract"):
        cifar_download.download_cifar("cifar10", root, archive=arch, fetch=_file_opener)
    assert _leftovers(root) == []


def test_download_network_failure_is_an_asset_error(tmp_path):
    def broken(url):
        raise OSError("connection refused")

    with pytest.raises(AssetError, match="connection refused") as err:
        cifar_download.download_cifar("cifar10", tmp_path / "data", fetch=broken)
    assert "md5sum" in str(err.value) or "download" in str(err.value)
    assert _leftovers(tmp_path / "data") == []


def test_published_checksums_are_pinned():
    assert cifar.ARCHIVES["cifar10"].md5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar.ARCHIVES["cifar100"].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    for arch in cifar.ARCHIVES.values():
        assert arch.url.startswith("https://www.cs.toronto.edu/~kriz/")
        assert len(arch.sha256 or "") == 64


def test_streamed_download_reads_in_blocks(tmp_path):
    """The fetcher's response is consumed in blocks (works for any file-like object)."""
    arch, src = _archive(tmp_path)
    data = Path(arch.url.removeprefix("file://")).read_bytes()
    root = tmp_path / "data"
    cifar_download.download_cifar("cifar10", root, archive=arch, fetch=lambda url: io.BytesIO(data))
    release = "cifar-10-batches-py"
    assert sorted(p.name for p in (root / release).iterdir()) == sorted(arch.files)
    for name in arch.files:  # the release as archived, byte for byte
        assert (root / release / name).read_bytes() == (src / release / name).read_bytes(), name


# -- seeded splits and class draws -----------------------------------------------------------------


@pytest.mark.parametrize(("n_classes", "per_class"), [(10, 5000), (100, 500)])
def test_train_val_split_is_a_seeded_stratified_45k_5k_partition(n_classes, per_class):
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(n_classes), per_class))
    train, val = cifar.train_val_indices(labels, seed=0)
    assert (train.size, val.size) == (45_000, 5_000)
    assert np.union1d(train, val).size == 50_000 and np.intersect1d(train, val).size == 0
    # stratified: 4,500 / 500 per CIFAR-10 class, 450 / 50 per CIFAR-100 class, every seed
    for seed in (0, 1, 7):
        train, val = cifar.train_val_indices(labels, seed=seed)
        assert np.bincount(labels[train]).tolist() == [per_class * 9 // 10] * n_classes
        assert np.bincount(labels[val]).tolist() == [per_class // 10] * n_classes
    _, val = cifar.train_val_indices(labels, seed=0)
    _, val_again = cifar.train_val_indices(labels, seed=0)
    np.testing.assert_array_equal(val, val_again)
    assert np.all(np.diff(val) > 0)  # ascending
    _, other = cifar.train_val_indices(labels, seed=1)
    assert np.intersect1d(val, other).size < 1000  # ~500 expected by chance
    few = np.repeat(np.arange(10), 20)
    assert np.bincount(few[cifar.train_val_indices(few, seed=0)[1]]).tolist() == [2] * 10


def test_load_split_partitions_the_official_training_set(c10_root):
    train, t_idx = cifar.load_cifar_split(c10_root, "cifar10", "train", seed=5)
    val, v_idx = cifar.load_cifar_split(c10_root, "cifar10", "val", seed=5)
    test, s_idx = cifar.load_cifar_split(c10_root, "cifar10", "test", seed=5)
    assert (len(train), len(val), len(test)) == (180, 20, 50)
    assert np.union1d(t_idx, v_idx).tolist() == list(range(200))
    full = cifar.load_raw_split(c10_root, "cifar10", "train")
    np.testing.assert_array_equal(val.images, full.images[v_idx])
    np.testing.assert_array_equal(s_idx, np.arange(50))


@pytest.mark.parametrize(
    ("dataset", "k", "subset", "total"), [("cifar10", 5, 2, 10), ("cifar100", 50, 17, 100)]
)
def test_class_split_matches_the_paper(dataset, k, subset, total):
    split = cifar.draw_class_split(dataset, seed=3)
    assert len(split.target) == len(split.disjoint) == k
    assert not set(split.target) & set(split.disjoint)
    assert split.pretraining("same") == split.target
    assert split.pretraining("subset") == split.target[:subset]
    assert sorted(split.pretraining("superset")) == list(range(total))
    assert split == cifar.draw_class_split(dataset, seed=3)
    assert split.target != cifar.draw_class_split(dataset, seed=4).target
    with pytest.raises(ValueError, match="relationship"):
        split.pretraining("overlap")
    assert cifar.SAMPLES_PER_CLASS[dataset][-1] == (4500 if dataset == "cifar10" else 500)


def test_select_indices_subsamples_per_class_nested_and_orders_by_seed(c10_root):
    train, idx = cifar.load_cifar_split(c10_root, "cifar10", "train", seed=0)
    kw = {"seed": 0, "stream": "cifar10/train"}
    small = cifar.select_indices(train.labels, idx, [2, 7], order_seed=0, per_class=4, **kw)
    big = cifar.select_indices(train.labels, idx, [2, 7], order_seed=0, per_class=10, **kw)
    assert sorted(np.bincount(train.labels[small], minlength=10).tolist()) == [0] * 8 + [4, 4]
    assert set(idx[small]) <= set(idx[big])  # nested: more samples per class keep the fewer
    reordered = cifar.select_indices(train.labels, idx, [2, 7], order_seed=9, per_class=4, **kw)
    assert sorted(reordered) == sorted(small) and reordered.tolist() != small.tolist()
    everything = cifar.select_indices(train.labels, idx, [2, 7], order_seed=0, **kw)
    assert everything.size == int(np.isin(train.labels, [2, 7]).sum())
    first5 = cifar.select_indices(train.labels, idx, [2, 7], order_seed=0, count=5, **kw)
    np.testing.assert_array_equal(first5, everything[:5])
    half = cifar.select_indices(train.labels, idx, [2, 7], order_seed=0, count=0.5, **kw)
    assert half.size == round(everything.size / 2)
    with pytest.raises(ValueError, match="fewer than the 100 samples per class"):
        cifar.select_indices(train.labels, idx, [2], order_seed=0, per_class=100, **kw)
    with pytest.raises(ValueError, match="only"):
        cifar.select_indices(train.labels, idx, [2], order_seed=0, count=10_000, **kw)
    with pytest.raises(ValueError, match="without repeats"):
        cifar.select_indices(train.labels, idx, [2, 2], order_seed=0, **kw)
