"""Shim: train linear probes on a model's cached features (invtransfer.steps.probe_features)."""

from pathlib import Path

from invtransfer.steps import log_to, probe_features

log_to(snakemake.log[0])
probe_features(
    snakemake.params.job,
    Path(snakemake.input.features),
    Path(snakemake.output[0]),
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
)
