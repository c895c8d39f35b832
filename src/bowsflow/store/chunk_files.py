"""Writing one chunk of a Zarr v3 array straight to its file, with the array's own codecs.

Why: zarr's ``crc32c`` codec appends the checksum to the encoded chunk with ``np.append``, a copy of
the whole chunk into fresh memory. For the activation stores' large chunks (131 MB at 16,384 × 2,000
float32) that copy and its page faults cost about 50 ms of a write of about 300 ms. Here the
encoded chunk and its 4 checksum bytes are written to the file one after the other, without the
copy, and the checksum is computed with the ``crc32c`` package's hardware path where it is installed
(8–9 GB/s on this machine, against ``google_crc32c``'s 5). The file holds exactly the bytes zarr
would write (tested byte for byte), so any Zarr reader opens and checks it.

:func:`write_chunk` takes this path when the chunk is whole, the array lives on a local store and
its codecs are ``bytes`` followed by bytes-to-bytes codecs ending in ``crc32c``; anything else is
written by zarr (``array[region] = values``).

:func:`write_chunk_rows` writes a chunk given as consecutive blocks of rows, so that a chunk that is
cheap to make in pieces (the BOWS store's dense rows, made from their index form) is never whole in
memory: with a ``zstd`` compressor the pieces are compressed as one stream (one zstd frame, which any
zstd decoder, zarr's included, reads as it reads a frame compressed in one call).

:func:`write_chunk_of_ones` writes a sparse bool chunk given by its ones: with a ``zstd`` compressor
its frame is written from the ones alone (:mod:`bowsflow.store.sparse_zstd`), and the dense chunk is
never made.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

try:  # the hardware CRC-32C (SSE 4.2 with interleaved streams); google_crc32c comes with zarr
    from crc32c import crc32c as _crc32c
except ImportError:  # pragma: no cover - the fallback gives the same checksum, slower
    from google_crc32c import value as _crc32c


def crc32c(data) -> int:
    """The CRC-32C (Castagnoli) of a bytes-like object, as zarr's ``crc32c`` codec stores it."""
    return _crc32c(data)


def _direct_codecs(array):
    """The array's (bytes codec, bytes-to-bytes codecs before the checksum) when its chunks can be
    written here, else None."""
    from zarr.codecs import BytesCodec, Crc32cCodec
    from zarr.storage import LocalStore

    if array.metadata.zarr_format != 3 or not isinstance(array.store, LocalStore):
        return None
    codecs = tuple(array.metadata.codecs)
    if len(codecs) < 2 or not isinstance(codecs[0], BytesCodec) or not isinstance(codecs[-1], Crc32cCodec):
        return None
    middle = codecs[1:-1]
    if not all(hasattr(codec, "_encode_sync") for codec in middle):
        return None
    return codecs[0], middle


def chunk_path(array, index: tuple[int, ...]) -> Path:
    """The file of chunk ``index`` of an array on a local store."""
    key = array.metadata.encode_chunk_key(tuple(index))
    return Path(array.store.root) / array.path / key


def _write_file(path: Path, parts) -> None:
    """Write the byte strings ``parts`` to ``path`` one after the other, as zarr does: into a temporary
    file beside it, renamed over it once whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(tmp, "wb") as f:
            for part in parts:
                f.write(part)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_checksummed(array, index: tuple[int, ...], body) -> Path:
    """Write an encoded chunk (bytes-like) and its CRC-32C, as zarr's ``crc32c`` codec stores it (4
    little-endian bytes after the body), as chunk ``index`` of ``array``; returns the chunk's file."""
    path = chunk_path(array, index)
    _write_file(path, (body, np.array([crc32c(body)], dtype="<u4").tobytes()))
    return path


def write_chunk(array, index: tuple[int, ...], values: np.ndarray) -> Path:
    """Store ``values`` as chunk ``index`` of ``array`` (a zarr v3 array on a local store) and return
    the chunk's file. ``values`` covers the chunk's region of the array (the last chunk along an axis
    may be cut by the array's end)."""
    codecs = _direct_codecs(array) if values.shape == tuple(array.chunks) else None
    if codecs is None:  # a cut chunk, or codecs this path does not take: zarr writes it
        bounds = zip(index, array.chunks, array.shape, strict=True)
        array[tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in bounds)] = values
        return chunk_path(array, index)
    from zarr.core.array_spec import ArrayConfig
    from zarr.core.buffer import default_buffer_prototype

    array_to_bytes, bytes_to_bytes = codecs
    prototype = default_buffer_prototype()
    spec = array.metadata.get_chunk_spec(tuple(index), ArrayConfig.from_dict({}), prototype)
    values = np.ascontiguousarray(values, dtype=array.dtype)
    encoded = array_to_bytes._encode_sync(prototype.nd_buffer.from_numpy_array(values), spec)
    for codec in bytes_to_bytes:
        encoded = codec._encode_sync(encoded, spec)
    return _write_checksummed(array, index, memoryview(encoded.as_numpy_array()))


def _streamed_zstd(array):
    """The zstd codec of an array whose chunks :func:`write_chunk_rows` can compress as a stream (its
    codecs are ``bytes`` of a one-byte or native-order type, ``zstd``, ``crc32c``), else None."""
    import sys

    from zarr.codecs import ZstdCodec

    codecs = _direct_codecs(array)
    if codecs is None or len(codecs[1]) != 1 or not isinstance(codecs[1][0], ZstdCodec):
        return None
    endian = codecs[0].endian
    if array.dtype.itemsize > 1 and (endian is None or endian.value != sys.byteorder):
        return None
    return codecs[1][0]


def write_chunk_rows(array, index: tuple[int, ...], pieces) -> Path:
    """Store chunk ``index`` of ``array`` (a zarr v3 array on a local store) given as ``pieces``:
    consecutive blocks of its rows (arrays of the chunk's trailing shape), together exactly the
    chunk's full shape; a chunk cut by the array's end is given whole, its rows past the end filled
    with the array's fill value (zarr stores such a chunk so too). A piece may be reused by the
    caller once the next one is asked for. Returns the chunk's file.

    With the codecs ``bytes``, ``zstd``, ``crc32c`` the pieces are compressed as one zstd stream and
    the chunk is never whole in memory; otherwise they are joined and written by :func:`write_chunk`.
    """
    chunk_shape = tuple(array.chunks)
    zstd = _streamed_zstd(array)
    if zstd is None:
        values = np.concatenate([np.array(piece, dtype=array.dtype) for piece in pieces])
        if values.shape != chunk_shape:
            raise ValueError(f"the pieces of chunk {index} have shape {values.shape}, not {chunk_shape}")
        bounds = zip(index, array.chunks, array.shape, strict=True)
        return write_chunk(array, index, values[tuple(slice(0, min(c, s - i * c)) for i, c, s in bounds)])
    import zstandard

    n_bytes = int(np.prod(chunk_shape)) * array.dtype.itemsize
    # zstd's level 0 is its default level (3), as in zarr's codec
    stream = zstandard.ZstdCompressor(level=zstd.level, write_checksum=zstd.checksum).compressobj(size=n_bytes)
    parts, n_rows = [], 0
    for piece in pieces:
        piece = np.ascontiguousarray(piece, dtype=array.dtype)
        if piece.shape[1:] != chunk_shape[1:]:
            raise ValueError(f"a piece of chunk {index} has shape {piece.shape}; rows of {chunk_shape[1:]} expected")
        n_rows += piece.shape[0]
        parts.append(stream.compress(memoryview(piece).cast("B")))
    if n_rows != chunk_shape[0]:
        raise ValueError(f"the pieces of chunk {index} hold {n_rows} rows, not the chunk's {chunk_shape[0]}")
    parts.append(stream.flush())
    return _write_checksummed(array, index, b"".join(parts))


# a chunk with more ones than this is compressed by zstd itself: the frame written from the ones
# stays smaller than zstd's at level 1 up to about a fifth of ones (0.76 of its size at 20%), but a
# block of ones alone has no runs to shorten
SPARSE_FRAME_MAX_DENSITY = 1 / 8


def write_chunk_of_ones(array, index: tuple[int, int], lengths: np.ndarray, columns: np.ndarray) -> Path:
    """Store chunk ``index`` of a 2-D bool ``array`` (a zarr v3 array on a local store, each chunk
    spanning all its columns) given by its ones: ``lengths`` int [n] ones per row of the chunk,
    ``columns`` [sum(lengths)] their columns, increasing within a row (as
    :func:`bowsflow.store.index_form.sparse_rows` gives them); the chunk's rows past the n given ones
    are False. Returns the chunk's file.

    With the codecs ``bytes``, ``zstd`` (without a content checksum), ``crc32c`` and at most
    :data:`SPARSE_FRAME_MAX_DENSITY` ones, the zstd frame is written from the ones
    (:func:`bowsflow.store.sparse_zstd.zstd_frame_of_ones`); otherwise the dense rows are made a few
    at a time and compressed by :func:`write_chunk_rows`."""
    from bowsflow.store.index_form import dense_row_pieces

    if array.ndim != 2 or array.dtype != np.bool_ or array.chunks[1] != array.shape[1]:
        raise ValueError(f"{array.path}: ones are written to a 2-D bool array whose chunks span its columns")
    n_rows, n_columns = array.chunks
    zstd = _streamed_zstd(array)
    if zstd is None or zstd.checksum or columns.size > SPARSE_FRAME_MAX_DENSITY * n_rows * n_columns:
        return write_chunk_rows(array, index, dense_row_pieces(lengths, columns, n_columns, n_rows))
    from bowsflow.store.sparse_zstd import zstd_frame_of_ones

    return _write_checksummed(array, index, zstd_frame_of_ones(lengths, columns, n_rows, n_columns))


class ChunkAppender:
    """Appends rows to a zarr array (on a local store) a whole chunk at a time, each written straight
    to its file (:func:`write_chunk_rows`): rows are held until they fill a chunk, so memory is one
    chunk, and no chunk is written twice (zarr's ``append`` of rows that end inside a chunk reads,
    decodes, re-encodes and rewrites that chunk at the next append). :meth:`close` writes the last,
    cut chunk and sets the array's length. The array's length must be a whole number of chunks when
    the appender starts."""

    def __init__(self, array):
        self.array = array
        self.chunk_rows = array.chunks[0]
        self.n_written = array.shape[0]
        if self.n_written % self.chunk_rows:
            raise ValueError(f"{array.path}: {self.n_written} rows do not end at a chunk boundary")
        self.pending: list[np.ndarray] = []
        self.n_pending = 0

    def append(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=self.array.dtype)
        if values.shape[1:] != self.array.shape[1:]:
            raise ValueError(f"{self.array.path}: rows of shape {values.shape[1:]}, not {self.array.shape[1:]}")
        self.pending.append(values)
        self.n_pending += values.shape[0]
        while self.n_pending >= self.chunk_rows:
            self._write(self.chunk_rows)

    def _write(self, n_rows: int) -> None:
        """Write the next chunk from the first ``n_rows`` pending rows (fewer than a chunk: the last,
        cut chunk, filled with the fill value as zarr stores it)."""
        rows = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        chunk, rest = rows[:n_rows], rows[n_rows:]
        self.pending, self.n_pending = ([rest] if rest.shape[0] else []), rest.shape[0]
        if n_rows < self.chunk_rows:
            fill = np.full((self.chunk_rows - n_rows, *chunk.shape[1:]), self.array.fill_value, self.array.dtype)
            chunk = np.concatenate([chunk, fill])
        index = (self.n_written // self.chunk_rows,) + (0,) * (self.array.ndim - 1)
        self.array.resize((self.n_written + n_rows, *self.array.shape[1:]))
        if chunk.size:  # an array with an empty dimension has no chunk to write (zarr stores none)
            write_chunk_rows(self.array, index, [chunk])
        self.n_written += n_rows

    def close(self) -> None:
        if self.n_pending:
            self._write(self.n_pending)
