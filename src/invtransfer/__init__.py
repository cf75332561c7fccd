"""invtransfer: Transforms-2D datasets, models, probes and the sens metric as a Snakemake workflow."""

__version__ = "0.2.0"
