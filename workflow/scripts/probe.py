"""Shim: train linear probes on a model's cached features (invtransfer.steps.probe_features)."""

from pathlib import Path

from invtransfer.warm import run_step

run_step(
    "probe_features",
    snakemake.params.job,
    Path(snakemake.input.features),
    Path(snakemake.output[0]),
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
    log=snakemake.log[0],
)
