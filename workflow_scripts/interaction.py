"""Snakemake script: Gram / Jacobian spectra, degeneracies and the interaction basis of one model."""

from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
from bowsflow.report.plots import interaction_figure, interaction_graph_figure
from bowsflow.report.tables import write_json
from bowsflow.runtime.dask_cluster import dask_scheduler
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    summary, figures = analyze_interaction(
        activations=snakemake.input.activations,
        checkpoint=snakemake.input.checkpoint,
        codes=snakemake.input.codes,
        store=snakemake.output.store,
        options=InteractionOptions.from_config(snakemake.params.options),
        threads=snakemake.threads,
        bows=snakemake.input.bows,
    )
    with atomic_path(snakemake.output.figure) as tmp:
        interaction_figure(figures, tmp, title=snakemake.wildcards.model)
    with atomic_path(snakemake.output.graph) as tmp:
        interaction_graph_figure(figures.get("graph"), tmp, title=snakemake.wildcards.model)
    with atomic_path(snakemake.output.summary) as tmp:
        write_json(summary, tmp)
