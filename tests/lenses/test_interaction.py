import numpy as np
import pytest
import torch

from bowsflow.lenses.interaction.basis import (
    cofiring_groups,
    cofiring_summary,
    dask_gram,
    degeneracy,
    edges_for_mass,
    gram_from_moments,
    interaction_basis,
    jaccard_groups,
    jacobian_blocks,
    jacobian_gram,
)
from bowsflow.lenses.polytope.codes import pack_codes
from bowsflow.linalg import sorted_eigh
from bowsflow.models import build_model
from helpers import MIDDLE_LAYER_PAIRS


def test_gram_eigenvalues_equal_numpy_on_a_chunked_store(tmp_path):
    import dask.array as da
    import zarr

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 6)).astype(np.float32)
    z = zarr.create_array(str(tmp_path / "x.zarr"), shape=X.shape, chunks=(128, 6), dtype="f4")
    z[:] = X
    data = da.from_zarr(str(tmp_path / "x.zarr"))
    Xt = np.c_[X.astype(np.float64), np.ones(1000)]
    ref = Xt.T @ Xt / 1000
    G = dask_gram(data, threads=2)
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        sorted_eigh(G, "descending")[0], np.sort(np.linalg.eigvalsh(ref))[::-1], rtol=1e-10, atol=1e-12
    )
    X64 = X.astype(np.float64)
    Xc = np.c_[X64 - X64.mean(0), np.ones(1000)]
    np.testing.assert_allclose(dask_gram(data, centred=True), Xc.T @ Xc / 1000, atol=1e-12)


def test_planted_degeneracies_are_counted_exactly():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(500, 4))
    X = np.c_[base, base[:, 0], np.zeros(500), base[:, 1] + 2 * base[:, 2]]  # duplicate, dead, dependent
    G = gram_from_moments(X.T @ X, X.sum(0), 500)
    vals, _ = sorted_eigh(G, "descending")
    assert degeneracy(vals, 1e-9)["n_below_threshold"] == 3
    # ReLU co-firing: duplicated neurons and identical firing sets group; dead units apart
    pre = np.c_[base, base[:, 0], -np.ones(500), 2 * base[:, 1], base[:, 3] + 0.01 * (base[:, 3] > 0)]
    codes = pack_codes(pre)
    groups = cofiring_groups([codes[:170], codes[170:340], codes[340:]], pre.shape[1])
    fires = (pre > 0).sum(0)
    info = cofiring_summary(groups, fires)
    assert sorted(map(sorted, [g for g in groups if len(g) > 1])) == [[0, 4], [1, 6], [3, 7]]
    assert info["n_dead"] == 1 and info["n_groups_identical_firing"] == 3 and info["n_units_in_groups"] == 6


def test_jaccard_groups():
    f = np.zeros((10, 4), dtype=bool)
    f[:5, 0] = True
    f[:4, 1] = True  # Jaccard(0, 1) = 4/5
    f[5:, 2] = True
    codes = pack_codes(f.astype(float))
    assert jaccard_groups([codes], 4, 0.75) == [[0, 1]]
    assert jaccard_groups([codes], 4, 0.9) == []


def test_jacobian_gram_closed_form_for_tied_autoencoder():
    """With the output ReLU, M = E[Jᵀ J] = W diag(p) Wᵀ on the latent block, p_i the share of samples
    on which output unit i fires."""
    torch.manual_seed(0)
    model = build_model("tied_ae", 12, 3)
    with torch.no_grad():
        model.b.uniform_(-1, 1)
    h = np.random.default_rng(0).normal(size=(300, 3))
    S, n = jacobian_gram(model, h, "latent", through_output_relu=True, batch_size=64)
    W = model.W.detach().double().numpy()
    p = (h @ W + model.b.detach().double().numpy() > 0).mean(0)
    np.testing.assert_allclose(S[:3, :3] / n, W @ np.diag(p) @ W.T, rtol=1e-10, atol=1e-12)
    S2, _ = jacobian_gram(model, h, "latent")  # without the ReLU: WWᵀ, the same for every sample
    np.testing.assert_allclose(S2[:3, :3] / 300, W @ W.T, rtol=1e-10)


def test_read_buffers_read_what_zarr_reads_and_reuse_one_array_per_thread(tmp_path):
    import pickle
    import threading

    import zarr

    from bowsflow.lenses.interaction.basis import ReadBuffers

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    z = zarr.create_array(str(tmp_path / "x.zarr"), shape=X.shape, chunks=(16, 3), dtype="f4")
    z[:] = X
    buffers = ReadBuffers()
    first = buffers.read(z, 0, 16)
    np.testing.assert_array_equal(first, X[:16])
    second = buffers.read(z, 16, 32)
    assert np.shares_memory(first, second)  # the same buffer, overwritten
    np.testing.assert_array_equal(second, X[16:32])
    np.testing.assert_array_equal(buffers.read(z, 48, 50), X[48:50])  # the short last chunk
    other = []
    thread = threading.Thread(target=lambda: other.append(buffers.read(z, 0, 16)))
    thread.start()
    thread.join()
    assert not np.shares_memory(other[0], second)  # another thread reads into its own buffer
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(buffers)).read(z, 32, 48), X[32:48])


def _reference_jacobian_gram(model, h, layer, through_output_relu):
    """Σ_b J̃_bᵀ J̃_b one sample at a time, z written out per architecture (no code shared with
    jacobian_gram), J from reverse-mode autograd."""
    p = {k: v.detach().double() for k, v in model.named_parameters()}
    We = model.embedding.detach().double()
    relu = torch.relu
    total = 0
    for x in torch.as_tensor(h, dtype=torch.float64):
        if "L" in p:  # bilinear
            g = (p["L"] @ x) * (p["R"] @ x)
            layers = {"latent": x, "hidden": g, "resid": x + p["W_out"] @ g}
            z_of = {
                "latent": lambda f: (f + p["W_out"] @ ((p["L"] @ f) * (p["R"] @ f))) @ We + p["b"],
                "hidden": lambda f: (x + p["W_out"] @ f) @ We + p["b"],
            }
        elif "W_in" in p:  # relu_mlp
            a = p["W_in"] @ x + p["b_in"]
            layers = {"latent": x, "hidden_pre": a, "resid": x + p["W_out"] @ relu(a)}
            z_of = {
                "latent": lambda f: (f + p["W_out"] @ relu(p["W_in"] @ f + p["b_in"])) @ We + p["b"],
                "hidden_pre": lambda f: (x + p["W_out"] @ relu(f)) @ We + p["b"],
            }
        else:  # tied_ae
            layers = {"latent": x, "resid": x}
            z_of = {"latent": lambda f: f @ We + p["b"]}
        z_of["resid"] = lambda f: f @ We + p["b"]
        f = layers[layer]
        J = torch.autograd.functional.jacobian(z_of[layer], f)  # [V, w]
        z = z_of[layer](f)
        Jt = torch.cat([J, (z - J @ f)[:, None]], dim=1)
        if through_output_relu:
            Jt = Jt * (z > 0).double()[:, None]
        total = total + Jt.t() @ Jt
    return total.numpy()


@pytest.mark.parametrize(
    "arch, layer",
    [
        ("tied_ae", "latent"),
        ("tied_ae", "resid"),
        ("relu_mlp", "latent"),
        ("relu_mlp", "hidden_pre"),
        ("relu_mlp", "resid"),
        ("bilinear", "latent"),
        ("bilinear", "hidden"),
        ("bilinear", "resid"),
    ],
)
@pytest.mark.parametrize("through_output_relu", [False, True])
def test_jacobian_gram_equals_a_per_sample_reference_whatever_the_blocks(arch, layer, through_output_relu):
    torch.manual_seed(0)
    model = build_model(arch, 23, 3, 4)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)  # some outputs fire, some do not
    h = np.random.default_rng(1).normal(size=(37, 3))
    ref = _reference_jacobian_gram(model, h, layer, through_output_relu)
    # one block; batches of 8 samples; one sample and the outputs in chunks (of 1 to 5 of the 23)
    for batch_size, max_block_mb in [(64, 256.0), (8, 256.0), (8, 30 * 8 / 2**20), (8, 1e-9)]:
        S, n = jacobian_gram(model, h, layer, through_output_relu, batch_size, max_block_mb)
        assert n == 37
        np.testing.assert_allclose(S, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_jacobian_blocks_stay_within_the_bound():
    mb = 2**20
    for V, per_pair, batch, bound, per_sample in [
        (2000, 34 * 8, 256, 256.0, 0),
        (10_000, 1002 * 8, 256, 256.0, 0),
        (10_000, 1002 * 8, 256, 16.0, 0),
        (50, 24, 7, 1e-3, 0),
        (10, 40, 256, 1e-9, 0),
        (2000, 34 * 8, 256, 1.0, 100_000),
        (2000, 34 * 8, 256, 1.0, 10**7),
    ]:
        samples, outputs = jacobian_blocks(V, per_pair, batch, bound, per_sample)
        assert 1 <= samples <= batch and 1 <= outputs <= V
        assert samples * (outputs * per_pair + per_sample) <= max(
            bound * mb, per_pair + per_sample
        )  # at least one pair
        if outputs < V:
            assert samples == 1  # outputs are cut only when one sample is over the bound
    assert jacobian_blocks(2000, 34 * 8, 256, 256.0) == (256, 2000)  # 2^28 B // 272 B = 986,895 pairs ≥ 256·2000
    assert jacobian_blocks(10_000, 1002 * 8, 256, 256.0) == (3, 10_000)  # 2^28 // 8,016 = 33,487 pairs
    assert jacobian_blocks(10_000, 1002 * 8, 256, 16.0) == (1, 2092)  # 2^24 // 8,016
    assert jacobian_blocks(2000, 34 * 8, 256, 1.0, 100_000) == (1, 2000)  # 2^20 // (544,000 + 100,000) = 1
    assert jacobian_blocks(2000, 8, 256, 1.0, 16_000) == (32, 2000)  # 2^20 // (16,000 + 16,000) = 32


def _basis(model, h, layer):
    import dask.array as da

    acts = model.double().layers_from_latent(torch.as_tensor(h))
    f = acts[layer].detach().numpy()
    model.float()
    G = dask_gram(da.from_array(f, chunks=(64, -1)))
    S, n = jacobian_gram(model, h, layer)
    return interaction_basis(G, S / n, 1e-12), f


def test_lambda_is_invariant_under_function_preserving_reparameterizations():
    torch.manual_seed(0)
    model = build_model("relu_mlp", 15, 3, 5)
    h = np.random.default_rng(0).normal(size=(400, 3))
    ref, f = _basis(model, h, "hidden_pre")
    # rescale hidden unit 2 by s > 0 and counter-scale the next weights: the same function
    s = 3.0
    with torch.no_grad():
        model.W_in[2] *= s
        model.b_in[2] *= s
        model.W_out[:, 2] /= s
    new, f2 = _basis(model, h, "hidden_pre")
    np.testing.assert_allclose(f2[:, 2], s * f[:, 2], rtol=1e-5, atol=1e-6)  # float32 weights
    np.testing.assert_allclose(new.Lambda, ref.Lambda, rtol=1e-6, atol=1e-10)
    # the directions map accordingly: every sample has the same coordinates f̂ = Cᵀ f̃ in both
    # (up to each direction's sign); C' = S⁻¹ C on the data's subspace (f spans 4 of 6 dimensions)
    coords = np.c_[f, np.ones(len(f))] @ ref.C
    coords2 = np.c_[f2, np.ones(len(f2))] @ new.C
    for k in range(coords.shape[1]):
        sign = np.sign(coords[:, k] @ coords2[:, k])
        np.testing.assert_allclose(coords2[:, k], sign * coords[:, k], rtol=1e-4, atol=1e-5)


def test_lambda_is_invariant_under_a_rotation_of_a_linear_subspace():
    """Rotating the latent space of a tied autoencoder (W → QW) changes no output: Λ stays and
    C → diag(Q, 1) C (= S⁻ᵀ C for S = diag(Q, 1)), so every sample keeps its coordinates Cᵀ f̃."""
    torch.manual_seed(1)
    model = build_model("tied_ae", 10, 3)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    x = (np.random.default_rng(2).random((300, 10)) < 0.3).astype(np.float64)
    h = x @ model.W.detach().double().numpy().T
    ref, _ = _basis(model, h, "latent")
    Q = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]
    with torch.no_grad():
        model.W.copy_(torch.as_tensor(Q, dtype=torch.float32) @ model.W)
    new, _ = _basis(model, h @ Q.T, "latent")
    np.testing.assert_allclose(new.Lambda, ref.Lambda, rtol=1e-5, atol=1e-9)
    block = np.eye(4)
    block[:3, :3] = Q
    mapped = block @ ref.C
    for k in range(ref.C.shape[1]):
        sign = np.sign(mapped[:, k] @ new.C[:, k])
        np.testing.assert_allclose(new.C[:, k], sign * mapped[:, k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch, src, dst", MIDDLE_LAYER_PAIRS)
def test_edge_strengths_equal_a_per_sample_reference_in_any_basis_and_batching(arch, src, dst):
    from bowsflow.lenses.interaction.basis import edge_strengths

    torch.manual_seed(0)
    model = build_model(arch, 9, 3, 4)
    p = {k: v.detach().double() for k, v in model.named_parameters()}
    h = torch.as_tensor(np.random.default_rng(2).normal(size=(23, 3)))
    relu = torch.relu
    if arch == "relu_mlp":  # each layer from the one before, written out: f_dst(f_src) for one sample
        step = {
            ("latent", "hidden_pre"): lambda f, x: p["W_in"] @ f + p["b_in"],
            ("hidden_pre", "resid"): lambda f, x: x + p["W_out"] @ relu(f),
        }[(src, dst)]
        layer = {"latent": lambda x: x, "hidden_pre": lambda x: p["W_in"] @ x + p["b_in"]}[src]
    else:
        step = {
            ("latent", "hidden"): lambda f, x: (p["L"] @ f) * (p["R"] @ f),
            ("hidden", "resid"): lambda f, x: x + p["W_out"] @ f,
        }[(src, dst)]
        layer = {"latent": lambda x: x, "hidden": lambda x: (p["L"] @ x) * (p["R"] @ x)}[src]
    rng = np.random.default_rng(3)
    w_src, w_dst = layer(h[0]).shape[0], step(layer(h[0]), h[0]).shape[0]
    maps = {
        "neuron": (np.eye(w_src + 1), np.eye(w_dst + 1)),
        "random": (rng.normal(size=(w_src + 1, w_src + 1)), rng.normal(size=(w_dst - 1, w_dst + 1))),
        "rank_deficient": (rng.normal(size=(w_src - 1, w_src + 1)), rng.normal(size=(w_dst + 1, w_dst + 1))),
    }
    # the way back from each source basis, given (here a right inverse of P_src)
    projections = {name: (Ps, np.linalg.pinv(Ps), Pd) for name, (Ps, Pd) in maps.items()}
    reference = {name: 0 for name in projections}
    for x in h:
        f = layer(x)
        J = torch.autograd.functional.jacobian(lambda g: step(g, x), f)  # [w_dst, w_src]
        Jt = torch.zeros(w_dst + 1, w_src + 1, dtype=torch.float64)
        Jt[:w_dst, :w_src], Jt[:w_dst, w_src], Jt[w_dst, w_src] = J, step(f, x) - J @ f, 1.0
        ft = torch.cat([f, torch.ones(1, dtype=torch.float64)])
        for name, (Ps, back, Pd) in projections.items():
            Ps, back, Pd = torch.as_tensor(Ps), torch.as_tensor(back), torch.as_tensor(Pd)
            reference[name] = reference[name] + ((Pd @ Jt @ back) * (Ps @ ft)[None, :]) ** 2 / len(h)
    for max_block_mb in (256.0, 1e-9):  # one batch; one sample at a time
        E = edge_strengths(model, h, src, dst, projections, max_block_mb)
        for name in projections:
            np.testing.assert_allclose(E[name], reference[name].numpy(), rtol=1e-10, atol=1e-14)
        # the group sums (sample i in group i mod 3) add up to the total, and one group is its own mean
        E2, grouped = edge_strengths(model, h, src, dst, projections, max_block_mb, groups=3)
        for name in projections:
            np.testing.assert_allclose(grouped[name].sum(axis=0) / len(h), E2[name], rtol=1e-12, atol=1e-15)
        single = edge_strengths(model, h[1::3], src, dst, projections, max_block_mb)
        for name in projections:
            np.testing.assert_allclose(grouped[name][1] / len(h[1::3]), single[name], rtol=1e-10, atol=1e-14)


def test_half_sample_edge_counts_are_paired_across_bases_and_seeded():
    from bowsflow.lenses.interaction.analysis import EDGE_GROUPS, EDGE_HALF_SAMPLES, half_sample_edge_counts

    # basis "a": every group's edges are one strong edge; basis "b": the same mass over 4 edges
    one = np.zeros((EDGE_GROUPS, 2, 2))
    one[:, 0, 0] = 1.0
    spread = np.full((EDGE_GROUPS, 2, 2), 0.25)
    counts = half_sample_edge_counts({"a": one, "b": spread}, 100, np.random.default_rng(0))
    assert counts == {"a": [1] * EDGE_HALF_SAMPLES, "b": [4] * EDGE_HALF_SAMPLES}
    # a group-dependent matrix: the half-samples differ, and the same seed draws the same ones
    rng = np.random.default_rng(1)
    varied = rng.exponential(size=(EDGE_GROUPS, 6, 6)) ** 3
    first = half_sample_edge_counts({"a": varied}, 100, np.random.default_rng(2))
    assert first == half_sample_edge_counts({"a": varied}, 100, np.random.default_rng(2))
    assert len(set(first["a"])) > 1


def test_edges_for_mass():
    assert edges_for_mass(np.array([[5.0, 0.0], [0.04, 0.01]]), 0.99) == 1
    assert edges_for_mass(np.array([[1.0, 1.0], [1.0, 1.0]]), 0.99) == 4
