"""Shim: verify the object and background sources once (invtransfer.steps.check_assets)."""

from invtransfer.warm import run_step

run_step(
    "check_assets",
    snakemake.params.objects,
    snakemake.params.backgrounds,
    snakemake.output[0],
    log=snakemake.log[0],
)
