"""Read the invariance-mismatch curves (paper Fig. 4 and Fig. 18a-c) off the reference's figures.

The paper prints no numbers for these figures. The reference repository saves them, with their
outputs, in ``src/experiments/transforms_mismatch/eval.ipynb`` (tillspeicher/
representation-invariance-transfer): four PNG line plots (ResNet-18, VGG-11, DenseNet-121, ViT;
10 seeds each, ``sns.lineplot``) that its next cell saves as the paper's figure PDFs — their
y-axes are the paper's (0.2-1.0, 0.3-1.0, 0.3-1.0, 0.2-1.0 by 0.2). This script locates the
axes frame and tick marks of each PNG, then, at every x tick (number of target transformations
t), the pixel rows of each training-set line k (tab10 colours) and converts their centre to an
accuracy (one pixel is 0.003 of accuracy on the 0.1-per-31-px axes): a read-off to about ±0.005.

Lines drawn later (larger k) hide earlier ones where the curves coincide near 1.0: such a cell
(always a superset cell, k ≥ t) is written as the lowest visible superset line at that target,
and its note says so. Prints the CSV rows of ``src/invtransfer/resources/paper_numbers.csv``:

    python bench/readoff_mismatch.py PATH/TO/transforms_mismatch/eval.ipynb
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys

import numpy as np
from PIL import Image

# the notebook's four figures in order: (artifact, architecture, lowest y tick, y tick step)
FIGURES = (
    ("fig4", "ResNet-18", 0.2, 0.1),
    ("fig18a", "VGG-11", 0.3, 0.1),
    ("fig18b", "DenseNet-121", 0.3, 0.1),
    ("fig18c", "ViT", 0.2, 0.2),
)
TAB10 = {  # matplotlib's tab10, the lineplot palette: k = 1..8
    1: (31, 119, 180), 2: (255, 127, 14), 3: (44, 160, 44), 4: (214, 39, 40),
    5: (148, 103, 189), 6: (140, 86, 75), 7: (227, 119, 194), 8: (127, 127, 127),
}  # fmt: skip
LEGEND_BELOW = 0.9  # the legend box sits below this accuracy at x ticks 1 and 2


def notebook_pngs(path: str) -> list[np.ndarray]:
    with open(path, encoding="utf-8") as f:
        cells = json.load(f)["cells"]
    images = []
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                png = base64.b64decode(data["image/png"])
                images.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int))
    return images


def read_figure(im: np.ndarray, low: float, step: float) -> dict[tuple[int, int], float | None]:
    """Accuracy of line k at x tick t (None where the line is hidden under later lines)."""
    h, w, _ = im.shape
    dark = im.sum(axis=2) < 150
    frame_x = [x for x in range(w) if dark[:, x].sum() > 150]
    frame_y = [y for y in range(h) if dark[y].sum() > 200]
    left, top, bottom = frame_x[0], frame_y[0], frame_y[-1]
    ticks_y = [y for y in range(h) if dark[y, left - 4 : left].all()]
    ticks_x = [x for x in range(w) if dark[bottom + 1 : bottom + 4, x].all()]
    expected = round((1.0 - low) / step) + 1
    if len(ticks_y) != expected or len(ticks_x) != 8:
        raise ValueError(f"found {len(ticks_y)} y ticks (expected {expected}), {len(ticks_x)} x")
    per_px = (1.0 - low) / (ticks_y[-1] - ticks_y[0])

    def accuracy(y: float) -> float:
        return 1.0 - (y - ticks_y[0]) * per_px

    cells: dict[tuple[int, int], float | None] = {}
    for k, colour in TAB10.items():
        for t, x in enumerate(ticks_x, start=1):
            dist = np.abs(im[:, x - 1 : x + 2] - np.array(colour)).sum(axis=2).min(axis=1)
            ys = [y for y in np.flatnonzero(dist < 40) if top < y < bottom]
            if t <= 2:  # the legend's sample lines lie below LEGEND_BELOW there
                ys = [y for y in ys if accuracy(y) >= LEGEND_BELOW]
            if ys and max(ys) - min(ys) > 4:
                raise ValueError(f"line {k} at target {t}: pixels {min(ys)}..{max(ys)}, ambiguous")
            cells[(k, t)] = min(1.0, accuracy(float(np.median(ys)))) if ys else None
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", help="the reference's transforms_mismatch/eval.ipynb")
    args = ap.parse_args()
    images = notebook_pngs(args.notebook)
    if len(images) != len(FIGURES):
        sys.exit(f"{args.notebook}: {len(images)} figures, expected {len(FIGURES)}")
    source = "tillspeicher/representation-invariance-transfer, transforms_mismatch/eval.ipynb"
    for (artifact, arch, low, step), im in zip(FIGURES, images, strict=True):
        cells = read_figure(im, low, step)
        for (k, t), value in sorted(cells.items()):
            note = (
                f"APPROXIMATE: read off the reference's saved {arch} figure ({source}) by "
                "bench/readoff_mismatch.py (±0.005), not printed in the paper"
            )
            if value is None:
                if t > k:
                    raise ValueError(f"{artifact}: subset line {k} hidden at target {t}")
                seen = [v for (kk, tt), v in cells.items() if tt == t and kk >= t and v is not None]
                value = min(seen)
                note += "; hidden under later lines here: the lowest visible superset line"
            print(f'{artifact},{k},{t},value,{value:.3f},"{note}"')


if __name__ == "__main__":
    main()
