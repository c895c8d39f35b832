"""Snakemake script: the bilinear-tensor analyses of one bilinear model."""

from bowsflow.atomic import atomic_path
from bowsflow.bilinear_analysis import BilinearOptions, analyze_bilinear
from bowsflow.plots import bilinear_figure
from bowsflow.dask_cluster import dask_scheduler
from bowsflow.script_logging import log_to_file
from bowsflow.training_outputs import write_json

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    options = dict(snakemake.params.options)
    options["words"] = tuple(options["words"])
    summary, figures = analyze_bilinear(
        snakemake.input.checkpoint,
        snakemake.input.activations,
        snakemake.input.bows,
        snakemake.input.correlations,
        snakemake.output.store,
        BilinearOptions(**options),
        threads=snakemake.threads,
    )
    with atomic_path(snakemake.output.figure) as tmp:
        bilinear_figure(figures, tmp, title=snakemake.wildcards.model)
    with atomic_path(snakemake.output.summary) as tmp:
        write_json(summary, tmp)
