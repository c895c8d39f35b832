"""Planted degeneracies: control models that compute the same function, with known extra degeneracies."""

import numpy as np
import pytest
import torch

from bowsflow.claims.degeneracy import degeneracy_counts, planted_relu_mlp
from bowsflow.models import build_model


@pytest.fixture
def model_and_latents():
    torch.manual_seed(0)
    model = build_model("relu_mlp", 40, 6, 10).double()
    h = np.random.default_rng(0).normal(size=(500, 6))
    return model, h


@pytest.mark.parametrize("n_copies, n_combinations", [(3, 2), (2, 0), (4, 1)])
def test_the_control_computes_the_same_function_with_exactly_the_planted_degeneracies(
    model_and_latents, n_copies, n_combinations
):
    model, h = model_and_latents
    control, planted = planted_relu_mlp(model, n_copies, n_combinations, seed=1)
    assert planted == n_copies - 1 + n_combinations
    assert control.W_in.shape[0] == model.W_in.shape[0] + planted
    x = torch.as_tensor(h)
    with torch.no_grad():
        # float64; the split weights sum back to the original up to a few ulps
        assert torch.allclose(
            model.layers_from_latent(x)["out_pre"], control.layers_from_latent(x)["out_pre"], atol=1e-12
        )
    before = degeneracy_counts(model, h, "hidden_pre", 1e-6, 1e-10)
    after = degeneracy_counts(control, h, "hidden_pre", 1e-6, 1e-10)
    assert after["width"] == before["width"] + planted
    assert after["gram_small"] - before["gram_small"] == planted
    # the copies and combinations add no direction the output depends on
    assert after["basis_size"] == before["basis_size"]
