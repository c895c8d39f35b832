"""Snakemake script: build a text corpus' BOWS store from its token store."""

import json
import logging

from bowsflow.data.bows_store import build_text_store
from bowsflow.data.tokens import TokenStore
from bowsflow.data.vocabulary import read_vocabulary
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.provenance import input_checksums, provenance_attrs

log_to_file(snakemake.log[0])
vocab = read_vocabulary(snakemake.input.vocab)
attrs = provenance_attrs(
    snakemake.params.part,
    corpus=snakemake.params.name,
    # the corpus the tokens were read from, as the token store records it, beside the inputs read here
    input_checksums=input_checksums(tokens=snakemake.input.tokens, vocabulary=snakemake.input.vocab)
    | {"corpus": json.loads(TokenStore.open(snakemake.input.tokens).attrs["input_checksums"])["corpus"]},
)
summary = build_text_store(
    snakemake.input.tokens,
    snakemake.params.name,
    snakemake.params.part,
    vocab,
    snakemake.output.store,
    attrs,
    workers=snakemake.threads,
    show_progress=True,
)
logging.getLogger("build_bows").info("wrote %s: %s", snakemake.output.store, summary)
