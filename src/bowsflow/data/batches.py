"""Mini-batches streamed from a BOWS store, chunk by chunk, in a deterministic shuffled order.

Each epoch visits the store's chunks in a permuted order and the chosen split's samples of a chunk in a
permuted order (both from the seed and the epoch number); rows left over at the end of a chunk are
carried into the next chunk's batches, so every batch but an epoch's last is full. Memory holds one
chunk and one batch, whatever the store's size. A batch is sparse: the positions of its ones.
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
        self, store: str | Path, split: str = "train", batch_size: int = 512, seed: int = 0, shuffle: bool = True
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

    def chunk_rows(self, k: int) -> np.ndarray:
        """bool [n_k, V]: the split's rows of chunk k (in store order)."""
        lo, hi = k * self.chunk, min((k + 1) * self.chunk, self.n_total)
        return np.asarray(self.bows[lo:hi])[self._in_split(lo, hi)]

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
        carry = np.zeros((0, self.vocab_size), dtype=bool)
        for k in order.tolist():
            rows = self.chunk_rows(k)
            if self.shuffle:
                rows = rows[rng.permutation(rows.shape[0])]
            if carry.shape[0]:
                rows = np.concatenate([carry, rows])
            n_full = rows.shape[0] // self.batch_size * self.batch_size
            for lo in range(0, n_full, self.batch_size):
                yield SparseBatch.from_dense(rows[lo : lo + self.batch_size])
            carry = rows[n_full:]
        if carry.shape[0]:
            yield SparseBatch.from_dense(carry)


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
