"""The base of the autoencoders trained on BOWS data, and the contract every architecture meets.

Each architecture is one module of :mod:`bowsflow.models.architectures` holding a subclass of
:class:`BowsAutoencoder` that declares, beside its parameters:

- ``arch`` (the config's name), ``parameter_shapes`` (the checkpoint contract, in m, V, d);
- ``layer_dims``: its stored layers in forward order → dimension (``latent``, ``hidden``, ``word``);
- ``relu_layers`` (polytope codes), ``jacobian_layers`` (interaction basis), ``adjacent_pairs``
  (interaction edges), ``path_layers`` (boundaries along paths; ``both`` = every ReLU layer at once),
  ``piecewise_through`` (a ReLU layer that is affine in the latent between the state changes of other
  ReLU layers: out_pre of an MLP, through its hidden ReLUs);
- the decoder: ``tied`` (z = W_eᵀ r + b with the embedding itself) or ``decoder_name`` (its own [m, V]
  parameter), read through :attr:`BowsAutoencoder.decoder` by training and every lens;
- ``middle(h)``: the named layers between the latent and the decoder, ending in ``resid``;
- where a hidden layer needs them: :meth:`decoder_input`, :meth:`layer_function` (the next layer from
  this one, for edge ablation) and :meth:`layer_jacobians`.

Generic implementations cover what the maths makes generic: :meth:`path_crossings` is exact for every
layer that is affine in the latent between the state changes of its ``piecewise_through`` layers (affine
ones have none); :meth:`layer_jacobians` differentiates :meth:`layer_function` by autograd. An
architecture overrides them only for another form (a bilinear layer is quadratic along a path) or a
faster closed form. ``tests/models/test_architectures.py`` runs every registered architecture through one
conformance suite.

The input is given sparsely — the flat list of active word ids and the offset of each sample in it
(``torch.nn.functional.embedding_bag`` layout) — so the encoder is a sum of columns and no dense
batch × V input matrix is ever built. With ``output: linear`` x̂ = z.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bowsflow.models.output_screening import bf16_dot_products_native

# Below this share of outputs on (at the last training step) the decoder's outputs are screened with
# a bf16 product: the screen's candidates grow with the outputs on, and the screened step costs as
# much as the dense one near 11 per cent (V = 10,000, m = 256, batch 512; 1.4× faster at 3 per cent).
# (At most the sparse backward's threshold: the share above that is only counted until it is passed.)
SCREEN_BELOW_OUTPUT_DENSITY = 0.05


def uniform_(t: torch.Tensor, fan_in: int) -> torch.Tensor:
    """nn.Linear's default (Kaiming-uniform with a = √5): U(−1/√fan_in, 1/√fan_in)."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    with torch.no_grad():
        return t.uniform_(-bound, bound)


def embedding_parameter(d_latent: int, vocab_size: int) -> nn.Parameter:
    """The embedding W / W_e: [m, V] values (nn.Linear's initialization), stored word by word —
    [V, m] in memory, a transposed view.

    Both uses of the embedding read it word-wise — the encoder gathers the active words' directions
    and the decoder's backward pass accumulates per-word gradient rows — so in this layout neither the
    weight nor its gradient (autograd keeps a parameter's strides) nor AdamW's state is ever transposed.
    Checkpoints store the contiguous [m, V] array, as the contract says.
    """
    values = uniform_(torch.empty(d_latent, vocab_size), vocab_size)
    return nn.Parameter(values.t().contiguous().t())


def init_embedding(model: nn.Module, scheme: str) -> None:
    """Re-draw the embedding (W / W_e) from torch's RNG: ``linear`` keeps nn.Linear's U(±1/√V) (what
    the architectures draw); ``paper`` draws U(±√2/√V), the BOWS paper's published trainer's (√2 larger),
    so that runs can match the paper's. The other parameters keep their draws."""
    if scheme == "linear":
        return
    if scheme != "paper":
        raise ValueError(f"init: expected 'linear' or 'paper', got {scheme!r}")
    W = model.embedding
    bound = math.sqrt(2.0) / math.sqrt(W.shape[1])
    with torch.no_grad():
        W.uniform_(-bound, bound)


class BowsAutoencoder(nn.Module):
    """Base: sparse encoder, tied decoder, output ReLU. Subclasses define the middle block and
    declare their layers (see the module doc)."""

    arch: ClassVar[str] = ""
    parameter_shapes: ClassVar[dict[str, tuple[str, ...]]] = {}
    layer_dims: ClassVar[dict[str, str]] = {}  # stored layers, in forward order → dimension name
    relu_layers: ClassVar[tuple[str, ...]] = ("out_pre",)
    jacobian_layers: ClassVar[tuple[str, ...]] = ("latent",)
    adjacent_pairs: ClassVar[tuple[tuple[str, str], ...]] = ()
    path_layers: ClassVar[tuple[str, ...]] = ("out_pre",)
    piecewise_through: ClassVar[dict[str, tuple[str, ...]]] = {}  # layer -> ReLU layers it bends at
    needs_hidden: ClassVar[bool] = False  # whether d_hidden must be given
    embedding_name = "W_e"
    tied: ClassVar[bool] = True  # the decoder is the embedding; else the parameter named decoder_name
    decoder_name: ClassVar[str | None] = None
    middle_is_identity = False  # True where r = h (no middle block)

    def __init__(self, vocab_size: int, d_latent: int, output: str = "relu"):
        super().__init__()
        if vocab_size < 1 or d_latent < 1:
            raise ValueError(f"vocab_size and d_latent must be >= 1, got {vocab_size}, {d_latent}")
        if output not in ("relu", "linear"):
            raise ValueError(f"output: expected 'relu' or 'linear', got {output!r}")
        self.vocab_size, self.d_latent, self.output = vocab_size, d_latent, output
        self.b = nn.Parameter(torch.zeros(vocab_size))
        # Training on a CPU: screen the decoder's outputs with a bf16 product (see
        # bowsflow.models.output_screening) where that is fast, once few outputs are on: the share of
        # outputs on at the last training step is kept (not part of the model's state).
        self.output_screening = bf16_dot_products_native()
        self.decoder_stats = {"output_density": 1.0}

    @property
    def embedding(self) -> torch.Tensor:
        """The feature directions: [m, V] (column v is word v's direction)."""
        return getattr(self, self.embedding_name)

    @property
    def decoder(self) -> torch.Tensor:
        """The decoder's weights: [m, V], with z = decoderᵀ r + b (the embedding itself when tied)."""
        return self.embedding if self.tied else getattr(self, self.decoder_name)

    def encode(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """h = W x for sparse binary x: [B, m]."""
        return F.embedding_bag(indices, self.embedding.t(), offsets, mode="sum")

    def encode_dense(self, x: torch.Tensor) -> torch.Tensor:
        """h = W x for a dense x [B, V] (tests and small analyses)."""
        return x.to(self.embedding.dtype) @ self.embedding.t()

    def middle(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named layers between h and the decoder; must contain ``resid`` (the decoder's input)."""
        raise NotImplementedError

    def decode(self, r: torch.Tensor) -> torch.Tensor:
        """z = decoderᵀ r + b: [B, V]."""
        return torch.addmm(self.b, r, self.decoder)

    def layers_from_latent(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every named layer from h on: latent, (middle layers), resid, out_pre."""
        out = {"latent": h, **self.middle(h)}
        out["out_pre"] = self.decode(out["resid"])
        return out

    def training_loss(self, indices, offsets, rows, cols, loss: str = "mse") -> torch.Tensor:
        """The loss against the batch itself, with the decoder fused into the loss (see
        :func:`bowsflow.models.losses.decode_and_loss`); equal to the loss of :meth:`forward`'s z."""
        from bowsflow.models.losses import decode_and_loss

        # The embedding as [V, m], contiguous (a view, not a copy, in the word-major layout that
        # embedding_parameter gives it): the encoder's gather and both products of the decoder's
        # backward pass are row-wise, and the gradients of the two uses add up in W's own layout.
        embedding_t = self.embedding.t().contiguous()
        decoder_t = embedding_t if self.tied else self.decoder.t().contiguous()
        screen = self.output_screening and self.decoder_stats["output_density"] < SCREEN_BELOW_OUTPUT_DENSITY
        output_relu = self.output == "relu"
        # decoder_stats is updated in place by this step's backward pass, for the next step
        if self.middle_is_identity and self.tied and loss == "mse":
            # r = h and a tied decoder: the encoder's gradient is folded into the decoder's backward
            # products (one pass over W's gradient instead of two), so h is computed outside autograd
            h = F.embedding_bag(indices, embedding_t.detach(), offsets, mode="sum")
            return decode_and_loss(
                h, embedding_t, self.b, rows, cols, loss, output_relu, screen, self.decoder_stats, tied_input=True
            )
        h = F.embedding_bag(indices, embedding_t, offsets, mode="sum")
        resid = self.middle(h)["resid"]
        return decode_and_loss(resid, decoder_t, self.b, rows, cols, loss, output_relu, screen, self.decoder_stats)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Output pre-activations z [B, V] (the loss applies the output non-linearity)."""
        return self.layers_from_latent(self.encode(indices, offsets))["out_pre"]

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        """x̂ from z."""
        return torch.relu(z) if self.output == "relu" else z

    # -- what the lenses read ------------------------------------------------------------------

    @property
    def hidden_width(self) -> int:
        """d, the width of the hidden layer (0 without one)."""
        return 0

    def layer_width(self, layer: str) -> int:
        """The width of a stored layer."""
        dim = self.layer_dims[layer]
        return {"latent": self.d_latent, "hidden": self.hidden_width, "word": self.vocab_size}[dim]

    def decoder_input(self, layer: str):
        """The decoder's input r as a function of one layer's activations f, the other layers fixed at
        the sample: ``(fn, affine)`` with fn(f [w], acts of one sample) → r [m], and whether r is
        affine in f (∂r/∂f is then the same at every sample). z = Wᵀr + b is linear in r."""
        if layer == "resid" or (layer == "latent" and self.middle_is_identity):
            return (lambda f, a: f), True
        if layer == "latent":
            return (lambda f, a: self.middle(f[None])["resid"][0]), False
        raise ValueError(f"{self.arch}: no Jacobian for layer {layer!r} (jacobian layers: {self.jacobian_layers})")

    def layer_function(self, src: str, dst: str):
        """The next layer as a function of this one, for an adjacent pair: fn(f [B, K, w_src], acts) →
        f_dst [B, K, w_dst], with the other layers held at each of the B samples (acts: every layer,
        [B, …]); K variants of each sample's f_src go through at once (edge ablation masks them)."""
        raise ValueError(f"{self.arch}: no function from {src} to {dst} (adjacent pairs: {self.adjacent_pairs})")

    def layer_jacobians(self, h: torch.Tensor, src: str, dst: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(J [n, w_dst, w_src], f_src [n, w_src], f_dst [n, w_dst]) of one adjacent pair (float64;
        the model in float64), for latent vectors h [n, m]: :meth:`layer_function` differentiated by
        autograd at each sample, the other layers held there. Architectures may override it with a
        closed form (the conformance suite holds both to autograd)."""
        from torch.func import jacrev, vmap

        if (src, dst) not in self.adjacent_pairs:
            raise ValueError(f"{self.arch}: no edge from {src} to {dst} (adjacent pairs: {self.adjacent_pairs})")
        model = as_float64(self)
        acts = model._float64_layers(h)
        step = model.layer_function(src, dst)

        def one(f, a):  # one sample's f_src [w] -> f_dst [w_dst]
            return step(f[None, None], {k: v[None] for k, v in a.items()})[0, 0]

        with torch.enable_grad():
            J = vmap(jacrev(one), in_dims=(0, 0))(acts[src], acts)
        return J.detach(), acts[src], acts[dst]

    def path_crossings(self, h0: np.ndarray, h1: np.ndarray, layer: str) -> np.ndarray:
        """Exact positions t ∈ (0, 1] where the ReLU states of ``layer`` change along the latent segment
        (1 − t) h0 + t h1; float [k]. Generic for a layer that is affine in the latent between the state
        changes of its ``piecewise_through`` layers (affine ones have none): their crossings are the
        knots; at the knots (one forward pass) the layer's pre-activation is known, and between two
        knots it is affine, so each unit's sign change there is found exactly. ``both``: every ReLU
        layer's crossings together."""
        if layer == "both":
            return np.concatenate([self.path_crossings(h0, h1, name) for name in self.relu_layers])
        if layer not in self.relu_layers:
            raise ValueError(f"{self.arch}: {layer!r} is no ReLU layer ({self.relu_layers})")
        through = self.piecewise_through.get(layer, ())
        inner = [self.path_crossings(h0, h1, name) for name in through]
        knots = np.unique(np.concatenate([[0.0, 1.0], *inner]))  # [K]
        H = h0[None, :] + knots[:, None] * (h1 - h0)[None, :]
        with torch.no_grad():
            Z = self._float64_layers(torch.as_tensor(H))[layer].numpy()  # [K, units]
        lo, hi = Z[:-1], Z[1:]
        piece, unit = np.nonzero((lo > 0) != (hi > 0))
        z0, z1 = lo[piece, unit], hi[piece, unit]
        return np.clip(knots[piece] + z0 / (z0 - z1) * (knots[piece + 1] - knots[piece]), 0.0, 1.0)

    def _float64_layers(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every named layer for latent vectors h, computed in float64 (detached)."""
        return {k: v.detach() for k, v in as_float64(self).layers_from_latent(h.double()).items()}

    def float64_parameters(self) -> dict[str, np.ndarray]:
        """name → float64 numpy copy of each parameter."""
        return {k: v.detach().cpu().double().numpy() for k, v in self.named_parameters()}


def as_float64(model: BowsAutoencoder) -> BowsAutoencoder:
    """The model in float64: itself when it already is, else a float64 copy (the caller's model is
    left as it was — converting in place would race with other threads using it)."""
    if next(model.parameters()).dtype == torch.float64:
        return model
    import copy

    return copy.deepcopy(model).double()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
