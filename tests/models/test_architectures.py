"""The architecture contract. One conformance suite runs every registered architecture (the registry's
list, not names) and a toy architecture defined here, in this test alone: the forward pass against the
sum of its layers and its decoder, the training loss against the dense loss, each decoder input against
the forward pass, the layer Jacobians against autograd, path crossings against brute force and the
interaction lens' edges against a per-sample reference. The toy also runs through extraction, polytope
codes and the interaction analysis. A wrong declaration names its file."""

import json

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from torch import nn

from bowsflow.activations.extraction import ExtractOptions, extract_activations
from bowsflow.data.vocabulary import vocabulary_sha256
from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
from bowsflow.lenses.polytope.analysis import write_codes
from bowsflow.lenses.polytope.codes import pack_codes
from bowsflow.models import ARCHITECTURES, architecture, build_model, n_parameters
from bowsflow.models.base import BowsAutoencoder, embedding_parameter, uniform_
from bowsflow.models.checkpoints import load_model, save_checkpoint
from helpers import WORDS, make_store


class TwoLayerMlp(BowsAutoencoder):
    """h = W_e x; a = W_1 h + b_1; c = W_2 ReLU(a) + b_2; r = h + W_out ReLU(c); z = W_eᵀ r + b."""

    arch = "toy_mlp2"
    parameter_shapes = {
        "W_e": ("m", "V"),
        "W_1": ("d", "m"),
        "b_1": ("d",),
        "W_2": ("d", "d"),
        "b_2": ("d",),
        "W_out": ("m", "d"),
        "b": ("V",),
    }
    layer_dims = {
        "latent": "latent",
        "first_pre": "hidden",
        "second_pre": "hidden",
        "resid": "latent",
        "out_pre": "word",
    }
    relu_layers = ("first_pre", "second_pre", "out_pre")
    jacobian_layers = ("latent", "first_pre", "second_pre", "resid")
    adjacent_pairs = (("latent", "first_pre"), ("first_pre", "second_pre"), ("second_pre", "resid"))
    path_layers = ("first_pre", "second_pre", "out_pre", "both")
    # affine in the latent while the earlier ReLUs keep their states: the generic path crossings
    piecewise_through = {"second_pre": ("first_pre",), "out_pre": ("first_pre", "second_pre")}
    needs_hidden = True

    def __init__(self, vocab_size, d_latent, d_hidden, output="relu", **_):
        super().__init__(vocab_size, d_latent, output)
        self.W_e = embedding_parameter(d_latent, vocab_size)
        self.W_1 = nn.Parameter(uniform_(torch.empty(d_hidden, d_latent), d_latent))
        self.b_1 = nn.Parameter(uniform_(torch.empty(d_hidden), d_latent))
        self.W_2 = nn.Parameter(uniform_(torch.empty(d_hidden, d_hidden), d_hidden))
        self.b_2 = nn.Parameter(uniform_(torch.empty(d_hidden), d_hidden))
        self.W_out = nn.Parameter(uniform_(torch.empty(d_latent, d_hidden), d_hidden))

    @property
    def hidden_width(self):
        return int(self.W_1.shape[0])

    def middle(self, h):
        a = h @ self.W_1.t() + self.b_1
        c = torch.relu(a) @ self.W_2.t() + self.b_2
        return {"first_pre": a, "second_pre": c, "resid": h + torch.relu(c) @ self.W_out.t()}

    def decoder_input(self, layer):
        W_2, b_2, W_out = self.W_2, self.b_2, self.W_out
        if layer == "first_pre":
            return (lambda f, a: a["latent"] + torch.relu(torch.relu(f) @ W_2.t() + b_2) @ W_out.t()), False
        if layer == "second_pre":
            return (lambda f, a: a["latent"] + torch.relu(f) @ W_out.t()), False
        return super().decoder_input(layer)

    def layer_function(self, src, dst):
        # the next layer from this one, for K variants of each of B samples ([B, K, w]), the rest held
        if (src, dst) == ("latent", "first_pre"):
            return lambda f, a: f @ self.W_1.t() + self.b_1
        if (src, dst) == ("first_pre", "second_pre"):
            return lambda f, a: torch.relu(f) @ self.W_2.t() + self.b_2
        if (src, dst) == ("second_pre", "resid"):
            return lambda f, a: a["latent"][:, None, :] + torch.relu(f) @ self.W_out.t()
        return super().layer_function(src, dst)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(ARCHITECTURES, TwoLayerMlp.arch, TwoLayerMlp)
    return TwoLayerMlp


def test_the_registry_builds_the_toy_and_counts_its_parameters(toy):
    torch.manual_seed(0)
    model = build_model("toy_mlp2", 12, 3, 5)
    assert architecture("toy_mlp2") is toy
    # hand count: W_e 3·12, W_1 5·3, b_1 5, W_2 5·5, b_2 5, W_out 3·5, b 12
    assert (
        n_parameters("toy_mlp2", 12, 3, 5)
        == sum(p.numel() for p in model.parameters())
        == 36 + 15 + 5 + 25 + 5 + 15 + 12
    )


def test_a_toy_architecture_runs_through_extraction_codes_and_interaction(toy, tmp_path):
    store = make_store(tmp_path / "bows.zarr", n=400, chunk=128)
    torch.manual_seed(0)
    model = build_model("toy_mlp2", 12, 3, 5)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    meta = {
        "arch": "toy_mlp2",
        "vocab_size": 12,
        "d_latent": 3,
        "d_hidden": 5,
        "output": "relu",
        "model": "toy",
        "vocab_sha256": vocabulary_sha256(WORDS),
    }
    save_checkpoint(model, tmp_path / "m.safetensors", meta)
    model, _ = load_model(tmp_path / "m.safetensors")

    # extraction: every declared layer, at its declared width, equal to a direct forward pass
    extract_activations(
        tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu", batch_size=50)
    )
    acts = xr.open_zarr(tmp_path / "a.zarr")
    assert list(json.loads(acts.attrs["layer_shapes"])) == list(toy.layer_dims)
    x = torch.as_tensor(np.asarray(zarr.open_group(str(store))["bows"][:]), dtype=torch.float32)
    with torch.no_grad():
        direct = model.layers_from_latent(model.encode_dense(x))
    for layer, dim in toy.layer_dims.items():
        assert acts[layer].dims == ("sample", dim)
        np.testing.assert_allclose(acts[layer].values, direct[layer].numpy(), rtol=1e-5, atol=1e-6)

    # polytope codes: one packed code per ReLU layer, equal to the signs of the direct pass
    write_codes(acts, model, tmp_path / "codes.zarr", threads=1)
    codes = zarr.open_group(str(tmp_path / "codes.zarr"))
    for layer in toy.relu_layers:
        np.testing.assert_array_equal(np.asarray(codes[f"codes_{layer}"][:]), pack_codes(acts[layer].values))

    # interaction analysis: the declared layers and pairs; neuron-basis edges against an autograd reference
    options = InteractionOptions(jacobian_samples=400, edge_samples=400)
    summary, _ = analyze_interaction(
        activations=tmp_path / "a.zarr",
        checkpoint=tmp_path / "m.safetensors",
        codes=tmp_path / "codes.zarr",
        store=tmp_path / "interaction.zarr",
        options=options,
    )
    assert list(summary["layers"]) == list(toy.jacobian_layers)
    assert list(summary["cofiring"]) == list(toy.relu_layers)
    assert list(summary["edges"]) == [f"{s}->{d}" for s, d in toy.adjacent_pairs]
    h = torch.as_tensor(acts["latent"].values, dtype=torch.float64)
    m64 = model.double()
    functions = {  # dst as a function of src, written from the toy's equations, the rest held at the sample
        ("latent", "first_pre"): lambda f, s: f @ m64.W_1.t() + m64.b_1,
        ("first_pre", "second_pre"): lambda f, s: torch.relu(f) @ m64.W_2.t() + m64.b_2,
        ("second_pre", "resid"): lambda f, s: h[s] + torch.relu(f) @ m64.W_out.t(),
    }
    with torch.no_grad():
        layers = m64.layers_from_latent(h)
    for (src, dst), fn in functions.items():
        total = 0.0
        for s in range(h.shape[0]):
            f_src = layers[src][s]
            J = torch.autograd.functional.jacobian(lambda f: fn(f, s), f_src)
            offset = layers[dst][s] - J @ f_src
            J_tilde = torch.cat(
                [torch.cat([J, offset[:, None]], 1), torch.cat([torch.zeros(J.shape[1]), torch.ones(1)])[None]]
            )
            f_tilde = torch.cat([f_src, torch.ones(1, dtype=torch.float64)])
            total += float(((J_tilde * f_tilde[None, :]) ** 2).sum())
        got = summary["edges"][f"{src}->{dst}"]["neuron"]["total_mass"]
        assert got == pytest.approx(total / h.shape[0], rel=1e-10)  # float64 throughout: only summation order differs


def test_the_papers_initialization_is_uniform_within_root_two_over_root_v():
    import math

    from bowsflow.models.base import init_embedding

    torch.manual_seed(0)
    model = build_model("tied_ae", 400, 50)
    before = model.embedding.detach().clone()
    init_embedding(model, "linear")
    assert torch.equal(model.embedding, before)  # the default keeps the architecture's own draw
    assert before.abs().max() <= 1 / math.sqrt(400)
    init_embedding(model, "paper")
    W = model.embedding.detach()
    bound = math.sqrt(2) / math.sqrt(400)
    # 20,000 uniform draws: the extremes come within 0.1% of the bound, the variance is bound²/3 to ~2%
    assert W.abs().max() <= bound and W.abs().max() > 0.999 * bound
    assert float(W.var()) == pytest.approx(bound**2 / 3, rel=0.03)
    with pytest.raises(ValueError, match="init"):
        init_embedding(model, "xavier")


# ---------------------------------------------------------------------------------------------
# the conformance suite: every registered architecture, and the toy


def all_architectures():
    from bowsflow.models import known_architectures

    return [*known_architectures(), TwoLayerMlp.arch]


@pytest.fixture(params=all_architectures())
def model(request, monkeypatch):
    monkeypatch.setitem(ARCHITECTURES, TwoLayerMlp.arch, TwoLayerMlp)
    torch.manual_seed(0)
    net = build_model(request.param, 9, 3, 5)
    with torch.no_grad():
        net.b.uniform_(-0.5, 0.5)
        for p in net.parameters():  # larger weights: more ReLU states flip along a path
            p.mul_(3.0)
    return net.double()


def test_the_registry_lists_the_four_built_in_architectures():
    from bowsflow.models import known_architectures

    assert {"tied_ae", "untied_ae", "relu_mlp", "bilinear"} <= set(known_architectures())


def test_the_forward_pass_is_its_layers_and_its_decoder(model):
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.random((6, 9)) < 0.4, dtype=torch.float64)
    idx, off = [], [0]
    for row in x:
        ids = torch.nonzero(row).ravel()
        idx.append(ids)
        off.append(off[-1] + ids.numel())
    with torch.no_grad():
        z = model(torch.cat(idx), torch.as_tensor(off[:-1]))
        layers = model.layers_from_latent(model.encode_dense(x))
        assert list(layers) == list(model.layer_dims) or set(model.layer_dims) <= set(layers)
        for layer, dim in model.layer_dims.items():
            assert layers[layer].shape == (6, model.layer_width(layer)), layer
        # z = decoderᵀ r + b with the decoder of the contract (the embedding when tied)
        np.testing.assert_allclose(z, layers["resid"] @ model.decoder + model.b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layers["out_pre"], z, rtol=1e-12, atol=1e-12)
        if model.tied:
            assert model.decoder is model.embedding


def test_the_training_loss_is_the_dense_loss_of_the_forward_pass(model):
    from bowsflow.models.losses import dense_target_loss

    model = model.float()
    model.output_screening = False
    rng = np.random.default_rng(2)
    x = torch.as_tensor(rng.random((7, 9)) < 0.4)
    rows, cols = torch.nonzero(x, as_tuple=True)
    offsets = torch.as_tensor(np.r_[0, np.cumsum(x.sum(1).numpy())[:-1]])
    loss = model.training_loss(cols, offsets, rows, cols)
    dense = dense_target_loss(model(cols, offsets), x.float(), "mse", model.output == "relu")
    assert float(loss.detach()) == pytest.approx(float(dense), rel=1e-5)  # float32, summed in other orders
    loss.backward()  # gradients reach every parameter (the decoder too, tied or not)
    assert all(p.grad is not None for p in model.parameters())


def test_each_decoder_input_gives_the_decoders_input(model):
    h = torch.as_tensor(np.random.default_rng(3).normal(size=(5, model.d_latent)))
    with torch.no_grad():
        layers = model.layers_from_latent(h)
        for layer in model.jacobian_layers:
            fn, _ = model.decoder_input(layer)
            for s in range(5):
                r = fn(layers[layer][s], {k: v[s] for k, v in layers.items()})
                np.testing.assert_allclose(r, layers["resid"][s], rtol=1e-12, atol=1e-12, err_msg=layer)


def test_layer_jacobians_equal_autograd_of_the_layer_function(model):
    h = torch.as_tensor(np.random.default_rng(4).normal(size=(6, model.d_latent)))
    with torch.no_grad():
        layers = model.layers_from_latent(h)
    for src, dst in model.adjacent_pairs:
        J, f_src, f_dst = model.layer_jacobians(h, src, dst)
        step = model.layer_function(src, dst)
        np.testing.assert_allclose(f_src, layers[src], rtol=1e-12)
        np.testing.assert_allclose(f_dst, layers[dst], rtol=1e-12)
        for s in range(h.shape[0]):
            acts = {k: v[s : s + 1] for k, v in layers.items()}
            want = torch.autograd.functional.jacobian(lambda f: step(f[None, None], acts)[0, 0], layers[src][s])
            np.testing.assert_allclose(J[s], want, rtol=1e-10, atol=1e-12, err_msg=f"{src}->{dst}")


def test_path_crossings_equal_a_brute_force_count(model):
    """Every ReLU state change along a latent segment, exactly: against the sign changes between 200,001
    evenly spaced points (two crossings closer than the spacing would be missed by the brute force; the
    segments here have no such pair)."""
    rng = np.random.default_rng(5)
    t = np.linspace(0.0, 1.0, 200_001)
    for _ in range(3):
        h0, h1 = rng.normal(size=(2, model.d_latent)) * 2
        with torch.no_grad():
            grid = model.layers_from_latent(torch.as_tensor(h0[None] + t[:, None] * (h1 - h0)[None]))
        on = {n: grid[n].numpy() > 0 for n in model.relu_layers}
        for layer in model.path_layers:
            names = model.relu_layers if layer == "both" else (layer,)
            brute = np.sort(np.concatenate([np.nonzero(on[n][:-1] != on[n][1:])[0] for n in names]))
            exact = np.sort(model.path_crossings(h0, h1, layer))
            assert exact.size == brute.size > 0, (layer, exact.size, brute.size)
            # each exact crossing lies in the grid interval where the brute force sees it
            np.testing.assert_array_equal(np.minimum((exact * (t.size - 1)).astype(int), t.size - 2), brute)


def test_the_interaction_edges_equal_a_per_sample_reference(model):
    """Edges in the neuron basis, E_ij = mean over samples of (J̃_ij f̃_j)², from the lens' edge_strengths
    against a loop over samples with autograd of the architecture's layer function."""
    from bowsflow.lenses.interaction.basis import edge_strengths

    h = torch.as_tensor(np.random.default_rng(6).normal(size=(7, model.d_latent)))
    with torch.no_grad():
        layers = model.layers_from_latent(h)
    for src, dst in model.adjacent_pairs:
        w_src, w_dst = layers[src].shape[1], layers[dst].shape[1]
        eye_src, eye_dst = np.eye(w_src + 1), np.eye(w_dst + 1)
        got = edge_strengths(model, h, src, dst, {"neuron": (eye_src, eye_src, eye_dst)})["neuron"]
        step = model.layer_function(src, dst)
        want = np.zeros((w_dst + 1, w_src + 1))
        for s in range(h.shape[0]):
            acts = {k: v[s : s + 1] for k, v in layers.items()}
            f = layers[src][s]
            J = torch.autograd.functional.jacobian(lambda g: step(g[None, None], acts)[0, 0], f).numpy()
            Jt = np.zeros((w_dst + 1, w_src + 1))
            Jt[:w_dst, :w_src], Jt[:w_dst, w_src], Jt[w_dst, w_src] = J, layers[dst][s].numpy() - J @ f.numpy(), 1.0
            want += (Jt * np.r_[f.numpy(), 1.0][None, :]) ** 2 / h.shape[0]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14, err_msg=f"{src}->{dst}")


def test_a_wrong_declaration_names_the_file_it_is_in():
    from bowsflow.models.registry import ArchitectureError, register

    class Broken(BowsAutoencoder):
        arch = "broken"
        parameter_shapes = {"W_e": ("m", "V"), "b": ("V",)}
        layer_dims = {"latent": "latent", "out_pre": "word"}
        relu_layers = ("out_pre", "hidden")  # no such layer

    with pytest.raises(ArchitectureError, match=rf"{__file__}: Broken.relu_layers"):
        register(Broken)
    assert "broken" not in ARCHITECTURES
