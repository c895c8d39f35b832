"""Word counting over a corpus and the choice of the vocabulary.

Counting is over the corpus' word table (:mod:`bowsflow.data.tokens`: the text tokenized once, batches
in worker processes, merged in order), so memory grows with the number of distinct words, not the
corpus size.

Vocabulary order (the ids): the ``always_include`` words first, in config order (the BOWS paper gives
its 39 always-included words ids 0–38), then the most frequent candidate words, ties broken
alphabetically (by code point), until V words. ``vocab.tsv`` has the columns ``id word count doc_freq``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bowsflow.data.tokenizer import is_vocabulary_candidate
from bowsflow.data.tokens import WordTable, tokenize_batches

log = logging.getLogger(__name__)


class VocabularyError(ValueError):
    """The corpus cannot give the vocabulary asked for."""


@dataclass(frozen=True)
class VocabularyOptions:
    vocab_size: int = 2000
    lowercase: bool = False
    stopwords: frozenset[str] = frozenset()
    always_include: tuple[str, ...] = ()
    keep_numbers: bool = True
    on_small_vocab: str = "error"  # error | warn


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]
    counts: list[int]
    doc_freqs: list[int]

    def __len__(self) -> int:
        return len(self.words)


def count_words(batches: Iterable[list[str]], lowercase: bool = False, workers: int = 1) -> tuple[Counter, Counter]:
    """Token counts and document frequencies over all batches (str keys), batches tokenized by ``workers``
    processes (:func:`bowsflow.data.tokens.tokenize_batches`)."""
    return word_table(batches, lowercase, workers).counters()


def word_table(batches: Iterable[list[str]], lowercase: bool = False, workers: int = 1) -> WordTable:
    """The word table of all batches, their tokens counted and not kept."""
    table = WordTable()
    for _ in tokenize_batches(batches, table, lowercase, workers=workers):
        pass
    return table


def select_vocabulary(counts: Counter, doc_freq: Counter, options: VocabularyOptions) -> Vocabulary:
    """The vocabulary: always-included words, then candidates by count (desc), then word (asc)."""
    always = [w.lower() if options.lowercase else w for w in options.always_include]
    always = list(dict.fromkeys(always))  # keep order, drop repeats
    if len(always) > options.vocab_size:
        raise VocabularyError(
            f"bows.always_include: {len(always)} words do not fit in bows.vocab_size = {options.vocab_size}"
        )
    missing = [w for w in always if counts.get(w, 0) == 0]
    if missing:
        log.warning("always_include words that never occur in the corpus (kept, all-zero columns): %s", missing)
    taken = set(always)
    candidates = [
        w for w in counts if w not in taken and is_vocabulary_candidate(w, options.stopwords, options.keep_numbers)
    ]
    n_free = options.vocab_size - len(always)
    if len(candidates) > n_free > 0:
        # only words at least as frequent as the n_free-th can be chosen: sort those, not the long tail
        # (the order of the chosen is the same: every word left out is rarer than every word kept)
        candidate_counts = np.fromiter((counts[w] for w in candidates), dtype=np.int64, count=len(candidates))
        least = np.partition(candidate_counts, len(candidates) - n_free)[len(candidates) - n_free]
        candidates = [w for w, c in zip(candidates, candidate_counts.tolist()) if c >= least]
    candidates.sort(key=lambda w: (-counts[w], w))
    if len(candidates) < n_free:
        real = len(always) + len(candidates)
        message = f"bows.vocab_size = {options.vocab_size}, but the corpus has only {real} distinct candidate words"
        if options.on_small_vocab == "error":
            raise VocabularyError(message + " (lower vocab_size, or set bows.on_small_vocab: warn)")
        log.warning("%s; using %d", message, real)
    words = always + candidates[:n_free]
    return Vocabulary(words, [counts.get(w, 0) for w in words], [doc_freq.get(w, 0) for w in words])


def write_vocabulary(vocab: Vocabulary, path: str | Path) -> None:
    """Write ``id word count doc_freq`` as TSV (words never contain tabs: they are letter runs)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id\tword\tcount\tdoc_freq\n")
        for i, (w, c, d) in enumerate(zip(vocab.words, vocab.counts, vocab.doc_freqs)):
            f.write(f"{i}\t{w}\t{c}\t{d}\n")


def vocabulary_record(vocab: Vocabulary) -> dict:
    """What ``corpus_stats.json`` records of the vocabulary beside it, for :func:`read_vocabulary` to check."""
    return {"vocab_size": len(vocab), "vocab_sha256": vocabulary_sha256(vocab.words)}


def read_vocabulary(path: str | Path) -> Vocabulary:
    """Read a ``vocab.tsv``; checks that ids run 0, 1, 2, … and, where ``corpus_stats.json`` beside it
    records them, the row count and the words' checksum (a file cut at a line boundary is caught)."""
    words, counts, dfs = [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != ["id", "word", "count", "doc_freq"]:
            raise VocabularyError(f"{path}: expected header 'id word count doc_freq', got {header}")
        for lineno, row in enumerate(reader, start=2):
            if len(row) != 4 or int(row[0]) != len(words):
                raise VocabularyError(f"{path}, line {lineno}: malformed row {row}")
            words.append(row[1])
            counts.append(int(row[2]))
            dfs.append(int(row[3]))
    stats_file = Path(path).with_name("corpus_stats.json")
    record = json.loads(stats_file.read_text()) if stats_file.is_file() else {}
    if "vocab_sha256" in record:
        if len(words) != record["vocab_size"]:
            raise VocabularyError(
                f"{path}: {len(words)} words, but {stats_file} records {record['vocab_size']}: the file is truncated "
                "or was changed; delete it and re-run the workflow"
            )
        if vocabulary_sha256(words) != record["vocab_sha256"]:
            raise VocabularyError(f"{path}: its words differ from those {stats_file} records; delete it and re-run")
    return Vocabulary(words, counts, dfs)


def corpus_vocabulary(
    spec: dict, name: str, bows_options: dict, workers: int = 1, tokens_path: str | Path | None = None, attrs=None
):
    """Tokenize a text corpus, count its words and choose its vocabulary. With ``tokens_path``, the tokens
    are kept there as the corpus' token store (:mod:`bowsflow.data.tokens`; ``attrs`` added to its own),
    which the BOWS store is built from; it is published only if the vocabulary can be chosen.
    Returns (Vocabulary, CorpusStats)."""
    from bowsflow.data.corpus import (
        CorpusStats,
        check_unchanged_since,
        file_records,
        input_files,
        iter_text_batches,
        records_checksum,
    )
    from bowsflow.data.tokenizer import tokenizer_options
    from bowsflow.data.tokens import write_token_store

    tok = tokenizer_options(bows_options)
    stats = CorpusStats()
    files = input_files(spec, name)
    stats.files = file_records(files)  # what the vocabulary is counted from
    batches = iter_text_batches(spec, name, stats, bows_options["batch_bytes"])
    options = VocabularyOptions(
        vocab_size=int(bows_options["vocab_size"]),
        lowercase=tok.lowercase,
        stopwords=tok.stopwords,
        always_include=tuple(bows_options["always_include"]),
        keep_numbers=tok.keep_numbers,
        on_small_vocab=bows_options["on_small_vocab"],
    )
    chosen: list[Vocabulary] = []

    def choose(table: WordTable) -> dict:
        # a file changed while it was read (its size or modification time moved): the counts are of neither version
        check_unchanged_since(stats.files, "counting began (it changed while it was counted: count again)")
        if stats.n_documents == 0 or len(table) == 0:
            what = "no documents" if stats.n_documents == 0 else f"{stats.n_documents} documents but no word"
            raise VocabularyError(f"corpora.{name}: the corpus is empty ({what})")
        try:
            chosen.append(select_vocabulary(*table.counters(), options))
        except VocabularyError as err:
            raise VocabularyError(f"corpora.{name}: {err}") from None
        return {"corpus_files": stats.files, "input_checksums": json.dumps({"corpus": records_checksum(stats.files)})}

    if tokens_path is None:
        choose(word_table(batches, tok.lowercase, workers))
    else:
        # the workflow's vocabulary part says it (token_lines); resolved bows options, by their window
        with_lines = bool(bows_options.get("token_lines", bows_options.get("window", {}).get("unit") == "lines"))
        write_token_store(batches, tokens_path, tok.lowercase, with_lines, dict(attrs or {}), workers, choose)
    return chosen[0], stats


def vocabulary_sha256(words) -> str:
    """Identity of a vocabulary: sha256 of its words in id order, newline-joined."""
    return hashlib.sha256("\n".join(str(w) for w in words).encode("utf-8")).hexdigest()
