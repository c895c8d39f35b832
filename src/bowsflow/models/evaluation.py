"""A trained model on one split of its BOWS store: loss, per-word R², recall and false positives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bowsflow.data.batches import BowsBatches
from bowsflow.models.base import BowsAutoencoder
from bowsflow.models.losses import sparse_target_loss


@dataclass
class Evaluation:
    loss: float
    r2_per_word: np.ndarray  # float64 [V], NaN where the word is constant on the split
    recall: float
    false_positive_rate: float
    n_samples: int
    frequency: np.ndarray  # float64 [V], share of the split's samples holding each word

    def summary(self) -> dict:
        r2 = self.r2_per_word[np.isfinite(self.r2_per_word)]
        q = np.quantile(r2, [0.25, 0.5, 0.75]).tolist() if r2.size else [float("nan")] * 3
        return {
            "val_loss": self.loss,
            "r2_median": q[1],
            "r2_q25": q[0],
            "r2_q75": q[2],
            "recall": self.recall,
            "false_positive_rate": self.false_positive_rate,
            "n_val_samples": self.n_samples,
            "n_words_with_r2": int(r2.size),
        }


@torch.no_grad()
def evaluate(
    model: BowsAutoencoder,
    store: str | Path,
    *,
    loss: str = "mse",
    threshold: float = 0.5,
    batch_size: int = 256,
    split: str = "val",
    device=None,
    batches: BowsBatches | None = None,
) -> Evaluation:
    """Loss (``mse`` or ``bce``, as trained), per-word R², recall of active words and false-positive rate
    (an output counts as on above ``threshold``) on a split (streamed in batches of ``batch_size``).
    ``batches``: the split's BowsBatches to reuse (training evaluates the same split each epoch: its
    sparse cache then spares reading and decompressing the store's chunks again)."""
    device = device or next(model.parameters()).device
    batches = batches or BowsBatches(store, split, batch_size, shuffle=False)
    V = batches.vocab_size
    sum_x = np.zeros(V)
    sum_res2 = np.zeros(V)
    loss_sum, n, tp, fp, n_pos, n_neg = 0.0, 0, 0, 0, 0, 0
    model.eval()
    for batch in batches.epoch():
        indices, offsets, rows, cols = batch.torch(device)
        z = model(indices, offsets)
        loss_sum += float(sparse_target_loss(z, rows, cols, loss, model.output == "relu")) * batch.size
        xhat = torch.sigmoid(z) if loss == "bce" else model.reconstruct(z)
        # (x̂ − x)² summed per word in float64, x̂ − 1 taken only at the ones (the same values as a dense
        # x would give); counts from the ones' positions, which are distinct (bool sums are slow)
        residual = xhat.double()
        residual[rows, cols] -= 1.0
        sum_res2 += residual.square_().sum(0).cpu().numpy()
        sum_x += np.bincount(batch.cols, minlength=V)
        on = xhat > threshold
        n_on, n_ones = int(torch.count_nonzero(on)), int(rows.numel())
        true_on = int(torch.count_nonzero(on[rows, cols]))
        tp += true_on
        fp += n_on - true_on
        n_pos += n_ones
        n_neg += xhat.numel() - n_ones
        n += batch.size
    model.train()
    if n == 0:
        return Evaluation(float("nan"), np.full(V, np.nan), float("nan"), float("nan"), 0, np.zeros(V))
    ss_tot = sum_x - sum_x**2 / n  # Σ(x − x̄)² for binary x
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - sum_res2 / ss_tot, np.nan)
    return Evaluation(loss_sum / n, r2, tp / max(n_pos, 1), fp / max(n_neg, 1), n, sum_x / n)
