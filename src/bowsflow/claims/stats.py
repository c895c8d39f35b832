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
    freedom). Needs at least two values in each group and some spread: with fewer, or with every value
    of each group equal (a zero standard error), there is nothing to judge by and the interval is NaN."""
    return welch_test(a, b, confidence=confidence)[0]


def welch_test(
    a: np.ndarray, b: np.ndarray, null: float = 0.0, confidence: float = 0.95, alternative: str = "greater"
) -> tuple[tuple[float, float], float]:
    """(Welch's t interval of mean(a) − mean(b), the one-sided p-value of that difference against
    ``null``): ``greater`` tests mean(a) − mean(b) > null, ``less`` the opposite. NaN where the interval
    cannot be formed (see :func:`welch_interval`)."""
    from scipy import stats

    nan = (float("nan"), float("nan")), float("nan")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = a.mean() - b.mean()
    se = np.sqrt(va + vb)
    # no spread beyond the rounding of the means (equal values give a variance of ~1e-34, not 0)
    if not se > 1e-12 * max(abs(a.mean()), abs(b.mean()), np.finfo(float).tiny):
        return nan
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = stats.t.ppf(0.5 + confidence / 2, dof)
    score = (diff - null) / se
    p = stats.t.sf(score, dof) if alternative == "greater" else stats.t.cdf(score, dof)
    return (float(diff - t * se), float(diff + t * se)), float(p)


def resampled_p_value(statistics: np.ndarray, null: float, alternative: str = "greater") -> float:
    """One-sided p-value of a resampled statistic (bootstrap resamples, half-samples) against ``null``:
    (1 + #{resamples on the null's side}) / (1 + B), the share of resamples that do not show the effect
    (``greater``: at or below the null), never 0."""
    statistics = np.asarray(statistics, dtype=np.float64)
    if alternative == "greater":
        hits = np.sum(statistics <= null)
    elif alternative == "less":
        hits = np.sum(statistics >= null)
    else:
        raise ValueError(f"alternative: expected 'greater' or 'less', got {alternative!r}")
    return float((1 + hits) / (1 + statistics.size))


def half_sample_p_value(statistics: np.ndarray, null: float = 0.0, alternative: str = "greater") -> float:
    """One-sided p-value of a statistic against ``null`` from its values on R half-samples: a half-sample's
    spread is the whole set's sampling spread (variance (1/b)(1 − b/n)σ² = σ²/n at b = n/2), so their
    standard deviation is the statistic's standard error and (mean − null) / sd has a t distribution with
    R − 1 degrees of freedom. (A share of half-samples below the null could never fall under 1/(R + 1).)
    NaN with fewer than two half-samples or no spread."""
    from scipy import stats

    x = np.asarray(statistics, dtype=np.float64)
    if x.size < 2 or not x.std(ddof=1) > 0:
        return float("nan")
    score = (x.mean() - null) / x.std(ddof=1)
    return float(stats.t.sf(score, x.size - 1) if alternative == "greater" else stats.t.cdf(score, x.size - 1))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (controls the family-wise error rate at any
    level): the i-th smallest p times (k − i + 1), made monotone, capped at 1. NaN stays NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    k = order.size
    adjusted = np.maximum.accumulate(np.minimum(1.0, p[order] * (k - np.arange(k))))
    out[order] = adjusted
    return out


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


def silhouette_scores(D: np.ndarray, label_sets: np.ndarray) -> np.ndarray:
    """[B] mean silhouette of the points of a distance matrix D [n, n] under each of B labellings
    (label_sets [B, n], integer labels 0 … K − 1), all at once: a(i) the mean distance to the other
    points of its label, b(i) the smallest mean distance to another label, s(i) = (b − a) / max(a, b),
    0 for a point alone in its label (scikit-learn's convention)."""
    D = np.asarray(D, dtype=np.float64)
    labels = np.atleast_2d(np.asarray(label_sets))
    B, n = labels.shape
    K = int(labels.max()) + 1
    onehot = np.zeros((B, n, K))
    onehot[np.arange(B)[:, None], np.arange(n)[None, :], labels] = 1.0
    sizes = onehot.sum(axis=1)  # [B, K]
    totals = D[None] @ onehot  # [B, n, K]: sum of distances from point i to each label
    own_size = np.take_along_axis(sizes[:, None, :].repeat(n, axis=1), labels[..., None], axis=2)[..., 0]
    own_total = np.take_along_axis(totals, labels[..., None], axis=2)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = own_total / (own_size - 1)
        means = totals / sizes[:, None, :]
    means = np.where(onehot.astype(bool) | (sizes[:, None, :] == 0), np.inf, means)
    b = means.min(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b - a) / np.maximum(a, b)
    s = np.where(own_size > 1, np.nan_to_num(s, nan=0.0), 0.0)
    return s.mean(axis=1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")
