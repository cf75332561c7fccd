"""Faults and bad inputs (issue 14): killed writers, full and read-only disks, corrupt or
foreign artifacts, and the one command every integrity error gives.

Each test injects one fault or bad input and asserts the clear outcome: detected, named, nothing
half-written left, and (where an artifact is broken) a command that rebuilds it. The workflow
test that follows the advice literally is ``tests/test_recovery_workflow.py``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from invtransfer import io as iox
from invtransfer import recovery, steps
from invtransfer.checkpoint import (
    load_model,
    rebuild_advice,
    save_model,
    save_torch_file,
    verify_torch_file,
)
from invtransfer.cli import main as cli_main
from invtransfer.datasets import load_split, materialize, read_manifest, verify
from invtransfer.datasets import store as store_mod
from invtransfer.errors import CheckpointError, DatasetIntegrityError, NoSpaceError, WriteError
from invtransfer.features import extract_features, load_features, read_features_manifest
from invtransfer.io import (
    atomic_dir,
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    remove_stale_temps,
    save_npy,
    sha256_file,
    temp_owner,
)
from invtransfer.models import build_model
from invtransfer.pretraining import pretrain

SPEC = {
    "kind": "random",
    "objects": {"count": 4},
    "transforms": ["rotate"],
    "splits": {"train": 40, "val": 12, "test": 12},
    "shard_size": 16,
}
OPTIONS = ["--profile", "profiles/tiny", "--configfile", "my run.yaml"]
DEV_FULL = "/dev/full"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _no_run_options(monkeypatch):
    """Tests start outside any Snakemake run (no announced options) unless they set them."""
    monkeypatch.delenv(recovery.ENV_OPTIONS, raising=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small dataset inside a workflow layout: results/datasets/<name>/ (4 shards + val/test)."""
    root = tmp_path_factory.mktemp("wf")
    from invtransfer.datasets import dataset_name

    folder = root / "results" / "datasets" / dataset_name(SPEC)
    materialize(SPEC, folder, threads=1, progress=False)
    return folder


@pytest.fixture
def dataset(built, tmp_path):
    """A private copy of ``built`` at the same relative place (results/datasets/<name>)."""
    target = tmp_path / "results" / "datasets" / built.name
    shutil.copytree(built, target)
    return target


def _files(folder: Path, skip=("build.json",)) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in skip}


def _python(script: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env
    )


def _wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 120.0) -> None:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=1.0):
            line = proc.stdout.readline()
            if line.strip() == expected:
                return
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise AssertionError(f"the writer process never said {expected!r} (exit {proc.poll()})")


def _kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# ==============================================================================================
# item 2: kill -9 leaves temporaries; the next write removes those of dead writers only
# ==============================================================================================
KILLED_BUILD = """
import json, sys, time
from invtransfer.datasets import materialize, store
real = store.DatasetWriter._flush
def flush(self):
    real(self)
    if len(self.shards) == 2:
        print("two shards written", flush=True)
        time.sleep(600)
store.DatasetWriter._flush = flush
materialize(json.loads(sys.argv[1]), sys.argv[2], threads=1, progress=False)
"""


def test_a_killed_dataset_build_leaves_a_temp_folder_that_the_next_build_removes(built, tmp_path):
    out = tmp_path / "results" / "datasets" / built.name
    proc = _python(KILLED_BUILD, json.dumps(SPEC), str(out))
    _wait_for_line(proc, "two shards written")
    _kill9(proc)
    leftovers = list(out.parent.glob(f".tmp-{out.name}.*"))
    assert len(leftovers) == 1 and not out.exists()
    assert temp_owner(leftovers[0], out.name) == (proc.pid, socket.gethostname())
    assert sorted(p.name for p in leftovers[0].iterdir()) == [
        "images-00000.npy", "images-00001.npy", "samples.parquet"
    ]  # fmt: skip

    materialize(SPEC, out, threads=1, progress=False)
    assert list(out.parent.iterdir()) == [out]  # the dead build's folder is gone
    verify(out)
    assert _files(out) == _files(built)  # and the rebuild is the clean build, byte for byte


HOLD_DIR = """
import sys, time
from invtransfer.io import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "part").write_text("in progress")
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_live_writers_temp_is_never_removed(tmp_path):
    target = tmp_path / "results" / "datasets" / "d"
    live = _python(HOLD_DIR, str(target))
    try:
        _wait_for_line(live, "holding")
        (theirs,) = target.parent.glob(".tmp-d.*")
        with atomic_dir(target) as tmp:
            (tmp / "mine").write_text("done")
        assert theirs.is_dir() and (theirs / "part").read_text() == "in progress"
        assert (target / "mine").read_text() == "done"
    finally:
        _kill9(live)
    assert remove_stale_temps(target) == [theirs]  # dead now: removed at the next write
    assert sorted(p.name for p in target.parent.iterdir()) == ["d"]


HOLD_FILE = """
import sys, time
from invtransfer.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a model")
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_killed_model_write_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    path = tmp_path / "results" / "models" / "m" / "model.pt"
    proc = _python(HOLD_FILE, str(path))
    _wait_for_line(proc, "holding")
    _kill9(proc)
    (left,) = path.parent.glob(".tmp-model.pt.*")
    assert left.read_bytes() == b"half a model" and not path.exists()
    model = build_model("cnn4", 3, seed=0, width=4)
    save_model(path, model)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt", "model.pt.sha256"]
    assert load_model(path).num_classes == 3


def test_a_reused_pid_does_not_keep_a_dead_writers_temp(tmp_path, caplog):
    target = tmp_path / "art.json"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        host = iox._host()
        old = tmp_path / f".tmp-art.json.{sleeper.pid}@{host}.abcd1234"
        fresh = tmp_path / f".tmp-art.json.{sleeper.pid}@{host}.efgh5678"
        other_host = tmp_path / ".tmp-art.json.1@some-other-node.ijkl9012"
        legacy = tmp_path / ".tmp-art.json.mnop3456"  # no writer id: an older version's
        unrelated = tmp_path / f".tmp-art.json.sha256.{sleeper.pid}@{host}.qrst7890"
        for p in (old, fresh, other_host, legacy, unrelated):
            p.write_text("x")
        hour_ago = time.time() - 3600
        os.utime(old, (hour_ago, hour_ago))  # written before the live process with its pid began
        with caplog.at_level(logging.INFO, logger="invtransfer.io"):
            atomic_write_json(target, {"a": 1})
        assert not old.exists()  # pid reused by a later process: its writer is dead
        assert fresh.exists()  # could be the live writer: kept
        assert other_host.exists() and legacy.exists() and unrelated.exists()
        messages = caplog.text
        assert "some-other-node" in messages and "remove it by hand" in messages
        assert "without a writer id" in messages and str(legacy) in messages
    finally:
        sleeper.kill()
        sleeper.wait()
    assert json.loads(target.read_text()) == {"a": 1}


# ==============================================================================================
# item 3: a full disk says "no space left on <path>", for every writer kind, nothing half-written
# ==============================================================================================
def _is_dev_full() -> bool:
    return os.path.exists(DEV_FULL) and stat.S_ISCHR(os.stat(DEV_FULL).st_mode)


def _link_to_dev_full(name: str | os.PathLike[str]) -> str:
    """Make ``name`` a symbolic link to /dev/full. Libraries are only ever given the link, never
    /dev/full itself: some delete their output on failure (pyarrow's write_table does)."""
    os.symlink(DEV_FULL, name)
    return os.fspath(name)


def _temps_on_full_disk(monkeypatch) -> None:
    """Every temporary file the package creates (``io``'s ``mkstemp``) is a link to /dev/full."""
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        os.close(fd)
        os.unlink(name)
        return os.open(_link_to_dev_full(name), os.O_WRONLY), name

    monkeypatch.setattr(iox.tempfile, "mkstemp", mkstemp)


def _parquet_on_full_disk(monkeypatch) -> None:
    """Every Parquet file the dataset store writes (samples.parquet) is a link to /dev/full."""
    real_writer = pq.ParquetWriter
    monkeypatch.setattr(
        store_mod.pq,
        "ParquetWriter",
        lambda where, *a, **kw: real_writer(_link_to_dev_full(where), *a, **kw),
    )


@pytest.fixture
def full_disk(monkeypatch):
    """Every temporary file the package creates, and samples.parquet, is a link to /dev/full:
    writes into it fail with the kernel's ENOSPC, through numpy, torch, json and Arrow alike."""
    assert _is_dev_full(), "needs Linux's /dev/full character device"
    _temps_on_full_disk(monkeypatch)
    _parquet_on_full_disk(monkeypatch)
    yield
    assert _is_dev_full()


def _nothing_left(folder: Path, keep: set[str] = frozenset()) -> None:
    assert {p.name for p in folder.iterdir()} == set(keep)


@pytest.mark.parametrize(
    "kind, write, needed",
    [
        ("npy", lambda p: save_npy(p, np.zeros((10, 8, 8, 3), np.uint8)), 128 + 1920),
        ("json", lambda p: atomic_write_json(p, {"k": list(range(5))}), None),
        ("text", lambda p: atomic_write_text(p, "a,b\n1,2\n"), 8),
        ("torch", lambda p: save_torch_file(p, {"w": torch.zeros(1000)}), None),
    ],
)
def test_a_full_disk_names_the_file_for_each_writer(full_disk, tmp_path, kind, write, needed):
    path = tmp_path / "out" / f"artifact.{kind}"
    with pytest.raises(NoSpaceError) as info:
        write(path)
    message = str(info.value)
    assert message.startswith(f"no space left on {iox._mount_point(tmp_path)} while writing {path}")
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    if kind == "json":
        needed = len(json.dumps({"k": list(range(5))}, indent=2, sort_keys=True)) + 1
    if needed is not None:
        assert f"the write needed {needed} bytes" in message and info.value.needed == needed
    assert "nothing was written under that name" in message
    _nothing_left(path.parent)  # no temp, no record, no partial file


def test_a_full_disk_during_a_dataset_build_names_the_folder(full_disk, tmp_path):
    out = tmp_path / "results" / "datasets" / "d"
    with pytest.raises(
        NoSpaceError,
        match=rf"no space left on .* while writing {out} \(at images-00000\.npy\): the write needed 49280 bytes",
    ):
        materialize(SPEC, out, threads=1, progress=False)
    _nothing_left(out.parent)


def test_a_full_disk_while_writing_parquet_names_the_dataset(tmp_path, monkeypatch):
    assert _is_dev_full()
    _parquet_on_full_disk(monkeypatch)
    out = tmp_path / "results" / "datasets" / "d"
    with pytest.raises(NoSpaceError, match=rf"no space left on .* while writing {out}:"):
        materialize(SPEC, out, threads=1, progress=False)
    _nothing_left(out.parent)


def test_an_update_that_hits_a_full_disk_keeps_the_previous_model(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    old = build_model("cnn4", 3, seed=0, width=4)
    save_model(path, old)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert _is_dev_full()
    _temps_on_full_disk(monkeypatch)
    with pytest.raises(NoSpaceError, match=rf"while writing {path}"):
        save_model(path, build_model("cnn4", 3, seed=1, width=4))
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    loaded = load_model(path)
    pairs = zip(loaded.state_dict().values(), old.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_numpys_short_write_message_is_read_as_a_full_disk(tmp_path, monkeypatch):
    """What numpy's C writer says on a full disk ("N requested and M written", no errno)."""
    monkeypatch.setattr(iox, "_free_bytes", lambda path: 335744)
    path = tmp_path / "images-00000.npy"
    with pytest.raises(NoSpaceError) as info, atomic_path(path) as tmp:
        tmp.write_bytes(b"x" * 10)
        raise OSError("614400 requested and 335744 written")
    assert str(info.value).startswith(f"no space left on {iox._mount_point(tmp_path)} while "
                                      f"writing {path}: the write needed 614400 bytes (600.0 KiB), "
                                      "335744 bytes (327.9 KiB) are free there")  # fmt: skip
    _nothing_left(tmp_path)


def test_torchs_inline_container_error_is_read_as_a_full_disk(tmp_path):
    """torch reports a failed write as ``RuntimeError: [enforce fail at inline_container.cc]``
    with the ENOSPC in its context; through a real /dev/full handle."""
    assert _is_dev_full()
    path = tmp_path / "head.pt"
    full = rf"no space left on .* while writing {path}"
    with pytest.raises(NoSpaceError, match=full), atomic_path(path), open(DEV_FULL, "wb") as fh:
        torch.save({"w": torch.zeros(200_000)}, fh)
    _nothing_left(tmp_path)


def test_a_quota_is_named_as_such(tmp_path):
    path = tmp_path / "metrics.json"
    quota = rf"disk quota exceeded on .* while writing {path}"
    with pytest.raises(NoSpaceError, match=quota), atomic_path(path):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    _nothing_left(tmp_path)


def test_a_read_only_results_folder_is_named(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", kwargs.get("dir"))

    monkeypatch.setattr(iox.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(iox.tempfile, "mkdtemp", read_only)
    folder = tmp_path / "results" / "models" / "m"
    for write in (
        lambda: save_model(folder / "model.pt", build_model("cnn4", 3, seed=0, width=4)),
        lambda: materialize(SPEC, tmp_path / "results" / "datasets" / "d", progress=False),
    ):
        with pytest.raises(WriteError, match=r"cannot write .*: .* is on a read-only filesystem"):
            write()
    assert not any(p.is_file() for p in (tmp_path / "results").rglob("*"))


def test_an_error_about_another_file_is_not_a_write_error(tmp_path):
    """An input that cannot be read inside a write (a photo without permission) keeps its own
    error; only errors about the output or its folder become WriteError/NoSpaceError."""
    elsewhere = tmp_path / "assets" / "photo.png"
    for error in (
        PermissionError(errno.EACCES, "Permission denied", str(elsewhere)),
        OSError(errno.ENOSPC, "No space left on device", str(elsewhere)),
    ):
        with pytest.raises(OSError) as info, atomic_dir(tmp_path / "results" / "datasets" / "d"):
            raise error
        assert info.value is error and not isinstance(info.value, WriteError)
        _nothing_left(tmp_path / "results" / "datasets")


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(tempfile.mkdtemp())
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0  # fmt: skip
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


@contextlib.contextmanager
def _tmpfs(where: Path, options: str):
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.mark.skipif(not _can_mount(), reason="needs root and permission to mount a tmpfs")
def test_real_full_and_read_only_filesystems(tmp_path):
    """The same faults on real filesystems: a 256 KiB tmpfs fills up during a dataset build
    (numpy would have said "N requested and M written"), and a read-only tmpfs."""
    with _tmpfs(tmp_path / "small", "size=256k") as small:
        out = small / "results" / "datasets" / "d"
        spec = {**SPEC, "splits": {"train": 400}, "shard_size": 200}
        with pytest.raises(NoSpaceError, match=rf"no space left on {small} while writing {out}"):
            materialize(spec, out, threads=1, progress=False)
        assert list(out.parent.iterdir()) == []
        with pytest.raises(NoSpaceError, match=rf"no space left on {small} while writing"):
            save_torch_file(small / "big.pt", {"w": torch.zeros(200_000)})
        assert sorted(p.name for p in small.iterdir()) == ["results"]
    read_only = rf"cannot write {tmp_path}/ro/m.json: {tmp_path}/ro is on a read-only"
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as ro, pytest.raises(WriteError, match=read_only):
        atomic_write_json(ro / "m.json", {})


# ==============================================================================================
# item 1 (rest): every integrity error gives one command, and inspect lists every bad file
# ==============================================================================================
def test_inspect_and_verify_report_every_bad_shard(dataset, capsys):
    shards = [s["file"] for s in read_manifest(dataset)["shards"]]
    assert len(shards) == 5
    flipped = dataset / shards[0]
    raw = bytearray(flipped.read_bytes())
    raw[-1] ^= 0x01
    flipped.write_bytes(bytes(raw))
    truncated = dataset / shards[3]
    truncated.write_bytes(truncated.read_bytes()[:-7])
    command = f"snakemake --force results/datasets/{dataset.name}"

    assert cli_main(["inspect", str(dataset)]) == 1
    out = capsys.readouterr().out
    assert f"checksums: FAILED for 2 file(s): {shards[0]}, {shards[3]}" in out
    assert f"  {shards[0]}: SHA-256 differs from the manifest (the file was altered)" in out
    assert f"  {shards[3]}: truncated (" in out
    assert out.count(command) == 1  # one fix line for the dataset
    with pytest.raises(DatasetIntegrityError) as info:
        verify(dataset)
    message = str(info.value)
    assert message.startswith(f"dataset {dataset}: 2 bad files: {flipped}: SHA-256 differs")
    assert f"{truncated}: truncated" in message and message.count(command) == 1


def test_inspect_of_an_evaluation_set_names_bad_member_files(dataset, tmp_path, capsys):
    evalset = tmp_path / "results" / "evalsets" / "e"
    (evalset).mkdir(parents=True)
    shutil.copytree(dataset, evalset / "rotate")
    shutil.copytree(dataset, evalset / "none")
    (evalset / "manifest.json").write_text(json.dumps({"members": ["none", "rotate"]}))
    (evalset / "rotate" / "samples.parquet").unlink()
    assert cli_main(["inspect", str(evalset)]) == 1
    out = capsys.readouterr().out
    assert "  none: " in out and "checksums: OK" in out
    assert "    samples.parquet: missing" in out
    assert out.rstrip().endswith("fix: rebuild it with: snakemake --force results/evalsets/e (add "
                                 "the --profile/--configfile options of your run), then rerun "
                                 "your usual command to refresh what depends on it")  # fmt: skip
    with pytest.raises(DatasetIntegrityError, match=r"--force results/evalsets/e "):
        load_split(evalset / "rotate", "test")


def test_every_integrity_error_gives_the_command_with_the_runs_options(tmp_path, monkeypatch):
    monkeypatch.setenv(recovery.ENV_OPTIONS, json.dumps(OPTIONS))
    opts = "--profile profiles/tiny --configfile 'my run.yaml'"
    root = tmp_path / "results"
    cases = {
        root / "datasets/D/images-00003.npy": "results/datasets/D",
        root / "datasets/D/samples.parquet": "results/datasets/D",
        root / "datasets/D/manifest.json": "results/datasets/D",
        root / "evalsets/E/rotate/images-00000.npy": "results/evalsets/E",
        root / "features/M/D/train.npy": "results/features/M",
        root / "models/M/model.pt": "results/models/M/model.pt",
        root / "probes/M/D/head.pt": "results/probes/M",
        root / "finetune/M/D/ft-low/model.pt": "results/finetune/M/D/ft-low/metrics.json",
        root / "sens/G/m.csv": "results/sens/G",
    }
    for path, target in cases.items():
        advice = rebuild_advice(path)
        assert advice == (
            f"rebuild it with: snakemake {opts} --force {target}, then rerun your usual command "
            "to refresh what depends on it"
        ), path
        assert shlex.split(advice.split(": ", 1)[1].split(",")[0]) == [
            "snakemake", *OPTIONS, "--force", target
        ]  # fmt: skip


def test_announced_options_are_the_runs_config_options_only():
    argv0 = "/venv/lib/python3.11/site-packages/snakemake/__main__.py"
    full = (
        "-n --profile p --configfile a.yaml b.yaml --config seeds=1 --forcerun pretrain -d /w "
        "-c 4 tables/table2.md"
    )
    kept = "--profile p --directory /w --configfile a.yaml b.yaml --config seeds=1 --cores 4"
    cases = [
        (["--profile", "profiles/tiny", "figures/fig2.pdf"], ["--profile", "profiles/tiny"]),
        (full.split(), kept.split()),
        ([], []),
    ]
    for argv, expected in cases:
        assert recovery.snakemake_options(argv) == expected
        env = dict(os.environ)
        try:
            assert recovery.announce_run_options([argv0, *argv]) == expected
            assert recovery.run_options() == expected
        finally:
            os.environ.clear()
            os.environ.update(env)
    assert recovery.announce_run_options(["pytest", "-x"]) is None  # not a Snakemake process


def test_a_dataset_outside_the_workflow_is_rebuilt_by_the_command_it_names(built, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(built, folder)
    (folder / "images-00001.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DatasetIntegrityError) as info:
        load_split(folder, "train")
    command = str(info.value).split("rebuild it with: ", 1)[1]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "invtransfer"]
    assert cli_main(argv[3:]) == 0  # run literally, as `python -m invtransfer ...`
    verify(folder)
    assert _files(folder) == _files(built)


# ==============================================================================================
# item 5: bad inputs
# ==============================================================================================
def test_a_shard_with_the_right_size_but_another_dtype(dataset):
    path = dataset / "images-00000.npy"
    raw = path.read_bytes()
    assert b"'descr': '|u1'" in raw
    path.write_bytes(raw.replace(b"'descr': '|u1'", b"'descr': '|i1'", 1))
    assert path.stat().st_size == len(raw)
    for check in (lambda: load_split(dataset, "train", verify=False), lambda: verify(dataset)):
        with pytest.raises(DatasetIntegrityError, match=r"images-00000\.npy: holds int8 \(16, 32, "
                           r"32, 3\), the manifest says uint8 .*--force results/datasets/"):  # fmt: skip
            check()


def test_a_dataset_folder_without_samples_parquet(dataset, capsys):
    (dataset / "samples.parquet").unlink()
    with pytest.raises(DatasetIntegrityError, match=r"samples\.parquet: missing; rebuild it with"):
        load_split(dataset, "val")
    assert cli_main(["inspect", str(dataset)]) == 1
    out = capsys.readouterr().out
    assert "checksums: FAILED for 1 file(s): samples.parquet" in out
    assert "  samples.parquet: missing" in out


def test_a_dataset_folder_copied_into_anothers_place(built, tmp_path):
    other = tmp_path / "results" / "datasets" / "random-none-train40-s9-0123456789"
    shutil.copytree(built, other)
    with pytest.raises(DatasetIntegrityError, match=rf"holds dataset '{built.name}', not "
                       rf"'{other.name}' .*--force results/datasets/{other.name}"):  # fmt: skip
        load_split(other, "train")


def test_a_dataset_path_that_is_a_file(tmp_path):
    path = tmp_path / "results" / "datasets" / "d"
    path.parent.mkdir(parents=True)
    path.write_text("not a folder")
    with pytest.raises(DatasetIntegrityError, match=r"d is a file, not a dataset folder"):
        read_manifest(path)


def test_a_truncated_or_foreign_sha256_record(tmp_path):
    path = tmp_path / "results" / "models" / "m" / "model.pt"
    save_model(path, build_model("cnn4", 3, seed=0, width=4))
    record = path.with_name("model.pt.sha256")
    good = record.read_text()
    command = "snakemake --force results/models/m/model.pt"
    for text, problem in (
        (good[:20], "is malformed: line 1 is not '<64 hex digits>  model.pt' (truncated or edited)"),
        ("", "is empty (truncated)"),
        (good.replace("model.pt", "head.pt"), "is the record of another file: line 1 names "
         "'head.pt', not 'model.pt'"),
    ):  # fmt: skip
        record.write_text(text)
        with pytest.raises(CheckpointError) as info:
            load_model(path)
        assert f"its SHA-256 record model.pt.sha256 {problem}, so the file cannot be verified" in (
            str(info.value)
        ) and command in str(info.value)
    record.write_text(good)
    verify_torch_file(path)


def test_a_model_file_of_another_architecture_copied_with_its_record(tmp_path, capsys):
    folder = tmp_path / "results" / "models" / "cnn4--d--abc123"
    model = build_model("cnn4", 3, seed=0, width=4)
    save_model(folder / "model.pt", model)
    (folder / "metrics.json").write_text(json.dumps(
        {"arch": "cnn4", "arch_kwargs": model.arch_kwargs, "num_classes": 3}))  # fmt: skip
    assert cli_main(["inspect", str(folder)]) == 0
    capsys.readouterr()
    other = tmp_path / "elsewhere"
    save_model(other / "model.pt", build_model("resnet18_w", 3, seed=0, width=4))
    for name in ("model.pt", "model.pt.sha256"):
        shutil.copy(other / name, folder / name)
    verify_torch_file(folder / "model.pt")  # its own record: the checksum alone cannot tell
    assert cli_main(["inspect", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "checksums: FAILED for 1 of 1: model.pt" in out
    assert "holds arch 'resnet18_w' (metrics.json: 'cnn4')" in out
    assert "snakemake --force results/models/cnn4--d--abc123/model.pt" in out
    with pytest.raises(CheckpointError, match="holds 'resnet18_w', expected 'cnn4'"):
        load_model(folder / "model.pt", arch="cnn4")


@pytest.fixture
def features_of(built, tmp_path):
    """results/features/<model>/<dataset>/ of a tiny model on ``built``."""
    models = tmp_path / "results" / "models"
    for name, seed in (("m-a", 0), ("m-b", 1)):
        save_model(models / name / "model.pt", build_model("cnn4", 4, seed=seed, width=4))
    out = tmp_path / "results" / "features"
    for name in ("m-a", "m-b"):
        extract_features(models / name / "model.pt", built, out / name / built.name, device="cpu")
    return out


def test_a_feature_cache_of_another_model(features_of, built, tmp_path):
    target = features_of / "m-a" / built.name
    shutil.rmtree(target)
    shutil.copytree(features_of / "m-b" / built.name, target)  # m-b's features in m-a's place
    load_features(target, "train")  # intact files: the checksums cannot tell
    with pytest.raises(DatasetIntegrityError, match=r"holds the features of model '.*/m-b/model"
                       r"\.pt', not of 'm-a'; rebuild it with: snakemake --force results/"
                       r"features/m-a "):  # fmt: skip
        read_features_manifest(target, model="m-a", dataset=built.name)
    job = {"model": "m-a", "datasets": [built.name], "epochs": 1, "batch_size": 8, "lr": 0.01,
           "seed": 0}  # fmt: skip
    with pytest.raises(DatasetIntegrityError, match="holds the features of model"):
        steps.probe_features(job, features_of / "m-a", tmp_path / "results" / "probes" / "m-a",
                             runtime={"device": "cpu"})  # fmt: skip
    assert not (tmp_path / "results" / "probes").exists()


def test_a_corrupt_feature_cache(features_of, built):
    cache = features_of / "m-a" / built.name
    command = "snakemake --force results/features/m-a "
    (cache / "labels-val.npy").write_bytes(b"")
    with pytest.raises(DatasetIntegrityError, match=r"labels-val\.npy: SHA-256 differs") as info:
        load_features(cache, "val")
    assert command in str(info.value)
    (cache / "manifest.json").write_text('{"format": ')
    with pytest.raises(DatasetIntegrityError, match=r"manifest\.json: unreadable") as info:
        load_features(cache, "train")
    assert command in str(info.value)


# ==============================================================================================
# item 4: identical builds are identical artifacts
# ==============================================================================================
def test_identical_builds_give_identical_folders_and_provenance(built, tmp_path):
    folder = tmp_path / "results" / "datasets" / built.name
    materialize(SPEC, folder, chunk_size=7, threads=1, progress=False)
    first = _files(folder, skip=())
    train = {"arch": "cnn4", "arch_kwargs": {"width": 4}, "epochs": 1, "batch_size": 16,
             "device": "cpu"}  # fmt: skip
    metrics_a = pretrain(folder, tmp_path / "a", **train)
    materialize(SPEC, folder, chunk_size=32, threads=2, progress=False)  # a rebuild, in place
    second = _files(folder, skip=())
    assert first.keys() == second.keys() and "build.json" in first
    assert [k for k in first if first[k] != second[k]] == ["build.json"]
    assert json.loads(first["build.json"])["chunk_size"] == 7
    assert _files(folder) == _files(built)  # and equal to the build in another place
    manifest = json.loads(second["manifest.json"])
    assert not {"wall_time_s", "images_per_s", "workers", "chunk_size", "host"} & set(manifest)

    metrics_b = pretrain(folder, tmp_path / "b", **train)
    assert metrics_a["dataset"] == metrics_b["dataset"]
    assert metrics_a["dataset"]["manifest_sha256"] == sha256_file(folder / "manifest.json")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    on_disk = [json.loads((tmp_path / r / "metrics.json").read_text())["dataset"] for r in "ab"]
    assert on_disk[0] == on_disk[1]


def test_evaluation_set_manifest_has_no_timings(tmp_path):
    out = tmp_path / "results" / "evalsets" / "e"
    members = {"none": {**SPEC, "transforms": [], "splits": {"test": 8}}}
    steps.build_evalset(members, out)
    assert json.loads((out / "manifest.json").read_text()) == {"members": ["none"]}
    assert json.loads((out / "build.json").read_text())["wall_time_s"] >= 0
    assert pd.read_parquet(out / "none" / "samples.parquet")["split"].tolist() == ["test"] * 8
