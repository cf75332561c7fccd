"""Short human summaries of artifact folders: ``python -m invtransfer inspect <folder>``.

Each artifact type registers an *inspector*: ``matches(path) -> bool`` and
``summarize(path) -> Report``. :func:`inspect_path` asks the inspectors in priority order and falls
back to a generic one that lists the files and pretty-prints any ``metrics.json`` /
``manifest.json``. Later stages add theirs with :func:`register_inspector` in their own module and
list that module in :data:`PLUGIN_MODULES`, which is imported on first use (so ``inspect`` stays
importable without torch-heavy stages).

A report's ``ok`` is ``False`` when an integrity check failed; the CLI then exits with status 1.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PLUGIN_MODULES",
    "Inspector",
    "Report",
    "format_report",
    "inspect_path",
    "register_inspector",
]


@dataclass
class Report:
    """What an inspector found: a title line, body lines and whether integrity checks passed."""

    kind: str
    title: str
    lines: list[str] = field(default_factory=list)
    ok: bool = True
    problems: list[str] = field(default_factory=list)  # one line per failed check


@dataclass(frozen=True)
class Inspector:
    name: str
    matches: Callable[[Path], bool]
    summarize: Callable[[Path], Report]
    priority: int = 0


_INSPECTORS: dict[str, Inspector] = {}

#: Modules imported before the first inspection; each may call :func:`register_inspector`.
PLUGIN_MODULES: list[str] = []
_plugins_loaded = False


def register_inspector(
    name: str,
    matches: Callable[[Path], bool],
    summarize: Callable[[Path], Report],
    *,
    priority: int = 0,
) -> Inspector:
    """Register an inspector (higher ``priority`` is asked first); a duplicate name is an error."""
    if name in _INSPECTORS:
        raise ValueError(f"an inspector named {name!r} is already registered")
    inspector = Inspector(name, matches, summarize, priority)
    _INSPECTORS[name] = inspector
    return inspector


def _load_plugins() -> None:
    global _plugins_loaded
    if not _plugins_loaded:
        for module in PLUGIN_MODULES:
            importlib.import_module(module)
        _plugins_loaded = True


def inspect_path(path: str | os.PathLike[str]) -> Report:
    """Summarise the artifact folder (or file) at ``path``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"inspect: {path} does not exist")
    _load_plugins()
    for inspector in sorted(_INSPECTORS.values(), key=lambda i: -i.priority):
        if inspector.matches(path):
            return inspector.summarize(path)
    return generic_report(path)


def format_report(report: Report) -> str:
    return "\n".join([report.title, *report.lines]) + "\n"


# --------------------------------------------------------------------------------------------
# generic fallback
# --------------------------------------------------------------------------------------------
def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _shorten(obj: Any, max_items: int = 12) -> Any:
    """Long lists and dicts cut to their first items, so a manifest fits on a screen."""
    if isinstance(obj, list):
        items = [_shorten(v, max_items) for v in obj[:max_items]]
        if len(obj) > max_items:
            items.append(f"... {len(obj) - max_items} more")
        return items
    if isinstance(obj, dict):
        keys = list(obj)
        out = {k: _shorten(obj[k], max_items) for k in keys[: max_items * 4]}
        if len(keys) > max_items * 4:
            out["..."] = f"{len(keys) - max_items * 4} more keys"
        return out
    return obj


def _json_lines(path: Path, max_lines: int = 80) -> list[str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"  {path.name}: unreadable ({exc})"]
    text = json.dumps(_shorten(data), indent=2, sort_keys=True, default=str).splitlines()
    if len(text) > max_lines:
        text = [*text[:max_lines], f"... ({len(text) - max_lines} more lines)"]
    return [f"  {line}" for line in text]


def file_listing(folder: Path, max_entries: int = 60) -> list[str]:
    """``size  relative/path`` lines for the files under ``folder`` (hidden files skipped)."""
    entries = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    lines = [
        f"  {_human_size(p.stat().st_size):>10}  {p.relative_to(folder)}"
        for p in entries[:max_entries]
    ]
    if len(entries) > max_entries:
        lines.append(f"  ... {len(entries) - max_entries} more files")
    return lines


def generic_report(path: Path) -> Report:
    """Files and any ``metrics.json`` / ``manifest.json``, pretty-printed."""
    if path.is_file():
        lines = [f"  size: {_human_size(path.stat().st_size)}"]
        if path.suffix == ".json":
            lines += _json_lines(path)
        return Report("file", f"file {path}", lines)
    lines = ["files:", *file_listing(path)]
    for name in ("manifest.json", "metrics.json"):
        if (path / name).is_file():
            lines += [f"{name}:", *_json_lines(path / name)]
    return Report("folder", f"folder {path}", lines)


# --------------------------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------------------------
def _is_dataset(path: Path) -> bool:
    return (
        path.is_dir()
        and (path / "manifest.json").is_file()
        and ((path / "samples.parquet").exists() or any(path.glob("images-*.npy")))
    )


_NOT_PARAMETERS = {"index", "label", "background", "background_seed"}


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def dataset_report(path: Path) -> Report:
    """Name, kind, transforms, counts per split and class, parameter ranges and checksum status."""
    import numpy as np
    import pyarrow.parquet as pq
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    from invtransfer.datasets.store import BUILD, problems, read_manifest, rebuild_advice
    from invtransfer.errors import DatasetIntegrityError

    try:
        manifest = read_manifest(path)
    except DatasetIntegrityError as exc:
        report = generic_report(path)
        return Report(
            "dataset",
            f"dataset {path.name} (manifest unusable)",
            [f"checksums: FAILED - {exc}", *report.lines],
            ok=False,
            problems=[f"{Path(exc.path).name if exc.path else path}: {exc.problem or exc}"],
        )
    spec = manifest.get("spec", {})
    order = {"train": 0, "val": 1, "test": 2}
    counts = dict(sorted(manifest["counts"].items(), key=lambda kv: (order.get(kv[0], 3), kv[0])))
    class_names = manifest["class_names"]
    transforms = spec.get("transforms", [])
    lines = [
        f"kind: {manifest.get('kind', spec.get('kind', '?'))}",
        f"transforms: {', '.join(transforms) if transforms else 'none'}",
        f"images: {sum(counts.values())} of {'×'.join(map(str, manifest['image_shape']))} uint8 "
        f"in {len(manifest['shards'])} shard(s); splits: "
        + ", ".join(f"{s} {n}" for s, n in counts.items()),
        f"classes: {len(class_names)}",
    ]
    for key in ("objects", "backgrounds"):
        if isinstance(spec.get(key), dict):
            shown = {k: v for k, v in spec[key].items() if v is not None and k != "names"}
            lines.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    if spec:
        lines.append(f"seed: {spec.get('seed')}, transform_seed: {spec.get('transform_seed')}")
    bad = problems(path)
    details: list[str] = []
    if bad:
        lines.append(
            f"checksums: FAILED for {len(bad)} file(s): "
            + ", ".join(Path(e.path).name if e.path else "?" for e in bad)
        )
        details = [f"{Path(e.path).name if e.path else path}: {e.problem or e}" for e in bad]
        lines += [f"  {d}" for d in details]
        lines.append(f"  fix: {rebuild_advice(path)}")
    else:
        lines.append(
            f"checksums: OK ({len(manifest['shards'])} shard(s) and {manifest['samples']['file']})"
        )
    ok = not bad

    samples = path / manifest["samples"]["file"]
    if not samples.is_file():  # already named above
        return Report("dataset", f"dataset {manifest['name']}", lines, ok=False, problems=details)
    try:
        table = pq.read_table(samples).to_pandas()
    except Exception as exc:  # any reader failure is reported, not raised: this is a summary
        lines.append(f"{samples.name}: unreadable ({type(exc).__name__}: {exc})")
        details.append(f"{samples.name}: unreadable ({type(exc).__name__})")
        return Report("dataset", f"dataset {manifest['name']}", lines, ok=False, problems=details)

    per_class = table.groupby(["label", "split"]).size().unstack(fill_value=0)
    splits = [s for s in counts if s in per_class.columns]
    lines.append("counts per class:")
    width = max(len(str(c)) for c in class_names) if class_names else 5
    lines.append(f"  {'label':>5}  {'class':<{width}}  " + "  ".join(f"{s:>6}" for s in splits))
    max_rows = 30
    for label in range(min(len(class_names), max_rows)):
        row = per_class.loc[label] if label in per_class.index else None
        cells = "  ".join(f"{int(row[s]) if row is not None else 0:>6}" for s in splits)
        lines.append(f"  {label:>5}  {class_names[label]:<{width}}  {cells}")
    if len(class_names) > max_rows:
        lo = per_class[splits].min()
        hi = per_class[splits].max()
        lines.append(
            f"  ... {len(class_names) - max_rows} more classes; per class min/max: "
            + ", ".join(f"{s} {int(lo[s])}/{int(hi[s])}" for s in splits)
        )
    params = [
        c
        for c in table.columns
        if c not in _NOT_PARAMETERS and (is_numeric_dtype(table[c]) or is_bool_dtype(table[c]))
    ]
    if params:
        lines.append("parameters (min / mean / max over all splits):")
        pw = max(len(c) for c in params)
        for c in params:
            if is_bool_dtype(table[c]):
                col = table[c].to_numpy(dtype=bool)
                lines.append(f"  {c:<{pw}}  fraction true {col.mean():.3f}")
            else:
                col = table[c].to_numpy(dtype=np.float64)
                lines.append(
                    f"  {c:<{pw}}  {_fmt(col.min())} / {_fmt(col.mean())} / {_fmt(col.max())}"
                )
    else:
        lines.append("parameters: none sampled")
    try:  # how the build ran: build.json (manifests before it held the timings themselves)
        build = json.loads((path / BUILD).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        build = manifest
    if isinstance(build, dict) and "wall_time_s" in build:
        lines.append(
            f"built in {build['wall_time_s']} s ({build.get('images_per_s')} img/s"
            + (f" on {build['host']}" if build.get("host") else "")
            + f"), invtransfer {manifest.get('versions', {}).get('invtransfer', '?')}"
        )
    preview = manifest.get("preview", {})
    if preview:
        lines.append(
            f"preview: {preview.get('file')} (split {preview.get('split')}, classes "
            f"{', '.join(preview.get('classes', []))})"
        )
    return Report("dataset", f"dataset {manifest['name']}", lines, ok=ok, problems=details)


register_inspector("dataset", _is_dataset, dataset_report, priority=10)


def _is_evalset(path: Path) -> bool:
    if not (path.is_dir() and (path / "manifest.json").is_file()):
        return False
    try:
        members = json.loads((path / "manifest.json").read_text()).get("members")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False
    return isinstance(members, list) and all(isinstance(m, str) for m in members)


def evalset_report(path: Path) -> Report:
    """An evaluation set (``steps.build_evalset``): one dataset per member, each summarised."""
    from invtransfer.datasets.store import rebuild_advice

    members = json.loads((path / "manifest.json").read_text())["members"]
    lines, ok = [f"members: {len(members)}"], True
    for member in members:
        folder = path / member
        if not _is_dataset(folder):
            lines.append(f"  {member}: MISSING dataset folder {folder}")
            ok = False
            continue
        sub = dataset_report(folder)
        ok = ok and sub.ok
        status = next((line for line in sub.lines if line.startswith("checksums:")), "")
        kind = next((line for line in sub.lines if line.startswith("transforms:")), "")
        lines.append(f"  {member}: {sub.title.removeprefix('dataset ')}; {kind}; {status}")
        lines += [f"    {line}" for line in sub.problems]
    if not ok:
        lines.append(f"fix: {rebuild_advice(path)}")
    return Report("evalset", f"evaluation set {path.name}", lines, ok=ok)


register_inspector("evalset", _is_evalset, evalset_report, priority=5)


# --------------------------------------------------------------------------------------------
# weights: model folders (pretraining, fine-tuning) and probe folders
# --------------------------------------------------------------------------------------------
_WEIGHT_PATTERNS = ("model.pt", "head.pt", "*/head.pt", "*/model.pt", "*/*/model.pt")
_WEIGHT_NAMES = ("model.pt", "head.pt", "checkpoint.pt")


def _weight_files(path: Path) -> list[Path]:
    """The weights files a model / probe / fine-tuning folder holds (resume checkpoints too)."""
    if path.is_file():
        return [path] if path.name in _WEIGHT_NAMES else []
    if not path.is_dir():
        return []
    found = {p for pattern in _WEIGHT_PATTERNS for p in path.glob(pattern)}
    found |= {p.with_name("checkpoint.pt") for p in found if p.with_name("checkpoint.pt").is_file()}
    found |= set(path.glob("checkpoint.pt"))
    return sorted(found)


def _is_weights(path: Path) -> bool:
    return bool(_weight_files(path))


def _metrics_line(folder: Path) -> str | None:
    """One line of what the folder's ``metrics.json`` says (architecture, epochs, accuracy)."""
    try:
        m = json.loads((folder / "metrics.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(m, dict):
        return None
    keys = ("arch", "arch_kwargs", "num_classes", "seed", "epochs", "best_epoch", "n_samples",
            "feature_dim", "val_accuracy", "test_accuracy")  # fmt: skip
    parts = []
    for key in keys:
        if key in m:
            value = m[key]
            parts.append(f"{key} {_fmt(value) if isinstance(value, float) else value}")
    dataset = m.get("dataset")
    if isinstance(dataset, dict) and "name" in dataset:
        parts.append(f"dataset {dataset['name']}")
    return ", ".join(parts) if parts else None


_IDENTITY_KEYS = ("arch", "arch_kwargs", "num_classes", "feature_dim")


def _identity_mismatch(weights: Path) -> str | None:
    """What a (verified) ``model.pt`` / ``head.pt`` holds that contradicts the ``metrics.json``
    written beside it by the same job (architecture, its settings, classes, feature width):
    e.g. a model file of another run copied into this folder with its record. None if they
    agree or there is nothing to compare."""
    import torch

    try:
        metrics = json.loads((weights.parent / "metrics.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(metrics, dict):
        return None
    try:
        payload = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # reported, not raised: this is a summary
        return f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
    if not isinstance(payload, dict):
        return "does not hold an invtransfer weights dictionary"
    differ = [
        f"{key} {payload[key]!r} (metrics.json: {metrics[key]!r})"
        for key in _IDENTITY_KEYS
        if key in payload and key in metrics and payload[key] != metrics[key]
    ]
    if not differ:
        return None
    return (
        f"holds {', '.join(differ)}: it is not the file this folder's job wrote (copied from "
        "another run?)"
    )


def weights_report(path: Path) -> Report:
    """Every weights file under a model, probe or fine-tuning folder checked against its
    recorded SHA-256 (all of them, not only the first bad one), with what ``metrics.json``
    says beside each."""
    from invtransfer.checkpoint import rebuild_advice, verify_torch_file
    from invtransfer.errors import CheckpointError

    files = _weight_files(path)
    base = path if path.is_dir() else path.parent
    lines: list[str] = []
    bad = []
    for f in files:
        rel = f.relative_to(base)
        try:
            digest = verify_torch_file(f, "weights file")
            status = f"OK (sha256 {digest[:16]}…)"
            if f.name != "checkpoint.pt" and (wrong := _identity_mismatch(f)) is not None:
                status = f"FAILED - weights file {f} {wrong}; {rebuild_advice(f)}"
                bad.append(str(rel))
        except (CheckpointError, FileNotFoundError) as exc:
            status = f"FAILED - {exc}"
            bad.append(str(rel))
        lines.append(f"{rel}: {status}")
        if f.name != "checkpoint.pt" and (summary := _metrics_line(f.parent)) is not None:
            lines.append(f"  {summary}")
        elif f.name == "checkpoint.pt":
            lines.append("  resume checkpoint of an unfinished run")
    kinds = {f.name for f in files}
    kind = "probe" if kinds == {"head.pt"} else "model"
    verdict = (
        f"checksums: OK ({len(files)} weights file(s))"
        if not bad
        else f"checksums: FAILED for {len(bad)} of {len(files)}: {', '.join(bad)}"
    )
    return Report(kind, f"{kind} {path}", [verdict, *lines], ok=not bad)


register_inspector("weights", _is_weights, weights_report, priority=8)
