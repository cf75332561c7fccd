"""Shim: sens (paper Eq. 1) of one model on its evaluation pairs (invtransfer.steps.sens_model)."""

from pathlib import Path

from invtransfer.steps import log_to, sens_model

log_to(snakemake.log[0])
sens_model(
    snakemake.params.job,
    Path(snakemake.input.model),
    Path(snakemake.output[0]),
    sens=snakemake.params.sens,
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
)
