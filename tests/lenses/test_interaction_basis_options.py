"""The interaction basis's options, against known answers: centring is a reparameterization (Λ and
every sample's coordinates unchanged), |Λ| truncation keeps exactly the live directions, C⁺ comes from
the factors, and the stored store holds every edge matrix."""

import dask.array as da
import numpy as np
import pytest
import torch
import xarray as xr

from bowsflow.lenses.interaction.basis import (
    centred_moments,
    centring_map,
    dask_gram,
    interaction_basis,
    jacobian_gram,
)
from bowsflow.models import build_model
from helpers import MIDDLE_LAYER_PAIRS

LAYERS = [
    ("tied_ae", "latent"),
    ("relu_mlp", "latent"),
    ("relu_mlp", "hidden_pre"),
    ("relu_mlp", "resid"),
    ("bilinear", "latent"),
    ("bilinear", "hidden"),
    ("bilinear", "resid"),
]


def moments(model, h, layer):
    with torch.no_grad():
        f = model.double().layers_from_latent(torch.as_tensor(h))[layer].numpy()
    model.float()
    total, n = jacobian_gram(model, h, layer)
    return dask_gram(da.from_array(f, chunks=(64, -1))), total / n, f


def coordinates(basis, f, S):
    return np.c_[f, np.ones(len(f))] @ S.T @ basis.C


@pytest.mark.parametrize("arch, layer", LAYERS)
def test_centring_changes_neither_lambda_nor_any_samples_coordinates(arch, layer):
    torch.manual_seed(0)
    model = build_model(arch, 14, 3, 4)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    h = np.random.default_rng(0).normal(size=(300, 3)) + 0.7  # a mean far from 0
    G, M, f = moments(model, h, layer)
    plain = interaction_basis(G, M, 1e-12, 1e-10)
    S, Gc, Mc = centred_moments(G, M)
    np.testing.assert_allclose(Gc[:-1, -1], 0.0, atol=0)  # the mean lives in the constant direction
    centred = interaction_basis(Gc, Mc, 1e-12, 1e-10)
    scale = np.abs(plain.Lambda).max()
    np.testing.assert_allclose(centred.Lambda, plain.Lambda, rtol=1e-10, atol=1e-10 * scale)
    a, b = coordinates(plain, f, np.eye(len(S))), coordinates(centred, f, S)
    for k in range(a.shape[1]):  # each direction up to its sign
        sign = np.sign(a[:, k] @ b[:, k])
        np.testing.assert_allclose(b[:, k], sign * a[:, k], rtol=1e-7, atol=1e-9 * np.abs(a).max())
    # any other shift of the layer's activations (function-preserving downstream) acts the same way
    T = centring_map(np.random.default_rng(1).normal(size=G.shape[0] - 1))
    Ti = np.linalg.inv(T)
    shifted = interaction_basis(T @ G @ T.T, Ti.T @ M @ Ti, 1e-12, 1e-10)
    np.testing.assert_allclose(shifted.Lambda, plain.Lambda, rtol=1e-9, atol=1e-10 * scale)


def test_lambda_truncation_keeps_exactly_the_live_directions():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    lam = np.array([3.0, -2.0, 1.0, 1e-18, -1e-17, 0.0])  # three planted dead directions
    A = np.linalg.qr(rng.normal(size=(6, 6)))[0] * np.array([2, 1.5, 1, 0.7, 0.5, 0.3])  # any full-rank G
    G = A @ A.T
    # M such that in G's whitened coordinates it is Q diag(lam) Qᵀ: M = R⁺ᵀ (Q Λ Qᵀ) R⁺ with R⁺ = G^{1/2}-like
    d, U = np.linalg.eigh(G)
    R_pinv = (U * np.sqrt(d)).T
    Rp_inv = np.linalg.inv(R_pinv)
    M = Rp_inv @ (Q * lam) @ Q.T @ Rp_inv.T
    basis = interaction_basis(G, M, 1e-12, 1e-10)
    assert basis.n_lambda_dropped == 3 and basis.C.shape == (6, 3)
    np.testing.assert_allclose(np.abs(basis.Lambda), [3.0, 2.0, 1.0], rtol=1e-10)
    np.testing.assert_allclose(basis.Cpinv @ basis.C, np.eye(3), atol=1e-12)  # C⁺ from the factors
    assert np.abs(basis.Cpinv).max() < 10  # no |Λ|^{-1/2} blow-up
    kept_all = interaction_basis(G, M, 1e-12, 0.0)
    assert kept_all.n_lambda_dropped == 0 and kept_all.C.shape == (6, 6)


def test_dead_hidden_units_are_dropped_from_the_basis():
    """A relu_mlp whose hidden units 1 and 3 feed nothing (zero W_out columns): z does not depend on
    them, so exactly two directions of hidden_pre have Λ = 0 and are dropped."""
    torch.manual_seed(2)
    model = build_model("relu_mlp", 14, 6, 5)  # m > d: the pre-activations span all 5 hidden dimensions
    with torch.no_grad():
        model.W_out[:, [1, 3]] = 0.0
    G, M, _ = moments(model, np.random.default_rng(3).normal(size=(400, 6)), "hidden_pre")
    assert np.linalg.matrix_rank(G) == 6
    basis = interaction_basis(G, M, 1e-12, 1e-10)
    assert basis.n_lambda_dropped == 2 and basis.C.shape[1] == 6 - 2


@pytest.mark.slow
def test_the_store_keeps_every_edge_matrix(tmp_path):
    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
    from bowsflow.lenses.polytope.analysis import write_codes
    from bowsflow.models.checkpoints import load_model
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=300, chunk=128)
    make_checkpoint(tmp_path / "m.safetensors", "relu_mlp")
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    model, _ = load_model(tmp_path / "m.safetensors")
    write_codes(xr.open_zarr(tmp_path / "a.zarr"), model, tmp_path / "codes.zarr", 1)
    lambdas = {}
    for centred in (False, True):
        out = tmp_path / f"i{centred}.zarr"
        summary, _ = analyze_interaction(
            activations=tmp_path / "a.zarr",
            checkpoint=tmp_path / "m.safetensors",
            codes=tmp_path / "codes.zarr",
            store=out,
            options=InteractionOptions(centred=centred, edge_samples=300, jacobian_samples=300),
        )
        ds = xr.open_zarr(out)
        for src, dst in model.adjacent_pairs:
            for name, index in [("interaction", "basis"), ("neuron", "i"), ("pca", "j")]:
                E = ds[f"edges_{name}_{src}_{dst}"]
                assert E.dims == (f"{dst}_{index}", f"{src}_{index}")
                info = summary["edges"][f"{src}->{dst}"][name]
                assert E.size == info["n_edges"] and float(E.sum()) == pytest.approx(info["total_mass"], rel=1e-12)
        lambdas[centred] = {layer: ds[f"Lambda_{layer}"].values for layer in model.jacobian_layers}
    for layer in model.jacobian_layers:  # the whole analysis: centring leaves Λ as it was
        scale = np.abs(lambdas[False][layer]).max()
        np.testing.assert_allclose(lambdas[True][layer], lambdas[False][layer], rtol=1e-10, atol=1e-10 * scale)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["tied_ae", "relu_mlp", "bilinear"])
def test_the_local_chain_runs_on_every_architecture_and_centring_leaves_its_lambda(tmp_path, arch):
    """jacobian_of: next_layer. The last layer is taken against the output in both constructions, so
    its Λ is the global one's; the earlier layers' differ; centring changes no Λ of either."""
    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
    from bowsflow.lenses.polytope.analysis import write_codes
    from bowsflow.models.checkpoints import load_model
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=300, chunk=128)
    make_checkpoint(tmp_path / "m.safetensors", arch)
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    model, _ = load_model(tmp_path / "m.safetensors")
    write_codes(xr.open_zarr(tmp_path / "a.zarr"), model, tmp_path / "codes.zarr", 1)
    lam, summaries = {}, {}
    for jacobian_of in ("output", "next_layer"):
        for centred in (False, True):
            out = tmp_path / f"i-{jacobian_of}-{centred}.zarr"
            summaries[jacobian_of], _ = analyze_interaction(
                activations=tmp_path / "a.zarr",
                checkpoint=tmp_path / "m.safetensors",
                codes=tmp_path / "codes.zarr",
                store=out,
                options=InteractionOptions(
                    centred=centred, jacobian_of=jacobian_of, edge_samples=300, jacobian_samples=300
                ),
            )
            ds = xr.open_zarr(out)
            lam[jacobian_of, centred] = {layer: ds[f"Lambda_{layer}"].values for layer in model.jacobian_layers}
    layers = list(model.jacobian_layers)
    assert list(summaries["next_layer"]["layers"]) == layers  # reported in flow order
    for layer in layers:
        for jacobian_of in ("output", "next_layer"):
            a, b = lam[jacobian_of, False][layer], lam[jacobian_of, True][layer]
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-10 * np.abs(a).max())
    last = layers[-1]
    np.testing.assert_allclose(lam["next_layer", False][last], lam["output", False][last], rtol=1e-12)
    assert summaries["next_layer"]["layers"][last]["jacobian_of"] == "the output z"
    if len(layers) > 1:
        assert summaries["next_layer"]["layers"][layers[0]]["jacobian_of"] == f"the interaction basis of {layers[1]}"
        first = layers[0]
        assert lam["next_layer", False][first].shape != lam["output", False][first].shape or not np.allclose(
            lam["next_layer", False][first], lam["output", False][first]
        )


def full_loss(model, h, x):
    from bowsflow.models.losses import dense_target_loss

    with torch.no_grad():
        z = model.double().layers_from_latent(torch.as_tensor(h))["out_pre"]
    model.float()
    return float(dense_target_loss(z, torch.as_tensor(x), "mse", True))


@pytest.mark.parametrize("arch, layer", LAYERS)
@pytest.mark.parametrize("centred", [False, True])
def test_keeping_every_direction_gives_the_unablated_loss(arch, layer, centred):
    from bowsflow.lenses.interaction.ablation import neuron_order, node_ablation_curve

    torch.manual_seed(0)
    model = build_model(arch, 14, 3, 4)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(200, 3)) + 0.5
    x = rng.random((200, 14)) < 0.2
    G, M, _ = moments(model, h, layer)
    S, G, M = centred_moments(G, M) if centred else (np.eye(G.shape[0]), G, M)
    basis = interaction_basis(G, M, 1e-12, 1e-10)
    S_inv = np.linalg.inv(S)
    g_vecs = np.linalg.eigh(G)[1][:, ::-1]
    P_neuron = S[neuron_order(G, M)]
    ref = full_loss(model, h, x)
    for P, P_pinv in [
        (basis.C.T @ S, S_inv @ basis.Cpinv.T),
        (P_neuron, np.linalg.inv(P_neuron)),
        (g_vecs.T @ S, S_inv @ g_vecs),
    ]:
        curve = node_ablation_curve(model, h, x, layer, P, P_pinv, [0, P.shape[0]])
        assert curve[-1] == pytest.approx(ref, rel=1e-10)


def test_a_planted_k_dimensional_layer_reaches_the_full_loss_at_k():
    """Latent vectors on a 2-d plane through 0 of a tied autoencoder's 5-d latent space: with the
    constant, f̃ spans 3 dimensions, so the interaction basis has 3 directions and the ablation curve
    reaches the unablated loss at k = 3, not before (the random model's loss can be lower or higher
    with fewer directions: it differs)."""
    from bowsflow.lenses.interaction.ablation import node_ablation_curve

    torch.manual_seed(1)
    model = build_model("tied_ae", 12, 5)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    rng = np.random.default_rng(1)
    h = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 5))
    x = rng.random((300, 12)) < 0.3
    G, M, _ = moments(model, h, "latent")
    basis = interaction_basis(G, M, 1e-10, 1e-10)
    assert basis.C.shape[1] == 3
    curve = node_ablation_curve(model, h, x, "latent", basis.C.T, basis.Cpinv.T, [0, 1, 2, 3])
    ref = full_loss(model, h, x)
    assert curve[3] == pytest.approx(ref, rel=1e-10)
    assert all(abs(c - ref) > 1e-3 * ref for c in curve[:3])  # not before: each dropped direction matters


@pytest.mark.parametrize("arch, src, dst", MIDDLE_LAYER_PAIRS)
def test_edge_ablation_equals_a_brute_force_and_keeping_every_edge_gives_the_unablated_loss(arch, src, dst):
    """Any basis (random invertible P here): direction i of dst is computed from its kept inputs only,
    in numpy one direction at a time, and the rest of the model runs on the result."""
    from bowsflow.lenses.interaction.ablation import edge_ablation_curve, unablated_loss

    torch.manual_seed(0)
    model = build_model(arch, 14, 3, 4).double()
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(60, 3))
    x = rng.random((60, 14)) < 0.3
    with torch.no_grad():
        acts = {k: v.numpy() for k, v in model.layers_from_latent(torch.as_tensor(h)).items()}
    ws, wd = acts[src].shape[1], acts[dst].shape[1]
    P_src, P_dst = rng.normal(size=(ws + 1, ws + 1)), rng.normal(size=(wd + 1, wd + 1))
    E = rng.random((wd + 1, ws + 1))
    counts = [0, 5, E.size]
    got = edge_ablation_curve(
        model, h, x, src, dst, (P_src, np.linalg.inv(P_src), P_dst, np.linalg.inv(P_dst)), E, counts
    )
    p = {k: v.detach().numpy() for k, v in model.named_parameters()}

    def g(f, s):  # dst from src at sample s, written from the equations
        if (arch, src) == ("relu_mlp", "latent"):
            return p["W_in"] @ f + p["b_in"]
        if arch == "relu_mlp":
            return h[s] + p["W_out"] @ np.maximum(f, 0)
        if src == "latent":
            return (p["L"] @ f) * (p["R"] @ f)
        return h[s] + p["W_out"] @ f

    def rest(f, s):  # the decoder input r from dst's activations, the residual h held at the sample
        if dst in ("resid",):
            return f
        if arch == "relu_mlp":
            return h[s] + p["W_out"] @ np.maximum(f, 0)
        return h[s] + p["W_out"] @ f

    order = np.argsort(-E.ravel(), kind="stable")
    for c, count in enumerate(counts):
        keep = np.zeros(E.size, bool)
        keep[order[:count]] = True
        keep = keep.reshape(E.shape)
        total = 0.0
        for s in range(len(h)):
            coords = P_src @ np.r_[acts[src][s], 1.0]
            out = np.array(
                [P_dst[i] @ np.r_[g((np.linalg.inv(P_src) @ (coords * keep[i]))[:ws], s), 1.0] for i in range(wd + 1)]
            )
            f_dst = (np.linalg.inv(P_dst) @ out)[:wd]
            z = rest(f_dst, s) @ p["W_e"] + p["b"]
            total += np.mean((np.maximum(z, 0) - x[s]) ** 2)
        np.testing.assert_allclose(got[c], total / len(h), rtol=1e-10)
    assert got[-1] == pytest.approx(unablated_loss(model, h, x), rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["relu_mlp", "bilinear"])
def test_a_hidden_node_with_the_residual_has_skip_edges_and_keeps_the_loss(tmp_path, arch):
    """hidden_node: with_residual. The node [h, hidden] (width m + d) has skip edges into resid from its
    residual coordinates (in the neuron basis: the identity); its activations are functions of h alone,
    so relu_mlp's node spans at most m + 1 directions (a = W_in h + b_in is affine in h); keeping every
    direction or edge gives the unablated loss; tied_ae (no hidden layer) is unchanged."""
    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
    from bowsflow.lenses.polytope.analysis import write_codes
    from bowsflow.models.checkpoints import load_model
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=300, chunk=128)
    make_checkpoint(tmp_path / "m.safetensors", arch, m=3, d=5)
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    model, _ = load_model(tmp_path / "m.safetensors")
    write_codes(xr.open_zarr(tmp_path / "a.zarr"), model, tmp_path / "codes.zarr", 1)
    hidden = {"relu_mlp": "hidden_pre", "bilinear": "hidden"}[arch]
    node = f"{hidden}_with_residual"
    lam = {}
    for centred in (False, True):
        summary, _ = analyze_interaction(
            activations=tmp_path / "a.zarr",
            checkpoint=tmp_path / "m.safetensors",
            codes=tmp_path / "codes.zarr",
            store=tmp_path / f"i{centred}.zarr",
            options=InteractionOptions(
                hidden_node="with_residual",
                centred=centred,
                edge_samples=300,
                jacobian_samples=300,
                ablation_samples=100,
            ),
            bows=store,
        )
        ds = xr.open_zarr(tmp_path / f"i{centred}.zarr")
        lam[centred] = ds[f"Lambda_{node}"].values
        assert list(summary["layers"]) == ["latent", node, "resid"]
        assert summary["layers"][node]["width"] == 3 + 5
        if arch == "relu_mlp":
            assert summary["layers"][node]["basis_size"] <= 3 + 1
        skip = ds[f"edges_neuron_{node}_resid"].values[:3, :3]  # resid i ← the node's residual coordinate j
        assert np.all(np.diag(skip) > 0)
        full = summary["ablation"]["unablated_val_loss"]
        for per_basis in list(summary["ablation"]["layers"].values()) + list(summary["ablation"]["edges"].values()):
            for curve in per_basis.values():
                assert curve["val_loss"][-1] == pytest.approx(full, rel=1e-9)
    np.testing.assert_allclose(lam[True], lam[False], rtol=1e-9, atol=1e-10 * np.abs(lam[False]).max())


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["relu_mlp", "bilinear"])
def test_centring_leaves_every_edge_as_it_was_under_every_option(tmp_path, arch):
    """Centring is a change of a layer's coordinates, so the edges in the interaction basis (which maps
    back through its own factors, never a numerical pseudo-inverse) must not move: every combination of
    jacobian_of, hidden_node and lambda_threshold, to 1e-10 of the largest edge. relu_mlp's hidden_pre is
    affine in the latent, so its Gram is rank deficient: the case a pseudo-inverse gets wrong (it moved
    edges by 11%). There the stored float32 activations are affine only up to their rounding, which gives
    G eigenvalues of ~1e-14 of the largest where exact arithmetic has 0; they are dropped, but the kept
    subspace of S G Sᵀ is S times that of G only up to (noise / eigengap): measured 0.4–1.7e-9 of the
    largest edge, hence 1e-8 there (bilinear layers have full-rank Grams: 1e-15 measured)."""
    tolerance = 1e-10 if arch == "bilinear" else 1e-8
    import itertools

    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
    from bowsflow.lenses.polytope.analysis import write_codes
    from bowsflow.models.checkpoints import load_model
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=300, chunk=128)
    make_checkpoint(tmp_path / "m.safetensors", arch, m=3, d=5)
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    model, _ = load_model(tmp_path / "m.safetensors")
    write_codes(xr.open_zarr(tmp_path / "a.zarr"), model, tmp_path / "codes.zarr", 1)
    for jacobian_of, hidden_node, lambda_threshold in itertools.product(
        ("output", "next_layer"), ("residual_fixed", "with_residual"), (0.0, 1e-10)
    ):
        edges = {}
        for centred in (False, True):
            out = tmp_path / f"i-{jacobian_of}-{hidden_node}-{lambda_threshold}-{centred}.zarr"
            analyze_interaction(
                activations=tmp_path / "a.zarr",
                checkpoint=tmp_path / "m.safetensors",
                codes=tmp_path / "codes.zarr",
                store=out,
                options=InteractionOptions(
                    centred=centred,
                    jacobian_of=jacobian_of,
                    hidden_node=hidden_node,
                    lambda_threshold=lambda_threshold,
                    edge_samples=300,
                    jacobian_samples=300,
                    ablation_samples=0,
                ),
            )
            ds = xr.open_zarr(out)
            edges[centred] = {k: ds[k].values for k in ds.data_vars if k.startswith("edges_interaction_")}
        assert edges[False] and edges[False].keys() == edges[True].keys()
        for key, E in edges[False].items():
            np.testing.assert_allclose(edges[True][key], E, rtol=0, atol=tolerance * np.abs(E).max(), err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["relu_mlp", "bilinear"])
def test_keeping_every_direction_and_every_edge_is_the_identity_under_every_option(tmp_path, arch):
    """With directions dropped from the basis (two hidden units write nothing: |Λ| = 0 there, dropped at
    lambda_threshold > 0), centred or not, with or without the residual in the hidden node: keeping all
    that the basis holds leaves the activations as they were, so the loss is the unablated one to float
    precision (rebuilding the layer from the kept coordinates alone lost what the dropped ones carried)."""
    import itertools

    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
    from bowsflow.lenses.polytope.analysis import write_codes
    from bowsflow.models.checkpoints import load_model, save_checkpoint
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=300, chunk=128)
    make_checkpoint(tmp_path / "m0.safetensors", arch, m=3, d=5)
    model, meta = load_model(tmp_path / "m0.safetensors")
    with torch.no_grad():
        model.W_out[:, :2] = 0.0  # dead ends: directions the output never sees
    save_checkpoint(model, tmp_path / "m.safetensors", {k: v for k, v in meta.items() if k != "parameter_shapes"})
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    write_codes(xr.open_zarr(tmp_path / "a.zarr"), model, tmp_path / "codes.zarr", 1)
    dropped = 0
    for centred, hidden_node, jacobian_of in itertools.product(
        (False, True), ("residual_fixed", "with_residual"), ("output", "next_layer")
    ):
        summary, _ = analyze_interaction(
            activations=tmp_path / "a.zarr",
            checkpoint=tmp_path / "m.safetensors",
            codes=tmp_path / "codes.zarr",
            store=tmp_path / f"i-{centred}-{hidden_node}-{jacobian_of}.zarr",
            options=InteractionOptions(
                centred=centred,
                hidden_node=hidden_node,
                jacobian_of=jacobian_of,
                lambda_threshold=1e-6,
                jacobian_samples=300,
                edge_samples=300,
                ablation_samples=100,
            ),
            bows=store,
        )
        dropped += sum(info.get("n_lambda_dropped", 0) for info in summary["layers"].values())
        full = summary["ablation"]["unablated_val_loss"]
        curves = list(summary["ablation"]["layers"].values()) + list(summary["ablation"]["edges"].values())
        for per_basis in curves:
            for curve in per_basis.values():
                assert curve["val_loss"][-1] == pytest.approx(full, rel=1e-12, abs=1e-15)
    assert dropped > 0  # the case that needs it: directions were dropped
