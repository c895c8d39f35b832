"""One home per architecture: a toy architecture registered here, in this test alone, runs through
extraction, polytope codes and the interaction analysis; every stage reads its declarations."""

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

    def layer_jacobians(self, h, src, dst):
        p = {k: v.detach().double() for k, v in self.named_parameters()}
        acts = self._float64_layers(h)
        n = h.shape[0]
        J = {
            ("latent", "first_pre"): lambda: p["W_1"].expand(n, -1, -1),
            ("first_pre", "second_pre"): lambda: p["W_2"][None] * (acts["first_pre"] > 0).double()[:, None, :],
            ("second_pre", "resid"): lambda: p["W_out"][None] * (acts["second_pre"] > 0).double()[:, None, :],
        }[(src, dst)]()
        return J, acts[src], acts[dst]


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


def test_the_declarations_read_without_torch_are_the_classes_own():
    from bowsflow.models.registry import DECLARED, declared_architectures

    declared = declared_architectures()
    assert sorted(declared) == ["bilinear", "relu_mlp", "tied_ae"]
    for arch, values in declared.items():
        cls = architecture(arch)
        for name in DECLARED:
            assert getattr(cls, name) == values[name], (arch, name)


def test_reading_a_config_and_its_models_does_not_import_torch():
    """The workflow reads the registry while it builds the DAG: importing torch there cost 1.5–1.9 s."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bowsflow.config import model_specs, validate_config\n"
        "from bowsflow.models import n_parameters\n"
        "cfg = validate_config({'corpora': {'w': {'source': 'synthetic'}}, 'extract': {'layers': ['latent']},\n"
        "    'models': {'b': {'corpus': 'w', 'arch': 'bilinear', 'd_latent': 2, 'd_hidden': 3}}})\n"
        "assert n_parameters('bilinear', 12, 2, 3) == 2 * 12 + 3 * 2 * 3 + 12\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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
