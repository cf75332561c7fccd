"""Shim: verify the object and background sources once (invtransfer.steps.check_assets)."""

from invtransfer.steps import check_assets, log_to

log_to(snakemake.log[0])
check_assets(snakemake.params.objects, snakemake.params.backgrounds, snakemake.output[0])
