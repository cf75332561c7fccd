"""Steps of the toy workflow (`Snakefile` beside this file); each rule runs one subcommand.

Rules use `shell:` (`python toy_steps.py <step> ...`) rather than `run:`: a `run:` job spawns a
whole Snakemake process locally (~1.5 s of CPU each), a plain Python call costs ~50 ms, which
keeps the local reference run short on a 2-core machine.

Every output is a pure function of the wildcards and the input bytes, so a SLURM run and a
local run must write the same bytes. Logs record where a job ran (SLURM job id, the GPU the
node lent it); those differ between runs by design and are never compared.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def digest(*parts: object) -> str:
    """A short, stable hex digest of the parts (the toy's stand-in for real computation)."""
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:16]


def write_atomic(path: str | Path, text: str) -> None:
    """Write via a temp name and `os.replace`, so a killed job never leaves a half file."""
    tmp = Path(f"{path}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _where() -> str:
    return f"SLURM_JOB_ID={os.environ.get('SLURM_JOB_ID', '<none>')}\n"


def make_shard(output: str, log: str, shard: str) -> None:
    rows = [f"{i},{digest('shard', shard, i)}" for i in range(100)]
    write_atomic(output, "index,value\n" + "\n".join(rows) + "\n")
    Path(log).write_text(f"shard {shard}: {len(rows)} rows\n{_where()}")


def train(inputs: Sequence[str], output: str, log: str) -> None:
    values = [Path(p).read_text() for p in inputs]
    write_atomic(output, f"weights\n{digest('train', *values)}\n")
    # a SLURM job asking for gpu=1 sees the GPU the node lent it
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
    Path(log).write_text(f"CUDA_VISIBLE_DEVICES={cvd}\n{_where()}")


def score(kind: str, model: str, shard_file: str, output: str, log: str, shard: str) -> None:
    """One probe (`kind="accuracy"`) or sens (`kind="sens"`) result for one shard."""
    value = int(digest(kind, Path(model).read_text(), Path(shard_file).read_text()), 16)
    write_atomic(output, f"shard,{kind}\n{shard},{value % 1000 / 1000:.3f}\n")
    Path(log).write_text(_where())


def summary(probes: Sequence[str], sens: Sequence[str], output: str, log: str) -> None:
    lines = ["shard,accuracy,sens"]
    for p, s in zip(probes, sens, strict=True):
        shard, acc = Path(p).read_text().splitlines()[1].split(",")
        lines.append(f"{shard},{acc},{Path(s).read_text().splitlines()[1].split(',')[1]}")
    write_atomic(output, "\n".join(lines) + "\n")
    Path(log).write_text(f"{len(lines) - 1} shards\n")


def flaky(
    name: str,
    output: str,
    log: str,
    mem_mb: int,
    *,
    fail_once: bool,
    fail_always: bool,
    marker_dir: Path,
) -> None:
    """Succeed, or fail with a partial output left behind, as the injection config says.

    `fail_once` fails while the marker file `marker_dir/name` is absent (and creates it), so
    only the first attempt fails. The log records `mem_mb`, which Snakemake scales with the
    attempt number: the last attempt's log shows how many attempts were made.
    """
    Path(log).write_text(f"attempt mem_mb={mem_mb}\n{_where()}")
    marker = marker_dir / name
    if fail_always or (fail_once and not marker.exists()):
        if fail_once:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("failed once\n")
        Path(output).write_text("partial\n")  # as a crash would leave it: Snakemake must remove it
        raise RuntimeError(f"injected failure in flaky job {name!r}")
    write_atomic(output, f"{name},{digest('flaky', name)}\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="toy workflow steps")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("make_shard")
    p.add_argument("output")
    p.add_argument("log")
    p.add_argument("shard")
    p = sub.add_parser("train")
    p.add_argument("output")
    p.add_argument("log")
    p.add_argument("inputs", nargs="+")
    p = sub.add_parser("score")
    p.add_argument("kind", choices=("accuracy", "sens"))
    p.add_argument("model")
    p.add_argument("shard_file")
    p.add_argument("output")
    p.add_argument("log")
    p.add_argument("shard")
    p = sub.add_parser("summary")
    p.add_argument("output")
    p.add_argument("log")
    p.add_argument("--probes", nargs="+", required=True)
    p.add_argument("--sens", nargs="+", required=True)
    p = sub.add_parser("flaky")
    p.add_argument("name")
    p.add_argument("output")
    p.add_argument("log")
    p.add_argument("mem_mb", type=int)
    p.add_argument("--fail-once", action="store_true")
    p.add_argument("--fail-always", action="store_true")
    p.add_argument("--marker-dir", type=Path, required=True)
    a = parser.parse_args(argv)
    if a.step == "make_shard":
        make_shard(a.output, a.log, a.shard)
    elif a.step == "train":
        train(a.inputs, a.output, a.log)
    elif a.step == "score":
        score(a.kind, a.model, a.shard_file, a.output, a.log, a.shard)
    elif a.step == "summary":
        summary(a.probes, a.sens, a.output, a.log)
    else:
        try:
            flaky(
                a.name,
                a.output,
                a.log,
                a.mem_mb,
                fail_once=a.fail_once,
                fail_always=a.fail_always,
                marker_dir=a.marker_dir,
            )
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            raise SystemExit(1) from None


if __name__ == "__main__":
    main()
