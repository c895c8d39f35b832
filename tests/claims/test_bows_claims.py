"""The BOWS claims' measures on cases with known answers."""

import numpy as np
import pytest
from scipy import stats

from bowsflow.claims.bows import (
    cyclic_contrast,
    data_cycle_test,
    interference_helps,
    pairwise_spearman_resamples,
    random_direction_circularity,
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


def test_a_regular_polygon_in_order_beats_the_random_direction_null():
    k, m = 12, 8
    angles = 2 * np.pi * np.arange(k) / k
    W = np.zeros((k, m))
    W[:, 0], W[:, 1] = np.cos(angles), np.sin(angles)
    assert circularity(pca_2d(W)) == pytest.approx(1.0, abs=1e-9)
    null = random_direction_circularity(m, k, 1, 300, seed=0)
    assert null.max() < 0.9 and 0.05 < null.mean() < 0.5


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
