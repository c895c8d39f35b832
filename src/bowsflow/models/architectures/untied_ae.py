"""``untied_ae``, the BOWS autoencoder with a decoder of its own: h = W_e x; z = W_dᵀh + b; x̂ = ReLU(z).
W_e [m, V], W_d [m, V], b [V]. The baseline that tells what tying the weights does."""

from __future__ import annotations

from bowsflow.models.base import BowsAutoencoder, embedding_parameter
from bowsflow.models.registry import register


@register
class UntiedAutoencoder(BowsAutoencoder):
    arch = "untied_ae"
    parameter_shapes = {"W_e": ("m", "V"), "W_d": ("m", "V"), "b": ("V",)}
    layer_dims = {"latent": "latent", "out_pre": "word"}
    relu_layers = ("out_pre",)
    jacobian_layers = ("latent",)
    adjacent_pairs = ()  # one layer: nothing to connect
    path_layers = ("out_pre",)
    tied = False
    decoder_name = "W_d"
    middle_is_identity = True

    def __init__(self, vocab_size: int, d_latent: int, output: str = "relu", **_):
        super().__init__(vocab_size, d_latent, output)
        self.W_e = embedding_parameter(d_latent, vocab_size)
        self.W_d = embedding_parameter(d_latent, vocab_size)

    def middle(self, h):
        return {"resid": h}
