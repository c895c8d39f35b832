"""Modules of the interaction graph: communities of its nodes and their modularity against a null.

The graph's nodes are (layer, direction) and its weighted edges the edge strengths E between adjacent
layers (:func:`bowsflow.lenses.interaction.basis.edge_strengths`), each layer pair's matrix first
normalised (``edge_norm``, as the reference code offers: none, sqrt, sum, max, log). Communities come
from Louvain (networkx) or Leiden (leidenalg on igraph, the reference's algorithm), both at a
``resolution`` γ (γ = 1 optimises Newman's modularity). Whatever γ, the modularity reported is Newman's
Q at γ = 1 of the partition found, so that values compare across methods and resolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGE_NORMS = ("none", "sqrt", "sum", "max", "log")
METHODS = ("louvain", "leiden")


@dataclass(frozen=True)
class CommunityOptions:
    method: str = "louvain"  # louvain | leiden
    resolution: float = 1.0  # γ of the quality function each method optimises
    edge_norm: str = "none"  # none | sqrt | sum | max | log (per layer pair)
    edge_norm_eps: float = 1e-6  # the log norm's zero point: log10(E / eps), clipped at 0
    seed: int = 0


def normalised_edges(E: np.ndarray, norm: str, eps: float = 1e-6) -> np.ndarray:
    """One layer pair's edges [r_dst, r_src] under ``norm``: none (E), sqrt (√E), sum (E / ΣE), max
    (E / max E) or log (log10(E / eps) clipped at 0, so edges below eps drop out)."""
    E = np.asarray(E, dtype=np.float64)
    if norm == "none":
        return E
    if norm == "sqrt":
        return np.sqrt(E)
    if norm in ("sum", "max"):
        scale = E.sum() if norm == "sum" else E.max(initial=0.0)
        return E / scale if scale > 0 else E
    if norm == "log":
        with np.errstate(divide="ignore"):
            return np.clip(np.log10(E / eps), 0.0, None)
    raise ValueError(f"edge_norm: {norm!r} is not one of {EDGE_NORMS}")


def weighted_edges(edge_sets, norm: str = "none", eps: float = 1e-6) -> list[tuple[tuple, tuple, float]]:
    """((dst, i), (src, j), weight) of every positive edge of ``edge_sets`` ([(src, dst, E [r_dst, r_src])]),
    after :func:`normalised_edges`."""
    out = []
    for src, dst, E in edge_sets:
        W = normalised_edges(E, norm, eps)
        out += [((dst, int(i)), (src, int(j)), float(W[i, j])) for i, j in zip(*np.nonzero(W > 0))]
    return out


def communities(nodes: list, edges: list[tuple], options: CommunityOptions) -> list[set]:
    """A partition of ``nodes`` (hashable labels) by the weighted ``edges`` ((u, v, w)) with
    ``options.method`` at ``options.resolution``; isolated nodes are their own communities."""
    if options.method == "louvain":
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(nodes)
        graph.add_weighted_edges_from(edges)
        return [
            set(c) for c in nx.community.louvain_communities(graph, "weight", options.resolution, seed=options.seed)
        ]
    if options.method == "leiden":
        import igraph
        import leidenalg

        index = {node: k for k, node in enumerate(nodes)}
        graph = igraph.Graph(n=len(nodes), edges=[(index[u], index[v]) for u, v, _ in edges])
        graph.es["weight"] = [w for _, _, w in edges]
        partition = leidenalg.find_partition(
            graph,
            leidenalg.RBConfigurationVertexPartition,  # modularity with a resolution parameter
            weights="weight",
            resolution_parameter=options.resolution,
            n_iterations=-1,  # until no improvement
            seed=options.seed,
        )
        return [{nodes[k] for k in members} for members in partition]
    raise ValueError(f"communities: {options.method!r} is not one of {METHODS}")


def newman_modularity(nodes: list, edges: list[tuple], parts: list[set]) -> float:
    """Newman's weighted modularity Q (γ = 1) of the partition ``parts``: Σ_c [W_c / W − (K_c / 2W)²], with W
    the total edge weight, W_c the weight inside community c and K_c the weighted degree of its nodes."""
    label = {node: c for c, part in enumerate(parts) for node in part}
    u = np.array([label[a] for a, _, _ in edges])
    v = np.array([label[b] for _, b, _ in edges])
    w = np.array([weight for _, _, weight in edges], dtype=np.float64)
    total = w.sum()
    inside = np.bincount(u[u == v], weights=w[u == v], minlength=len(parts))
    degree = np.bincount(u, weights=w, minlength=len(parts)) + np.bincount(v, weights=w, minlength=len(parts))
    return float((inside / total - (degree / (2 * total)) ** 2).sum())


def _nodes(edge_sets) -> list:
    nodes: dict = {}
    for src, dst, E in edge_sets:
        nodes.update(dict.fromkeys((src, j) for j in range(E.shape[1])))
        nodes.update(dict.fromkeys((dst, i) for i in range(E.shape[0])))
    return list(nodes)


def modularity(edge_sets, options: CommunityOptions = CommunityOptions(), members: dict | None = None) -> dict:
    """Communities of the graph of ``edge_sets`` ([(src, dst, E)]) and their modularity Q (γ = 1). Given a
    dict ``members``, it is filled with node → community index (for the graph figure)."""
    nodes = _nodes(edge_sets)
    edges = weighted_edges(edge_sets, options.edge_norm, options.edge_norm_eps)
    found = {"method": options.method, "resolution": options.resolution, "edge_norm": options.edge_norm}
    if not edges:
        return found | {"n_communities": 0, "modularity": None}
    parts = communities(nodes, edges, options)
    if members is not None:
        members.update({node: c for c, part in enumerate(parts) for node in part})
    return found | {"n_communities": len(parts), "modularity": newman_modularity(nodes, edges, parts)}


def strongest_edges(E: np.ndarray, share: float = 0.99) -> list[tuple[int, int, float]]:
    """(i, j, E_ij) of the strongest edges that hold ``share`` of the mass (:func:`edges_for_mass`)."""
    from bowsflow.lenses.interaction.basis import edges_for_mass

    k = edges_for_mass(E, share)
    flat = np.argsort(E.ravel(), kind="stable")[::-1][:k]
    i, j = np.unravel_index(flat, E.shape)
    return [(int(a), int(b), float(E[a, b])) for a, b in zip(i, j)]


def rewired(edges: list[tuple[int, int, float]], rng, swaps_per_edge: int = 10) -> list[tuple[int, int, float]]:
    """A degree-preserving rewiring of one layer pair's edges (i in the later layer, j in the earlier;
    weights travel with their edges): Maslov–Sneppen double-edge swaps (a–b, c–d) → (a–d, c–b), skipped
    where they would duplicate an edge. Every node keeps its number of edges in the pair."""
    edges = list(edges)
    if not edges:
        return edges
    dst, src = [e[0] for e in edges], [e[1] for e in edges]
    present = set(zip(dst, src))
    # the pairs to try, drawn at once (the same stream as one draw of two per attempt)
    for x, y in rng.integers(0, len(edges), (swaps_per_edge * len(edges), 2)).tolist():
        a, b, c, d = dst[x], src[x], dst[y], src[y]
        if a == c or b == d or (a, d) in present or (c, b) in present:
            continue
        present.difference_update(((a, b), (c, d)))
        present.update(((a, d), (c, b)))
        src[x], src[y] = d, b
    return [(i, j, w) for i, j, (_, _, w) in zip(dst, src, edges)]


def modularity_against_rewiring(
    edge_sets, options: CommunityOptions = CommunityOptions(), n_rewirings: int = 50, share: float = 0.99
) -> dict:
    """Modularity Q (γ = 1) of the communities of the graph of the strongest edges (``share`` of each
    layer pair's mass, weights normalised by ``options.edge_norm``), against the same graph rewired
    ``n_rewirings`` times with every node's degree kept (:func:`rewired`): the null a graph of those
    degrees reaches by chance. Returns the observed Q, the null's Q values and the one-sided permutation
    p-value (Phipson & Smyth)."""

    def q(sets):
        edges = [((dst, i), (src, j), w) for src, dst, e in sets for i, j, w in e]
        nodes = list(dict.fromkeys(node for u, v, _ in edges for node in (u, v)))  # Louvain's visiting order
        if not edges:
            return float("nan")
        return newman_modularity(nodes, edges, communities(nodes, edges, options))

    normed = [(src, dst, normalised_edges(E, options.edge_norm, options.edge_norm_eps)) for src, dst, E in edge_sets]
    sparse = [(src, dst, strongest_edges(E, share)) for src, dst, E in normed]
    sparse = [(src, dst, [e for e in edges if e[2] > 0]) for src, dst, edges in sparse]
    observed = q(sparse)
    rng = np.random.default_rng([options.seed, 11])
    null = np.array([q([(s, d, rewired(e, rng)) for s, d, e in sparse]) for _ in range(n_rewirings)])
    return {
        "method": options.method,
        "resolution": options.resolution,
        "edge_norm": options.edge_norm,
        "modularity": observed,
        "null": null.tolist(),
        "null_mean": float(np.nanmean(null)) if null.size else None,
        "p_value": float((1 + np.sum(null >= observed)) / (1 + null.size)) if np.isfinite(observed) else None,
        "n_edges": int(sum(len(e) for _, _, e in sparse)),
        "n_rewirings": int(n_rewirings),
    }
