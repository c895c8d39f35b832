"""The index form of a dense bool array: the column of every one, row by row.

A store holding a dense bool array of rows (``bows``, [n, V]) may hold the same rows as

- ``word_index`` (nonzero) int32: the columns of the ones, row after row, each row's in increasing order;
- ``sample_offset`` (sample) int64: where each row's columns start in ``word_index`` (a row ends where
  the next starts; the last at the end of ``word_index``),

and say so in its attributes (``index_form``). Readers that want the ones (training) read a block of
rows from it without decompressing the dense chunk (at V = 10,000 a 65,536-row chunk is 655 MB of
bools, its index form about 7 MB); xarray users keep the dense array. Reading checks the index form's
structure (offsets in order and in range, columns in range and increasing within a row), so a damaged
or inconsistent one is an error naming the store and the rows, never rows trained on;
:func:`check_index_form` also compares it with the dense array, chunk by chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bowsflow.store.errors import StoreIntegrityError

INDEX_FORM = {"dense": "bows", "index": "word_index", "offset": "sample_offset"}
INDEX_CHUNK = 1 << 22  # entries of word_index per chunk (16 MiB of int32)


class IndexFormError(StoreIntegrityError):
    """The index form of a store disagrees with itself or with the dense array it stands for."""


def has_index_form(group) -> bool:
    return group.attrs.get("index_form") == INDEX_FORM


def sparse_rows(bows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths int64 [n], columns int32 [nnz]) of a dense bool array [n, V], rows in order and each
    row's columns increasing."""
    n, V = bows.shape
    flat = np.flatnonzero(bows)  # one pass over the flat array; faster than a 2-D nonzero
    rows = flat // V
    return np.bincount(rows, minlength=n).astype(np.int64), (flat - rows * V).astype(np.int32)


_FIX = "the store is damaged or was not written by bowsflow: delete it and re-run the workflow"


def _where(store, lo: int, hi: int) -> str:
    return f"{store}: the index form ({INDEX_FORM['index']}, {INDEX_FORM['offset']}) of rows {lo}–{hi - 1}"


def row_bounds(group, lo: int, hi: int, store: str | Path = "") -> np.ndarray:
    """int64 [hi − lo + 1]: where rows lo … hi − 1 start in ``word_index``, and where the last ends
    (reads ``sample_offset`` only), checked: in order and within ``word_index``."""
    index, offset = group[INDEX_FORM["index"]], group[INDEX_FORM["offset"]]
    n_rows = group[INDEX_FORM["dense"]].shape[0]
    if offset.shape != (n_rows,):
        raise IndexFormError(f"{store}: {INDEX_FORM['offset']} has shape {offset.shape}, not ({n_rows},); {_FIX}")
    end = int(offset[hi]) if hi < n_rows else int(index.shape[0])
    bounds = np.append(np.asarray(offset[lo:hi], dtype=np.int64), end)
    if bounds[0] < 0 or end > index.shape[0] or np.any(np.diff(bounds) < 0):
        raise IndexFormError(
            f"{_where(store, lo, hi)}: offsets out of order or beyond {INDEX_FORM['index']}'s length; {_FIX}"
        )
    return bounds


def read_index_rows(group, lo: int, hi: int, store: str | Path = "") -> tuple[np.ndarray, np.ndarray]:
    """(lengths int64 [hi - lo], columns int32 [nnz]) of rows lo … hi − 1 from the index form of
    ``group`` (an open zarr group), checked; an inconsistency raises :class:`IndexFormError` naming
    ``store`` and the rows."""
    n_columns = group[INDEX_FORM["dense"]].shape[1]
    where = _where(store, lo, hi)
    bounds = row_bounds(group, lo, hi, store)
    columns = np.asarray(group[INDEX_FORM["index"]][int(bounds[0]) : int(bounds[-1])])
    lengths = np.diff(bounds)
    if columns.size and (columns.min() < 0 or columns.max() >= n_columns):
        bad = int(columns[(columns < 0) | (columns >= n_columns)][0])
        raise IndexFormError(f"{where}: column {bad} is outside 0–{n_columns - 1}; {_FIX}")
    starts_of_rows = np.cumsum(lengths)[:-1]
    row_start = np.zeros(columns.size + 1, dtype=bool)
    row_start[starts_of_rows] = True  # a position where a row (not the first) begins
    if not np.all((columns[1:] > columns[:-1]) | row_start[1:-1]):
        raise IndexFormError(f"{where}: a row's columns are not increasing (a repeated or unsorted one); {_FIX}")
    return lengths, columns.astype(np.int32, copy=False)


def check_index_form(path: str | Path) -> int:
    """Compare the index form of the store at ``path`` with its dense array, chunk by chunk (memory:
    one dense chunk). Returns the number of chunks compared (0 when the store has no index form);
    raises :class:`IndexFormError` naming the store and the first chunk that differs."""
    import zarr

    group = zarr.open_group(str(path), mode="r")
    if not has_index_form(group):
        return 0
    dense = group[INDEX_FORM["dense"]]
    step = int(dense.chunks[0])
    n_chunks = 0
    for lo in range(0, dense.shape[0], step):
        hi = min(lo + step, dense.shape[0])
        lengths, columns = read_index_rows(group, lo, hi, path)
        expected_lengths, expected_columns = sparse_rows(np.asarray(dense[lo:hi]))
        if not (np.array_equal(lengths, expected_lengths) and np.array_equal(columns, expected_columns)):
            differ = np.flatnonzero(lengths != expected_lengths)
            row = lo + int(differ[0]) if differ.size else lo
            raise IndexFormError(
                f"{path}: the index form of rows {lo}–{hi - 1} differs from {INDEX_FORM['dense']!r} "
                f"(first at row {row}); the store is damaged: delete it and re-run the workflow"
            )
        n_chunks += 1
    return n_chunks


def create_index_array(group, compressors) -> None:
    """An empty ``word_index`` array in ``group`` (its entries are appended a chunk at a time, see
    :class:`bowsflow.store.zarr_io.ChunkAppender`)."""
    group.create_array(
        INDEX_FORM["index"],
        shape=(0,),
        dtype=np.int32,
        chunks=(INDEX_CHUNK,),
        compressors=compressors,
        dimension_names=("nonzero",),
        fill_value=0,
    )
