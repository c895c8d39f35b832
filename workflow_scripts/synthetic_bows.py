"""Snakemake script: generate a synthetic corpus' BOWS store and vocab.tsv."""

import logging

from bowsflow.data.bows_store import build_synthetic_store
from bowsflow.data.vocabulary import write_vocabulary
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.atomic import atomic_path
from bowsflow.store.provenance import provenance_attrs

log_to_file(snakemake.log[0])
attrs = provenance_attrs(snakemake.params.part, corpus=snakemake.params.name, input_checksums={})
summary, vocab = build_synthetic_store(
    snakemake.params.part["corpus"], snakemake.params.part, snakemake.output.store, attrs
)
with atomic_path(snakemake.output.vocab) as tmp:
    write_vocabulary(vocab, tmp)
logging.getLogger("synthetic_bows").info("wrote %s: %s", snakemake.output.store, summary)
