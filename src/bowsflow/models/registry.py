"""The registry of architectures: the config's ``arch`` → the module class that declares it.

An architecture is one module (see :mod:`bowsflow.models.tied_ae` for the smallest) whose class
subclasses :class:`bowsflow.models.base.BowsAutoencoder`, declares its parameters, layers, ReLU
layers, Jacobian layers and adjacent pairs, and is registered with :func:`register`. Every stage —
training, extraction, the lenses, the rules' resource functions — reads these declarations.
"""

from __future__ import annotations

import ast
import functools
import math
from pathlib import Path

ARCHITECTURES: dict[str, type] = {}

# What the workflow needs of an architecture while it builds the DAG (the config check, the rules'
# memory estimates): plain literals of the class, read without importing torch (1.5–1.9 s here).
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


def register(cls: type) -> type:
    """Class decorator: make ``cls`` the architecture named ``cls.arch``."""
    name = getattr(cls, "arch", None)
    if not name:
        raise ValueError(f"{cls.__name__}: an architecture needs a non-empty `arch` name")
    ARCHITECTURES[name] = cls
    return cls


def architecture(arch: str) -> type:
    """The class of architecture ``arch`` (a built-in one's module is imported, and so registered, on
    first use); a clear error naming the config key when unknown."""
    if arch not in ARCHITECTURES and arch in declared_architectures():
        import importlib

        importlib.import_module(f"bowsflow.models.{declared_architectures()[arch]['module']}")
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"arch: unknown architecture {arch!r}; expected one of {tuple(known_architectures())}"
        ) from None


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


@functools.lru_cache(maxsize=1)
def declared_architectures() -> dict[str, dict]:
    """arch → its declarations (:data:`DECLARED`) for the built-in architectures, read from the
    source of each module of this package whose class is decorated with ``@register`` — the same
    literals the classes carry (a test checks they agree), without importing torch. Attributes a
    class leaves out take the base class's values."""
    base = {
        "relu_layers": ("out_pre",),
        "jacobian_layers": ("latent",),
        "adjacent_pairs": (),
        "path_layers": ("out_pre",),
        "needs_hidden": False,
    }
    out = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            registered = isinstance(node, ast.ClassDef) and any(
                isinstance(d, ast.Name) and d.id == "register" for d in node.decorator_list
            )
            if not registered:
                continue
            values = dict(base, module=path.stem)
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    if stmt.targets[0].id in DECLARED:
                        values[stmt.targets[0].id] = ast.literal_eval(stmt.value)
            out[values["arch"]] = values
    return out


def declarations(arch: str) -> dict:
    """The declarations of ``arch``: a registered class's own (architectures added at run time, as in
    the tests), else the built-in module's, read without importing torch."""
    if arch in ARCHITECTURES:
        cls = ARCHITECTURES[arch]
        return {name: getattr(cls, name) for name in DECLARED} | {"module": cls.__module__.rsplit(".", 1)[-1]}
    try:
        return declared_architectures()[arch]
    except KeyError:
        raise ValueError(
            f"arch: unknown architecture {arch!r}; expected one of {tuple(known_architectures())}"
        ) from None


def known_architectures() -> list[str]:
    """The names of every architecture: built in, or registered at run time."""
    return sorted(set(declared_architectures()) | set(ARCHITECTURES))
