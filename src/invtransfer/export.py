"""Materialised datasets in the formats other training code reads: ``python -m invtransfer export``.

Every export carries each sample's full row of ``samples.parquet`` (index, split, label, class name,
object, background, every transformation parameter) and the assets' licences and attributions
(``LICENSES/``, ``ATTRIBUTION.md``, ``attribution.csv``), plus ``export.json`` (source dataset,
counts, class names, every file's SHA-256). The dataset is read shard by shard through
:class:`~invtransfer.datasets.torch_dataset.MaterializedDataset` (checksums verified), so memory
stays at one chunk whatever the size; the output folder is renamed into place as a whole.

``imagefolder`` (torchvision ``ImageFolder``)
    ``<split>/<label>_<class>/<index>.png``; the label is zero-padded in the folder name so that
    ImageFolder's alphabetical class order equals the dataset's labels; every class has its folder
    (a split without samples of a class needs ``ImageFolder(root, allow_empty=True)``, which
    torchvision ≥ 0.17 has). ``<split>/metadata.csv``
    has ``file_name`` (relative to the split folder) and every sample column.
``webdataset`` (the ``webdataset`` package, or plain ``tarfile``)
    ``<split>-NNNNNN.tar`` shards of at most ``shard_size`` samples; per sample ``<index>.png``,
    ``<index>.cls`` (the label as text) and ``<index>.json`` (the sample's row). Members are
    written in index order with fixed metadata (mtime 0, uid/gid 0), so equal data give equal
    bytes.
``parquet`` (Hugging Face ``datasets`` with no custom code, or pyarrow/pandas)
    ``data/<split>-NNNNN-of-NNNNN.parquet``: column ``image`` = struct ``{bytes: PNG, path}`` and
    the schema metadata ``huggingface`` declaring it an ``Image`` feature and ``label`` a
    ``ClassLabel`` with the class names; ``README.md`` is a dataset card whose ``configs`` name the
    split files. ``datasets.load_dataset("parquet", data_files={"train":
    "DIR/data/train-*.parquet"})`` or ``datasets.load_dataset("DIR")`` gives PIL images.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from invtransfer.datasets.torch_dataset import MaterializedDataset
from invtransfer.io import atomic_dir, atomic_write_json, atomic_write_text, sha256_file

__all__ = [
    "EXPORT_FORMATS",
    "asset_attribution",
    "export_dataset",
    "hf_features",
    "png_bytes",
]

log = logging.getLogger("invtransfer.export")

EXPORT_FORMATS: tuple[str, ...] = ("imagefolder", "webdataset", "parquet")
_CHUNK = 1024  # images read at a time
_CIFAR_ATTRIBUTION = (
    "CIFAR-10/CIFAR-100 (Krizhevsky, 2009, 'Learning Multiple Layers of Features from Tiny "
    "Images'), https://www.cs.toronto.edu/~kriz/cifar.html; no licence is stated by its authors"
)


def png_bytes(image: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 H×W×3 image (Pillow, fixed compression: equal pixels, equal bytes)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="RGB").save(
        buf, format="PNG", compress_level=6
    )
    return buf.getvalue()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# -- licences -------------------------------------------------------------------------------------
def asset_attribution(manifest: Mapping[str, Any]) -> tuple[list[dict[str, str]], set[str]]:
    """Who made the objects, backgrounds and images of a dataset, from its manifest:
    ``(rows {kind, name, source, package, version, licence, attribution}, licence folders of the
    bundle to copy)``."""
    from invtransfer.assets.bundle import read_bundle_manifest

    spec = manifest.get("spec") or {}
    build = manifest.get("build") or {}
    bundle = {e.file: e for e in read_bundle_manifest()}
    rows: list[dict[str, str]] = []
    packages: set[str] = set()

    def add(kind: str, name: str, source: str, **rest: str) -> None:
        rows.append({"kind": kind, "name": name, "source": source, "package": "", "version": "",
                     "licence": "", "attribution": "", **rest})  # fmt: skip

    objects = build.get("objects") or []
    for obj in objects:
        source = str(obj.get("source", ""))
        prefix, _, rest = source.partition(":")
        name = str(obj.get("name", ""))
        if prefix == "bundle" and f"objects/{rest}" in bundle:
            e = bundle[f"objects/{rest}"]
            packages.add(e.package)
            add("object", name, source, package=e.package, version=e.version,
                licence=e.licence, attribution=e.attribution)  # fmt: skip
        elif prefix == "emoji":
            add("object", name, source, package="fonts-noto-color-emoji",
                licence="Apache-2.0 (images), OFL-1.1 (font)",
                attribution="Noto Color Emoji, Google")  # fmt: skip
        elif prefix == "si-score":
            add("object", name, source, licence="see the SI-Score dataset's attributions",
                attribution="SI-Score (Djolonga et al., 2021)")  # fmt: skip
        elif prefix == "random":
            add("object", name, source, licence="none (generated by invtransfer)")
        else:
            add("object", name, source, licence="unknown (user-provided files)")
    backgrounds = (spec.get("backgrounds") or {}).get("source")
    if backgrounds == "bundle":
        for e in bundle.values():
            if e.kind == "background":
                packages.add(e.package)
                add("background", e.name, f"bundle:{e.file}", package=e.package,
                    version=e.version, licence=e.licence, attribution=e.attribution)  # fmt: skip
    elif backgrounds == "si-score":
        add("background", "*", "si-score:backgrounds", licence="see the SI-Score dataset's "
            "attributions", attribution="SI-Score (Djolonga et al., 2021)")  # fmt: skip
    elif backgrounds == "folder":
        add("background", "*", "folder", licence="unknown (user-provided files)")
    if str(spec.get("kind", "")).startswith("cifar"):
        add("image", str(spec.get("dataset", "cifar")), "cifar", attribution=_CIFAR_ATTRIBUTION)
    return rows, packages


def _write_licences(out: Path, manifest: Mapping[str, Any]) -> None:
    from invtransfer.resources import resources_dir

    rows, packages = asset_attribution(manifest)
    src = resources_dir() / "licenses"
    if packages:
        for folder in [*sorted(packages), "common"]:
            if (src / folder).is_dir():
                shutil.copytree(src / folder, out / "LICENSES" / folder)
    with open(out / "attribution.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["kind"])
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# Attribution: {manifest['name']}",
        "",
        "Images composited by invtransfer from the assets below; each asset keeps its licence "
        "(texts in `LICENSES/`: the Debian packages' copyright files and the common licence "
        "texts). Modified: cropped, resized, transformed and composited.",
        "",
        "| kind | name | source | package | licence | attribution |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['kind']} | {r['name']} | {r['source']} | {r['package']} {r['version']} | "
        f"{r['licence']} | {r['attribution']} |"
        for r in rows
    ]
    atomic_write_text(out / "ATTRIBUTION.md", "\n".join(lines) + "\n")


# -- Hugging Face features ------------------------------------------------------------------------
_HF_VALUE = {
    pa.int8(): "int8", pa.int16(): "int16", pa.int32(): "int32", pa.int64(): "int64",
    pa.uint8(): "uint8", pa.uint16(): "uint16", pa.uint32(): "uint32", pa.uint64(): "uint64",
    pa.float32(): "float32", pa.float64(): "float64", pa.bool_(): "bool", pa.string(): "string",
    pa.large_string(): "large_string",
}  # fmt: skip


def hf_features(schema: pa.Schema, class_names: Sequence[str]) -> dict[str, Any]:
    """The ``datasets.Features`` of an export's Parquet schema, as its JSON (what ``datasets``
    reads from the schema metadata key ``huggingface``)."""
    features: dict[str, Any] = {}
    for f in schema:
        if f.name == "image":
            features["image"] = {"_type": "Image"}
        elif f.name == "label":
            features["label"] = {"names": [str(c) for c in class_names], "_type": "ClassLabel"}
        elif f.type in _HF_VALUE:
            features[f.name] = {"dtype": _HF_VALUE[f.type], "_type": "Value"}
        else:
            raise TypeError(f"column {f.name!r} has type {f.type}, which has no Value dtype here")
    return features


def _dataset_card(name: str, splits: Mapping[str, list[str]], counts: Mapping[str, int]) -> str:
    configs = "\n".join(f"  - split: {split}\n    path: data/{split}-*.parquet" for split in splits)
    return (
        f"---\nconfigs:\n- config_name: default\n  data_files:\n{configs}\nlicense: other\n---\n\n"
        f"# {name}\n\nA Transforms-2D dataset exported by invtransfer "
        f"({', '.join(f'{s}: {n}' for s, n in counts.items())} images). Columns: `image` (PNG), "
        "`label` (ClassLabel), the sample's index, object, background and every transformation "
        "parameter. Licences and attributions of the assets: `ATTRIBUTION.md`, `LICENSES/`.\n\n"
        '```python\nimport datasets\nds = datasets.load_dataset("parquet", data_files='
        + "{"
        + ", ".join(f'"{s}": "{name}/data/{s}-*.parquet"' for s in splits)
        + "}"
        + ")\n```\n"
    )


# -- writers --------------------------------------------------------------------------------------
def _imagefolder(ds: MaterializedDataset, out: Path) -> list[str]:
    width = max(3, len(str(len(ds.classes) - 1)))
    folders = [f"{i:0{width}d}_{c}" for i, c in enumerate(ds.classes)]
    for f in folders:
        if "/" in f or f in (".", ".."):
            raise ValueError(f"class name {f!r} cannot be a folder name")
    base = out / ds.split
    for f in folders:  # every class, so ImageFolder's indices are the labels even when a split
        (base / f).mkdir(parents=True)  # lacks a class (then read it with allow_empty=True)
    files = []
    rows = []
    for images, meta in ds.batches(_CHUNK):
        for image, (_, row) in zip(images, meta.iterrows(), strict=True):
            rel = f"{folders[int(row['label'])]}/{int(row['index']):06d}.png"
            path = base / rel
            path.write_bytes(png_bytes(image))
            rows.append({"file_name": rel, **{k: _plain(v) for k, v in row.items()}})
    pd.DataFrame(rows).to_csv(base / "metadata.csv", index=False)
    files.append(f"{ds.split}/metadata.csv")
    return files


def _webdataset(ds: MaterializedDataset, out: Path, shard_size: int) -> list[str]:
    files: list[str] = []
    tar: tarfile.TarFile | None = None

    def member(name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        assert tar is not None
        tar.addfile(info, io.BytesIO(data))

    try:
        for images, meta in ds.batches(_CHUNK):
            for image, (_, row) in zip(images, meta.iterrows(), strict=True):
                i = int(row["index"])
                if i % shard_size == 0:
                    if tar is not None:
                        tar.close()
                    files.append(f"{ds.split}-{i // shard_size:06d}.tar")
                    # one shard open across batches; closed when full and in the finally below
                    tar = tarfile.open(out / files[-1], "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
                key = f"{i:06d}"
                member(f"{key}.png", png_bytes(image))
                member(f"{key}.cls", str(int(row["label"])).encode())
                params = {k: _plain(v) for k, v in row.items()}
                member(f"{key}.json", json.dumps(params, sort_keys=True).encode())
    finally:
        if tar is not None:
            tar.close()
    return files


def _parquet(ds: MaterializedDataset, out: Path, shard_size: int) -> list[str]:
    n = len(ds)
    n_files = max(1, -(-n // shard_size))
    (out / "data").mkdir(exist_ok=True)
    files = []
    schema: pa.Schema | None = None
    for k in range(n_files):
        files.append(f"data/{ds.split}-{k:05d}-of-{n_files:05d}.parquet")
        first, last = k * shard_size, min(n, (k + 1) * shard_size)
        writer: pq.ParquetWriter | None = None
        try:
            for start in range(first, last, _CHUNK):
                stop = min(last, start + _CHUNK)
                images = ds.images(start, stop)
                cols = ds.meta.iloc[start:stop].reset_index(drop=True)
                image = pa.array(
                    [
                        {"bytes": png_bytes(img), "path": f"{int(idx):06d}.png"}
                        for img, idx in zip(images, cols["index"], strict=True)
                    ],
                    type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
                )
                table = pa.Table.from_pandas(cols, preserve_index=False).add_column(
                    0, "image", image
                )
                if schema is None:
                    features = hf_features(table.schema, ds.classes)
                    schema = table.schema.with_metadata(
                        {"huggingface": json.dumps({"info": {"features": features}})}
                    )
                table = table.cast(schema)
                if writer is None:
                    writer = pq.ParquetWriter(out / files[-1], schema, compression="zstd")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
    return files


def export_dataset(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    format: str,
    splits: Sequence[str] | None = None,
    shard_size: int = 10_000,
    verify: bool = True,
) -> dict[str, Any]:
    """Export the materialised dataset ``dataset_dir`` to ``out_dir`` (replaced atomically) in
    ``format`` (:data:`EXPORT_FORMATS`); returns the ``export.json`` summary. ``splits``: default
    every split; ``shard_size``: samples per tar / Parquet file."""
    from invtransfer.datasets.store import read_manifest

    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive int, got {shard_size!r}")
    t0 = time.perf_counter()
    manifest = read_manifest(dataset_dir)
    wanted = list(manifest["counts"]) if splits is None else list(splits)
    unknown = [s for s in wanted if s not in manifest["counts"]]
    if unknown or not wanted:
        raise ValueError(
            f"splits {unknown or wanted} are not in dataset {manifest['name']} "
            f"(has: {', '.join(manifest['counts'])})"
        )
    out = Path(out_dir)
    summary: dict[str, Any] = {
        "format": f"invtransfer.export/{format}",
        "dataset": {
            "name": manifest["name"],
            "path": str(dataset_dir),
            "manifest_sha256": sha256_file(Path(dataset_dir) / "manifest.json"),
        },
        "class_names": [str(c) for c in manifest["class_names"]],
        "counts": {s: int(manifest["counts"][s]) for s in wanted},
        "image_shape": manifest["image_shape"],
        "spec": manifest.get("spec"),
    }
    with atomic_dir(out) as tmp:
        split_files: dict[str, list[str]] = {}
        for split in wanted:
            ds = MaterializedDataset(dataset_dir, split, verify=verify)
            if format == "imagefolder":
                split_files[split] = _imagefolder(ds, tmp)
            elif format == "webdataset":
                split_files[split] = _webdataset(ds, tmp, shard_size)
            else:
                split_files[split] = _parquet(ds, tmp, shard_size)
            log.info("%s: %s split, %d images exported (%.1f s)", manifest["name"], split,
                     len(ds), time.perf_counter() - t0)  # fmt: skip
        if format == "parquet":
            atomic_write_text(
                tmp / "README.md", _dataset_card(out.name, split_files, summary["counts"])
            )
        _write_licences(tmp, manifest)
        summary["files"] = {
            f: sha256_file(tmp / f) for files in split_files.values() for f in files
        }
        atomic_write_json(tmp / "export.json", summary)
    log.info("exported %s as %s to %s in %.1f s", manifest["name"], format, out,
             time.perf_counter() - t0)  # fmt: skip
    return summary
