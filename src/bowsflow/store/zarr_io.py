"""Writing xarray Datasets as Zarr (v3) stores: atomically, with consolidated metadata.

Consolidated metadata is a zarr-python extension of format 3 (it warns about that when written); we
write it anyway so that ``xarray.open_zarr(path)`` opens our stores quickly and without a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from bowsflow.store.atomic import atomic_path


def consolidate(path: str | Path) -> None:
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        zarr.consolidate_metadata(str(path))


def write_dataset(ds, path: str | Path, threads: int = 1, encoding: dict | None = None) -> None:
    """Write ``ds`` to ``path`` (a temporary sibling first, renamed when complete), computing dask
    arrays with ``threads`` threads; every array checksummed and every chunk written
    (:mod:`bowsflow.store.integrity`)."""
    from bowsflow.runtime.dask_cluster import compute_context
    from bowsflow.store.integrity import INTEGRITY, checksummed_encoding, writing_every_chunk

    ds = ds.assign_attrs(integrity=INTEGRITY)
    with atomic_path(path) as tmp, compute_context(threads), writing_every_chunk():
        ds.to_zarr(str(tmp), zarr_format=3, consolidated=False, encoding=checksummed_encoding(ds, encoding))
        consolidate(tmp)


class ChunkAppender:
    """Appends rows to a zarr array a whole chunk at a time: rows are held until they fill a chunk, then
    zarr writes the chunk (resize, then a chunk-aligned assignment), so memory is one chunk and no chunk
    is written twice (an append of rows that end inside a chunk would have zarr read, decode, re-encode
    and rewrite that chunk at the next one). :meth:`close` writes the last, cut chunk. The array's
    length must be a whole number of chunks when the appender starts."""

    def __init__(self, array):
        self.array = array
        self.chunk_rows = array.chunks[0]
        self.n_written = array.shape[0]
        if self.n_written % self.chunk_rows:
            raise ValueError(f"{array.path}: {self.n_written} rows do not end at a chunk boundary")
        self.pending: list = []
        self.n_pending = 0

    def append(self, values) -> None:
        import numpy as np

        values = np.asarray(values, dtype=self.array.dtype)
        if values.shape[1:] != self.array.shape[1:]:
            raise ValueError(f"{self.array.path}: rows of shape {values.shape[1:]}, not {self.array.shape[1:]}")
        self.pending.append(values)
        self.n_pending += values.shape[0]
        while self.n_pending >= self.chunk_rows:
            self._write(self.chunk_rows)

    def _write(self, n_rows: int) -> None:
        import numpy as np

        rows = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        chunk, rest = rows[:n_rows], rows[n_rows:]
        self.pending, self.n_pending = ([rest] if rest.shape[0] else []), rest.shape[0]
        lo = self.n_written
        self.array.resize((lo + n_rows, *self.array.shape[1:]))
        self.array[lo : lo + n_rows] = chunk
        self.n_written += n_rows

    def close(self) -> None:
        if self.n_pending:
            self._write(self.n_pending)
