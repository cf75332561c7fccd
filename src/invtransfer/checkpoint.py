"""Saving and loading model files, probe heads and resume checkpoints (every weights file the
package writes, and their formats).

Everything is written with :func:`torch.save` into an open handle of a temporary file that is
then renamed (so the bytes do not depend on the temporary name and a kill never leaves a half
file under the real name) and read back with ``torch.load(..., weights_only=True)``, which
unpickles only tensors and plain containers.

Each file's SHA-256 is recorded when it is written, in a sidecar ``<name>.sha256`` (the
``sha256sum`` format), and checked on every load: a flipped bit or a zeroed page is never used
silently. Any failure to read or verify is a :class:`~invtransfer.errors.CheckpointError` that
names the file and gives the command that rebuilds it (:func:`rebuild_advice`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from invtransfer import recovery
from invtransfer.device import resolve_device
from invtransfer.errors import CheckpointError
from invtransfer.io import atomic_path, atomic_write_text, sha256_file
from invtransfer.models import MODELS, Classifier, build_model

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKSUM_SUFFIX",
    "HEAD_FORMAT",
    "MODEL_FORMAT",
    "checksum_path",
    "load_head",
    "load_model",
    "load_resume_checkpoint",
    "load_state_checked",
    "load_torch_file",
    "read_model_file",
    "rebuild_advice",
    "remove_torch_file",
    "save_head",
    "save_model",
    "save_torch_file",
    "state_to_cpu",
    "verify_torch_file",
]

MODEL_FORMAT = "invtransfer.model/1"  # model.pt: a whole network (pretrained or fine-tuned)
HEAD_FORMAT = "invtransfer.head/1"  # head.pt: a linear probe on cached features
CHECKPOINT_FORMAT = "invtransfer.checkpoint/1"  # checkpoint.pt: the resume state of a run
CHECKSUM_SUFFIX = ".sha256"  # model.pt -> model.pt.sha256: "<hex>  model.pt" per line
_RECORD_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")


def state_to_cpu(obj: Any) -> Any:
    """A deep copy of ``obj`` with every tensor detached, contiguous and on the CPU.

    Copies even CPU tensors: a snapshot must not change when training continues in place.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True).contiguous()
    if isinstance(obj, Mapping):
        return {k: state_to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(state_to_cpu(v) for v in obj)
    return obj


def checksum_path(path: str | os.PathLike[str]) -> Path:
    """Where the SHA-256 record of the weights file ``path`` lives (``<name>.sha256``)."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def rebuild_advice(path: str | os.PathLike[str]) -> str:
    """How to rebuild the weights file at ``path``: for the workflow's files the Snakemake
    command that reruns the job writing it (its declared output, with the run's options; see
    :mod:`invtransfer.recovery`), for a resume checkpoint how to start the run over, otherwise
    the step to rerun."""
    path = Path(path)
    if path.name == "checkpoint.pt":
        return (
            f"delete it (rm {path} {checksum_path(path)}) and rerun the job: training then "
            "starts over from its first epoch"
        )
    return recovery.rebuild_advice(path)


def _read_record(path: Path) -> list[str] | str | None:
    """The digests recorded for ``path`` (newest first); None if there is no record, or a
    string saying what is wrong with it."""
    record = checksum_path(path)
    try:
        text = record.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({exc})"
    digests = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _RECORD_LINE.match(line)
        if match is None:
            return (
                f"is malformed: line {number} is not '<64 hex digits>  {path.name}' "
                "(truncated or edited)"
            )
        if match.group(2) != path.name:
            return (
                f"is the record of another file: line {number} names {match.group(2)!r}, "
                f"not {path.name!r}"
            )
        digests.append(match.group(1))
    if not digests:
        return "is empty (truncated)"
    return digests


def _write_record(path: Path, digests: list[str]) -> None:
    atomic_write_text(checksum_path(path), "".join(f"{d}  {path.name}\n" for d in digests))


def save_torch_file(path: str | os.PathLike[str], obj: Any) -> None:
    """``torch.save`` atomically and record the file's SHA-256 beside it; the same object
    always gives the same bytes."""
    path = Path(path)
    recorded = _read_record(path)
    previous = recorded if isinstance(recorded, list) and path.exists() else []
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
        digest = sha256_file(tmp)
        # Until the rename at the end of this block `path` still holds the previous file, so the
        # record lists both digests: a kill between the two writes leaves a file that verifies.
        _write_record(path, list(dict.fromkeys([digest, *previous[:3]])))
    _write_record(path, [digest])


def verify_torch_file(path: str | os.PathLike[str], what: str = "weights file") -> str:
    """Check ``path`` against the SHA-256 recorded when it was written; returns the digest.

    A missing file is a FileNotFoundError; a missing or unreadable record, or a different
    digest, a CheckpointError naming the file and the command that rebuilds it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; {rebuild_advice(path)}")
    recorded = _read_record(path)
    record = checksum_path(path).name
    if recorded is None:
        raise CheckpointError(
            f"{what} {path}: its SHA-256 record {record} is missing, so the file cannot be "
            "verified (written by hand or by an older version, or the record was deleted; it "
            f"may be corrupt); {rebuild_advice(path)}"
        )
    if isinstance(recorded, str):
        raise CheckpointError(
            f"{what} {path}: its SHA-256 record {record} {recorded}, so the file cannot be "
            f"verified; {rebuild_advice(path)}"
        )
    digest = sha256_file(path)
    if digest not in recorded:
        raise CheckpointError(
            f"{what} {path} is corrupt: its SHA-256 ({digest[:16]}…) differs from the one "
            f"recorded when it was written ({record}: {recorded[0][:16]}…); "
            f"{rebuild_advice(path)}"
        )
    return digest


def remove_torch_file(path: str | os.PathLike[str]) -> None:
    """Delete a weights file and its SHA-256 record (either may be absent)."""
    Path(path).unlink(missing_ok=True)
    checksum_path(path).unlink(missing_ok=True)


def load_torch_file(path: str | os.PathLike[str], what: str = "checkpoint") -> Any:
    """``torch.load(weights_only=True)`` on the CPU after :func:`verify_torch_file`, with
    errors that name the file."""
    path = Path(path)
    verify_torch_file(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, pickle and weights_only errors all mean "unusable"
        raise CheckpointError(
            f"{what} {path} cannot be read ({type(exc).__name__}: {str(exc)[:200]}); it is "
            f"corrupt, truncated or not an invtransfer file; {rebuild_advice(path)}"
        ) from exc


def save_model(path: str | os.PathLike[str], model: Classifier, **extra: Any) -> None:
    """Write ``model`` (built by :func:`~invtransfer.models.build_model`) as a ``model.pt``.

    The file holds ``{"format", "arch", "arch_kwargs", "num_classes", "feature_dim",
    "state_dict"}`` plus ``extra`` (plain values only: it must stay ``weights_only``-loadable).
    """
    if not getattr(model, "arch", "") or model.arch not in MODELS:
        raise ValueError("save_model: model has no registered .arch; build it with build_model")
    payload = {
        "format": MODEL_FORMAT,
        "arch": model.arch,
        "arch_kwargs": dict(model.arch_kwargs),
        "num_classes": model.num_classes,
        "feature_dim": model.feature_dim,
        "state_dict": state_to_cpu(model.state_dict()),
        **extra,
    }
    save_torch_file(path, payload)


def read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated contents of a ``model.pt`` (tensors on the CPU)."""
    payload = load_torch_file(path, "model file")
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"model file {path}: expected format {MODEL_FORMAT!r}, found {found!r}; it was not "
            "written by invtransfer.checkpoint.save_model"
        )
    missing = [k for k in ("arch", "arch_kwargs", "num_classes", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(f"model file {path}: missing key(s) {', '.join(missing)}")
    if payload["arch"] not in MODELS:
        raise CheckpointError(
            f"model file {path}: unknown architecture {payload['arch']!r}; valid names: "
            f"{', '.join(sorted(MODELS))}"
        )
    return payload


def load_state_checked(module: nn.Module, state: Mapping[str, Any], path: Path | str) -> None:
    """``load_state_dict(strict=True)`` whose failure is a CheckpointError naming ``path``."""
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: weights do not match the architecture ({str(exc)[:400]})"
        ) from exc


def load_model(
    model_path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    arch: str | None = None,
    num_classes: int | None = None,
) -> Classifier:
    """Rebuild the network stored in ``model_path`` on ``device``, in eval mode.

    ``arch`` / ``num_classes``, when given, must match the file (a CheckpointError otherwise):
    a rule that expects a ResNet-18 never silently gets a VGG.
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    payload = read_model_file(model_path)
    if arch is not None and payload["arch"] != arch:
        raise CheckpointError(
            f"model file {model_path}: holds {payload['arch']!r}, expected {arch!r}"
        )
    if num_classes is not None and payload["num_classes"] != num_classes:
        raise CheckpointError(
            f"model file {model_path}: has {payload['num_classes']} classes, expected {num_classes}"
        )
    try:
        model = build_model(payload["arch"], int(payload["num_classes"]), **payload["arch_kwargs"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"model file {model_path}: cannot rebuild the model ({exc})") from exc
    load_state_checked(model, payload["state_dict"], model_path)
    return model.to(dev).eval()


def save_head(path: str | os.PathLike[str], head: nn.Linear, **extra: Any) -> None:
    """Write a linear probe ``head`` as a ``head.pt``: ``{"format", "feature_dim",
    "num_classes", "state_dict"}`` plus ``extra`` (plain values, e.g. the model and dataset)."""
    payload = {
        "format": HEAD_FORMAT,
        "feature_dim": int(head.in_features),
        "num_classes": int(head.out_features),
        "state_dict": {k: v.detach().cpu() for k, v in head.state_dict().items()},
        **extra,
    }
    save_torch_file(path, payload)


def load_head(
    path: str | os.PathLike[str], *, feature_dim: int | None = None, num_classes: int | None = None
) -> tuple[nn.Linear, dict[str, Any]]:
    """The probe head in ``head.pt`` (and the file's other entries); the dimensions must
    match when given."""
    payload = load_torch_file(path, "probe head")
    if not isinstance(payload, dict) or payload.get("format") != HEAD_FORMAT:
        raise CheckpointError(f"probe head {path}: not written by invtransfer.checkpoint.save_head")
    d, c = int(payload["feature_dim"]), int(payload["num_classes"])
    if feature_dim is not None and d != feature_dim:
        raise CheckpointError(
            f"probe head {path}: takes {d}-d features, the model gives {feature_dim}"
        )
    if num_classes is not None and c != num_classes:
        raise CheckpointError(f"probe head {path}: has {c} classes, the dataset has {num_classes}")
    head = nn.Linear(d, c)
    load_state_checked(head, payload["state_dict"], path)
    return head, payload


def load_resume_checkpoint(
    path: str | os.PathLike[str], fingerprint: Mapping[str, Any]
) -> dict[str, Any]:
    """The resume state in ``checkpoint.pt``; it must have been written for the run described
    by ``fingerprint`` (architecture, hyper-parameters, data hashes), else a CheckpointError
    naming the differing keys."""
    state = load_torch_file(path, "resume checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"resume checkpoint {path}: not an invtransfer checkpoint; delete it to start over"
        )
    saved = state.get("fingerprint", {})
    diff = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if diff:
        details = "; ".join(f"{k}: {saved.get(k)!r} != {fingerprint.get(k)!r}" for k in diff[:4])
        raise CheckpointError(
            f"resume checkpoint {path} belongs to a different run ({details}); delete it to "
            "start over, or rerun with the settings it was made with"
        )
    return state
