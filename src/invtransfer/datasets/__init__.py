"""Datasets: specs and names, builders, sharded storage and the reader used by training.

Public API (see ``docs/ARCHITECTURE.md``, "Datasets on disk")::

    canonicalize_spec(spec) -> dict          dataset_name(spec) -> str
    materialize(spec, out_dir, *, chunk_size=256, threads=None, progress=True) -> manifest
    load_split(dataset_dir, split, *, verify=True) -> SplitData
    read_manifest(dataset_dir) -> dict        verify(dataset_dir) -> None
"""

from invtransfer.datasets.builders import BuildPlan, build_plan, materialize
from invtransfer.datasets.spec import canonicalize_spec, dataset_name, spec_hash
from invtransfer.datasets.store import SplitData, load_split, read_manifest, verify

__all__ = [
    "BuildPlan",
    "SplitData",
    "build_plan",
    "canonicalize_spec",
    "dataset_name",
    "load_split",
    "materialize",
    "read_manifest",
    "spec_hash",
    "verify",
]
