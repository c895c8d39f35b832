"""Snakemake script: count a corpus' words and write vocab.tsv and corpus_stats.json."""

import json

from bowsflow.data.vocabulary import corpus_vocabulary, vocabulary_record, write_vocabulary
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path

log_to_file(snakemake.log[0])
spec = snakemake.params.part["corpus"]
vocab, stats = corpus_vocabulary(spec, snakemake.params.name, snakemake.params.part, snakemake.threads)
with atomic_path(snakemake.output.vocab) as tmp:
    write_vocabulary(vocab, tmp)
with atomic_path(snakemake.output.stats) as tmp:
    tmp.write_text(json.dumps(stats.as_dict() | vocabulary_record(vocab), indent=2) + "\n")
