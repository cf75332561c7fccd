"""Shim: write one of the paper's tables (md, tex, csv) from tidy tables (invtransfer.steps)."""

from invtransfer.steps import log_to, make_table

log_to(snakemake.log[0])
make_table(
    snakemake.wildcards.artifact,
    list(snakemake.input),
    snakemake.output.md,
    notes=snakemake.params.notes,
    config=snakemake.params.config,
)
