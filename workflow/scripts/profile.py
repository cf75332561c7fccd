"""Shim: the invariance profile of one model of the config's profile section (invtransfer.steps)."""

from pathlib import Path

from invtransfer.warm import run_step

run_step(
    "profile_model_job",
    snakemake.params.entry,
    snakemake.params.settings,
    Path(snakemake.output[0]),
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
    log=snakemake.log[0],
)
