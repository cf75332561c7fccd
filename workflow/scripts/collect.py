"""Shim: gather per-run results into one tidy CSV (invtransfer.steps.collect_table)."""

from invtransfer.steps import collect_table, log_to

log_to(snakemake.log[0])
collect_table(snakemake.wildcards.table, snakemake.params.records, snakemake.output[0])
