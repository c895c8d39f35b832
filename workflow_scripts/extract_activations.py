"""Snakemake script: write the activation store of one model."""

import logging

from bowsflow.activations.extraction import ExtractOptions, extract_activations
from bowsflow.runtime.script_logging import log_to_file

log_to_file(snakemake.log[0])
# writer_threads changes only the speed: a resource, not a param (see rules/extract.smk)
options = snakemake.params.options | {"writer_threads": max(snakemake.resources.writer_threads, snakemake.threads)}
summary = extract_activations(
    snakemake.input.checkpoint,
    snakemake.input.store,
    snakemake.output.store,
    ExtractOptions.from_config(options),
    progress=True,
)
logging.getLogger("extract").info("wrote %s: %s", snakemake.output.store, summary)
