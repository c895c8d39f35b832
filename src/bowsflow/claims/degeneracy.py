"""Degeneracy and the interaction basis (Bushnaq et al., 2024): interactions are sparser in the interaction
basis, the method counts each kind of degeneracy where it is planted, the basis is invariant to
reparameterization, and the interaction graph is modular beyond what its degrees give.

The claims about trained models read the interaction lens (its JSON) or recompute with its own functions
on validation latents; the controls run the same functions on small models built by hand."""

from __future__ import annotations

import numpy as np
import torch

from bowsflow.claims.registry import ClaimOptions, Evidence, NotTestable, claim, control
from bowsflow.claims.run import RunData
from bowsflow.claims.stats import half_sample_p_value, percentile_interval
from bowsflow.store.checked import open_group

PAPER = "Bushnaq et al. 2024, degeneracy and the interaction basis"
BASELINES = ("neuron", "pca", "pca_same_width")


def _options_from(run: RunData | None, model: str | None):
    """The interaction lens' options of a model's run (its JSON), or the schema's defaults."""
    from bowsflow.lenses.interaction.analysis import InteractionOptions

    if run is None:
        return InteractionOptions()
    stored = run.lens_json(model, "interaction").get("options", {})
    return InteractionOptions(**{k: v for k, v in stored.items() if k in InteractionOptions.__dataclass_fields__})


def split_latents(run: RunData, model, corpus: str, limit: int, split: str = "val") -> np.ndarray:
    """[n, m] float64 latent vectors of up to ``limit`` samples of ``split`` (the first ones, in store order)."""

    group = open_group(run.bows_path(corpus))
    idx = np.flatnonzero(np.asarray(group["split"][:]) == split)[:limit]
    X = np.asarray(group["bows"].get_orthogonal_selection((idx, slice(None))))
    with torch.no_grad():
        return model.double().encode_dense(torch.as_tensor(X)).numpy()


def in_memory_bases(model, h: np.ndarray, options) -> dict:
    """Every Jacobian layer's interaction basis (the global construction, against the output z) from latent
    vectors h [n, m] held in memory: G from the activations the model computes in float64, M from the
    lens' :func:`~bowsflow.lenses.interaction.basis.jacobian_gram`, the basis from its ``layer_basis``.
    Returns layer → (the basis entry :func:`basis_maps` reads, G, M), G and M uncentred."""
    from bowsflow.lenses.interaction.analysis import layer_basis
    from bowsflow.lenses.interaction.basis import gram_from_moments, jacobian_gram
    from bowsflow.models import as_float64

    model = as_float64(model)
    with torch.no_grad():
        acts = model.layers_from_latent(torch.as_tensor(h))
    bases = {}
    for layer in model.jacobian_layers:
        f = acts[layer].numpy()
        G = gram_from_moments(f.T @ f, f.sum(axis=0), f.shape[0])
        total, n = jacobian_gram(model, h, layer, batch_size=options.jacobian_batch)
        bases[layer] = (layer_basis(G, total / n, options)[0], G, total / n)
    return bases


# --- sparser in the interaction basis ---------------------------------------------------------------------
def sparsity_evidence(counts: dict, n_samples: int, compared: str, options) -> Evidence:
    """Evidence that one layer pair's interactions are sparser in the interaction basis: edges saved,
    1 − edges(interaction) / min over the baselines (neuron, PCA, and PCA cut to the interaction basis'
    width) of the edges holding 99% of the mass; the interval and p-value from the same statistic on the
    lens' paired half-samples of the edge samples. ``counts``: basis → {edges_for_99pct_mass,
    edges_for_99pct_mass_half_samples}."""

    def saved(get):
        return 1.0 - get("interaction") / max(1, min(get(b) for b in BASELINES if b in counts))

    effect = saved(lambda b: counts[b]["edges_for_99pct_mass"])
    halves = [counts[b].get("edges_for_99pct_mass_half_samples") for b in counts]
    per_half = np.zeros(0)
    if all(halves):
        R = len(halves[0])
        per_half = np.array([saved(lambda b, r=r: counts[b]["edges_for_99pct_mass_half_samples"][r]) for r in range(R)])
    return Evidence(
        compared=compared,
        effect=float(effect),
        null=0.0,
        n=int(n_samples),
        interval=percentile_interval(per_half, options.confidence) if per_half.size >= 2 else None,
        p_value=half_sample_p_value(per_half, 0.0) if per_half.size >= 2 else None,
        ceiling=1.0,
        details={
            "edges_for_99pct_mass": {b: counts[b]["edges_for_99pct_mass"] for b in counts},
            "n_half_samples": int(per_half.size),
            "interval_method": "percentile of the statistic over paired half-samples of the edge samples",
        },
    )


@claim(
    "degeneracy.interaction_basis_sparser",
    paper=PAPER,
    statement="Interactions between adjacent layers are sparser in the interaction basis than in the neuron and "
    "PCA bases, also a PCA basis of the same width: fewer edges carry 99% of the edge mass.",
    compares="each model and each pair of adjacent layers",
    metric="edges saved: 1 − edges(interaction) / min(edges(neuron), edges(PCA), edges(PCA of the same width)) "
    "for 99% of the mass",
    direction="greater",
    min_n=200,
    n_counts="edge samples",
)
def interaction_basis_sparser(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    out = []
    for m in run.analysed(run.select(names, text=False)):
        for pair, counts in run.lens_json(m, "interaction").get("edges", {}).items():
            if "pca_same_width" not in counts:
                continue  # an interaction.json from before the same-width baseline
            out.append(sparsity_evidence(counts, counts["interaction"]["n_samples"], f"{pair} of {m}", options))
    if not out:
        raise NotTestable("no model has two adjacent layers with an interaction basis (tied_ae has one layer)")
    return out


def _relu_mlp(W_e, W_in, b_in, W_out, b):
    """A relu_mlp (float64) with the given parameters."""
    from bowsflow.models import build_model

    model = build_model("relu_mlp", W_e.shape[1], W_e.shape[0], W_in.shape[0]).double()
    with torch.no_grad():
        for name, value in dict(W_e=W_e, W_in=W_in, b_in=b_in, W_out=W_out, b=b).items():
            getattr(model, name).copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))
    return model


def _sparsity_control(options: ClaimOptions, kind: str) -> list[Evidence]:
    """``dead_ends``: two thirds of the hidden units get large random inputs but no outgoing weights
    (directions the output never sees, which the neuron and PCA bases must describe and the interaction
    basis drops).
    ``diagonal``: each hidden unit reads one latent coordinate and writes one (diagonal W_in, W_out,
    orthonormal decoder rows), latents of distinct scales: the neuron basis is already the sparsest."""
    from bowsflow.lenses.interaction.analysis import InteractionOptions, pair_edges

    rng = np.random.default_rng([options.seed, 12])
    n = 400
    if kind == "dead_ends":
        m, d, dead, V = 8, 24, 16, 24
        W_e = np.linalg.qr(rng.standard_normal((V, m)))[0].T  # orthonormal rows
        W_in = rng.standard_normal((d, m)) * np.r_[np.full(d - dead, 0.3), np.full(dead, 3.0)][:, None]
        W_out = rng.standard_normal((m, d)) * np.r_[np.ones(d - dead), np.zeros(dead)][None, :]
        b_in = np.full(d, 0.5)
        h = rng.standard_normal((n, m))
    else:
        m, V = 4, 16
        W_e = np.linalg.qr(rng.standard_normal((V, m)))[0].T
        W_in, W_out, b_in = np.diag([1.0, 0.8, 0.6, 0.4]), np.diag([0.5, 0.7, 0.9, 1.1]), np.full(m, 10.0)
        h = rng.standard_normal((n, m)) * np.array([1.0, 2.0, 3.0, 4.0])
    model = _relu_mlp(W_e, W_in, b_in, W_out, np.zeros(V))
    lens = InteractionOptions(jacobian_samples=n, edge_samples=n)
    bases = {layer: got[0] for layer, got in in_memory_bases(model, h, lens).items()}
    rows = []
    for src, dst in model.adjacent_pairs:
        _, counts = pair_edges(
            model, torch.as_tensor(h), src, dst, bases, lens, np.random.default_rng([options.seed, 1])
        )
        rows.append(sparsity_evidence(counts, n, f"{src}->{dst} of the {kind} model", options))
    return rows


@control(
    "degeneracy.interaction_basis_sparser",
    "positive",
    "a relu_mlp whose hidden layer has dead-end units (large inputs, no outgoing weights)",
)
def _sparsity_positive(options: ClaimOptions) -> list[Evidence]:
    return _sparsity_control(options, "dead_ends")


@control(
    "degeneracy.interaction_basis_sparser",
    "negative",
    "a relu_mlp of diagonal weights (each unit reads and writes one coordinate): the neuron basis is sparsest",
)
def _sparsity_negative(options: ClaimOptions) -> list[Evidence]:
    return _sparsity_control(options, "diagonal")


# --- planted degeneracies, each kind counted where the count can be wrong -----------------------------------
SOURCES = ("activations", "jacobians", "cofiring")


def hidden_layer_counts(params: dict, h: np.ndarray, threshold: float) -> dict:
    """The three degeneracies of a relu_mlp's post-ReLU hidden layer g = ReLU(W_in h + b_in) (width k) over
    latent vectors h [n, m], each counted by the lens' own functions: Gram eigenvalues of g̃ = [g, 1] below
    ``threshold`` × the largest (linearly dependent activations); the same of the Jacobian Gram
    M = E[J̃ᵀJ̃] of z = W_eᵀ(h + W_out g) + b with J̃ = [W_eᵀW_out, z − W_eᵀW_out g] (linearly dependent
    gradients); and units that fire on exactly the same samples, beyond one per group (co-firing ReLUs)."""
    from bowsflow.lenses.interaction.basis import cofiring_groups, degeneracy, gram_from_moments
    from bowsflow.linalg import sorted_eigh

    W_e, W_in, b_in, W_out, b = (params[k] for k in ("W_e", "W_in", "b_in", "W_out", "b"))
    g = np.maximum(h @ W_in.T + b_in, 0.0)
    n, k = g.shape
    G = gram_from_moments(g.T @ g, g.sum(axis=0), n)
    J = W_e.T @ W_out  # [V, k]: the same at every sample
    s = h @ W_e + b  # z − J g: the residual path and the bias
    M = np.empty((k + 1, k + 1))
    M[:k, :k] = J.T @ J
    M[:k, k] = M[k, :k] = J.T @ s.mean(axis=0)
    M[k, k] = (s * s).sum(axis=1).mean()
    groups = cofiring_groups([np.packbits(g > 0, axis=1)], k)
    fires = (g > 0).sum(axis=0)
    live = [grp for grp in groups if len(grp) > 1 and fires[grp[0]] > 0]
    return {
        "activations": degeneracy(sorted_eigh(G)[0], threshold)["n_below_threshold"],
        "jacobians": degeneracy(sorted_eigh(M)[0], threshold)["n_below_threshold"],
        "cofiring": int(sum(len(grp) - 1 for grp in live)),
        "width": int(k),
    }


def planted_hidden_layer(params: dict, h: np.ndarray, plants: str, rng, n_each: int = 2) -> dict:
    """Parameters with units added to the hidden layer. ``planted``: ``n_each`` copies of the most active
    unit scaled by positive factors (ReLU(c·a) = c·ReLU(a): dependent activations that fire together) with
    random outgoing weights (independent gradients), and ``n_each`` random units (firing on about half the
    samples) with no outgoing weights (dependent gradients: zero). ``random``: 2 · ``n_each`` random units
    with random outgoing weights, nothing degenerate."""
    W_in, b_in, W_out = params["W_in"], params["b_in"], params["W_out"]
    m = W_in.shape[1]
    a = h @ W_in.T + b_in
    top = int(np.argmax((a > 0).mean(axis=0) * np.linalg.norm(W_out, axis=0)))

    def random_units(count):
        rows = rng.standard_normal((count, m)) * np.linalg.norm(W_in, axis=1).mean() / np.sqrt(m)
        return rows, -np.median(h @ rows.T, axis=0)  # each fires on about half the samples

    def random_out(count):
        return rng.standard_normal((m, count)) * np.linalg.norm(W_out, axis=0).mean() / np.sqrt(m)

    if plants == "planted":
        scale = np.linspace(0.5, 2.0, n_each)
        r_in, r_b = random_units(n_each)
        new_in = np.r_[W_in[top][None] * scale[:, None], r_in]
        new_b = np.r_[b_in[top] * scale, r_b]
        new_out = np.c_[random_out(n_each), np.zeros((m, n_each))]
    else:
        new_in, new_b = random_units(2 * n_each)
        new_out = random_out(2 * n_each)
    return params | {"W_in": np.r_[W_in, new_in], "b_in": np.r_[b_in, new_b], "W_out": np.c_[W_out, new_out]}


def pruned_hidden_layer(params: dict, h: np.ndarray, width: int) -> dict:
    """The relu_mlp's ``width`` most important hidden units (firing share × outgoing norm on h): a hidden
    layer narrower than the latent, so that its Jacobian Gram is full rank and every count can go wrong."""
    a = h @ params["W_in"].T + params["b_in"]
    keep = np.sort(np.argsort(-(a > 0).mean(axis=0) * np.linalg.norm(params["W_out"], axis=0), kind="stable")[:width])
    return params | {"W_in": params["W_in"][keep], "b_in": params["b_in"][keep], "W_out": params["W_out"][:, keep]}


def planted_evidence(params: dict, h: np.ndarray, plants: str, threshold: float, compared: str, seed: int):
    """One row per kind of degeneracy: extra count in the planted layer over the base layer (effect)
    against the planted number (null, 2 of each; exact)."""
    base = pruned_hidden_layer(params, h, max(2, h.shape[1] // 2))
    before = hidden_layer_counts(base, h, threshold)
    after = hidden_layer_counts(planted_hidden_layer(base, h, plants, np.random.default_rng([seed, 13])), h, threshold)
    return [
        Evidence(
            compared=f"{source}: {compared}",
            effect=float(after[source] - before[source]),
            null=2.0,
            n=int(h.shape[0]),
            details={
                "base": before,
                "planted": after,
                "units_added": after["width"] - before["width"],
                "threshold": threshold,
            },
        )
        for source in SOURCES
    ]


@claim(
    "degeneracy.planted_counts",
    paper=PAPER,
    statement="The lens counts each kind of degeneracy exactly where it is planted: dependent activations, "
    "dependent gradients and ReLUs that fire on the same inputs, in a layer narrow enough that each count could "
    "come out wrong.",
    compares="each relu_mlp configuration (its first seed): its most important hidden units (half the latent's "
    "width) with 2 planted units of each kind",
    metric="extra small Gram eigenvalues / small Jacobian-Gram eigenvalues / co-firing units, planted layer minus "
    "base layer (expected: 2 each)",
    direction="equal",
    min_n=200,
    n_counts="validation samples",
)
def planted_counts(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    from bowsflow.models.checkpoints import load_model

    out = []
    for models in run.replicates(run.analysed(run.select(names, arch="relu_mlp", text=False))):
        m = models[0]
        model, _ = load_model(run.checkpoint(m))
        model = model.double()
        h = split_latents(run, model, run.specs[m]["corpus"], 2000)
        threshold = float(_options_from(run, m).degeneracy_threshold)
        out += planted_evidence(model.float64_parameters(), h, "planted", threshold, m, options.seed)
    if not out:
        raise NotTestable("the config has no relu_mlp model (the controls plant units in its hidden layer)")
    return out


def _random_relu_mlp_params(seed: int, m: int = 8, d: int = 12, V: int = 30) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng([seed, 14])
    params = {
        "W_e": rng.standard_normal((m, V)) / np.sqrt(V),
        "W_in": rng.standard_normal((d, m)) / np.sqrt(m),
        "b_in": rng.standard_normal(d) * 0.1,
        "W_out": rng.standard_normal((m, d)) / np.sqrt(d),
        "b": np.zeros(V),
    }
    return params, rng.standard_normal((600, m))


@control("degeneracy.planted_counts", "positive", "a random relu_mlp with 2 units of each kind planted")
def _planted_positive(options: ClaimOptions) -> list[Evidence]:
    params, h = _random_relu_mlp_params(options.seed)
    return planted_evidence(params, h, "planted", 1e-6, "random relu_mlp", options.seed)


@control(
    "degeneracy.planted_counts",
    "negative",
    "a random relu_mlp with 4 random units added (nothing degenerate) and 2 of each kind expected",
)
def _planted_negative(options: ClaimOptions) -> list[Evidence]:
    params, h = _random_relu_mlp_params(options.seed)
    return planted_evidence(params, h, "random", 1e-6, "random relu_mlp", options.seed)


# --- invariance under reparameterization --------------------------------------------------------------------
def random_affine_map(width: int, rng) -> np.ndarray:
    """Ã [w + 1, w + 1] = [[Q, c], [0, 1]]: a random invertible affine change of a layer's coordinates
    f ↦ Q f + c (Q a rotation times scales in [0.5, 2], so it is well conditioned; c random)."""
    Q = np.linalg.qr(np.random.default_rng(rng).standard_normal((width, width)))[0] * rng.uniform(0.5, 2.0, width)
    A = np.eye(width + 1)
    A[:width, :width], A[:width, width] = Q, rng.standard_normal(width)
    return A


def invariance_deviation(model, h: np.ndarray, options, seed: int, basis: str = "interaction") -> dict:
    """How far |Λ| and the edges in ``basis`` move when every Jacobian layer is reparameterized by a random
    invertible affine map Ã (f̃ ↦ Ã f̃: G → Ã G Ãᵀ, M → Ã⁻ᵀ M Ã⁻¹; edges through P Ã and Ã⁻¹ P⁺): the largest
    change relative to the largest value, over the layers (|Λ|, sorted) and the layer pairs (edges)."""
    from bowsflow.lenses.interaction.analysis import basis_maps, layer_basis
    from bowsflow.lenses.interaction.basis import edge_strengths

    rng = np.random.default_rng([seed, 15])
    maps, lam_dev = {}, 0.0
    for layer, (entry, G, M) in in_memory_bases(model, h, options).items():
        A = random_affine_map(G.shape[0] - 1, rng)
        A_inv = np.linalg.inv(A)
        moved = layer_basis(A @ G @ A.T, A_inv.T @ M @ A_inv, options)[0]
        lam, lam2 = np.sort(np.abs(entry[0].Lambda)), np.sort(np.abs(moved[0].Lambda))
        lam_dev = max(lam_dev, float(np.abs(lam - lam2).max() / lam.max()) if lam.size == lam2.size else np.inf)
        P, back = basis_maps(entry)[basis]
        P2, back2 = basis_maps(moved)[basis]
        maps[layer] = ((P, back), (P2 @ A, A_inv @ back2))
    edge_dev = 0.0
    for src, dst in model.adjacent_pairs:
        (Ps, bs), (Ps2, bs2) = maps[src]
        (Pd, _), (Pd2, _) = maps[dst]
        E = edge_strengths(model, torch.as_tensor(h), src, dst, {"a": (Ps, bs, Pd), "b": (Ps2, bs2, Pd2)})
        edge_dev = max(edge_dev, float(np.abs(E["a"] - E["b"]).max() / np.abs(E["a"]).max()))
    return {"lambda": lam_dev, "edges": edge_dev}


INVARIANCE_TOLERANCE = 1e-10


def invariance_evidence(model, h: np.ndarray, options, seed: int, compared: str, basis: str = "interaction"):
    """Evidence that the basis is invariant: the larger of the |Λ| and edge deviations (effect) against 0,
    within 1e-10 of the largest value (float64 throughout; the maps are well conditioned)."""
    dev = invariance_deviation(model, h, options, seed, basis)
    return Evidence(
        compared=compared,
        effect=max(dev.values()),
        null=0.0,
        n=int(h.shape[0]),
        tolerance=INVARIANCE_TOLERANCE,
        details=dev | {"basis": basis, "map": "random invertible affine map of every Jacobian layer"},
    )


@claim(
    "degeneracy.basis_invariant",
    paper=PAPER,
    statement="The interaction basis is invariant to reparameterization: a random invertible affine map of a "
    "layer's activations leaves |Λ| and the edges unchanged.",
    compares="each model with adjacent layers (its first seed), on validation latents",
    metric="largest change of |Λ| and of the interaction-basis edges under random invertible affine maps of "
    "every layer, relative to the largest value",
    direction="equal",
    min_n=200,
    n_counts="validation samples",
)
def basis_invariant(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    from bowsflow.models.checkpoints import load_model

    out = []
    for models in run.replicates(run.analysed(run.select(names, text=False))):
        m = models[0]
        model, _ = load_model(run.checkpoint(m))
        if not model.adjacent_pairs:
            continue
        lens = _options_from(run, m)
        h = split_latents(run, model, run.specs[m]["corpus"], min(1000, lens.edge_samples))
        out.append(invariance_evidence(model.double(), h, lens, options.seed, m))
    if not out:
        raise NotTestable("the config has no model with two adjacent layers (tied_ae has one layer)")
    return out


def _tiny_relu_mlp(seed: int):
    params, h = _random_relu_mlp_params(seed, m=4, d=6, V=12)
    return _relu_mlp(*(params[k] for k in ("W_e", "W_in", "b_in", "W_out", "b"))), h[:300]


@control("degeneracy.basis_invariant", "positive", "a random relu_mlp, its interaction basis")
def _invariant_positive(options: ClaimOptions) -> list[Evidence]:
    from bowsflow.lenses.interaction.analysis import InteractionOptions

    model, h = _tiny_relu_mlp(options.seed)
    return [invariance_evidence(model, h, InteractionOptions(), options.seed, "random relu_mlp")]


@control(
    "degeneracy.basis_invariant",
    "negative",
    "the same model and maps, the edges in its PCA basis (which a reparameterization rotates)",
)
def _invariant_negative(options: ClaimOptions) -> list[Evidence]:
    from bowsflow.lenses.interaction.analysis import InteractionOptions

    model, h = _tiny_relu_mlp(options.seed)
    return [invariance_evidence(model, h, InteractionOptions(), options.seed, "random relu_mlp, PCA basis", "pca")]


# --- modular beyond its degrees ------------------------------------------------------------------------------
def modularity_evidence(test: dict, compared: str) -> Evidence:
    """Evidence that the strongest-edge graph is modular beyond what its nodes' degrees give: its Q against
    the Q of degree-preserving rewirings (:func:`~bowsflow.lenses.interaction.communities.modularity_against_rewiring`).
    The p-value is the rewirings' (Phipson–Smyth) while some rewiring reaches the observed Q; beyond all of
    them, where a finite count can only say p ≤ 1/(B + 1), it is the normal tail of the rewirings' Q
    (z-score), and the details say so."""
    from scipy import stats

    null = np.asarray(test["null"], dtype=np.float64)
    observed = float(test["modularity"])
    p = test["p_value"]
    method = "degree-preserving rewirings (Phipson–Smyth)"
    z = float((observed - null.mean()) / null.std(ddof=1)) if null.size > 1 and null.std(ddof=1) > 0 else None
    if p is not None and p <= 1.0 / (1 + null.size) + 1e-15 and z is not None:
        p, method = float(stats.norm.sf(z)), "normal tail of the rewirings' Q (beyond every rewiring)"
    return Evidence(
        compared=compared,
        effect=observed,
        null=float(test["null_mean"]),
        n=int(test["n_edges"]),
        p_value=p,
        ceiling=1.0,
        details={
            "n_rewirings": test["n_rewirings"],
            "z_score": z,
            "p_value_method": method,
            "null": "degree-preserving rewirings of the same graph",
        },
    )


@claim(
    "degeneracy.modular",
    paper=PAPER,
    statement="The interaction graph is modular: its communities hold more of its weight than the same graph "
    "rewired with every node's degree kept.",
    compares="each model with adjacent layers, the graph of the edges holding 99% of each layer pair's mass "
    "in the interaction basis",
    metric="Newman's modularity Q of the lens' communities (Louvain or Leiden), against degree-preserving rewirings",
    direction="greater",
    min_n=10,
    n_counts="edges",
)
def modular(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    out = []
    for m in run.analysed(run.select(names, text=False)):
        info = run.lens_json(m, "interaction").get("modularity", {}).get("interaction", {})
        if "against_rewiring" in info:
            out.append(modularity_evidence(info["against_rewiring"], m))
    if not out:
        raise NotTestable("no model has an interaction graph (two adjacent layers)")
    return out


def _two_modules(options: ClaimOptions, planted: bool):
    """Three layers of 8 nodes with edges between neighbours: two planted modules (nodes 0–3 connect only
    to 0–3, 4–7 to 4–7, with a little weight across) or the same weights placed at random."""
    from bowsflow.lenses.interaction.communities import CommunityOptions, modularity_against_rewiring

    rng = np.random.default_rng([options.seed, 16])
    sets = []
    for src, dst in (("a", "b"), ("b", "c")):
        block = np.kron(np.eye(2), np.ones((4, 4))) * rng.uniform(0.5, 1.0, (8, 8)) + 0.001
        if not planted:
            block = rng.permutation(block.ravel()).reshape(8, 8)
        sets.append((src, dst, block))
    return modularity_against_rewiring(sets, CommunityOptions(seed=options.seed), 50)


@control("degeneracy.modular", "positive", "a three-layer graph of two planted modules")
def _modular_positive(options: ClaimOptions) -> list[Evidence]:
    return [modularity_evidence(_two_modules(options, True), "two modules")]


@control("degeneracy.modular", "negative", "the same edge weights placed at random")
def _modular_negative(options: ClaimOptions) -> list[Evidence]:
    return [modularity_evidence(_two_modules(options, False), "random placement")]
