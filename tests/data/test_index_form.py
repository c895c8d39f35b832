"""The BOWS store's index form (word_index, sample_offset): it equals the dense ``bows`` exactly,
training from it or from the dense chunks gives the same checkpoint, and an index form that is out of
range, out of order or disagrees with ``bows`` is an error naming the store."""

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from test_bows_store import make_corpus, options

from bowsflow.data.batches import BowsBatches
from bowsflow.data.bows_store import build_text_store
from bowsflow.data.vocabulary import corpus_vocabulary
from bowsflow.models.training import TrainConfig, train
from bowsflow.store.index_form import (
    IndexFormError,
    check_index_form,
    read_index_rows,
)
from bowsflow.store.integrity import checksummed_encoding, verify_store, writing_every_chunk
from helpers import synthetic_store, without_index_form


def index_form_by_hand(path):
    """(offsets, words) re-derived from the dense array alone: row after row, each row's ones in order."""
    dense = np.asarray(zarr.open_group(str(path))["bows"][:])
    lengths = dense.sum(axis=1)
    return np.r_[0, np.cumsum(lengths)[:-1]], np.nonzero(dense)[1]  # np.nonzero walks rows in C order


@pytest.mark.parametrize("kind", ["text", "synthetic"])
def test_the_index_form_equals_the_dense_rows(tmp_path, kind):
    path = tmp_path / "bows.zarr"
    if kind == "text":  # several chunks of a store whose empty windows were dropped
        spec, _ = make_corpus(tmp_path, n_docs=60)
        opts = options(chunk_samples=7, batch_bytes=1024, window={"unit": "tokens", "size": 5, "stride": 3})
        vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=tmp_path / "tokens.zarr")
        build_text_store(tmp_path / "tokens.zarr", "c", opts, vocab, path, {"config_hash": "abc"})
    else:
        synthetic_store(path, n_samples=900, chunk=128)
    ds = xr.open_zarr(path)  # one line of xarray still opens it, the index form beside the dense array
    assert ds.word_index.dims == ("nonzero",) and ds.word_index.dtype == np.int32
    assert ds.sample_offset.dims == ("sample",) and ds.sample_offset.dtype == np.int64
    offsets, words = index_form_by_hand(path)
    np.testing.assert_array_equal(ds.sample_offset.values, offsets)
    np.testing.assert_array_equal(ds.word_index.values, words)
    n_chunks = len(ds.bows.data.chunks[0])
    assert n_chunks > 3 and check_index_form(path) == n_chunks
    group = zarr.open_group(str(path))
    lengths, columns = read_index_rows(group, 5, 40, path)  # rows across chunk boundaries
    dense = np.asarray(group["bows"][5:40])
    np.testing.assert_array_equal(lengths, dense.sum(axis=1))
    np.testing.assert_array_equal(columns, np.nonzero(dense)[1])


def test_training_from_the_index_form_or_the_dense_chunks_gives_the_same_checkpoint(tmp_path):
    store = synthetic_store(tmp_path / "s.zarr", n_samples=1500, chunk=300)
    dense_copy = without_index_form(store, tmp_path / "d.zarr")
    assert BowsBatches(store).indexed and not BowsBatches(dense_copy).indexed
    cfg = TrainConfig(arch="tied_ae", d_latent=3, lr=1e-2, batch_size=64, epochs=3, seed=1, device="cpu", eval_every=10)
    a, b = train(store, cfg), train(dense_copy, cfg)
    assert torch.equal(a.model.W, b.model.W) and torch.equal(a.model.b, b.model.b)
    assert [r["val_loss"] for r in a.history] == [r["val_loss"] for r in b.history]


def _damaged(tmp_path, how):
    store = synthetic_store(tmp_path / "s.zarr", n_samples=600, chunk=128)
    group = zarr.open_group(str(store), mode="r+")  # zarr rewrites the chunk's checksum: only the content is wrong
    if how == "out of range":
        group["word_index"][3] = 12  # V = 12: ids 0–11
    elif how == "unsorted":
        first = np.asarray(group["word_index"][:2])
        group["word_index"][:2] = first[::-1] if first[0] != first[1] else first
    elif how == "offset beyond":
        group["sample_offset"][-1] = group["word_index"].shape[0] + 5
    else:  # the dense array gains a one the index form lacks
        row = np.asarray(group["bows"][0])
        row[np.flatnonzero(~row)[0]] = True
        group["bows"][0] = row
    return store


@pytest.mark.parametrize("how", ["out of range", "unsorted", "offset beyond"])
def test_an_inconsistent_index_form_is_an_error_naming_the_store(tmp_path, how):
    store = _damaged(tmp_path, how)
    with pytest.raises(IndexFormError, match=str(store)):
        for _ in BowsBatches(store, "train", 32).epoch(0):
            pass
    with pytest.raises(IndexFormError, match=str(store)):
        verify_store(store)


def test_an_index_form_that_disagrees_with_bows_fails_verification(tmp_path):
    store = _damaged(tmp_path, "disagrees")
    with pytest.raises(IndexFormError, match=rf"{store}: the index form of rows 0–127 differs .*first at row 0"):
        verify_store(store)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["text", "synthetic"])
def test_the_store_has_the_metadata_xarray_writes(tmp_path, kind):
    # bowsflow writes `bows` chunk by chunk itself; a user must find the arrays, types, codecs and
    # attributes that xarray writes for the same dataset and encodings in one call (a synthetic store
    # has a coordinate no array names, feature_position, listed in the group's attributes)
    ours = tmp_path / "bows.zarr"
    if kind == "text":
        spec, _ = make_corpus(tmp_path, n_docs=60)
        opts = options(chunk_samples=7, window={"unit": "tokens", "size": 5, "stride": 3})
        vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=tmp_path / "tokens.zarr")
        build_text_store(tmp_path / "tokens.zarr", "c", opts, vocab, ours, {"config_hash": "abc"})
    else:
        synthetic_store(ours, n_samples=100, chunk=7)
    ds = xr.open_zarr(ours).load()
    group = zarr.open_group(str(ours))
    encoding = {  # each array's chunks and compressors (the checksum is added again)
        name: {"chunks": group[name].chunks, "compressors": group[name].compressors[:-1]}
        for name in ds.variables
        if name in group
    }
    with writing_every_chunk():
        ds.to_zarr(tmp_path / "xr.zarr", mode="w", encoding=checksummed_encoding(ds, encoding), zarr_format=3)
    theirs = zarr.open_group(str(tmp_path / "xr.zarr"))
    assert sorted(name for name, _ in group.arrays()) == sorted(name for name, _ in theirs.arrays())
    for name, array in group.arrays():
        assert array.metadata.to_dict() == theirs[name].metadata.to_dict(), name
        np.testing.assert_array_equal(array[...], theirs[name][...])
    assert ds.sample.size > 3 * 7 and ds.sample.size % 7  # several chunks, the last one cut
    assert group.attrs.get("coordinates") == theirs.attrs.get("coordinates")
    assert set(xr.open_zarr(ours).coords) == set(ds.coords)
    assert verify_store(ours) == verify_store(tmp_path / "xr.zarr")
