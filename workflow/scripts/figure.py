"""Shim: draw one of the paper's figures from tidy tables (invtransfer.steps.make_figure)."""

from invtransfer.steps import log_to, make_figure

log_to(snakemake.log[0])
make_figure(
    snakemake.wildcards.artifact,
    list(snakemake.input),
    snakemake.output.pdf,
    notes=snakemake.params.notes,
    config=snakemake.params.config,
)
