"""Bilinear layers as third-order tensors (Sharkey 2023; Pearce, Dooms et al. 2024).

For a ``bilinear`` model (h = W_e x; g = (L h) ⊙ (R h); r = h + W_out g; z = W_eᵀ r + b) let
U = W_eᵀ W_out [V, d]. The bilinear path's contribution to z_v is hᵀ B_v h with

    B_v = Σ_a U_{va} · ½ (L_a R_aᵀ + R_a L_aᵀ)          (m × m, symmetric; L_a, R_a rows of L, R)

so z_v = W_e[:, v]ᵀ h + hᵀ B_v h + b_v exactly. B is never built for all words at once when it does not
fit: slices for a chunk of words are made as (Lᵀ diag(U_v) R) with one batched product, bounded by
``max_array_mb``. Eigendecompositions are batched (``torch.linalg.eigh`` on stacks) in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from bowsflow.linalg import sorted_eigh


def weights(model) -> dict[str, torch.Tensor]:
    """The bilinear model's parameters in float64."""
    return {k: v.detach().double() for k, v in model.named_parameters()}


def output_map(p: dict) -> torch.Tensor:
    """U = W_eᵀ W_out: [V, d]."""
    return p["W_e"].t() @ p["W_out"]


def interaction_matrices(p: dict, coefficients: torch.Tensor) -> torch.Tensor:
    """Symmetric B for each row u of ``coefficients`` [c, d]: ½(Lᵀ diag(u) R + Rᵀ diag(u) L), [c, m, m].
    With coefficients = U[words] these are the B_v; with uᵀU a direction's Q_u."""
    L, R = p["L"], p["R"]
    half = (L.t()[None, :, :] * coefficients[:, None, :]) @ R  # [c, m, m]
    return 0.5 * (half + half.transpose(1, 2))


def words_per_chunk(m: int, max_array_mb: float) -> int:
    """Output words per chunk so that the chunk's stack of m × m float64 matrices (and its
    eigenvectors) stays under ``max_array_mb``."""
    return max(1, int(max_array_mb * 2**20 // (2 * 8 * m * m)))


CHUNK_MB = 16.0  # preferred size of one chunk's matrices and eigenvectors


def word_chunks(V: int, m: int, max_array_mb: float, threads: int = 1) -> list[tuple[int, int]]:
    """(lo, hi) ranges of output words for the eigendecompositions, run ``threads`` at a time.

    LAPACK's eigh on one small matrix uses one core, so the parallelism is across chunks: each chunk
    gets at most ``max_array_mb / threads`` (so the chunks in flight together stay within
    ``max_array_mb``), and there are at least ``threads`` chunks when V allows. Chunks are also kept
    near :data:`CHUNK_MB`: larger stacks only add memory traffic (measured: 256 MB chunks ran about
    1.5x slower than 16 MB ones, benchmarks/bench_bilinear.py --max-array-mb).
    """
    threads = max(1, int(threads))
    step = min(words_per_chunk(m, min(max_array_mb / threads, CHUNK_MB)), max(1, -(-V // threads)))
    return [(lo, min(lo + step, V)) for lo in range(0, V, step)]


def direction_eig(model, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of Q_u = Σ_v u_v B_v for an output direction u [V] (any, not only a word)."""
    p = weights(model)
    coeff = torch.as_tensor(np.asarray(u, dtype=np.float64))[None, :] @ output_map(p)
    vals, vecs = sorted_eigh(interaction_matrices(p, coeff), "magnitude")
    return vals[0].numpy(), vecs[0].numpy()


def contraction(model, h: torch.Tensor, words: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The three paths to z for latent vectors h [n, m] (float64): ``direct`` W_eᵀh, ``bilinear``
    hᵀ B_v h, ``bias`` b_v — for all words or the given ones; they sum to the model's out_pre."""
    p = weights(model)
    h = h.double()
    U = output_map(p) if words is None else output_map(p)[words]
    # hᵀ B_v h = Σ_a U_va (L_a·h)(R_a·h): never builds B
    bil = ((h @ p["L"].t()) * (h @ p["R"].t())) @ U.t()
    We = p["W_e"] if words is None else p["W_e"][:, words]
    b = p["b"] if words is None else p["b"][words]
    return {"direct": h @ We, "bilinear": bil, "bias": b.expand(h.shape[0], -1)}


def pair_interaction(model, w1: int, w2: int, v: int) -> float:
    """W_e[:, w1]ᵀ B_v W_e[:, w2]: how input words w1 and w2 together push output word v (one B_v)."""
    p = weights(model)
    B = interaction_matrices(p, output_map(p)[v : v + 1])[0]
    return float(p["W_e"][:, w1] @ B @ p["W_e"][:, w2])


def unfolding_spectrum(model, max_array_mb: float = 256.0) -> np.ndarray:
    """Squared singular values of B unfolded to (word, m·m), descending, from the m² × m² Gram
    Σ_v vec(B_v) vec(B_v)ᵀ accumulated over word chunks (or the V × V Gram when V < m²)."""
    p = weights(model)
    U = output_map(p)
    V, m = U.shape[0], p["L"].shape[1]
    step = words_per_chunk(m, max_array_mb)
    if V <= m * m:
        flat = torch.cat([interaction_matrices(p, U[lo : lo + step]).reshape(-1, m * m) for lo in range(0, V, step)])
        gram = flat @ flat.t()
    else:
        gram = torch.zeros(m * m, m * m, dtype=torch.float64)
        for lo in range(0, V, step):
            flat = interaction_matrices(p, U[lo : lo + step]).reshape(-1, m * m)
            gram += flat.t() @ flat
    sv2 = torch.linalg.eigvalsh(gram).clamp_min(0).flip(0)
    return sv2.numpy()
