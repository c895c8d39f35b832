"""Mini-batches streamed from a BOWS store in a deterministic shuffled order, memory bounded by a budget.

Rows are read in sparse form, chunk by chunk: from the store's index form (``word_index``,
``sample_offset``: :mod:`bowsflow.store.index_form`) where it has one, else from the dense chunk (stores
written before the index form). A batch is sparse: the positions of its ones.

Each epoch (from the seed and the epoch number) permutes the chunks, groups them in that order into
*windows* whose sparse rows of the split fit within ``window_mb`` (``WINDOW_MB``, a constant: the
windows decide the batches, so they are not a tuning knob), and permutes all the rows of a window
together; rows left over at the end of a window are carried into the next one, so every batch but an
epoch's last is full. When the split fits within one window (18,744 samples at V = 10,000 take about
2 MB; 512 MB holds about 4 million such samples) the shuffle is global, as the BOWS paper's trainer
does it; a larger store is shuffled within windows of chunks (the chunk order changing every epoch),
so memory stays bounded whatever the store's size. A store of one chunk gets the batches it got
before windows existed.

Chunks' sparse rows are also kept (within ``cache_mb``) for later epochs, which then read nothing; the
cache changes no batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bowsflow.store.checked import open_group
from bowsflow.store.index_form import has_index_form, read_index_rows, row_bounds, sparse_rows

WINDOW_MB = 512.0


@dataclass(frozen=True)
class SparseBatch:
    """A batch of binary BOWS rows given by the positions of their ones.

    rows, cols: int64 [nnz] (sorted by row); offsets: int64 [B], where each row's ones start
    (``embedding_bag`` layout, with indices = cols); size: B.
    """

    rows: np.ndarray
    cols: np.ndarray
    offsets: np.ndarray
    size: int

    @classmethod
    def from_dense(cls, bows: np.ndarray) -> "SparseBatch":
        return _batch(*sparse_rows(bows))

    def dense(self, vocab_size: int) -> np.ndarray:
        out = np.zeros((self.size, vocab_size), dtype=bool)
        out[self.rows, self.cols] = True
        return out

    def torch(self, device="cpu"):
        """(indices, offsets, rows, cols) as int64 torch tensors on ``device``."""
        import torch

        device = torch.device(device)
        if device.type == "cuda":
            # page-locked staging buffers (cached by torch's host allocator) make the copies truly
            # asynchronous: the host prepares the next batch while this one is in flight
            as_t = lambda a: torch.from_numpy(a).pin_memory().to(device, non_blocking=True)  # noqa: E731
        else:
            as_t = torch.from_numpy
        cols = as_t(self.cols)
        return cols, as_t(self.offsets), as_t(self.rows), cols


class BowsBatches:
    """Batches of one split of a BOWS store (read with zarr directly: no dask overhead per batch)."""

    def __init__(
        self,
        store: str | Path,
        split: str = "train",
        batch_size: int = 512,
        seed: int = 0,
        shuffle: bool = True,
        cache_mb: float = 512.0,
        window_mb: float = WINDOW_MB,
    ):

        self.store = Path(store)
        self.group = open_group(store)
        self.bows = self.group["bows"]
        self.split_array = self.group["split"]
        self.indexed = has_index_form(self.group)
        self.split, self.batch_size, self.seed, self.shuffle = split, int(batch_size), int(seed), shuffle
        self.n_total, self.vocab_size = self.bows.shape
        self.chunk = int(self.bows.chunks[0])
        self.n_chunks = -(-self.n_total // self.chunk)
        self.cache_bytes = int(cache_mb * 2**20)
        self.window_bytes = int(window_mb * 2**20)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # chunk → (lengths, positions)
        self._cached_bytes = 0
        self._sizes: np.ndarray | None = None

    def sparse_chunk_rows(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(lengths [n_k] int64, columns [nnz] int32): the split's rows of chunk k in sparse form, each
        row's ones in increasing column order (cached while within ``cache_mb``)."""
        if k in self._cache:
            return self._cache[k]
        lo, hi = k * self.chunk, min((k + 1) * self.chunk, self.n_total)
        keep = self._in_split(lo, hi)
        if self.indexed:
            lengths, cols = read_index_rows(self.group, lo, hi, self.store)
        else:  # straight from the dense chunk as read (memory holds that one chunk at once)
            lengths, cols = sparse_rows(np.asarray(self.bows[lo:hi]))
        out = (lengths[keep], cols[np.repeat(keep, lengths)])
        size = out[0].nbytes + out[1].nbytes
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[k] = out
            self._cached_bytes += size
        return out

    def _in_split(self, lo: int, hi: int) -> np.ndarray:
        # zarr returns numpy StringDType here, which compares with == but has no .astype(str)
        return np.asarray(self.split_array[lo:hi]) == self.split

    def chunk_sizes(self) -> np.ndarray:
        """int64 [n_chunks, 2]: the split's rows and ones in each chunk (read once: from the offsets of
        the index form, or else from the chunks themselves)."""
        if self._sizes is None:
            sizes = np.zeros((self.n_chunks, 2), dtype=np.int64)
            for k in range(self.n_chunks):
                lo, hi = k * self.chunk, min((k + 1) * self.chunk, self.n_total)
                if self.indexed:
                    keep = self._in_split(lo, hi)
                    sizes[k] = keep.sum(), np.diff(row_bounds(self.group, lo, hi, self.store))[keep].sum()
                else:
                    lengths, _ = self.sparse_chunk_rows(k)
                    sizes[k] = lengths.size, lengths.sum()
            self._sizes = sizes
        return self._sizes

    @property
    def n_samples(self) -> int:
        """Number of samples in the split."""
        return int(self.chunk_sizes()[:, 0].sum())

    def batches_per_epoch(self) -> int:
        return -(-self.n_samples // self.batch_size)

    def windows(self, order: np.ndarray) -> list[list[int]]:
        """The chunks of ``order`` grouped, in order, into windows whose sparse rows (8 bytes a row, 4 a
        one) fit within ``window_mb`` (a chunk larger than that alone)."""
        sizes = self.chunk_sizes()
        nbytes = 8 * sizes[:, 0] + 4 * sizes[:, 1]
        out: list[list[int]] = []
        used = 0
        for k in order.tolist():
            if not out or used + nbytes[k] > self.window_bytes:
                out.append([])
                used = 0
            out[-1].append(k)
            used += int(nbytes[k])
        return out

    def epoch(self, epoch: int = 0) -> Iterator[SparseBatch]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n_chunks) if self.shuffle else np.arange(self.n_chunks)
        carry_lengths, carry_cols = np.zeros(0, np.int64), np.zeros(0, np.int32)
        B = self.batch_size
        for window in self.windows(order):
            parts = [self.sparse_chunk_rows(k) for k in window]
            lengths = np.concatenate([p[0] for p in parts])
            cols = np.concatenate([p[1] for p in parts])
            del parts
            if self.shuffle:  # the rows in a permuted order: gather each row's run of positions
                perm = rng.permutation(lengths.size)
                starts = np.r_[0, np.cumsum(lengths)][:-1][perm]
                lengths = lengths[perm]
                ptr = np.r_[0, np.cumsum(lengths)]
                cols = cols[np.repeat(starts - ptr[:-1], lengths) + np.arange(ptr[-1])]
            lengths = np.concatenate([carry_lengths, lengths])
            cols = np.concatenate([carry_cols, cols])
            ptr = np.r_[0, np.cumsum(lengths)]
            n_full = lengths.size // B * B
            for lo in range(0, n_full, B):
                yield _batch(lengths[lo : lo + B], cols[ptr[lo] : ptr[lo + B]])
            carry_lengths, carry_cols = lengths[n_full:], cols[ptr[n_full] :]
        if carry_lengths.size:
            yield _batch(carry_lengths, carry_cols)


def _batch(lengths: np.ndarray, cols: np.ndarray) -> SparseBatch:
    """A SparseBatch from its rows' lengths and their positions (as :meth:`SparseBatch.from_dense` gives)."""
    n = lengths.size
    offsets = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    return SparseBatch(np.repeat(np.arange(n, dtype=np.int64), lengths), cols.astype(np.int64), offsets, int(n))


def prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """The items of ``items``, produced by a background thread up to ``depth`` ahead (so reading and
    decompressing the next chunk overlaps with the device's work); order and values are unchanged,
    and an exception in the producer is raised at the point of the consumer it would have reached."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put((item, None))
        except BaseException as error:  # handed to the consumer
            q.put((None, error))
            return
        q.put((done, None))

    thread = threading.Thread(target=produce, daemon=True, name="bowsflow-prefetch")
    thread.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.01)
