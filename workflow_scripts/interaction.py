"""Snakemake script: Gram / Jacobian spectra, degeneracies and the interaction basis of one model."""

from bowsflow.atomic import atomic_path
from bowsflow.interaction_analysis import InteractionOptions, analyze_interaction
from bowsflow.plots import interaction_figure
from bowsflow.dask_cluster import dask_scheduler
from bowsflow.script_logging import log_to_file
from bowsflow.training_outputs import write_json

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    summary, figures = analyze_interaction(
        snakemake.input.activations,
        snakemake.input.checkpoint,
        snakemake.input.codes,
        snakemake.output.store,
        InteractionOptions(**snakemake.params.options),
        threads=snakemake.threads,
    )
    with atomic_path(snakemake.output.figure) as tmp:
        interaction_figure(figures, tmp, title=snakemake.wildcards.model)
    with atomic_path(snakemake.output.summary) as tmp:
        write_json(summary, tmp)
