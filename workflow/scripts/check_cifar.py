"""Shim: check (or, when configured, fetch) one CIFAR release (invtransfer.steps.check_cifar)."""

from invtransfer.steps import check_cifar, log_to

log_to(snakemake.log[0])
check_cifar(
    snakemake.params.root,
    snakemake.wildcards.cifar,
    download=snakemake.params.download,
    out=snakemake.output[0],
)
