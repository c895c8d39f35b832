"""The registry of architectures: the config's ``arch`` → the class that declares it.

An architecture is one module of :mod:`bowsflow.models.architectures` (see ``tied_ae.py`` for the
smallest) whose class subclasses :class:`bowsflow.models.base.BowsAutoencoder`, declares its parameters
and layers, and is registered with :func:`register`. The registry imports every module of that package
the first time it is asked for an architecture, so a new module is found without touching any other file;
:func:`register` checks the declarations and names the module's file when one is wrong. Every stage —
training, extraction, the lenses, the config check, the rules' resource functions — reads these
declarations.
"""

from __future__ import annotations

import functools
import inspect
import math

ARCHITECTURES: dict[str, type] = {}

# what every stage reads of an architecture (the class's attributes of these names)
DECLARED = (
    "arch",
    "parameter_shapes",
    "layer_dims",
    "relu_layers",
    "jacobian_layers",
    "adjacent_pairs",
    "path_layers",
    "needs_hidden",
)
DIMENSIONS = {"latent", "hidden", "word"}
SIZES = {"m", "V", "d"}


class ArchitectureError(ValueError):
    """An architecture's declarations are wrong; the message names its module's file."""


def _check_declarations(cls: type) -> None:
    """Raise :class:`ArchitectureError` naming the class's file when a declaration does not fit the contract
    (the lenses would otherwise fail far away, or compute something else)."""
    where = f"{inspect.getsourcefile(cls) or cls.__module__}: {cls.__name__}"

    def fail(attr, why):
        raise ArchitectureError(f"{where}.{attr}: {why}")

    if not isinstance(cls.arch, str) or not cls.arch:
        fail("arch", "an architecture needs a non-empty `arch` name")
    shapes = cls.parameter_shapes
    if not isinstance(shapes, dict) or not shapes:
        fail("parameter_shapes", "a dict of parameter name -> dimensions (m, V, d)")
    for name, dims in shapes.items():
        if not isinstance(dims, tuple) or not set(dims) <= SIZES:
            fail("parameter_shapes", f"{name!r}: {dims!r} is not a tuple of {sorted(SIZES)}")
    dims = cls.layer_dims
    if not isinstance(dims, dict) or "latent" not in dims or "out_pre" not in dims:
        fail("layer_dims", "a dict of stored layer -> dimension, from 'latent' to 'out_pre'")
    if not set(dims.values()) <= DIMENSIONS:
        fail("layer_dims", f"dimensions must be among {sorted(DIMENSIONS)}, got {sorted(set(dims.values()))}")
    for attr in ("relu_layers", "jacobian_layers"):
        layers = getattr(cls, attr)
        if not isinstance(layers, tuple) or not set(layers) <= set(dims):
            fail(attr, f"{layers!r} must be a tuple of stored layers ({sorted(dims)})")
    for pair in cls.adjacent_pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and set(pair) <= set(cls.jacobian_layers)):
            fail("adjacent_pairs", f"{pair!r} must be a pair of Jacobian layers ({cls.jacobian_layers})")
    if not set(cls.path_layers) <= set(cls.relu_layers) | {"both"}:
        fail("path_layers", f"{cls.path_layers!r} must be ReLU layers ({cls.relu_layers}) or 'both'")
    for layer, through in cls.piecewise_through.items():
        if layer not in cls.relu_layers or not set(through) <= set(cls.relu_layers):
            fail("piecewise_through", f"{layer!r}: {through!r} must be ReLU layers ({cls.relu_layers})")


def register(cls: type) -> type:
    """Class decorator: make ``cls`` the architecture named ``cls.arch`` (its declarations checked)."""
    _check_declarations(cls)
    ARCHITECTURES[cls.arch] = cls
    return cls


@functools.cache
def _load_architectures() -> None:
    """Import every module of :mod:`bowsflow.models.architectures` (each registers its class)."""
    import importlib
    import pkgutil

    import bowsflow.models.architectures as architectures

    for module in pkgutil.iter_modules(architectures.__path__):
        importlib.import_module(f"{architectures.__name__}.{module.name}")


def architecture(arch: str) -> type:
    """The class of architecture ``arch``; a clear error naming the config key when unknown."""
    _load_architectures()
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"arch: unknown architecture {arch!r}; expected one of {tuple(known_architectures())}"
        ) from None


def declarations(arch: str) -> dict:
    """The declarations (:data:`DECLARED`) of ``arch``."""
    cls = architecture(arch)
    return {name: getattr(cls, name) for name in DECLARED}


def known_architectures() -> list[str]:
    """The names of every registered architecture."""
    _load_architectures()
    return sorted(ARCHITECTURES)


def expected_shapes(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0) -> dict[str, tuple[int, ...]]:
    """Parameter name → shape of an architecture (the checkpoint contract)."""
    sizes = {"m": d_latent, "V": vocab_size, "d": d_hidden}
    return {name: tuple(sizes[s] for s in shape) for name, shape in declarations(arch)["parameter_shapes"].items()}


def n_parameters(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0) -> int:
    """Parameter count of an architecture without building it."""
    return sum(math.prod(s) for s in expected_shapes(arch, vocab_size, d_latent, d_hidden).values())


def build_model(arch: str, vocab_size: int, d_latent: int, d_hidden: int = 0, output: str = "relu"):
    """A fresh model of architecture ``arch`` (initialized from torch's current RNG state)."""
    return architecture(arch)(vocab_size=vocab_size, d_latent=d_latent, d_hidden=d_hidden, output=output)


def all_layers() -> dict[str, str]:
    """Every stored layer of every architecture → its dimension name."""
    out: dict[str, str] = {}
    for arch in known_architectures():
        out |= declarations(arch)["layer_dims"]
    return out
