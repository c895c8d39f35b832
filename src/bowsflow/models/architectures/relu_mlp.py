"""``relu_mlp``: h = W_e x; a = W_in h + b_in; r = h + W_out ReLU(a); z = W_eᵀ r + b; x̂ = ReLU(z).
W_e [m, V], W_in [d, m], b_in [d], W_out [m, d], b [V]."""

from __future__ import annotations

import torch
from torch import nn

from bowsflow.models.base import BowsAutoencoder, embedding_parameter, uniform_
from bowsflow.models.registry import register


@register
class ReluMlpAutoencoder(BowsAutoencoder):
    arch = "relu_mlp"
    parameter_shapes = {"W_e": ("m", "V"), "W_in": ("d", "m"), "b_in": ("d",), "W_out": ("m", "d"), "b": ("V",)}
    layer_dims = {"latent": "latent", "hidden_pre": "hidden", "resid": "latent", "out_pre": "word"}
    relu_layers = ("hidden_pre", "out_pre")
    jacobian_layers = ("latent", "hidden_pre", "resid")
    adjacent_pairs = (("latent", "hidden_pre"), ("hidden_pre", "resid"))
    path_layers = ("hidden_pre", "out_pre", "both")
    piecewise_through = {"out_pre": ("hidden_pre",)}  # z is affine in h while the hidden code holds
    needs_hidden = True

    def __init__(self, vocab_size: int, d_latent: int, d_hidden: int, output: str = "relu", **_):
        super().__init__(vocab_size, d_latent, output)
        if d_hidden < 1:
            raise ValueError(f"d_hidden must be >= 1 for relu_mlp, got {d_hidden}")
        self.W_e = embedding_parameter(d_latent, vocab_size)
        self.W_in = nn.Parameter(uniform_(torch.empty(d_hidden, d_latent), d_latent))
        self.b_in = nn.Parameter(uniform_(torch.empty(d_hidden), d_latent))
        self.W_out = nn.Parameter(uniform_(torch.empty(d_latent, d_hidden), d_hidden))

    def middle(self, h):
        a = torch.addmm(self.b_in, h, self.W_in.t())
        return {"hidden_pre": a, "resid": h + torch.relu(a) @ self.W_out.t()}

    @property
    def hidden_width(self) -> int:
        return int(self.W_in.shape[0])

    def decoder_input(self, layer):
        if layer == "hidden_pre":  # r = h + W_out ReLU(a): the residual h stays fixed
            W_out = self.W_out
            return (lambda f, a: a["latent"] + torch.relu(f) @ W_out.t()), False
        return super().decoder_input(layer)

    def layer_function(self, src, dst):
        if (src, dst) == ("latent", "hidden_pre"):
            return lambda f, a: f @ self.W_in.t() + self.b_in
        if (src, dst) == ("hidden_pre", "resid"):  # the residual h held at the sample
            return lambda f, a: a["latent"][:, None, :] + torch.relu(f) @ self.W_out.t()
        return super().layer_function(src, dst)

    def layer_jacobians(self, h, src, dst):
        p = {k: v.detach().double() for k, v in self.named_parameters()}
        acts = self._float64_layers(h)
        n = h.shape[0]
        if (src, dst) == ("latent", "hidden_pre"):
            J = p["W_in"].expand(n, -1, -1)
        elif (src, dst) == ("hidden_pre", "resid"):  # the path through the hidden layer
            J = p["W_out"][None] * (acts["hidden_pre"] > 0).double()[:, None, :]
        else:
            return super().layer_jacobians(h, src, dst)
        return J, acts[src], acts[dst]
