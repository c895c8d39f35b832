"""The models: one module per architecture (``tied_ae``, ``relu_mlp``, ``bilinear``), a registry from the
config's ``arch`` to it, their checkpoints and their training.

The registry's declarations are read without importing torch (the workflow needs them while it builds
the DAG); the architecture modules, and torch, are imported the first time a model class is needed.
"""

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
    "TiedAutoencoder": "tied_ae",
    "ReluMlpAutoencoder": "relu_mlp",
    "BilinearAutoencoder": "bilinear",
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
