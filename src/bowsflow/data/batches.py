"""Mini-batches streamed from a BOWS store, chunk by chunk, in a deterministic shuffled order.

Each epoch visits the store's chunks in a permuted order and the chosen split's samples of a chunk in a
permuted order (both from the seed and the epoch number); rows left over at the end of a chunk are
carried into the next chunk's batches, so every batch but an epoch's last is full. Memory holds one
chunk and one batch, whatever the store's size. A batch is sparse: the positions of its ones.

The first epoch keeps each chunk's rows in sparse form (the positions of the ones, int32) up to
``cache_mb``; later epochs batch from that form instead of reading and decompressing the dense chunk
again (at V = 10,000 a 65,536-row chunk is 655 MB of bools, its positions a few MB). Chunks beyond the
budget are read again each epoch, so memory stays bounded whatever the store's size. The batches are
the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
        n, V = bows.shape
        flat = np.flatnonzero(bows)  # one pass over the flat array; faster than a 2-D nonzero
        rows = flat // V
        cols = flat - rows * V
        offsets = np.searchsorted(rows, np.arange(n))
        return cls(rows, cols, offsets.astype(np.int64), int(n))

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
    ):
        import zarr

        self.group = zarr.open_group(str(store), mode="r")
        self.bows = self.group["bows"]
        self.split_array = self.group["split"]
        self.split, self.batch_size, self.seed, self.shuffle = split, int(batch_size), int(seed), shuffle
        self.n_total, self.vocab_size = self.bows.shape
        self.chunk = int(self.bows.chunks[0])
        self.n_chunks = -(-self.n_total // self.chunk)
        self._n_split = None
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # chunk → (lengths, positions)
        self._cached_bytes = 0

    def sparse_chunk_rows(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(lengths [n_k] int64, columns [nnz] int32): the split's rows of chunk k in sparse form, each
        row's ones in increasing column order (cached while within ``cache_mb``)."""
        if k in self._cache:
            return self._cache[k]
        lo, hi = k * self.chunk, min((k + 1) * self.chunk, self.n_total)
        keep = self._in_split(lo, hi)
        # the positions straight from the chunk as read (no copy of the split's dense rows: the one
        # dense chunk is all that memory holds at once)
        flat = np.flatnonzero(np.asarray(self.bows[lo:hi]))
        rows = flat // self.vocab_size
        cols = flat - rows * self.vocab_size
        mine = keep[rows]
        rows = (np.cumsum(keep) - 1)[rows[mine]]  # each row's index among the split's rows
        out = (np.bincount(rows, minlength=int(keep.sum())).astype(np.int64), cols[mine].astype(np.int32))
        size = out[0].nbytes + out[1].nbytes
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[k] = out
            self._cached_bytes += size
        return out

    def _in_split(self, lo: int, hi: int) -> np.ndarray:
        # zarr returns numpy StringDType here, which compares with == but has no .astype(str)
        return np.asarray(self.split_array[lo:hi]) == self.split

    @property
    def n_samples(self) -> int:
        """Number of samples in the split (read once from the split array, chunk by chunk)."""
        if self._n_split is None:
            total = 0
            for k in range(self.n_chunks):
                lo, hi = k * self.chunk, min((k + 1) * self.chunk, self.n_total)
                total += int(self._in_split(lo, hi).sum())
            self._n_split = total
        return self._n_split

    def batches_per_epoch(self) -> int:
        return -(-self.n_samples // self.batch_size)

    def epoch(self, epoch: int = 0) -> Iterator[SparseBatch]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n_chunks) if self.shuffle else np.arange(self.n_chunks)
        carry_lengths, carry_cols = np.zeros(0, np.int64), np.zeros(0, np.int32)
        B = self.batch_size
        for k in order.tolist():
            lengths, cols = self.sparse_chunk_rows(k)
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
