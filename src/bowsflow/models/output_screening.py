"""Which outputs of a ReLU decoder are on, found with a bfloat16 product and a rigorous error bound.

Once a BOWS autoencoder has learned that most words are absent, only a few per cent of the outputs
x̂ = ReLU(r Wᵀ + b) are non-zero, and only those (and the target's ones) enter the MSE loss and its
gradient. The dense float32 product that finds them is most of a CPU training step. On CPUs with
native bf16 dot products (AVX512-BF16, AMX) a bf16 product runs several times faster; this module
uses it to *screen*: it returns a superset of the on outputs, whose exact float32 values the loss then
computes with a sampled product (torch.sparse.sampled_addmm).

The bound. With r̃, w̃ the bf16 roundings of a sample's r and a word's w (δr = r̃ − r, δw = w̃ − w),

    |r̃·w̃ − r·w| = |δr·w + r·δw + δr·δw| ≤ ‖δr‖‖w‖ + ‖r‖‖δw‖ + ‖δr‖‖δw‖      (Cauchy–Schwarz),

a sum of three rank-1 terms. They, the bias b and a term 2u|b| covering the bias' own bf16 rounding
(u = 2⁻⁸, bf16's unit roundoff) are appended to r and w as extra coordinates, so one bf16 product of
the augmented matrices gives, per entry, z̃ + margin with z = r·w + b. The three norm terms are
inflated by 3% and an extra 4K·2⁻²⁴·‖r‖‖w‖ is added to cover the bf16 rounding of the appended terms
(≤ 2u relative) and the float32 accumulation of the K = m + 5 products (at most γ_K ≈ K·2⁻²⁴ of
the sum of their magnitudes, ≈ ‖r‖‖w‖ + |b|; the extra term is four times that for ‖r‖‖w‖, and 2u|b|
exceeds the bias' rounding by u|b|, far more than K·2⁻²⁴|b| for any K < 65,000). Every entry with
z > 0 — exact, or as float32 computes it — then has a positive screened value, so its position is
returned. (Values below ~1e-37, where bf16 arithmetic flushes subnormals to zero, are the only
exception; they are zero to the loss anyway.) The bound takes the bf16 products to be accumulated in
float32, as oneDNN's kernels and torch's own CPU kernel for bf16 matrices do (the product of two bf16
numbers is exact in float32).
"""

from __future__ import annotations

import functools

import torch

BF16_UNIT_ROUNDOFF = 2.0**-8
# Relative slack on the three norm terms (their own bf16 rounding, ≤ (1 + u)² − 1 ≈ 0.8%)
NORM_TERM_SLACK = 1.03
# Per product accumulated in float32, the slack relative to ‖r‖‖w‖: four times float32's unit roundoff
ACCUMULATION_SLACK_PER_TERM = 4 * 2.0**-24


@functools.cache
def bf16_dot_products_native() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX tiles), so that
    screening is faster than the float32 product it replaces."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def relu_support_candidates(
    r: torch.Tensor,
    Wt: torch.Tensor,
    b: torch.Tensor,
    rows: torch.Tensor | None = None,
    cols: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (sample, word), in row-major order, holding every entry with z = r Wtᵀ + b > 0
    (r [B, m], Wt [V, m], b [V], float32), plus the given (rows, cols) positions.

    A superset: some returned entries have z ≤ 0 (their margin of error reached past zero); a caller
    computes z exactly on them and keeps the positive ones.
    """
    with torch.no_grad():
        (B, m), V = r.shape, Wt.shape[0]
        r_aug = torch.empty(B, m + 5, dtype=torch.bfloat16, device=r.device)
        Wt_aug = torch.empty(V, m + 5, dtype=torch.bfloat16, device=r.device)
        r_bf, Wt_bf = r_aug[:, :m].copy_(r), Wt_aug[:, :m].copy_(Wt)  # the roundings, in place
        r_norm = torch.linalg.vector_norm(r, dim=1)
        w_norm = torch.linalg.vector_norm(Wt, dim=1)
        r_err = torch.linalg.vector_norm(r - r_bf, dim=1)  # (the difference is taken in float32)
        w_err = torch.linalg.vector_norm(Wt - Wt_bf, dim=1)
        u, k = BF16_UNIT_ROUNDOFF, NORM_TERM_SLACK
        accumulation = ACCUMULATION_SLACK_PER_TERM * (m + 5)
        # The appended columns pair up: r_aug[:, j] · Wt_aug[:, j] summed over them is
        # b + 2u|b| + k‖δr‖‖w‖ + k‖r‖‖δw‖ + k‖δr‖‖δw‖ + slack·‖r‖‖w‖.
        ones = torch.ones(B, dtype=r.dtype, device=r.device)
        r_aug[:, m:] = torch.stack([ones, ones, k * r_err + accumulation * r_norm, k * r_norm, k * r_err], 1)
        Wt_aug[:, m:] = torch.stack([b, (2 * u) * b.abs(), w_norm, w_err, w_err], 1)
        screened = torch.mm(r_aug, Wt_aug.t()).clamp_min_(0)
        if rows is not None:
            screened.view(-1)[rows * V + cols] = 1
        # bf16 values ≥ 0 are positive exactly where their bits, read as int16, are non-zero
        return screened.view(torch.int16).nonzero(as_tuple=True)
