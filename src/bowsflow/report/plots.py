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


def _save(fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, wrap=True)
    ax.set_axis_off()


def similarity_figure(fig_data: dict, path, title: str = "") -> None:
    """Cosine of feature directions against corpus correlation (word pairs); for synthetic models also
    WᵀW/‖W‖²_F beside the features' correlation matrix."""
    synthetic = "synthetic" in fig_data
    fig, axes = plt.subplots(1, 3 if synthetic else 1, figsize=(12 if synthetic else 5, 3.8), dpi=120, squeeze=False)
    ax = axes[0][0]
    s = fig_data["similarity"]
    ax.scatter(s["corr"], s["cos"], s=2, alpha=0.3)
    ax.set_xlabel("correlation of word indicators")
    ax.set_ylabel("cosine of feature directions")
    ax.grid(alpha=0.3)
    if synthetic:
        for ax, key, label in [(axes[0][1], "gram", "WᵀW / ‖W‖²_F"), (axes[0][2], "covariance", "data correlation")]:
            im = ax.imshow(
                fig_data["synthetic"][key],
                cmap="RdBu_r",
                vmin=-np.abs(fig_data["synthetic"][key]).max(),
                vmax=np.abs(fig_data["synthetic"][key]).max(),
            )
            ax.set_title(label, fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def cycles_figure(cycles: dict, path, title: str = "") -> None:
    """The 2-D PCA of each cyclic group's feature directions, joined in the group's order."""
    names = list(cycles) or ["none"]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.8), dpi=120, squeeze=False)
    for ax, name in zip(axes[0], names):
        if name not in cycles:
            _note(ax, "no cyclic word group in the vocabulary")
            continue
        xy = cycles[name]["xy"]
        closed = np.vstack([xy, xy[:1]])
        ax.plot(closed[:, 0], closed[:, 1], "-o", ms=4, lw=1)
        for (x, y), label in zip(xy, cycles[name]["labels"]):
            ax.annotate(label[:3], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(name, fontsize=10)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def map_figure(m: dict, path, title: str = "") -> None:
    """2-D map of all feature directions (PCA; and UMAP beside it when umap-learn is installed),
    category words coloured."""
    maps = [("PCA", m["xy"])] + ([("UMAP (cosine)", m["umap"])] if m.get("umap") is not None else [])
    fig, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 4.5), dpi=120, squeeze=False)
    for ax, (name_map, xy) in zip(axes[0], maps):
        ax.scatter(xy[:, 0], xy[:, 1], s=2, c="0.8")
        for k, name in enumerate(m["names"]):
            sel = m["labelled"][m["labels"] == k]
            if sel.size:
                ax.scatter(xy[sel, 0], xy[sel, 1], s=12, label=name)
        ax.set_xlabel(f"{name_map} 1")
        ax.set_ylabel(f"{name_map} 2")
        ax.legend(frameon=False, fontsize=7, markerscale=1.5)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def r2_figure(r: dict, path, title: str = "") -> None:
    """Per-word validation R² and the one-hot R² against word frequency."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    ax.scatter(r["frequency"], r["one_hot"], s=3, alpha=0.4, label="one-hot (word alone)")
    ax.scatter(r["frequency"], r["r2"], s=3, alpha=0.4, label="model, in context")
    ax.set_xscale("log")
    ax.set_xlabel("word frequency (validation windows)")
    ax.set_ylabel("R²")
    ax.set_ylim(-1, 1)
    ax.legend(frameon=False, fontsize=8, markerscale=3)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    _save(fig, path)


def interference_figure(interf: dict | None, path, title: str = "") -> None:
    """Distribution of the interference term Σ_{j≠v}⟨W_v, W_j⟩ over the contexts of each target word."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    if not interf:
        _note(ax, "interference decomposition applies to tied_ae models")
    else:
        for word, values in interf.items():
            ax.hist(values, bins=40, histtype="step", label=word, density=True)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("interference Σ⟨W_v, W_j⟩ in a context")
        ax.set_ylabel("density")
        ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    _save(fig, path)


def bilinear_figure(fig_data: dict, path, title: str = "") -> None:
    """Three panels: |eigenvalues| of B_v for selected output words; validation loss and recall when
    each B_v keeps its top-k eigencomponents; the shares of |z| from the direct, bilinear and bias paths."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=120)
    ax = axes[0]
    for word, spectrum in fig_data["spectra"].items():
        ax.semilogy(np.arange(1, len(spectrum) + 1), np.maximum(spectrum, 1e-12), marker=".", label=word)
    ax.set_xlabel("rank")
    ax.set_ylabel("|λ| of B_v")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    t = fig_data["truncation"]
    ax.plot(t["k"], t["loss"], marker=".", label="validation loss")
    ax.set_xlabel("eigencomponents kept per output word (k)")
    ax.set_ylabel("validation loss", color="C0")
    ax2 = ax.twinx()
    ax2.plot(t["k"], t["recall"], marker=".", color="C1", label="recall")
    ax2.set_ylabel("recall of present words", color="C1")
    ax.grid(alpha=0.3)
    ax = axes[2]
    paths = fig_data["paths"]
    kinds = list(paths)
    parts = ["direct", "bilinear", "bias"]
    bottom = np.zeros(len(kinds))
    for part in parts:
        vals = np.array([paths[k][part] for k in kinds])
        ax.bar([k.replace("_", " ") for k in kinds], vals, bottom=bottom, label=part)
        bottom += vals
    ax.set_ylabel("share of |z|")
    # beside the bars: inside, the first swatch would sit on its own colour
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def interaction_figure(fig_data: dict, path, title: str = "") -> None:
    """Eigenvalue spectra of the Gram G and the Jacobian Gram M per layer; cumulative edge mass
    against the number of edges, per basis, for each pair of adjacent layers; and, where computed, the
    node ablation curves (validation loss against the directions kept, per layer and basis) and the
    edge ablation curves (validation loss against the edges kept, per pair of layers and basis)."""
    ablation = fig_data.get("ablation")
    edge_ablation = {k: v for k, v in (fig_data.get("edge_ablation") or {}).items() if k != "unablated"}
    panels = 2 + bool(ablation) + bool(edge_ablation)
    fig, axes = plt.subplots(1, panels, figsize=(6.3 * panels, 3.8), dpi=120)
    ax = axes[0]
    for k, (layer, spectra) in enumerate(fig_data["spectra"].items()):
        for kind, style in (("gram", "-"), ("jacobian", "--")):
            vals = np.maximum(np.abs(spectra[kind]), 1e-18)
            ax.semilogy(np.arange(1, len(vals) + 1), vals, style, color=f"C{k}", label=f"{layer} {kind}")
    ax.set_xlabel("index (descending)")
    ax.set_ylabel("eigenvalue")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    if not fig_data["edge_mass"]:
        _note(ax, "no adjacent layers with a basis (tied_ae)")
    for k, (pair, per_basis) in enumerate(fig_data["edge_mass"].items()):
        for basis, style in (("interaction", "-"), ("neuron", ":"), ("pca", "--")):
            curve = per_basis[basis]
            ax.semilogx(np.arange(1, len(curve) + 1), curve, style, color=f"C{k}", label=f"{pair} {basis}")
        ax.set_xlabel("edges, strongest first")
        ax.set_ylabel("share of edge mass")
        ax.axhline(0.99, color="k", lw=0.6)
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # the curves fill the axes
        ax.grid(alpha=0.3)
    if ablation:
        ax = axes[2]
        for k, (layer, per_basis) in enumerate((key, v) for key, v in ablation.items() if key != "unablated"):
            for basis, style in (("interaction", "-"), ("neuron", ":"), ("pca", "--")):
                ks, curve = per_basis[basis]
                ax.plot(ks, curve, style, color=f"C{k}", label=f"{layer} {basis}")
        ax.axhline(ablation["unablated"], color="k", lw=0.6, label="unablated")
        ax.set_xlabel("directions kept, k")
        ax.set_ylabel("validation loss")
        ax.set_yscale("log")
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(alpha=0.3)
    if edge_ablation:
        ax = axes[3 if ablation else 2]
        for k, (pair, per_basis) in enumerate(edge_ablation.items()):
            for basis, style in (("interaction", "-"), ("neuron", ":"), ("pca", "--")):
                if basis in per_basis:
                    counts, curve = per_basis[basis]
                    ax.plot(np.maximum(counts, 1), curve, style, color=f"C{k}", label=f"{pair} {basis}")
        ax.axhline(fig_data["edge_ablation"]["unablated"], color="k", lw=0.6, label="unablated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edges kept, strongest first (0 drawn at 1)")
        ax.set_ylabel("validation loss")
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def interaction_graph_figure(
    graph: dict | None, path, title: str = "", mass: float = 0.9, max_edges: int = 400
) -> None:
    """The interaction graph: one column per layer (forward order), its interaction-basis directions
    top to bottom by |Λ| (dot area ∝ log |Λ|), the strongest edges holding ``mass`` of each pair's edge
    mass (at most ``max_edges``; darker = stronger), directions coloured by Louvain community."""
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=120)
    if not graph or not graph["edges"]:
        _note(ax, "no adjacent layers with a basis (tied_ae has one layer)")
        ax.set_axis_off()
        fig.suptitle(title, fontsize=10)
        _save(fig, path)
        return
    column = {layer: k for k, layer in enumerate(graph["layers"])}
    position = {}
    for layer, lam in graph["lambda"].items():
        if layer not in column:
            continue
        n = max(len(lam), 1)
        for i in range(len(lam)):
            position[(layer, i)] = (column[layer], 1.0 - i / max(n - 1, 1))
    for src, dst, E in graph["edges"]:
        flat = np.sort(E.ravel())[::-1]
        total = flat.sum()
        if total <= 0:
            continue
        keep = min(int(np.searchsorted(np.cumsum(flat), mass * total) + 1), max_edges)
        cut = flat[keep - 1]
        top = flat[0]
        for i, j in zip(*np.nonzero(E >= cut)):
            (x0, y0), (x1, y1) = position[(src, int(j))], position[(dst, int(i))]
            ax.plot([x0, x1], [y0, y1], color="k", lw=0.6, alpha=float(0.1 + 0.8 * E[i, j] / top), zorder=1)
    community = graph["community"]
    for layer, lam in graph["lambda"].items():
        if layer not in column:
            continue
        size = 8 + 40 * np.log10(1 + lam / max(lam.max(), 1e-300) * 1e3) / 3
        colours = [
            f"C{community.get((layer, i), -1) % 10}" if (layer, i) in community else "0.7" for i in range(len(lam))
        ]
        xy = np.array([position[(layer, i)] for i in range(len(lam))])
        if len(xy):
            ax.scatter(xy[:, 0], xy[:, 1], s=size, c=colours, zorder=2, edgecolors="none")
    ax.set_xticks(range(len(column)), list(column))
    ax.set_yticks([])
    ax.set_ylabel("directions, largest |Λ| at the top")
    ax.set_xlim(-0.5, len(column) - 0.5)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


VERDICT_COLOURS = {
    "supported": "#1b7837",
    "partly supported": "#7fbc41",
    "unvalidated": "#8073ac",
    "not supported": "#b2182b",
    "underpowered": "#e08214",
    "not testable": "#777777",
    "not testable on this corpus": "#777777",
    "skipped": "#bbbbbb",
}


def llc_figure(fig_data: dict, path, title: str = "") -> None:
    """Two panels: each SGLD chain's excess loss against the draw (burn-in shaded); each chain's λ̂ and
    their mean."""
    trace, burnin, nbeta = np.asarray(fig_data["trace"]), fig_data["n_burnin"], fig_data["nbeta"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), dpi=120, gridspec_kw={"width_ratios": [3, 1]})
    ax = axes[0]
    for c, row in enumerate(trace):
        ax.plot(np.arange(row.size), row, lw=0.8, label=f"chain {c}")
    ax.axvspan(0, burnin, color="0.9", label="burn-in")
    ax.set_xlabel("SGLD draw")
    ax.set_ylabel("L_b(w_t) − L_b(w*)")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    ax = axes[1]
    per = nbeta * np.nanmean(trace[:, burnin:], axis=1)
    ax.plot(np.zeros(per.size), per, "o", alpha=0.7)
    ax.axhline(fig_data["llc"], color="k", lw=1, label=f"mean {fig_data['llc']:.4g}")
    ax.set_xticks([])
    ax.set_ylabel("λ̂ per chain")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def claims_figure(rows: list[dict], path) -> None:
    """One panel per claim: each comparison's effect (dot, coloured by verdict) with its interval (bar),
    its null (red tick) and its ceiling (grey diamond); rows without an effect say their verdict."""
    claims = list(dict.fromkeys(r["claim"] for r in rows))
    counts = [sum(r["claim"] == c for r in rows) for c in claims] or [1]
    heights = [0.55 + 0.28 * k for k in counts]
    fig, axes = plt.subplots(
        len(counts), 1, figsize=(11, sum(heights) + 0.6), dpi=110, squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for ax, cid in zip(axes.ravel(), claims):
        mine = [r for r in rows if r["claim"] == cid]
        for y, r in enumerate(mine):
            colour = VERDICT_COLOURS.get(r["verdict"], "black")
            if r.get("effect") is None:
                ax.text(
                    0.02,
                    y,
                    f"{r['verdict']}: {r['reason'][:70]}",
                    color=colour,
                    va="center",
                    fontsize=7,
                    transform=ax.get_yaxis_transform(),
                )
                continue
            if r.get("interval_low") is not None:
                ax.plot([r["interval_low"], r["interval_high"]], [y, y], color=colour, lw=2.5, alpha=0.6)
            ax.plot(r["effect"], y, "o", color=colour, ms=6)
            if r.get("null") is not None:
                ax.plot(r["null"], y, "|", color="red", ms=14, mew=2)
            if r.get("ceiling") is not None:
                ax.plot(r["ceiling"], y, "D", color="grey", ms=5, alpha=0.7)
            label = f"{r['verdict']}  n={r['n']}" + (f"  p={r['p_value']:.3g}" if r.get("p_value") is not None else "")
            ax.annotate(
                label,
                (1.0, y),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                color=colour,
            )
        ax.set_yticks(range(len(mine)))
        ax.set_yticklabels([_short(r["compared"], 64) for r in mine], fontsize=7)
        ax.set_ylim(-0.7, len(mine) - 0.3)
        ax.invert_yaxis()
        ax.set_title(cid, fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Claims: effect (dot) with interval (bar), null (red |), ceiling (grey ◆)", fontsize=10)
    fig.subplots_adjust(left=0.36, right=0.74, top=1 - 0.75 / (sum(heights) + 0.6), bottom=0.02, hspace=0.9)
    fig.savefig(path, format="png")
    plt.close(fig)


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
