"""Shim: gather per-run results into one tidy CSV (invtransfer.steps.collect_table)."""

from invtransfer.warm import run_step

run_step(
    "collect_table",
    snakemake.wildcards.table,
    snakemake.params.records,
    snakemake.output[0],
    log=snakemake.log[0],
)
