"""The BOWS geometry analyses of one model (see :mod:`bowsflow.lenses.geometry.measures`); returns a JSON-able summary
and the arrays behind the figures. Corpus statistics come from the corpus' correlation store."""

from __future__ import annotations

import numpy as np

from bowsflow.data.word_lists import MONTHS, PLANETS, TOPICS, WEEKDAYS
from bowsflow.lenses.geometry.measures import (
    circularity,
    cosine_matrix,
    covariance_from_correlation,
    cyclic_order_recovered,
    one_hot_r2,
    pca_2d,
    principal_subspace,
    silhouette_cosine,
    structure_measure,
    subspace_overlap,
    synthetic_regime,
    umap_2d,
    upper_triangle_spearman,
)
from bowsflow.schema import schema_options
from bowsflow.store.checked import open_dataset, open_group

DEFAULT_CATEGORIES = {"months": MONTHS, "weekdays": WEEKDAYS, "planets": PLANETS, **TOPICS}
DEFAULT_CYCLES = {"months": MONTHS, "weekdays": WEEKDAYS}


@schema_options("analysis.geometry")
class GeometryOptions:
    """``analysis.geometry`` of the config (defaults: the schema's)."""

    top_k: int
    max_pairs: int
    targets: tuple
    n_partners: int
    max_contexts: int
    r2_margin: float
    cycles: dict | None  # None: DEFAULT_CYCLES
    categories: dict | None  # None: DEFAULT_CATEGORIES
    seed: int
    batch_size: int


def _val_rows(bows_group, rng, limit: int | None = None) -> np.ndarray:
    """Indices of validation samples (all, or a seeded subsample of ``limit``)."""
    split = np.asarray(bows_group["split"][:]) == "val"
    idx = np.flatnonzero(split)
    if limit is not None and idx.size > limit:
        idx = np.sort(rng.choice(idx, limit, replace=False))
    return idx


def analyze_geometry(
    *, checkpoint, bows, correlations, options: GeometryOptions = GeometryOptions(), synthetic: bool = False
):

    from bowsflow.models.checkpoints import load_model
    from bowsflow.models.evaluation import evaluate

    model, meta = load_model(checkpoint)
    arch = meta["arch"]
    W = model.embedding.detach().double().numpy()
    b = model.b.detach().double().numpy()
    V = W.shape[1]
    corr_ds = open_dataset(correlations)
    corr = corr_ds["correlation"].values.astype(np.float64)
    freq = corr_ds["frequency"].values
    bows_group = open_group(bows)
    words = [str(w) for w in np.asarray(bows_group["word"][:])]
    index = {w: i for i, w in enumerate(words)}
    rng = np.random.default_rng(options.seed)
    summary = {"model": meta.get("model"), "arch": arch, "d_latent": int(W.shape[0]), "vocab_size": V}
    figures = {}

    # 1. correlation becomes geometry
    cos = cosine_matrix(W)
    n_pairs_all = V * (V - 1) // 2
    if n_pairs_all <= options.max_pairs:
        rho_all = upper_triangle_spearman(cos, corr)
    else:  # a seeded sample of word pairs
        i = rng.integers(0, V, options.max_pairs)
        j = rng.integers(0, V, options.max_pairs)
        keep = i < j
        from scipy.stats import spearmanr

        rho_all = float(spearmanr(cos[i[keep], j[keep]], corr[i[keep], j[keep]]).statistic)
        n_pairs_all = int(keep.sum())
    top = np.argsort(-freq, kind="stable")[: options.top_k]
    summary["correlation_vs_geometry"] = {
        "spearman_all_pairs": rho_all,
        "n_pairs_all": int(n_pairs_all),
        "spearman_top_k": upper_triangle_spearman(cos, corr, top),
        "top_k": int(len(top)),
        "n_pairs_top_k": int(len(top) * (len(top) - 1) // 2),
    }
    # linear superposition (the BOWS paper's central claim): W's row space against the data's top-m
    # principal subspace (covariance of the word indicators over all samples), with its null m/V
    m = int(W.shape[0])
    if m < V:
        cov = covariance_from_correlation(corr, freq)
        summary["linear_superposition"] = {
            "overlap_with_top_m_principal_subspace": subspace_overlap(W, principal_subspace(cov, m)),
            "null_random_subspace": m / V,
            "m": m,
            "V": V,
            "definition": "‖U_mᵀQ‖²_F / m, Q an orthonormal basis of W's row space, U_m the top-m "
            "eigenvectors of the word indicators' covariance",
        }
    iu = np.triu_indices(len(top), k=1)
    pick = rng.choice(iu[0].size, min(iu[0].size, 20000), replace=False)
    figures["similarity"] = {"corr": corr[np.ix_(top, top)][iu][pick], "cos": cos[np.ix_(top, top)][iu][pick]}

    # 2. constructive interference (exact where the middle block is the identity, as in tied_ae: z = WᵀW x + b)
    val = _val_rows(bows_group, rng)
    if model.middle_is_identity and model.tied:
        summary["interference"], figures["interference"] = _interference(
            W, b, corr, bows_group, val, index, options, rng
        )
    else:
        summary["interference"] = {"skipped": f"z is not WᵀWx + b for {arch}: the decomposition applies to tied_ae"}

    # 3. linear and non-linear superposition: per-word R² against the one-hot R²
    ev = evaluate(model, bows, loss="mse", batch_size=options.batch_size, split="val", device="cpu")
    val_freq = ev.frequency
    r2_alone = one_hot_r2(W, b, val_freq, relu=model.output == "relu")
    ok = np.isfinite(ev.r2_per_word) & np.isfinite(r2_alone)
    gain = ev.r2_per_word - r2_alone
    summary["superposition"] = {
        "r2_margin": options.r2_margin,
        "n_words": int(ok.sum()),
        "n_nonlinear": int((gain[ok] > options.r2_margin).sum()),
        "n_linear": int((gain[ok] <= options.r2_margin).sum()),
        "median_r2": float(np.median(ev.r2_per_word[ok])) if ok.any() else None,
        "median_one_hot_r2": float(np.median(r2_alone[ok])) if ok.any() else None,
        "definition": "non-linear: validation R² exceeds the one-hot R² (the word reconstructed alone) by more than r2_margin",
    }
    figures["r2"] = {"frequency": val_freq[ok], "r2": ev.r2_per_word[ok], "one_hot": r2_alone[ok]}

    # 4. cycles
    cycles = {"features": [f"f{i}" for i in range(V)]} if synthetic else (options.cycles or DEFAULT_CYCLES)
    summary["cycles"], figures["cycles"] = {}, {}
    for name, group in cycles.items():
        ids = [index[w] for w in group if w in index]
        if len(ids) < 3:
            continue
        xy = pca_2d(W[:, ids].T)
        summary["cycles"][name] = {
            "n_words": len(ids),
            "cyclic_order_recovered": cyclic_order_recovered(xy),
            "circularity": circularity(xy),
            "structure_measure": structure_measure(W[:, ids]),
        }
        figures["cycles"][name] = {"xy": xy, "labels": [words[i] for i in ids]}

    # 5. semantic clusters
    labelled, labels, names = [], [], []
    for k, (name, group) in enumerate(sorted((options.categories or DEFAULT_CATEGORIES).items())):
        ids = [index[w] for w in group if w in index]
        labelled += ids
        labels += [k] * len(ids)
        names.append(name)
    labels = np.array(labels)
    summary["clusters"] = {
        "categories": names,
        "n_words": len(labelled),
        "silhouette_cosine": silhouette_cosine(W[:, labelled], labels) if labelled else None,
    }
    figures["map"] = {
        "xy": pca_2d(W.T),
        "labelled": np.array(labelled, dtype=int),
        "labels": labels,
        "names": names,
        "umap": umap_2d(W.T, options.seed),
    }
    summary["clusters"]["umap"] = figures["map"]["umap"] is not None

    # 6. synthetic regimes
    if synthetic:
        G = W.T @ W / np.sum(W * W)
        summary["synthetic"] = synthetic_regime(W)
        figures["synthetic"] = {"gram": G, "covariance": corr}
    return summary, figures


def _interference(W, b, corr, bows_group, val, index, options, rng):
    bows = bows_group["bows"]
    X = np.asarray(bows.get_orthogonal_selection((val, slice(None)))) if val.size else np.zeros((0, W.shape[1]), bool)
    if X.shape[0] > options.max_contexts * 4:
        X = X[np.sort(rng.choice(X.shape[0], options.max_contexts * 4, replace=False))]
    out, fig = {}, {}
    for word in options.targets:
        if word not in index:
            continue
        v = index[word]
        g = W.T @ W[:, v]  # ⟨W_j, W_v⟩ for every j
        self_term, bias = float(g[v]), float(b[v])
        ctx = X[X[:, v]][: options.max_contexts]
        if ctx.shape[0] == 0:
            continue
        interf = ctx @ g - self_term  # Σ_{j ∈ S, j ≠ v} ⟨W_v, W_j⟩
        z_ctx, z_alone = self_term + interf + bias, self_term + bias
        helps = np.abs(np.maximum(z_ctx, 0) - 1) < abs(max(z_alone, 0) - 1)
        corr_v = corr[v].copy()
        corr_v[v] = -np.inf
        partners = np.argsort(-corr_v)[: options.n_partners]
        without = X[(~X[:, v]) & X[:, partners].any(axis=1)][: options.max_contexts]
        z_without = without @ g + bias
        out[word] = {
            "n_contexts": int(ctx.shape[0]),
            "self_term": self_term,
            "bias": bias,
            "interference_mean": float(interf.mean()),
            "fraction_interference_helps": float(helps.mean()),
            "partners": [str(bows_group["word"][int(p)]) for p in partners],
            "n_partner_contexts_without_target": int(without.shape[0]),
            "fraction_false_positive_avoided": float(np.mean(np.maximum(z_without, 0) < 0.5))
            if without.shape[0]
            else None,
        }
        fig[word] = interf
    helps = [o["fraction_interference_helps"] for o in out.values()]
    n_ctx = [o["n_contexts"] for o in out.values()]
    return {
        "targets": out,
        "mean_fraction_helps": float(np.mean(helps)) if helps else None,  # an unweighted mean over targets
        "n_targets": len(helps),
        "pooled_fraction_helps": float(np.dot(helps, n_ctx) / sum(n_ctx)) if helps else None,
        "n_contexts": int(sum(n_ctx)),
        "note": "per target: fraction over its n_contexts; the claims scorecard tests the claim on targets "
        "chosen from the data (claims.min_contexts), with an interval",
    }, fig


SUMMARY_COLUMNS = [
    "model",
    "corpus",
    "arch",
    "d_latent",
    "weight_decay",
    "spearman_all_pairs",
    "spearman_top_k",
    "interference_helps",
    "months_cyclic_order",
    "months_circularity",
    "months_structure",
    "cycle_group",
    "silhouette_cosine",
    "n_linear",
    "n_nonlinear",
    "synthetic_regime",
]


def summary_rows(entries) -> list[dict]:
    """One row per model from (name, geometry.json, config.json)."""
    rows = []
    for name, s, cfg in entries:
        cycles = s.get("cycles", {})
        group = "months" if "months" in cycles else (next(iter(cycles), None))
        c = cycles.get(group, {}) if group else {}
        rows.append(
            {
                "model": name,
                "corpus": cfg["corpus"],
                "arch": s["arch"],
                "d_latent": s["d_latent"],
                "weight_decay": cfg["weight_decay"],
                "spearman_all_pairs": s["correlation_vs_geometry"]["spearman_all_pairs"],
                "spearman_top_k": s["correlation_vs_geometry"]["spearman_top_k"],
                "interference_helps": s["interference"].get("mean_fraction_helps", ""),
                "months_cyclic_order": c.get("cyclic_order_recovered", ""),
                "months_circularity": c.get("circularity", ""),
                "months_structure": c.get("structure_measure", ""),
                "cycle_group": group or "",
                "silhouette_cosine": s["clusters"].get("silhouette_cosine", ""),
                "n_linear": s["superposition"]["n_linear"],
                "n_nonlinear": s["superposition"]["n_nonlinear"],
                "synthetic_regime": s.get("synthetic", {}).get("regime", ""),
            }
        )
    rows.sort(key=lambda r: (r["corpus"], r["arch"], r["d_latent"], r["weight_decay"], r["model"]))
    return rows


def write_summary_table(rows: list[dict], path) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, SUMMARY_COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
