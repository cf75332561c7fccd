"""Verified download of the official CIFAR-10/100 archives (opt-in: ``download: true``).

:func:`ensure_cifar` returns the release folder, fetching the archive first only when asked to and
the release is absent; :func:`download_cifar` streams the archive, checks its size, MD5 (published
by the authors) and SHA-256 (pinned by Keras and torchvision) before anything is extracted, and
extracts atomically. Nothing here runs unless a caller asks for a download.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from invtransfer.datasets.cifar import CifarArchive, check_available, cifar_archive, how_to_get
from invtransfer.errors import AssetError

__all__ = ["Fetcher", "download_cifar", "ensure_cifar"]

log = logging.getLogger("invtransfer.datasets.cifar")


def ensure_cifar(root: str | os.PathLike[str], dataset: str, *, download: bool = False) -> Path:
    """:func:`check_available`, downloading first when ``download`` is true and the data are absent."""
    arch = cifar_archive(dataset)
    folder = Path(root) / arch.folder
    if download and not folder.exists():
        download_cifar(dataset, root)
    return check_available(root, dataset)


Fetcher = Callable[[str], BinaryIO]


def _urlopen(url: str, timeout: float = 60.0) -> BinaryIO:
    request = urllib.request.Request(url, headers={"User-Agent": "invtransfer"})
    return urllib.request.urlopen(request, timeout=timeout)  # type: ignore[no-any-return]


def download_cifar(
    dataset: str,
    root: str | os.PathLike[str],
    *,
    archive: CifarArchive | None = None,
    fetch: Fetcher | None = None,
) -> Path:
    """Fetch the official archive, verify its checksums, extract it atomically; return the folder.

    The archive streams to a temporary file in ``root`` while its MD5 and SHA-256 are computed;
    a size or checksum mismatch raises :class:`AssetError` and deletes it. Extraction goes to a
    temporary folder (tar members are filtered: no absolute paths, links or ``..``) whose release
    folder is renamed into place only when every expected file is there, so an interrupted run
    never leaves a half-extracted folder behind. ``archive`` and ``fetch`` exist for tests (a
    local ``file://`` URL and its checksums); the network is only touched when this is called.
    """
    arch = archive if archive is not None else cifar_archive(dataset)
    root = Path(root)
    target = root / arch.folder
    if target.exists():
        raise AssetError(
            f"{target} already exists; not downloading over it. Remove it if it is incomplete "
            "or corrupt, then download again."
        )
    root.mkdir(parents=True, exist_ok=True)
    opener = fetch if fetch is not None else _urlopen
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{arch.filename}.", dir=root)
    tmp_archive = Path(tmp_name)
    start = time.perf_counter()
    try:
        md5, sha, size = hashlib.md5(), hashlib.sha256(), 0
        log.info("downloading %s to %s", arch.url, root)
        try:
            with os.fdopen(fd, "wb") as out, contextlib.closing(opener(arch.url)) as response:
                while block := response.read(1 << 20):
                    out.write(block)
                    md5.update(block)
                    sha.update(block)
                    size += len(block)
        except OSError as exc:
            raise AssetError(
                f"downloading {arch.url} failed: {exc}. {how_to_get(root, arch)}"
            ) from exc
        _verify_checksums(arch, size, md5.hexdigest(), sha.hexdigest())
        log.info(
            "verified %s (%d bytes) in %.1f s", arch.filename, size, time.perf_counter() - start
        )
        _extract(tmp_archive, arch, root)
    finally:
        tmp_archive.unlink(missing_ok=True)
    return check_available(root, arch.dataset)


def _verify_checksums(arch: CifarArchive, size: int, md5: str, sha256: str) -> None:
    problems = []
    if arch.size is not None and size != arch.size:
        problems.append(f"size {size} bytes, expected {arch.size}")
    if md5 != arch.md5:
        problems.append(f"md5 {md5}, expected {arch.md5}")
    if arch.sha256 is not None and sha256 != arch.sha256:
        problems.append(f"sha256 {sha256}, expected {arch.sha256}")
    if problems:
        raise AssetError(
            f"downloaded {arch.url} does not match the published checksums ({'; '.join(problems)}); "
            "the file was deleted. Retry, or download it by hand and compare with `md5sum`."
        )


def _extract(archive_path: Path, arch: CifarArchive, root: Path) -> None:
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".tmp-extract-{arch.folder}.", dir=root))
    try:
        try:
            with tarfile.open(archive_path, "r:*") as tar:
                tar.extractall(tmp_dir, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise AssetError(f"cannot extract {arch.filename}: {exc}") from exc
        extracted = tmp_dir / arch.folder
        missing = [name for name in arch.files if not (extracted / name).is_file()]
        if missing:
            raise AssetError(
                f"{arch.filename} does not contain {arch.folder}/{{{', '.join(missing)}}}; "
                "it is not the expected CIFAR release"
            )
        os.replace(extracted, root / arch.folder)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
