"""Shim: write one of the paper's tables (md, tex, csv) from tidy tables (invtransfer.steps)."""

from invtransfer.warm import run_step

run_step(
    "make_table",
    snakemake.wildcards.artifact,
    list(snakemake.input),
    snakemake.output.md,
    notes=snakemake.params.notes,
    config=snakemake.params.config,
    log=snakemake.log[0],
)
