"""Snakemake script: stream a text corpus into its BOWS store."""

import json
import logging

from bowsflow.data.bows_store import build_text_store
from bowsflow.data.corpus import check_same_files, checksum_files
from bowsflow.data.vocabulary import read_vocabulary
from bowsflow.runtime.script_logging import log_to_file
from bowsflow.store.provenance import provenance_attrs

log_to_file(snakemake.log[0])
# the store is built from the text the vocabulary was counted from, or not at all
stats = json.loads(open(snakemake.input.stats).read())
if "files" in stats:  # corpus_stats.json written before the files were recorded: nothing to check against
    check_same_files(stats["files"], list(snakemake.input.corpus), "when its vocabulary was counted (count it again)")
vocab = read_vocabulary(snakemake.input.vocab)
attrs = provenance_attrs(
    snakemake.params.part,
    corpus=snakemake.params.name,
    input_checksums={
        "corpus": checksum_files(list(snakemake.input.corpus)),
        "vocabulary": checksum_files([snakemake.input.vocab]),
    },
)
summary = build_text_store(
    snakemake.params.part["corpus"],
    snakemake.params.name,
    snakemake.params.part,
    vocab,
    snakemake.output.store,
    attrs,
    workers=snakemake.threads,
    show_progress=True,
)
logging.getLogger("build_bows").info("wrote %s: %s", snakemake.output.store, summary)
