"""Word counting over a corpus and the choice of the vocabulary.

Counting is parallel over batches of documents (worker processes, results merged in order) and holds
one counter of distinct tokens, so memory grows with the number of distinct words, not the corpus size.

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

from bowsflow.data.bows import TokenKeys, has_key, token_documents, token_keys, token_word, word_key
from bowsflow.data.byte_scan import KeyCounter
from bowsflow.data.tokenizer import TextBatch, is_vocabulary_candidate
from bowsflow.runtime.parallel import ordered_map

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


@dataclass(frozen=True)
class KeyedCounts:
    """Word counts and document frequencies: of the words that have an exact key
    (:func:`bowsflow.data.bows.has_key`) by that key (:func:`bowsflow.data.bows.word_key`; keys uint64
    [k, 3]: first, last, length; counts and doc_freqs int64 [k]), of the other words by string."""

    keys: np.ndarray
    counts: np.ndarray
    doc_freqs: np.ndarray
    other_counts: Counter
    other_doc_freqs: Counter


@dataclass(frozen=True)
class BatchTokens:
    """One batch's tokens for counting: the scan's (``tokens``), each token's document in the batch
    (``doc`` int64 [n], −1 … n_docs − 1, non-decreasing), the slow tokens that have an exact key once
    resolved (``extra_keys`` uint64 [x, 3], in documents ``extra_docs`` int64 [x], non-decreasing), and
    the words without one counted as strings."""

    tokens: TokenKeys
    doc: np.ndarray
    extra_keys: np.ndarray
    extra_docs: np.ndarray
    other_counts: Counter
    other_doc_freqs: Counter


def batch_tokens(texts: list[str] | TextBatch, lowercase: bool) -> BatchTokens:
    """Tokenize one batch of documents (tokens as :mod:`bowsflow.data.tokenizer` defines them) into
    exact keys, without a Python object per token: only the tokens the scan's keys cannot decide are
    made strings."""
    t = token_keys(texts, lowercase)
    doc = token_documents(np.searchsorted(t.starts, t.doc_starts), t.starts.size)
    other_counts: Counter = Counter()
    other_pairs: set = set()
    extra_keys, extra_docs = [], []
    for k, start, end in zip(t.slow.tolist(), t.starts[t.slow].tolist(), t.ends[t.slow].tolist()):
        # keyed when their (lowercased) word has an exact key (see has_key), else counted as strings
        word = token_word(t.raw[start:end], lowercase)
        encoded = word.encode("utf-8")
        if has_key(encoded):
            extra_keys.append(word_key(encoded))
            extra_docs.append(doc[k])
        else:
            other_counts[word] += 1
            other_pairs.add((int(doc[k]), word))
    return BatchTokens(
        t,
        doc,
        np.array(extra_keys, dtype=np.uint64).reshape(-1, 3),
        np.array(extra_docs, dtype=np.int64),
        other_counts,
        Counter(w for _, w in other_pairs),
    )


def _count_batch_tokens(counter: KeyCounter, b: BatchTokens) -> None:
    t = b.tokens
    counter.count_tokens(t.first, t.last, t.lengths, b.doc, t.slow, b.extra_keys, b.extra_docs, t.doc_starts.size)


def count_batch(texts: list[str] | TextBatch, lowercase: bool) -> KeyedCounts:
    """Counts and document frequencies of one batch of documents (what a worker process returns)."""
    b = batch_tokens(texts, lowercase)
    counter = KeyCounter()  # grows with the batch's distinct words (tens of thousands), not its tokens
    _count_batch_tokens(counter, b)
    return KeyedCounts(*counter.totals(), b.other_counts, b.other_doc_freqs)


def key_words(keys: np.ndarray) -> list[str]:
    """The words of keys uint64 [k, 3] (the inverse of :func:`bowsflow.data.bows.word_key` for the words
    :func:`bowsflow.data.bows.has_key` admits)."""
    n = len(keys)
    buf = np.zeros((n, 16), dtype=np.uint8)
    buf[:, :8] = keys[:, 0].astype("<u8").view(np.uint8).reshape(n, 8)  # byte 7 flagged when longer than 8
    last = keys[:, 1].astype("<u8").view(np.uint8).reshape(n, 8)
    for length in range(9, 17):  # bytes length − 8 … length − 1 are ``last``: byte 7 too, below 16
        rows = np.flatnonzero(keys[:, 2] == length)
        buf[rows, length - 8 : length] = last[rows]
    buf[keys[:, 2] == 16, 7] &= 0x7F  # the long-key flag; a 16-byte key is ASCII
    return [w.decode("utf-8") for w in buf.view("S16").ravel().tolist()]  # S16 drops the zero padding


def count_words(batches: Iterable[list[str]], lowercase: bool = False, workers: int = 1) -> tuple[Counter, Counter]:
    """Token counts and document frequencies over all batches (str keys). In one process each token
    goes straight into one table of the corpus' words (:class:`~bowsflow.data.byte_scan.KeyCounter`);
    with workers, each batch is counted in a worker and its counts added."""
    counter = KeyCounter()
    other_counts, other_doc_freqs = Counter(), Counter()
    if workers <= 1:
        parts = (batch_tokens(batch, lowercase) for batch in batches)
    else:
        parts = ordered_map(count_batch, batches, workers, None, lowercase)
    for part in parts:
        if isinstance(part, BatchTokens):
            _count_batch_tokens(counter, part)
        else:
            counter.add_counts(part.keys, part.counts, part.doc_freqs)
        other_counts.update(part.other_counts)
        other_doc_freqs.update(part.other_doc_freqs)
    keys, key_counts, key_doc_freqs = counter.totals()
    words = key_words(keys)
    # in place: ``+`` would copy the keyed words' counters (a million words in a long-tailed corpus)
    counts = Counter(dict(zip(words, key_counts.tolist())))
    counts.update(other_counts)
    doc_freqs = Counter(dict(zip(words, key_doc_freqs.tolist())))
    doc_freqs.update(other_doc_freqs)
    return counts, doc_freqs


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


def corpus_vocabulary(spec: dict, name: str, bows_options: dict, workers: int = 1):
    """Count a text corpus and choose its vocabulary. Returns (Vocabulary, CorpusStats)."""
    from bowsflow.data.corpus import CorpusStats, check_same_files, file_records, input_files, iter_text_batches
    from bowsflow.data.tokenizer import tokenizer_options

    tok = tokenizer_options(bows_options)
    stats = CorpusStats()
    files = input_files(spec, name)
    stats.files = file_records(files)  # what the vocabulary is counted from
    batches = iter_text_batches(spec, name, stats, bows_options["batch_bytes"])
    counts, doc_freq = count_words(batches, tok.lowercase, workers)
    # a file changed while it was read: the counts are of neither version
    check_same_files(stats.files, files, "when counting began (it changed while it was counted: count again)")
    if stats.n_documents == 0 or not counts:
        what = "no documents" if stats.n_documents == 0 else f"{stats.n_documents} documents but no word"
        raise VocabularyError(f"corpora.{name}: the corpus is empty ({what})")
    options = VocabularyOptions(
        vocab_size=int(bows_options["vocab_size"]),
        lowercase=tok.lowercase,
        stopwords=tok.stopwords,
        always_include=tuple(bows_options["always_include"]),
        keep_numbers=tok.keep_numbers,
        on_small_vocab=bows_options["on_small_vocab"],
    )
    try:
        vocab = select_vocabulary(counts, doc_freq, options)
    except VocabularyError as err:
        raise VocabularyError(f"corpora.{name}: {err}") from None
    return vocab, stats


def vocabulary_sha256(words) -> str:
    """Identity of a vocabulary: sha256 of its words in id order, newline-joined."""
    return hashlib.sha256("\n".join(str(w) for w in words).encode("utf-8")).hexdigest()
