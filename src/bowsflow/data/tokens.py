"""The tokenized corpus: every token of a text corpus as an id into its word table, kept as a Zarr store.

Choosing the vocabulary and building the BOWS store both need every token of the corpus. The text is
tokenized once (:func:`bowsflow.data.tokenizer.tokenize_documents`, the regular expression), by
:func:`write_token_store`, which counts the words as it goes and writes ``tokens.zarr``; the BOWS store is
built from that store (:func:`iter_token_batches`), not from the text again.

Layout of ``tokens.zarr`` (``xarray.open_zarr`` gives it back):

- ``word_id`` (token) int32: each token's id in the word table, document after document (not named
  ``token``: xarray would load an array named like its dimension whole, as that dimension's index);
- ``document_tokens`` (document) int64: how many tokens each document has;
- ``word`` (word) str: the word table, words in order of first appearance in the corpus, with
  ``word_count`` (its tokens) and ``word_doc_freq`` (the documents it occurs in) beside it;
- with lines (``with_lines``, for ``window.unit: lines``): ``token_line`` (token) int32, each token's
  line in its document, and ``document_lines`` (document) int64 (a document has count("\\n") + 1 lines);
- attrs: provenance, ``lowercase``, ``token_pattern``, ``with_lines``, ``n_documents``, ``n_tokens``.

Memory: a few batches of text and the word table, which grows with the number of distinct words, not
with the corpus.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path

import numpy as np

from bowsflow.data.pairs import distinct_pairs
from bowsflow.data.tokenizer import TOKEN_PATTERN, tokenize_documents, tokenize_with_starts
from bowsflow.runtime.parallel import ordered_map

log = logging.getLogger(__name__)

TOKEN_CHUNK = 1 << 22  # tokens per chunk of ``word_id`` (16 MiB of int32)
DOCUMENT_CHUNK = 1 << 18  # documents per chunk of ``document_tokens``
BATCH_TOKENS = 1 << 20  # tokens per batch read back (whole documents: a longer document comes alone)


@dataclass(frozen=True)
class TokenBatch:
    """The tokens of consecutive documents.

    ids int32 [n_tokens]: each token's id in a word list, document after document; tokens_per_doc int64
    [n_docs]. With lines: line int32 [n_tokens], each token's line in its document, and lines_per_doc
    int64 [n_docs]; otherwise both None.
    """

    ids: np.ndarray
    tokens_per_doc: np.ndarray
    line: np.ndarray | None = None
    lines_per_doc: np.ndarray | None = None

    @property
    def n_docs(self) -> int:
        return int(self.tokens_per_doc.size)


def first_appearance_ids() -> defaultdict:
    """A dict that gives each new key the next id, 0, 1, 2, … (looked up with ``map(d.__getitem__, keys)``:
    a lookup and, for a new key, its id, without a Python call per key)."""
    ids: defaultdict = defaultdict()
    ids.default_factory = ids.__len__
    return ids


def encode_documents(
    texts: list[str], words: defaultdict, lowercase: bool = False, with_lines: bool = False
) -> TokenBatch:
    """Tokenize a batch of documents: the tokens as ids into ``words`` (a :func:`first_appearance_ids`
    dict, which the batch's new tokens are added to)."""
    n_docs = len(texts)
    if with_lines:
        tokens, starts = zip(*(tokenize_with_starts(t, lowercase) for t in texts)) if n_docs else ((), ())
    else:
        tokens = tokenize_documents(texts, lowercase)
    tokens_per_doc = np.fromiter(map(len, tokens), dtype=np.int64, count=n_docs)
    n_tokens = int(tokens_per_doc.sum())
    ids = np.fromiter(map(words.__getitem__, chain.from_iterable(tokens)), dtype=np.int32, count=n_tokens)
    line = lines_per_doc = None
    if with_lines:
        # each token's line: the number of line breaks before its start in its document
        line = np.empty(n_tokens, dtype=np.int32)
        end = np.cumsum(tokens_per_doc)
        for d in np.flatnonzero(tokens_per_doc).tolist():
            newlines = np.flatnonzero(np.frombuffer(texts[d].encode("utf-32-le"), dtype=np.uint32) == 0x0A)
            line[end[d] - tokens_per_doc[d] : end[d]] = np.searchsorted(newlines, starts[d])
        lines_per_doc = np.fromiter((t.count("\n") + 1 for t in texts), dtype=np.int64, count=n_docs)
    return TokenBatch(ids, tokens_per_doc, line, lines_per_doc)


def word_frequencies(batch: TokenBatch, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts, doc_freqs), int64 [n_words]: each word id's tokens in the batch, and the documents of the
    batch it occurs in (its distinct (document, id) pairs)."""
    counts = np.bincount(batch.ids, minlength=n_words).astype(np.int64)
    doc = np.repeat(np.arange(batch.n_docs, dtype=np.int64), batch.tokens_per_doc)
    _, words = distinct_pairs(doc, batch.ids, n_words)
    return counts, np.bincount(words, minlength=n_words).astype(np.int64)


def encode_and_count(texts: list[str], lowercase: bool, with_lines: bool):
    """What a worker does with one batch: :func:`encode_documents`, then :func:`word_frequencies`."""
    words = first_appearance_ids()
    batch = encode_documents(texts, words, lowercase, with_lines)
    return batch, list(words), *word_frequencies(batch, len(words))


class WordTable:
    """The corpus' word table: word → id in order of first appearance, with each word's count and document
    frequency, built batch by batch (:meth:`add`)."""

    def __init__(self):
        self.ids = first_appearance_ids()
        self.counts = np.zeros(0, dtype=np.int64)
        self.doc_freqs = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def words(self) -> list[str]:
        return list(self.ids)

    def add(self, batch: TokenBatch, words: list[str], counts: np.ndarray, doc_freqs: np.ndarray) -> TokenBatch:
        """Take in a batch encoded against its own ``words`` (with their counts and document frequencies in
        it); returns the batch with ids into this table."""
        table_ids = np.fromiter(map(self.ids.__getitem__, words), dtype=np.int32, count=len(words))
        self._grow()
        self.counts[table_ids] += counts  # a batch's words are distinct: no id repeats here
        self.doc_freqs[table_ids] += doc_freqs
        return replace(batch, ids=table_ids[batch.ids])

    def encode(self, texts: list[str], lowercase: bool = False, with_lines: bool = False) -> TokenBatch:
        """Tokenize a batch of documents against this table and count it in; returns its tokens."""
        batch = encode_documents(texts, self.ids, lowercase, with_lines)
        self._grow()
        counts, doc_freqs = word_frequencies(batch, len(self.ids))
        self.counts[: counts.size] += counts
        self.doc_freqs[: doc_freqs.size] += doc_freqs
        return batch

    def _grow(self) -> None:
        """Room for every word in the table: the arrays at least double when they grow, so that a table of
        n words is copied O(log n) times, not once per batch that brings a new word."""
        if self.counts.size < len(self.ids):
            grow = max(len(self.ids), 2 * self.counts.size) - self.counts.size
            self.counts = np.concatenate([self.counts, np.zeros(grow, dtype=np.int64)])
            self.doc_freqs = np.concatenate([self.doc_freqs, np.zeros(grow, dtype=np.int64)])

    def counters(self) -> tuple[Counter, Counter]:
        """(counts, doc_freqs) as Counters keyed by word."""
        words = self.words
        n = len(words)
        counts, doc_freqs = self.counts[:n].tolist(), self.doc_freqs[:n].tolist()
        return Counter(dict(zip(words, counts))), Counter(dict(zip(words, doc_freqs)))


def tokenize_batches(
    batches: Iterable[list[str]], table: WordTable, lowercase: bool = False, with_lines: bool = False, workers: int = 1
) -> Iterator[TokenBatch]:
    """Each batch of documents tokenized and counted into ``table``, in order; yields the batches with ids
    into the table. With ``workers`` processes, each batch is tokenized against its own word list and
    mapped into the table here (a lookup per distinct word of the batch); in one process, straight
    against the table."""
    if workers <= 1:
        for texts in batches:
            yield table.encode(texts, lowercase, with_lines)
        return
    for batch, words, counts, doc_freqs in ordered_map(encode_and_count, batches, workers, None, lowercase, with_lines):
        yield table.add(batch, words, counts, doc_freqs)


class TokenStoreWriter:
    """Appends token batches to a new ``tokens.zarr`` at ``root`` (an open temporary path), a whole chunk at
    a time; :meth:`close` writes the word table and the attributes."""

    def __init__(self, root: Path, with_lines: bool):
        import zarr

        from bowsflow.store.integrity import checksummed
        from bowsflow.store.zarr_io import ChunkAppender

        self.root = root
        self.group = zarr.open_group(str(root), mode="w", zarr_format=3)
        arrays = {
            "word_id": ("token", np.int32, TOKEN_CHUNK),
            "document_tokens": ("document", np.int64, DOCUMENT_CHUNK),
        }
        if with_lines:
            arrays |= {
                "token_line": ("token", np.int32, TOKEN_CHUNK),
                "document_lines": ("document", np.int64, DOCUMENT_CHUNK),
            }
        # zstd at level 1: about as small as the default level 3 on token ids, in less time
        level_1 = checksummed([zarr.codecs.ZstdCodec(level=1)])
        self.appenders = {
            name: ChunkAppender(
                self.group.create_array(
                    name,
                    shape=(0,),
                    chunks=(chunk,),
                    dtype=dtype,
                    fill_value=0,
                    compressors=level_1,
                    dimension_names=(dim,),
                )
            )
            for name, (dim, dtype, chunk) in arrays.items()
        }
        self.n_tokens = 0
        self.n_documents = 0

    def append(self, batch: TokenBatch) -> None:
        self.appenders["word_id"].append(batch.ids)
        self.appenders["document_tokens"].append(batch.tokens_per_doc)
        if "token_line" in self.appenders:
            self.appenders["token_line"].append(batch.line)
            self.appenders["document_lines"].append(batch.lines_per_doc)
        self.n_tokens += batch.ids.size
        self.n_documents += batch.n_docs

    def close(self, table: WordTable, attrs: dict) -> None:
        from bowsflow.store.integrity import INTEGRITY, checksummed
        from bowsflow.store.zarr_io import consolidate

        for appender in self.appenders.values():
            appender.close()
        for name, values in (
            ("word", np.asarray(table.words, dtype=object)),
            ("word_count", table.counts[: len(table)]),
            ("word_doc_freq", table.doc_freqs[: len(table)]),
        ):
            strings = values.dtype == object
            array = self.group.create_array(
                name,
                shape=values.shape,
                chunks=(max(1, values.size),),
                dtype=str if strings else values.dtype,
                fill_value="" if strings else 0,
                compressors=checksummed(),
                dimension_names=("word",),
            )
            array[...] = values
        counts = {"n_documents": self.n_documents, "n_tokens": self.n_tokens, "n_words": len(table)}
        self.group.attrs.update(attrs | counts | {"integrity": INTEGRITY, "token_pattern": TOKEN_PATTERN})
        consolidate(self.root)


@dataclass(frozen=True)
class TokenStore:
    """An open ``tokens.zarr`` (read through :func:`bowsflow.store.checked.open_group`): its word table,
    settings and counts; :meth:`batches` reads its tokens back."""

    path: Path
    group: object

    @classmethod
    def open(cls, path: str | Path) -> "TokenStore":
        from bowsflow.store.checked import open_group

        return cls(Path(path), open_group(path))

    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @property
    def words(self) -> list[str]:
        return [str(w) for w in self.group["word"][...].tolist()]

    @property
    def with_lines(self) -> bool:
        return "token_line" in self.group.array_keys()

    def batches(self, batch_tokens: int = BATCH_TOKENS) -> Iterator[TokenBatch]:
        """The stored tokens in batches of whole documents, about ``batch_tokens`` tokens each (a longer
        document alone), in order; each array is read chunk by chunk, once."""
        with_lines = self.with_lines
        tokens = _Sequential(self.group["word_id"])
        lines = _Sequential(self.group["token_line"]) if with_lines else None
        document_tokens = self.group["document_tokens"]
        n_docs = document_tokens.shape[0]
        step = document_tokens.chunks[0]  # document_lines is chunked as document_tokens: read the same slice
        for lo in range(0, n_docs, step):
            per_doc = document_tokens[lo : lo + step]
            lines_per_doc = self.group["document_lines"][lo : lo + step] if with_lines else None
            ends = np.cumsum(per_doc)
            first = 0
            while first < per_doc.size:
                before = int(ends[first - 1]) if first else 0
                last = max(first + 1, int(np.searchsorted(ends, before + batch_tokens, side="right")))
                n = int(ends[last - 1]) - before
                yield TokenBatch(
                    tokens.take(n),
                    per_doc[first:last],
                    lines.take(n) if with_lines else None,
                    lines_per_doc[first:last] if with_lines else None,
                )
                first = last


class _Sequential:
    """Reads a 1-d array front to back, a chunk at a time, handing out consecutive slices."""

    def __init__(self, array):
        self.array = array
        self.next_chunk = 0
        self.buffer = np.zeros(0, dtype=array.dtype)

    def take(self, n: int) -> np.ndarray:
        parts = [self.buffer]
        have = self.buffer.size
        step = self.array.chunks[0]
        while have < n:
            lo = self.next_chunk * step
            if lo >= self.array.shape[0]:
                raise ValueError(f"{self.array.path}: {n - have} values fewer than the document counts say")
            part = self.array[lo : lo + step]
            parts.append(part)
            have += part.size
            self.next_chunk += 1
        values = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self.buffer = values[n:]
        return values[:n]


def write_token_store(
    batches: Iterable[list[str]],
    path: str | Path,
    lowercase: bool,
    with_lines: bool,
    attrs: dict,
    workers: int = 1,
    finish=None,
) -> WordTable:
    """Tokenize ``batches`` of documents into a token store at ``path`` (atomically: nothing is left there
    unless it completes). ``finish(table)``, if given, runs before the store is published, and may raise
    (a vocabulary that cannot be chosen leaves no store). Returns the word table."""
    from bowsflow.store.atomic import atomic_path
    from bowsflow.store.integrity import writing_every_chunk

    table = WordTable()
    with atomic_path(path) as tmp, writing_every_chunk():
        writer = TokenStoreWriter(tmp, with_lines)
        for batch in tokenize_batches(batches, table, lowercase, with_lines, workers):
            writer.append(batch)
        extra = finish(table) if finish is not None else {}
        writer.close(table, attrs | {"lowercase": lowercase, "with_lines": with_lines} | (extra or {}))
    return table
