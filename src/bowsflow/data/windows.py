"""Windows over a stream of units (tokens, lines or documents) and which window each unit falls in.

Within one group (a document for ``tokens`` and ``lines``; the whole corpus for ``documents``) of
n units, windows start at s = 0, stride, 2·stride, … with s + size ≤ n; a group shorter than ``size``
gives exactly one window holding all its units (none when n = 0). Units after the last full window are
not covered (they would need a window that runs past the end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bowsflow.data.pairs import distinct_pairs

UNITS = ("tokens", "lines", "documents")


@dataclass(frozen=True)
class WindowSpec:
    """How samples are cut: ``size`` consecutive ``unit``s, a new window every ``stride`` units."""

    unit: str = "tokens"
    size: int = 64
    stride: int = 64

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"window.unit: expected one of {UNITS}, got {self.unit!r}")
        if self.size < 1:
            raise ValueError(f"window.size: must be >= 1, got {self.size}")
        if self.stride < 1:
            raise ValueError(f"window.stride: must be >= 1, got {self.stride}")


def windows_per_group(n_units: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """Number of windows in groups of ``n_units`` units each (int64, same shape)."""
    n_units = np.asarray(n_units, dtype=np.int64)
    full = (n_units - spec.size) // spec.stride + 1
    return np.where(n_units >= spec.size, full, np.where(n_units > 0, 1, 0)).astype(np.int64)


def window_bounds(n_units: int, spec: WindowSpec) -> list[tuple[int, int]]:
    """The (start, stop) unit ranges of the windows of one group (reference, used in tests)."""
    if n_units == 0:
        return []
    if n_units < spec.size:
        return [(0, n_units)]
    return [(s, s + spec.size) for s in range(0, n_units - spec.size + 1, spec.stride)]


def unit_window_pairs(
    group: np.ndarray, unit: np.ndarray, n_units: np.ndarray, spec: WindowSpec
) -> tuple[np.ndarray, np.ndarray]:
    """For units at positions ``unit`` of groups ``group``, every (window row, unit entry) they fall in.

    group, unit: int64 [k] (group index of each entry and its position in the group's units);
    n_units: int64 [n_groups]. Windows are numbered consecutively over groups in order.
    Returns (rows int64 [p], entry int64 [p]): entry e lies in window row rows[i] where entry[i] == e.
    """
    n_windows = windows_per_group(n_units, spec)
    first_window = np.concatenate([[0], np.cumsum(n_windows)[:-1]]).astype(np.int64)
    # Window j covers units [j*stride, j*stride + size) (a short group: its one window covers all).
    lo = np.maximum(0, -((spec.size - 1 - unit) // spec.stride))  # ceil((u - size + 1) / stride)
    hi = np.minimum(n_windows[group] - 1, unit // spec.stride)
    counts = np.maximum(hi - lo + 1, 0)
    entry = np.repeat(np.arange(unit.size, dtype=np.int64), counts)
    # offset of each repeated entry within its run: 0, 1, …, counts-1
    run_start = np.repeat(np.cumsum(counts) - counts, counts)
    within = np.arange(entry.size, dtype=np.int64) - run_start
    rows = first_window[group[entry]] + lo[entry] + within
    return rows, entry


def window_origins(n_units: np.ndarray, spec: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """(group int64 [n_windows], start int64 [n_windows]): the group of each window, numbered
    consecutively over groups in order, and its first unit in that group."""
    n_windows = windows_per_group(n_units, spec)
    group = np.repeat(np.arange(n_windows.size, dtype=np.int64), n_windows)
    first = np.concatenate([[0], np.cumsum(n_windows)[:-1]]).astype(np.int64)
    return group, (np.arange(group.size, dtype=np.int64) - first[group]) * spec.stride


def window_word_rows(
    group: np.ndarray, unit: np.ndarray, ids: np.ndarray, n_units: np.ndarray, spec: WindowSpec, n_ids: int
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ids in each window: (lengths int64 [n_windows], words int32 [nnz], each window's
    increasing, window after window), windows numbered as in :func:`unit_window_pairs`: its distinct
    (window, id) pairs (:func:`bowsflow.data.pairs.distinct_pairs`).

    group, unit: int64 [k], the entries' group and position in it; ids: int [k] in 0 … n_ids − 1;
    n_units: int64 [n_groups]."""
    rows, entry = unit_window_pairs(np.asarray(group, dtype=np.int64), np.asarray(unit, dtype=np.int64), n_units, spec)
    n_windows = int(windows_per_group(n_units, spec).sum())
    window, word = distinct_pairs(rows, np.asarray(ids)[entry], n_ids)
    return np.bincount(window, minlength=n_windows).astype(np.int64), word.astype(np.int32)


def window_spec(options: dict) -> WindowSpec:
    w = options["window"]
    return WindowSpec(unit=w["unit"], size=int(w["size"]), stride=int(w["stride"]))
