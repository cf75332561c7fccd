"""Decoding, validating and tight-cropping object and photo files (shared by every asset source).

Every function names the offending file in its error, because a bad image is usually one file
among hundreds in a user-supplied folder. Decoded images are cached per process (keyed by path,
size and modification time), so repeated loads of the same assets — one per dataset rule — decode
each file once. Cached arrays are read-only: callers that want to edit must copy.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from invtransfer.errors import AssetError

__all__ = [
    "PHOTO_SUFFIXES",
    "fit_within",
    "read_object_png",
    "read_photo",
    "rgba_from_image",
    "tight_crop",
    "zero_hidden_rgb",
]

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")

# Modes Pillow converts to RGBA without inventing an alpha channel.
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


def _open(path: Path) -> Image.Image:
    """Open and fully decode ``path`` (``Image.open`` is lazy: truncation shows up in ``load``)."""
    try:
        im = Image.open(path)
        im.load()
    except FileNotFoundError:
        raise AssetError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AssetError(
            f"{path}: corrupt or unreadable image ({exc}); replace or delete this file"
        ) from exc
    return im


def _freeze(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def tight_crop(rgba: np.ndarray, what: str) -> np.ndarray:
    """Crop ``rgba`` (H×W×4) to the bounding box of its non-zero alpha; ``what`` names it in errors."""
    alpha = rgba[..., 3]
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        raise AssetError(
            f"{what}: the alpha channel is fully transparent, so there is no object to paste; "
            "remove the file or give it a transparency mask that shows the object"
        )
    cols = np.flatnonzero(alpha.any(axis=0))
    return rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def zero_hidden_rgb(rgba: np.ndarray) -> np.ndarray:
    """A copy with RGB = 0 wherever alpha = 0 (the package convention for the object layer)."""
    out = np.array(rgba, dtype=np.uint8, copy=True)
    out[out[..., 3] == 0, :3] = 0
    return out


def fit_within(rgba: np.ndarray, max_size: int, what: str) -> np.ndarray:
    """Downscale so the longest side is at most ``max_size`` (Lanczos), then crop tight again.

    Pillow resamples RGBA in premultiplied space, so no colour from fully transparent pixels
    bleeds into the object's edge. Images already small enough are returned unchanged.
    """
    h, w = rgba.shape[:2]
    if max(h, w) <= max_size:
        return rgba
    scale = max_size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(
        Image.fromarray(np.ascontiguousarray(rgba), "RGBA").resize(
            (new_w, new_h), Image.Resampling.LANCZOS
        )
    )
    return zero_hidden_rgb(tight_crop(small, what))


def rgba_from_image(im: Image.Image, what: str) -> np.ndarray:
    """Convert a decoded image to RGBA; modes without any transparency information are an error."""
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        # 'P' + tRNS, 'RGB'/'L' + tRNS colour key: Pillow turns the key into real alpha.
        return np.asarray(im.convert("RGBA"))
    raise AssetError(
        f"{what}: image mode {im.mode!r} has no alpha channel, but object images must be PNGs "
        "with a transparency mask (RGBA, LA, or palette with tRNS); cut the object out and save "
        "it with alpha"
    )


@functools.lru_cache(maxsize=4096)
def _read_object_cached(key: tuple[str, int, int]) -> np.ndarray:
    path = Path(key[0])
    im = _open(path)
    rgba = rgba_from_image(im, str(path))
    return _freeze(zero_hidden_rgb(tight_crop(rgba, str(path))))


def read_object_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an object image as a read-only ``uint8`` H×W×4 array, tight-cropped, hidden RGB = 0."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{path}: object image not found")
    return _read_object_cached(_file_key(path))


@functools.lru_cache(maxsize=2048)
def _read_photo_cached(key: tuple[str, int, int], max_size: int | None) -> np.ndarray:
    path = Path(key[0])
    im = ImageOps.exif_transpose(_open(path))
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"))
        if (rgba[..., 3] != 255).any():
            raise AssetError(
                f"{path}: background photo has transparent pixels; backgrounds must be opaque "
                "photographs (flatten it or remove it from the folder)"
            )
        im = Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")
    elif im.mode != "RGB":
        im = im.convert("RGB")
    if max_size is not None and max(im.size) > max_size:
        scale = max_size / max(im.size)
        im = im.resize(
            (max(1, round(im.width * scale)), max(1, round(im.height * scale))),
            Image.Resampling.LANCZOS,
        )
    return _freeze(np.asarray(im))


def read_photo(path: str | os.PathLike[str], max_size: int | None = None) -> np.ndarray:
    """Decode a photograph as a read-only ``uint8`` H×W×3 array (EXIF orientation applied)."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{path}: background photo not found")
    return _read_photo_cached(_file_key(path), max_size)
