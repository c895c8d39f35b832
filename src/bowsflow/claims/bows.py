"""The BOWS paper's claims (Prieto et al.): linear superposition, constructive interference, geometry that
follows co-activation, cycles, semantic clusters, and the output ReLU that filters interference.

Feature directions are the columns of W (tied_ae) or W_e (relu_mlp, bilinear): word v's direction is
W[:, v]. Models of synthetic corpora are left out (their "words" have no meaning to test). Each claim is
I/O (reading the run) around a pure measure over arrays (``*_evidence``); its controls feed that same
measure a planted corpus (:mod:`bowsflow.claims.controls`) where the claim holds by construction, and the
same corpus with its tokens shuffled across windows (or another case) where it cannot. Comparisons across
a setting (weight decay, d_latent, the output ReLU) replicate over seeds: one value per trained model,
Welch's t over the seeds of the two arms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bowsflow.claims import controls as planted
from bowsflow.claims.registry import ClaimOptions, Evidence, NotTestable, claim, control
from bowsflow.claims.run import RunData, describe
from bowsflow.claims.stats import (
    percentile_interval,
    permutation_p_value,
    resampled_p_value,
    silhouette_scores,
    spearman,
    welch_test,
)
from bowsflow.data.word_lists import MONTHS, PLANETS, TOPICS, WEEKDAYS
from bowsflow.lenses.geometry.measures import cosine_matrix, pca_2d, subspace_overlap
from bowsflow.store.checked import open_dataset, open_group

PAPER = "Prieto et al., BOWS (correlations and feature geometry)"
CYCLES = {"months": MONTHS, "weekdays": WEEKDAYS}
CATEGORIES = {"months": MONTHS, "weekdays": WEEKDAYS, "planets": PLANETS, **TOPICS}
CONTROL_SEEDS = (0, 1, 2)  # the controls' replicates: three seeds per arm, like the default run


# --- what the claims read ---------------------------------------------------------------------------------
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
        ds = open_dataset(run.correlations_path(corpus))
        run.cache[key] = (
            _words(run, corpus),
            ds["correlation"].values.astype(np.float64),
            ds["frequency"].values.astype(np.float64),
        )
    return run.cache[key]


def _words(run: RunData, corpus: str) -> list[str]:
    """The corpus' vocabulary in id order, from its BOWS store (read once per run)."""
    key = ("words", corpus)
    if key not in run.cache:
        group = open_group(run.bows_path(corpus))
        run.cache[key] = [str(w) for w in np.asarray(group["word"][:])]
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


class StoreWindows:
    """The validation windows of a BOWS store, read a chunk at a time (memory: one chunk)."""

    def __init__(self, path):

        group = open_group(path)
        self.bows = group["bows"]
        self.val = np.flatnonzero(np.asarray(group["split"][:]) == "val")
        self.V = int(self.bows.shape[1])

    def blocks(self):
        """(store rows, bool [rows, V]) of the validation windows, chunk by chunk."""
        step = int(self.bows.chunks[0])
        for lo in range(0, int(self.bows.shape[0]), step):
            rows = self.val[(self.val >= lo) & (self.val < lo + step)]
            if rows.size:
                yield rows, np.asarray(self.bows[lo : lo + step])[rows - lo]

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """bool [len(rows), V] of the given (sorted, unique) store rows."""
        return np.asarray(self.bows.get_orthogonal_selection((rows, slice(None))))


class ArrayWindows:
    """Validation windows held in memory (the controls' planted corpora), read like :class:`StoreWindows`."""

    def __init__(self, X: np.ndarray):
        self.X = np.asarray(X, dtype=bool)
        self.val = np.arange(self.X.shape[0])
        self.V = int(self.X.shape[1])

    def blocks(self):
        yield self.val, self.X

    def rows(self, rows: np.ndarray) -> np.ndarray:
        return self.X[rows]


def validation_windows(run: RunData, corpus: str) -> StoreWindows:
    key = ("validation_windows", corpus)
    if key not in run.cache:
        run.cache[key] = StoreWindows(run.bows_path(corpus))
    return run.cache[key]


def heldout_correlation(windows, ids: np.ndarray) -> tuple[np.ndarray, int]:
    """(Pearson correlation [k, k] of the words ``ids`` over the validation windows, their number): the
    co-activation the models never trained on, so that sampling noise of the training windows, which a
    model fits, cannot pass for structure."""
    from bowsflow.data.correlations import correlation_from_moments

    gram = np.zeros((ids.size, ids.size))
    sums = np.zeros(ids.size)
    n = 0
    for _, block in windows.blocks():
        x = block[:, ids].astype(np.float64)
        gram += x.T @ x
        sums += x.sum(axis=0)
        n += x.shape[0]
    return correlation_from_moments(gram, sums, max(n, 1)), n


# --- one value per model, compared over seeds ---------------------------------------------------------------
def _arms(group: dict) -> tuple:
    values = sorted(group)
    return values[-1], values[0]


def seed_contrast(
    high: np.ndarray, low: np.ndarray, compared: str, options: ClaimOptions, details: dict | None = None
) -> Evidence:
    """Evidence that a per-model value is larger in the ``high`` arm than in the ``low`` one: the
    difference of the means, Welch's t interval and one-sided p-value over the models (seeds) of the two
    arms; n = the smaller arm. No spread within both arms (or a single seed) leaves no interval:
    underpowered."""
    high, low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    interval, p = welch_test(high, low, 0.0, options.confidence)
    return Evidence(
        compared=compared,
        effect=float(high.mean() - low.mean()),
        null=0.0,
        n=int(min(high.size, low.size)),
        interval=interval,
        p_value=p,
        details={
            "high": {"metric": high.tolist(), "sd": float(high.std(ddof=1)) if high.size > 1 else None},
            "low": {"metric": low.tolist(), "sd": float(low.std(ddof=1)) if low.size > 1 else None},
            "interval_method": "Welch t over seeds",
        }
        | (details or {}),
    )


def seed_mean(values: np.ndarray, compared: str, options: ClaimOptions, details: dict | None = None) -> Evidence:
    """Evidence that a per-model value is above 0 for a configuration: its mean over the seeds, with the
    t interval and one-sided p-value over them; n = seeds (one seed, or no spread: no interval)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    interval, p = (float("nan"), float("nan")), float("nan")
    sd = x.std(ddof=1) if x.size > 1 else 0.0
    if x.size > 1 and sd > 1e-12 * max(abs(x.mean()), np.finfo(float).tiny):
        se = sd / np.sqrt(x.size)
        t = stats.t.ppf(0.5 + options.confidence / 2, x.size - 1)
        interval = (float(x.mean() - t * se), float(x.mean() + t * se))
        p = float(stats.t.sf(x.mean() / se, x.size - 1))
    return Evidence(
        compared=compared,
        effect=float(x.mean()),
        null=0.0,
        n=int(x.size),
        interval=interval,
        p_value=p,
        details={"per_seed": x.tolist(), "interval_method": "t over seeds"} | (details or {}),
    )


def _group_contrast(run, group: dict, key: str, value, options, label=None) -> Evidence:
    """:func:`seed_contrast` of ``value(model)`` between the highest and the lowest ``key`` of a group."""
    hi, lo = _arms(group)
    a = np.array([value(m) for m in group[hi]])
    b = np.array([value(m) for m in group[lo]])
    ev = seed_contrast(a, b, f"{key}={hi:g} [{describe(group[hi])}] vs {key}={lo:g} [{describe(group[lo])}]", options)
    ev.details["high"] |= {"value": hi, "models": group[hi]}
    ev.details["low"] |= {"value": lo, "models": group[lo]}
    return ev


# --- linear superposition ----------------------------------------------------------------------------------
def overlap_and_null(W: np.ndarray, axes: np.ndarray) -> tuple[float, float]:
    """(overlap ‖U_mᵀQ‖²_F/m of W's row space with the top-m principal subspace, its random null m/V)."""
    m, V = W.shape
    if m >= V:
        raise NotTestable(f"m = {m} is not below V = {V}: every subspace overlaps fully")
    return subspace_overlap(W, axes[:, :m]), m / V


def overlap(run: RunData, model: str) -> tuple[float, float]:
    """(overlap, null m/V) of a model, from its checkpoint and its corpus' correlation store."""
    return overlap_and_null(embedding(run, model), principal_axes(run, run.specs[model]["corpus"]))


def _wd_overlap_evidence(high: list, low: list, axes: np.ndarray, compared: str, options) -> Evidence:
    a = np.array([overlap_and_null(W, axes)[0] for W in high])
    b = np.array([overlap_and_null(W, axes)[0] for W in low])
    ev = seed_contrast(a, b, compared, options)
    ev.ceiling = 1.0 - float(b.mean())  # the overlap cannot exceed 1
    ev.details["null_random_subspace"] = overlap_and_null(high[0], axes)[1]
    return ev


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
        ev = _group_contrast(run, g, "weight_decay", lambda m: overlap(run, m)[0], options)
        ev.ceiling = 1.0 - float(np.mean(ev.details["low"]["metric"]))
        ev.details["null_random_subspace"] = overlap(run, g[_arms(g)[0]][0])[1]
        out.append(ev)
    return out


def _planted_axes(corpus: planted.PlantedCorpus) -> np.ndarray:
    from bowsflow.linalg import sorted_eigh

    return sorted_eigh(planted.covariance(corpus.X), "descending")[1]


@control(
    "bows.linear_superposition.weight_decay",
    "positive",
    "planted corpus: the high arm is its PCA model (with 10% noise), the low arm random directions",
)
def _lsw_positive(options: ClaimOptions) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed)
    W = planted.pca_model(corpus.X[corpus.train], 8)
    high = [planted.with_noise(W, 0.1, np.random.default_rng([options.seed, s])) for s in CONTROL_SEEDS]
    low = [planted.random_model(8, corpus.V, np.random.default_rng([options.seed, 10 + s])) for s in CONTROL_SEEDS]
    return [_wd_overlap_evidence(high, low, _planted_axes(corpus), "PCA model vs random", options)]


@control(
    "bows.linear_superposition.weight_decay",
    "negative",
    "planted corpus: random directions in both arms",
)
def _lsw_negative(options: ClaimOptions) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed)
    high, low = (
        [planted.random_model(8, corpus.V, np.random.default_rng([options.seed, k, s])) for s in CONTROL_SEEDS]
        for k in (20, 30)
    )
    return [_wd_overlap_evidence(high, low, _planted_axes(corpus), "random vs random", options)]


def _bottleneck_evidence(small: list, large: list, axes: np.ndarray, compared: str, options) -> Evidence:
    def excess(W):
        o, null = overlap_and_null(W, axes)
        return o - null

    return seed_contrast(np.array([excess(W) for W in small]), np.array([excess(W) for W in large]), compared, options)


@claim(
    "bows.linear_superposition.bottleneck",
    paper=PAPER,
    statement="A tighter bottleneck makes the encoding more PCA-like: the overlap in excess of its random null "
    "m/V is larger at smaller m.",
    compares="models that differ only in d_latent (seeds are replicates), at each weight decay the config has",
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
        large, small = _arms(g)
        corpus = run.specs[g[small][0]]["corpus"]
        axes = principal_axes(run, corpus)
        wd = run.specs[g[small][0]].get("weight_decay", 0.0)
        ev = _bottleneck_evidence(
            [embedding(run, m) for m in g[small]],
            [embedding(run, m) for m in g[large]],
            axes,
            f"d_latent={small} [{describe(g[small])}] vs d_latent={large} [{describe(g[large])}] at weight_decay={wd:g}",
            options,
        )
        ev.details["high"] |= {"value": small, "models": g[small]}
        ev.details["low"] |= {"value": large, "models": g[large]}
        out.append(ev)
    return out


@control(
    "bows.linear_superposition.bottleneck",
    "positive",
    "planted corpus: PCA model at m = 4 (10% noise) against random directions at m = 12",
)
def _bottleneck_positive(options: ClaimOptions) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed)
    W = planted.pca_model(corpus.X[corpus.train], 4)
    small = [planted.with_noise(W, 0.1, np.random.default_rng([options.seed, s])) for s in CONTROL_SEEDS]
    large = [planted.random_model(12, corpus.V, np.random.default_rng([options.seed, 10 + s])) for s in CONTROL_SEEDS]
    return [_bottleneck_evidence(small, large, _planted_axes(corpus), "PCA m=4 vs random m=12", options)]


@control("bows.linear_superposition.bottleneck", "negative", "planted corpus: random directions at m = 4 and m = 12")
def _bottleneck_negative(options: ClaimOptions) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed)
    small = [planted.random_model(4, corpus.V, np.random.default_rng([options.seed, 20, s])) for s in CONTROL_SEEDS]
    large = [planted.random_model(12, corpus.V, np.random.default_rng([options.seed, 30, s])) for s in CONTROL_SEEDS]
    return [_bottleneck_evidence(small, large, _planted_axes(corpus), "random m=4 vs random m=12", options)]


# --- constructive interference -----------------------------------------------------------------------------
@dataclass(frozen=True)
class InterferenceContexts:
    """The validation contexts of the interference claim: ``per_target`` contexts of each target word
    (so that every target weighs the same), and for each a *shuffled* context: the target kept, the other
    words taken from a random validation window that lacks it (the null: interference in a context that
    has nothing to do with the word). ``owner`` [n] indexes ``targets``; ``real`` and ``shuffled`` are
    CSR [n, V]; ``rows`` and ``donors`` are the windows they came from."""

    targets: np.ndarray
    owner: np.ndarray
    real: object
    shuffled: object
    rows: np.ndarray
    donors: np.ndarray
    per_target: int
    n_eligible: int

    @property
    def n_windows(self) -> int:
        return int(self.rows.size)

    @property
    def n_distinct_windows(self) -> int:
        return int(np.unique(self.rows).size)


def interference_contexts(windows, per_target: int, n_targets: int, seed: int) -> InterferenceContexts:
    """Targets and their contexts (see :class:`InterferenceContexts`). Targets: ``n_targets`` words spread
    evenly over the frequency ranks of the words in at least ``per_target`` validation windows; each gets
    ``per_target`` of its windows drawn at random (seeded). Memory: one chunk of windows and the chosen rows."""
    import scipy.sparse as sp

    counts = np.zeros(windows.V, dtype=np.int64)
    for _, block in windows.blocks():
        counts += block.sum(axis=0)
    eligible = np.flatnonzero(counts >= per_target)
    ranked = eligible[np.argsort(-counts[eligible], kind="stable")]
    pick = np.unique(np.linspace(0, ranked.size - 1, min(n_targets, ranked.size)).round().astype(int))
    targets = ranked[pick] if ranked.size else np.zeros(0, dtype=np.int64)
    holding: list[list[np.ndarray]] = [[] for _ in targets]
    for rows, block in windows.blocks():
        for t, v in enumerate(targets):
            holding[t].append(rows[block[:, v]])
    rng = np.random.default_rng([seed, 2])
    val = windows.val
    rows, donors, owner = [], [], []
    for t in range(targets.size):
        have = np.concatenate(holding[t])
        rows.append(np.sort(rng.choice(have, per_target, replace=False)))
        lacking = np.setdiff1d(val, have, assume_unique=True)
        donors.append(rng.choice(lacking, per_target, replace=lacking.size < per_target))
        owner.append(np.full(per_target, t))
    if not targets.size:
        empty = sp.csr_matrix((0, windows.V), dtype=bool)
        return InterferenceContexts(targets, np.zeros(0, int), empty, empty, np.zeros(0, int), np.zeros(0, int), 0, 0)
    rows, donors, owner = np.concatenate(rows), np.concatenate(donors), np.concatenate(owner)
    needed = np.unique(np.concatenate([rows, donors]))
    read = windows.rows(needed)
    at = {r: i for i, r in enumerate(needed.tolist())}
    real = read[[at[r] for r in rows.tolist()]]
    shuffled = read[[at[r] for r in donors.tolist()]].copy()
    shuffled[np.arange(owner.size), targets[owner]] = True
    return InterferenceContexts(
        targets, owner, sp.csr_matrix(real), sp.csr_matrix(shuffled), rows, donors, per_target, int(eligible.size)
    )


def interference_helps(W: np.ndarray, b: np.ndarray, targets, owner, contexts, relu: bool = True) -> np.ndarray:
    """[n] bool: whether the interference term Σ_{j∈S, j≠v} ⟨W_v, W_j⟩ brings target v's reconstruction in
    its context S closer to 1 than the word alone would be: |act(z_S) − 1| < |act(‖W_v‖² + b_v) − 1|,
    with z_S = ‖W_v‖² + interference + b_v = (WᵀW x + b)_v (exact for tied_ae)."""
    act = (lambda z: np.maximum(z, 0)) if relu else (lambda z: z)
    G = W.T @ W[:, targets]  # [V, k]: ⟨W_j, W_v⟩
    z_ctx = np.asarray(contexts @ G)[np.arange(owner.size), owner] + b[targets][owner]
    z_alone = (G[targets, np.arange(targets.size)] + b[targets])[owner]
    return np.abs(act(z_ctx) - 1) < np.abs(act(z_alone) - 1)


def interference_excess(W: np.ndarray, b: np.ndarray, relu: bool, ctx: InterferenceContexts) -> dict:
    """Share of real contexts where interference helps minus the share in the shuffled contexts, each
    target weighing the same (per-target shares averaged); with both shares per target."""
    k = ctx.targets.size
    real = interference_helps(W, b, ctx.targets, ctx.owner, ctx.real, relu)
    shuffled = interference_helps(W, b, ctx.targets, ctx.owner, ctx.shuffled, relu)
    per_real = np.bincount(ctx.owner, real, k) / ctx.per_target
    per_shuffled = np.bincount(ctx.owner, shuffled, k) / ctx.per_target
    return {
        "excess": float((per_real - per_shuffled).mean()),
        "share_real": float(per_real.mean()),
        "share_shuffled": float(per_shuffled.mean()),
    }


def interference_evidence(high: list, low: list, ctx: InterferenceContexts, compared: str, options) -> Evidence:
    """:func:`seed_contrast` of the interference excess over the shuffled-context null; ``high`` and
    ``low`` are lists of (W, b, relu), one per seed."""
    a = [interference_excess(W, b, relu, ctx) for W, b, relu in high]
    c = [interference_excess(W, b, relu, ctx) for W, b, relu in low]
    ev = seed_contrast(np.array([x["excess"] for x in a]), np.array([x["excess"] for x in c]), compared, options)
    ev.ceiling = float(1.0 - np.mean([x["excess"] for x in c]))
    ev.details |= {
        "share_real_high": [x["share_real"] for x in a],
        "share_shuffled_high": [x["share_shuffled"] for x in a],
        "share_real_low": [x["share_real"] for x in c],
        "share_shuffled_low": [x["share_shuffled"] for x in c],
        "n_targets": int(ctx.targets.size),
        "contexts_per_target": ctx.per_target,
        "n_windows": ctx.n_windows,
        "n_distinct_windows": ctx.n_distinct_windows,
        "n_eligible_words": ctx.n_eligible,
        "null": "the target kept, the other words from a random validation window that lacks it",
    }
    return ev


def _interference_details(scores: list[dict], ctx: InterferenceContexts) -> dict:
    return {
        "share_real": [x["share_real"] for x in scores],
        "share_shuffled": [x["share_shuffled"] for x in scores],
        "n_targets": int(ctx.targets.size),
        "contexts_per_target": ctx.per_target,
        "n_windows": ctx.n_windows,
        "n_distinct_windows": ctx.n_distinct_windows,
        "n_eligible_words": ctx.n_eligible,
        "null": "the target kept, the other words from a random validation window that lacks it",
    }


def interference_over_null_evidence(models: list, ctx: InterferenceContexts, compared: str, options) -> Evidence:
    """:func:`seed_mean` of the interference excess over the shuffled-context null; ``models`` holds
    (W, b, relu), one per seed."""
    scores = [interference_excess(W, b, relu, ctx) for W, b, relu in models]
    ev = seed_mean(np.array([x["excess"] for x in scores]), compared, options, _interference_details(scores, ctx))
    ev.ceiling = float(1.0 - np.mean([x["share_shuffled"] for x in scores]))
    return ev


def _interference_contexts_of(run: RunData, corpus: str, options: ClaimOptions) -> InterferenceContexts:
    key = ("interference_contexts", corpus, options.min_contexts, options.n_targets, options.seed)
    if key not in run.cache:
        ctx = interference_contexts(
            validation_windows(run, corpus), options.min_contexts, options.n_targets, options.seed
        )
        if ctx.targets.size < 2:
            raise NotTestable(f"fewer than two words of {corpus} have {options.min_contexts} validation contexts")
        run.cache[key] = ctx
    return run.cache[key]


@claim(
    "bows.constructive_interference",
    paper=PAPER,
    statement="Correlated words interfere constructively: in a word's real contexts the other words' interference "
    "brings its reconstruction closer to 1 more often than in unrelated contexts.",
    compares="each tied_ae configuration (seeds are replicates), on validation contexts",
    metric="share of real contexts where interference helps minus the share in shuffled contexts (targets weighted "
    "equally)",
    direction="greater",
    min_n=3,
    n_counts="seeds",
)
def constructive_interference_over_null(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    out = []
    for models in run.replicates(run.select(names, arch="tied_ae")):
        corpus = run.specs[models[0]]["corpus"]
        ctx = _interference_contexts_of(run, corpus, options)
        ev = interference_over_null_evidence([_tied_weights(run, m) for m in models], ctx, describe(models), options)
        ev.details["targets"] = [_words(run, corpus)[v] for v in ctx.targets]
        out.append(ev)
    if not out:
        raise NotTestable("the config has no tied_ae model on a text corpus")
    return out


def _interference_null_control(options: ClaimOptions, shuffled: bool) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed, shuffled=shuffled)
    ctx = interference_contexts(ArrayWindows(corpus.X[~corpus.train]), 30, 12, options.seed)
    W = planted.pca_model(corpus.X[corpus.train], 8)
    models = [
        _interfering_model(planted.with_noise(W, 0.1, np.random.default_rng([options.seed, s]))) for s in CONTROL_SEEDS
    ]
    return [interference_over_null_evidence(models, ctx, "PCA model", options)]


@control(
    "bows.constructive_interference",
    "positive",
    "planted corpus: its PCA model (words alone at 0.5, 3 seeds)",
)
def _interference_null_positive(options: ClaimOptions) -> list[Evidence]:
    return _interference_null_control(options, shuffled=False)


@control(
    "bows.constructive_interference",
    "negative",
    "the planted corpus with its tokens shuffled across windows: its PCA model",
)
def _interference_null_negative(options: ClaimOptions) -> list[Evidence]:
    return _interference_null_control(options, shuffled=True)


@claim(
    "bows.constructive_interference.weight_decay",
    paper=PAPER,
    statement="Constructive interference is more prevalent with weight decay: beyond what interference does in "
    "unrelated contexts, the other words of a word's real contexts bring its reconstruction closer to 1 more often.",
    compares="tied_ae models that differ only in weight decay (seeds are replicates), on the same validation contexts",
    metric="share of real contexts where interference helps minus the share in shuffled contexts (targets weighted "
    "equally), highest minus lowest weight decay",
    direction="greater",
    min_n=3,
    n_counts="seeds per arm",
)
def constructive_interference(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    groups = run.differing_only_in("weight_decay", run.select(names, arch="tied_ae"))
    if not groups:
        raise NotTestable("the config has no tied_ae models on a text corpus that differ only in weight_decay")
    out = []
    for g in groups:
        hi, lo = _arms(g)
        corpus = run.specs[g[hi][0]]["corpus"]
        ctx = interference_contexts(
            validation_windows(run, corpus), options.min_contexts, options.n_targets, options.seed
        )
        if ctx.targets.size < 2:
            raise NotTestable(f"fewer than two words of {corpus} have {options.min_contexts} validation contexts")
        ev = interference_evidence(
            [_tied_weights(run, m) for m in g[hi]],
            [_tied_weights(run, m) for m in g[lo]],
            ctx,
            f"weight_decay={hi:g} [{describe(g[hi])}] vs {lo:g} [{describe(g[lo])}]",
            options,
        )
        words = _words(run, corpus)
        ev.details["targets"] = [words[v] for v in ctx.targets]
        out.append(ev)
    return out


def _tied_weights(run: RunData, model: str) -> tuple[np.ndarray, np.ndarray, bool]:
    from bowsflow.models.checkpoints import load_model

    net, _ = load_model(run.checkpoint(model))
    return net.embedding.detach().double().numpy(), net.b.detach().double().numpy(), net.output == "relu"


def _interfering_model(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """A tied model whose words alone reconstruct to 0.5 (b_v = 0.5 − ‖W_v‖²), so that any interference
    between 0 and 1 helps."""
    return W, 0.5 - (W * W).sum(axis=0), True


def _interference_control(options: ClaimOptions, shuffled: bool) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed, shuffled=shuffled)
    ctx = interference_contexts(ArrayWindows(corpus.X[~corpus.train]), 30, 12, options.seed)
    W = planted.pca_model(corpus.X[corpus.train], 8)
    high = [
        _interfering_model(planted.with_noise(W, 0.1, np.random.default_rng([options.seed, s]))) for s in CONTROL_SEEDS
    ]
    low = [
        _interfering_model(planted.random_model(8, corpus.V, np.random.default_rng([options.seed, 10 + s])))
        for s in CONTROL_SEEDS
    ]
    return [interference_evidence(high, low, ctx, "PCA model vs random directions", options)]


@control(
    "bows.constructive_interference.weight_decay",
    "positive",
    "planted corpus: its PCA model against random directions (words alone at 0.5)",
)
def _interference_positive(options: ClaimOptions) -> list[Evidence]:
    return _interference_control(options, shuffled=False)


@control(
    "bows.constructive_interference.weight_decay",
    "negative",
    "the planted corpus with its tokens shuffled across windows, the same two arms",
)
def _interference_negative(options: ClaimOptions) -> list[Evidence]:
    return _interference_control(options, shuffled=True)


# --- the output ReLU filters interference ------------------------------------------------------------------
def false_positive_mass(W: np.ndarray, b: np.ndarray, relu: bool, X: np.ndarray) -> dict:
    """What interference puts on absent words of windows X [n, V] (bool): the mean squared output x̂_v² over
    the absent words (what the loss pays for them), and the share of absent words with x̂_v > 0.5."""
    z = np.asarray(X, dtype=np.float64) @ W.T @ W + b
    xhat = np.maximum(z, 0) if relu else z
    absent = ~np.asarray(X, dtype=bool)
    return {"mass": float((xhat[absent] ** 2).mean()), "rate": float((xhat[absent] > 0.5).mean())}


def relu_filter_evidence(linear: list, relu: list, X: np.ndarray, compared: str, options) -> Evidence:
    """:func:`seed_contrast` of the false-positive mass, output-linear models minus output-ReLU models;
    each list holds (W, b, relu), one per seed."""
    a = [false_positive_mass(W, b, r, X) for W, b, r in linear]
    c = [false_positive_mass(W, b, r, X) for W, b, r in relu]
    ev = seed_contrast(np.array([x["mass"] for x in a]), np.array([x["mass"] for x in c]), compared, options)
    ev.details |= {
        "false_positive_rate_linear": [x["rate"] for x in a],
        "false_positive_rate_relu": [x["rate"] for x in c],
        "n_windows": int(X.shape[0]),
    }
    return ev


@claim(
    "bows.relu_filters_interference",
    paper=PAPER,
    statement="The output ReLU filters interference: a model trained with it puts less output on absent words "
    "than the same model trained without it.",
    compares="tied_ae models that differ only in output (relu vs linear; seeds are replicates), on validation windows",
    metric="mean squared output on absent words (false-positive mass), output-linear minus output-ReLU",
    direction="greater",
    min_n=3,
    n_counts="seeds per arm",
)
def relu_filters_interference(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    groups = [
        g for g in run.differing_only_in("output", run.select(names, arch="tied_ae")) if set(g) >= {"relu", "linear"}
    ]
    if not groups:
        raise NotTestable("the config has no tied_ae models on a text corpus that differ only in output (relu, linear)")
    out = []
    for g in groups:
        corpus = run.specs[g["relu"][0]]["corpus"]
        windows = validation_windows(run, corpus)
        rows = windows.val[np.sort(np.random.default_rng([options.seed, 3]).permutation(windows.val.size)[:2000])]
        X = windows.rows(np.sort(rows))
        out.append(
            relu_filter_evidence(
                [_tied_weights(run, m) for m in g["linear"]],
                [_tied_weights(run, m) for m in g["relu"]],
                X,
                f"output=linear [{describe(g['linear'])}] vs relu [{describe(g['relu'])}]",
                options,
            )
        )
    return out


def _least_squares_bias(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The bias that minimises the squared error of the linear output WᵀW x + b on windows X: the mean
    residual."""
    X = np.asarray(X, dtype=np.float64)
    return (X - X @ W.T @ W).mean(axis=0)


def _relu_filter_control(options: ClaimOptions, relu_arm_filters: bool) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed)
    train, val = corpus.X[corpus.train], corpus.X[~corpus.train]
    linear, relu = [], []
    for s in CONTROL_SEEDS:
        W = planted.with_noise(planted.pca_model(train, 8), 0.1, np.random.default_rng([options.seed, s]))
        b = _least_squares_bias(W, train)
        linear.append((W, b, False))
        # the ReLU arm: the same directions with every bias lowered by the typical interference, which the
        # ReLU then cuts off; the other case keeps the linear output
        shift = np.abs(train @ W.T @ W).mean(axis=0)
        relu.append((W, b - shift, True) if relu_arm_filters else (W, b, False))
    return [relu_filter_evidence(linear, relu, val, "linear vs " + ("ReLU" if relu_arm_filters else "linear"), options)]


@control(
    "bows.relu_filters_interference",
    "positive",
    "planted corpus: its PCA model with a linear output, against the same with lowered biases and the output ReLU",
)
def _relu_filter_positive(options: ClaimOptions) -> list[Evidence]:
    return _relu_filter_control(options, relu_arm_filters=True)


@control("bows.relu_filters_interference", "negative", "planted corpus: the linear-output PCA model in both arms")
def _relu_filter_negative(options: ClaimOptions) -> list[Evidence]:
    return _relu_filter_control(options, relu_arm_filters=False)


# --- geometry follows co-activation ----------------------------------------------------------------------
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


def coactivation_rho(W: np.ndarray, corr: np.ndarray) -> float:
    """Spearman, over the pairs of W's words, of their directions' cosine with their correlation."""
    i, j = np.triu_indices(W.shape[1], 1)
    return spearman(cosine_matrix(W)[i, j], corr[i, j])


def coactivation_evidence(Ws: list[np.ndarray], corr: np.ndarray, compared: str, options) -> Evidence:
    """Evidence that directions follow held-out co-activation: the Spearman of cosine with correlation
    over word pairs (Ws: each seed's directions of the k words [m, k]; corr [k, k]), averaged over the
    seeds, with a bootstrap over words."""
    rho = float(np.mean([coactivation_rho(W, corr) for W in Ws]))
    boot = pairwise_spearman_resamples(
        [cosine_matrix(W) for W in Ws], corr, max(200, options.n_resamples // 4), options.seed
    )
    k = corr.shape[0]
    return Evidence(
        compared=compared,
        effect=rho,
        null=0.0,
        n=int(k),
        interval=percentile_interval(boot, options.confidence),
        p_value=resampled_p_value(boot, 0.0),
        ceiling=1.0,
        details={
            "n_pairs": int(k * (k - 1) // 2),
            "n_models": len(Ws),
            "per_seed": [coactivation_rho(W, corr) for W in Ws],
            "interval_method": "percentile bootstrap over words",
            "p_value_floor": 1 / (1 + boot.size),
            "correlation": "over the validation windows (held out from training)",
        },
    )


def _frequent_words(run: RunData, corpus: str, n_words: int) -> np.ndarray:
    _, _, freq = corpus_words(run, corpus)
    return np.sort(np.argsort(-freq, kind="stable")[:n_words])


def _heldout(run: RunData, corpus: str, ids: np.ndarray) -> tuple[np.ndarray, int]:
    key = ("heldout_correlation", corpus, ids.tobytes())
    if key not in run.cache:
        run.cache[key] = heldout_correlation(validation_windows(run, corpus), ids)
    return run.cache[key]


@claim(
    "bows.geometry_follows_coactivation",
    paper=PAPER,
    statement="Feature geometry follows co-activation: words that co-occur more get more similar directions.",
    compares="each model configuration (seeds averaged), over the most frequent words",
    metric="Spearman between feature cosine and the words' correlation over the held-out validation windows",
    direction="greater",
    min_n=30,
    n_counts="words",
)
def geometry_follows_coactivation(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    out = []
    for models in run.replicates(run.select(names)):
        corpus = run.specs[models[0]]["corpus"]
        top = _frequent_words(run, corpus, options.n_words)
        corr, n_val = _heldout(run, corpus, top)
        ev = coactivation_evidence([embedding(run, m)[:, top] for m in models], corr, describe(models), options)
        ev.details["n_validation_windows"] = n_val
        out.append(ev)
    if not out:
        raise NotTestable("the config has no models on a text corpus")
    return out


def _coactivation_control(options: ClaimOptions, shuffled: bool) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed, shuffled=shuffled)
    corr = planted.correlation(corpus.X[~corpus.train])
    W = planted.pca_model(corpus.X[corpus.train], 8)
    Ws = [planted.with_noise(W, 0.1, np.random.default_rng([options.seed, s])) for s in CONTROL_SEEDS]
    return [coactivation_evidence(Ws, corr, "PCA model", options)]


@control("bows.geometry_follows_coactivation", "positive", "planted corpus: its PCA model (10% noise, 3 seeds)")
def _coactivation_positive(options: ClaimOptions) -> list[Evidence]:
    return _coactivation_control(options, shuffled=False)


@control(
    "bows.geometry_follows_coactivation",
    "negative",
    "the planted corpus with its tokens shuffled across windows: its PCA model",
)
def _coactivation_negative(options: ClaimOptions) -> list[Evidence]:
    return _coactivation_control(options, shuffled=True)


def _wd_contrast_claim(run: RunData, options: ClaimOptions, names: list[str], value, not_testable=None):
    """Every group of text-corpus models that differ only in weight decay, ``value(model)`` compared over
    seeds; ``not_testable(corpus)`` may say why the corpus cannot show it."""
    groups = run.differing_only_in("weight_decay", run.select(names))
    if not groups:
        raise NotTestable("the config has no text-corpus models that differ only in weight_decay")
    out = []
    for g in groups:
        corpus = run.specs[g[_arms(g)[0]][0]]["corpus"]
        reason = not_testable(corpus) if not_testable else None
        if reason:
            hi, lo = _arms(g)
            compared = f"weight_decay={hi:g} [{describe(g[hi])}] vs {lo:g} [{describe(g[lo])}]"
            out.append(Evidence(compared=compared, effect=float("nan"), null=0.0, n=0, not_testable=reason))
            continue
        out.append(_group_contrast(run, g, "weight_decay", value, options))
    return out


def _wd_control(options: ClaimOptions, value, positive: bool) -> list[Evidence]:
    """The weight-decay contrast of ``value(W, corpus)`` on the planted corpus: the high arm its PCA model
    (10% noise), the low arm the same with 150% noise (positive), or 150% noise in both (negative)."""
    corpus = planted.planted_corpus(options.seed)
    W = planted.pca_model(corpus.X[corpus.train], 8)
    high_noise = 0.1 if positive else 1.5
    high = [
        value(planted.with_noise(W, high_noise, np.random.default_rng([options.seed, s])), corpus)
        for s in CONTROL_SEEDS
    ]
    low = [
        value(planted.with_noise(W, 1.5, np.random.default_rng([options.seed, 10 + s])), corpus) for s in CONTROL_SEEDS
    ]
    return [seed_contrast(np.array(high), np.array(low), f"noise {high_noise:g} vs 1.5", options)]


@claim(
    "bows.geometry_follows_coactivation.weight_decay",
    paper=PAPER,
    statement="Geometry follows co-activation more with weight decay.",
    compares="models that differ only in weight decay (seeds are replicates), over the most frequent words",
    metric="Spearman of feature cosine with held-out word correlation, highest minus lowest weight decay",
    direction="greater",
    min_n=3,
    n_counts="seeds per arm",
)
def geometry_weight_decay(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    def rho(model):
        corpus = run.specs[model]["corpus"]
        top = _frequent_words(run, corpus, options.n_words)
        return coactivation_rho(embedding(run, model)[:, top], _heldout(run, corpus, top)[0])

    return _wd_contrast_claim(run, options, names, rho)


def _planted_rho(W, corpus):
    return coactivation_rho(W, planted.correlation(corpus.X[~corpus.train]))


@control("bows.geometry_follows_coactivation.weight_decay", "positive", "planted corpus: PCA model, 10% vs 150% noise")
def _geometry_wd_positive(options: ClaimOptions) -> list[Evidence]:
    return _wd_control(options, _planted_rho, True)


@control(
    "bows.geometry_follows_coactivation.weight_decay", "negative", "planted corpus: PCA model, 150% noise in both arms"
)
def _geometry_wd_negative(options: ClaimOptions) -> list[Evidence]:
    return _wd_control(options, _planted_rho, False)


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


def circularity_of_orders(xy: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """[B] :func:`~bowsflow.lenses.geometry.measures.circularity` of 2-D points xy [k, 2] taken in each of
    B orders [B, k] (orders[b, j]: the point placed j-th), all at once: the PCA, the angles and the radii do
    not depend on the order, only the alignment with the polygon's steps does."""
    k = len(xy)
    c = xy - xy.mean(axis=0)
    theta = np.arctan2(c[:, 1], c[:, 0])[np.atleast_2d(orders)]  # [B, k]
    steps = 2 * np.pi * np.arange(k) / k
    align = np.maximum(
        np.abs(np.exp(1j * (theta - steps)).mean(axis=1)), np.abs(np.exp(1j * (theta + steps)).mean(axis=1))
    )
    r = np.linalg.norm(c, axis=1)
    evenness = max(0.0, 1 - r.std() / r.mean()) if r.mean() > 0 else 0.0
    return align * evenness


def cycle_evidence(Ws: list[np.ndarray], C: np.ndarray, compared: str, options) -> Evidence:
    """Evidence that a cycle's words (Ws: each seed's directions [m, k] in calendar order) sit round a
    circle in that order: circularity of their 2-D PCA (seeds averaged), against the same directions taken
    in random orders (the null: the model's own geometry, the calendar order forgotten). Ceiling 1 (a
    regular polygon in order). The data's own correlations C [k, k] must show the cycle first."""
    contrast, p_data = data_cycle_test(C, options.n_permutations, options.seed)
    xys = [pca_2d(W.T) for W in Ws]
    k = C.shape[0]
    identity = np.arange(k)[None]
    observed = float(np.mean([circularity_of_orders(xy, identity)[0] for xy in xys]))
    rng = np.random.default_rng([options.seed, 4])
    orders = np.array([rng.permutation(k) for _ in range(options.n_permutations)])
    null = np.mean([circularity_of_orders(xy, orders) for xy in xys], axis=0)
    ev = Evidence(
        compared=compared,
        effect=observed,
        null=float(null.mean()),
        n=int(k),
        ceiling=1.0,
        p_value=permutation_p_value(observed, null),
        details={
            "model_circularity": [float(circularity_of_orders(xy, identity)[0]) for xy in xys],
            "data_cyclic_contrast": contrast,
            "data_cycle_p_value": p_data,
            "n_permutations": int(orders.shape[0]),
            "p_value_floor": 1 / (1 + orders.shape[0]),
            "null": "the same directions in random orders (calendar order permuted)",
        },
    )
    if p_data >= options.alpha:
        ev.not_testable = (
            f"the corpus has no significant cycle (cyclic neighbours' correlation minus the rest {contrast:.3g}, "
            f"permutation p = {p_data:.3g})"
        )
    return ev


def _cycle_ids(run: RunData, corpus: str) -> dict[str, list[int]]:
    index = {w: i for i, w in enumerate(_words(run, corpus))}
    out = {}
    for name, group in CYCLES.items():
        ids = [index[w] for w in group if w in index]
        if len(ids) >= 3:
            out[name] = ids
    return out


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
        _, corr, _ = corpus_words(run, corpus)
        for name, ids in _cycle_ids(run, corpus).items():
            ev = cycle_evidence(
                [embedding(run, m)[:, ids] for m in models],
                corr[np.ix_(ids, ids)],
                f"{name} in {describe(models)}",
                options,
            )
            ev.details["words"] = [_words(run, corpus)[i] for i in ids]
            out.append(ev)
    if not out:
        raise NotTestable("no model on a text corpus has three or more words of a cycle list in its vocabulary")
    return out


def _planted_cycle(options: ClaimOptions, shuffled: bool):
    corpus = planted.planted_corpus(options.seed, shuffled=shuffled)
    W = planted.pca_model(corpus.X[corpus.train], 8)
    Ws = [planted.with_noise(W, 0.1, np.random.default_rng([options.seed, s]))[:, corpus.cycle] for s in CONTROL_SEEDS]
    return Ws, planted.correlation(corpus.X)[np.ix_(corpus.cycle, corpus.cycle)]


@control("bows.cycles", "positive", "planted corpus with a 12-word cycle: its PCA model (10% noise, 3 seeds)")
def _cycles_positive(options: ClaimOptions) -> list[Evidence]:
    Ws, C = _planted_cycle(options, shuffled=False)
    return [cycle_evidence(Ws, C, "planted cycle", options)]


@control(
    "bows.cycles",
    "negative",
    "the planted cycle with its words' directions shuffled among them; and the token-shuffled corpus",
)
def _cycles_negative(options: ClaimOptions) -> list[Evidence]:
    Ws, C = _planted_cycle(options, shuffled=False)
    perm = np.random.default_rng([options.seed, 5]).permutation(C.shape[0])
    unordered = cycle_evidence([W[:, perm] for W in Ws], C, "directions out of calendar order", options)
    Ws, C = _planted_cycle(options, shuffled=True)
    return [unordered, cycle_evidence(Ws, C, "token-shuffled corpus", options)]


@claim(
    "bows.cycles.weight_decay",
    paper=PAPER,
    statement="Cycles are more circular with weight decay.",
    compares="models that differ only in weight decay (seeds are replicates), for the months",
    metric="circularity of the month directions in calendar order, highest minus lowest weight decay",
    direction="greater",
    min_n=3,
    n_counts="seeds per arm",
)
def cycles_weight_decay(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    def circularity_of(model):
        ids = _cycle_ids(run, run.specs[model]["corpus"])["months"]
        return circularity_of_orders(pca_2d(embedding(run, model)[:, ids].T), np.arange(len(ids))[None])[0]

    def no_cycle(corpus):
        ids = _cycle_ids(run, corpus).get("months")
        if ids is None:
            return f"{corpus} has fewer than three month words in its vocabulary"
        contrast, p = data_cycle_test(
            corpus_words(run, corpus)[1][np.ix_(ids, ids)], options.n_permutations, options.seed
        )
        if p >= options.alpha:
            return f"the corpus has no significant month cycle (contrast {contrast:.3g}, permutation p = {p:.3g})"
        return None

    return _wd_contrast_claim(run, options, names, circularity_of, no_cycle)


def _planted_circularity(W, corpus):
    return circularity_of_orders(pca_2d(W[:, corpus.cycle].T), np.arange(corpus.cycle.size)[None])[0]


@control("bows.cycles.weight_decay", "positive", "planted corpus: PCA model, 10% vs 150% noise")
def _cycles_wd_positive(options: ClaimOptions) -> list[Evidence]:
    return _wd_control(options, _planted_circularity, True)


@control("bows.cycles.weight_decay", "negative", "planted corpus: PCA model, 150% noise in both arms")
def _cycles_wd_negative(options: ClaimOptions) -> list[Evidence]:
    return _wd_control(options, _planted_circularity, False)


# --- semantic clusters ------------------------------------------------------------------------------------
def cosine_distance(W: np.ndarray) -> np.ndarray:
    """[k, k] cosine distance 1 − cos of W's columns (clipped at 0, zero diagonal)."""
    D = np.clip(1 - cosine_matrix(W), 0, None)
    np.fill_diagonal(D, 0.0)
    return D


def silhouette_from_distance(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette over points (0 for a point alone in its label), from a distance matrix."""
    return float(silhouette_scores(D, np.asarray(labels)[None])[0])


def cluster_evidence(Ws: list[np.ndarray], labels: np.ndarray, compared: str, options) -> Evidence:
    """Evidence that category words cluster: the silhouette (cosine distance) of their directions (Ws:
    each seed's [m, k]) by category, seeds averaged, against shuffled labels."""
    labels = np.unique(labels, return_inverse=True)[1]
    Ds = [cosine_distance(W) for W in Ws]
    observed = float(np.mean([silhouette_from_distance(D, labels) for D in Ds]))
    rng = np.random.default_rng([options.seed, 6])
    perms = np.array([rng.permutation(labels) for _ in range(options.n_permutations)])
    null = np.mean([silhouette_scores(D, perms) for D in Ds], axis=0)
    return Evidence(
        compared=compared,
        effect=observed,
        null=float(null.mean()),
        n=int(labels.size),
        ceiling=1.0,
        p_value=permutation_p_value(observed, null),
        details={
            "n_categories": int(labels.max() + 1),
            "n_permutations": int(perms.shape[0]),
            "null": "shuffled category labels",
        },
    )


def _category_ids(run: RunData, corpus: str) -> tuple[list[int], np.ndarray]:
    index = {w: i for i, w in enumerate(_words(run, corpus))}
    ids, labels = [], []
    for k, (_, group) in enumerate(sorted(CATEGORIES.items())):
        present = [index[w] for w in group if w in index]
        ids += present
        labels += [k] * len(present)
    return ids, np.array(labels)


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
        ids, labels = _category_ids(run, run.specs[models[0]]["corpus"])
        if np.unique(labels).size < 2:
            continue
        out.append(cluster_evidence([embedding(run, m)[:, ids] for m in models], labels, describe(models), options))
    if not out:
        raise NotTestable("no model on a text corpus has words of two categories in its vocabulary")
    return out


def _cluster_control(options: ClaimOptions, shuffled: bool) -> list[Evidence]:
    corpus = planted.planted_corpus(options.seed, shuffled=shuffled)
    ids, labels = corpus.category_ids
    W = planted.pca_model(corpus.X[corpus.train], 8)
    Ws = [planted.with_noise(W, 0.1, np.random.default_rng([options.seed, s]))[:, ids] for s in CONTROL_SEEDS]
    return [cluster_evidence(Ws, labels, "PCA model", options)]


@control("bows.semantic_clusters", "positive", "planted corpus with 4 topics of 8 words: its PCA model (3 seeds)")
def _clusters_positive(options: ClaimOptions) -> list[Evidence]:
    return _cluster_control(options, shuffled=False)


@control(
    "bows.semantic_clusters", "negative", "the planted corpus with its tokens shuffled across windows: its PCA model"
)
def _clusters_negative(options: ClaimOptions) -> list[Evidence]:
    return _cluster_control(options, shuffled=True)


@claim(
    "bows.semantic_clusters.weight_decay",
    paper=PAPER,
    statement="Semantic clusters are tighter with weight decay.",
    compares="models that differ only in weight decay (seeds are replicates), over the built-in category word lists",
    metric="silhouette of the category words' directions, highest minus lowest weight decay",
    direction="greater",
    min_n=3,
    n_counts="seeds per arm",
)
def clusters_weight_decay(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    def silhouette(model):
        ids, labels = _category_ids(run, run.specs[model]["corpus"])
        return silhouette_from_distance(
            cosine_distance(embedding(run, model)[:, ids]), np.unique(labels, return_inverse=True)[1]
        )

    return _wd_contrast_claim(run, options, names, silhouette)


def _planted_silhouette(W, corpus):
    ids, labels = corpus.category_ids
    return silhouette_from_distance(cosine_distance(W[:, ids]), labels)


@control("bows.semantic_clusters.weight_decay", "positive", "planted corpus: PCA model, 10% vs 150% noise")
def _clusters_wd_positive(options: ClaimOptions) -> list[Evidence]:
    return _wd_control(options, _planted_silhouette, True)


@control("bows.semantic_clusters.weight_decay", "negative", "planted corpus: PCA model, 150% noise in both arms")
def _clusters_wd_negative(options: ClaimOptions) -> list[Evidence]:
    return _wd_control(options, _planted_silhouette, False)
