"""Snakemake script: one table of every model's validation metrics, grouped by parameter budget."""

import json

from bowsflow.report.tables import comparison_rows, write_comparison
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
entries = []
for name, cfg_path, metrics_path in zip(snakemake.params.names, snakemake.input.configs, snakemake.input.metrics):
    with open(cfg_path) as c, open(metrics_path) as m:
        entries.append((name, json.load(c), json.load(m)))
with atomic_path(snakemake.output.table) as tmp:
    write_comparison(comparison_rows(entries), tmp)
