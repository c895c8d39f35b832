"""The models: one module per architecture, a registry from the config's ``arch`` to it, their
checkpoints and their training. Importing this package registers the built-in architectures."""

from bowsflow.models import bilinear, relu_mlp, tied_ae  # noqa: F401  (registers them)
from bowsflow.models.base import BowsAutoencoder, as_float64, count_parameters
from bowsflow.models.bilinear import BilinearAutoencoder
from bowsflow.models.registry import ARCHITECTURES, architecture, build_model, expected_shapes, n_parameters, register
from bowsflow.models.relu_mlp import ReluMlpAutoencoder
from bowsflow.models.tied_ae import TiedAutoencoder

__all__ = [
    "ARCHITECTURES",
    "BilinearAutoencoder",
    "BowsAutoencoder",
    "ReluMlpAutoencoder",
    "TiedAutoencoder",
    "architecture",
    "as_float64",
    "build_model",
    "count_parameters",
    "expected_shapes",
    "n_parameters",
    "register",
]
