"""Shim: an example-image figure (Fig 1, 5, 6, 15) from dataset specs (invtransfer.steps)."""

from invtransfer.steps import log_to, make_example_figure

log_to(snakemake.log[0])
make_example_figure(snakemake.wildcards.example, snakemake.params.panels, snakemake.output.pdf)
