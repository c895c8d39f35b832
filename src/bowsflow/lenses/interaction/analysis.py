"""The degeneracy / interaction-basis analyses of one model (see :mod:`bowsflow.lenses.interaction.basis`)."""

from __future__ import annotations

import numpy as np
import torch

from bowsflow.lenses.interaction.ablation import (
    ablation_ks,
    edge_ablation_curve,
    neuron_order,
    node_ablation_curve,
    unablated_loss,
)
from bowsflow.lenses.interaction.basis import (
    centred_moments,
    cofiring_groups,
    cofiring_summary,
    dask_gram,
    degeneracy,
    edge_strengths,
    edges_for_mass,
    interaction_basis,
    jaccard_groups,
    jacobian_gram,
    next_layer_jacobian_gram,
)
from bowsflow.lenses.interaction.communities import CommunityOptions, modularity, modularity_against_rewiring
from bowsflow.lenses.interaction.integration import integration_points, next_layer_moments, output_moments
from bowsflow.linalg import sorted_eigh
from bowsflow.schema import schema_options
from bowsflow.store.checked import open_dataset, open_group
from bowsflow.store.provenance import input_checksums, provenance_attrs


@schema_options("analysis.interaction")
class InteractionOptions:
    """``analysis.interaction`` of the config (defaults: the schema's)."""

    centred: bool
    constant: str  # rotate | isolate (the reference's centring: the constant direction kept out of the rotation)
    gram_products: str  # float64 | float32 (faster; sums across chunks stay float64)
    threshold: float  # relative: eigenvalues below threshold × the largest are dropped
    lambda_threshold: float  # relative: directions with |Λ| below it are dropped
    degeneracy_threshold: float
    through_output_relu: bool
    n_rewirings: int
    communities: str  # louvain | leiden
    resolution: float  # γ of the community method's quality function
    edge_norm: str  # none | sqrt | sum | max | log: each layer pair's edges before the graph is made
    edge_norm_eps: float  # the log norm's zero point
    jacobian_samples: int
    jacobian_batch: int
    jacobian_block_mb: float
    jacobian_of: str  # output (global) | next_layer (the local chain)
    integration: str  # gradient | trapezoidal | gauss_legendre (integrated gradients)
    n_alphas: int  # points of the integration rule
    basis_formula: str  # jacobian | (1-0)*alpha | (1-alpha)^2
    edge_formula: str  # squared | functional
    hidden_node: str  # residual_fixed | with_residual (the node carries the residual stream)
    edge_samples: int
    ablation_samples: int
    jaccard_threshold: float | None
    seed: int


def analyze_interaction(
    *,
    activations,
    checkpoint,
    codes,
    store,
    options: InteractionOptions = InteractionOptions(),
    threads: int = 1,
    bows=None,
):
    """Gram and Jacobian spectra, degeneracies, the interaction basis of each of the architecture's
    Jacobian layers, ReLU co-firing, edges between adjacent layers in three bases and, given the BOWS
    store (``bows``), node ablation curves on validation samples. Returns (summary, figures)."""
    import dask.array as da
    import xarray as xr

    from bowsflow.lenses.interaction.residual_node import ResidualNodeModel, hidden_layer
    from bowsflow.models.checkpoints import load_model
    from bowsflow.store.zarr_io import write_dataset

    model, meta = load_model(checkpoint)
    arch = meta["arch"]
    acts = open_dataset(activations)
    node = None
    if options.hidden_node == "with_residual" and hidden_layer(model) is not None:
        model = ResidualNodeModel(model)  # the hidden node carries the residual stream
        node = model.node

    def stored(layer):  # a layer's activations: the store's array, or the residual node's two parts
        if layer == node:
            return da.concatenate([acts["latent"].data, acts[model.hidden].data], axis=1)
        return open_group(activations)[layer]

    def in_store(layer):
        return all(part in acts.variables for part in (("latent", model.hidden) if layer == node else (layer,)))

    n = int(acts.sizes["sample"])
    rng = np.random.default_rng(options.seed)
    jac_idx = np.sort(rng.choice(n, min(n, options.jacobian_samples), replace=False))
    h_jac = acts["latent"].isel(sample=jac_idx).values.astype(np.float64)
    summary = {"model": meta.get("model"), "arch": arch, "layers": {}, "options": options.__dict__}
    figures = {"spectra": {}, "edge_mass": {}}
    data_vars, bases = {}, {}
    points = integration_points(options.integration, options.n_alphas)
    integrated = options.basis_formula != "jacobian" or not points.is_gradient
    # the local chain builds each layer's basis from the next one's: from the output backwards
    local = options.jacobian_of == "next_layer"
    next_of = dict(model.adjacent_pairs) if local else {}
    for layer in reversed(model.jacobian_layers) if local else model.jacobian_layers:
        if not in_store(layer):
            summary["layers"][layer] = {"skipped": "not in the activation store (extract.layers)"}
            continue
        G = dask_gram(stored(layer), False, threads, np.dtype(options.gram_products))
        lam_total = None
        if next_of.get(layer) in bases:  # against the next layer's interaction basis
            nxt = next_of[layer]
            P = bases[nxt][0].C.T @ bases[nxt][2]  # f̂_next = Cᵀ S f̃_next
            if integrated:
                total, lam_total, count = next_layer_moments(
                    model, h_jac, layer, nxt, P, points, options.basis_formula, options.jacobian_batch
                )
            else:
                total, count = next_layer_jacobian_gram(model, h_jac, layer, nxt, P, options.jacobian_block_mb)
            against = f"the interaction basis of {nxt}"
        else:
            # where the decoder's input is affine in the layer (folded: the same Jacobian at every α), the
            # jacobian formula without the output ReLU integrates to the gradient's M: no points needed
            affine = model.decoder_input(layer)[1] and not options.through_output_relu
            if integrated and not (affine and options.basis_formula == "jacobian"):
                total, lam_total, count = output_moments(
                    model,
                    h_jac,
                    layer,
                    points,
                    options.basis_formula,
                    options.through_output_relu,
                    options.jacobian_batch,
                )
            else:
                total, count = jacobian_gram(
                    model, h_jac, layer, options.through_output_relu, options.jacobian_batch, options.jacobian_block_mb
                )
            against = "the output" + (" x̂" if options.through_output_relu else " z")
        lam_dash = None if lam_total is None else lam_total / count
        bases[layer], (G, M, g_vals, g_vecs, m_vals, m_vecs) = layer_basis(G, total / count, options, lam_dash)
        basis = bases[layer][0]
        lam_rel = np.abs(basis.Lambda) / max(np.abs(basis.Lambda).max(), 1e-300)
        summary["layers"][layer] = {
            "width": int(G.shape[0] - 1),
            "jacobian_of": against,
            "n_samples_gram": n,
            "n_samples_jacobian": int(count),
            "gram": degeneracy(g_vals, options.degeneracy_threshold),
            "jacobian": degeneracy(m_vals, options.degeneracy_threshold),
            "basis_size": int(basis.C.shape[1]),
            "n_lambda_dropped": basis.n_lambda_dropped,
            "n_lambda_above_1e-3_of_max": int((lam_rel > 1e-3).sum()),
        }
        figures["spectra"][layer] = {"gram": g_vals, "jacobian": m_vals}
        w1 = G.shape[0]
        dims, bdim = (f"{layer}_i", f"{layer}_j"), f"{layer}_basis"
        data_vars |= {
            f"gram_eigvals_{layer}": ((f"{layer}_j",), g_vals),
            f"gram_eigvecs_{layer}": (dims, g_vecs),
            f"jacobian_eigvals_{layer}": ((f"{layer}_j",), m_vals),
            f"jacobian_eigvecs_{layer}": (dims, m_vecs),
            f"C_{layer}": ((f"{layer}_i", bdim), basis.C),
            f"Cpinv_{layer}": ((bdim, f"{layer}_i"), basis.Cpinv),
            f"Lambda_{layer}": ((bdim,), basis.Lambda),
        }
        assert w1 == basis.C.shape[0]
    summary["layers"] = {layer: summary["layers"][layer] for layer in model.jacobian_layers}  # in flow order
    # ReLU co-firing (from the polytope codes)
    codes_group = open_group(codes)
    summary["cofiring"] = {}
    for layer in model.relu_layers:
        layer_codes = codes_group[f"codes_{layer}"]
        n_units = model.layer_width(layer)
        chunk = int(layer_codes.chunks[0])

        def blocks():
            for lo in range(0, n, chunk):
                yield np.asarray(layer_codes[lo : lo + chunk])

        fire = np.zeros(n_units, dtype=np.int64)
        for block in blocks():
            fire += np.unpackbits(block, axis=1, count=n_units).sum(axis=0, dtype=np.int64)
        info = cofiring_summary(cofiring_groups(blocks(), n_units), fire)
        if options.jaccard_threshold is not None:
            groups = jaccard_groups(blocks(), n_units, options.jaccard_threshold)
            info["jaccard"] = {
                "threshold": options.jaccard_threshold,
                "n_groups": len(groups),
                "group_sizes": sorted(map(len, groups), reverse=True)[:50],
            }
        summary["cofiring"][layer] = info

    # interactions between adjacent layers, in three bases
    pairs = [(s, d) for s, d in model.adjacent_pairs if s in bases and d in bases]
    summary["edges"], edge_sets = {}, {"interaction": [], "neuron": [], "pca": []}
    if pairs:
        idx = np.sort(rng.choice(n, min(n, options.edge_samples), replace=False))
        h = torch.as_tensor(acts["latent"].isel(sample=idx).values.astype(np.float64))
        for src, dst in pairs:
            key = f"{src}->{dst}"
            # a stream of its own, so the draws after it (the ablation's samples) stay as they were
            edges, summary["edges"][key] = pair_edges(
                model, h, src, dst, bases, options, np.random.default_rng([options.seed, 1])
            )
            figures["edge_mass"][key] = {}
            for name, E in edges.items():
                edge_sets[name].append((src, dst, np.abs(E)))  # functional edges are signed: |E| orders them
                index = {"interaction": "basis", "neuron": "i", "pca": "j"}[name]
                data_vars[f"edges_{name}_{src}_{dst}"] = ((f"{dst}_{index}", f"{src}_{index}"), E)
                flat = np.sort(np.abs(E).ravel())[::-1]
                figures["edge_mass"][key][name] = np.cumsum(flat) / max(flat.sum(), 1e-300)
        members: dict = {}
        graph_options = community_options(options)
        graph_sets = dict(edge_sets)
        if options.constant == "isolate":  # as the reference: the constant directions stay singletons
            graph_sets["interaction"] = [(s, d, without_first_direction(E)) for s, d, E in edge_sets["interaction"]]
        summary["modularity"] = {
            name: modularity(sets, graph_options, members if name == "interaction" else None)
            for name, sets in graph_sets.items()
            if name in ("interaction", "neuron")
        }
        summary["modularity"]["interaction"]["against_rewiring"] = modularity_against_rewiring(
            graph_sets["interaction"], graph_options, options.n_rewirings
        )
        figures["graph"] = {
            "layers": [layer for layer in model.jacobian_layers if layer in bases],
            "lambda": {layer: np.abs(bases[layer][0].Lambda) for layer in bases},
            "edges": edge_sets["interaction"],
            "community": members,
        }
    else:
        summary["edges_note"] = f"{arch} has no pair of adjacent layers with a basis (tied_ae has one layer)"

    if bows is not None and options.ablation_samples > 0 and bases:
        summary["ablation"], figures["ablation"], figures["edge_ablation"] = _ablation(
            model, acts, bows, bases, edge_sets, options, rng
        )

    attrs = provenance_attrs(
        dict(options.__dict__),
        model=meta.get("model"),
        input_checksums=input_checksums(activations=activations, checkpoint=checkpoint, codes=codes),
    )
    ds = xr.Dataset(
        data_vars,
        attrs=attrs
        | {
            "note": "f̃ = [f, 1] (centred: [f − μ, 1]); the last index of each layer's i/j axes is the constant "
            "(bias) direction. edges_{basis}_{src}_{dst}: E[(∂f̂ᵢ/∂f̂ⱼ · f̂ⱼ)²], i indexing dst, j src, in that "
            "basis's coordinates (interaction: {layer}_basis; neuron: {layer}_i; pca: {layer}_j)",
            "centred": int(options.centred),
            "threshold": options.threshold,
        },
    )
    write_dataset(ds, store, threads)
    return summary, figures


BASES = ("interaction", "neuron", "pca")


def community_options(options: InteractionOptions) -> CommunityOptions:
    """How the interaction graph is cut into communities (:mod:`bowsflow.lenses.interaction.communities`)."""
    return CommunityOptions(
        options.communities, options.resolution, options.edge_norm, options.edge_norm_eps, options.seed
    )


def without_first_direction(E: np.ndarray) -> np.ndarray:
    """E with the edges of each layer's first direction (the isolated constant) set to 0."""
    E = E.copy()
    E[0, :] = E[:, 0] = 0.0
    return E


def layer_basis(
    G: np.ndarray, M: np.ndarray, options: InteractionOptions, Lambda_dash: np.ndarray | None = None
) -> tuple[tuple, tuple]:
    """One layer's interaction basis from its (uncentred) G and M: (the entry :func:`basis_maps` reads —
    InteractionBasis, Gram eigenvectors, the coordinates map S, the neuron order — and (G, M, their
    eigenvalues and eigenvectors) in the coordinates used). ``centred``: G, M and the edges' inputs all
    in the coordinates [f − μ, 1] = S f̃, a reparameterization."""
    S, G, M = centred_moments(G, M) if options.centred else (np.eye(G.shape[0]), G, M)
    if Lambda_dash is not None and options.centred:  # a gradient index (as M's) and an activation index
        S_inv = np.linalg.inv(S)
        Lambda_dash = S_inv.T @ Lambda_dash @ S.T
    g_vals, g_vecs = sorted_eigh(G, "descending")
    m_vals, m_vecs = sorted_eigh(M, "descending")
    basis = interaction_basis(
        G, M, options.threshold, options.lambda_threshold, options.constant == "isolate", Lambda_dash
    )
    return (basis, g_vecs, S, neuron_order(G, M)), (G, M, g_vals, g_vecs, m_vals, m_vecs)


def pair_edges(model, h: torch.Tensor, src: str, dst: str, bases: dict, options, rng) -> tuple[dict, dict]:
    """Edges between two adjacent layers for latent samples h, in the interaction, neuron and PCA bases
    (name → E) and the summary of each: the edges holding 99% of the mass, on the whole set and on
    EDGE_HALF_SAMPLES half-samples of it (``rng``), the total mass; and the same counts in a PCA basis cut
    to the interaction basis' width (``pca_same_width``: the top-r Gram directions of each layer), so that
    a sparser interaction basis is not only a narrower one."""
    maps = {layer: basis_maps(bases[layer]) for layer in (src, dst)}
    projections = {name: (*maps[src][name], maps[dst][name][0]) for name in BASES}
    narrow = {}
    for layer in (src, dst):
        basis, g_vecs, S, _ = bases[layer]
        top = g_vecs[:, : basis.C.shape[1]]
        narrow[layer] = (top.T @ S, np.linalg.inv(S) @ top)
    projections["pca_same_width"] = (*narrow[src], narrow[dst][0])
    functional = options.edge_formula == "functional"
    edges, grouped = edge_strengths(
        model,
        h,
        src,
        dst,
        projections,
        options.jacobian_block_mb,
        groups=EDGE_GROUPS,
        points=integration_points(options.integration, options.n_alphas),
        functional=functional,
    )

    n = int(h.shape[0])
    halves = half_sample_edge_counts(grouped, n, rng)
    summary = {
        name: {
            "n_edges": int(E.size),
            "n_samples": n,
            "edges_for_99pct_mass": edges_for_mass(np.abs(E), 0.99),  # functional edges are signed
            "edges_for_99pct_mass_half_samples": halves[name],
            "total_mass": float(np.abs(E).sum()),
        }
        for name, E in edges.items()
    }
    return {name: edges[name] for name in BASES}, summary


def basis_maps(layer_bases: tuple, ordered_neurons: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(P, P⁺) of a layer in each basis: coordinates f̂ = P f̃ and back f̃ = P⁺ f̂ on the data's subspace, with
    S (the centring map, or I) folded in. ``layer_bases`` = (InteractionBasis, Gram eigenvectors, S,
    neuron order). The neuron basis is S itself, or its rows in order of importance (``ordered_neurons``,
    for node ablation's top-k)."""
    basis, g_vecs, S, order = layer_bases
    S_inv = np.linalg.inv(S)
    P_neuron = S[order] if ordered_neurons else S
    return {
        "interaction": (basis.C.T @ S, S_inv @ basis.Cpinv.T),
        "neuron": (P_neuron, np.linalg.inv(P_neuron) if ordered_neurons else S_inv),
        "pca": (g_vecs.T @ S, S_inv @ g_vecs),
    }


# the edge samples fall into this many groups (sample i in group i mod EDGE_GROUPS); a half-sample is
# half of the groups, so its edge matrix is a sum of group sums, with no Jacobian recomputed
EDGE_GROUPS = 10
EDGE_HALF_SAMPLES = 20


def half_sample_edge_counts(grouped: dict, n: int, rng) -> dict[str, list[int]]:
    """Edges holding 99% of the mass in each of EDGE_HALF_SAMPLES seeded half-samples of the edge
    samples, per basis (the same half-samples for every basis, so they pair up). Their spread is the
    sampling spread of the whole set: a half-sample's variance is (1/b)(1 − b/n)σ² = σ²/n at b = n/2."""
    counts = np.bincount(np.arange(n) % EDGE_GROUPS, minlength=EDGE_GROUPS)
    picks = [rng.choice(EDGE_GROUPS, EDGE_GROUPS // 2, replace=False) for _ in range(EDGE_HALF_SAMPLES)]
    return {
        name: [edges_for_mass(np.abs(g[p].sum(axis=0)) / counts[p].sum(), 0.99) for p in picks]
        for name, g in grouped.items()
    }


def _ablation(model, acts, bows_path, bases, edge_sets, options, rng) -> tuple[dict, dict, dict]:
    """Node ablation curves of every layer with a basis, and edge ablation curves of every pair of
    adjacent layers, in the interaction, neuron and PCA bases, on a seeded subsample of the validation
    samples; with the unablated loss on the same samples."""

    bows = open_group(bows_path)
    val = np.flatnonzero(np.asarray(bows["split"][:]) == "val")
    idx = np.sort(rng.choice(val, min(val.size, options.ablation_samples), replace=False))
    h = acts["latent"].isel(sample=idx).values.astype(np.float64)
    x = np.asarray(bows["bows"].get_orthogonal_selection((idx, slice(None))))
    loss = "mse"  # the paper's loss, on x̂
    full = unablated_loss(model, h, x, loss)
    summary = {"n_samples": int(idx.size), "loss": loss, "unablated_val_loss": full, "layers": {}}
    figures = {}
    for layer in bases:
        summary["layers"][layer] = {}
        for name, (P, P_pinv) in basis_maps(bases[layer], ordered_neurons=True).items():
            ks = ablation_ks(P.shape[0])
            curve = node_ablation_curve(model, h, x, layer, P, P_pinv, ks, loss)
            summary["layers"][layer][name] = {"k": ks, "val_loss": curve.tolist()}
            figures.setdefault(layer, {})[name] = (np.asarray(ks), curve)
    summary["note"] = (
        "validation loss when a layer keeps its top-k directions in a basis (interaction: by |Λ|; "
        "neuron: by G_ii·M_ii; pca: by Gram eigenvalue), the rest of the model run on them"
    )
    figures["unablated"] = full
    # edge ablation: keep the strongest edges between two adjacent layers, in each basis
    edge_figures = {"unablated": full}
    summary["edges"] = {}
    for name, sets in edge_sets.items():
        for src, dst, E in sets:  # in the basis (and neuron order) that E was computed in
            P_src, P_src_pinv = basis_maps(bases[src])[name]
            P_dst, P_dst_pinv = basis_maps(bases[dst])[name]
            counts = ablation_ks(E.size, 24)
            curve = edge_ablation_curve(model, h, x, src, dst, (P_src, P_src_pinv, P_dst, P_dst_pinv), E, counts, loss)
            key = f"{src}->{dst}"
            summary["edges"].setdefault(key, {})[name] = {"edges_kept": counts, "val_loss": curve.tolist()}
            edge_figures.setdefault(key, {})[name] = (np.asarray(counts), curve)
    summary["edges_note"] = (
        "validation loss when only the strongest edges (by E_ij) from one layer to the next are kept, each "
        "direction of the next layer computed from its kept inputs, the rest of the model run on them"
    )
    return summary, figures, edge_figures
