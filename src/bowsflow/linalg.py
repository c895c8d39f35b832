"""Shared numerics: sorted symmetric eigendecompositions, the effective rank, and the exact sign
changes of affine and quadratic functions along a segment (the polytope lens's crossings).

Eigendecompositions are float64, always. One effective rank is used everywhere (the Gram and Jacobian
spectra of the interaction lens, the eigenvalues of bilinear interaction matrices):

    effective_rank(λ) = (Σ|λᵢ|)² / Σλᵢ²        (the participation ratio of |λ|; 0 for λ = 0)

It equals k for k equal nonzero eigenvalues and lies in [1, n] otherwise.
"""

from __future__ import annotations

import numpy as np

ORDERS = ("descending", "magnitude")


def sorted_eigh(A, order: str = "descending"):
    """Eigenvalues and eigenvectors (columns) of a symmetric matrix or a stack of them, in float64,
    sorted by ``order``: ``descending`` value, or descending ``magnitude`` |λ| (ties keep LAPACK's
    order). numpy in, numpy out ([n] and [n, n]); a torch tensor in, torch out, batched over leading
    dimensions ([..., n] and [..., n, n])."""
    if order not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}")
    if isinstance(A, np.ndarray) or not hasattr(A, "double"):
        vals, vecs = np.linalg.eigh(np.asarray(A, dtype=np.float64))
        idx = np.argsort(vals)[::-1] if order == "descending" else np.argsort(-np.abs(vals), kind="stable")
        return vals[idx], vecs[:, idx]
    import torch

    vals, vecs = torch.linalg.eigh(A.double())
    key = vals if order == "descending" else vals.abs()
    idx = torch.argsort(key, dim=-1, descending=True, stable=True)
    return torch.gather(vals, -1, idx), torch.gather(vecs, -1, idx.unsqueeze(-2).expand_as(vecs))


def effective_rank(vals):
    """(Σ|λ|)² / Σλ² over the last axis (0 where every λ is 0); numpy or torch."""
    if isinstance(vals, np.ndarray) or not hasattr(vals, "abs"):
        vals = np.asarray(vals, dtype=np.float64)
        l1, l2sq = np.abs(vals).sum(-1), (vals**2).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(l2sq > 0, l1**2 / np.where(l2sq > 0, l2sq, 1.0), 0.0)
    import torch

    l1, l2 = vals.abs().sum(-1), vals.norm(dim=-1)
    return torch.where(l2 > 0, (l1 / l2.clamp_min(1e-300)) ** 2, torch.zeros_like(l1))


def affine_crossings(z0: np.ndarray, z1: np.ndarray) -> np.ndarray:
    """Crossing points t ∈ (0, 1] of units whose affine pre-activation changes sign from z0 to z1
    (strictly: the ReLU state 1[z > 0] differs at the ends). Returns float [k]."""
    flip = (z0 > 0) != (z1 > 0)
    t = z0[flip] / (z0[flip] - z1[flip])
    return np.clip(t, 0.0, 1.0)


def quadratic_crossings(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Crossing points t ∈ (0, 1) of units whose pre-activation z(t) = c0 + c1 t + c2 t² changes
    sign there (each unit at most twice). Returns float [k]."""
    out = []
    disc = c1 * c1 - 4 * c2 * c0
    quad = np.abs(c2) > 1e-12 * (np.abs(c0) + np.abs(c1) + 1e-30)
    lin = ~quad & (np.abs(c1) > 0)
    out.append(-c0[lin] / c1[lin])
    ok = quad & (disc > 0)
    sq = np.sqrt(disc[ok])
    a2 = 2 * c2[ok]
    out += [(-c1[ok] - sq) / a2, (-c1[ok] + sq) / a2]
    t = np.concatenate(out) if out else np.zeros(0)
    return t[(t > 0) & (t < 1)]
