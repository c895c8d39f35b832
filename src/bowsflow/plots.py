"""Figures for the report (matplotlib, Agg backend; files, never windows)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

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


def rank_frequency(freqs: dict, path, title: str = "") -> None:
    """Sample count of each distinct code against its rank, per layer (log-log)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    for layer, f in freqs.items():
        if len(f):
            ax.loglog(range(1, len(f) + 1), f, label=layer, lw=1.2)
    ax.set_xlabel("rank of code")
    ax.set_ylabel("samples with the code")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def boundary_profiles(profiles: dict, path, title: str = "") -> None:
    """Mean number of ReLU boundaries crossed per bin of the path parameter t, per layer and kind."""
    layers = list(profiles)
    fig, axes = plt.subplots(1, max(1, len(layers)), figsize=(4.2 * max(1, len(layers)), 3.4), dpi=120, squeeze=False)
    for ax, layer in zip(axes[0], layers):
        for kind, hist in profiles[layer].items():
            centers = (np.arange(len(hist)) + 0.5) / len(hist)
            ax.plot(centers, hist, marker="o", ms=3, label=kind.replace("_", " "))
        ax.set_xlabel("position t along the path")
        ax.set_ylabel("boundaries crossed per bin")
        ax.set_title(layer, fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def scale_curve(scale: dict, path, title: str = "") -> None:
    """Fraction of units whose ReLU state changes when the latent vector is scaled by α."""
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
    for layer, values in scale.items():
        if layer != "alphas":
            ax.plot(scale["alphas"], values, marker="o", label=layer)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("scale α of the latent vector")
    ax.set_ylabel("fraction of units changed")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
