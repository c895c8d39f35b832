"""The statistics behind the claims: seeded bootstrap intervals, Welch intervals and permutation tests.

Small pure functions over arrays. Every random draw comes from a ``numpy.random.Generator`` seeded by the
caller, so the same seed gives the same interval. Intervals are two-sided at ``confidence``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def bootstrap_interval(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) over the rows of ``values``
    [n, ...]: ``n_resamples`` resamples of n rows with replacement. ``statistic`` maps a stack of
    resamples [B, n, ...] to [B] statistics (vectorized: one call, not B)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    stats = []
    for lo in range(0, n_resamples, _batch(n, n_resamples)):  # bounded memory: a batch of resamples at a time
        b = min(_batch(n, n_resamples), n_resamples - lo)
        sample = values[rng.integers(0, n, (b, n))]
        stats.append(statistic(sample) if statistic is not None else sample.mean(axis=1))
    return percentile_interval(np.concatenate(stats), confidence)


def percentile_interval(statistics: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The two-sided percentile interval at ``confidence`` of resampled statistics (bootstrap resamples,
    half-samples)."""
    alpha = (1 - confidence) / 2
    return float(np.quantile(statistics, alpha)), float(np.quantile(statistics, 1 - alpha))


def _batch(n: int, n_resamples: int) -> int:
    return max(1, min(n_resamples, 4_000_000 // max(n, 1)))


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) − mean(b), resampling the two groups independently."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    step = _batch(max(a.size, b.size), n_resamples)
    for lo in range(0, n_resamples, step):
        k = min(step, n_resamples - lo)
        diffs[lo : lo + k] = a[rng.integers(0, a.size, (k, a.size))].mean(axis=1) - b[
            rng.integers(0, b.size, (k, b.size))
        ].mean(axis=1)
    return percentile_interval(diffs, confidence)


def welch_interval(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Welch's t interval of mean(a) − mean(b) (unequal variances, Welch–Satterthwaite degrees of
    freedom). Needs at least two values in each group; equal values in both give a zero-width interval."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return (float("nan"), float("nan"))
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = a.mean() - b.mean()
    se = np.sqrt(va + vb)
    if se == 0:
        return (float(diff), float(diff))
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = stats.t.ppf(0.5 + confidence / 2, dof)
    return float(diff - t * se), float(diff + t * se)


def permutation_p_value(observed: float, null_statistics: np.ndarray, alternative: str = "greater") -> float:
    """One-sided Monte Carlo p-value (1 + #{null ≥ observed}) / (1 + B) (``less``: ≤), never 0, so it
    is valid for any number B of seeded permutations (Phipson & Smyth 2010)."""
    null_statistics = np.asarray(null_statistics, dtype=np.float64)
    if alternative == "greater":
        hits = np.sum(null_statistics >= observed - 1e-12 * abs(observed))
    elif alternative == "less":
        hits = np.sum(null_statistics <= observed + 1e-12 * abs(observed))
    else:
        raise ValueError(f"alternative: expected 'greater' or 'less', got {alternative!r}")
    return float((1 + hits) / (1 + null_statistics.size))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")
