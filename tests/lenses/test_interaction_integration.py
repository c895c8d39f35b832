"""Integrated gradients, the reference's basis formulas and functional edges: quadrature rules against
integrals of polynomials, the folded layers against their closed forms (affine: every α the same; the
bilinear product: degree 2), every formula against the closed form on a linear map, functional against
squared edges on a linear layer, and the lens unchanged by integration where the layers are homogeneous."""

import numpy as np
import pytest
import torch

from bowsflow.lenses.interaction.basis import edge_strengths
from bowsflow.lenses.interaction.integration import (
    folded,
    folded_jacobians,
    integration_points,
    next_layer_moments,
    output_moments,
)
from bowsflow.models import as_float64
from bowsflow.models.registry import build_model

RULES = [("trapezoidal", 7), ("gauss_legendre", 3)]
FORMULAS = ["jacobian", "(1-0)*alpha", "(1-alpha)^2"]


def model_of(arch, V=9, m=4, d=5, seed=0):
    torch.manual_seed(seed)
    model = as_float64(build_model(arch, V, m, d, output="linear"))
    with torch.no_grad():
        for p in model.parameters():  # biases away from zero, so that the folding matters
            p.add_(0.3 * torch.randn_like(p))
    return model


def test_quadrature_rules():
    for n in (1, 2, 5):
        pts = integration_points("gauss_legendre", n)
        assert pts.weights.sum() == pytest.approx(1.0, abs=1e-15)
        for k in range(2 * n):  # exact for polynomials of degree < 2n
            assert pts.weights @ pts.alphas**k == pytest.approx(1 / (k + 1), abs=1e-14)
    pts = integration_points("trapezoidal", 5)  # the reference's: [ε, 1 − ε], ε = 1e-3 / n, ends halved
    np.testing.assert_allclose(pts.alphas, np.linspace(2e-4, 1 - 2e-4, 5), rtol=0, atol=1e-16)
    np.testing.assert_allclose(pts.weights, [1 / 8, 1 / 4, 1 / 4, 1 / 4, 1 / 8], rtol=0, atol=1e-16)
    assert pts.weights @ pts.alphas == pytest.approx(0.5, abs=1e-15)  # symmetric: exact for degree 1
    assert integration_points("trapezoidal", 1).alphas.tolist() == [0.5]
    assert integration_points("gradient", 10).is_gradient
    with pytest.raises(ValueError, match="integration"):
        integration_points("simpson", 3)


def test_folded_affine_layer_is_the_same_at_every_alpha():
    """relu_mlp latent → hidden_pre, a = W_in h + c·b_in: J̃(α f̃) = [W_in, b_in] at every α."""
    model = model_of("relu_mlp")
    h = torch.randn(6, 4, dtype=torch.float64)
    acts = model.layers_from_latent(h)
    F = folded(model, lambda f, a: model.layer_function("latent", "hidden_pre")(f[None, None], {})[0, 0])
    expected = torch.cat([model.W_in, model.b_in[:, None]], dim=1)
    for alpha in (0.1, 0.5, 1.0):
        J, y = folded_jacobians(F, h, acts, alpha)
        torch.testing.assert_close(J, expected.expand(6, -1, -1), rtol=0, atol=1e-15)
        torch.testing.assert_close(y, alpha * acts["hidden_pre"], rtol=1e-14, atol=1e-14)


def bilinear_local_closed_form(model, h, P, weights_alpha, formula):
    """The local chain latent → hidden of the bilinear layer g = (L h) ⊙ (R h), homogeneous of degree 2:
    J̃(α) = [[α J, 0], [0, 1]] with J = diag(R h) L + diag(L h) R, and ŷ(α) = P [α² g, α]."""
    L, R = model.L.detach().numpy(), model.R.detach().numpy()
    P = np.asarray(P)
    M = np.zeros((h.shape[1] + 1,) * 2)
    Lam = np.zeros_like(M)
    for x in h.numpy():
        g = (L @ x) * (R @ x)
        J = np.diag(R @ x) @ L + np.diag(L @ x) @ R
        y = P @ np.r_[g, 1.0]
        grads, J_bar = 0.0, 0.0
        for alpha, w in weights_alpha:
            Jt = np.zeros((g.size + 1, x.size + 1))
            Jt[:-1, :-1], Jt[-1, -1] = alpha * J, 1.0
            y_alpha = P @ np.r_[alpha**2 * g, alpha]
            J_bar = J_bar + w * Jt
            target = y if formula == "(1-0)*alpha" else 2 * (y - y_alpha)
            grads = grads + w * (P @ Jt).T @ target
        if formula == "jacobian":
            M += (P @ J_bar).T @ (P @ J_bar)
        else:
            M += np.outer(grads, grads)
            Lam += np.outer(grads, np.r_[x, 1.0])
    return M, Lam


@pytest.mark.parametrize("rule, n", RULES)
@pytest.mark.parametrize("formula", FORMULAS)
def test_bilinear_local_chain_against_its_closed_form(rule, n, formula):
    model = model_of("bilinear")
    h = torch.randn(16, 4, dtype=torch.float64)
    P = np.random.default_rng(1).normal(size=(3, 6))  # a projection of f̃_hidden [5 + 1]
    pts = integration_points(rule, n)
    M, Lam, count = next_layer_moments(model, h, "latent", "hidden", P, pts, formula, batch=5)
    M_ref, Lam_ref = bilinear_local_closed_form(model, h, P, list(zip(pts.alphas, pts.weights)), formula)
    assert count == 16
    np.testing.assert_allclose(M, M_ref, rtol=1e-10, atol=1e-12 * np.abs(M_ref).max())
    if formula != "jacobian":
        np.testing.assert_allclose(Lam, Lam_ref, rtol=1e-10, atol=1e-12 * np.abs(Lam_ref).max())
    if formula == "jacobian":  # J̄ = ½ J on the layer: M is the gradient's with J halved (exact for both rules)
        exact = bilinear_local_closed_form(model, h, P, [(0.5, 1.0)], "jacobian")[0]
        np.testing.assert_allclose(M, exact, rtol=1e-10)


@pytest.mark.parametrize("rule, n", [("gradient", 1), *RULES])
def test_every_formula_agrees_on_a_linear_map(rule, n):
    """tied_ae: z = Wᵀ h + c·b is linear in f̃ = [h, c], J̃ = [Wᵀ, b]. Every rule gives J̄̃ = J̃, and both
    formulas give g = J̃ᵀ z (for "(1-alpha)^2", 2(1 − Σ w α) = 1 by the rules' symmetry): M = E[J̃ᵀ z zᵀ J̃],
    Λ' = J̃ᵀ J̃ G."""
    model = model_of("tied_ae", d=0)
    h = torch.randn(20, 4, dtype=torch.float64)
    W, b = model.decoder.detach().numpy(), model.b.detach().numpy()
    Jt = np.c_[W.T, b]  # [V, m + 1]
    ft = np.c_[h.numpy(), np.ones(20)]
    z = ft @ Jt.T
    G = ft.T @ ft
    pts = integration_points(rule, n)
    M, lam, _ = output_moments(model, h, "latent", pts, "jacobian", False, batch=7)
    np.testing.assert_allclose(M, 20 * Jt.T @ Jt, rtol=1e-12)
    assert lam is None
    formulas = FORMULAS[1:] if rule != "gradient" else FORMULAS[1:2]
    for formula in formulas:
        M, lam, _ = output_moments(model, h, "latent", pts, formula, False, batch=7)
        np.testing.assert_allclose(M, Jt.T @ z.T @ z @ Jt, rtol=1e-10)
        np.testing.assert_allclose(lam, Jt.T @ Jt @ G, rtol=1e-10, atol=1e-12 * np.abs(lam).max())


def test_functional_and_squared_edges_on_a_linear_layer():
    """relu_mlp latent → hidden_pre is affine, so folded it is linear: ŷ = A f̂ with A = P_dst Ã P_src⁺.
    Squared edges are A² ⊙ diag(Ĝ) (per column), functional edges A ⊙ (A Ĝ), Ĝ = mean f̂ f̂ᵀ; they agree
    where Ĝ is diagonal (here: P_src whitens the samples' f̃)."""
    model = model_of("relu_mlp")
    h = torch.randn(40, 4, dtype=torch.float64)
    ft = np.c_[h.numpy(), np.ones(40)]
    rng = np.random.default_rng(0)
    P_dst = rng.normal(size=(4, 6))
    for P_src in (rng.normal(size=(5, 5)), np.linalg.cholesky(np.linalg.inv(ft.T @ ft / 40)).T):
        A_tilde = np.zeros((6, 5))
        A_tilde[:5, :4], A_tilde[:5, 4], A_tilde[5, 4] = model.W_in.detach(), model.b_in.detach(), 1.0
        back = np.linalg.inv(P_src)
        A = P_dst @ A_tilde @ back
        f_hat = ft @ P_src.T
        G_hat = f_hat.T @ f_hat / 40
        projections = {"b": (P_src, back, P_dst)}
        pts = integration_points("gauss_legendre", 2)
        squared = edge_strengths(model, h, "latent", "hidden_pre", projections, points=pts)["b"]
        functional = edge_strengths(model, h, "latent", "hidden_pre", projections, points=pts, functional=True)["b"]
        np.testing.assert_allclose(squared, A**2 * np.diag(G_hat)[None, :], rtol=1e-10)
        np.testing.assert_allclose(functional, A * (A @ G_hat), rtol=1e-9, atol=1e-12 * np.abs(functional).max())
        # the gradient's squared edges equal the integrated ones on this layer (affine: J̃ is α-free)
        np.testing.assert_allclose(
            edge_strengths(model, h, "latent", "hidden_pre", projections)["b"], squared, rtol=1e-12
        )
    np.testing.assert_allclose(functional, squared, rtol=1e-9, atol=1e-12 * squared.max())


@pytest.mark.slow  # about 2 s each: the whole lens, twice
@pytest.mark.parametrize("rule", ["trapezoidal", "gauss_legendre"])
def test_the_lens_under_integration_equals_the_gradient_on_homogeneous_layers(tmp_path, rule):
    """relu_mlp's layers are homogeneous once folded, so integrated gradients give the gradient's basis
    and edges (to rounding); the bilinear model's are not (its edges change)."""
    import xarray as xr

    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
    from bowsflow.lenses.polytope.analysis import write_codes
    from bowsflow.models.checkpoints import load_model
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=256, chunk=128)
    out = {}
    for arch in ("relu_mlp", "bilinear"):
        make_checkpoint(tmp_path / f"{arch}.safetensors", arch, m=3, d=4)
        extract_activations(
            tmp_path / f"{arch}.safetensors", store, tmp_path / f"{arch}.zarr", ExtractOptions(device="cpu")
        )
        model, _ = load_model(tmp_path / f"{arch}.safetensors")
        write_codes(xr.open_zarr(tmp_path / f"{arch}.zarr"), model, tmp_path / f"{arch}-codes.zarr", 1)
        for integration in ("gradient", rule):
            options = InteractionOptions(
                jacobian_samples=256, edge_samples=256, ablation_samples=0, integration=integration, n_alphas=4
            )
            analyze_interaction(
                activations=tmp_path / f"{arch}.zarr",
                checkpoint=tmp_path / f"{arch}.safetensors",
                codes=tmp_path / f"{arch}-codes.zarr",
                store=tmp_path / f"{arch}-{integration}.zarr",
                options=options,
            )
            out[arch, integration] = xr.open_zarr(tmp_path / f"{arch}-{integration}.zarr").load()
    a, b = out["relu_mlp", "gradient"], out["relu_mlp", rule]
    for name in a.data_vars:
        if name.startswith(("Lambda_", "edges_", "jacobian_eigvals_")):
            np.testing.assert_allclose(b[name], a[name], rtol=1e-8, atol=1e-10 * float(np.abs(a[name]).max()))
    edges = "edges_interaction_latent_hidden"
    assert not np.allclose(out["bilinear", rule][edges], out["bilinear", "gradient"][edges], rtol=1e-3)


@pytest.mark.parametrize("formula", FORMULAS)
def test_through_the_output_relu_against_a_per_sample_loop(formula):
    """x̂ = ReLU(Wᵀ h + c·b): the mask moves with α (b does not scale away), so J̄̃ = Σ w_α diag(mask_α) J̃."""
    model = model_of("tied_ae", d=0)
    h = torch.randn(12, 4, dtype=torch.float64)
    W, b = model.decoder.detach().numpy(), model.b.detach().numpy()
    Jt = np.c_[W.T, b]
    pts = integration_points("gauss_legendre", 3)
    M_ref, lam_ref = 0.0, 0.0
    for x in h.numpy():
        ft = np.r_[x, 1.0]
        y = np.maximum(Jt @ ft, 0)
        J_bar, g = 0.0, 0.0
        for alpha, w in zip(pts.alphas, pts.weights):
            z_alpha = Jt @ (alpha * ft)
            J_alpha = (z_alpha > 0)[:, None] * Jt
            J_bar = J_bar + w * J_alpha
            target = y if formula == "(1-0)*alpha" else 2 * (y - np.maximum(z_alpha, 0))
            g = g + w * J_alpha.T @ target
        M_ref = M_ref + (J_bar.T @ J_bar if formula == "jacobian" else np.outer(g, g))
        lam_ref = lam_ref + np.outer(g, ft)
    M, lam, _ = output_moments(model, h, "latent", pts, formula, True, batch=5)
    np.testing.assert_allclose(M, M_ref, rtol=1e-10, atol=1e-12 * np.abs(M_ref).max())
    if formula != "jacobian":
        np.testing.assert_allclose(lam, lam_ref, rtol=1e-10, atol=1e-12 * np.abs(lam_ref).max())


@pytest.mark.parametrize("key, value", [("basis_formula", "(1-alpha)^2"), ("edge_formula", "functional")])
def test_formulas_that_vanish_at_the_gradient_need_a_rule(key, value):
    from bowsflow.config import ConfigError, validate_config

    config = {
        "corpora": {"w": {"source": "synthetic"}},
        "models": {"t": {"corpus": "w", "arch": "tied_ae", "d_latent": 2}},
        "analysis": {"interaction": {key: value}},
    }
    with pytest.raises(ConfigError, match=f"analysis.interaction.{key}: .* needs an integration rule"):
        validate_config(config)
    config["analysis"]["interaction"]["integration"] = "trapezoidal"
    validate_config(config)
