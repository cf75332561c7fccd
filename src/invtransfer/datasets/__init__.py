"""Datasets: specs and names, the kinds registry, builders, sharded storage and the reader.

Public API (see ``docs/ARCHITECTURE.md``, "Datasets on disk")::

    canonicalize_spec(spec) -> dict          dataset_name(spec) -> str      spec_digest(spec) -> str
    DATASET_KINDS, register_dataset_kind     dataset_build_plan(spec) -> BuildPlan
    materialize(spec, out_dir, *, chunk_size=256, threads=None, progress=True) -> manifest
    load_split(dataset_dir, split, *, verify=True) -> SplitData
    read_manifest(dataset_dir) -> dict        verify(dataset_dir) -> None
"""

from invtransfer.datasets.base import BuildPlan
from invtransfer.datasets.builders import dataset_build_plan, materialize
from invtransfer.datasets.kinds import DATASET_KINDS, DatasetKind, register_dataset_kind
from invtransfer.datasets.spec import canonicalize_spec, dataset_name, spec_digest
from invtransfer.datasets.store import SplitData, load_split, read_manifest, verify

__all__ = [
    "DATASET_KINDS",
    "BuildPlan",
    "DatasetKind",
    "SplitData",
    "canonicalize_spec",
    "dataset_build_plan",
    "dataset_name",
    "load_split",
    "materialize",
    "read_manifest",
    "register_dataset_kind",
    "spec_digest",
    "verify",
]
