"""Reconstruction losses against a sparse binary target, with hand-written gradients.

The target x is given by the (row, column) positions of its ones, so no dense batch × V target is
built. Both losses are means over all B·V entries, like ``torch.nn.MSELoss()`` and
``BCEWithLogitsLoss()`` on the dense target:

- ``mse``: mean((x̂ − x)²) with x̂ = ReLU(z) (or z): Σ x̂² − 2 Σ_active x̂ + n_active, over B·V;
  gradient (2/N)·(x̂ − x)·∂x̂/∂z, one pass over the batch plus a sparse correction.
- ``bce``: binary cross-entropy on the logits z: mean(softplus(z) − x·z); gradient (σ(z) − x)/N.

Sums are accumulated in float64, so the loss keeps its precision when x̂ ≈ x (the three terms cancel).
"""

from __future__ import annotations

import torch

LOSSES = ("mse", "bce")


class _SparseTargetMSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, rows, cols, output_relu: bool):
        xhat = torch.relu(z) if output_relu else z
        at_ones = xhat[rows, cols]
        n = z.numel()
        total = (xhat.double().square().sum() - 2 * at_ones.double().sum() + rows.numel()) / n
        ctx.save_for_backward(xhat, rows, cols)
        ctx.output_relu = output_relu
        return total.to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        xhat, rows, cols = ctx.saved_tensors
        scale = 2 * grad / xhat.numel()
        dz = xhat * scale  # where ReLU is off x̂ = 0, so its mask is already applied
        correction = scale.expand(rows.shape)
        if ctx.output_relu:
            correction = correction * (xhat[rows, cols] > 0)
        dz.index_put_((rows, cols), dz[rows, cols] - correction)
        return dz, None, None, None


class _SparseTargetBCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, rows, cols):
        n = z.numel()
        total = (torch.nn.functional.softplus(z).double().sum() - z[rows, cols].double().sum()) / n
        ctx.save_for_backward(z, rows, cols)
        return total.to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, rows, cols = ctx.saved_tensors
        scale = grad / z.numel()
        dz = torch.sigmoid(z) * scale
        dz.index_put_((rows, cols), dz[rows, cols] - scale)
        return dz, None, None


def sparse_target_loss(z: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, loss: str = "mse", output_relu: bool = True) -> torch.Tensor:
    """Mean loss of pre-activations z [B, V] against the binary target with ones at (rows, cols).

    (rows, cols) must not repeat a position (a BOWS row is a set).
    """
    if loss == "mse":
        return _SparseTargetMSE.apply(z, rows, cols, output_relu)
    if loss == "bce":
        return _SparseTargetBCE.apply(z, rows, cols)
    raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")


def dense_target_loss(z: torch.Tensor, x: torch.Tensor, loss: str = "mse", output_relu: bool = True) -> torch.Tensor:
    """The same loss against a dense target x [B, V] (reference, evaluation)."""
    if loss == "mse":
        xhat = torch.relu(z) if output_relu else z
        return torch.nn.functional.mse_loss(xhat, x.to(z.dtype))
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(z, x.to(z.dtype))
    raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
