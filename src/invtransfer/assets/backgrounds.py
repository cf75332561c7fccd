"""Background photographs and the seeded background bank.

The paper pastes objects on 867 SI-Score nature backgrounds, the same set for every dataset and
split (§3.3, App. A.1). Offline we have 27 large nature photographs (the bundle), so the bank is
made of random square crops of them: side 25–100 % of the photo's short side (uniform), uniform
position, horizontal flip with p = 0.5, resized to ``size`` × ``size`` with Pillow's antialiased
bilinear filter (the reference resizes its backgrounds with PIL bilinear too). Crop ``i`` depends
only on ``(seed, bank, i)`` and the photo set (through :class:`~invtransfer.rng.CounterRNG`), so
a bank of 100 is the first 100 of a bank of 867, and the output size changes the resolution of
the crops, not where they are.

Crops (``crops``):

- ``random``: the random square crops above (the bundle's and a folder's default).
- ``top-left``: the reference's backgrounds (ref §2.3): bank image ``i`` is photo ``i`` (photos
  sorted by name), its largest square from the top-left corner resized to ``size`` × ``size``
  with Pillow's antialiased bilinear filter (crop, then resize), never flipped, so the bank is
  the photos themselves and ``count`` may not exceed their number. The default for the SI-Score
  source (``auto``): its 867 photos give the paper's 867 backgrounds.

Photo splits (``split_photos``):

- ``shared`` (default, the paper and the reference): one bank, cropped from all photos, serves
  every split: train, val and test images draw their backgrounds from the same ``count`` crops.
- ``disjoint``: each split has its own bank, cropped from its own photos, so evaluation
  backgrounds are unseen (a background shift). The assignment is fixed and independent of the
  experiment seed: photos are ordered by ``derive_seed("invtransfer.photo_split", name)`` (a hash
  of the name, so adding a photo does not move the others), the first ``round(0.15 n)`` (at
  least 1) go to val, the next as many to test, the rest to train. For the 27 bundled photos:
  19 / 4 / 4 (listed in ``docs/ARCHITECTURE.md``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from invtransfer.assets import siscore as _siscore
from invtransfer.assets._config import check_section, optional_path, positive_int
from invtransfer.assets._imageio import PHOTO_SUFFIXES, read_photo
from invtransfer.assets.bundle import (
    BundleEntry,
    bundle_dir,
    check_bundle_file,
    read_bundle_manifest,
)
from invtransfer.errors import AssetError, ConfigError
from invtransfer.rng import CounterRNG, derive_seed

__all__ = [
    "CROPS",
    "DEFAULT_BANK_SIZE",
    "DEFAULT_SPLIT_PHOTOS",
    "SPLITS",
    "SPLIT_PHOTOS_MODES",
    "BackgroundCrops",
    "BackgroundPhoto",
    "background_bank",
    "background_photo_names",
    "load_background_photos",
    "photo_split",
    "plan_background_crops",
    "resolve_crops",
    "split_photo_counts",
]

log = logging.getLogger("invtransfer.assets")

SECTION = "assets.backgrounds"
DEFAULT_BANK_SIZE = 867  # SI-Score's number of background photographs
SPLITS = ("train", "val", "test")
SPLIT_PHOTOS_MODES = ("shared", "disjoint")
DEFAULT_SPLIT_PHOTOS = "shared"  # the paper's one set of backgrounds for every split
CROPS = ("auto", "random", "top-left")  # how the bank is cut from the photos (module docstring)
HOLDOUT_FRACTION = 0.15  # of the photos, each for val and for test (27 -> 4 + 4)
MIN_CROP, MAX_CROP = 0.25, 1.0  # crop side as a fraction of the photo's short side
_KEYS: dict[str, frozenset[str]] = {
    "bundle": frozenset({"path", "max_size"}),
    "si-score": frozenset({"path", "max_size", "download", "checksums", "url"}),
    "folder": frozenset({"path", "max_size", "licence"}),
}
_CALLER_KEYS = frozenset(
    {"bank_size", "split_photos", "bank_seed", "crops"}
)  # read by the planner, not here


@dataclass(frozen=True, eq=False)
class BackgroundPhoto:
    """One source photograph."""

    name: str  # unique within a photo set, e.g. "Aqua"
    rgb: np.ndarray  # uint8 H×W×3, read-only
    licence: str  # e.g. "GPL-2+", "CC-BY-4.0"
    source: str = ""  # "bundle:backgrounds/Aqua.jpg", "si-score:backgrounds/x.jpg", "folder:x.jpg"


def _photo(
    name: str, path: Path, licence: str, source: str, max_size: int | None
) -> BackgroundPhoto:
    return BackgroundPhoto(name, read_photo(path, max_size), licence, source)


def _photo_files(folder: Path, what: str) -> list[Path]:
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES),
        key=lambda p: p.name,
    )
    if not files:
        raise AssetError(
            f"{folder}: empty {what} (no {'/'.join(PHOTO_SUFFIXES)} files); add photographs"
        )
    stems = [p.stem for p in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise AssetError(f"{folder}: several files share the name(s) {dupes}; rename them")
    return files


@dataclass(frozen=True)
class _PhotoFile:
    name: str
    path: Path
    licence: str
    source: str  # provenance, as BackgroundPhoto.source
    entry: BundleEntry | None = None  # the bundle's manifest row (checked when decoded)


def _photo_files_of(cfg: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], list[_PhotoFile]]:
    """``(source, options, files)`` of the configured photos, without decoding any (the options
    checked, ``max_size`` included, before any file is looked for)."""
    source, opts = check_section(cfg, _KEYS, section=SECTION, tolerated=_CALLER_KEYS)
    if opts.get("max_size") is not None:
        positive_int(opts["max_size"], f"{SECTION}.max_size")
    path = optional_path(opts.get("path"), f"{SECTION}.path")
    if source == "bundle":
        root = path or bundle_dir()
        entries = [e for e in read_bundle_manifest(root) if e.kind == "background"]
        if not entries:
            raise AssetError(f"{root}: the bundle manifest lists no backgrounds")
        return (
            source,
            opts,
            [_PhotoFile(e.name, root / e.file, e.licence, f"bundle:{e.file}", e) for e in entries],
        )
    if source == "si-score":
        if path is None:
            raise ConfigError(
                f"{SECTION}.path is required for source 'si-score' (the folder holding "
                f"backgrounds/; data at {_siscore.SISCORE_URL})"
            )
        folder = _siscore.ensure_siscore(
            path,
            "backgrounds",
            download=bool(opts.get("download", False)),
            checksums=optional_path(opts.get("checksums"), f"{SECTION}.checksums"),
            url=opts.get("url"),
        )
        licence = "SI-Score (see the dataset's attributions)"
        files = _photo_files(folder, "SI-Score backgrounds folder")
        return (
            source,
            opts,
            [_PhotoFile(p.stem, p, licence, f"si-score:backgrounds/{p.name}") for p in files],
        )
    if path is None:
        raise ConfigError(f"{SECTION}.path is required for source 'folder'")
    if not path.is_dir():
        raise AssetError(f"{path}: background folder not found (set {SECTION}.path)")
    licence = str(opts.get("licence") or f"unspecified (user folder {path})")
    files = _photo_files(path, "background folder")
    return source, opts, [_PhotoFile(p.stem, p, licence, f"folder:{p.name}") for p in files]


def background_photo_names(cfg: Mapping[str, Any]) -> list[str]:
    """The names of the photos :func:`load_background_photos` returns, without decoding them."""
    return [f.name for f in _photo_files_of(cfg)[2]]


def load_background_photos(cfg: Mapping[str, Any]) -> list[BackgroundPhoto]:
    """The photos of ``config["assets"]["backgrounds"]`` (keys: source, path, max_size, ...).

    ``bundle`` (default): the 27 bundled photographs (checked against the manifest SHA-256).
    ``si-score``: ``<path>/backgrounds/*.jpg`` (``download``/``checksums``/``url`` as for objects).
    ``folder``: every JPEG/PNG directly in ``path``; ``licence`` (optional) is recorded per photo.
    ``max_size`` (optional) downscales photos to that many px on the longest side when decoding.
    Decoded photos are cached per process.
    """
    source, opts, files = _photo_files_of(cfg)
    max_size = opts.get("max_size")
    photos = []
    for f in files:
        if f.entry is not None:
            check_bundle_file(f.path, f.entry)
        photos.append(_photo(f.name, f.path, f.licence, f.source, max_size))
    log.info("backgrounds: %d photos from %s", len(photos), source)
    return photos


def _check_photos(photos: Sequence[BackgroundPhoto]) -> None:
    if isinstance(photos, BackgroundPhoto) or not isinstance(photos, Sequence):
        raise TypeError(
            f"photos must be a sequence of BackgroundPhoto, got {type(photos).__name__}"
        )
    if not photos:
        raise ValueError("photos is empty: the background bank needs at least one photograph")
    for p in photos:
        if not isinstance(p, BackgroundPhoto):
            raise TypeError(f"photos must hold BackgroundPhoto, got {type(p).__name__}")
        if p.rgb.dtype != np.uint8 or p.rgb.ndim != 3 or p.rgb.shape[2] != 3:
            raise TypeError(
                f"photo {p.name!r}: rgb must be uint8 H×W×3, got {p.rgb.dtype} {p.rgb.shape}"
            )
    names = [p.name for p in photos]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"photos: names must be unique, {dupes} appear more than once")


def _holdout(n: int) -> int:
    """Photos each for val and for test with ``split_photos="disjoint"`` (27 -> 4)."""
    return max(1, round(HOLDOUT_FRACTION * n))


def split_photo_counts(n: int, mode: str = DEFAULT_SPLIT_PHOTOS) -> dict[str, int]:
    """How many of ``n`` photos each split may use (:func:`photo_split`'s rule, by count)."""
    if mode not in SPLIT_PHOTOS_MODES:
        raise ValueError(f"split_photos must be one of {SPLIT_PHOTOS_MODES}, got {mode!r}")
    if mode == "shared":
        return dict.fromkeys(SPLITS, n)
    hold = _holdout(n)
    return {"train": max(0, n - 2 * hold), "val": hold, "test": hold}


def photo_split(
    photos: Sequence[BackgroundPhoto], split: str, mode: str = DEFAULT_SPLIT_PHOTOS
) -> list[BackgroundPhoto]:
    """The photos ``split`` may crop from, sorted by name (rule in the module docstring)."""
    _check_photos(photos)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if mode not in SPLIT_PHOTOS_MODES:
        raise ValueError(f"split_photos must be one of {SPLIT_PHOTOS_MODES}, got {mode!r}")
    by_name = sorted(photos, key=lambda p: p.name)
    if mode == "shared":
        return by_name
    n = len(by_name)
    if n < 3:
        raise ValueError(
            f"split_photos='disjoint' needs at least 3 photos (one per split), got {n}; add "
            "photos or use split_photos='shared'"
        )
    counts = split_photo_counts(n, mode)  # val first, then test, then train, in a seeded order
    start = {"val": 0, "test": counts["val"], "train": counts["val"] + counts["test"]}[split]
    order = sorted(by_name, key=lambda p: (derive_seed("invtransfer.photo_split", p.name), p.name))
    return sorted(order[start : start + counts[split]], key=lambda p: p.name)


@dataclass(frozen=True)
class BackgroundCrops:
    """Where each bank image comes from (one entry per image; store it next to the data)."""

    photo: list[str]  # photo name
    x: np.ndarray  # int64, left edge of the square in the photo
    y: np.ndarray  # int64, top edge
    side: np.ndarray  # int64, side length in photo pixels
    flip: np.ndarray  # bool, mirrored left-right


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _u01(rng: CounterRNG, name: str) -> np.ndarray:
    """Float64 U[0, 1) per sample (53 bits; float32 ``uniform`` can round up to 1.0)."""
    return (rng.bits(name, 1)[:, 0] >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def resolve_crops(crops: str, source: str) -> str:
    """``random`` or ``top-left`` for the ``crops`` setting of photos from ``source``: ``auto``
    is ``top-left`` for SI-Score (the reference's one background per photo) and ``random``
    for the bundle and a folder (27 bundled photos could give only 27 backgrounds)."""
    if crops not in CROPS:
        raise ValueError(f"crops must be one of {CROPS}, got {crops!r}")
    if crops == "auto":
        return "top-left" if source == "si-score" else "random"
    return crops


def plan_background_crops(
    photos: Sequence[BackgroundPhoto],
    *,
    count: int = DEFAULT_BANK_SIZE,
    seed: int,
    split: str,
    split_photos: str = DEFAULT_SPLIT_PHOTOS,
    crops: str = "random",
) -> BackgroundCrops:
    """The crop of each bank image: with ``crops="random"`` drawn with
    ``CounterRNG(derive_seed(seed, "background-bank", bank))`` where ``bank`` is ``"shared"``
    (one bank for every split) or the split's name; with ``crops="top-left"`` the largest
    top-left square of each of the first ``count`` photos (by name; ``seed`` is not used)."""
    count = _check_int(count, "count", 1)
    seed = _check_int(seed, "seed", 0)
    if crops not in CROPS[1:]:
        raise ValueError(f"crops must be one of {CROPS[1:]} here, got {crops!r}")
    subset = photo_split(photos, split, split_photos)
    if crops == "top-left":
        if count > len(subset):
            where = "" if split_photos == "shared" else f" of split {split!r}"
            raise ValueError(
                f"crops='top-left' takes one background per photo, but count={count} exceeds "
                f"the {len(subset)} photos{where}: set assets.backgrounds.bank_size to at most "
                f"{len(subset)}, add photos, or use assets.backgrounds.crops: random"
            )
        chosen = subset[:count]
        side = np.array([min(p.rgb.shape[:2]) for p in chosen], dtype=np.int64)
        zero = np.zeros(count, dtype=np.int64)
        return BackgroundCrops(
            [p.name for p in chosen], zero, zero.copy(), side, np.zeros(count, dtype=bool)
        )
    bank = "shared" if split_photos == "shared" else split
    rng = CounterRNG(derive_seed(seed, "background-bank", bank), np.arange(count))
    which = rng.integers("photo", 0, len(subset)).numpy()
    frac = MIN_CROP + (MAX_CROP - MIN_CROP) * _u01(rng, "side")
    u_x, u_y = _u01(rng, "x"), _u01(rng, "y")
    flip = rng.bernoulli("flip", 0.5).numpy()
    heights = np.array([p.rgb.shape[0] for p in subset])[which]
    widths = np.array([p.rgb.shape[1] for p in subset])[which]
    short = np.minimum(heights, widths)
    side = np.clip(np.round(frac * short).astype(np.int64), 1, short)
    # floor(u * (free + 1)) is uniform over 0..free; u < 1 keeps it in range.
    x = np.floor(u_x * (widths - side + 1)).astype(np.int64)
    y = np.floor(u_y * (heights - side + 1)).astype(np.int64)
    return BackgroundCrops([subset[i].name for i in which], x, y, side, flip)


def background_bank(
    photos: Sequence[BackgroundPhoto],
    *,
    size: int,
    count: int = DEFAULT_BANK_SIZE,
    seed: int,
    split: str,
    split_photos: str = DEFAULT_SPLIT_PHOTOS,
    crops: str = "random",
) -> np.ndarray:
    """``count`` background images, ``uint8`` count×size×size×3 (see the module docstring)."""
    size = _check_int(size, "size", 1)
    plan = plan_background_crops(
        photos, count=count, seed=seed, split=split, split_photos=split_photos, crops=crops
    )
    start = time.perf_counter()
    images = {p.name: Image.fromarray(p.rgb, "RGB") for p in photos if p.name in set(plan.photo)}
    bank = np.empty((len(plan.photo), size, size, 3), dtype=np.uint8)
    for i, name in enumerate(plan.photo):
        x, y, s = int(plan.x[i]), int(plan.y[i]), int(plan.side[i])
        if crops == "top-left":  # the reference: crop the square, then resize it (ref §2.3)
            tile = (
                images[name]
                .crop((x, y, x + s, y + s))
                .resize((size, size), Image.Resampling.BILINEAR)
            )
        else:
            tile = images[name].resize(
                (size, size), Image.Resampling.BILINEAR, box=(x, y, x + s, y + s)
            )
        bank[i] = np.asarray(tile)
    bank[plan.flip] = bank[plan.flip, :, ::-1]
    log.debug("background bank: %d × %d px in %.3f s", len(bank), size, time.perf_counter() - start)
    return bank
