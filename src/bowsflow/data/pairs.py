"""Distinct integer pairs, by sorting each pair as one integer (numpy's sort; its hash-based ``unique``
was slower on these sizes)."""

from __future__ import annotations

import numpy as np


def distinct_pairs(major: np.ndarray, minor: np.ndarray, n_minor: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (major, minor) pairs, sorted by major, then minor.

    major, minor: non-negative int [k], minor < n_minor. Returns (major int64 [p], minor int64 [p]).
    Each pair is the one integer major · n_minor + minor: int32 where every such integer fits (it sorts
    faster), else int64."""
    major = np.asarray(major)
    n_minor = max(int(n_minor), 1)
    largest = (int(major.max()) + 1) * n_minor if major.size else 0
    dtype = np.int32 if largest < 2**31 else np.int64
    keys = np.sort(major.astype(dtype, copy=False) * dtype(n_minor) + np.asarray(minor).astype(dtype, copy=False))
    first = np.ones(keys.size, dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    keys = keys[first]
    majors = keys // dtype(n_minor)
    return majors.astype(np.int64), (keys - majors * dtype(n_minor)).astype(np.int64)
