"""Shim: materialize one dataset (see invtransfer.steps.materialize_dataset)."""

from invtransfer.steps import log_to, materialize_dataset

log_to(snakemake.log[0])
materialize_dataset(snakemake.params.spec, snakemake.output[0], threads=snakemake.threads)
