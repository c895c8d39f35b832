"""``tied_ae``, the BOWS paper's model: h = W x; z = Wᵀh + b; x̂ = ReLU(z).  W [m, V], b [V]."""

from __future__ import annotations

from bowsflow.models.base import BowsAutoencoder, embedding_parameter
from bowsflow.models.registry import register


@register
class TiedAutoencoder(BowsAutoencoder):
    arch = "tied_ae"
    parameter_shapes = {"W": ("m", "V"), "b": ("V",)}
    layer_dims = {"latent": "latent", "out_pre": "word"}
    relu_layers = ("out_pre",)
    jacobian_layers = ("latent",)
    adjacent_pairs = ()  # one layer: nothing to connect
    path_layers = ("out_pre",)
    embedding_name = "W"
    middle_is_identity = True

    def __init__(self, vocab_size: int, d_latent: int, output: str = "relu", **_):
        super().__init__(vocab_size, d_latent, output)
        self.W = embedding_parameter(d_latent, vocab_size)

    def middle(self, h):
        return {"resid": h}
