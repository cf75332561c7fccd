"""SI-Score raw assets (Djolonga et al. 2021) as the paper used them, plus an opt-in downloader.

Layout (as in the public S3 bucket ``si-score-dataset``)::

    <root>/foregrounds/<class>/<file>.png     RGBA cut-outs, several per class
    <root>/backgrounds/<file>.jpg             nature photographs

The paper uses one image per class, "the image whose file name has the lowest lexicographical
order" (App. A.1); classes are numbered in alphabetical order (ambulance = 0 … zucchini = 60).
Both orders here are Python's ``sorted`` on the names (code-point order).

Downloading is OFF by default and never implicit: with ``download: true`` the files listed in a
SHA-256 list (``sha256sum`` format, paths relative to the root) are fetched one by one from the
bucket and each is verified before it is written. The bucket allows single-file GETs only, which is
why the list of files must be supplied. After a successful download the list is recorded as
``<root>/SHA256SUMS``, which later runs use by default.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

from invtransfer.errors import AssetError, ConfigError
from invtransfer.io import atomic_write_bytes, sha256_file

__all__ = [
    "CHECKSUM_FILE",
    "SISCORE_URL",
    "download_siscore",
    "ensure_siscore",
    "missing_message",
    "read_checksums",
    "siscore_foregrounds",
]

log = logging.getLogger("invtransfer.assets")

SISCORE_URL = "https://s3.us-east-1.amazonaws.com/si-score-dataset/"
CHECKSUM_FILE = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def missing_message(root: Path, sub: str) -> str:
    """How to obtain the SI-Score data, for the missing-folder error."""
    return (
        f"{root / sub}: SI-Score folder not found. Expected the SI-Score layout "
        f"{root}/foregrounds/<class>/<file>.png and {root}/backgrounds/<file>.jpg. Get the raw "
        f"assets from the public S3 bucket {SISCORE_URL} (e.g. `aws s3 cp --no-sign-request "
        f"s3://si-score-dataset/{sub}/ {root / sub} --recursive`), or set `download: true` with "
        f"a SHA-256 list ('<sha256>  {sub}/...' per line) at {root / CHECKSUM_FILE} or in "
        "`checksums:`; or use the default `source: bundle`"
    )


def read_checksums(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a ``sha256sum``-style list into ``{relative path: hex digest}``."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{path}: SHA-256 list not found")
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ConfigError(f"{path}:{number}: expected '<64 hex digits>  <path>', got {line!r}")
        digest, rel = match.group(1).lower(), match.group(2)
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise ConfigError(
                f"{path}:{number}: path {rel!r} must be relative and stay inside the root"
            )
        if parts[0] not in ("foregrounds", "backgrounds"):
            raise ConfigError(
                f"{path}:{number}: path {rel!r} must start with foregrounds/ or backgrounds/"
            )
        out[Path(*parts).as_posix()] = digest
    if not out:
        raise ConfigError(f"{path}: the SHA-256 list is empty")
    return out


def fetch(url: str, timeout: float = 60.0) -> bytes:
    """GET one URL (``https://`` or ``file://``). Replaced in tests; only called when asked to."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def download_siscore(
    root: str | os.PathLike[str],
    checksums: str | os.PathLike[str],
    *,
    url: str = SISCORE_URL,
    prefix: str = "",
) -> int:
    """Fetch the listed files under ``prefix`` that are missing or differ; return how many.

    Each file is checked against its SHA-256 before it is written (atomically), so a failed or
    tampered download leaves nothing a later run would trust.
    """
    root, checksums = Path(root), Path(checksums)
    entries = {rel: d for rel, d in read_checksums(checksums).items() if rel.startswith(prefix)}
    if not entries:
        raise ConfigError(f"{checksums}: lists no files under {prefix or '<root>'}")
    base = url if url.endswith("/") else url + "/"
    todo = [rel for rel, d in entries.items() if not _matches(root / rel, d)]
    start = time.perf_counter()
    for done, rel in enumerate(todo, start=1):
        file_url = urllib.parse.urljoin(base, urllib.parse.quote(rel))
        try:
            data = fetch(file_url)
        except OSError as exc:
            raise AssetError(f"{file_url}: download failed ({exc})") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != entries[rel]:
            raise AssetError(
                f"{file_url}: SHA-256 mismatch for {rel}: got {digest}, expected {entries[rel]} "
                f"(from {checksums}); the file was not written — check the list or the mirror"
            )
        atomic_write_bytes(root / rel, data)
        if done % 50 == 0 or done == len(todo):
            rate = done / max(time.perf_counter() - start, 1e-9)
            log.info(
                "si-score: %d/%d files, %.1f files/s, ETA %.0f s",
                done, len(todo), rate, (len(todo) - done) / rate,
            )  # fmt: skip
    recorded = root / CHECKSUM_FILE
    if not recorded.exists() or recorded.read_bytes() != checksums.read_bytes():
        atomic_write_bytes(recorded, checksums.read_bytes())
    return len(todo)


def _matches(path: Path, digest: str) -> bool:
    return path.is_file() and sha256_file(path) == digest


def ensure_siscore(
    root: Path,
    sub: str,
    *,
    download: bool,
    checksums: Path | None,
    url: str | None,
) -> Path:
    """``root/sub`` after an optional download; raises with instructions if it is missing."""
    if download:
        listing = checksums if checksums is not None else root / CHECKSUM_FILE
        if not listing.is_file():
            raise AssetError(
                f"{listing}: download: true needs a SHA-256 list of the files to fetch "
                f"('<sha256>  {sub}/<...>' per line; the bucket {SISCORE_URL} cannot be listed); "
                "put it there or set `checksums:` to its path"
            )
        download_siscore(root, listing, url=url or SISCORE_URL, prefix=f"{sub}/")
    elif url is not None or checksums is not None:
        raise ConfigError("si-score: `url`/`checksums` are only used with `download: true`")
    folder = root / sub
    if not folder.is_dir():
        raise AssetError(missing_message(root, sub))
    return folder


def siscore_foregrounds(folder: Path) -> list[tuple[str, Path]]:
    """``(class, first file)`` per class folder, classes sorted; the first PNG in name order."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise AssetError(
            f"{folder}: no class folders; expected foregrounds/<class>/<file>.png (SI-Score layout)"
        )
    out = []
    for cls in classes:
        files = sorted(
            (p for p in cls.iterdir() if p.is_file() and p.suffix.lower() == ".png"),
            key=lambda p: p.name,
        )
        if not files:
            raise AssetError(f"{cls}: class folder {cls.name!r} holds no .png file")
        out.append((cls.name, files[0]))
    return out
