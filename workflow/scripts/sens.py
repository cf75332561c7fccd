"""Shim: sens (paper Eq. 1) of a group of models on their evaluation pairs (invtransfer.steps)."""

from pathlib import Path

from invtransfer.warm import run_step

run_step(
    "sens_models",
    snakemake.params.job,
    [Path(p) for p in snakemake.input.models],
    [Path(p) for p in snakemake.input.evalsets],
    Path(snakemake.output[0]),
    sens=snakemake.params.sens,
    threads=snakemake.threads,
    runtime=snakemake.params.runtime,
    log=snakemake.log[0],
)
