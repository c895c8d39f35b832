"""Snakemake script: the feature-geometry analyses of one model, with their figures."""

from bowsflow.lenses.geometry.analysis import GeometryOptions, analyze_geometry
from bowsflow.report.plots import cycles_figure, interference_figure, map_figure, r2_figure, similarity_figure
from bowsflow.report.tables import write_json
from bowsflow.runtime.dask_cluster import dask_scheduler
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    summary, figures = analyze_geometry(
        checkpoint=snakemake.input.checkpoint,
        bows=snakemake.input.bows,
        correlations=snakemake.input.correlations,
        options=GeometryOptions.from_config(snakemake.params.options),
        synthetic=snakemake.params.synthetic,
    )
    name = snakemake.wildcards.model
    for key, draw, data in [
        ("similarity", similarity_figure, figures),
        ("cycles", cycles_figure, figures["cycles"]),
        ("map", map_figure, figures["map"]),
        ("r2", r2_figure, figures["r2"]),
        ("interference", interference_figure, figures.get("interference")),
    ]:
        with atomic_path(snakemake.output[key]) as tmp:
            draw(data, tmp, title=name)
    with atomic_path(snakemake.output.summary) as tmp:
        write_json(summary, tmp)
