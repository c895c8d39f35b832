"""Batches from a BOWS store: the sparse cache of later epochs gives exactly the batches of reading the
dense chunks again, for any cache budget, chunking and batch size."""

import numpy as np
import pytest

from bowsflow.data.batches import BowsBatches, SparseBatch
from helpers import synthetic_store


def dense_epoch(bb: BowsBatches, epoch: int):
    """The batches re-derived from the dense chunks, in the documented order (chunks permuted, then
    the split's rows of each chunk; leftovers carried into the next chunk)."""
    rng = np.random.default_rng([bb.seed, epoch])
    order = rng.permutation(bb.n_chunks) if bb.shuffle else np.arange(bb.n_chunks)
    rows = np.zeros((0, bb.vocab_size), dtype=bool)
    out = []
    for k in order.tolist():
        lo, hi = k * bb.chunk, min((k + 1) * bb.chunk, bb.n_total)  # the split's dense rows of chunk k
        chunk = np.asarray(bb.bows[lo:hi])[np.asarray(bb.split_array[lo:hi]) == bb.split]
        if bb.shuffle:
            chunk = chunk[rng.permutation(chunk.shape[0])]
        rows = np.concatenate([rows, chunk])
        while rows.shape[0] >= bb.batch_size:
            out.append(SparseBatch.from_dense(rows[: bb.batch_size]))
            rows = rows[bb.batch_size :]
    if rows.shape[0]:
        out.append(SparseBatch.from_dense(rows))
    return out


@pytest.mark.parametrize("cache_mb", [512.0, 0.01, 0.0])  # all chunks, some chunks, none cached
@pytest.mark.parametrize("split, shuffle, batch", [("train", True, 64), ("train", True, 500), ("val", False, 37)])
def test_cached_epochs_give_the_dense_batches(tmp_path, cache_mb, split, shuffle, batch):
    store = synthetic_store(tmp_path / "s.zarr", n_samples=1200, chunk=250)
    bb = BowsBatches(store, split, batch, seed=5, shuffle=shuffle, cache_mb=cache_mb)
    assert bb.n_chunks == 5
    for epoch in range(3):
        got, expected = list(bb.epoch(epoch)), dense_epoch(bb, epoch)
        assert len(got) == len(expected) and sum(b.size for b in got) == bb.n_samples
        for a, b in zip(got, expected):
            assert a.size == b.size
            for field in ("rows", "cols", "offsets"):
                x, y = getattr(a, field), getattr(b, field)
                assert x.dtype == y.dtype == np.int64 and np.array_equal(x, y)
    if cache_mb == 512.0:
        assert len(bb._cache) == bb.n_chunks
    elif cache_mb == 0.0:
        assert not bb._cache
    else:  # the budget holds the chunks it can, never more than it allows
        everything = BowsBatches(store, split, batch, cache_mb=512.0)
        total = sum(sum(a.nbytes for a in everything.sparse_chunk_rows(k)) for k in range(bb.n_chunks))
        assert 0 < bb._cached_bytes <= bb.cache_bytes
        assert (len(bb._cache) < bb.n_chunks) == (total > bb.cache_bytes)
