"""Snakemake script: one table of every model's geometry scores."""

import json

from bowsflow.lenses.geometry.analysis import summary_rows, write_summary_table
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
entries = []
for name, s_path, c_path in zip(snakemake.params.names, snakemake.input.summaries, snakemake.input.configs):
    with open(s_path) as s, open(c_path) as c:
        entries.append((name, json.load(s), json.load(c)))
with atomic_path(snakemake.output.table) as tmp:
    write_summary_table(summary_rows(entries), tmp)
