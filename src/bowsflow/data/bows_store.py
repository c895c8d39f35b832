"""The BOWS store: binary bag-of-words samples of a corpus as a chunked Zarr (v3) store.

Layout (``xarray.open_zarr`` gives it back):

- ``bows`` (sample, word) bool, chunks (chunk_samples, V), zstd-compressed (level 1);
- the same rows in index form (:mod:`bowsflow.store.index_form`): ``word_index`` (nonzero) int32, the
  word ids of each sample's words, sample after sample, and ``sample_offset`` (sample) int64, where each
  sample's words start; training reads these, not the dense chunks;
- ``word`` (word) coordinate: the vocabulary strings in id order, with ``word_count`` and
  ``word_doc_freq`` beside it;
- ``split`` (sample) 'train' | 'val'; ``doc_id`` (sample) int64, the corpus document the window starts
  in; ``window_start`` (sample) int64, its first unit (token, line or document) in that document;
- attrs: provenance (config hash and JSON, package version, input checksum) and counts.

Samples are streamed from the corpus' token store (:mod:`bowsflow.data.tokens`: the text is tokenized
once, when the vocabulary is counted): batches of whole documents are turned into sparse rows by worker
processes, rows are gathered
into exactly ``chunk_samples`` rows and written by zarr a whole chunk at a time, so memory is bounded by
one chunk (its dense rows, made from its sparse ones) and a few batches, and no chunk is written twice
(``word_index``'s entries are held until they fill a chunk: :class:`bowsflow.store.zarr_io.ChunkAppender`).
The store holds the arrays, attributes and coordinates that xarray would write for the whole dataset
(a test compares them), without importing xarray.
Windows without any vocabulary word are dropped and counted (``n_windows_dropped_empty``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bowsflow.data.bows import DocumentWindows, VocabularyIndex, bags_of, kept_tokens
from bowsflow.data.splits import is_validation, split_labels
from bowsflow.data.tokens import TokenBatch
from bowsflow.data.windows import WindowSpec, window_origins, window_word_rows
from bowsflow.runtime.parallel import ordered_map
from bowsflow.store.atomic import atomic_path
from bowsflow.store.checked import open_dataset
from bowsflow.store.index_form import (
    INDEX_FORM,
    create_index_array,
    sparse_rows,
)
from bowsflow.store.integrity import (
    INTEGRITY,
    checksummed,
    writing_every_chunk,
)
from bowsflow.store.zarr_io import ChunkAppender, consolidate

log = logging.getLogger(__name__)


class EmptyCorpusError(ValueError):
    """No sample could be made: the corpus is empty or has no vocabulary word."""


@dataclass(frozen=True)
class RowBlock:
    """Consecutive samples in sparse form: lengths int64 [n] (words per sample), words int32 [nnz] (each
    sample's word ids, increasing, sample after sample), doc_id int64 [n], window_start int64 [n], and
    for synthetic corpora the latent point of each sample, latent float [n, d] (else None). Rows stay
    sparse until a chunk is written, which is when its dense ``bows`` is made."""

    lengths: np.ndarray
    words: np.ndarray
    doc_id: np.ndarray
    window_start: np.ndarray
    latent: np.ndarray | None = None

    @classmethod
    def from_dense(cls, bows: np.ndarray, doc_id, window_start, latent=None) -> "RowBlock":
        lengths, words = sparse_rows(bows)
        return cls(lengths, words, np.asarray(doc_id), np.asarray(window_start), latent)

    def __len__(self) -> int:
        return int(self.doc_id.size)

    def split_at(self, n: int) -> tuple["RowBlock", "RowBlock"]:
        """(the first n samples, the rest)."""
        cut = int(self.lengths[:n].sum())
        latent = (None, None) if self.latent is None else (self.latent[:n], self.latent[n:])
        head = RowBlock(self.lengths[:n], self.words[:cut], self.doc_id[:n], self.window_start[:n], latent[0])
        tail = RowBlock(self.lengths[n:], self.words[cut:], self.doc_id[n:], self.window_start[n:], latent[1])
        return head, tail


def _batch_rows(batch: TokenBatch, vocabulary_id: np.ndarray, vocab_size: int, spec: WindowSpec):
    """(lengths [n_windows], words [nnz] int32, window_doc, window_start): each window's distinct
    vocabulary words, increasing (:func:`~bowsflow.data.windows.window_word_rows`)."""
    t = kept_tokens(batch, vocabulary_id)
    unit, n_units = (t.position, t.tokens_per_doc) if spec.unit == "tokens" else (t.line, t.lines_per_doc)
    lengths, words = window_word_rows(t.doc_index, unit, t.ids, n_units, spec, vocab_size)
    return (lengths, words, *window_origins(n_units, spec))


def _batch_bags(batch: TokenBatch, vocabulary_id: np.ndarray, vocab_size: int) -> np.ndarray:
    """bool [n_docs, vocab_size]: each document's vocabulary words."""
    return bags_of(kept_tokens(batch, vocabulary_id), vocab_size)


def iter_rows(
    batches: Iterable[TokenBatch],
    vocabulary_id: np.ndarray,
    vocab_size: int,
    spec: WindowSpec,
    workers: int = 1,
    counts: dict | None = None,
) -> Iterator[RowBlock]:
    """BOWS rows of a stream of token batches (whole documents each), in corpus order, empty windows dropped.

    ``vocabulary_id`` int [n_words]: the vocabulary id of each word id of the batches (−1: not a
    vocabulary word). ``counts`` (if given) receives ``n_windows`` and ``n_windows_dropped_empty``.
    """
    counts = counts if counts is not None else {}
    counts.setdefault("n_windows", 0)
    counts.setdefault("n_windows_dropped_empty", 0)
    if spec.unit == "documents":
        windower = DocumentWindows(spec, vocab_size)
        for bags in ordered_map(_batch_bags, batches, workers, None, vocabulary_id, vocab_size):
            rows, first = windower.push(bags)
            yield from _keep_nonempty(RowBlock.from_dense(rows, first, first), counts)
        rows, first = windower.finish()
        yield from _keep_nonempty(RowBlock.from_dense(rows, first, first), counts)
        return
    for lengths, words, window_doc, window_start in _rows_with_global_docs(
        batches, vocabulary_id, vocab_size, spec, workers
    ):
        yield from _keep_nonempty(RowBlock(lengths, words, window_doc, window_start), counts)


def _rows_with_global_docs(batches, vocabulary_id, vocab_size, spec, workers):
    """``ordered_map(_batch_rows)`` with batch-local document indices made corpus-wide."""
    sizes: list[int] = []

    def remember_sizes(items):
        for batch in items:
            sizes.append(batch.n_docs)
            yield batch

    doc_offset = 0
    results = ordered_map(_batch_rows, remember_sizes(batches), workers, None, vocabulary_id, vocab_size, spec)
    for k, (lengths, words, window_doc, window_start) in enumerate(results):
        yield lengths, words, window_doc + doc_offset, window_start
        doc_offset += sizes[k]


def _keep_nonempty(block: RowBlock, counts: dict) -> Iterator[RowBlock]:
    counts["n_windows"] += len(block)
    keep = block.lengths > 0
    counts["n_windows_dropped_empty"] += int((~keep).sum())
    if keep.all():
        if len(block):
            yield block
    elif keep.any():  # an empty window has no words: dropping it leaves ``words`` as it is
        yield RowBlock(block.lengths[keep], block.words, block.doc_id[keep], block.window_start[keep])


def rechunk_rows(blocks: Iterable[RowBlock], chunk_samples: int) -> Iterator[RowBlock]:
    """Regroup blocks into blocks of exactly ``chunk_samples`` rows (the last may be shorter)."""
    pending: list[RowBlock] = []
    n_pending = 0
    for block in blocks:
        pending.append(block)
        n_pending += len(block)
        while n_pending >= chunk_samples:
            head, rest = _concat(pending).split_at(chunk_samples)
            yield head
            pending, n_pending = ([rest] if len(rest) else []), len(rest)
    if n_pending:
        yield _concat(pending)


def _concat(blocks: list[RowBlock]) -> RowBlock:
    if len(blocks) == 1:
        return blocks[0]
    return RowBlock(
        *(
            np.concatenate([getattr(b, name) for b in blocks])
            for name in ("lengths", "words", "doc_id", "window_start")
        ),
        None if blocks[0].latent is None else np.concatenate([b.latent for b in blocks]),
    )


@dataclass(frozen=True)
class SplitOptions:
    val_fraction: float = 0.1
    seed: int = 0
    split_by: str = "sample"  # sample | document


class DenseRows:
    """One chunk's dense rows, made in a buffer that is reused from chunk to chunk: only the last chunk's
    ones are cleared before the next chunk's are set. (A fresh zero-filled chunk of 65,536 × 10,000
    bytes cost about 1.1 s of page faults, 7 of the 21 s of the build at 160 MB.)"""

    def __init__(self, chunk_samples: int, V: int):
        self.buffer = np.zeros((0, V), dtype=bool)
        self.chunk_samples = chunk_samples
        self.ones: tuple[np.ndarray, np.ndarray] | None = None

    def fill(self, block: RowBlock) -> np.ndarray:
        """A whole chunk, [chunk_samples, V] bool: the dense rows of ``block`` (at most ``chunk_samples``),
        then rows of False. Valid until the next :meth:`fill`."""
        n = len(block)
        if n > self.chunk_samples:
            raise ValueError(f"{n} rows do not fit in a chunk of {self.chunk_samples}")
        if self.buffer.shape[0] == 0:
            self.buffer = np.zeros((self.chunk_samples, self.buffer.shape[1]), dtype=bool)
        elif self.ones is not None:
            self.buffer[self.ones] = False
        self.ones = (np.repeat(np.arange(n), block.lengths), block.words)
        self.buffer[self.ones] = True
        return self.buffer


def write_chunk_rows(array, start: int, chunk: np.ndarray, n_rows: int) -> None:
    """Append the first ``n_rows`` rows of ``chunk`` (a whole chunk of ``array``, its rows after
    ``n_rows`` at the fill value) to ``array``, which ends at ``start``, a chunk boundary. A cut chunk (the
    last) is written whole and the array cut back after: the bytes zarr would store, without zarr
    building the padded chunk itself in a fresh chunk-sized buffer (1.5 s of a 5.6 s build at 160 MB)."""
    array.resize((start + chunk.shape[0], *array.shape[1:]))
    array[start : start + chunk.shape[0]] = chunk
    if n_rows < chunk.shape[0]:
        array.resize((start + n_rows, *array.shape[1:]))


def write_bows_store(
    blocks: Iterable[RowBlock],
    path: str | Path,
    words: list[str],
    word_count: list[int],
    word_doc_freq: list[int],
    split: SplitOptions,
    chunk_samples: int,
    attrs: dict,
    show_progress: bool = False,
    extra_word_coords: dict | None = None,
    final_attrs=None,
) -> dict:
    """Write row blocks as a BOWS store at ``path`` (atomically). Returns the summary counts."""
    import zarr

    V = len(words)
    word_coords = dict(extra_word_coords or {})
    word_coords |= {
        "word": ("word", np.asarray(words, dtype=object)),
        "word_count": ("word", np.asarray(word_count, dtype=np.int64)),
        "word_doc_freq": ("word", np.asarray(word_doc_freq, dtype=np.int64)),
    }
    n_samples = 0
    n_val = 0
    progress = None
    if show_progress:
        from tqdm import tqdm

        progress = tqdm(unit=" samples", desc="bows", mininterval=2.0)
    n_words = 0  # entries of word_index written so far
    appenders: dict = {}
    dense_rows = DenseRows(chunk_samples, V)
    with atomic_path(path) as tmp, writing_every_chunk():
        for block in rechunk_rows(blocks, chunk_samples):
            n = len(block)
            index = block.doc_id if split.split_by == "document" else np.arange(n_samples, n_samples + n)
            is_val = is_validation(index, split.seed, split.val_fraction)
            per_sample = {  # name: (dimensions, values)
                "sample_offset": (("sample",), n_words + np.cumsum(block.lengths) - block.lengths),
                "split": (("sample",), split_labels(is_val)),
                "doc_id": (("sample",), block.doc_id.astype(np.int64)),
                "window_start": (("sample",), block.window_start.astype(np.int64)),
            }
            if block.latent is not None:
                per_sample["latent"] = (("sample", "latent_dim"), block.latent)
            if n_samples == 0:
                group, created_attrs = _create_store(tmp, per_sample, word_coords, chunk_samples, V)
                appenders = {name: ChunkAppender(group[name]) for name in [*per_sample, INDEX_FORM["index"]]}
                bows = group["bows"]
            # every array a whole chunk at a time: the per-sample arrays and the dense rows' chunk
            # (made from its ones) start where the last chunk ended; word_index fills its own chunks
            for name, (_, values) in per_sample.items():
                appenders[name].append(values)
            write_chunk_rows(bows, n_samples, dense_rows.fill(block), n)
            appenders[INDEX_FORM["index"]].append(block.words)
            n_words += block.words.size
            n_samples += n
            n_val += int(is_val.sum())
            if progress is not None:
                progress.update(n)
        if progress is not None:
            progress.close()
        for appender in appenders.values():
            appender.close()
        if n_samples == 0:
            raise EmptyCorpusError(
                "no sample has any vocabulary word: the corpus is empty or the vocabulary does not occur in it"
            )
        summary = {"n_samples": n_samples, "n_val": n_val, "n_train": n_samples - n_val, "vocab_size": V}
        if final_attrs is not None:  # known only once the blocks are consumed (counts of the reader)
            summary |= final_attrs()
        group = zarr.open_group(tmp, mode="r+")
        # attrs once, at the end, beside the coordinates that no array names (feature_position)
        group.attrs.update(created_attrs | attrs | summary | {"integrity": INTEGRITY, "index_form": INDEX_FORM})
        consolidate(tmp)
    return summary


def _create_store(tmp: Path, per_sample: dict, word_coords: dict, chunk_samples: int, V: int):
    """The store's arrays with no sample yet, as xarray writes them for a Dataset of ``bows``, the
    ``per_sample`` variables (name: (dimensions, values)) and the ``word_coords`` coordinates (name:
    (dimensions, values)), and the index form's; returns the open group and the group's attributes.
    Written with zarr alone: a job that imports xarray also imports pandas and, through xarray's
    writer, dask (about 1 s of a 7 s job on 160 MB). A test holds the metadata to xarray's."""
    import zarr

    group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
    word_coords = {c: ((dims,) if isinstance(dims, str) else tuple(dims), v) for c, (dims, v) in word_coords.items()}

    def create(name, dims, values, chunks, compressors=None, attributes=None):
        values = np.asarray(values)
        if values.dtype == object:  # strings: variable-length UTF-8, as xarray stores them
            dtype, fill, attributes = str, "", dict(attributes or {})
        elif values.dtype.kind == "f":  # xarray's missing value for floats, also as an attribute
            dtype, fill = values.dtype, np.nan
            nan = base64.b64encode(np.array(np.nan, dtype=values.dtype).tobytes()).decode()
            attributes = dict(attributes or {}) | {"_FillValue": nan}
        else:
            dtype, fill, attributes = values.dtype, values.dtype.type(0), dict(attributes or {})
        return group.create_array(
            name,
            shape=values.shape,
            chunks=chunks,
            dtype=dtype,
            fill_value=fill,
            compressors=checksummed(compressors),
            dimension_names=dims,
            attributes=attributes,
        )

    # a non-dimension coordinate is named by the arrays whose dimensions hold its own, else by the group
    named = {c: dims for c, (dims, _) in word_coords.items() if c != "word"}

    def coordinates_of(dims) -> dict:
        names = [c for c, c_dims in named.items() if set(c_dims) <= set(dims)]
        return {"coordinates": " ".join(names)} if names else {}

    # zstd at level 1 (its "fast" strategy), which packs 0/1 bytes as small as the default level 3 in
    # about 30% less time
    bows_dims = ("sample", "word")
    bows_level_1 = [zarr.codecs.ZstdCodec(level=1)]
    create("bows", bows_dims, np.zeros((0, V), dtype=bool), (chunk_samples, V), bows_level_1, coordinates_of(bows_dims))
    for name, (dims, values) in per_sample.items():
        create(name, dims, values[:0], (chunk_samples,) + values.shape[1:], attributes=coordinates_of(dims))
    for name, (dims, values) in word_coords.items():
        values = np.asarray(values)
        create(name, dims, values, values.shape)[...] = values
    create_index_array(group, checksummed())
    variable_dims = [bows_dims] + [dims for dims, _ in per_sample.values()]
    unnamed = [c for c, c_dims in named.items() if not any(set(c_dims) <= set(dims) for dims in variable_dims)]
    return group, ({"coordinates": " ".join(unnamed)} if unnamed else {})


def open_bows(corpus: str, results: str | Path = "results"):
    """Lazy xarray Dataset of ``results/bows/{corpus}/bows.zarr``."""

    path = Path(results) / "bows" / corpus / "bows.zarr"
    if not path.exists():
        raise FileNotFoundError(f"no BOWS store for corpus {corpus!r} at {path} (run: snakemake --cores 2 {path})")
    return open_dataset(path)


def synthetic_row_blocks(spec) -> Iterator[RowBlock]:
    """Row blocks of a synthetic corpus (see :mod:`bowsflow.data.synthetic`); doc_id is the sample index."""
    from bowsflow.data.synthetic import generate_blocks

    start = 0
    for bows, latent in generate_blocks(spec):
        n = bows.shape[0]
        yield RowBlock.from_dense(
            bows, np.arange(start, start + n, dtype=np.int64), np.zeros(n, dtype=np.int64), latent
        )
        start += n


def build_text_store(
    tokens_path: str | Path,
    name: str,
    bows_options: dict,
    vocab,
    path: str | Path,
    attrs: dict,
    workers: int = 1,
    show_progress: bool = False,
    batch_tokens: int | None = None,
) -> dict:
    """Build a text corpus' BOWS store at ``path`` from its token store (:mod:`bowsflow.data.tokens`),
    read in batches of whole documents of about ``batch_tokens`` tokens (the result does not depend on
    it); returns the summary counts."""
    from bowsflow.data.tokens import BATCH_TOKENS, TokenStore
    from bowsflow.data.windows import window_spec

    tokens = TokenStore.open(tokens_path)
    spec_w = window_spec(bows_options)
    if spec_w.unit == "lines" and not tokens.with_lines:
        raise ValueError(f"{tokens_path}: no lines were kept, but corpora.{name} has bows.window.unit 'lines'")
    index = VocabularyIndex(vocab.words)
    # a vocabulary word that never occurs (always_include) is not in the word table: its column stays empty
    vocabulary_id = index.ids(tokens.words)
    counts: dict = {}
    blocks = iter_rows(tokens.batches(batch_tokens or BATCH_TOKENS), vocabulary_id, index.size, spec_w, workers, counts)
    try:
        summary = write_bows_store(
            blocks,
            path,
            vocab.words,
            vocab.counts,
            vocab.doc_freqs,
            _split_options(bows_options),
            int(bows_options["chunk_samples"]),
            attrs | {"window_unit": spec_w.unit, "window_size": spec_w.size, "window_stride": spec_w.stride},
            show_progress,
            final_attrs=lambda: counts | {"n_documents": int(tokens.attrs["n_documents"])},
        )
    except EmptyCorpusError as err:
        raise EmptyCorpusError(f"corpora.{name}: {err}") from None
    return summary


def build_synthetic_store(spec: dict, bows_options: dict, path: str | Path, attrs: dict) -> tuple[dict, object]:
    """Generate a synthetic corpus into its BOWS store; returns (summary, Vocabulary)."""
    from bowsflow.data.synthetic import SyntheticSpec, feature_names, feature_positions
    from bowsflow.data.vocabulary import Vocabulary

    syn = SyntheticSpec(**{k: v for k, v in spec.items() if k not in ("source", "bows")})
    words = feature_names(syn.n_features)
    # counts are needed in vocab.tsv and the store: one cheap extra pass over the generator
    counts = np.zeros(syn.n_features, dtype=np.int64)
    for block in synthetic_row_blocks(syn):
        counts += np.bincount(block.words, minlength=syn.n_features)
    vocab = Vocabulary(words, counts.tolist(), counts.tolist())
    positions = feature_positions(syn.structure, syn.n_features)
    extra = {"feature_position": (("word", "latent_dim"), positions)} if syn.structure != "iid" else {}
    summary = write_bows_store(
        synthetic_row_blocks(syn),
        path,
        words,
        vocab.counts,
        vocab.doc_freqs,
        _split_options(bows_options),
        int(bows_options["chunk_samples"]),
        attrs | {"synthetic_structure": syn.structure},
        False,
        extra,
    )
    return summary, vocab


def _split_options(bows_options: dict) -> SplitOptions:
    return SplitOptions(float(bows_options["val_fraction"]), int(bows_options["seed"]), bows_options["split_by"])
