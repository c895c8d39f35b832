"""The claims' statistics against closed forms, scipy and simulation."""

import numpy as np
import pytest
from scipy import stats

from bowsflow.claims.stats import (
    bootstrap_difference,
    bootstrap_interval,
    permutation_p_value,
    spearman,
    welch_interval,
)


def test_bootstrap_interval_covers_a_known_mean_at_about_its_nominal_rate():
    # 400 data sets of n = 60 from N(1, 2²): a 95% percentile interval should cover 1 in about 95% of
    # them. The percentile bootstrap is known to undercover slightly at small n (≈ 93-94% here), and
    # 400 trials have a binomial sd of 1.1 points, so 0.90-0.98 is a 3-sd band around the expectation.
    rng = np.random.default_rng(1)
    hits = 0
    trials = 400
    for t in range(trials):
        x = rng.normal(1.0, 2.0, 60)
        lo, hi = bootstrap_interval(x, n_resamples=1000, seed=t)
        hits += lo <= 1.0 <= hi
    assert 0.90 <= hits / trials <= 0.98


def test_bootstrap_difference_covers_a_known_difference():
    rng = np.random.default_rng(2)
    hits = 0
    for t in range(300):
        a, b = rng.normal(0.5, 1, 80), rng.normal(0.0, 1, 50)
        lo, hi = bootstrap_difference(a, b, 1000, seed=t)
        hits += lo <= 0.5 <= hi
    assert 0.89 <= hits / 300 <= 0.98


def test_intervals_are_seeded_and_reproducible():
    x = np.random.default_rng(0).normal(size=100)
    assert bootstrap_interval(x, seed=3) == bootstrap_interval(x, seed=3)
    assert bootstrap_interval(x, seed=3) != bootstrap_interval(x, seed=4)
    assert bootstrap_difference(x, x + 1, seed=3) == bootstrap_difference(x, x + 1, seed=3)


def test_bootstrap_of_a_constant_is_that_constant_and_of_one_value_is_undefined():
    assert bootstrap_interval(np.full(10, 2.5)) == (2.5, 2.5)
    assert all(np.isnan(bootstrap_interval(np.array([1.0]))))


def test_bootstrap_takes_a_vectorized_statistic():
    x = np.arange(20.0)
    lo, hi = bootstrap_interval(x, lambda s: np.median(s, axis=1), n_resamples=500)
    assert lo <= np.median(x) <= hi


def test_welch_interval_equals_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.normal(1, 1, 7), rng.normal(0, 3, 5)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch_interval(a, b) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_welch_interval_of_identical_groups_has_zero_width_and_of_one_value_is_undefined():
    assert welch_interval(np.ones(3), np.ones(3)) == (0.0, 0.0)
    assert all(np.isnan(welch_interval(np.ones(1), np.ones(3))))


def test_permutation_p_value_by_hand():
    null = np.array([0.0, 1.0, 2.0, 3.0])
    assert permutation_p_value(2.0, null) == (1 + 2) / 5  # 2 and 3 reach 2
    assert permutation_p_value(9.0, null) == 1 / 5  # never 0
    assert permutation_p_value(0.5, null, "less") == 2 / 5
    with pytest.raises(ValueError, match="alternative"):
        permutation_p_value(0.0, null, "two")


def test_spearman_equals_scipy_with_ties():
    a = np.array([1, 2, 2, 3, 5, 4.0])
    b = np.array([2, 1, 4, 3, 6, 6.0])
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, rel=1e-12)
