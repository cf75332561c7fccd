"""Shim: fully fine-tune one probed model on its target data (invtransfer.steps.finetune_model)."""

from pathlib import Path

from invtransfer.warm import run_step

run_step(
    "finetune_model",
    snakemake.params.job,
    Path(snakemake.input.model),
    Path(snakemake.input.probes),
    Path(snakemake.input.dataset),
    [Path(p) for p in snakemake.output.metrics],
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
    log=snakemake.log[0],
)
