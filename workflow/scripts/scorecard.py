"""Shim: tables/scorecard.md — the paper's numbers beside ours (invtransfer.steps.make_table)."""

from invtransfer.steps import log_to, make_table

log_to(snakemake.log[0])
make_table(
    "scorecard",
    list(snakemake.input),
    snakemake.output.md,
    notes=snakemake.params.notes,
    config=snakemake.params.config,
)
