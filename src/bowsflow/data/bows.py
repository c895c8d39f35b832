"""Text → binary bag-of-words rows.

:func:`kept_tokens` keeps the tokens of a batch (:class:`bowsflow.data.tokens.TokenBatch`, read from a
token store or tokenized from text by :func:`token_ids`) that are vocabulary words, by a lookup from word
ids to vocabulary ids; :func:`bows_pairs` turns them into the (window, word) pairs of the batch's BOWS rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np

from bowsflow.data.tokens import TokenBatch, encode_documents, first_appearance_ids
from bowsflow.data.windows import WindowSpec, unit_window_pairs, window_origins


class VocabularyIndex:
    """A vocabulary's words and word → id (``by_word``); ``lowercase`` says how tokens are looked up."""

    def __init__(self, words: list[str], lowercase: bool = False):
        self.words = list(words)
        self.lowercase = lowercase
        self.size = len(words)
        self.by_word = {w: i for i, w in enumerate(words)}
        if len(self.by_word) != len(words):
            raise ValueError("vocabulary has duplicate words")

    def ids(self, tokens: list[str]) -> np.ndarray:
        """int64 [len(tokens)]: each token's id, −1 where it is not a vocabulary word."""
        return np.fromiter(map(self.by_word.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))


@dataclass(frozen=True)
class TokenIds:
    """Vocabulary ids of the tokens of a batch (only tokens in the vocabulary are kept).

    ids, doc_index, position: int64 [k]; line: int64 [k] or None unless lines were asked for;
    tokens_per_doc, lines_per_doc: int64 [n_docs] (a document has count("\\n") + 1 lines).
    """

    ids: np.ndarray
    doc_index: np.ndarray
    position: np.ndarray
    line: np.ndarray | None
    tokens_per_doc: np.ndarray
    lines_per_doc: np.ndarray


def kept_tokens(batch: TokenBatch, vocabulary_id: np.ndarray) -> TokenIds:
    """The tokens of ``batch`` that are vocabulary words: each one's vocabulary id, its document in the
    batch, its position among the document's tokens and, where the batch has lines, its line.
    ``vocabulary_id`` int [n_words]: the vocabulary id of each word id of the batch, −1 for a word that
    is not in the vocabulary."""
    ids = np.asarray(vocabulary_id, dtype=np.int64)[batch.ids]
    kept = np.flatnonzero(ids >= 0)
    doc = np.repeat(np.arange(batch.n_docs, dtype=np.int64), batch.tokens_per_doc)[kept]
    first_token = np.cumsum(batch.tokens_per_doc) - batch.tokens_per_doc
    position = kept - first_token[doc]
    line = None if batch.line is None else batch.line[kept].astype(np.int64)
    lines_per_doc = np.zeros(batch.n_docs, dtype=np.int64) if batch.lines_per_doc is None else batch.lines_per_doc
    return TokenIds(ids[kept], doc, position, line, batch.tokens_per_doc, lines_per_doc)


def token_ids(texts: list[str], index: VocabularyIndex, with_lines: bool = False) -> TokenIds:
    """Tokenize a batch of documents (:func:`bowsflow.data.tokens.encode_documents`) and keep the tokens
    that are vocabulary words (:func:`kept_tokens`)."""
    words = first_appearance_ids()
    batch = encode_documents(texts, words, index.lowercase, with_lines)
    return kept_tokens(batch, index.ids(list(words)))


@dataclass(frozen=True)
class BowsPairs:
    """The BOWS rows of a batch as (row, word id) pairs (duplicates allowed).

    rows, ids: int64 [p]; window_doc: int64 [n_windows], the batch-local document of each window;
    window_start: int64 [n_windows], the window's first unit within its group. Windows with no
    vocabulary word appear here too; the caller drops them.
    """

    rows: np.ndarray
    ids: np.ndarray
    window_doc: np.ndarray
    window_start: np.ndarray

    @property
    def n_windows(self) -> int:
        return int(self.window_doc.size)


def bows_pairs(texts: list[str], index: VocabularyIndex, spec: WindowSpec) -> BowsPairs:
    """(window, word) pairs for ``tokens`` and ``lines`` windows within each document of the batch.

    For ``documents`` windows, call with ``WindowSpec("tokens", size=huge)`` to get one bag per
    document and combine documents with :class:`DocumentWindows`.
    """
    if spec.unit == "documents":
        raise ValueError("documents windows span batches: use DocumentWindows")
    t = token_ids(texts, index, with_lines=spec.unit == "lines")
    if spec.unit == "tokens":
        unit, n_units = t.position, t.tokens_per_doc
    else:
        unit, n_units = t.line, t.lines_per_doc
    rows, entry = unit_window_pairs(t.doc_index, unit, n_units, spec)
    return BowsPairs(rows, t.ids[entry], *window_origins(n_units, spec))


def dense_rows(pairs: BowsPairs, vocab_size: int) -> np.ndarray:
    """bool [n_windows, vocab_size] matrix of a batch's pairs."""
    out = np.zeros((pairs.n_windows, vocab_size), dtype=bool)
    out[pairs.rows, pairs.ids] = True
    return out


def document_bags(texts: list[str], index: VocabularyIndex) -> np.ndarray:
    """bool [n_docs, V]: the vocabulary words of each whole document (empty documents included)."""
    return bags_of(token_ids(texts, index), index.size)


def bags_of(t: TokenIds, vocab_size: int) -> np.ndarray:
    """bool [n_docs, vocab_size]: the vocabulary words of each document of a batch's kept tokens."""
    out = np.zeros((t.tokens_per_doc.size, vocab_size), dtype=bool)
    out[t.doc_index, t.ids] = True
    return out


class DocumentWindows:
    """Streams ``documents`` windows: the union of ``size`` consecutive documents, every ``stride``.

    Feed document bags in order with :meth:`push`; it yields (bag, first_doc) for each complete
    window. :meth:`finish` yields the single short window when the corpus has fewer than ``size``
    documents. Only the last ``size`` bags are held.
    """

    def __init__(self, spec: WindowSpec, vocab_size: int):
        self.spec = spec
        self.buffer = np.zeros((0, vocab_size), dtype=bool)
        self.buffer_first = 0  # corpus index of buffer[0]
        self.next_start = 0
        self.n_seen = 0

    def push(self, bags: np.ndarray):
        self.buffer = np.concatenate([self.buffer, bags])
        self.n_seen += bags.shape[0]
        size, stride = self.spec.size, self.spec.stride
        out_bags, out_first = [], []
        while self.next_start + size <= self.n_seen:
            lo = self.next_start - self.buffer_first
            out_bags.append(self.buffer[lo : lo + size].any(axis=0))
            out_first.append(self.next_start)
            self.next_start += stride
        drop = min(self.next_start - self.buffer_first, self.buffer.shape[0])
        if drop > 0 and self.next_start > 0:
            self.buffer = self.buffer[drop:]
            self.buffer_first += drop
        if out_bags:
            return np.stack(out_bags), np.asarray(out_first, dtype=np.int64)
        return np.zeros((0, self.buffer.shape[1]), dtype=bool), np.zeros(0, dtype=np.int64)

    def finish(self):
        if 0 < self.n_seen < self.spec.size:
            return self.buffer.any(axis=0, keepdims=True), np.zeros(1, dtype=np.int64)
        return np.zeros((0, self.buffer.shape[1]), dtype=bool), np.zeros(0, dtype=np.int64)
