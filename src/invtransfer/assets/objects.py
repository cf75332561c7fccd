"""Object prototypes (one RGBA image per class) from the configured source.

Sources (``config["assets"]["objects"]["source"]``):

- ``bundle`` (default): the embedded Tux Paint photographs in ``resources/``. Default: the 61
  curated objects in ``tuxpaint_default61.tsv`` order; ``count: N`` (N ≤ 296) takes those first,
  then the rest in list order; ``names: [...]`` picks by name. ``path`` may point at another
  bundle folder (e.g. a fresh ``assets rebuild``). Files are checked against the manifest SHA-256.
- ``si-score``: a folder in SI-Score's layout; one image per class, the lexicographically first
  file, classes sorted alphabetically (paper App. A.1). Default: all classes. ``download: true``
  fetches the files of a SHA-256 list (see :mod:`invtransfer.assets.siscore`).
- ``folder``: RGBA PNGs, one class per file (class = file stem) or one per subfolder (class =
  folder name, image = its first PNG in name order). Default: all classes, sorted.
- ``emoji``: Noto Color Emoji glyphs (``font``: path of NotoColorEmoji.ttf); default the 61
  emoji matching SI-Score's labels (see :mod:`invtransfer.assets.emoji`).

Every source returns tight-cropped RGBA with RGB = 0 where alpha = 0. ``max_size: N`` (optional,
all sources) downscales larger objects to N px on the longest side (SI-Score cut-outs reach
1555 px; the datasets paste objects at ~22 px).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from invtransfer.assets import emoji as _emoji
from invtransfer.assets import siscore as _siscore
from invtransfer.assets._config import (
    check_section,
    optional_path,
    positive_int,
    select_names,
)
from invtransfer.assets._imageio import fit_within, read_object_png
from invtransfer.assets.bundle import bundle_dir, check_bundle_file, read_bundle_manifest
from invtransfer.errors import AssetError, ConfigError

__all__ = [
    "DEFAULT_OBJECT_COUNT",
    "ObjectImage",
    "available_object_names",
    "load_objects",
    "selected_object_names",
]

log = logging.getLogger("invtransfer.assets")

SECTION = "assets.objects"
DEFAULT_OBJECT_COUNT = 61  # the paper's 61 SI-Score classes; the bundle and emoji defaults match
_COMMON = frozenset({"count", "names", "max_size"})
_KEYS: dict[str, frozenset[str]] = {
    "bundle": _COMMON | {"path"},
    "si-score": _COMMON | {"path", "download", "checksums", "url"},
    "folder": _COMMON | {"path"},
    "emoji": _COMMON | {"font"},
}
# Image files that cannot carry the alpha mask an object needs.
_NO_ALPHA_SUFFIXES = frozenset({".jpg", ".jpeg", ".bmp"})


@dataclass(frozen=True, eq=False)
class ObjectImage:
    """One class prototype."""

    name: str  # class name, e.g. "banana"
    rgba: np.ndarray  # uint8 H×W×4, tight-cropped to the alpha box, RGB = 0 where alpha = 0
    source: str  # "bundle:food/fruit/banana.png", "si-score:banana/xyz.png", "emoji:1F34C", ...


# -- per-source catalogues: ordered (name -> loader) --------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    names: list[str]
    default_count: int
    load: Any  # Callable[[str], ObjectImage]


def _bundle_catalogue(opts: Mapping[str, Any]) -> _Catalogue:
    root = optional_path(opts.get("path"), f"{SECTION}.path") or bundle_dir()
    if not root.is_dir():
        raise AssetError(
            f"{root}: bundle folder not found; omit `path` to use the repository's resources/ or "
            "rebuild it with `python -m invtransfer assets rebuild`"
        )
    entries = {e.name: e for e in read_bundle_manifest(root) if e.kind == "object"}
    if not entries:
        raise AssetError(f"{root}: the bundle manifest lists no objects")
    n_default = sum(e.default_rank is not None for e in entries.values())

    def load(name: str) -> ObjectImage:
        entry = entries[name]
        path = root / entry.file
        check_bundle_file(path, entry)
        return ObjectImage(
            name, read_object_png(path), f"bundle:{entry.file.removeprefix('objects/')}"
        )

    return _Catalogue(list(entries), n_default or len(entries), load)


def _siscore_catalogue(opts: Mapping[str, Any]) -> _Catalogue:
    root = optional_path(opts.get("path"), f"{SECTION}.path")
    if root is None:
        raise ConfigError(
            f"{SECTION}.path is required for source 'si-score' (the folder holding foregrounds/ "
            f"and backgrounds/; data at {_siscore.SISCORE_URL})"
        )
    folder = _siscore.ensure_siscore(
        root,
        "foregrounds",
        download=bool(opts.get("download", False)),
        checksums=optional_path(opts.get("checksums"), f"{SECTION}.checksums"),
        url=opts.get("url"),
    )
    firsts = dict(_siscore.siscore_foregrounds(folder))

    def load(name: str) -> ObjectImage:
        path = firsts[name]
        return ObjectImage(name, read_object_png(path), f"si-score:{name}/{path.name}")

    return _Catalogue(list(firsts), len(firsts), load)


def _folder_catalogue(opts: Mapping[str, Any]) -> _Catalogue:
    root = optional_path(opts.get("path"), f"{SECTION}.path")
    if root is None:
        raise ConfigError(f"{SECTION}.path is required for source 'folder'")
    if not root.is_dir():
        raise AssetError(
            f"{root}: object folder not found (set {SECTION}.path to a folder of RGBA PNGs)"
        )
    visible = sorted(
        (p for p in root.iterdir() if not p.name.startswith(".")), key=lambda p: p.name
    )
    bad = [p.name for p in visible if p.is_file() and p.suffix.lower() in _NO_ALPHA_SUFFIXES]
    if bad:
        raise AssetError(
            f"{root}: {bad[:5]} cannot hold an alpha mask; object images must be RGBA PNGs"
        )
    files = [p for p in visible if p.is_file() and p.suffix.lower() == ".png"]
    subdirs = [p for p in visible if p.is_dir()]
    if files and subdirs:
        raise AssetError(
            f"{root}: mixes PNG files ({files[0].name}, ...) and subfolders ({subdirs[0].name}, "
            "...); use one class per file or one class per subfolder, not both"
        )
    if subdirs:
        firsts: dict[str, Path] = {}
        for sub in subdirs:
            pngs = sorted(
                (p for p in sub.iterdir() if p.is_file() and p.suffix.lower() == ".png"),
                key=lambda p: p.name,
            )
            if not pngs:
                raise AssetError(f"{sub}: class subfolder {sub.name!r} holds no .png file")
            firsts[sub.name] = pngs[0]
    elif files:
        firsts = {}
        for p in files:
            if p.stem in firsts:
                raise AssetError(
                    f"{root}: two files give class {p.stem!r}: {firsts[p.stem].name}, {p.name}"
                )
            firsts[p.stem] = p
    else:
        raise AssetError(
            f"{root}: empty object folder (no .png files or class subfolders); add one RGBA PNG "
            "per class, or one subfolder per class"
        )

    def load(name: str) -> ObjectImage:
        path = firsts[name]
        return ObjectImage(
            name, read_object_png(path), f"folder:{path.relative_to(root).as_posix()}"
        )

    return _Catalogue(list(firsts), len(firsts), load)


def _emoji_catalogue(opts: Mapping[str, Any]) -> _Catalogue:
    # The lists fix the names, so listing them needs no font; loading does (checked per load).
    font = optional_path(opts.get("font"), f"{SECTION}.font") or Path(_emoji.DEFAULT_FONT)
    entries = {e.name: e for e in _emoji.emoji_entries(bundle_dir() / "lists")}

    def load(name: str) -> ObjectImage:
        entry = entries[name]
        rgba = _emoji.render_emoji(entry, font)
        rgba.flags.writeable = False
        return ObjectImage(name, rgba, f"emoji:{entry.unified}")

    return _Catalogue(list(entries), DEFAULT_OBJECT_COUNT, load)


_CATALOGUES = {
    "bundle": _bundle_catalogue,
    "si-score": _siscore_catalogue,
    "folder": _folder_catalogue,
    "emoji": _emoji_catalogue,
}


def _catalogue(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any], _Catalogue]:
    source, opts = check_section(cfg, _KEYS, section=SECTION)
    return source, opts, _CATALOGUES[source](opts)


def available_object_names(cfg: Mapping[str, Any]) -> list[str]:
    """All class names the configured source offers, in its order (``count`` takes a prefix)."""
    return _catalogue(cfg)[2].names


def _select(source: str, opts: Mapping[str, Any], cat: _Catalogue) -> list[str]:
    return select_names(
        cat.names,
        count=opts.get("count"),
        names=opts.get("names"),
        default_count=cat.default_count,
        section=SECTION,
        source=source,
    )


def selected_object_names(cfg: Mapping[str, Any]) -> list[str]:
    """The class names :func:`load_objects` returns, in order, without loading any image."""
    return _select(*_catalogue(cfg))


def load_objects(cfg: Mapping[str, Any]) -> list[ObjectImage]:
    """Load the configured objects, in selection order (see the module docstring for the keys)."""
    source, opts, cat = _catalogue(cfg)
    chosen = _select(source, opts, cat)
    max_size = opts.get("max_size")
    if max_size is not None:
        positive_int(max_size, f"{SECTION}.max_size")
    out = []
    for name in chosen:
        obj = cat.load(name)
        if max_size is not None and max(obj.rgba.shape[:2]) > max_size:
            small = fit_within(obj.rgba, max_size, obj.source)
            small.flags.writeable = False
            obj = ObjectImage(obj.name, small, obj.source)
        out.append(obj)
    log.info("objects: %d from %s", len(out), source)
    return out
