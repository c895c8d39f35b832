"""Communities of the interaction graph: edge norms, Louvain and Leiden on a planted two-module network,
modularity against an independent computation, and the rewiring null."""

import numpy as np
import pytest

from bowsflow.lenses.interaction.analysis import InteractionOptions, community_options
from bowsflow.lenses.interaction.communities import (
    CommunityOptions,
    modularity,
    modularity_against_rewiring,
    normalised_edges,
)

LAYERS = (("a", "b"), ("b", "c"))


def two_modules(planted: bool = True, cross: float = 0.001, seed: int = 0):
    """Three layers of 8 nodes: nodes 0–3 of each layer connect to 0–3 of the next, 4–7 to 4–7 (weights
    0.5–1), with ``cross`` between the modules; or the same weights at random places."""
    rng = np.random.default_rng(seed)
    sets = []
    for src, dst in LAYERS:
        block = np.kron(np.eye(2), np.ones((4, 4))) * rng.uniform(0.5, 1.0, (8, 8)) + cross
        if not planted:
            block = rng.permutation(block.ravel()).reshape(8, 8)
        sets.append((src, dst, block))
    return sets


def q_by_hand(edge_sets, members: dict) -> float:
    """Q = (1/2W) Σ_uv [A_uv − k_u k_v / 2W] δ(c_u, c_v), from the adjacency matrix."""
    nodes = sorted(
        {
            (layer, i)
            for src, dst, E in edge_sets
            for layer, n in ((src, E.shape[1]), (dst, E.shape[0]))
            for i in range(n)
        }
    )
    index = {node: k for k, node in enumerate(nodes)}
    A = np.zeros((len(nodes), len(nodes)))
    for src, dst, E in edge_sets:
        for i in range(E.shape[0]):
            for j in range(E.shape[1]):
                A[index[(dst, i)], index[(src, j)]] = A[index[(src, j)], index[(dst, i)]] = E[i, j]
    k = A.sum(axis=1)
    two_w = A.sum()
    same = np.array([[members[u] == members[v] for v in nodes] for u in nodes])
    return float(((A - np.outer(k, k) / two_w) * same).sum() / two_w)


def test_edge_norms_known_answers():
    E = np.array([[1e-7, 1e-6], [1e-4, 4e-4]])
    np.testing.assert_allclose(normalised_edges(E, "none"), E)
    np.testing.assert_allclose(normalised_edges(E, "sqrt"), np.sqrt(E))
    np.testing.assert_allclose(normalised_edges(E, "sum").sum(), 1.0, rtol=1e-15)
    assert normalised_edges(E, "max").max() == 1.0
    # log10(E / 1e-6) clipped at 0: the edges at or below eps leave the graph
    np.testing.assert_allclose(normalised_edges(E, "log", 1e-6), [[0.0, 0.0], [2.0, np.log10(400)]], atol=1e-15)
    with pytest.raises(ValueError, match="edge_norm"):
        normalised_edges(E, "l2")


@pytest.mark.parametrize("method", ["louvain", "leiden"])
def test_both_methods_recover_planted_modules(method):
    sets = two_modules()
    members: dict = {}
    found = modularity(sets, CommunityOptions(method=method), members)
    planted = [{(layer, i) for layer in "abc" for i in range(4)}, {(layer, i) for layer in "abc" for i in range(4, 8)}]
    parts = {}
    for node, c in members.items():
        parts.setdefault(c, set()).add(node)
    assert sorted(parts.values(), key=min) == planted
    assert found["n_communities"] == 2 and found["method"] == method
    # the reported Q is Newman's at γ = 1, equal to the formula evaluated by hand
    assert found["modularity"] == pytest.approx(q_by_hand(sets, members), abs=1e-12)
    # two equal modules with almost nothing across: Q just under 1/2
    assert 0.49 < found["modularity"] < 0.5


@pytest.mark.parametrize("method", ["louvain", "leiden"])
def test_resolution_reaches_the_method(method):
    """At a tiny γ the null term vanishes and the connected graph is one community (Q = 0 exactly); at a
    large γ it falls apart into more communities than the two planted ones."""
    sets = two_modules()
    low = modularity(sets, CommunityOptions(method=method, resolution=1e-4))
    high = modularity(sets, CommunityOptions(method=method, resolution=20.0))
    assert low["n_communities"] == 1 and low["modularity"] == pytest.approx(0.0, abs=1e-12)
    assert high["n_communities"] > 2


@pytest.mark.parametrize("method", ["louvain", "leiden"])
def test_planted_modules_beat_rewiring_and_random_placement_does_not(method):
    options = CommunityOptions(method=method)
    planted = modularity_against_rewiring(two_modules(), options, n_rewirings=40)
    shuffled = modularity_against_rewiring(two_modules(planted=False), options, n_rewirings=40)
    assert planted["p_value"] == pytest.approx(1 / 41) and planted["modularity"] > max(planted["null"])
    assert shuffled["p_value"] > 0.05


def test_lens_options_reach_the_graph():
    options = community_options(InteractionOptions(communities="leiden", resolution=0.5, edge_norm="sqrt"))
    assert options == CommunityOptions("leiden", 0.5, "sqrt", 1e-6, 0)
    found = modularity(two_modules(), options)
    assert (found["method"], found["resolution"], found["edge_norm"]) == ("leiden", 0.5, "sqrt")
