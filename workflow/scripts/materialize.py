"""Shim: materialize one dataset (see invtransfer.steps.materialize_dataset)."""

from invtransfer.warm import run_step

run_step(
    "materialize_dataset",
    snakemake.params.spec,
    snakemake.output[0],
    threads=snakemake.threads,
    log=snakemake.log[0],
)
