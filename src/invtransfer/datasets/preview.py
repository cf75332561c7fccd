"""Contact sheets: a quick visual check of what a dataset holds.

``preview.png`` has one row per class (the first :data:`~invtransfer.datasets.builders.PREVIEW_CLASSES`
classes by label, named on the left) and one column per sample (the first samples of that class in
the first split), each image upscaled ×2 with nearest neighbour so pixels stay crisp.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from invtransfer.io import atomic_write_bytes

__all__ = ["GAP", "contact_sheet", "grid_size", "write_preview"]

GAP = 2  # pixels between cells
_BACKGROUND = (40, 40, 40)
_TEXT = (230, 230, 230)


def grid_size(rows: int, cols: int, height: int, width: int, upscale: int = 2) -> tuple[int, int]:
    """``(width, height)`` in pixels of the image grid, without the label column."""
    return (
        cols * width * upscale + (cols + 1) * GAP,
        rows * height * upscale + (rows + 1) * GAP,
    )


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def contact_sheet(
    rows: Sequence[Sequence[np.ndarray]],
    labels: Sequence[str] | None = None,
    *,
    cols: int | None = None,
    upscale: int = 2,
) -> Image.Image:
    """An RGB image: ``rows[r][c]`` (``uint8`` H×W×3) at row ``r``, column ``c``; empty cells dark.

    ``labels`` (one per row) are drawn in a column on the left.
    """
    if not rows:
        raise ValueError("contact_sheet needs at least one row")
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f"labels has {len(labels)} entries for {len(rows)} rows")
    if upscale < 1:
        raise ValueError(f"upscale must be >= 1, got {upscale}")
    first = next((img for row in rows for img in row), None)
    if first is None:
        raise ValueError("contact_sheet: every row is empty")
    h, w = first.shape[:2]
    ncols = cols if cols is not None else max(len(r) for r in rows)
    font = _font()
    label_w = 0
    if labels:
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        label_w = max(int(probe.textlength(str(t), font=font)) for t in labels) + 2 * GAP + 4
    gw, gh = grid_size(len(rows), ncols, h, w, upscale)
    sheet = Image.new("RGB", (label_w + gw, gh), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        y = GAP + r * (h * upscale + GAP)
        if labels:
            draw.text(
                (GAP + 2, y + h * upscale // 2), str(labels[r]), fill=_TEXT, font=font, anchor="lm"
            )
        for c, img in enumerate(row[:ncols]):
            if img.dtype != np.uint8 or img.shape != (h, w, 3):
                raise TypeError(
                    f"cell ({r}, {c}): expected uint8 {(h, w, 3)}, got {img.dtype} {img.shape}"
                )
            big = np.repeat(np.repeat(img, upscale, axis=0), upscale, axis=1)
            x = label_w + GAP + c * (w * upscale + GAP)
            sheet.paste(Image.fromarray(big, "RGB"), (x, y))
    return sheet


def write_preview(
    path: str | os.PathLike[str],
    rows: Sequence[Sequence[np.ndarray]],
    labels: Sequence[str] | None = None,
    *,
    cols: int = 8,
    upscale: int = 2,
) -> None:
    """Write :func:`contact_sheet` as a PNG, atomically."""
    buf = io.BytesIO()
    contact_sheet(rows, labels, cols=cols, upscale=upscale).save(buf, format="PNG", optimize=False)
    atomic_write_bytes(path, buf.getvalue())
