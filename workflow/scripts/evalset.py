"""Shim: materialize the twin datasets of one evaluation set (invtransfer.steps.build_evalset)."""

from invtransfer.warm import run_step

run_step(
    "build_evalset",
    snakemake.params.members,
    snakemake.output[0],
    threads=snakemake.threads,
    log=snakemake.log[0],
)
