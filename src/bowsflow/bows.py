"""Text → binary bag-of-words rows, fast and exact.

:func:`bows_batch` turns a batch of documents into the (window, word) pairs of their BOWS rows. The
tokens are those of :mod:`bowsflow.tokenizer`; a window's row holds the vocabulary words among its
tokens. It avoids one Python object per token: ASCII tokens are found and hashed with numpy (a
polynomial hash over the bytes, mod 2⁶⁴), looked up by binary search among the vocabulary's hashes and
then *verified byte by byte*, so a hash collision can never put a wrong word in a row. Tokens with
non-ASCII bytes go through the reference regex and a dict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tokenizer import _TABLES, _TOKEN_RE
from .windows import WindowSpec, unit_window_pairs

_P = np.uint64(0x9E3779B97F4A7C15)  # odd, so invertible mod 2**64
_P_INV = np.uint64(pow(int(_P), -1, 2**64))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(out, dtype=np.uint64)


def _hash_words(words: list[bytes]) -> np.ndarray:
    """Polynomial hash Σ (byte+1)·P^j mod 2⁶⁴ of each word (the same as the vectorized token hash)."""
    out = np.empty(len(words), dtype=np.uint64)
    p = int(_P)
    for i, w in enumerate(words):
        h, pj = 0, 1
        for b in w:
            h = (h + (b + 1) * pj) % 2**64
            pj = pj * p % 2**64
        out[i] = h
    return out


def _open_addressing_table(hashes: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A linear-probing hash table (load ≤ 1/4) from word hash to id; empty slots have id −1."""
    size = 1 << max(4, int(4 * max(len(ids), 1) - 1).bit_length())
    table_hash = np.zeros(size, dtype=np.uint64)
    table_id = np.full(size, -1, dtype=np.int64)
    mask = size - 1
    for h, i in zip(hashes.tolist(), ids.tolist()):
        slot = (h >> 20) & mask
        while table_id[slot] >= 0:
            slot = (slot + 1) & mask
        table_hash[slot], table_id[slot] = h, i
    return table_hash, table_id


def _lookup(table_hash: np.ndarray, table_id: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Vectorized probing of :func:`_open_addressing_table`: candidate id per hash, −1 if absent."""
    mask = np.uint64(table_hash.size - 1)
    slot = ((hashes >> np.uint64(20)) & mask).astype(np.int64)
    out = np.full(hashes.size, -1, dtype=np.int64)
    todo = np.arange(hashes.size)
    while todo.size:
        sid = table_id[slot]
        found = (sid >= 0) & (table_hash[slot] == hashes[todo])
        out[todo[found]] = sid[found]
        # continue probing where the slot is occupied by another word
        again = (sid >= 0) & ~found
        todo, slot = todo[again], (slot[again] + 1) & int(mask)
    return out


class VocabularyIndex:
    """Lookup structure for a vocabulary: word → id, for byte tokens and for strings."""

    def __init__(self, words: list[str], lowercase: bool = False):
        self.words = list(words)
        self.lowercase = lowercase
        self.size = len(words)
        self.by_word = {w: i for i, w in enumerate(words)}
        if len(self.by_word) != len(words):
            raise ValueError("vocabulary has duplicate words")
        ascii_ids = np.array([i for i, w in enumerate(words) if w.isascii()], dtype=np.int64)
        ascii_bytes = [words[i].encode("ascii") for i in ascii_ids.tolist()]
        self.table_hash, self.table_id = _open_addressing_table(_hash_words(ascii_bytes), ascii_ids)
        lengths = np.zeros(self.size, dtype=np.int64)
        offsets = np.zeros(self.size, dtype=np.int64)
        encoded = [w.encode("utf-8") for w in words]
        lengths[:] = [len(e) for e in encoded]
        offsets[1:] = np.cumsum(lengths)[:-1]
        self.lengths = lengths
        self.offsets = offsets
        self.concat = np.frombuffer(b"".join(encoded), dtype=np.uint8)


def _bucket_of_sorted(positions: np.ndarray, boundaries: np.ndarray, first_bucket_at_zero=False) -> np.ndarray:
    """For sorted ``positions``, the number of ``boundaries`` at or before each (minus one, unless
    ``first_bucket_at_zero``), by searching the few boundaries among the many positions."""
    first = np.searchsorted(positions, boundaries)
    counts = np.diff(np.concatenate([[0], first, [positions.size]]))
    bucket = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    return bucket if first_bucket_at_zero else bucket - 1


@dataclass(frozen=True)
class TokenIds:
    """Vocabulary ids of the tokens of a batch (only tokens in the vocabulary are kept).

    ids, doc_index, position, line: int64 [k]; line is None unless lines were asked for;
    tokens_per_doc, lines_per_doc: int64 [n_docs].
    """

    ids: np.ndarray
    doc_index: np.ndarray
    position: np.ndarray
    line: np.ndarray | None
    tokens_per_doc: np.ndarray
    lines_per_doc: np.ndarray


def token_ids(texts: list[str], index: VocabularyIndex, with_lines: bool = False) -> TokenIds:
    """Tokenize a batch of documents and keep the tokens that are vocabulary words."""
    encoded = [t.encode("utf-8") for t in texts]
    n_docs = len(encoded)
    doc_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n_docs)
    doc_starts = np.zeros(n_docs, dtype=np.int64)
    if n_docs > 1:
        np.cumsum(doc_lengths[:-1] + 1, out=doc_starts[1:])
    raw = b"\n".join(encoded)
    arr = np.frombuffer(raw.translate(_TABLES[index.lowercase]), dtype=np.uint8)
    n = arr.size

    is_tok = arr != 0x20
    edges = np.flatnonzero(np.diff(is_tok, prepend=False, append=False))
    starts, ends = edges[0::2], edges[1::2]
    n_tok = starts.size

    # Prefix hash: A[j] = Σ_{i<j} (arr[i]+1)·P^i; token hash = (A[e] − A[s])·P^(−s).
    with np.errstate(over="ignore"):
        weighted = (arr.astype(np.uint64) + np.uint64(1)) * _powers(_P, n)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(weighted, out=prefix[1:])
        del weighted
        hashes = (prefix[ends] - prefix[starts]) * _powers(_P_INV, n)[starts]
    del prefix

    ids = _lookup(index.table_hash, index.table_id, hashes)
    hit = np.flatnonzero(ids >= 0)
    if hit.size:
        cand = ids[hit]
        lens = ends[hit] - starts[hit]
        same_len = lens == index.lengths[cand]
        ids[hit[~same_len]] = -1
        hit, cand, lens = hit[same_len], cand[same_len], lens[same_len]
        # Exact check, byte by byte: a hash collision must never make a wrong word.
        total = int(lens.sum())
        run_start = np.repeat(np.cumsum(lens) - lens, lens)
        within = np.arange(total, dtype=np.int64) - run_start
        tok_bytes = arr[np.repeat(starts[hit], lens) + within]
        voc_bytes = index.concat[np.repeat(index.offsets[cand], lens) + within]
        bad = np.flatnonzero(tok_bytes != voc_bytes)
        if bad.size:
            owner = np.repeat(np.arange(hit.size), lens)[bad]
            ids[hit[np.unique(owner)]] = -1

    token_unit_line = None
    newlines = None
    if with_lines:
        newlines = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0x0A)

    # Non-ASCII tokens: re-tokenize with the reference regex (they may split into several tokens).
    counts = None
    non_ascii = np.flatnonzero(arr >= 0x80)
    if non_ascii.size:
        special = np.unique(np.searchsorted(starts, non_ascii, side="right") - 1)
        counts = np.ones(n_tok, dtype=np.int64)
        extra_ids = []
        for k, s, e in zip(special.tolist(), starts[special].tolist(), ends[special].tolist()):
            words = _TOKEN_RE.findall(raw[s:e].decode("utf-8"))
            if index.lowercase:
                words = [w.lower() for w in words]
            extra_ids.append([index.by_word.get(w, -1) for w in words])
        counts[special] = [len(x) for x in extra_ids]
        new_ids = np.repeat(ids, counts)
        new_pos = np.cumsum(counts) - counts
        for k, x in zip(special.tolist(), extra_ids):
            new_ids[new_pos[k] : new_pos[k] + len(x)] = x
        ids = new_ids

    tok_doc = _bucket_of_sorted(starts, doc_starts)
    if with_lines:
        doc_first_line = np.searchsorted(newlines, doc_starts)
        token_unit_line = _bucket_of_sorted(starts, newlines, first_bucket_at_zero=True) - doc_first_line[tok_doc]
        lines_per_doc = np.searchsorted(newlines, doc_starts + doc_lengths) - doc_first_line + 1
    else:
        lines_per_doc = np.zeros(n_docs, dtype=np.int64)
    if counts is not None:
        tok_doc = np.repeat(tok_doc, counts)
        if token_unit_line is not None:
            token_unit_line = np.repeat(token_unit_line, counts)

    tokens_per_doc = np.bincount(tok_doc, minlength=n_docs).astype(np.int64)
    first_of_doc = np.concatenate([[0], np.cumsum(tokens_per_doc)[:-1]]).astype(np.int64)
    position = np.arange(ids.size, dtype=np.int64) - first_of_doc[tok_doc]

    keep = ids >= 0
    return TokenIds(
        ids=ids[keep],
        doc_index=tok_doc[keep].astype(np.int64),
        position=position[keep],
        line=None if token_unit_line is None else token_unit_line[keep],
        tokens_per_doc=tokens_per_doc,
        lines_per_doc=lines_per_doc,
    )


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
    from .windows import windows_per_group

    n_windows = windows_per_group(n_units, spec)
    window_doc = np.repeat(np.arange(n_units.size, dtype=np.int64), n_windows)
    first = np.concatenate([[0], np.cumsum(n_windows)[:-1]]).astype(np.int64)
    window_start = (np.arange(window_doc.size, dtype=np.int64) - first[window_doc]) * spec.stride
    return BowsPairs(rows, t.ids[entry], window_doc, window_start)


def dense_rows(pairs: BowsPairs, vocab_size: int) -> np.ndarray:
    """bool [n_windows, vocab_size] matrix of a batch's pairs."""
    out = np.zeros((pairs.n_windows, vocab_size), dtype=bool)
    out[pairs.rows, pairs.ids] = True
    return out


def document_bags(texts: list[str], index: VocabularyIndex) -> np.ndarray:
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


