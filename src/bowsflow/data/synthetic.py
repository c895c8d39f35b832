"""Synthetic BOWS data with known geometry (the BOWS paper's toy setting).

n binary features f0 … f{n-1} are placed on a structure — a circle, a figure-eight (Lissajous
(sin θ, sin 2θ)), a sphere (Fibonacci lattice) — and each sample draws a latent point z on the same
structure; feature i is active with probability sigmoid(k·⟨f_i, z⟩ + bias) (paper: n = 12, 10,000
samples, k = 10). ``iid`` makes every feature independently active with probability ``p``.
Samples are generated in fixed blocks (:func:`block_size`) with their own seeded generator, so the
data do not depend on the store's chunk size and memory stays bounded for wide feature sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

STRUCTURES = ("circle", "figure8", "sphere", "iid")
BLOCK = 65536


def block_size(n_features: int) -> int:
    """Samples per generator block: BLOCK, fewer for wide feature sets (a block holds float64
    probabilities of every feature) — a function of the spec alone, so the data stay deterministic."""
    return max(256, min(BLOCK, (1 << 22) // max(n_features, 1)))


@dataclass(frozen=True)
class SyntheticSpec:
    structure: str = "circle"
    n_features: int = 12
    n_samples: int = 10_000
    k: float = 10.0
    bias: float = 0.0
    noise: float = 0.0
    p: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.structure not in STRUCTURES:
            raise ValueError(f"structure: expected one of {STRUCTURES}, got {self.structure!r}")
        if self.n_features < 1 or self.n_samples < 1:
            raise ValueError("n_features and n_samples must be >= 1")


def feature_names(n: int) -> list[str]:
    return [f"f{i}" for i in range(n)]


def _curve(structure: str, angle: np.ndarray) -> np.ndarray:
    if structure == "circle":
        return np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return np.stack([np.sin(angle), np.sin(2 * angle)], axis=-1)  # figure8


def feature_positions(structure: str, n: int) -> np.ndarray:
    """float64 [n, d]: where each feature sits on the structure (d = 2, 2, 3; n for iid: identity)."""
    if structure in ("circle", "figure8"):
        return _curve(structure, 2 * np.pi * np.arange(n) / n)
    if structure == "sphere":
        i = np.arange(n) + 0.5
        polar = np.arccos(1 - 2 * i / n)
        azimuth = np.pi * (1 + 5**0.5) * i
        return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=-1)
    return np.eye(n)


def sample_latents(structure: str, n_samples: int, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
    """float64 [n_samples, d]: latent points drawn uniformly on the structure (plus angle noise)."""
    if structure in ("circle", "figure8"):
        angle = rng.uniform(0, 2 * np.pi, n_samples)
        if noise > 0:
            angle = angle + rng.normal(0, noise, n_samples)
        return _curve(structure, angle)
    if structure == "sphere":
        z = rng.normal(size=(n_samples, 3))
        return z / np.linalg.norm(z, axis=1, keepdims=True)
    return np.zeros((n_samples, 0))


def activation_probabilities(features: np.ndarray, latents: np.ndarray, k: float, bias: float = 0.0) -> np.ndarray:
    """float64 [n_samples, n]: sigmoid(k·⟨f_i, z⟩ + bias)."""
    return 1.0 / (1.0 + np.exp(-(k * latents @ features.T + bias)))


def generate_blocks(spec: SyntheticSpec) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (bows bool [b, n], latents float64 [b, d]) blocks, BLOCK samples each (last shorter)."""
    features = feature_positions(spec.structure, spec.n_features)
    step = block_size(spec.n_features)
    for block, start in enumerate(range(0, spec.n_samples, step)):
        size = min(step, spec.n_samples - start)
        rng = np.random.default_rng([spec.seed, block])
        if spec.structure == "iid":
            probs = np.full((size, spec.n_features), spec.p)
            latents = np.zeros((size, 0))
        else:
            latents = sample_latents(spec.structure, size, rng, spec.noise)
            probs = activation_probabilities(features, latents, spec.k, spec.bias)
        yield rng.random(probs.shape) < probs, latents
