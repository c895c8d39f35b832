import numpy as np
import pytest

from bowsflow.data.synthetic import (
    SyntheticSpec,
    activation_probabilities,
    feature_positions,
    generate_blocks,
    sample_latents,
)


def test_circle_features_are_evenly_spaced_unit_vectors():
    f = feature_positions("circle", 12)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0)
    angles = np.mod(np.arctan2(f[:, 1], f[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(12) / 12, atol=1e-12)
    s = feature_positions("sphere", 50)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0)


def test_activation_probability_formula_by_hand():
    f = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z = np.array([[1.0, 0.0]])
    p = activation_probabilities(f, z, k=10, bias=0.0)
    np.testing.assert_allclose(p, [[1 / (1 + np.exp(-10)), 0.5, 1 / (1 + np.exp(10))]])


@pytest.mark.parametrize("structure", ["circle", "figure8", "sphere"])
def test_activation_rates_match_formula(structure):
    # Over many samples, the rate of feature i equals E_z[sigmoid(k <f_i, z>)]. The expectation is
    # estimated from the generator's own latents, so the check is of the Bernoulli draws: the
    # difference must stay within 5 standard errors (sd <= 0.5 / sqrt(n)).
    spec = SyntheticSpec(structure=structure, n_features=12, n_samples=40_000, k=10, seed=3)
    f = feature_positions(structure, 12)
    bows, latents = [np.concatenate(x) for x in zip(*generate_blocks(spec))]
    expected = activation_probabilities(f, latents, 10).mean(axis=0)
    assert np.all(np.abs(bows.mean(axis=0) - expected) < 5 * 0.5 / np.sqrt(40_000))


def test_circle_rate_has_closed_form():
    # z uniform on the circle: P(active) = (1/2π) ∫ sigmoid(k cos θ) dθ = 1/2 by symmetry, and the
    # co-activation of opposite features is far below that of neighbours.
    spec = SyntheticSpec(n_samples=60_000, seed=1)
    bows = np.concatenate([b for b, _ in generate_blocks(spec)])
    assert np.all(np.abs(bows.mean(axis=0) - 0.5) < 5 * 0.5 / np.sqrt(60_000))
    both_neigh = (bows[:, 0] & bows[:, 1]).mean()
    both_opposite = (bows[:, 0] & bows[:, 6]).mean()
    assert both_neigh > 0.35 and both_opposite < 0.05


def test_iid_rate_and_determinism():
    spec = SyntheticSpec(structure="iid", n_features=5, n_samples=70_000, p=0.3, seed=7)
    a = np.concatenate([b for b, _ in generate_blocks(spec)])
    b = np.concatenate([b for b, _ in generate_blocks(spec)])
    assert np.array_equal(a, b)
    assert np.all(np.abs(a.mean(axis=0) - 0.3) < 5 * np.sqrt(0.21 / 70_000))


def test_latents_lie_on_the_structure():
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(np.linalg.norm(sample_latents("circle", 100, rng), axis=1), 1.0)
    z = sample_latents("figure8", 100, rng)
    t = np.arcsin(np.clip(z[:, 0], -1, 1))
    np.testing.assert_allclose(np.abs(z[:, 1]), np.abs(np.sin(2 * t)), atol=1e-9)


def test_bad_structure():
    with pytest.raises(ValueError, match="structure"):
        SyntheticSpec(structure="torus")
