"""``results/summary.tsv``: the headline numbers of every model and lens in one table."""

from __future__ import annotations

import csv

COLUMNS = [
    "model",
    "corpus",
    "arch",
    "d_latent",
    "d_hidden",
    "weight_decay",
    "n_parameters",
    "val_loss",
    "recall",
    "polytope_unique_codes_out",
    "polytope_unique_fraction_out",
    "gram_effective_rank_latent",
    "jacobian_effective_rank_latent",
    "interaction_edges_99",
    "neuron_edges_99",
    "bilinear_effective_rank",
    "geometry_spearman",
    "interference_helps",
    "months_circularity",
    "silhouette",
]


def _get(d, *keys, default=""):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def summary_row(
    name: str, config: dict, metrics: dict, polytope: dict, interaction: dict, geometry: dict, bilinear: dict | None
) -> dict:
    edges = interaction.get("edges") or {}
    cycles = geometry.get("cycles", {})
    group = "months" if "months" in cycles else next(iter(cycles), None)
    return {
        "model": name,
        "corpus": config["corpus"],
        "arch": config["arch"],
        "d_latent": config["d_latent"],
        "d_hidden": config.get("d_hidden") or 0,
        "weight_decay": config["weight_decay"],
        "n_parameters": metrics["n_parameters"],
        "val_loss": metrics["val_loss"],
        "recall": metrics["recall"],
        "polytope_unique_codes_out": _get(polytope, "layers", "out_pre", "n_unique_codes"),
        "polytope_unique_fraction_out": _get(polytope, "layers", "out_pre", "unique_fraction"),
        "gram_effective_rank_latent": _get(interaction, "layers", "latent", "gram", "effective_rank"),
        "jacobian_effective_rank_latent": _get(interaction, "layers", "latent", "jacobian", "effective_rank"),
        "interaction_edges_99": sum(e["interaction"]["edges_for_99pct_mass"] for e in edges.values()) if edges else "",
        "neuron_edges_99": sum(e["neuron"]["edges_for_99pct_mass"] for e in edges.values()) if edges else "",
        "bilinear_effective_rank": _get(bilinear or {}, "effective_rank", "mean"),
        "geometry_spearman": _get(geometry, "correlation_vs_geometry", "spearman_all_pairs"),
        "interference_helps": _get(geometry, "interference", "mean_fraction_helps", default="") or "",
        "months_circularity": _get(cycles, group, "circularity") if group else "",
        "silhouette": _get(geometry, "clusters", "silhouette_cosine", default="") or "",
    }


def write_summary(rows: list[dict], path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: (r["corpus"], r["arch"], r["model"])))
