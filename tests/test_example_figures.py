"""Example-image figures (Fig 1, 5, 6, 15): inputs from arrays, dataset folders and specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.fake_cifar import FIXTURE, read_png_fixture, write_fake_cifar

from invtransfer import example_figures as ef
from invtransfer.datasets import materialize
from invtransfer.transforms import TRANSFORMS


@pytest.fixture(scope="module")
def real():
    return read_png_fixture(FIXTURE)[0]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar(root, "cifar10", 2, 0, seed=0, real_test_images=read_png_fixture(FIXTURE))
    return str(root)


def _check_outputs(pdf: Path, png: Path, min_size: tuple[int, int]) -> None:
    assert pdf.read_bytes().startswith(b"%PDF")
    with Image.open(png) as im:
        assert im.width >= min_size[0] and im.height >= min_size[1]
    assert not [p for p in pdf.parent.iterdir() if p.name.startswith(".tmp")]


def test_fig6_from_arrays_is_reproducible(tmp_path, real):
    black = np.zeros_like(real[:8])
    pdf, png = ef.fig6(tmp_path / "fig6.pdf", real[:8], real[8:16], black)
    assert (pdf, png) == (tmp_path / "fig6.pdf", tmp_path / "fig6.png")
    _check_outputs(pdf, png, (800, 200))
    first = (pdf.read_bytes(), png.read_bytes())
    ef.fig6(tmp_path / "fig6.pdf", real[:8], real[8:16], black)
    assert (pdf.read_bytes(), png.read_bytes()) == first  # no timestamps in the files


def test_fig5_has_a_row_per_transformation(tmp_path, real):
    rows = {name: np.roll(real, i, axis=0)[:6] for i, name in enumerate(reversed(list(TRANSFORMS)))}
    pdf, png = ef.fig5(tmp_path / "fig5.pdf", rows, n=6)
    _check_outputs(pdf, png, (800, 1000))
    texts = {ef.parameter_text(name) for name in TRANSFORMS}
    assert all(texts) and "by [0, 360] degrees" in texts and "x and y by [-50, 50] degrees" in texts


def test_fig1_and_fig15_from_folders_and_specs(tmp_path, root, real):
    cifar_spec = {
        "kind": "cifar",
        "dataset": "cifar10",
        "splits": {"test": 20},
        "seed": 0,
        "_root": root,
    }
    folder = tmp_path / "ds"
    materialize({**cifar_spec, "transforms": ["hue"]}, folder, progress=False)
    cifar_rows = {"translate": {**cifar_spec, "transforms": ["translate"]}, "hue": folder}
    random_rows = {"elastic": real[:8], "pixelate": real[8:16]}
    pdf, png = ef.fig15(tmp_path / "fig15.pdf", random_rows, cifar_rows)
    _check_outputs(pdf, png, (800, 500))
    # Fig 1: one object per row (label filter on a dataset folder)
    pdf, png = ef.fig1(
        tmp_path / "fig1.pdf", {"rotate": folder, "hue": folder, "blur": real}, n=2, object_label=3
    )
    _check_outputs(pdf, png, (200, 150))


def test_load_examples_filters_and_checks(tmp_path, root, real):
    spec = {"kind": "cifar", "dataset": "cifar10", "splits": {"test": 20}, "seed": 0, "_root": root}
    folder = tmp_path / "ds"
    materialize(spec, folder, progress=False)
    cats = ef.load_examples(folder, n=2, label=3)
    np.testing.assert_array_equal(cats, ef.load_examples(spec, n=2, label=3))  # folder == in memory
    assert cats.shape == (2, 32, 32, 3)
    assert {tuple(img.reshape(-1)[:8]) for img in cats} <= {
        tuple(img.reshape(-1)[:8]) for img in real[[0, 8]]
    }
    with pytest.raises(ValueError, match="8 images needed, the source has 2"):
        ef.load_examples(real[:2])
    with pytest.raises(TypeError, match="uint8"):
        ef.load_examples(real.astype(np.float32))
    with pytest.raises(ValueError, match="needs a dataset folder or spec"):
        ef.load_examples(real, label=1)
    with pytest.raises(FileNotFoundError, match="materialize it first"):
        ef.load_examples(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"\.pdf"):
        ef.fig6(tmp_path / "fig6.png", real[:8], real[:8], real[:8])
