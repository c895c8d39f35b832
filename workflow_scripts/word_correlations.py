"""Snakemake script: Pearson correlations and frequencies of a corpus' word indicators."""

from bowsflow.data.correlations import write_correlations
from bowsflow.runtime.dask_cluster import dask_scheduler
from bowsflow.runtime.script_logging import log_to_file

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    write_correlations(snakemake.input.store, snakemake.output.store, threads=snakemake.threads)
