"""zstd frames written from the ones of a sparse bool array decode, with two independent zstd
decoders (the ``zstandard`` package's and zarr's ``zstd`` codec, through numcodecs), to exactly the
dense array."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
import zarr.codecs as codecs
import zstandard

from bowsflow.store.chunk_files import SPARSE_FRAME_MAX_DENSITY, chunk_path, write_chunk_of_ones
from bowsflow.store.index_form import sparse_rows
from bowsflow.store.integrity import checksummed
from bowsflow.store.sparse_zstd import BLOCK_CONTENT, MAX_LITERALS, zstd_frame_of_ones


def _frame(dense: np.ndarray, n_rows: int | None = None) -> bytes:
    lengths, columns = sparse_rows(dense)
    return zstd_frame_of_ones(lengths, columns, n_rows or dense.shape[0], dense.shape[1])


def _decoded(frame: bytes) -> np.ndarray:
    return np.frombuffer(zstandard.ZstdDecompressor().decompress(frame), dtype=np.uint8)


def _zeros_with(n_rows, n_columns, flat_ones):
    dense = np.zeros(n_rows * n_columns, dtype=bool)
    dense[np.asarray(flat_ones, dtype=np.int64)] = True
    return dense.reshape(n_rows, n_columns)


@pytest.mark.parametrize("density", [0.0, 0.0005, 0.003, 0.02, 0.1, 0.3, 0.7, 1.0])
def test_frame_decodes_to_the_dense_array(density):
    dense = np.random.default_rng(7).random((257, 1013)) < density
    frame = _frame(dense)
    assert zstandard.get_frame_parameters(frame).content_size == dense.size  # zarr's decoder sizes by it
    np.testing.assert_array_equal(_decoded(frame), dense.ravel())


@pytest.mark.parametrize(
    "case",
    [
        "first byte",  # a block that starts with a one
        "last byte",  # the frame ends with a one (trailing literals, no zero run)
        "gaps 1 to 5",  # runs shorter than a match stay literals; 4 zeros is the shortest match
        "long run",  # zero runs longer than a block: RLE blocks between compressed ones
        "block edge",  # ones on both sides of a 128 KiB block boundary
        "literal limit",  # a dense stretch cut into blocks of at most 1,023 literals
        "one code",  # every sequence alike: both codes' tables are RLE
    ],
)
def test_frame_edge_cases(case):
    n_rows, n_columns = 64, 10_000
    n = n_rows * n_columns
    ones = {
        "first byte": [0, 1, 2, 50, 51],
        "last byte": [7, 300, n - 2, n - 1],
        "gaps 1 to 5": np.cumsum(np.tile([1, 2, 3, 4, 5, 6], 500)),
        "long run": [5, 3 * BLOCK_CONTENT + 17, n - BLOCK_CONTENT // 2],
        "block edge": [BLOCK_CONTENT - 2, BLOCK_CONTENT - 1, BLOCK_CONTENT, BLOCK_CONTENT + 5, 2 * BLOCK_CONTENT],
        "literal limit": np.arange(1000, 1000 + 4 * MAX_LITERALS, 2),
        "one code": np.arange(3, n, 40),
    }[case]
    dense = _zeros_with(n_rows, n_columns, ones)
    np.testing.assert_array_equal(_decoded(_frame(dense)), dense.ravel())


def test_rows_past_the_given_ones_are_zero():
    dense = np.random.default_rng(3).random((10, 300)) < 0.05
    frame = _frame(dense, n_rows=25)
    expected = np.zeros((25, 300), dtype=bool)
    expected[:10] = dense
    np.testing.assert_array_equal(_decoded(frame), expected.ravel())


def test_sparse_frame_is_smaller_than_zstds_own_at_bows_density():
    """At the bundled corpus' density (about 26 ones in 10,000), the frame is smaller than zstd's
    level 1 (the store's codec setting), which shows the entropy coding works, not only decodes."""
    dense = np.random.default_rng(0).random((512, 10_000)) < 0.0026
    assert len(_frame(dense)) < 0.8 * len(zstandard.ZstdCompressor(level=1).compress(dense.tobytes()))


@pytest.mark.parametrize(
    "lengths, columns, message",
    [
        ([2, 1], [3, 3, 1], "increase"),  # a repeated column
        ([2, 1], [4, 3, 1], "increase"),  # columns out of order within a row
        ([1, 1], [3, 10], "increase"),  # a column past the array's width
        ([1, 1], [3, -1], "increase"),
        ([2, 1], [1, 2], "rows"),  # lengths that do not add up to the columns
        ([1, 1, 1, 1], [1, 2, 3, 4], "rows"),  # more rows than the array
    ],
)
def test_bad_ones_are_refused(lengths, columns, message):
    with pytest.raises(ValueError, match=message):
        zstd_frame_of_ones(np.array(lengths), np.array(columns), 3, 10)


def _bool_array(tmp_path, name, shape, chunks, zstd_checksum=False):
    return zarr.create_array(
        str(tmp_path / name),
        shape=shape,
        chunks=chunks,
        dtype=bool,
        compressors=checksummed([codecs.ZstdCodec(level=1, checksum=zstd_checksum)]),
    )


@pytest.mark.parametrize("density", [0.004, 0.5])  # the frame from the ones; dense enough for zstd itself
def test_chunks_written_from_ones_read_back_through_zarr(tmp_path, density):
    dense = np.random.default_rng(1).random((50, 333)) < density
    array = _bool_array(tmp_path, "ones", dense.shape, (16, 333))
    by_zarr = _bool_array(tmp_path, "zarr", dense.shape, (16, 333))
    by_zarr[...] = dense
    sparse = []
    for k, lo in enumerate(range(0, 50, 16)):
        lengths, columns = sparse_rows(dense[lo : lo + 16])  # the last chunk is cut by the array's end
        write_chunk_of_ones(array, (k, 0), lengths, columns)
        sparse.append(columns.size <= SPARSE_FRAME_MAX_DENSITY * 16 * 333)  # the whole chunk's density
    reopened = zarr.open_array(str(tmp_path / "ones"), mode="r")  # its crc32c codec checks every chunk
    np.testing.assert_array_equal(reopened[...], dense)
    # sparse chunks take the frame written from the ones (not zstd's bytes), dense ones zstd's own
    for k, is_sparse in enumerate(sparse):
        same = chunk_path(array, (k, 0)).read_bytes() == chunk_path(by_zarr, (k, 0)).read_bytes()
        assert same != is_sparse, k
    assert any(sparse) and (density < SPARSE_FRAME_MAX_DENSITY or not all(sparse))


def test_a_zstd_checksum_takes_zstds_own_path(tmp_path):
    dense = np.random.default_rng(2).random((16, 200)) < 0.01
    array = _bool_array(tmp_path, "ones", dense.shape, (16, 200), zstd_checksum=True)
    write_chunk_of_ones(array, (0, 0), *sparse_rows(dense))
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "ones"), mode="r")[...], dense)


@pytest.mark.parametrize(
    "shape, chunks, dtype",
    [((16, 200), (16, 100), bool), ((4, 5, 6), (4, 5, 6), bool), ((16, 200), (16, 200), "uint8")],
    ids=["chunks split across columns", "3-D", "not bool"],
)
def test_ones_need_a_bool_array_chunked_along_rows_only(tmp_path, shape, chunks, dtype):
    array = zarr.create_array(str(tmp_path / "bad"), shape=shape, chunks=chunks, dtype=dtype)
    with pytest.raises(ValueError, match="span its columns"):
        write_chunk_of_ones(array, (0, 0), np.zeros(4, dtype=np.int64), np.zeros(0, dtype=np.int64))
