"""Chunks written straight to their files hold exactly the bytes zarr writes for the same values."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
import zarr.codecs as codecs

from bowsflow.store.chunk_files import (
    ChunkAppender,
    _direct_codecs,
    chunk_path,
    crc32c,
    write_chunk,
    write_chunk_rows,
)
from bowsflow.store.integrity import StoreIntegrityError, checksummed, verify_store

COMPRESSORS = {
    "none": [],
    "zstd": [codecs.ZstdCodec(level=0)],
    "lz4": [codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")],
}


def _pair(tmp_path, compressors, dtype, shape=(10, 7), chunks=(4, 7)):
    def make(name):
        return zarr.create_array(
            str(tmp_path / name), shape=shape, chunks=chunks, dtype=dtype, compressors=checksummed(compressors)
        )

    return make("direct"), make("zarr")


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
@pytest.mark.parametrize("dtype", ["float32", "float16", ">f4", "int64"])
def test_chunk_files_equal_zarrs_bytes(tmp_path, compressor, dtype):
    direct, by_zarr = _pair(tmp_path, COMPRESSORS[compressor], dtype)
    assert _direct_codecs(direct) is not None  # the direct path is the one under test
    values = (np.random.default_rng(0).standard_normal((10, 7)) * 100).astype(dtype)
    for k in range(3):  # chunk 2 is cut by the array's end: zarr writes it
        rows = slice(4 * k, min(4 * k + 4, 10))
        path = write_chunk(direct, (k, 0), values[rows])
        by_zarr[rows] = values[rows]
        assert path == tmp_path / "direct" / "c" / str(k) / "0"
        assert path.read_bytes() == (tmp_path / "zarr" / "c" / str(k) / "0").read_bytes()
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "direct"))[...], values)
    assert not list((tmp_path / "direct").rglob("*.partial"))  # no temporary file left


def test_checksum_is_the_castagnoli_crc():
    # the standard check value of CRC-32C (RFC 3720, B.4): "123456789" → 0xE3069283
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_arrays_without_a_checksum_go_through_zarr(tmp_path):
    plain = zarr.create_array(str(tmp_path / "plain"), shape=(4, 3), chunks=(2, 3), dtype="float32")
    assert _direct_codecs(plain) is None
    values = np.arange(6, dtype="float32").reshape(2, 3)
    path = write_chunk(plain, (1, 0), values)
    assert path == chunk_path(plain, (1, 0)) and path.is_file()
    np.testing.assert_array_equal(plain[2:4], values)


def test_a_damaged_direct_chunk_is_caught(tmp_path):
    values = np.random.default_rng(1).standard_normal((8, 7)).astype("float32")
    group = zarr.open_group(str(tmp_path / "store"), mode="w")
    group.attrs["integrity"] = "crc32c, every chunk written"
    array = group.create_array("a", shape=(8, 7), chunks=(4, 7), dtype="float32", compressors=checksummed())
    for k in range(2):
        write_chunk(array, (k, 0), values[4 * k : 4 * k + 4])
    assert verify_store(tmp_path / "store") == 2
    path = chunk_path(array, (1, 0))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StoreIntegrityError, match=r"array 'a', chunk \(1, 0\)"):
        verify_store(tmp_path / "store")


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
@pytest.mark.parametrize("dtype", ["bool", "float32", "int16"])
def test_a_chunk_written_in_pieces_reads_back_as_zarr_writes_it(tmp_path, compressor, dtype):
    # zstd streams the pieces into one frame (other bytes than zarr's one-call frame, the same values);
    # the other compressors join the pieces and take write_chunk's path, byte for byte zarr's
    direct, by_zarr = _pair(tmp_path, COMPRESSORS[compressor], dtype, shape=(11, 5), chunks=(4, 5))
    values = (np.random.default_rng(2).standard_normal((11, 5)) * 50).astype(dtype)
    for k in range(3):
        rows = values[4 * k : 4 * k + 4]
        whole = np.zeros((4, 5), dtype=dtype)  # chunk 2 is cut by the array's end: padded with the fill value
        whole[: rows.shape[0]] = rows
        pieces = [whole[:1], whole[1:3], whole[3:]]
        path = write_chunk_rows(direct, (k, 0), iter(pieces))
        by_zarr[4 * k : 4 * k + rows.shape[0]] = rows
        assert path == chunk_path(direct, (k, 0))
        if compressor != "zstd":
            assert path.read_bytes() == chunk_path(by_zarr, (k, 0)).read_bytes()
    # zarr decodes every chunk and checks its CRC-32C on reading
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "direct"))[...], values)
    assert not list((tmp_path / "direct").rglob("*.partial"))


def test_pieces_that_do_not_make_the_chunk_are_refused(tmp_path):
    direct, _ = _pair(tmp_path, COMPRESSORS["zstd"], "bool", shape=(8, 5), chunks=(4, 5))
    with pytest.raises(ValueError, match=r"hold 3 rows, not the chunk's 4"):
        write_chunk_rows(direct, (0, 0), [np.zeros((3, 5), dtype=bool)])
    with pytest.raises(ValueError, match=r"rows of \(5,\) expected"):
        write_chunk_rows(direct, (0, 0), [np.zeros((4, 6), dtype=bool)])
    assert not chunk_path(direct, (0, 0)).exists()


@pytest.mark.parametrize("compressor", ["zstd", "none"])
@pytest.mark.parametrize(("dtype", "shape"), [("int32", ()), ("float32", (3,)), ("float64", (0,)), (str, ())])
def test_appended_rows_read_back_as_zarrs_appends(tmp_path, compressor, dtype, shape):
    """Blocks of uneven sizes (across chunk boundaries, a block filling a chunk exactly, an empty one)
    give the array zarr's own appends give: the same length, values and fill value past the end."""
    rng = np.random.default_rng(3)
    sizes = [3, 5, 4, 0, 9, 2]

    def make(name):
        return zarr.create_array(
            str(tmp_path / name),
            shape=(0, *shape),
            chunks=(4, *shape),
            dtype=dtype,
            fill_value="" if dtype is str else 0,
            compressors=checksummed(COMPRESSORS[compressor]),
        )

    direct, by_zarr = make("direct"), make("zarr")
    appender = ChunkAppender(direct)
    for n in sizes:
        values = rng.integers(0, 1000, (n, *shape))
        values = values.astype(str) if dtype is str else values.astype(dtype)
        appender.append(values)
        by_zarr.append(values)
    appender.close()
    direct = zarr.open_array(str(tmp_path / "direct"))  # as a reader sees it: zarr checks every CRC
    assert direct.shape == by_zarr.shape == (sum(sizes), *shape)
    np.testing.assert_array_equal(direct[...], by_zarr[...])
    # the last chunk's padding is the fill value
    direct.resize((24, *shape))
    by_zarr.resize((24, *shape))
    np.testing.assert_array_equal(direct[...], by_zarr[...])


def test_an_appender_starts_at_a_chunk_boundary(tmp_path):
    array = zarr.create_array(str(tmp_path / "a"), shape=(5,), chunks=(4,), dtype="int32")
    with pytest.raises(ValueError, match="5 rows do not end at a chunk boundary"):
        ChunkAppender(array)
