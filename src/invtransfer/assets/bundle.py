"""The embedded asset bundle: where it lives, its manifest, and how to rebuild it from Debian.

The paper's base images (SI-Score on S3 / Hugging Face) cannot be reached from the project's
machines, so the default objects and backgrounds come from Debian packages instead (see
``/work/shared/spec/data_sources.md``): 296 photographic Tux Paint stamps (GPL-2+) and 27 nature
wallpapers (GPL-2+, LGPL-3, CC-BY-4.0, CC-BY-SA-3.0/4.0, CC0-1.0). The processed copies are
committed under ``src/invtransfer/resources/`` (package data, so every install has them and
works offline); :func:`rebuild_bundle` recreates
them from the ``.deb`` files (``apt-get download`` + ``dpkg -x``) so their provenance is checkable:

    python -m invtransfer assets rebuild --workdir TMP   # -> rebuild_bundle(resources_dir(), TMP)

Layout of the bundle folder::

    manifest.tsv          one row per image file (columns: MANIFEST_COLUMNS)
    build_info.json       package versions, .deb SHA-256s, Pillow version, processing parameters
    README.md             provenance, licence summary, background attributions (generated)
    objects/<path>.png    Tux Paint stamps at their path under usr/share/tuxpaint/stamps/
    backgrounds/<name>.jpg
    licenses/<package>/copyright   the packages' own /usr/share/doc/<package>/copyright
    licenses/plasma-workspace-wallpapers/<name>.metadata.json   KDE wallpaper author + licence
    licenses/common/{GPL-2,LGPL-3,CC0-1.0}   full texts the copyright files refer to
    lists/*.tsv           the curated selections (inputs of the rebuild; emoji lists for `emoji`)

Object rows are ordered: the 61 default objects (``lists/tuxpaint_default61.tsv`` order, column
``default_rank`` 0..60), then the other 235 in ``lists/tuxpaint_photo_objects.tsv`` order; the
object sources' ``count: N`` takes the first N rows. Object names are the curated ``category`` of
the list (e.g. ``european-bear``); when several stamps share a category, the first in that order
keeps the bare name and the others get their lower-cased file stem (``cep-1``), prefixed with the
parent folder if that still collides (``plants-eggplant``). A stamp without a category uses its
stem (``747``).

Why one module of ~650 lines: reading, verifying and rebuilding the bundle share its manifest
format and licence rules; the rebuild half (Debian download, extraction, dep5 parsing) only runs
under ``python -m invtransfer assets rebuild``.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps

from invtransfer.assets._imageio import fit_within, rgba_from_image, tight_crop, zero_hidden_rgb
from invtransfer.errors import AssetError
from invtransfer.io import sha256_file
from invtransfer.resources import ENV_RESOURCES, resources_dir

__all__ = [
    "MANIFEST_COLUMNS",
    "PACKAGES",
    "BundleEntry",
    "PackageTree",
    "build_bundle",
    "bundle_dir",
    "check_bundle_file",
    "read_bundle_manifest",
    "rebuild_bundle",
    "verify_bundle",
]

log = logging.getLogger("invtransfer.assets")

#: Debian 12 (bookworm) packages the bundle is built from, pinned to the versions it was built with.
PACKAGES: dict[str, str] = {
    "tuxpaint-stamps-default": "2022.06.04-1",
    "mate-backgrounds": "1.26.0-1",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "lomiri-wallpapers-20.04": "20.04.0-2",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
}
OBJECT_PACKAGE = "tuxpaint-stamps-default"
OBJECT_LICENCE = (
    "GPL-2+"  # debian/copyright: "Files: *", GPL version 2 "or (at your option) any later"
)
STAMPS_DIR = "usr/share/tuxpaint/stamps"
OBJECT_MAX_SIZE = 128  # px, longest side; the objects are pasted at ~22 px of a 32 px image
PHOTO_MAX_SIZE = 512  # px, longest side; 25 % crops of the short side still exceed 64 px
JPEG_QUALITY = 90
COMMON_LICENCES = ("GPL-2", "LGPL-3", "CC0-1.0")  # texts the copyright files point to
LIST_FILES = (
    "tuxpaint_photo_objects.tsv",
    "tuxpaint_default61.tsv",
    "nature_backgrounds.tsv",
    "noto_emoji_objects.tsv",
    "noto_emoji_default61.tsv",
)
MANIFEST = "manifest.tsv"
MANIFEST_COLUMNS = (
    "kind",  # object | background
    "name",  # class name (objects) / photo name (backgrounds), unique per kind
    "file",  # path relative to the bundle folder
    "package",  # Debian source of the file
    "version",
    "path_in_package",
    "licence",  # SPDX-like id
    "attribution",  # copyright holder(s) from debian/copyright or the KDE metadata.json
    "sha256",  # of `file`
    "width",
    "height",
    "default_rank",  # 0..60 for the default object set, empty otherwise
)


# -- locating and reading the bundle -----------------------------------------------------------


def bundle_dir() -> Path:
    """The bundle folder, :func:`invtransfer.resources.resources_dir`, checked to hold a bundle.

    The bundle is package data (about 6 MB of images with their licences), so any install of the
    package, editable or not, has it; ``$INVTRANSFER_RESOURCES`` points elsewhere.
    """
    env = os.environ.get(ENV_RESOURCES)
    root = resources_dir()
    if not (root / MANIFEST).is_file():
        how = f"${ENV_RESOURCES}={env}" if env else "the package's resources/ folder"
        raise AssetError(
            f"{root / MANIFEST}: asset bundle not found ({how}). Reinstall the package (it ships "
            f"the bundle), set {ENV_RESOURCES} to a folder holding one, "
            "or rebuild it with `python -m invtransfer assets rebuild`"
        )
    return root


@dataclass(frozen=True)
class BundleEntry:
    """One row of ``manifest.tsv``."""

    kind: str
    name: str
    file: str
    package: str
    version: str
    path_in_package: str
    licence: str
    attribution: str
    sha256: str
    width: int
    height: int
    default_rank: int | None


def read_bundle_manifest(root: str | os.PathLike[str] | None = None) -> list[BundleEntry]:
    """The manifest rows of the bundle at ``root`` (default :func:`bundle_dir`), in file order."""
    root = Path(root) if root is not None else bundle_dir()
    path = root / MANIFEST
    if not path.is_file():
        raise AssetError(
            f"{path}: bundle manifest not found; point `path` at a bundle folder or rebuild it "
            "with `python -m invtransfer assets rebuild`"
        )
    st = path.stat()
    return list(_read_manifest_cached(str(path.resolve()), st.st_size, st.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _read_manifest_cached(path: str, _size: int, _mtime: int) -> tuple[BundleEntry, ...]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise AssetError(
                f"{path}: unexpected columns {reader.fieldnames}, expected {list(MANIFEST_COLUMNS)}"
            )
        rows = []
        for row in reader:
            rank = row["default_rank"]
            rows.append(
                BundleEntry(
                    **{k: row[k] for k in MANIFEST_COLUMNS[:9]},
                    width=int(row["width"]),
                    height=int(row["height"]),
                    default_rank=int(rank) if rank else None,
                )
            )
    return tuple(rows)


def verify_bundle(root: str | os.PathLike[str] | None = None) -> None:
    """Check every manifest file's SHA-256; raise :class:`AssetError` naming the first bad file."""
    root = Path(root) if root is not None else bundle_dir()
    for entry in read_bundle_manifest(root):
        path = root / entry.file
        if not path.is_file():
            raise AssetError(f"{path}: listed in {root / MANIFEST} but missing; rebuild the bundle")
        digest = sha256_file(path)
        if digest != entry.sha256:
            raise AssetError(
                f"{path}: SHA-256 {digest} does not match the manifest ({entry.sha256}); the file "
                "was altered — restore it from git or rebuild the bundle"
            )


def check_bundle_file(path: Path, entry: BundleEntry) -> None:
    """Raise :class:`AssetError` unless ``path`` exists and matches ``entry``'s SHA-256 (cached)."""
    if not path.is_file():
        raise AssetError(
            f"{path}: bundled {entry.kind} {entry.name!r} is missing; reinstall the package or restore its resources/ folder"
        )
    st = path.stat()
    _verify_sha(str(path), st.st_size, st.st_mtime_ns, entry.sha256)


@functools.lru_cache(maxsize=4096)
def _verify_sha(path: str, _size: int, _mtime: int, expected: str) -> None:
    digest = sha256_file(path)
    if digest != expected:
        raise AssetError(
            f"{path}: SHA-256 {digest} does not match the bundle manifest ({expected}); restore "
            "the file from git or rebuild the bundle"
        )


# -- rebuilding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageTree:
    """An extracted Debian package: ``root`` holds ``usr/...`` as ``dpkg -x`` wrote it."""

    root: Path
    version: str
    deb_file: str | None = None
    deb_sha256: str | None = None


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise AssetError(
            f"`{cmd[0]}` not found: rebuilding the bundle needs a Debian-based system with "
            "apt-get and dpkg"
        ) from exc
    if proc.returncode != 0:
        raise AssetError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    return proc.stdout


def _deb_version(deb: Path) -> str:
    return _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()


def download_packages(debs_dir: Path, versions: Mapping[str, str]) -> dict[str, Path]:
    """``apt-get download pkg=version`` into ``debs_dir``; reuses a matching ``.deb`` already there."""
    debs_dir.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for pkg, version in versions.items():
        for _attempt in range(2):
            for deb in sorted(debs_dir.glob(f"{pkg}_*.deb")):
                if _deb_version(deb) == version:
                    found[pkg] = deb
                    break
            if pkg in found:
                break
            log.info("apt-get download %s=%s", pkg, version)
            try:
                _run(["apt-get", "download", f"{pkg}={version}"], cwd=debs_dir)
            except AssetError as exc:
                raise AssetError(
                    f"could not download Debian package {pkg}={version}: {exc}. Run `apt-get "
                    "update` on a Debian 12 (bookworm) system; if the archive no longer carries "
                    "this version, pass newer versions to rebuild_bundle(versions=...)"
                ) from exc
        if pkg not in found:
            raise AssetError(
                f"{debs_dir}: no .deb of {pkg} version {version} after apt-get download"
            )
    return found


def extract_packages(debs: Mapping[str, Path], workdir: Path) -> dict[str, PackageTree]:
    """``dpkg -x`` each ``.deb`` into ``workdir/extracted/<package>`` (fresh each time)."""
    trees = {}
    for pkg, deb in debs.items():
        root = workdir / "extracted" / pkg
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        log.info("dpkg -x %s", deb.name)
        _run(["dpkg", "-x", str(deb), str(root)])
        trees[pkg] = PackageTree(root, _deb_version(deb), deb.name, sha256_file(deb))
    return trees


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise AssetError(f"{path}: selection list not found (needed to build the bundle)")
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _parse_dep5(text: str) -> list[dict[str, str]]:
    """Paragraphs of a machine-readable debian/copyright file (continuation lines joined by \\n)."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def _dep5_matches(pattern: str, path: str) -> bool:
    """Whether a ``Files`` pattern covers an installed path.

    Patterns name source-tree paths (``nature/Aqua.jpg``, ``16.04/x.jpg``), not installed ones, so
    a pattern also matches a suffix of the installed path, and a wildcard-free one its file name.
    """
    if fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, "*/" + pattern):
        return True
    literal = not any(c in pattern for c in "*?[")
    return literal and path.rsplit("/", 1)[-1] == pattern.rsplit("/", 1)[-1]


def _dep5_copyright(paragraphs: list[dict[str, str]], path_in_package: str) -> str:
    """The ``Copyright`` of the last ``Files`` paragraph covering the path (DEP-5: last match wins)."""
    holder = ""
    for para in paragraphs:
        if any(_dep5_matches(p, path_in_package) for p in para.get("Files", "").split()):
            holder = "; ".join(s.strip(" ´") for s in para.get("Copyright", "").splitlines())
    return holder


def _object_names(rows: list[dict[str, str]]) -> list[str]:
    """Unique class names for the ordered stamp rows (rule in the module docstring)."""
    names: list[str] = []
    for r in rows:
        path = r["path"]
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
        parent = path.split("/")[-2].lower() if "/" in path else "stamps"
        for candidate in (r["category"], stem, f"{parent}-{stem}"):
            if candidate and candidate not in names:
                break
        else:
            raise AssetError(f"stamp {path}: cannot derive a unique object name")
        names.append(candidate)
    return names


def _png_bytes(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _photo_name(package: str, path_in_package: str) -> str:
    parts = path_in_package.split("/")
    if package == "plasma-workspace-wallpapers":  # .../wallpapers/<Name>/contents/images/WxH.jpg
        return parts[parts.index("wallpapers") + 1]
    return parts[-1].rsplit(".", 1)[0]


def _plasma_attribution(metadata: Path) -> tuple[str, str]:
    plugin = json.loads(metadata.read_text(encoding="utf-8"))["KPlugin"]
    authors = ", ".join(a["Name"] for a in plugin.get("Authors", []))
    return f"'{plugin.get('Name', '')}' by {authors}", plugin.get("License", "")


def _write(dest: Path, rel: str, data: bytes) -> str:
    path = dest / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def build_bundle(
    dest: str | os.PathLike[str],
    trees: Mapping[str, PackageTree],
    lists_dir: str | os.PathLike[str],
    *,
    common_licenses: str | os.PathLike[str] = "/usr/share/common-licenses",
) -> None:
    """Process extracted packages into a bundle folder at ``dest`` (replaced atomically).

    Objects: converted to RGBA, cropped to the alpha box, RGB of transparent pixels zeroed,
    downscaled (Lanczos, premultiplied) to at most 128 px, PNG. Photos: EXIF-oriented RGB,
    downscaled to at most 512 px, JPEG q90. Output bytes depend only on the inputs and the
    Pillow/zlib/libjpeg versions (recorded in ``build_info.json``); no time stamps are written.
    """
    dest, lists_dir, common = Path(dest), Path(lists_dir), Path(common_licenses)
    lists = {
        name: (lists_dir / name).read_bytes() for name in LIST_FILES if (lists_dir / name).is_file()
    }
    missing = [name for name in LIST_FILES[:3] if name not in lists]
    if missing:
        raise AssetError(f"{lists_dir}: selection lists {missing} not found")
    photo_rows = _read_tsv(lists_dir / "tuxpaint_photo_objects.tsv")
    default = [
        r["path_in_package_stamps_folder"] for r in _read_tsv(lists_dir / "tuxpaint_default61.tsv")
    ]
    bg_rows = _read_tsv(lists_dir / "nature_backgrounds.tsv")
    by_path = {r["path"]: r for r in photo_rows}
    unknown = [p for p in default if p not in by_path]
    if unknown:
        raise AssetError(
            f"tuxpaint_default61.tsv lists stamps missing from the photo list: {unknown}"
        )
    ordered = [by_path[p] for p in default] + [
        r for r in photo_rows if r["path"] not in set(default)
    ]
    names = _object_names(ordered)
    needed = {OBJECT_PACKAGE} | {r["debian_package"] for r in bg_rows}
    absent = sorted(needed - set(trees))
    if absent:
        raise AssetError(f"build_bundle: no extracted tree for packages {absent}")

    start = time.perf_counter()
    manifest: list[dict[str, object]] = []
    dest.mkdir(parents=True, exist_ok=True)
    with _staging(dest) as tmp:
        obj_tree = trees[OBJECT_PACKAGE]
        obj_paras = _parse_dep5(
            (obj_tree.root / f"usr/share/doc/{OBJECT_PACKAGE}/copyright").read_text(
                encoding="utf-8"
            )
        )
        for rank, (row, name) in enumerate(zip(ordered, names, strict=True)):
            pkg_path = f"{STAMPS_DIR}/{row['path']}"
            src = obj_tree.root / pkg_path
            with Image.open(src) as im:
                rgba = rgba_from_image(im, str(src))
            rgba = zero_hidden_rgb(tight_crop(rgba, str(src)))
            rgba = fit_within(rgba, OBJECT_MAX_SIZE, str(src))
            rel = f"objects/{row['path']}"
            digest = _write(tmp, rel, _png_bytes(rgba))
            manifest.append(
                dict(
                    kind="object", name=name, file=rel, package=OBJECT_PACKAGE,
                    version=obj_tree.version, path_in_package=pkg_path, licence=OBJECT_LICENCE,
                    attribution=_dep5_copyright(obj_paras, pkg_path), sha256=digest,
                    width=rgba.shape[1], height=rgba.shape[0],
                    default_rank=rank if rank < len(default) else "",
                )
            )  # fmt: skip
        log.info("bundle: %d objects in %.1f s", len(ordered), time.perf_counter() - start)

        paragraphs: dict[str, list[dict[str, str]]] = {}
        seen_photos: set[str] = set()
        for row in bg_rows:
            pkg, pkg_path = row["debian_package"], row["path_in_package"]
            tree = trees[pkg]
            name = _photo_name(pkg, pkg_path)
            if name in seen_photos:
                raise AssetError(f"nature_backgrounds.tsv: two photos would both be named {name!r}")
            seen_photos.add(name)
            src = tree.root / pkg_path
            with Image.open(src) as im:
                photo = ImageOps.exif_transpose(im).convert("RGB")
            scale = min(1.0, PHOTO_MAX_SIZE / max(photo.size))
            if scale < 1.0:
                size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
                photo = photo.resize(size, Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            photo.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
            rel = f"backgrounds/{name}.jpg"
            digest = _write(tmp, rel, buf.getvalue())
            licence = row["licence"].split(" (")[0]  # "LGPL-3 (metadata.json)" -> "LGPL-3"
            if pkg == "plasma-workspace-wallpapers":
                meta = src.parents[2] / "metadata.json"
                attribution, _ = _plasma_attribution(meta)
                shutil.copyfile(meta, _ensure(tmp / f"licenses/{pkg}/{name}.metadata.json"))
            else:
                if pkg not in paragraphs:
                    paragraphs[pkg] = _parse_dep5(
                        (tree.root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8")
                    )
                attribution = _dep5_copyright(paragraphs[pkg], pkg_path)
            manifest.append(
                dict(
                    kind="background", name=name, file=rel, package=pkg, version=tree.version,
                    path_in_package=pkg_path, licence=licence, attribution=attribution,
                    sha256=digest, width=photo.width, height=photo.height, default_rank="",
                )
            )  # fmt: skip
        log.info("bundle: %d photos, %.1f s in all", len(bg_rows), time.perf_counter() - start)

        for pkg in sorted(needed):
            src = trees[pkg].root / f"usr/share/doc/{pkg}/copyright"
            shutil.copyfile(src, _ensure(tmp / f"licenses/{pkg}/copyright"))
        for lic in COMMON_LICENCES:
            if not (common / lic).is_file():
                raise AssetError(
                    f"{common / lic}: licence text not found (Debian's base-files package ships "
                    "/usr/share/common-licenses); pass common_licenses=<folder with the texts>"
                )
            shutil.copyfile(common / lic, _ensure(tmp / f"licenses/common/{lic}"))
        for name, data in lists.items():
            _write(tmp, f"lists/{name}", data)

        text = io.StringIO()
        for row in manifest:  # plain TSV: no quoting, so no field may hold a tab or newline
            for key, value in row.items():
                if any(c in str(value) for c in "\t\r\n"):
                    raise AssetError(f"manifest field {key}={value!r} holds a tab or newline")
        writer = csv.DictWriter(
            text, MANIFEST_COLUMNS, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE,
            quotechar=None, escapechar=None,
        )  # fmt: skip
        writer.writeheader()
        writer.writerows(manifest)
        _write(tmp, MANIFEST, text.getvalue().encode())
        info = {
            "built_by": "invtransfer.assets.bundle.rebuild_bundle",
            "packages": {
                pkg: {"version": t.version, "deb": t.deb_file, "deb_sha256": t.deb_sha256}
                for pkg, t in sorted(trees.items())
                if pkg in needed
            },
            "pillow": PIL.__version__,
            "numpy": np.__version__,
            "object_max_size": OBJECT_MAX_SIZE,
            "photo_max_size": PHOTO_MAX_SIZE,
            "jpeg_quality": JPEG_QUALITY,
        }
        _write(tmp, "build_info.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
        _write(tmp, "README.md", _readme(manifest, trees, needed).encode())
        _install(tmp, dest)


#: What the bundle owns inside its folder; anything else there (other files) is left alone.
BUNDLE_ENTRIES = ("objects", "backgrounds", "licenses", "lists", "README.md", "build_info.json")


@contextlib.contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A scratch folder inside ``dest`` (same file system, so moves are renames), always removed."""
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-bundle-", dir=dest))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(staging: Path, dest: Path) -> None:
    """Move the staged bundle into ``dest``, replacing only :data:`BUNDLE_ENTRIES` and the manifest.

    The manifest is removed first and written last, so an interrupted install leaves a folder
    without a manifest (reported as "bundle not found"), never a manifest that lies.
    """
    (dest / MANIFEST).unlink(missing_ok=True)
    for name in BUNDLE_ENTRIES:
        new, old = staging / name, dest / name
        if old.is_dir():
            trash = staging / f".old-{name}"
            os.replace(old, trash)  # removed with the staging folder
        if new.is_dir():
            new.chmod(0o755)  # mkdtemp-style 0700 would hide the bundle from other users
        os.replace(new, old)
    os.replace(staging / MANIFEST, dest / MANIFEST)


def _ensure(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _readme(
    manifest: list[dict[str, object]], trees: Mapping[str, PackageTree], needed: set[str]
) -> str:
    objects = [m for m in manifest if m["kind"] == "object"]
    photos = [m for m in manifest if m["kind"] == "background"]
    lines = [
        "# invtransfer asset bundle (generated by `python -m invtransfer assets rebuild`)",
        "",
        "Do not edit by hand: `invtransfer.assets.bundle.rebuild_bundle` regenerates this folder",
        "from the Debian 12 packages below (`apt-get download` + `dpkg -x`). `manifest.tsv` gives,",
        "for every file, its package, version, path in the package, licence, copyright holder and",
        "SHA-256; `build_info.json` the `.deb` SHA-256s and the Pillow version used.",
        "",
        "| package | version | files | licence |",
        "|---|---|---|---|",
    ]
    for pkg in sorted(needed):
        rows = [m for m in manifest if m["package"] == pkg]
        lic = ", ".join(sorted({str(m["licence"]) for m in rows}))
        lines.append(f"| {pkg} | {trees[pkg].version} | {len(rows)} | {lic} |")
    lines += [
        "",
        f"**Objects** (`objects/`, {len(objects)} PNG, RGBA): photographic Tux Paint stamps, cropped",
        f"to their alpha box and downscaled to at most {OBJECT_MAX_SIZE} px. Licence GPL-2+ (see",
        "`licenses/tuxpaint-stamps-default/copyright` and `licenses/common/GPL-2`).",
        "",
        f"**Backgrounds** (`backgrounds/`, {len(photos)} JPEG q{JPEG_QUALITY}, at most "
        f"{PHOTO_MAX_SIZE} px).",
        "Licence texts: the packages' `licenses/<package>/copyright` (the lomiri files include",
        "the full CC-BY-4.0, CC-BY-SA-3.0 and CC-BY-SA-4.0 texts) and `licenses/common/`.",
        "The KDE wallpapers state LGPL-3 in their `metadata.json` (copied to",
        "`licenses/plasma-workspace-wallpapers/`) while the package copyright says GPL-2+.",
        "The photos were downscaled and re-encoded (a modification under CC-BY/CC-BY-SA).",
        "",
        "| photo | licence | by | package path |",
        "|---|---|---|---|",
    ]
    for m in photos:
        lines.append(
            f"| {m['name']} | {m['licence']} | {m['attribution']} | {m['path_in_package']} |"
        )
    return "\n".join(lines) + "\n"


def rebuild_bundle(
    dest: Path,
    workdir: Path,
    *,
    versions: Mapping[str, str] | None = None,
    lists_dir: Path | None = None,
) -> None:
    """Download the pinned Debian packages into ``workdir`` and build the bundle at ``dest``.

    ``workdir`` keeps the ``.deb`` files (``workdir/debs``, reused by later runs) and the extracted
    trees; ``dest`` is replaced atomically. The selection lists are read from ``lists_dir``
    (default: ``<current bundle>/lists``) before ``dest`` is replaced, so rebuilding in place works.
    """
    dest, workdir = Path(dest), Path(workdir)
    if lists_dir is None:
        lists_dir = (dest if (dest / "lists").is_dir() else bundle_dir()) / "lists"
    # Snapshot the lists: dest (which may hold them) is replaced wholesale at the end.
    snapshot = workdir / "lists"
    snapshot.mkdir(parents=True, exist_ok=True)
    for name in LIST_FILES:
        if (Path(lists_dir) / name).is_file():
            shutil.copyfile(Path(lists_dir) / name, snapshot / name)
    debs = download_packages(workdir / "debs", versions or PACKAGES)
    trees = extract_packages(debs, workdir)
    build_bundle(dest, trees, snapshot)
    verify_bundle(dest)
    log.info("bundle rebuilt at %s", dest)
