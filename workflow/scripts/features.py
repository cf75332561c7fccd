"""Shim: cache the penultimate features of a frozen model on its target datasets (invtransfer.steps)."""

from pathlib import Path

from invtransfer.warm import run_step

run_step(
    "extract_features",
    Path(snakemake.input.model),
    [Path(p) for p in snakemake.input.datasets],
    Path(snakemake.output[0]),
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
    log=snakemake.log[0],
)
