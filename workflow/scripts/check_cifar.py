"""Shim: check (or, when configured, fetch) one CIFAR release (invtransfer.steps.check_cifar)."""

from invtransfer.warm import run_step

run_step(
    "check_cifar",
    snakemake.params.root,
    snakemake.wildcards.cifar,
    download=snakemake.params.download,
    out=snakemake.output[0],
    log=snakemake.log[0],
)
