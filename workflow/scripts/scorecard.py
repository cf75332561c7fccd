"""Shim: tables/scorecard.md — the paper's numbers beside ours (invtransfer.steps.make_table)."""

from invtransfer.warm import run_step

run_step(
    "make_table",
    "scorecard",
    list(snakemake.input),
    snakemake.output.md,
    notes=snakemake.params.notes,
    config=snakemake.params.config,
    log=snakemake.log[0],
)
