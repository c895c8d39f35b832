"""Degeneracy and the interaction basis (Bushnaq et al., 2024): interactions are sparser in the
interaction basis, and the method counts degeneracies exactly where they are planted."""

from __future__ import annotations

import copy

import numpy as np
import torch

from bowsflow.claims.registry import ClaimOptions, Evidence, NotTestable, claim
from bowsflow.claims.run import RunData
from bowsflow.claims.stats import percentile_interval

PAPER = "Bushnaq et al. 2024, degeneracy and the interaction basis"


@claim(
    "degeneracy.interaction_basis_sparser",
    paper=PAPER,
    statement="Interactions between adjacent layers are sparser in the interaction basis than in the neuron and "
    "PCA bases: fewer edges carry 99% of the edge mass.",
    compares="each model with adjacent layers (its layer pairs pooled)",
    metric="edges saved: 1 − edges(interaction) / min(edges(neuron), edges(PCA)) for 99% of the mass, mean over "
    "layer pairs",
    direction="greater",
    min_n=10,
    n_counts="half-samples of the edge samples",
)
def interaction_basis_sparser(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    """The interval: the spread of the same statistic over the interaction lens' paired half-samples of
    its edge samples (``edges_for_99pct_mass_half_samples``), which matches the whole set's sampling spread."""
    out = []
    for m in run.analysed(run.select(names, text=False)):
        pairs = run.lens_json(m, "interaction").get("edges", {})
        if not pairs:
            continue

        def saved(counts):
            return 1.0 - counts["interaction"] / max(1, min(counts["neuron"], counts["pca"]))

        rows = [
            {"layers": k, **{b: v[b]["edges_for_99pct_mass"] for b in ("interaction", "neuron", "pca")}}
            for k, v in pairs.items()
        ]
        effect = float(np.mean([saved(r) for r in rows]))
        halves = [
            v[b].get("edges_for_99pct_mass_half_samples")
            for v in pairs.values()
            for b in ("interaction", "neuron", "pca")
        ]
        if all(halves):
            R = len(halves[0])
            per_half = np.array(
                [
                    np.mean(
                        [
                            saved(
                                {
                                    b: v[b]["edges_for_99pct_mass_half_samples"][r]
                                    for b in ("interaction", "neuron", "pca")
                                }
                            )
                            for v in pairs.values()
                        ]
                    )
                    for r in range(R)
                ]
            )
            interval = percentile_interval(per_half, options.confidence)
        else:  # an interaction.json written before the half-samples
            per_half, interval = np.zeros(0), None
        out.append(
            Evidence(
                compared=m,
                effect=effect,
                null=0.0,
                n=int(per_half.size),
                interval=interval,
                ceiling=1.0,
                details={
                    "edges_for_99pct_mass": rows,
                    "n_layer_pairs": len(rows),
                    "interval_method": "percentile of the statistic over paired half-samples of the edge samples",
                },
            )
        )
    if not out:
        raise NotTestable("no model has two adjacent layers with an interaction basis (tied_ae has one layer)")
    return out


# --- planted degeneracies ------------------------------------------------------------------------------
def planted_relu_mlp(model, n_copies: int = 3, n_combinations: int = 2, seed: int = 0):
    """A control relu_mlp built from a trained one without training, computing the same function, with
    known degeneracies planted in its hidden layer: the most often active hidden unit copied so that it
    appears ``n_copies`` times (its outgoing weights split evenly: n_copies − 1 dependent directions), and
    ``n_combinations`` units whose pre-activations are fixed random combinations of the others' (with zero
    outgoing weights). Returns (control model, planted = n_copies − 1 + n_combinations)."""
    p = {k: v.detach().double().clone() for k, v in model.named_parameters()}
    W_in, b_in, W_out = p["W_in"], p["b_in"], p["W_out"]
    j = int(torch.argmax(W_in.abs().sum(dim=1)))  # any unit works; a large one keeps the copies far from noise
    rng = np.random.default_rng(seed)
    mix = torch.as_tensor(rng.standard_normal((n_combinations, W_in.shape[0])))
    new_in = torch.cat([W_in, W_in[j].repeat(n_copies - 1, 1), mix @ W_in])
    new_b = torch.cat([b_in, b_in[j].repeat(n_copies - 1), mix @ b_in])
    W_out = W_out.clone()
    W_out[:, j] /= n_copies
    new_out = torch.cat(
        [
            W_out,
            W_out[:, j : j + 1].repeat(1, n_copies - 1),
            torch.zeros(W_out.shape[0], n_combinations, dtype=W_out.dtype),
        ],
        dim=1,
    )
    control = copy.deepcopy(model).double()
    with torch.no_grad():
        control.W_in = torch.nn.Parameter(new_in)
        control.b_in = torch.nn.Parameter(new_b)
        control.W_out = torch.nn.Parameter(new_out)
    return control, n_copies - 1 + n_combinations


def degeneracy_counts(model, h: np.ndarray, layer: str, threshold: float, lambda_threshold: float) -> dict:
    """Small eigenvalues of the layer's Gram G and Jacobian Gram M (below ``threshold`` × the largest) and
    the interaction basis' size, for latent vectors h [n, m] (the library's own functions)."""
    from bowsflow.lenses.interaction.basis import degeneracy, gram_from_moments, interaction_basis, jacobian_gram
    from bowsflow.linalg import sorted_eigh

    with torch.no_grad():
        f = model.double().layers_from_latent(torch.as_tensor(h))[layer].numpy()
    G = gram_from_moments(f.T @ f, f.sum(axis=0), f.shape[0])
    total, n = jacobian_gram(model, h, layer)
    M = total / n
    basis = interaction_basis(G, M, 1e-10, lambda_threshold)
    return {
        "gram_small": degeneracy(sorted_eigh(G)[0], threshold)["n_below_threshold"],
        "jacobian_small": degeneracy(sorted_eigh(M)[0], threshold)["n_below_threshold"],
        "basis_size": int(basis.C.shape[1]),
        "width": int(f.shape[1]),
    }


def validation_latents(run: RunData, model, corpus: str, limit: int) -> np.ndarray:
    """[n, m] float64 latent vectors of up to ``limit`` validation samples (the first ones, in store order)."""
    import zarr

    group = zarr.open_group(str(run.bows_path(corpus)), mode="r")
    idx = np.flatnonzero(np.asarray(group["split"][:]) == "val")[:limit]
    X = np.asarray(group["bows"].get_orthogonal_selection((idx, slice(None))))
    with torch.no_grad():
        return model.double().encode_dense(torch.as_tensor(X)).numpy()


@claim(
    "degeneracy.planted_counts",
    paper=PAPER,
    statement="The method counts degeneracies exactly: a control model with k planted dependent hidden directions "
    "(copied ReLUs with split outgoing weights, linear combinations of other units) shows exactly k more small "
    "Gram eigenvalues, and the same interaction-basis size.",
    compares="each relu_mlp configuration (its first seed) against its control, built without training",
    metric="extra small Gram eigenvalues of the hidden layer, control minus trained (expected: the planted count)",
    direction="equal",
    min_n=200,
    n_counts="validation samples",
)
def planted_counts(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    from bowsflow.models.checkpoints import load_model

    out = []
    for models in run.replicates(run.analysed(run.select(names, arch="relu_mlp", text=False))):
        m = models[0]
        spec = run.specs[m]
        model, _ = load_model(run.checkpoint(m))
        model = model.double()
        control, planted = planted_relu_mlp(model, seed=options.seed)
        h = validation_latents(run, model, spec["corpus"], 2000)
        interaction = run.lens_json(m, "interaction").get("options", {})
        threshold = float(interaction.get("degeneracy_threshold", 1e-6))
        lam = float(interaction.get("lambda_threshold", 1e-10))
        before = degeneracy_counts(model, h, "hidden_pre", threshold, lam)
        after = degeneracy_counts(control, h, "hidden_pre", threshold, lam)
        with torch.no_grad():
            x = torch.as_tensor(h)
            same = float(
                (model.layers_from_latent(x)["out_pre"] - control.layers_from_latent(x)["out_pre"]).abs().max()
            )
        out.append(
            Evidence(
                compared=f"{m} and its control ({planted} planted)",
                effect=float(after["gram_small"] - before["gram_small"]),
                null=float(planted),
                n=int(h.shape[0]),
                details={
                    "trained": before,
                    "control": after,
                    "jacobian_extra_small": after["jacobian_small"] - before["jacobian_small"],
                    "basis_size_unchanged": after["basis_size"] == before["basis_size"],
                    "max_output_difference": same,
                    "threshold": threshold,
                },
            )
        )
    if not out:
        raise NotTestable("the config has no relu_mlp model (the controls copy its hidden ReLUs)")
    return out
