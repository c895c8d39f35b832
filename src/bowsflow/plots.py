"""Figures for the report (matplotlib, Agg backend; files, never windows)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def loss_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Train loss per logging window and validation loss at evaluation points, against the step."""
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(steps, [r["train_loss"] for r in history], label="train (window mean)", lw=1.2)
    val = [(r["step"], r["val_loss"]) for r in history if not math.isnan(r["val_loss"])]
    if val:
        ax.plot(*zip(*val), "o-", label="validation", ms=3, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if all(r["train_loss"] > 0 for r in history):
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")  # explicit: the path may be a temporary name
    plt.close(fig)
