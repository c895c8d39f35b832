"""Batches from a BOWS store: the sparse cache of later epochs gives exactly the batches of reading the
dense chunks again, for any cache budget, chunking and batch size."""

import numpy as np
import pytest

from bowsflow.data.batches import BowsBatches, SparseBatch
from helpers import synthetic_store, without_index_form


def dense_epoch(bb: BowsBatches, epoch: int):
    """The batches re-derived from the dense chunks, in the documented order: chunks permuted, grouped
    in that order into windows whose split rows take at most ``window_mb`` in sparse form (8 bytes a
    row, 4 a one; a chunk alone when it is larger), the rows of a window permuted together, leftovers
    carried into the next window."""
    rng = np.random.default_rng([bb.seed, epoch])
    order = rng.permutation(bb.n_chunks) if bb.shuffle else np.arange(bb.n_chunks)
    dense = np.asarray(bb.bows[:])[np.asarray(bb.split_array[:]) == bb.split]
    split_rows = [  # the split's dense rows of each chunk
        np.asarray(bb.bows[k * bb.chunk : (k + 1) * bb.chunk])[
            np.asarray(bb.split_array[k * bb.chunk : (k + 1) * bb.chunk]) == bb.split
        ]
        for k in range(bb.n_chunks)
    ]
    assert sum(c.shape[0] for c in split_rows) == dense.shape[0]
    windows, used = [], 0
    for k in order.tolist():
        size = 8 * split_rows[k].shape[0] + 4 * int(split_rows[k].sum())
        if not windows or used + size > bb.window_bytes:
            windows, used = [*windows, []], 0
        windows[-1].append(k)
        used += size
    rows = np.zeros((0, bb.vocab_size), dtype=bool)
    out = []
    for window in windows:
        block = np.concatenate([split_rows[k] for k in window])
        if bb.shuffle:
            block = block[rng.permutation(block.shape[0])]
        rows = np.concatenate([rows, block])
        while rows.shape[0] >= bb.batch_size:
            out.append(SparseBatch.from_dense(rows[: bb.batch_size]))
            rows = rows[bb.batch_size :]
    if rows.shape[0]:
        out.append(SparseBatch.from_dense(rows))
    return out, windows


@pytest.mark.parametrize("cache_mb", [512.0, 0.02, 0.0])  # cache and windows: every chunk, some, none
@pytest.mark.parametrize("split, shuffle, batch", [("train", True, 64), ("train", True, 500), ("val", False, 37)])
def test_cached_epochs_give_the_dense_batches(tmp_path, cache_mb, split, shuffle, batch):
    store = synthetic_store(tmp_path / "s.zarr", n_samples=1200, chunk=250)
    bb = BowsBatches(store, split, batch, seed=5, shuffle=shuffle, cache_mb=cache_mb, window_mb=cache_mb)
    assert bb.indexed and bb.n_chunks == 5
    dense_copy = without_index_form(store, tmp_path / "d.zarr")
    dense_path = BowsBatches(dense_copy, split, batch, 5, shuffle, cache_mb=cache_mb, window_mb=cache_mb)
    assert not dense_path.indexed
    for epoch in range(3):
        (expected, windows), got = dense_epoch(bb, epoch), list(bb.epoch(epoch))
        # the budget decides the windows: all five chunks in one (a global shuffle), some, or one each
        assert len(windows) == {512.0: 1, 0.0: 5}.get(cache_mb, len(windows))
        assert 1 < len(windows) < 5 or cache_mb != 0.02 or split != "train"
        assert len(got) == len(expected) and sum(b.size for b in got) == bb.n_samples
        for a, b, c in zip(got, expected, dense_path.epoch(epoch)):
            assert a.size == b.size == c.size
            for field in ("rows", "cols", "offsets"):
                x, y, z = getattr(a, field), getattr(b, field), getattr(c, field)
                assert x.dtype == y.dtype == z.dtype == np.int64 and np.array_equal(x, y) and np.array_equal(x, z)
    if cache_mb == 512.0:
        assert len(bb._cache) == bb.n_chunks
    elif cache_mb == 0.0:
        assert not bb._cache
    else:  # the budget holds the chunks it can, never more than it allows
        everything = BowsBatches(store, split, batch, cache_mb=512.0)
        total = sum(sum(a.nbytes for a in everything.sparse_chunk_rows(k)) for k in range(bb.n_chunks))
        assert 0 < bb._cached_bytes <= bb.cache_bytes
        assert (len(bb._cache) < bb.n_chunks) == (total > bb.cache_bytes)
