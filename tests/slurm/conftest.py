"""Fixtures for the SLURM tests: one real single-node cluster per test session.

The cluster is started once (it takes ~2 s) and always stopped by the fixture's teardown, which
also fails the session loudly when a daemon had to be killed or jobs would not drain.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


def _load_cluster_module() -> ModuleType:
    """Import `cluster.py` under a unique name (tests/ is not a package; avoid name clashes)."""
    name = "invtransfer_tests_slurm_cluster"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


cluster_mod = _load_cluster_module()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[object]:
    """A running `LocalSlurmCluster`; skips only when the packages cannot be installed."""
    try:
        cluster_mod.ensure_packages()
    except cluster_mod.ClusterUnavailable as exc:
        pytest.skip(f"cannot run a local SLURM cluster: {exc}")
    root = Path(tempfile.mkdtemp(prefix="invtransfer-slurm-"))
    cluster = cluster_mod.LocalSlurmCluster(root=root)
    try:
        cluster.start()
    except Exception as exc:
        logs = cluster.daemon_logs()
        problems = cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise cluster_mod.ClusterError(
            f"the local SLURM cluster did not start: {exc}\n(stop problems: {problems})\n{logs}"
        ) from exc
    except BaseException:  # Ctrl-C while starting: still leave no daemons behind
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield cluster
    finally:
        problems = cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        if problems:
            raise cluster_mod.ClusterError(
                "stopping the local SLURM cluster: " + "; ".join(problems)
            )
