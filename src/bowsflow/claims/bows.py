"""The BOWS paper's claims (Prieto et al.): linear superposition, constructive interference, geometry
that follows co-activation, cycles and semantic clusters.

Feature directions are the columns of W (tied_ae) or W_e (relu_mlp, bilinear): word v's direction is
W[:, v]. Models of synthetic corpora are left out (their "words" have no meaning to test).
"""

from __future__ import annotations

import numpy as np

from bowsflow.claims.registry import ClaimOptions, Evidence, NotTestable, claim
from bowsflow.claims.run import RunData, describe
from bowsflow.claims.stats import (
    bootstrap_interval,
    percentile_interval,
    permutation_p_value,
    spearman,
    welch_interval,
)
from bowsflow.data.word_lists import MONTHS, PLANETS, TOPICS, WEEKDAYS
from bowsflow.lenses.geometry.measures import circularity, cosine_matrix, cyclic_order_recovered, pca_2d

PAPER = "Prieto et al., BOWS (correlations and feature geometry)"
CYCLES = {"months": MONTHS, "weekdays": WEEKDAYS}
CATEGORIES = {"months": MONTHS, "weekdays": WEEKDAYS, "planets": PLANETS, **TOPICS}


# --- data shared by the claims ------------------------------------------------------------------------
def embedding(run: RunData, model: str) -> np.ndarray:
    """[m, V] float64 feature directions of a model (W or W_e), read from its checkpoint (once)."""
    key = ("embedding", model)
    if key not in run.cache:
        from bowsflow.models.checkpoints import load_model

        net, _ = load_model(run.checkpoint(model))
        run.cache[key] = net.embedding.detach().double().numpy()
    return run.cache[key]


def corpus_words(run: RunData, corpus: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(words, correlation [V, V] float64, frequency [V]) of a corpus, from its correlation store (read once)."""
    key = ("corpus_words", corpus)
    if key not in run.cache:
        import xarray as xr

        ds = xr.open_zarr(run.correlations_path(corpus))
        run.cache[key] = (
            _words(run, corpus),
            ds["correlation"].values.astype(np.float64),
            ds["frequency"].values.astype(np.float64),
        )
    return run.cache[key]


def principal_axes(run: RunData, corpus: str) -> np.ndarray:
    """[V, V] eigenvectors of the corpus' word-indicator covariance, by descending eigenvalue (float64;
    computed once per corpus)."""
    key = ("principal_axes", corpus)
    if key not in run.cache:
        from bowsflow.lenses.geometry.measures import covariance_from_correlation
        from bowsflow.linalg import sorted_eigh

        _, corr, freq = corpus_words(run, corpus)
        run.cache[key] = sorted_eigh(covariance_from_correlation(corr, freq), "descending")[1]
    return run.cache[key]


def overlap(run: RunData, model: str) -> tuple[float, float]:
    """(overlap ‖U_mᵀQ‖²_F/m of the model's row space with the data's top-m principal subspace, its null
    m/V), from the checkpoint and the corpus' correlation store (the geometry lens reports the same)."""
    from bowsflow.lenses.geometry.measures import subspace_overlap

    W = embedding(run, model)
    m, V = W.shape
    if m >= V:
        raise NotTestable(f"{model}: m = {m} is not below V = {V}, every subspace overlaps fully")
    return subspace_overlap(W, principal_axes(run, run.specs[model]["corpus"])[:, :m]), m / V


def _arms(group: dict) -> tuple:
    values = sorted(group)
    return values[-1], values[0]


def _seed_comparison(run, group, key, value) -> list[Evidence]:
    """Welch comparison, over seeds, of ``value(model)`` between the highest and the lowest ``key``."""
    hi, lo = _arms(group)
    a = np.array([value(m) for m in group[hi]])
    b = np.array([value(m) for m in group[lo]])
    ev = Evidence(
        compared=f"{key}={hi:g} [{describe(group[hi])}] vs {key}={lo:g} [{describe(group[lo])}]",
        effect=float(a.mean() - b.mean()),
        null=0.0,
        n=int(min(a.size, b.size)),
        interval=welch_interval(a, b),
        details={
            "high": {
                "value": hi,
                "models": group[hi],
                "metric": a.tolist(),
                "sd": float(a.std(ddof=1)) if a.size > 1 else None,
            },
            "low": {
                "value": lo,
                "models": group[lo],
                "metric": b.tolist(),
                "sd": float(b.std(ddof=1)) if b.size > 1 else None,
            },
            "interval_method": "Welch t over seeds",
        },
    )
    return [ev]


@claim(
    "bows.linear_superposition.weight_decay",
    paper=PAPER,
    statement="With weight decay the autoencoder encodes the data's low-rank structure: W's row space lies closer "
    "to the data's top-m principal subspace.",
    compares="models that differ only in weight decay (seeds are replicates)",
    metric="subspace overlap ‖U_mᵀQ‖²_F/m, highest minus lowest weight decay",
    direction="greater",
    min_n=3,
    n_counts="seeds per arm",
)
def linear_superposition_weight_decay(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    groups = run.differing_only_in("weight_decay", run.select(names))
    if not groups:
        raise NotTestable("the config has no text-corpus models that differ only in weight_decay")
    out = []
    for g in groups:
        for ev in _seed_comparison(run, g, "weight_decay", lambda m: overlap(run, m)[0]):
            ev.ceiling = 1.0 - float(np.mean(ev.details["low"]["metric"]))  # the overlap cannot exceed 1
            ev.details["null_random_subspace"] = overlap(run, g[_arms(g)[0]][0])[1]
            out.append(ev)
    return out


@claim(
    "bows.linear_superposition.bottleneck",
    paper=PAPER,
    statement="A tighter bottleneck makes the encoding more PCA-like: the overlap in excess of its random null "
    "m/V is larger at smaller m.",
    compares="models that differ only in d_latent (seeds are replicates)",
    metric="excess overlap (‖U_mᵀQ‖²_F/m − m/V), smallest minus largest m",
    direction="greater",
    min_n=3,
    n_counts="seeds per arm",
)
def linear_superposition_bottleneck(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    groups = run.differing_only_in("d_latent", run.select(names))
    if not groups:
        raise NotTestable("the config has no text-corpus models that differ only in d_latent")
    out = []
    for g in groups:

        def excess(m):
            o, null = overlap(run, m)
            return o - null

        hi, lo = _arms(g)
        for ev in _seed_comparison(run, {-hi: g[hi], -lo: g[lo]}, "d_latent", excess):
            # the arms are keyed by −m so that the "high" arm is the smaller m
            ev.compared = f"d_latent={lo} [{describe(g[lo])}] vs d_latent={hi} [{describe(g[hi])}]"
            ev.details["high"]["value"], ev.details["low"]["value"] = lo, hi
            out.append(ev)
    return out


# --- constructive interference --------------------------------------------------------------------------
def validation_contexts(run: RunData, corpus: str, min_contexts: int, n_targets: int, max_per_target: int = 2000):
    """Target words chosen from the data and their validation contexts.

    Targets: ``n_targets`` words spread evenly over the frequency ranks of the words with at least
    ``min_contexts`` validation contexts (deterministic). Returns (targets [k], context_target [n]
    (index into targets), contexts: a CSR matrix [n, V] of the contexts' words). Two passes over the
    store, a chunk at a time; at most ``max_per_target`` contexts are kept per target."""
    import scipy.sparse as sp
    import zarr

    group = zarr.open_group(str(run.bows_path(corpus)), mode="r")
    bows, split = group["bows"], np.asarray(group["split"][:]) == "val"
    step = int(bows.chunks[0])
    counts = np.zeros(bows.shape[1], dtype=np.int64)
    for lo in range(0, bows.shape[0], step):
        rows = np.flatnonzero(split[lo : lo + step])
        if rows.size:
            counts += np.asarray(bows[lo : lo + step])[rows].sum(axis=0)
    eligible = np.flatnonzero(counts >= min_contexts)
    if eligible.size == 0:
        return np.zeros(0, int), np.zeros(0, int), sp.csr_matrix((0, bows.shape[1])), counts
    ranked = eligible[np.argsort(-counts[eligible], kind="stable")]
    pick = np.unique(np.linspace(0, ranked.size - 1, min(n_targets, ranked.size)).round().astype(int))
    targets = ranked[pick]
    blocks, owner, kept = [], [], np.zeros(targets.size, dtype=np.int64)
    for lo in range(0, bows.shape[0], step):
        rows = np.flatnonzero(split[lo : lo + step])
        if not rows.size:
            continue
        X = np.asarray(bows[lo : lo + step])[rows]
        for t, v in enumerate(targets):
            hit = np.flatnonzero(X[:, v])[: max(0, max_per_target - kept[t])]
            kept[t] += hit.size
            blocks.append(sp.csr_matrix(X[hit]))
            owner.append(np.full(hit.size, t))
    return targets, np.concatenate(owner), sp.vstack(blocks).tocsr(), counts


def interference_helps(W: np.ndarray, b: np.ndarray, targets, owner, contexts, relu: bool = True) -> np.ndarray:
    """[n] bool: whether the interference term Σ_{j∈S, j≠v} ⟨W_v, W_j⟩ brings target v's reconstruction in
    its context S closer to 1 than the word alone would be: |act(z_S) − 1| < |act(‖W_v‖² + b_v) − 1|,
    with z_S = ‖W_v‖² + interference + b_v = (WᵀW x + b)_v (exact for tied_ae)."""
    act = (lambda z: np.maximum(z, 0)) if relu else (lambda z: z)
    G = W.T @ W[:, targets]  # [V, k]: ⟨W_j, W_v⟩
    z_ctx = np.asarray(contexts @ G)[np.arange(owner.size), owner] + b[targets][owner]
    z_alone = (G[targets, np.arange(targets.size)] + b[targets])[owner]
    return np.abs(act(z_ctx) - 1) < np.abs(act(z_alone) - 1)


@claim(
    "bows.constructive_interference.weight_decay",
    paper=PAPER,
    statement="Constructive interference is more prevalent with weight decay: in more contexts, the other words' "
    "interference brings a word's reconstruction closer to 1.",
    compares="tied_ae models that differ only in weight decay, on the same validation contexts",
    metric="share of contexts where interference helps, highest minus lowest weight decay (paired over contexts)",
    direction="greater",
    min_n=200,
    n_counts="contexts",
)
def constructive_interference(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    from bowsflow.models.checkpoints import load_model

    groups = run.differing_only_in("weight_decay", run.select(names, arch="tied_ae"))
    if not groups:
        raise NotTestable("the config has no tied_ae models on a text corpus that differ only in weight_decay")
    out = []
    for g in groups:
        hi, lo = _arms(g)
        corpus = run.specs[g[hi][0]]["corpus"]
        targets, owner, contexts, counts = validation_contexts(run, corpus, options.min_contexts, options.n_targets)

        def share(models):
            rows = []
            for m in models:
                net, _ = load_model(run.checkpoint(m))
                W, b = net.embedding.detach().double().numpy(), net.b.detach().double().numpy()
                rows.append(interference_helps(W, b, targets, owner, contexts, relu=net.output == "relu"))
            return np.mean(rows, axis=0)

        if targets.size == 0:
            out.append(
                Evidence(
                    compared=f"weight_decay={hi:g} vs {lo:g} on {corpus}",
                    effect=float("nan"),
                    null=0.0,
                    n=0,
                    details={"reason": f"no word has {options.min_contexts} validation contexts"},
                )
            )
            continue
        a, c = share(g[hi]), share(g[lo])
        d = a - c
        words = _words(run, corpus)
        out.append(
            Evidence(
                compared=f"weight_decay={hi:g} [{describe(g[hi])}] vs {lo:g} [{describe(g[lo])}]",
                effect=float(d.mean()),
                null=0.0,
                n=int(d.size),
                interval=bootstrap_interval(
                    d, n_resamples=options.n_resamples, confidence=options.confidence, seed=options.seed
                ),
                ceiling=float(1.0 - c.mean()),
                details={
                    "targets": [words[v] for v in targets],
                    "validation_contexts_per_target": [int(counts[v]) for v in targets],
                    "contexts_used": int(d.size),
                    "share_high": float(a.mean()),
                    "share_high_interval": bootstrap_interval(a, n_resamples=options.n_resamples, seed=options.seed),
                    "share_low": float(c.mean()),
                    "share_low_interval": bootstrap_interval(c, n_resamples=options.n_resamples, seed=options.seed),
                    "interval_method": "percentile bootstrap over contexts (paired)",
                },
            )
        )
    return out


def _words(run: RunData, corpus: str) -> list[str]:
    """The corpus' vocabulary in id order, from its BOWS store (read once per run)."""
    key = ("words", corpus)
    if key not in run.cache:
        import zarr

        group = zarr.open_group(str(run.bows_path(corpus)), mode="r")
        run.cache[key] = [str(w) for w in np.asarray(group["word"][:])]
    return run.cache[key]


# --- geometry follows co-activation ---------------------------------------------------------------------
def pairwise_spearman_resamples(
    cos_list: list[np.ndarray], corr: np.ndarray, n_resamples: int, seed: int
) -> np.ndarray:
    """[B] bootstrap over words of the Spearman between feature cosine (averaged over the models) and word
    correlation over word pairs: each resample draws the words with replacement and takes the pairs of
    distinct draws. The pairs keep their ranks over all pairs (ranked once; the correlation of those ranks
    on the resampled pairs), which on the full set is exactly Spearman's and saves a sort per resample."""
    from scipy.stats import rankdata

    k = corr.shape[0]
    iu = np.triu_indices(k, 1)

    def rank_matrix(S):
        R = np.zeros((k, k))
        R[iu] = rankdata(S[iu])
        return R + R.T

    r_corr = rank_matrix(corr)
    r_cos = [rank_matrix(c) for c in cos_list]
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = rng.integers(0, k, k)
        i, j = idx[iu[0]], idx[iu[1]]
        keep = i != j
        i, j = i[keep], j[keep]
        b = r_corr[i, j]
        out[r] = np.mean([np.corrcoef(rc[i, j], b)[0, 1] for rc in r_cos])
    return out


@claim(
    "bows.geometry_follows_coactivation",
    paper=PAPER,
    statement="Feature geometry follows co-activation: words that co-occur more get more similar directions.",
    compares="each model configuration (seeds averaged), over the most frequent words",
    metric="Spearman between feature cosine and word correlation over word pairs",
    direction="greater",
    min_n=30,
    n_counts="words",
)
def geometry_follows_coactivation(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    out = []
    for models in run.replicates(run.select(names)):
        corpus = run.specs[models[0]]["corpus"]
        words, corr, freq = corpus_words(run, corpus)
        top = np.sort(np.argsort(-freq, kind="stable")[: options.n_words])
        c = corr[np.ix_(top, top)]
        cos = [cosine_matrix(embedding(run, m)[:, top]) for m in models]
        i, j = np.triu_indices(top.size, 1)
        rho = float(np.mean([spearman(x[i, j], c[i, j]) for x in cos]))
        boot = pairwise_spearman_resamples(cos, c, max(200, options.n_resamples // 4), options.seed)
        out.append(
            Evidence(
                compared=describe(models),
                effect=rho,
                null=0.0,
                n=int(top.size),
                interval=percentile_interval(boot, options.confidence),
                ceiling=1.0,
                details={
                    "n_pairs": int(i.size),
                    "n_models": len(models),
                    "interval_method": "percentile bootstrap over words",
                },
            )
        )
    if not out:
        raise NotTestable("the config has no models on a text corpus")
    return out


# --- cycles ----------------------------------------------------------------------------------------------
def cyclic_contrast(S: np.ndarray) -> float:
    """Mean of a symmetric [k, k] similarity at cyclic distance 1 minus its mean at cyclic distance ≥ 2:
    positive when cyclic neighbours are more alike than the rest (a cycle)."""
    k = S.shape[0]
    i, j = np.triu_indices(k, 1)
    dist = np.minimum(j - i, k - (j - i))
    return float(S[i, j][dist == 1].mean() - S[i, j][dist >= 2].mean())


def data_cycle_test(C: np.ndarray, n_permutations: int, seed: int) -> tuple[float, float]:
    """(cyclic contrast of the data's correlation submatrix C [k, k] in calendar order, its one-sided
    permutation p-value over seeded relabellings of the order)."""
    rng = np.random.default_rng(seed)
    observed = cyclic_contrast(C)
    null = np.array(
        [cyclic_contrast(C[np.ix_(p, p)]) for p in (rng.permutation(C.shape[0]) for _ in range(n_permutations))]
    )
    return observed, permutation_p_value(observed, null)


def random_direction_circularity(m: int, k: int, n_models: int, n_draws: int, seed: int) -> np.ndarray:
    """[n_draws] circularity of k random Gaussian directions in ℝᵐ (averaged over ``n_models`` draws,
    like a model configuration's seeds): the null of :func:`circularity`."""
    rng = np.random.default_rng(seed)
    return np.array(
        [np.mean([circularity(pca_2d(rng.standard_normal((k, m)))) for _ in range(n_models)]) for _ in range(n_draws)]
    )


@claim(
    "bows.cycles",
    paper=PAPER,
    statement="Cyclic concepts (months, weekdays) are arranged on a cycle in the model, in their order.",
    compares="each model configuration (seeds averaged) and each cycle word list",
    metric="circularity of the words' directions in calendar order (2-D PCA; 1 = a regular polygon in order)",
    direction="greater",
    min_n=5,
    n_counts="cycle words",
)
def cycles(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    out = []
    for models in run.replicates(run.select(names)):
        corpus = run.specs[models[0]]["corpus"]
        words, corr, _ = corpus_words(run, corpus)
        index = {w: i for i, w in enumerate(words)}
        Ws = [embedding(run, m) for m in models]
        for name, group in CYCLES.items():
            ids = [index[w] for w in group if w in index]
            if len(ids) < 3:
                continue
            C = corr[np.ix_(ids, ids)]
            contrast, p_data = data_cycle_test(C, options.n_permutations, options.seed)
            ceiling = circularity(pca_2d(C))
            model_circ = np.array([circularity(pca_2d(W[:, ids].T)) for W in Ws])
            null = random_direction_circularity(
                Ws[0].shape[0], len(ids), len(Ws), options.n_permutations // 4, options.seed
            )
            ev = Evidence(
                compared=f"{name} in {describe(models)}",
                effect=float(model_circ.mean()),
                null=float(null.mean()),
                n=len(ids),
                ceiling=float(ceiling),
                p_value=permutation_p_value(float(model_circ.mean()), null),
                details={
                    "words": [words[i] for i in ids],
                    "data_cyclic_contrast": contrast,
                    "data_cycle_p_value": p_data,
                    "data_circularity": float(ceiling),
                    "model_circularity": model_circ.tolist(),
                    "model_cyclic_order_recovered": [cyclic_order_recovered(pca_2d(W[:, ids].T)) for W in Ws],
                    "model_cyclic_contrast": [cyclic_contrast(cosine_matrix(W[:, ids])) for W in Ws],
                    "null": "circularity of random Gaussian directions (same m, same number of words and models)",
                },
            )
            if p_data >= options.alpha:
                ev.not_testable = (
                    f"the corpus has no significant {name} cycle (cyclic neighbours' correlation minus the rest "
                    f"{contrast:.3g}, permutation p = {p_data:.3g})"
                )
            out.append(ev)
    if not out:
        raise NotTestable("no model on a text corpus has three or more words of a cycle list in its vocabulary")
    return out


# --- semantic clusters ------------------------------------------------------------------------------------
def silhouette_from_distance(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette over points (0 for a point alone in its label), from a distance matrix."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(D, labels, metric="precomputed"))


@claim(
    "bows.semantic_clusters",
    paper=PAPER,
    statement="Words of one semantic category get directions that cluster together.",
    compares="each model configuration (seeds averaged), over the built-in category word lists",
    metric="silhouette of the category words' directions on cosine distance",
    direction="greater",
    min_n=10,
    n_counts="category words",
)
def semantic_clusters(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    out = []
    for models in run.replicates(run.select(names)):
        corpus = run.specs[models[0]]["corpus"]
        index = {w: i for i, w in enumerate(_words(run, corpus))}
        ids, labels = [], []
        for k, (_, group) in enumerate(sorted(CATEGORIES.items())):
            present = [index[w] for w in group if w in index]
            ids += present
            labels += [k] * len(present)
        labels = np.array(labels)
        if np.unique(labels).size < 2:
            continue
        Ds = [np.clip(1 - cosine_matrix(embedding(run, m)[:, ids]), 0, None) for m in models]
        for D in Ds:
            np.fill_diagonal(D, 0.0)
        observed = float(np.mean([silhouette_from_distance(D, labels) for D in Ds]))
        rng = np.random.default_rng(options.seed)
        null = np.array(
            [
                np.mean([silhouette_from_distance(D, p) for D in Ds])
                for p in (rng.permutation(labels) for _ in range(options.n_permutations // 4))
            ]
        )
        out.append(
            Evidence(
                compared=describe(models),
                effect=observed,
                null=float(null.mean()),
                n=len(ids),
                ceiling=1.0,
                p_value=permutation_p_value(observed, null),
                details={
                    "n_categories": int(np.unique(labels).size),
                    "n_permutations": int(null.size),
                    "null": "shuffled category labels",
                },
            )
        )
    if not out:
        raise NotTestable("no model on a text corpus has words of two categories in its vocabulary")
    return out
