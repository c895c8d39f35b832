"""Snakemake script: results/claims.{tsv,json} and claims.png, every claim tested on the run."""

from bowsflow.claims.registry import ClaimOptions
from bowsflow.claims.run import RunData
from bowsflow.claims.scorecard import evaluate_claims, write_claims_json, write_claims_tsv
from bowsflow.report.plots import claims_figure
from bowsflow.runtime.parallel import torch_threads
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
options = ClaimOptions.from_config(snakemake.params.options)
run = RunData(snakemake.params.results, snakemake.params.models, snakemake.params.corpora)
with torch_threads(snakemake.threads):
    rows = evaluate_claims(run, options)
with atomic_path(snakemake.output.table) as tmp:
    write_claims_tsv(rows, tmp)
with atomic_path(snakemake.output.json) as tmp:
    write_claims_json(rows, options, tmp)
with atomic_path(snakemake.output.figure) as tmp:
    claims_figure(rows, tmp)
