"""Shim: draw one of the paper's figures from tidy tables (invtransfer.steps.make_figure)."""

from invtransfer.warm import run_step

run_step(
    "make_figure",
    snakemake.wildcards.artifact,
    list(snakemake.input),
    snakemake.output.pdf,
    notes=snakemake.params.notes,
    config=snakemake.params.config,
    log=snakemake.log[0],
)
