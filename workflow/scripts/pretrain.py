"""Shim: pretrain one model (invtransfer.steps.pretrain_model)."""

from pathlib import Path

from invtransfer.steps import log_to, pretrain_model

log_to(snakemake.log[0])
pretrain_model(
    snakemake.params.job,
    Path(snakemake.input.dataset),
    Path(snakemake.output.model).parent,
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
)
