"""Shim: every profiled model in one table and figure (invtransfer.steps)."""

from pathlib import Path

from invtransfer.warm import run_step

run_step(
    "profile_summary",
    [Path(p) for p in snakemake.input],
    table=Path(snakemake.output.table),
    curves=Path(snakemake.output.curves),
    figure=Path(snakemake.output.pdf).with_suffix(""),
    log=snakemake.log[0],
)
