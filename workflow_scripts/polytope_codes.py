"""Snakemake script: the packed polytope codes of one model's ReLU layers."""

from pathlib import Path

from bowsflow.lenses.polytope.analysis import write_codes
from bowsflow.models.checkpoints import load_model
from bowsflow.runtime.dask_cluster import dask_scheduler
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.checked import open_dataset

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    model, _ = load_model(snakemake.input.checkpoint)
    write_codes(open_dataset(snakemake.input.activations), model, Path(snakemake.output.codes), snakemake.threads)
