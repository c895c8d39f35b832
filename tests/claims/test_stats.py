"""The claims' statistics against closed forms, scipy and simulation."""

import numpy as np
import pytest
from scipy import stats

from bowsflow.claims.stats import (
    bootstrap_difference,
    bootstrap_interval,
    half_sample_p_value,
    holm,
    permutation_p_value,
    resampled_p_value,
    silhouette_scores,
    spearman,
    welch_interval,
    welch_test,
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


def test_welch_interval_without_spread_or_of_one_value_is_undefined():
    # a zero standard error is no evidence of certainty: nothing to judge by (the verdict: underpowered)
    assert all(np.isnan(welch_interval(np.ones(3), np.ones(3))))
    assert all(np.isnan(welch_interval(np.full(3, 2.0), np.ones(3))))
    assert all(np.isnan(welch_interval(np.ones(1), np.ones(3))))


def test_welch_p_value_equals_scipys_one_sided_test_and_shifts_with_the_null():
    from scipy import stats

    a, b = np.array([1.0, 1.4, 1.2, 1.9]), np.array([0.5, 0.9, 0.4])
    _, p = welch_test(a, b)
    assert p == pytest.approx(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue, rel=1e-10)
    _, p_less = welch_test(a, b, alternative="less")
    assert p + p_less == pytest.approx(1.0)
    # against a null of d, the test is the one of a − d against b
    _, shifted = welch_test(a, b, null=0.3)
    assert shifted == pytest.approx(stats.ttest_ind(a - 0.3, b, equal_var=False, alternative="greater").pvalue)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.04, 0.01, 0.03]), [0.06, 0.03, 0.06])
    assert np.isnan(holm([0.01, np.nan])[1]) and holm([0.01, np.nan])[0] == pytest.approx(0.01)
    assert holm([0.9, 0.8]).max() <= 1.0


def test_resampled_and_half_sample_p_values():
    assert resampled_p_value(np.array([1.0, 2.0, -1.0, 0.0]), 0.0) == pytest.approx((1 + 2) / 5)
    assert resampled_p_value(np.array([1.0, 2.0, -1.0, 0.0]), 0.0, "less") == pytest.approx((1 + 3) / 5)
    # half-samples: (mean − null) / sd on R − 1 degrees of freedom
    from scipy import stats

    x = np.array([0.2, 0.3, 0.25, 0.35])
    assert half_sample_p_value(x) == pytest.approx(stats.t.sf(x.mean() / x.std(ddof=1), 3))
    assert np.isnan(half_sample_p_value(np.ones(4)))


def test_silhouette_scores_equal_scikit_learn_for_every_labelling_at_once():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 3))
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    labels = np.array([rng.permutation(np.arange(25) % 4) for _ in range(6)])
    labels[0, :] = np.r_[np.zeros(24, int), 1]  # a label of one point: its silhouette is 0
    got = silhouette_scores(D, labels)
    want = [silhouette_score(D, lab, metric="precomputed") for lab in labels]
    np.testing.assert_allclose(got, want, rtol=1e-12)


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
