"""Degeneracy claims: planted degeneracies counted exactly where a count could be wrong, invariance under
reparameterization, and modularity against degree-preserving rewiring."""

import numpy as np
import pytest

from bowsflow.claims.degeneracy import (
    hidden_layer_counts,
    planted_hidden_layer,
    pruned_hidden_layer,
    random_affine_map,
)
from bowsflow.lenses.interaction.communities import rewired, strongest_edges


@pytest.fixture
def params_and_latents():
    rng = np.random.default_rng(0)
    m, d, V = 8, 12, 30
    params = {
        "W_e": rng.normal(size=(m, V)) / np.sqrt(V),
        "W_in": rng.normal(size=(d, m)) / np.sqrt(m),
        "b_in": rng.normal(size=d) * 0.1,
        "W_out": rng.normal(size=(m, d)) / np.sqrt(d),
        "b": np.zeros(V),
    }
    return params, rng.normal(size=(600, m))


def test_a_hidden_layer_narrower_than_the_latent_has_no_degeneracy_of_any_kind(params_and_latents):
    params, h = params_and_latents
    base = pruned_hidden_layer(params, h, 4)
    assert base["W_in"].shape == (4, 8) and base["W_out"].shape == (8, 4)
    # 4 ReLUs of independent random directions, Jacobian columns W_eᵀW_out independent (4 ≤ m = 8)
    assert hidden_layer_counts(base, h, 1e-6) == {"activations": 0, "jacobians": 0, "cofiring": 0, "width": 4}


def test_each_kind_is_counted_exactly_where_it_is_planted_and_random_units_count_nothing(params_and_latents):
    params, h = params_and_latents
    base = pruned_hidden_layer(params, h, 4)
    planted = planted_hidden_layer(base, h, "planted", np.random.default_rng(1))
    # 2 scaled copies (dependent activations that fire together, independent gradients) and 2 random
    # units with no outgoing weights (dependent gradients)
    assert hidden_layer_counts(planted, h, 1e-6) == {"activations": 2, "jacobians": 2, "cofiring": 2, "width": 8}
    random = planted_hidden_layer(base, h, "random", np.random.default_rng(1))
    assert hidden_layer_counts(random, h, 1e-6) == {"activations": 0, "jacobians": 0, "cofiring": 0, "width": 8}


def test_in_a_layer_wider_than_the_latent_random_units_add_small_jacobian_eigenvalues(params_and_latents):
    """Why the claim prunes: the Jacobian Gram of a hidden layer wider than m has rank at most m + 1, so
    any added unit adds a small eigenvalue and the count could not come out wrong."""
    params, h = params_and_latents
    wide = pruned_hidden_layer(params, h, 12)
    before = hidden_layer_counts(wide, h, 1e-6)
    after = hidden_layer_counts(planted_hidden_layer(wide, h, "random", np.random.default_rng(1)), h, 1e-6)
    assert before["jacobians"] >= (12 + 1) - (8 + 1)  # [g, 1] has 13 coordinates, M rank ≤ m + 1 = 9
    assert after["jacobians"] - before["jacobians"] == 4


def test_the_random_affine_map_is_invertible_and_keeps_the_constant():
    A = random_affine_map(5, np.random.default_rng(0))
    assert A.shape == (6, 6) and np.allclose(A[-1], np.r_[np.zeros(5), 1.0])
    assert np.linalg.cond(A[:5, :5]) <= 4.0 + 1e-9  # a rotation times scales in [0.5, 2]


def test_reparameterization_leaves_the_interaction_basis_and_moves_the_pca_basis():
    from bowsflow.claims.degeneracy import _tiny_relu_mlp, invariance_deviation
    from bowsflow.lenses.interaction.analysis import InteractionOptions

    model, h = _tiny_relu_mlp(0)
    dev = invariance_deviation(model, h, InteractionOptions(), seed=0)
    assert dev["lambda"] < 1e-12 and dev["edges"] < 1e-10
    assert invariance_deviation(model, h, InteractionOptions(), seed=0, basis="pca")["edges"] > 0.01


def test_rewiring_keeps_every_degree_and_the_weights():
    rng = np.random.default_rng(0)
    E = rng.random((6, 5)) * (rng.random((6, 5)) < 0.5)
    edges = strongest_edges(E, 1.0)
    assert len(edges) == int((E > 0).sum())
    again = rewired(edges, np.random.default_rng(1))
    assert (
        np.bincount([e[0] for e in again], minlength=6).tolist()
        == np.bincount([e[0] for e in edges], minlength=6).tolist()
    )
    assert (
        np.bincount([e[1] for e in again], minlength=5).tolist()
        == np.bincount([e[1] for e in edges], minlength=5).tolist()
    )
    assert sorted(e[2] for e in again) == sorted(e[2] for e in edges)
    assert len({(i, j) for i, j, _ in again}) == len(again)  # no duplicated edge
