"""Shim: an example-image figure (Fig 1, 5, 6, 15) from dataset specs (invtransfer.steps)."""

from invtransfer.warm import run_step

run_step(
    "make_example_figure",
    snakemake.wildcards.example,
    snakemake.params.panels,
    snakemake.output.pdf,
    log=snakemake.log[0],
)
