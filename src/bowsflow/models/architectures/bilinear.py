"""``bilinear``: h = W_e x; g = (L h) ⊙ (R h); r = h + W_out g; z = W_eᵀ r + b; x̂ = ReLU(z).
W_e [m, V], L [d, m], R [d, m], W_out [m, d], b [V]."""

from __future__ import annotations

import torch
from torch import nn

from bowsflow.linalg import quadratic_crossings
from bowsflow.models.base import BowsAutoencoder, embedding_parameter, uniform_
from bowsflow.models.registry import register


@register
class BilinearAutoencoder(BowsAutoencoder):
    arch = "bilinear"
    parameter_shapes = {"W_e": ("m", "V"), "L": ("d", "m"), "R": ("d", "m"), "W_out": ("m", "d"), "b": ("V",)}
    layer_dims = {
        "latent": "latent",
        "hidden_left": "hidden",
        "hidden_right": "hidden",
        "hidden": "hidden",
        "resid": "latent",
        "out_pre": "word",
    }
    relu_layers = ("out_pre",)
    jacobian_layers = ("latent", "hidden", "resid")
    adjacent_pairs = (("latent", "hidden"), ("hidden", "resid"))
    path_layers = ("out_pre",)
    needs_hidden = True

    def __init__(self, vocab_size: int, d_latent: int, d_hidden: int, output: str = "relu", **_):
        super().__init__(vocab_size, d_latent, output)
        if d_hidden < 1:
            raise ValueError(f"d_hidden must be >= 1 for bilinear, got {d_hidden}")
        self.W_e = embedding_parameter(d_latent, vocab_size)
        self.L = nn.Parameter(uniform_(torch.empty(d_hidden, d_latent), d_latent))
        self.R = nn.Parameter(uniform_(torch.empty(d_hidden, d_latent), d_latent))
        self.W_out = nn.Parameter(uniform_(torch.empty(d_latent, d_hidden), d_hidden))

    def middle(self, h):
        left, right = h @ self.L.t(), h @ self.R.t()
        g = left * right
        return {"hidden_left": left, "hidden_right": right, "hidden": g, "resid": h + g @ self.W_out.t()}

    @property
    def hidden_width(self) -> int:
        return int(self.W_out.shape[1])

    def decoder_input(self, layer):
        if layer == "hidden":  # r = h + W_out g: affine in g, the residual h fixed
            W_out = self.W_out
            return (lambda f, a: a["latent"] + f @ W_out.t()), True
        return super().decoder_input(layer)

    def layer_function(self, src, dst):
        if (src, dst) == ("latent", "hidden"):
            return lambda f, a: (f @ self.L.t()) * (f @ self.R.t())
        if (src, dst) == ("hidden", "resid"):  # the residual h held at the sample
            return lambda f, a: a["latent"][:, None, :] + f @ self.W_out.t()
        return super().layer_function(src, dst)

    def layer_jacobians(self, h, src, dst):
        p = {k: v.detach().double() for k, v in self.named_parameters()}
        acts = self._float64_layers(h)
        n = h.shape[0]
        if (src, dst) == ("latent", "hidden"):
            J = acts["hidden_right"][:, :, None] * p["L"][None] + acts["hidden_left"][:, :, None] * p["R"][None]
        elif (src, dst) == ("hidden", "resid"):  # the path through the hidden layer
            J = p["W_out"].expand(n, -1, -1)
        else:
            return super().layer_jacobians(h, src, dst)
        return J, acts[src], acts[dst]

    def path_crossings(self, h0, h1, layer):
        """z(t) is quadratic in t along the segment: each output flips at most twice, at the roots."""
        if layer != "out_pre":
            return super().path_crossings(h0, h1, layer)
        p = self.float64_parameters()
        We, L, R, Wo = p["W_e"], p["L"], p["R"], p["W_out"]
        delta = h1 - h0
        lp, lq, rp, rq = L @ h0, L @ delta, R @ h0, R @ delta
        c0 = We.T @ (h0 + Wo @ (lp * rp)) + p["b"]
        c1 = We.T @ (delta + Wo @ (lp * rq + lq * rp))
        c2 = We.T @ (Wo @ (lq * rq))
        return quadratic_crossings(c0, c1, c2)
