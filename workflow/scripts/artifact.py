"""Shim: draw one paper artifact — figure, table, example figure or the scorecard — from its tidy
tables and the settings the registry derived from the config (invtransfer.steps.make_artifact)."""

from invtransfer.warm import run_step

run_step(
    "make_artifact",
    snakemake.params.artifact,
    list(snakemake.input.get("tables", [])),
    snakemake.output[0],
    settings=snakemake.params.settings,
    log=snakemake.log[0],
)
