"""The models: one module per architecture (:mod:`bowsflow.models.architectures`), a registry from the
config's ``arch`` to it, their checkpoints, evaluation and training."""

import importlib

from bowsflow.models.registry import (
    ARCHITECTURES,
    architecture,
    build_model,
    declarations,
    expected_shapes,
    known_architectures,
    n_parameters,
    register,
)

# names served from their modules on first use (they import torch)
_LAZY = {
    "BowsAutoencoder": "base",
    "as_float64": "base",
    "count_parameters": "base",
    "TiedAutoencoder": "architectures.tied_ae",
    "UntiedAutoencoder": "architectures.untied_ae",
    "ReluMlpAutoencoder": "architectures.relu_mlp",
    "BilinearAutoencoder": "architectures.bilinear",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"bowsflow.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'bowsflow.models' has no attribute {name!r}")


__all__ = [
    "ARCHITECTURES",
    "BilinearAutoencoder",
    "BowsAutoencoder",
    "ReluMlpAutoencoder",
    "TiedAutoencoder",
    "UntiedAutoencoder",
    "architecture",
    "as_float64",
    "build_model",
    "count_parameters",
    "declarations",
    "expected_shapes",
    "known_architectures",
    "n_parameters",
    "register",
]
