"""Shim: cache the penultimate features of a frozen model on a dataset (invtransfer.steps)."""

from pathlib import Path

from invtransfer.steps import extract_features, log_to

log_to(snakemake.log[0])
extract_features(
    Path(snakemake.input.model),
    Path(snakemake.input.dataset),
    Path(snakemake.output[0]),
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
)
