"""The registry of architectures: the config's ``arch`` → the module class that declares it.

An architecture is one module (see :mod:`bowsflow.models.tied_ae` for the smallest) whose class
subclasses :class:`bowsflow.models.base.BowsAutoencoder`, declares its parameters, layers, ReLU
layers, Jacobian layers and adjacent pairs, and is registered with :func:`register`. Every stage —
training, extraction, the lenses, the rules' resource functions — reads these declarations.
"""

from __future__ import annotations

import math

ARCHITECTURES: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make ``cls`` the architecture named ``cls.arch``."""
    name = getattr(cls, "arch", None)
    if not name:
        raise ValueError(f"{cls.__name__}: an architecture needs a non-empty `arch` name")
    ARCHITECTURES[name] = cls
    return cls


def architecture(arch: str) -> type:
    """The class of architecture ``arch``; a clear error naming the config key when unknown."""
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"arch: unknown architecture {arch!r}; expected one of {tuple(ARCHITECTURES)}") from None


def expected_shapes(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0) -> dict[str, tuple[int, ...]]:
    """Parameter name → shape of an architecture (the checkpoint contract)."""
    sizes = {"m": d_latent, "V": vocab_size, "d": d_hidden}
    return {name: tuple(sizes[s] for s in shape) for name, shape in architecture(arch).parameter_shapes.items()}


def n_parameters(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0) -> int:
    """Parameter count of an architecture without building it."""
    return sum(math.prod(s) for s in expected_shapes(arch, vocab_size, d_latent, d_hidden).values())


def build_model(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0, output: str = "relu"):
    """A fresh model of architecture ``arch`` (initialized from torch's current RNG state)."""
    return architecture(arch)(vocab_size=vocab_size, d_latent=d_latent, d_hidden=d_hidden, output=output)


def all_layers() -> dict[str, str]:
    """Every stored layer of every registered architecture → its dimension name."""
    out: dict[str, str] = {}
    for cls in ARCHITECTURES.values():
        out |= cls.layer_dims
    return out
