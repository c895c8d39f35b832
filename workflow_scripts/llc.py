"""Snakemake script: the local learning coefficient of one model."""

from bowsflow.lenses.llc.analysis import LLCOptions, analyze_llc
from bowsflow.report.plots import llc_figure
from bowsflow.report.tables import write_json
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
summary, figures = analyze_llc(
    bows=snakemake.input.bows,
    checkpoint=snakemake.input.checkpoint,
    model_config=snakemake.input.model_config,
    store=snakemake.output.store,
    options=LLCOptions.from_config(snakemake.params.options),
    threads=snakemake.threads,
)
with atomic_path(snakemake.output.figure) as tmp:
    llc_figure(figures, tmp, title=snakemake.wildcards.model)
with atomic_path(snakemake.output.summary) as tmp:
    write_json(summary, tmp)
