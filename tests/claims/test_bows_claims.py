"""The BOWS claims' measures on cases with known answers."""

import numpy as np
import pytest
from scipy import stats

from bowsflow.claims.bows import (
    ArrayWindows,
    circularity_of_orders,
    cyclic_contrast,
    data_cycle_test,
    heldout_correlation,
    interference_contexts,
    interference_excess,
    interference_helps,
    pairwise_spearman_resamples,
)
from bowsflow.lenses.geometry.measures import circularity, pca_2d, principal_subspace, subspace_overlap


def _covariance(V=40, seed=0):
    A = np.random.default_rng(seed).normal(size=(V, V))
    return A @ A.T


def test_w_on_the_top_principal_directions_overlaps_fully_and_a_random_w_by_m_over_v():
    V, m = 40, 5
    cov = _covariance(V)
    U = principal_subspace(cov, m)
    mix = np.random.default_rng(1).normal(size=(m, m))  # any basis of the same subspace
    assert subspace_overlap(mix @ U.T, U) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(2)
    draws = [subspace_overlap(rng.normal(size=(m, V)), U) for _ in range(400)]
    # E = m/V exactly for a uniformly random subspace; 400 draws put the mean within ~0.005 of it
    assert np.mean(draws) == pytest.approx(m / V, abs=0.01)


def circulant(k=12, decay=0.5):
    d = np.minimum(np.arange(k), k - np.arange(k))
    row = decay ** d.astype(float)
    return np.array([np.roll(row, i) for i in range(k)])


def test_a_circulant_correlation_matrix_has_a_significant_cycle_and_a_shuffled_one_does_not():
    C = circulant()
    contrast, p = data_cycle_test(C, 2000, seed=0)
    assert contrast == pytest.approx(
        0.5 - np.mean([0.5**d for d in [2, 3, 4, 5, 6] for _ in range(1 if d == 6 else 2)])
    )
    assert p < 0.01
    perm = np.random.default_rng(3).permutation(12)
    shuffled = C[np.ix_(perm, perm)]
    assert data_cycle_test(shuffled, 2000, seed=0)[1] > 0.05


def test_cyclic_contrast_by_hand():
    S = np.array([[1, 0.9, 0.1, 0.9], [0.9, 1, 0.9, 0.1], [0.1, 0.9, 1, 0.9], [0.9, 0.1, 0.9, 1.0]])
    assert cyclic_contrast(S) == pytest.approx(0.9 - 0.1)


def test_circularity_of_many_orders_at_once_equals_the_measure_on_each_order():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(12, 2))
    orders = np.array([rng.permutation(12) for _ in range(20)])
    got = circularity_of_orders(xy, orders)
    np.testing.assert_allclose(got, [circularity(xy[o]) for o in orders], rtol=1e-12)


def test_a_regular_polygon_in_order_is_circular_and_the_same_polygon_out_of_order_is_not():
    k, m = 12, 8
    angles = 2 * np.pi * np.arange(k) / k
    W = np.zeros((k, m))
    W[:, 0], W[:, 1] = np.cos(angles), np.sin(angles)
    xy = pca_2d(W)
    assert circularity_of_orders(xy, np.arange(k)[None])[0] == pytest.approx(1.0, abs=1e-9)
    # the permutation null of the model's own directions: a random order of a perfect ring is the modulus
    # of a mean of k unit phasors at random angles, about 1/√k (the better of two directions: a little more)
    rng = np.random.default_rng(1)
    null = circularity_of_orders(xy, np.array([rng.permutation(k) for _ in range(2000)]))
    assert 1 / np.sqrt(k) < null.mean() < 0.45 and np.mean(null > 0.9) < 0.005


def test_interference_helps_by_hand():
    # three words, m = 2; target 0 with W_0 = (0.8, 0), W_1 = (0.5, 0) (aligned), W_2 = (-0.5, 0) (opposed)
    W = np.array([[0.8, 0.5, -0.5], [0.0, 0.0, 0.0]])
    b = np.zeros(3)
    import scipy.sparse as sp

    contexts = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0]]))
    owner = np.zeros(3, dtype=int)
    helps = interference_helps(W, b, np.array([0]), owner, contexts)
    # alone: z = 0.64 (off by 0.36); with word 1: 0.64 + 0.4 = 1.04 (off by 0.04); with word 2: 0.24
    assert helps.tolist() == [True, False, False]


def test_resampled_spearman_scatters_around_the_full_set_spearman_and_is_seeded():
    rng = np.random.default_rng(0)
    k = 30
    A = rng.normal(size=(k, k))
    corr = A + A.T
    cos = corr + rng.normal(scale=2.0, size=(k, k))
    cos = cos + cos.T
    iu = np.triu_indices(k, 1)
    boot = pairwise_spearman_resamples([cos], corr, 300, seed=0)
    rho = stats.spearmanr(cos[iu], corr[iu]).statistic
    # the resamples scatter around the full-set Spearman
    assert np.quantile(boot, 0.025) < rho < np.quantile(boot, 0.975)
    assert (
        pairwise_spearman_resamples([cos], corr, 5, seed=1).tolist()
        == pairwise_spearman_resamples([cos], corr, 5, seed=1).tolist()
    )


def test_interference_contexts_give_every_target_the_same_number_and_shuffled_contexts_lack_it():
    rng = np.random.default_rng(0)
    X = rng.random((400, 30)) < np.linspace(0.05, 0.5, 30)
    ctx = interference_contexts(ArrayWindows(X), per_target=15, n_targets=5, seed=0)
    assert ctx.targets.size == 5 and np.bincount(ctx.owner).tolist() == [15] * 5
    real, shuffled = ctx.real.toarray(), ctx.shuffled.toarray()
    # the real context holds its target; the shuffled one is its donor window plus the target, and the
    # donor window lacked the target
    assert real[np.arange(ctx.owner.size), ctx.targets[ctx.owner]].all()
    donors = X[ctx.donors]
    assert not donors[np.arange(ctx.owner.size), ctx.targets[ctx.owner]].any()
    donors[np.arange(ctx.owner.size), ctx.targets[ctx.owner]] = True
    np.testing.assert_array_equal(shuffled, donors)
    np.testing.assert_array_equal(real, X[ctx.rows])
    again = interference_contexts(ArrayWindows(X), per_target=15, n_targets=5, seed=0)
    np.testing.assert_array_equal(again.rows, ctx.rows)


def test_interference_excess_by_hand():
    # one target (word 0) alone at z = 0.5; word 1 aligned with it (helps), word 2 opposed (hurts)
    import scipy.sparse as sp

    from bowsflow.claims.bows import InterferenceContexts

    W = np.array([[np.sqrt(0.5), 0.4, -0.4]])
    b = np.zeros(3)
    real = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=bool))
    shuffled = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [1, 1, 0], [1, 0, 1]], dtype=bool))
    ctx = InterferenceContexts(np.array([0]), np.zeros(4, int), real, shuffled, np.arange(4), np.arange(4), 4, 1)
    got = interference_excess(W, b, True, ctx)
    assert got["share_real"] == 0.75 and got["share_shuffled"] == 0.25 and got["excess"] == 0.5


def test_heldout_correlation_equals_numpy_over_the_validation_windows():
    rng = np.random.default_rng(2)
    X = rng.random((300, 12)) < 0.3
    ids = np.array([0, 3, 4, 9])
    corr, n = heldout_correlation(ArrayWindows(X), ids)
    assert n == 300
    np.testing.assert_allclose(corr, np.corrcoef(X[:, ids].T.astype(float)), atol=1e-12)
