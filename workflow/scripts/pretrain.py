"""Shim: pretrain one model (invtransfer.steps.pretrain_model)."""

from pathlib import Path

from invtransfer.warm import run_step

run_step(
    "pretrain_model",
    snakemake.params.job,
    Path(snakemake.input.dataset),
    Path(snakemake.output.model).parent,
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
    log=snakemake.log[0],
)
