"""The autoencoders trained on BOWS data. Parameter names and shapes are a contract (checkpoints,
activation extraction and every analysis read them); m = ``d_latent``, d = ``d_hidden``, V = vocabulary.

- ``tied_ae`` (the BOWS paper): h = W x; z = Wᵀh + b; x̂ = ReLU(z).             W [m, V], b [V]
- ``relu_mlp``: h = W_e x; a = W_in h + b_in; r = h + W_out ReLU(a); z = W_eᵀ r + b; x̂ = ReLU(z).
  W_e [m, V], W_in [d, m], b_in [d], W_out [m, d], b [V]
- ``bilinear``: h = W_e x; g = (L h) ⊙ (R h); r = h + W_out g; z = W_eᵀ r + b; x̂ = ReLU(z).
  W_e [m, V], L [d, m], R [d, m], W_out [m, d], b [V]

With ``output: linear`` x̂ = z. The input is given sparsely — the flat list of active word ids and
the offset of each sample in it (``torch.nn.functional.embedding_bag`` layout) — so the encoder is a
sum of columns and no dense batch × V input matrix is ever built.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .output_screening import bf16_dot_products_native

ARCHITECTURES = ("tied_ae", "relu_mlp", "bilinear")

PARAMETER_SHAPES = {
    "tied_ae": {"W": ("m", "V"), "b": ("V",)},
    "relu_mlp": {"W_e": ("m", "V"), "W_in": ("d", "m"), "b_in": ("d",), "W_out": ("m", "d"), "b": ("V",)},
    "bilinear": {"W_e": ("m", "V"), "L": ("d", "m"), "R": ("d", "m"), "W_out": ("m", "d"), "b": ("V",)},
}

# Below this share of outputs on (at the last training step) the decoder's outputs are screened with
# a bf16 product: the screen's candidates grow with the outputs on, and the screened step costs as
# much as the dense one near 11 per cent (V = 10,000, m = 256, batch 512; 1.4× faster at 3 per cent).
SCREEN_BELOW_OUTPUT_DENSITY = 0.05


def expected_shapes(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0) -> dict[str, tuple[int, ...]]:
    """Parameter name → shape of an architecture (the checkpoint contract)."""
    sizes = {"m": d_latent, "V": vocab_size, "d": d_hidden}
    return {name: tuple(sizes[s] for s in shape) for name, shape in PARAMETER_SHAPES[arch].items()}


def _uniform_(t: torch.Tensor, fan_in: int) -> torch.Tensor:
    """nn.Linear's default (Kaiming-uniform with a = √5): U(−1/√fan_in, 1/√fan_in)."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    with torch.no_grad():
        return t.uniform_(-bound, bound)


def _embedding_parameter(d_latent: int, vocab_size: int) -> nn.Parameter:
    """The embedding W / W_e: [m, V] values (nn.Linear's initialization), stored word by word —
    [V, m] in memory, a transposed view.

    Both uses of the embedding read it word-wise — the encoder gathers the active words' directions
    and the decoder's backward pass accumulates per-word gradient rows — so in this layout neither the
    weight nor its gradient (autograd keeps a parameter's strides) nor AdamW's state is ever transposed.
    Checkpoints store the contiguous [m, V] array, as the contract says.
    """
    values = _uniform_(torch.empty(d_latent, vocab_size), vocab_size)
    return nn.Parameter(values.t().contiguous().t())


class BowsAutoencoder(nn.Module):
    """Base: sparse encoder, tied decoder, output ReLU. Subclasses define the middle block."""

    embedding_name = "W_e"
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
        # bowsflow.output_screening) where that is fast, once few outputs are on: the share of
        # outputs on at the last training step is kept (not part of the model's state).
        self.output_screening = bf16_dot_products_native()
        self.decoder_stats = {"output_density": 1.0}

    @property
    def embedding(self) -> torch.Tensor:
        """The feature directions: [m, V] (column v is word v's direction)."""
        return getattr(self, self.embedding_name)

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
        """z = Wᵀ r + b: [B, V]."""
        return torch.addmm(self.b, r, self.embedding)

    def layers_from_latent(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every named layer from h on: latent, (middle layers), resid, out_pre."""
        out = {"latent": h, **self.middle(h)}
        out["out_pre"] = self.decode(out["resid"])
        return out

    def training_loss(self, indices, offsets, rows, cols, loss: str = "mse") -> torch.Tensor:
        """The loss against the batch itself, with the decoder fused into the loss (see
        :func:`bowsflow.losses.decode_and_loss`); equal to the loss of :meth:`forward`'s z."""
        from .losses import decode_and_loss

        # The embedding as [V, m], contiguous (a view, not a copy, in the word-major layout that
        # _embedding_parameter gives it): the encoder's gather and both products of the decoder's
        # backward pass are row-wise, and the gradients of the two uses add up in W's own layout.
        embedding_t = self.embedding.t().contiguous()
        screen = self.output_screening and self.decoder_stats["output_density"] < SCREEN_BELOW_OUTPUT_DENSITY
        output_relu = self.output == "relu"
        # decoder_stats is updated in place by this step's backward pass, for the next step
        if self.middle_is_identity and loss == "mse":
            # r = h: the encoder's gradient is folded into the decoder's backward products (one
            # pass over W's gradient instead of two), so h is computed outside autograd
            h = F.embedding_bag(indices, embedding_t.detach(), offsets, mode="sum")
            return decode_and_loss(h, embedding_t, self.b, rows, cols, loss, output_relu, screen, self.decoder_stats, tied_input=True)
        h = F.embedding_bag(indices, embedding_t, offsets, mode="sum")
        resid = self.middle(h)["resid"]
        return decode_and_loss(resid, embedding_t, self.b, rows, cols, loss, output_relu, screen, self.decoder_stats)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Output pre-activations z [B, V] (the loss applies the output non-linearity)."""
        return self.layers_from_latent(self.encode(indices, offsets))["out_pre"]

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        """x̂ from z."""
        return torch.relu(z) if self.output == "relu" else z


class TiedAutoencoder(BowsAutoencoder):
    embedding_name = "W"
    middle_is_identity = True

    def __init__(self, vocab_size: int, d_latent: int, output: str = "relu", **_):
        super().__init__(vocab_size, d_latent, output)
        self.W = _embedding_parameter(d_latent, vocab_size)

    def middle(self, h):
        return {"resid": h}


class ReluMlpAutoencoder(BowsAutoencoder):
    def __init__(self, vocab_size: int, d_latent: int, d_hidden: int, output: str = "relu", **_):
        super().__init__(vocab_size, d_latent, output)
        if d_hidden < 1:
            raise ValueError(f"d_hidden must be >= 1 for relu_mlp, got {d_hidden}")
        self.W_e = _embedding_parameter(d_latent, vocab_size)
        self.W_in = nn.Parameter(_uniform_(torch.empty(d_hidden, d_latent), d_latent))
        self.b_in = nn.Parameter(_uniform_(torch.empty(d_hidden), d_latent))
        self.W_out = nn.Parameter(_uniform_(torch.empty(d_latent, d_hidden), d_hidden))

    def middle(self, h):
        a = torch.addmm(self.b_in, h, self.W_in.t())
        return {"hidden_pre": a, "resid": h + torch.relu(a) @ self.W_out.t()}


class BilinearAutoencoder(BowsAutoencoder):
    def __init__(self, vocab_size: int, d_latent: int, d_hidden: int, output: str = "relu", **_):
        super().__init__(vocab_size, d_latent, output)
        if d_hidden < 1:
            raise ValueError(f"d_hidden must be >= 1 for bilinear, got {d_hidden}")
        self.W_e = _embedding_parameter(d_latent, vocab_size)
        self.L = nn.Parameter(_uniform_(torch.empty(d_hidden, d_latent), d_latent))
        self.R = nn.Parameter(_uniform_(torch.empty(d_hidden, d_latent), d_latent))
        self.W_out = nn.Parameter(_uniform_(torch.empty(d_latent, d_hidden), d_hidden))

    def middle(self, h):
        left, right = h @ self.L.t(), h @ self.R.t()
        g = left * right
        return {"hidden_left": left, "hidden_right": right, "hidden": g, "resid": h + g @ self.W_out.t()}


_CLASSES = {"tied_ae": TiedAutoencoder, "relu_mlp": ReluMlpAutoencoder, "bilinear": BilinearAutoencoder}


def build_model(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0, output: str = "relu") -> BowsAutoencoder:
    """A fresh model of architecture ``arch`` (initialized from torch's current RNG state)."""
    if arch not in _CLASSES:
        raise ValueError(f"arch: unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
    return _CLASSES[arch](vocab_size=vocab_size, d_latent=d_latent, d_hidden=d_hidden, output=output)


def as_float64(model: BowsAutoencoder) -> BowsAutoencoder:
    """The model in float64: itself when it already is, else a float64 copy (the caller's model is
    left as it was — converting in place would race with other threads using it)."""
    if next(model.parameters()).dtype == torch.float64:
        return model
    import copy

    return copy.deepcopy(model).double()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def n_parameters(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0) -> int:
    """Parameter count of an architecture without building it."""
    return sum(math.prod(s) for s in expected_shapes(arch, vocab_size, d_latent, d_hidden).values())
