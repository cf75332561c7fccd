"""Shim: materialize the twin datasets of one evaluation set (invtransfer.steps.build_evalset)."""

from invtransfer.steps import build_evalset, log_to

log_to(snakemake.log[0])
build_evalset(snakemake.params.members, snakemake.output[0], threads=snakemake.threads)
