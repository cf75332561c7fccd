"""The paper's example-image figures: Fig 1, Fig 5, Fig 6 and Fig 15.

These figures show data, not results, so each function takes the images explicitly — a
materialised dataset folder, an in-memory ``uint8`` array ``N×H×W×3`` or a dataset spec (built in
memory, first images only) — and an output path ``figures/figN.pdf``; it writes the PDF and a PNG
next to it, atomically and byte-reproducibly (no timestamps in the metadata), with matplotlib's Agg
backend. A Snakemake rule therefore only has to name its inputs. Where CIFAR is not available the
CIFAR panels can be drawn from a fixture written by ``tests/support/fake_cifar.py``
(``write_fake_cifar``, with the 20 real test images of ``tests/fixtures/cifar``).

- Fig 1: Transforms-2D examples, one row per transformation (rotate, hue, blur), one object.
- Fig 5: the 18 transformations — category, name, parameters, samples (paper App. A.1).
- Fig 6: irrelevant-feature examples — CIFAR-10 only, CIFAR-10 + objects, objects only (App. A.2).
- Fig 15: (a) structured-random examples (elastic, pixelate), (b) augmented CIFAR-10 (translate,
  hue) (App. D.1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from invtransfer.io import atomic_path

__all__ = [
    "FIG1_TRANSFORMS",
    "FIG15_CIFAR_TRANSFORMS",
    "FIG15_RANDOM_TRANSFORMS",
    "ExampleSource",
    "fig1",
    "fig5",
    "fig6",
    "fig15",
    "load_examples",
    "parameter_text",
    "save_figure",
]

ExampleSource = np.ndarray | str | os.PathLike | Mapping  # images, dataset folder, or dataset spec

FIG1_TRANSFORMS = ("rotate", "hue", "blur")
FIG15_RANDOM_TRANSFORMS = ("elastic", "pixelate")
FIG15_CIFAR_TRANSFORMS = ("translate", "hue")
_GAP = 2  # px between images in a row (white)
_CELL_IN = 0.55  # inches per image


# -- inputs ----------------------------------------------------------------------------------------


def _check_images(images: Any, what: str) -> np.ndarray:
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or images.ndim != 4
        or images.shape[3] != 3
    ):
        raise TypeError(
            f"{what}: images must be a uint8 array N×H×W×3, got {type(images).__name__} "
            f"{getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{what}: no images")
    return images


def load_examples(
    source: ExampleSource,
    *,
    n: int = 8,
    split: str = "test",
    label: int | None = None,
    what: str = "examples",
) -> np.ndarray:
    """The first ``n`` images (of class ``label``, if given) of a source, ``uint8`` ``n×H×W×3``.

    ``source`` is an array (returned as is, first ``n`` rows), a materialised dataset folder
    (``split`` is read and verified), or a dataset spec (built in memory chunk by chunk until
    ``n`` images are found, nothing written). Fewer than ``n`` matching images is an error.
    """
    if n < 1:
        raise ValueError(f"{what}: n must be >= 1, got {n}")
    if isinstance(source, np.ndarray):
        images = _check_images(source, what)
        labels = None
    elif isinstance(source, (str, os.PathLike)):
        from invtransfer.datasets.store import load_split

        folder = Path(source)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{what}: dataset folder {folder} does not exist (materialize it first)"
            )
        data = load_split(folder, split)
        images, labels = data.images.numpy(), data.labels.numpy()
    elif isinstance(source, Mapping):
        images, labels = _from_spec(source, n, split, label)
    else:
        raise TypeError(
            f"{what}: expected an array, a dataset folder or a spec, got {type(source).__name__}"
        )
    if label is not None:
        if labels is None:
            raise ValueError(f"{what}: label={label} needs a dataset folder or spec, not an array")
        images = images[labels == label]
    if images.shape[0] < n:
        raise ValueError(f"{what}: {n} images needed, the source has {images.shape[0]}")
    return np.ascontiguousarray(images[:n])


def _from_spec(
    spec: Mapping[str, Any], n: int, split: str, label: int | None
) -> tuple[np.ndarray, np.ndarray]:
    from invtransfer.datasets.builders import dataset_build_plan as build_plan

    plan = build_plan(spec)
    got_images, got_labels, found = [], [], 0
    for images, meta in plan.chunks(split):
        labels = meta["label"].to_numpy()
        got_images.append(images)
        got_labels.append(labels)
        found += int((labels == label).sum()) if label is not None else len(labels)
        if found >= n:
            break
    return np.concatenate(got_images), np.concatenate(got_labels)


# -- drawing ---------------------------------------------------------------------------------------


def _strip(images: np.ndarray) -> np.ndarray:
    """Images side by side with white gaps: ``H×(n·W + (n−1)·gap)×3``."""
    n, h, w, _ = images.shape
    out = np.full((h, n * w + (n - 1) * _GAP, 3), 255, dtype=np.uint8)
    for i in range(n):
        out[:, i * (w + _GAP) : i * (w + _GAP) + w] = images[i]
    return out


def _show(ax: Any, images: np.ndarray) -> None:
    ax.imshow(_strip(images), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``fig`` to ``path`` (PDF) and the same name with ``.png``, atomically; close it.

    Metadata timestamps and version strings are dropped, so the same inputs give the same bytes.
    """
    pdf = Path(path)
    if pdf.suffix != ".pdf":
        raise ValueError(f"path must end in .pdf, got {pdf}")
    png = pdf.with_suffix(".png")
    try:
        with atomic_path(pdf) as tmp:
            fig.savefig(
                tmp,
                format="pdf",
                bbox_inches="tight",
                metadata={"CreationDate": None, "Creator": None, "Producer": None},
            )
        with atomic_path(png) as tmp:
            fig.savefig(
                tmp, format="png", dpi=200, bbox_inches="tight", metadata={"Software": None}
            )
    finally:
        plt.close(fig)
    return pdf, png


def _rows_figure(
    rows: Sequence[tuple[str, np.ndarray]],
    *,
    title: str | None = None,
    label_width: float = 1.6,
) -> Any:
    """One row per ``(label, images)``: the label on the left, the images in a strip."""
    n = max(images.shape[0] for _, images in rows)
    width = label_width + n * _CELL_IN
    fig, axes = plt.subplots(
        len(rows),
        1,
        figsize=(width, len(rows) * _CELL_IN * 1.08 + (0.35 if title else 0)),
        squeeze=False,
    )
    for ax, (label, images) in zip(axes[:, 0], rows, strict=True):
        _show(ax, images)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=label_width / width, right=0.99, hspace=0.08)
    return fig


def _pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


# -- the figures -----------------------------------------------------------------------------------


def fig1(
    path: str | os.PathLike[str],
    rows: Mapping[str, ExampleSource],
    *,
    n: int = 8,
    object_label: int | None = 0,
    split: str = "test",
) -> tuple[Path, Path]:
    """Fig 1: one row per transformation (paper: rotate, hue, blur), all of one object.

    ``rows`` maps a transformation name to its source; with dataset folders or specs the images
    of class ``object_label`` are used, so every row shows the same prototype.
    """
    if not rows:
        raise ValueError(
            f"fig1: rows must name at least one transformation, e.g. {list(FIG1_TRANSFORMS)}"
        )
    drawn = []
    for name, source in rows.items():
        label = object_label if not isinstance(source, np.ndarray) else None
        drawn.append(
            (
                _pretty(name),
                load_examples(source, n=n, split=split, label=label, what=f"fig1 row {name!r}"),
            )
        )
    return save_figure(_rows_figure(drawn, label_width=0.9), path)


def parameter_text(name: str) -> str:
    """Fig 5's "parameters used" for ``name``, computed from the constants in :mod:`invtransfer.transforms`."""
    from invtransfer import transforms as T

    options = T.TransformOptions()
    p = f"with {options.probability:.0%} probability"
    texts = {
        "scale": f"to [{T.SCALE_RANGE[0]:.0%}, {T.SCALE_RANGE[1]:.0%}] size",
        "translate": "x and y position anywhere inside the image",
        "v_flip": p,
        "h_flip": p,
        "rotate": f"by [{T.ROTATE_RANGE[0]:g}, {T.ROTATE_RANGE[1]:g}] degrees",
        "shear": f"x and y by [{T.SHEAR_RANGE[0]:g}, {T.SHEAR_RANGE[1]:g}] degrees",
        "hue": f"deviation in [{T.HUE_RANGE[0]:g}, {T.HUE_RANGE[1]:g}]",
        "brightness": f"change in [{T.BRIGHTNESS_RANGE[0] - 1:g}, {T.BRIGHTNESS_RANGE[1] - 1:g}]",
        "grayscale": p,
        "posterize": f"{p} to {T.POSTERIZE_BITS} bit",
        "invert": p,
        "sharpen": f"{p}, sharpness factor {T.SHARPNESS_FACTOR:g}",
        "blur": f"Gaussian, kernel {T.BLUR_KERNEL} px, σ ∈ [{T.BLUR_SIGMA_RANGE[0]:g}, {T.BLUR_SIGMA_RANGE[1]:g}]",
        "noise": f"Gaussian, μ = 0, σ = {T.NOISE_STD:g}, {p}",
        "pixelate": f"to {options.pixelate_fraction:.0%} resolution, {p}",
        "elastic": f"α = {T.ELASTIC_ALPHA:g}, σ = {T.ELASTIC_SIGMA:g}, {p}",
        "erasing": f"{T.ERASING_SIZE}×{T.ERASING_SIZE} px square at a random position, {p}",
        "contrast": f"change in [{T.CONTRAST_RANGE[0] - 1:g}, {T.CONTRAST_RANGE[1] - 1:g}]",
    }
    if name not in texts:
        spec = T.get_transform(name)  # raises for unknown names
        return f"parameters: {', '.join(spec.columns) or 'none'}"
    return texts[name]


def fig5(
    path: str | os.PathLike[str],
    rows: Mapping[str, ExampleSource],
    *,
    n: int = 8,
    split: str = "test",
    object_label: int | None = None,
) -> tuple[Path, Path]:
    """Fig 5: one row per transformation with its category, name, parameters and ``n`` samples.

    ``rows`` maps each transformation name (all 18 for the paper's figure) to its source; rows are
    drawn in registry order (geometric, photometric, corruption) and the category is named once.
    """
    from invtransfer.transforms import TRANSFORMS, canonical_order

    if not rows:
        raise ValueError("fig5: rows must name at least one transformation")
    names = canonical_order(list(rows))
    drawn = [
        load_examples(
            rows[name],
            n=n,
            split=split,
            label=None if isinstance(rows[name], np.ndarray) else object_label,
            what=f"fig5 row {name!r}",
        )
        for name in names
    ]
    # One image axes for all samples (a mosaic) and figure-level text: ~10x faster than an axes
    # per cell, and the rows stay aligned with their labels.
    cell = _CELL_IN * 0.8
    text_w = (0.95, 1.15, 2.8)  # inches: category, name, parameters
    h = drawn[0].shape[1]
    strips = [_strip(images) for images in drawn]
    width_px = max(s.shape[1] for s in strips)
    mosaic = np.full((len(strips) * (h + _GAP) - _GAP, width_px, 3), 255, dtype=np.uint8)
    for r, strip in enumerate(strips):
        mosaic[r * (h + _GAP) : r * (h + _GAP) + h, : strip.shape[1]] = strip
    img_w = n * cell
    img_h = img_w * mosaic.shape[0] / mosaic.shape[1]
    head = 0.3
    width, height = sum(text_w) + img_w, img_h + head
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((sum(text_w) / width, 0.0, img_w / width, img_h / height))
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    lefts = np.cumsum([0.0, *text_w]) / width
    top = 1.0 - 0.5 * head / height
    for left, text in zip(
        lefts, ("Category", "Transformation", "Parameters used", "Samples"), strict=True
    ):
        fig.text(left + 0.005, top, text, fontsize=8, fontweight="bold", va="center")
    previous = None
    for r, name in enumerate(names):
        y = (img_h - (r * (h + _GAP) + h / 2) / mosaic.shape[0] * img_h) / height
        category = TRANSFORMS[name].category
        texts = (
            _pretty(category) if category != previous else "",
            _pretty(name),
            parameter_text(name),
        )
        previous = category
        for left, text, size in zip(lefts, texts, (7.5, 7.5, 6.5), strict=False):
            fig.text(left + 0.005, y, text, fontsize=size, va="center")
    return save_figure(fig, path)


def fig6(
    path: str | os.PathLike[str],
    cifar: ExampleSource,
    cifar_objects: ExampleSource,
    objects: ExampleSource,
    *,
    n: int = 8,
    split: str = "test",
) -> tuple[Path, Path]:
    """Fig 6: rows of ``n`` test images — CIFAR-10 only (X=C), with objects (X=C+O), objects only (X=O)."""
    rows = [
        ("CIFAR-10-only", load_examples(cifar, n=n, split=split, what="fig6 X=C")),
        (
            "CIFAR-10 with\nTransforms-2D objects",
            load_examples(cifar_objects, n=n, split=split, what="fig6 X=C+O"),
        ),
        ("Transforms-2D-only", load_examples(objects, n=n, split=split, what="fig6 X=O")),
    ]
    return save_figure(_rows_figure(rows, label_width=1.6), path)


def fig15(
    path: str | os.PathLike[str],
    random_rows: Mapping[str, ExampleSource],
    cifar_rows: Mapping[str, ExampleSource],
    *,
    n: int = 8,
    split: str = "test",
) -> tuple[Path, Path]:
    """Fig 15: (a) structured-random data (paper: elastic, pixelate), (b) augmented CIFAR-10
    (paper: translate, hue); one row per transformation."""
    if not random_rows or not cifar_rows:
        raise ValueError("fig15: both random_rows and cifar_rows need at least one transformation")
    panels = [
        ("(a) Examples of images from the synthetic random dataset.", random_rows),
        ("(b) Examples of augmented CIFAR-10 images.", cifar_rows),
    ]
    drawn = [
        (
            title,
            [
                (_pretty(k), load_examples(v, n=n, split=split, what=f"fig15 row {k!r}"))
                for k, v in rows.items()
            ],
        )
        for title, rows in panels
    ]
    total_rows = sum(len(r) for _, r in drawn)
    width = 0.9 + n * _CELL_IN
    fig = plt.figure(figsize=(width, total_rows * _CELL_IN * 1.08 + 2 * 0.45))
    outer = fig.add_gridspec(
        2,
        1,
        height_ratios=[len(r) + 0.8 for _, r in drawn],
        hspace=0.05,
        left=0.9 / width,
        right=0.99,
        top=0.99,
        bottom=0.01,
    )
    for i, (title, rows) in enumerate(drawn):
        inner = outer[i].subgridspec(
            len(rows) + 1, 1, height_ratios=[1.0] * len(rows) + [0.8], hspace=0.08
        )
        for r, (label, images) in enumerate(rows):
            ax = fig.add_subplot(inner[r])
            _show(ax, images)
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        cap = fig.add_subplot(inner[len(rows)])
        cap.axis("off")
        cap.text(0.5, 0.5, title, ha="center", va="center", fontsize=9)
    return save_figure(fig, path)
