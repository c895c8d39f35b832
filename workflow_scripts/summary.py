"""Snakemake script: results/summary.tsv from every model's JSON outputs."""

import json
from pathlib import Path

from bowsflow.report.summary import summary_row, write_summary
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])


def load(path):
    with open(path) as f:
        return json.load(f)


bilinear = {Path(p).parent.name: load(p) for p in snakemake.input.bilinear}
rows = []
for k, name in enumerate(snakemake.params.names):
    rows.append(
        summary_row(
            name,
            load(snakemake.input.configs[k]),
            load(snakemake.input.metrics[k]),
            load(snakemake.input.polytope[k]),
            load(snakemake.input.interaction[k]),
            load(snakemake.input.geometry[k]),
            bilinear.get(name),
        )
    )
with atomic_path(snakemake.output.table) as tmp:
    write_summary(rows, tmp)
