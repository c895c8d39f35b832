"""Text → binary bag-of-words rows, fast and exact.

:func:`bows_pairs` turns a batch of documents into the (window, word) pairs of their BOWS rows. The
tokens are those of :mod:`bowsflow.data.tokenizer`; a window's row holds the vocabulary words among its
tokens. It avoids one Python object per token:

- token boundaries and keys come from one compiled scan of the batch's bytes
  (:func:`bowsflow.data.byte_scan.scan_tokens`; characters that are not letters or digits separate
  tokens, as in the tokenizer's definition);
- a token of at most 16 bytes (15 if not ASCII, see :func:`has_key`) is identified *exactly* by its key
  (first 8 bytes, last 8 bytes, length); the key is looked up in an open-addressing table that stores
  the vocabulary's keys and compares all three parts, so no hash collision can put a wrong word in a row;
- longer tokens, and when lowercasing the tokens with a non-ASCII letter, go through the reference
  regex and a dict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bowsflow.data.byte_scan import MAX_KEY_BYTES, probe_table, scan_tokens, start_slots
from bowsflow.data.tokenizer import _TABLES, TextBatch, join_documents
from bowsflow.data.windows import WindowSpec, unit_window_pairs, window_origins


def word_key(word: bytes) -> tuple[int, int, int]:
    """(first, last, length) key of a word's UTF-8 bytes (exact for the words :func:`has_key` admits).

    first: its first 8 bytes as a little-endian integer, with bit 63 set when the word is longer than
    8 bytes; last: its last 8 bytes when longer than 8, else 0. For a word of at most 8 bytes ``first``
    alone is exact (bytes of a token are never 0, so the length is implied). A longer one needs all
    three, and bit 63 must not hide the top bit of byte 7: it is free in ASCII, and ``last`` holds
    byte 7 again when the word is shorter than 16 bytes.
    """
    n = len(word)
    first = int.from_bytes(word[:8], "little") | (1 << 63 if n > 8 else 0)
    last = int.from_bytes(word[-8:], "little") if n > 8 else 0
    return first, last, n


def has_key(word: bytes) -> bool:
    """Whether :func:`word_key` identifies the word (UTF-8 bytes) exactly: ASCII of at most 16 bytes,
    or other UTF-8 of at most 15."""
    return len(word) < MAX_KEY_BYTES or (len(word) == MAX_KEY_BYTES and word.isascii())


class VocabularyIndex:
    """Lookup structure for a vocabulary: word → id, for byte-level keys and for strings."""

    def __init__(self, words: list[str], lowercase: bool = False):
        self.words = list(words)
        self.lowercase = lowercase
        self.size = len(words)
        self.by_word = {w: i for i, w in enumerate(words)}
        if len(self.by_word) != len(words):
            raise ValueError("vocabulary has duplicate words")
        encoded = [(i, w.encode("utf-8")) for i, w in enumerate(words)]
        keyed = [(i, w) for i, w in encoded if has_key(w)]
        self.bits = max(4, (8 * max(len(keyed), 1) - 1).bit_length())  # load factor <= 1/8
        n_slots = 1 << self.bits
        self.table_first = np.zeros(n_slots, dtype=np.uint64)
        self.table_last = np.zeros(n_slots, dtype=np.uint64)
        self.table_len = np.zeros(n_slots, dtype=np.int64)
        self.table_id = np.full(n_slots, -1, dtype=np.int32)
        keys = np.array([word_key(w) for _, w in keyed], dtype=np.uint64).reshape(-1, 3)
        slots = start_slots(keys[:, 0], self.bits)
        for (i, _), (first, last, length), slot in zip(keyed, keys.tolist(), slots.tolist()):
            while self.table_id[slot] >= 0:  # linear probing
                slot = (slot + 1) & (n_slots - 1)
            self.table_first[slot], self.table_last[slot] = first, last
            self.table_len[slot], self.table_id[slot] = length, i

    def lookup_keys(self, first: np.ndarray, last: np.ndarray, length: np.ndarray) -> np.ndarray:
        """int64 ids of the words with exactly these keys (see :func:`word_key`), −1 where none."""
        return probe_table(
            self.table_first,
            self.table_last,
            self.table_len,
            self.table_id,
            self.bits,
            first.astype(np.uint64, copy=False),
            last.astype(np.uint64, copy=False),
            length.astype(np.int64, copy=False),
        )


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


@dataclass(frozen=True)
class TokenKeys:
    """The tokens of a batch of documents, located in its joined bytes, with exact keys.

    raw: the batch's UTF-8 bytes (:class:`~bowsflow.data.tokenizer.TextBatch`); starts, ends,
    lengths: int64 [n] byte ranges of the tokens (the tokenizer's, maximal runs of letters and
    digits); first, last: uint64 [n] their :func:`word_key` parts, of the lowercased bytes if asked
    (exact for the tokens :func:`has_key` admits); slow: int64 [s], the tokens the keys cannot decide
    (too long, or with a non-ASCII letter when lowercasing); doc_starts, doc_lengths: int64 [n_docs].
    """

    raw: bytes
    starts: np.ndarray
    ends: np.ndarray
    lengths: np.ndarray
    first: np.ndarray
    last: np.ndarray
    slow: np.ndarray
    doc_starts: np.ndarray
    doc_lengths: np.ndarray


_TABLE_ARRAYS = {lowercase: np.frombuffer(table, dtype=np.uint8) for lowercase, table in _TABLES.items()}


def token_keys(texts: list[str] | TextBatch, lowercase: bool) -> TokenKeys:
    """Token boundaries and keys of a batch: one compiled scan of its bytes."""
    batch = join_documents(texts)
    raw = np.frombuffer(batch.raw, np.uint8)
    starts, lengths, first, last, slow = scan_tokens(raw, _TABLE_ARRAYS[lowercase], lowercase)
    return TokenKeys(
        batch.raw, starts, starts + lengths, lengths, first, last, slow, batch.doc_starts, batch.doc_lengths
    )


def token_documents(first_token_of_doc: np.ndarray, n_tokens: int) -> np.ndarray:
    """int64 [n_tokens]: the document of each token, given the first token of each document (int64
    [n_docs], non-decreasing; −1 for tokens before the first): a token belongs to the last document
    that starts at or before it. One repeat, not a binary search per token."""
    bounds = np.concatenate([[0], first_token_of_doc, [n_tokens]])
    return np.repeat(np.arange(-1, first_token_of_doc.size, dtype=np.int64), np.diff(bounds))


def token_word(token: bytes, lowercase: bool) -> str:
    """The word of one token of ``TokenKeys.slow``'s kind, given by its UTF-8 bytes (lowercased with
    ``str.lower`` if asked). A token of the scan is one word of the definition: the scan splits where
    the regex does."""
    word = token.decode("utf-8")
    return word.lower() if lowercase else word


def token_ids(texts: list[str] | TextBatch, index: VocabularyIndex, with_lines: bool = False) -> TokenIds:
    """Tokenize a batch of documents and keep the tokens that are vocabulary words."""
    keys = token_keys(texts, index.lowercase)
    raw, doc_starts, doc_lengths = keys.raw, keys.doc_starts, keys.doc_lengths
    starts, slow = keys.starts, keys.slow
    n_docs, n_tok = doc_starts.size, starts.size
    ids = index.lookup_keys(keys.first, keys.last, keys.lengths)
    # tokens the keys cannot decide are looked up as strings
    ids[slow] = [
        index.by_word.get(token_word(raw[start:end], index.lowercase), -1)
        for start, end in zip(starts[slow].tolist(), keys.ends[slow].tolist())
    ]

    # which document each token is in, and its position there
    first_token_of_doc = np.searchsorted(starts, doc_starts)
    tokens_per_doc = np.diff(np.append(first_token_of_doc, n_tok)).astype(np.int64)
    kept = np.flatnonzero(ids >= 0)
    doc = token_documents(first_token_of_doc, n_tok)[kept]
    position = kept - first_token_of_doc[doc]
    line = None
    lines_per_doc = np.zeros(n_docs, dtype=np.int64)
    if with_lines:
        newlines = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0x0A)
        doc_first_line = np.searchsorted(newlines, doc_starts)
        line = np.searchsorted(newlines, starts[kept]) - doc_first_line[doc]
        lines_per_doc = np.searchsorted(newlines, doc_starts + doc_lengths) - doc_first_line + 1
    return TokenIds(ids[kept], doc.astype(np.int64), position.astype(np.int64), line, tokens_per_doc, lines_per_doc)


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


def bows_pairs(texts: list[str] | TextBatch, index: VocabularyIndex, spec: WindowSpec) -> BowsPairs:
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


def document_bags(texts: list[str] | TextBatch, index: VocabularyIndex) -> np.ndarray:
    """bool [n_docs, V]: the vocabulary words of each whole document (empty documents included)."""
    t = token_ids(texts, index)
    out = np.zeros((len(texts), index.size), dtype=bool)
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
