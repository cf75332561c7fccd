"""Objects rendered from the Noto Color Emoji font (cartoon style; a many-class alternative).

The font (Debian ``fonts-noto-color-emoji``, images Apache-2.0, font OFL-1.1) is a CBDT bitmap
font: Pillow renders it only at size 109 and only with ``embedded_color=True``; glyphs are about
136×128 px. The class lists are ``lists/noto_emoji_default61.tsv`` (one emoji per SI-Score label,
named by the label) and ``lists/noto_emoji_objects.tsv`` (525 real-object emoji, named by their
lower-cased Unicode name). The available order is the default 61, then the other objects that
render with the Debian 12 font (``renders_noto_deb12 == 1``), in list order — 521 in all. The list,
not the installed font, fixes the names, so ``count: N`` means the same classes everywhere; an
emoji the installed font cannot draw is an error, never skipped.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFont

from invtransfer.assets._imageio import tight_crop, zero_hidden_rgb
from invtransfer.errors import AssetError

__all__ = ["DEFAULT_FONT", "EMOJI_SIZE", "EmojiEntry", "emoji_entries", "render_emoji"]

DEFAULT_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_SIZE = 109  # the only pixel size of the CBDT strikes in NotoColorEmoji.ttf


@dataclass(frozen=True)
class EmojiEntry:
    name: str  # class name
    unified: str  # code points, e.g. "1F56F-FE0F"
    emoji_name: str  # Unicode name, e.g. "CANDLE"


def _text(unified: str) -> str:
    return "".join(chr(int(cp, 16)) for cp in unified.split("-"))


@functools.lru_cache(maxsize=4)
def emoji_entries(lists_dir: Path) -> tuple[EmojiEntry, ...]:
    """The ordered emoji classes from the two lists in ``lists_dir``."""
    paths = [lists_dir / "noto_emoji_default61.tsv", lists_dir / "noto_emoji_objects.tsv"]
    for path in paths:
        if not path.is_file():
            raise AssetError(
                f"{path}: emoji list not found (it ships in the package: invtransfer/resources/lists/)"
            )
    with open(paths[0], newline="", encoding="utf-8") as fh:
        default = [
            EmojiEntry(r["siscore_label"], r["unified"], r["emoji_name"])
            for r in csv.DictReader(fh, delimiter="\t")
        ]
    with open(paths[1], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    taken = {e.unified for e in default}
    rest = [
        EmojiEntry(r["name"].lower(), r["unified"], r["name"])
        for r in rows
        if r["renders_noto_deb12"] == "1" and r["unified"] not in taken
    ]
    entries = tuple(default + rest)
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise AssetError(f"{lists_dir}: emoji lists give duplicate class names {dupes}")
    return entries


@functools.lru_cache(maxsize=4)
def _font(path: str) -> ImageFont.FreeTypeFont:
    if not Path(path).is_file():
        raise AssetError(
            f"{path}: Noto Color Emoji font not found. Install the Debian package "
            "(`apt-get install fonts-noto-color-emoji`) or set `font:` to a NotoColorEmoji.ttf"
        )
    try:
        return ImageFont.truetype(path, EMOJI_SIZE)
    except OSError as exc:
        raise AssetError(
            f"{path}: cannot load as a colour emoji font at size {EMOJI_SIZE} ({exc}); it must be "
            "the CBDT NotoColorEmoji.ttf from fonts-noto-color-emoji"
        ) from exc


def render_emoji(entry: EmojiEntry, font_path: str | Path = DEFAULT_FONT) -> np.ndarray:
    """The emoji as a tight-cropped ``uint8`` H×W×4 array with straight alpha (hidden RGB = 0)."""
    font = _font(str(font_path))
    # getmask2 returns the glyph's straight RGBA; ImageDraw.text would blend it into the canvas
    # with the mask applied twice to alpha.
    core, _offset = font.getmask2(_text(entry.unified), mode="RGBA", embedded_color=True)
    glyph = Image.Image()._new(core)  # Pillow's own way to wrap an imaging core
    rgba = np.asarray(glyph)
    what = f"emoji {entry.unified} ({entry.emoji_name}) in {font_path}"
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.size == 0:
        raise AssetError(f"{what}: the font has no colour glyph for it")
    return zero_hidden_rgb(tight_crop(rgba, what))
