"""``hidden_node: with_residual``: the hidden node carries the residual stream, as in the reference.

For an architecture whose adjacent pairs are latent → H → resid (relu_mlp: H = hidden_pre; bilinear:
H = hidden) with r = h + (what H adds), the node N = ``H_with_residual`` holds f_N = [h, f_H] (width m + w_H):
the residual h rides along the hidden layer. Edges latent → N then include the identity (the skip
path), and N → resid has skip edges from its first m coordinates; the Jacobian of the output with
respect to N sees both paths. :class:`ResidualNodeModel` wraps a model so that every interaction
function (Grams, Jacobians, edges, ablation) reads N as one layer.
"""

from __future__ import annotations

import torch
from torch import nn

from bowsflow.models import as_float64


def residual_node_name(hidden: str) -> str:
    return f"{hidden}_with_residual"


def hidden_layer(model) -> str | None:
    """H of a latent → H → resid chain, or None when the architecture has no such chain (tied_ae)."""
    pairs = tuple(model.adjacent_pairs)
    if len(pairs) == 2 and pairs[0][0] == "latent" and pairs[1][1] == "resid" and pairs[0][1] == pairs[1][0]:
        return pairs[0][1]
    return None


class ResidualNodeModel(nn.Module):
    """The model with its hidden layer H replaced by N = [latent, H] in the interaction's view:
    ``jacobian_layers`` = (latent, N, resid), ``adjacent_pairs`` = ((latent, N), (N, resid)). Everything
    else (decoding, the other layers, the output) is the wrapped float64 model's."""

    def __init__(self, model):
        super().__init__()
        self.base = as_float64(model)
        self.hidden = hidden_layer(self.base)
        if self.hidden is None:
            raise ValueError(f"{self.base.arch}: no latent → hidden → resid chain for a residual node")
        self.node = residual_node_name(self.hidden)
        self.jacobian_layers = ("latent", self.node, "resid")
        self.adjacent_pairs = (("latent", self.node), (self.node, "resid"))
        self.m = int(self.base.d_latent)

    def __getattr__(self, name):  # what the interaction functions read and this class does not change
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.base, name)

    def layers_from_latent(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        acts = self.base.layers_from_latent(h)
        acts[self.node] = torch.cat([acts["latent"], acts[self.hidden]], dim=-1)
        return acts

    def layer_width(self, layer: str) -> int:
        return self.m + self.base.layer_width(self.hidden) if layer == self.node else self.base.layer_width(layer)

    def decoder_input(self, layer: str):
        if layer != self.node:
            return self.base.decoder_input(layer)
        fn, affine = self.base.decoder_input(self.hidden)  # r = a["latent"] + (what H adds)
        m = self.m
        return (lambda f, a: fn(f[m:], {**a, "latent": f[:m]})), affine

    def layer_function(self, src: str, dst: str):
        m = self.m
        if (src, dst) == ("latent", self.node):
            g = self.base.layer_function("latent", self.hidden)
            return lambda f, a: torch.cat([f, g(f, a)], dim=-1)
        if (src, dst) == (self.node, "resid"):
            g = self.base.layer_function(self.hidden, "resid")  # a["latent"] + (what H adds)
            return lambda f, a: g(f[..., m:], a) - a["latent"][:, None, :] + f[..., :m]
        return self.base.layer_function(src, dst)

    def layer_jacobians(self, h: torch.Tensor, src: str, dst: str):
        m = self.m
        n = h.shape[0]
        eye = torch.eye(m, dtype=torch.float64).expand(n, m, m)
        if (src, dst) == ("latent", self.node):
            J, fs, fd = self.base.layer_jacobians(h, "latent", self.hidden)
            return torch.cat([eye, J], dim=1), fs, torch.cat([fs, fd], dim=1)
        if (src, dst) == (self.node, "resid"):
            J, fs, fd = self.base.layer_jacobians(h, self.hidden, "resid")
            return torch.cat([eye, J], dim=2), torch.cat([h.to(torch.float64), fs], dim=1), fd
        return self.base.layer_jacobians(h, src, dst)
