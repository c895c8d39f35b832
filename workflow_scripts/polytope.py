"""Snakemake script: polytope codes and analyses of one model, with their figures."""

from bowsflow.lenses.polytope.analysis import PolytopeOptions, analyze_polytope
from bowsflow.report.plots import boundary_profiles, rank_frequency, scale_curve
from bowsflow.report.tables import write_json
from bowsflow.runtime.dask_cluster import dask_scheduler
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
with dask_scheduler(snakemake.config.get("dask"), snakemake.threads):
    summary, figures = analyze_polytope(
        activations=snakemake.input.activations,
        bows=snakemake.input.bows,
        checkpoint=snakemake.input.checkpoint,
        codes=snakemake.input.codes,
        options=PolytopeOptions.from_config(snakemake.params.options),
        threads=snakemake.threads,
    )
    name = snakemake.wildcards.model
    for key, draw, data in [
        ("rank_frequency", rank_frequency, figures["rank_frequency"]),
        ("boundaries", boundary_profiles, figures["profiles"]),
        ("scale", scale_curve, figures["scale"]),
    ]:
        with atomic_path(snakemake.output[key]) as tmp:
            draw(data, tmp, title=name)
    with atomic_path(snakemake.output.summary) as tmp:
        write_json(summary, tmp)
