"""Snakemake script: the bilinear-tensor analyses of one bilinear model."""

from bowsflow.lenses.bilinear.analysis import BilinearOptions, analyze_bilinear
from bowsflow.report.plots import bilinear_figure
from bowsflow.report.tables import write_json
from bowsflow.runtime.dask_cluster import dask_scheduler
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    summary, figures = analyze_bilinear(
        checkpoint=snakemake.input.checkpoint,
        activations=snakemake.input.activations,
        bows=snakemake.input.bows,
        correlations=snakemake.input.correlations,
        store=snakemake.output.store,
        options=BilinearOptions.from_config(snakemake.params.options),
        threads=snakemake.threads,
    )
    with atomic_path(snakemake.output.figure) as tmp:
        bilinear_figure(figures, tmp, title=snakemake.wildcards.model)
    with atomic_path(snakemake.output.summary) as tmp:
        write_json(summary, tmp)
