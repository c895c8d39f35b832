"""The parameter count k of the LLC bound claim (llc.degeneracy_bound) against independent derivations."""

import numpy as np
import pytest
import torch

from bowsflow.claims.llc import block_degenerate_directions, planted_relu_mlp, relu_mlp_degenerate_directions
from bowsflow.models.registry import build_model


def null_dimension(A: np.ndarray) -> int:
    """dim ker A by SVD; the matrices here are products of Gaussian factors (condition numbers ~1e3 at most),
    so a relative cut of 1e-9 separates their exact zeros (~1e-15) from the rest."""
    s = np.linalg.svd(A, compute_uv=False)
    return int(A.shape[1] - (s > 1e-9 * s.max()).sum())


@pytest.mark.parametrize(
    "n_in, n_out, input_nulls, output_nulls", [(5, 4, 0, 0), (5, 4, 2, 0), (5, 4, 0, 3), (6, 5, 2, 1)]
)
def test_block_count_is_the_dimension_of_the_weight_changes_no_output_sees(n_in, n_out, input_nulls, output_nulls):
    """Brute force: stack, over samples, the map vec(ΔW) ↦ J_x ΔW a_x = (a_xᵀ ⊗ J_x) vec(ΔW) (column-major vec)
    and count its null space, with inputs a_x confined to n_in − input_nulls dimensions and Jacobians J_x that
    read n_out − output_nulls directions of the output."""
    rng = np.random.default_rng(0)
    B = rng.standard_normal((n_in, n_in - input_nulls))
    P = rng.standard_normal((n_out, n_out - output_nulls))
    rows = []
    for _ in range(60):
        a = B @ rng.standard_normal(n_in - input_nulls)
        J = rng.standard_normal((3, n_out - output_nulls)) @ P.T  # [3 outputs, n_out]
        rows.append(np.kron(a[None, :], J))
    brute = null_dimension(np.vstack(rows))
    assert brute == block_degenerate_directions(n_in, n_out, input_nulls, output_nulls)


def tiny_relu_mlp(seed=0, V=20, m=5, d=9):
    torch.manual_seed(seed)
    net = build_model("relu_mlp", V, m, d, output="linear").double()
    with torch.no_grad():  # every unit fires on some samples and not on others
        net.b_in.zero_()
    x = (np.random.default_rng(seed).random((300, V)) < 0.3).astype(np.float64)
    return net, x


def latents(net, x):
    return x @ net.W_e.detach().numpy().T


def test_planting_copies_and_dead_units_adds_the_directions_the_construction_frees():
    """planted_relu_mlp adds 4 copies (outgoing weights split) and 4 dead units: each adds one null of the
    hidden_pre Jacobian Gram (a dead unit's column is zero; a copy's equals its original's), which frees
    the unit's m + 1 incoming weights and bias, and each dead unit frees its m outgoing weights: 12m + 8
    of the 16m + 8 added parameters (a copy's outgoing split multiplies with its incoming difference, so it
    is not counted)."""
    net, x = tiny_relu_mlp()
    h = latents(net, x)
    before = relu_mlp_degenerate_directions(net.float64_parameters(), h, 1e-9)
    assert before["silent_units"] == 0  # a copied unit must not be silent itself (its copy would be too)
    planted = planted_relu_mlp(net, 4, seed=3).double()
    after = relu_mlp_degenerate_directions(planted.float64_parameters(), latents(planted, x), 1e-9)
    m = h.shape[1]
    assert after["k"] - before["k"] == 12 * m + 8
    assert after["hidden_pre_jacobian_nulls"] - before["hidden_pre_jacobian_nulls"] == 8
    assert after["silent_units"] == 4


def test_every_counted_direction_leaves_the_output_unchanged_to_first_order():
    """k is at most the null dimension of the parameter Jacobian of every output on every sample
    (torch.func, float64): the counted directions are flat."""
    net, x = tiny_relu_mlp(seed=1)
    planted = planted_relu_mlp(net, 4, seed=2).double()
    names = [n for n, _ in planted.named_parameters()]
    params = {n: p.detach() for n, p in planted.named_parameters()}
    X = torch.as_tensor(x)

    def outputs(*flat):
        p = dict(zip(names, flat, strict=True))
        h = X @ p["W_e"].T
        r = h + torch.relu(h @ p["W_in"].T + p["b_in"]) @ p["W_out"].T
        return (r @ p["W_e"] + p["b"]).reshape(-1)

    jac = torch.func.jacrev(outputs, argnums=tuple(range(len(names))))(*params.values())
    J = torch.cat([j.reshape(j.shape[0], -1) for j in jac], dim=1).numpy()
    counted = relu_mlp_degenerate_directions(planted.float64_parameters(), latents(planted, x), 1e-9)["k"]
    assert counted > 0
    assert counted <= null_dimension(J)


def test_the_degenerate_parameters_claim_compares_the_planted_model_against_its_original(tmp_path):
    """On a one-model results tree: the claim's effect is λ̂(planted) − λ̂(original), its null half the
    16m + 8 parameters the plants add (m = 3: 28)."""
    import json

    from bowsflow.claims.llc import degenerate_parameters
    from bowsflow.claims.registry import ClaimOptions
    from bowsflow.claims.run import RunData
    from bowsflow.lenses.llc.analysis import LLCOptions, analyze_llc
    from helpers import make_checkpoint, make_store

    model_dir, analysis = tmp_path / "models" / "tiny", tmp_path / "analysis" / "tiny"
    model_dir.mkdir(parents=True)
    analysis.mkdir(parents=True)
    store = make_store(tmp_path / "bows" / "c" / "bows.zarr", n=600, chunk=256)
    make_checkpoint(model_dir / "model.safetensors", "relu_mlp", m=3, d=6)
    (model_dir / "config.json").write_text(json.dumps({"loss": "mse"}))
    options = LLCOptions(step_size=1e-5, localization=100.0, n_chains=3, n_draws=12, n_burnin=4, batch_size=64)
    summary, _ = analyze_llc(
        bows=store,
        checkpoint=model_dir / "model.safetensors",
        model_config=model_dir / "config.json",
        store=analysis / "llc.zarr",
        options=options,
    )
    (analysis / "llc.json").write_text(json.dumps(summary))
    run = RunData(tmp_path, {"tiny": {"arch": "relu_mlp", "corpus": "c"}})
    (ev,) = degenerate_parameters(run, ClaimOptions(), ["tiny"])
    planted = ev.details["n_parameters"][0]
    assert planted - summary["n_parameters"] == 16 * 3 + 8
    assert ev.null == (16 * 3 + 8) / 2
    assert ev.effect == pytest.approx(ev.details["llc"][0] - summary["llc"])
