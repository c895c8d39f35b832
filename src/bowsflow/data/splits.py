"""Deterministic train/validation assignment, independent of chunking and batching.

Each sample (or document, with ``split_by: document``) gets a uniform number in [0, 1) from a
counter-based hash (SplitMix64) of the seed and its index; it is in ``val`` when that number is below
``val_fraction``. The same seed and index always give the same split, whatever the chunk size.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer of uint64 inputs (vectorized, wraps mod 2⁶⁴)."""
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def uniform_from_index(index: np.ndarray, seed: int) -> np.ndarray:
    """float64 [n] in [0, 1): a fixed pseudo-random number per (seed, index)."""
    keyed = splitmix64(np.asarray(index, dtype=np.uint64) ^ splitmix64(np.uint64(seed)))
    return (keyed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def is_validation(index: np.ndarray, seed: int, val_fraction: float) -> np.ndarray:
    """bool [n]: which of the samples (or documents) with these indices are held out."""
    return uniform_from_index(index, seed) < val_fraction


def split_labels(is_val: np.ndarray) -> np.ndarray:
    """object [n] of 'train' / 'val' strings (stored as variable-length UTF-8 in Zarr)."""
    return np.where(is_val, "val", "train").astype(object)
