"""Snakemake script: tokenize a corpus into tokens.zarr, count its words and write vocab.tsv and corpus_stats.json."""

import json

from bowsflow.data.vocabulary import corpus_vocabulary, vocabulary_record, write_vocabulary
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path
from bowsflow.store.provenance import provenance_attrs

log_to_file(snakemake.log[0])
part = snakemake.params.part
vocab, stats = corpus_vocabulary(
    part["corpus"],
    snakemake.params.name,
    part,
    snakemake.threads,
    tokens_path=snakemake.output.tokens,
    attrs=provenance_attrs(part, corpus=snakemake.params.name),
)
with atomic_path(snakemake.output.vocab) as tmp:
    write_vocabulary(vocab, tmp)
with atomic_path(snakemake.output.stats) as tmp:
    tmp.write_text(json.dumps(stats.as_dict() | vocabulary_record(vocab), indent=2) + "\n")
