"""Shim: cache the penultimate features of a frozen model on its target datasets (invtransfer.steps)."""

from pathlib import Path

from invtransfer.steps import extract_features, log_to

log_to(snakemake.log[0])
extract_features(
    Path(snakemake.input.model),
    [Path(p) for p in snakemake.input.datasets],
    Path(snakemake.output[0]),
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
)
