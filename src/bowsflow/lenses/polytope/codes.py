"""The polytope lens (Black et al., 2022): the on/off pattern of a ReLU layer as the unit of description.

Codes: code = 1[pre-activation > 0] per unit, bit-packed along the unit axis with ``numpy.packbits``
(big-endian bit order: unit 8·j + k is bit 7 − k of byte j; trailing bits of the last byte are 0).

Distinct codes are counted exactly: each packed row gets a 64-bit hash, rows are grouped by hash, and
every row is compared byte by byte with its group's first row; rows that differ despite an equal hash
(collisions) are split off and counted exactly, so no two distinct codes are ever merged.

Paths: along a straight segment h(t) = (1 − t) h₀ + t h₁ in latent space, a pre-activation that is
affine in h (``out_pre`` of tied_ae, ``hidden_pre`` of relu_mlp) is affine in t: each unit flips at
most once, at t = z₀ / (z₀ − z₁), so the crossings are exact. ``out_pre`` of a bilinear model is
quadratic in t, so each unit flips at most twice, at the roots in (0, 1): also exact. ``out_pre`` of
relu_mlp goes through the hidden ReLU, but between two consecutive hidden crossings the hidden code is
fixed, so the residual and ``out_pre`` are affine in t there: each output flips at most once per
piece, found exactly piece by piece. Each architecture computes its crossings in its own module
(:meth:`bowsflow.models.base.BowsAutoencoder.path_crossings`); one without an exact form declares none.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)


def pack_codes(pre: np.ndarray) -> np.ndarray:
    """uint8 [n, ceil(units / 8)]: the packed code (pre > 0) of each row of pre [n, units]."""
    return np.packbits(np.asarray(pre) > 0, axis=1)


def unpack_codes(packed: np.ndarray, n_units: int) -> np.ndarray:
    """bool [n, n_units] from packed codes."""
    return np.unpackbits(packed, axis=1, count=n_units).astype(bool)


def row_hashes(packed: np.ndarray) -> np.ndarray:
    """uint64 [n]: a 64-bit hash of each packed row (not unique: see :func:`count_codes`)."""
    n, width = packed.shape
    pad = (-width) % 8
    words = np.ascontiguousarray(np.pad(packed, ((0, 0), (0, pad)))).view("<u8")
    h = np.full(n, np.uint64(width), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            h = (h ^ words[:, j]) * _M1
            h ^= h >> np.uint64(31)
            h *= _M2
    return h


def count_codes(packed: np.ndarray, hash_fn=row_hashes) -> dict[bytes, int]:
    """Exact counts of the distinct rows of ``packed``: hash, group, then verify byte by byte."""
    if packed.shape[0] == 0:
        return {}
    hashes = hash_fn(packed)
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    starts = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]])
    group_of = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, order.size]))
    rows = packed[order]
    representative = rows[starts][group_of]
    same = np.all(rows == representative, axis=1)
    counts: Counter = Counter()
    sizes = np.diff(np.r_[starts, order.size])
    clean = np.ones(starts.size, dtype=bool)
    clean[np.unique(group_of[~same])] = False  # groups holding a collision
    for g in np.flatnonzero(clean).tolist():
        counts[rows[starts[g]].tobytes()] += int(sizes[g])
    for g in np.flatnonzero(~clean).tolist():  # exact split of the colliding groups
        lo, hi = starts[g], starts[g] + sizes[g]
        for row in rows[lo:hi]:
            counts[row.tobytes()] += 1
    return dict(counts)


def hamming_xor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int32 [len(a), len(b)] Hamming distances of packed codes by XOR and popcount."""
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
    step = max(1, (1 << 24) // max(1, b.shape[0] * b.shape[1]))
    for lo in range(0, a.shape[0], step):
        x = np.bitwise_xor(a[lo : lo + step, None, :], b[None, :, :])
        out[lo : lo + step] = np.bitwise_count(x).sum(axis=2, dtype=np.int32)
    return out


def hamming_matmul(a: np.ndarray, b: np.ndarray, n_units: int) -> np.ndarray:
    """The same by a matrix product of the unpacked codes: H = |a| + |b| − 2 a·b (float32, exact
    for fewer than 2²⁴ units)."""
    ua = unpack_codes(a, n_units).astype(np.float32)
    ub = unpack_codes(b, n_units).astype(np.float32)
    h = ua.sum(1)[:, None] + ub.sum(1)[None, :] - 2 * ua @ ub.T
    return np.rint(h).astype(np.int32)


def hamming_distances(a: np.ndarray, b: np.ndarray, n_units: int) -> np.ndarray:
    """All-pairs Hamming distances of packed codes by the faster method measured here
    (benchmarks/bench_polytope.py: the matrix product, 1.7x faster than XOR + popcount at 2000 units)."""
    return hamming_matmul(a, b, n_units)


def nearest_other_code_distance(packed: np.ndarray, n_units: int | None = None) -> np.ndarray:
    """int32 [n]: for each code of a subsample, the Hamming distance to the nearest *other* distinct
    code of the subsample (identical codes are skipped; −1 when there is none)."""
    n_units = n_units or packed.shape[1] * 8
    d = hamming_distances(packed, packed, n_units).astype(np.int64)
    d[d == 0] = np.iinfo(np.int64).max  # itself and identical codes
    out = d.min(axis=1)
    out[out == np.iinfo(np.int64).max] = -1  # no other distinct code
    return out.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Boundaries along straight paths


@dataclass(frozen=True)
class PathResult:
    crossings: np.ndarray  # float [k], positions in (0, 1)
    length: float  # ‖h1 − h0‖


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def layer_pre_activations(model, h: np.ndarray) -> dict[str, np.ndarray]:
    """Pre-activations of the model's ReLU layers for latent vectors h [n, m] (float64)."""
    import torch

    from bowsflow.models import as_float64

    with torch.no_grad():
        layers = as_float64(model).layers_from_latent(torch.as_tensor(np.asarray(h, dtype=np.float64)))
    return {name: _np(layers[name]) for name in model.relu_layers}


def path_crossings(model, h0: np.ndarray, h1: np.ndarray, layer: str) -> PathResult:
    """Where the ReLU states of ``layer`` change along the segment from h0 to h1, exactly, by the
    architecture's own form (:meth:`~bowsflow.models.base.BowsAutoencoder.path_crossings`; see the
    module doc). ``layer`` is one of the architecture's ``path_layers``."""
    h0, h1 = np.asarray(h0, dtype=np.float64), np.asarray(h1, dtype=np.float64)
    return PathResult(model.path_crossings(h0, h1, layer), float(np.linalg.norm(h1 - h0)))


def transition_chains(doc: np.ndarray, half_width: int, limit: int, rng) -> np.ndarray:
    """int [c, 2 · half_width]: chains of consecutive samples (store order, which is corpus order) that
    cross one document transition in their middle: ``half_width`` windows of one document, then
    ``half_width`` of the next. At most ``limit`` chains, drawn at random (seeded) when there are more."""
    doc = np.asarray(doc)
    n = doc.size
    k = half_width
    starts = np.flatnonzero(doc[1:] != doc[:-1]) + 1  # first sample of each new document
    ok = [
        i
        for i in starts.tolist()
        if i - k >= 0 and i + k <= n and (doc[i - k : i] == doc[i - 1]).all() and (doc[i : i + k] == doc[i]).all()
    ]
    chains = np.array([np.arange(i - k, i + k) for i in ok], dtype=np.int64).reshape(-1, 2 * k)
    if len(chains) > limit:
        chains = chains[np.sort(rng.choice(len(chains), limit, replace=False))]
    return chains


def equal_length_crossings(model, points: np.ndarray, layer: str) -> tuple[np.ndarray, float] | None:
    """Boundary crossings along a chain of latent points [K, m], segment by segment, with path length
    controlled: every segment is cut to its central piece of the chain's shortest segment length L, and
    the ReLU state changes of ``layer`` along each piece are counted exactly. Returns (counts [K − 1],
    L), or None when two consecutive points coincide (no length to compare)."""
    points = np.asarray(points, dtype=np.float64)
    delta = np.diff(points, axis=0)
    lengths = np.linalg.norm(delta, axis=1)
    L = float(lengths.min())
    if not L > 0:
        return None
    mid = points[:-1] + delta / 2
    half = delta / lengths[:, None] * (L / 2)
    counts = np.array([model.path_crossings(a - d, a + d, layer).size for a, d in zip(mid, half)])
    return counts, L


def scale_state_changes(model, h: np.ndarray, alphas=(0.25, 0.5, 1.0, 2.0, 4.0)) -> dict[str, list[float]]:
    """Per ReLU layer, the fraction of units whose state at α·h differs from the state at h."""
    base = layer_pre_activations(model, h)
    out = {name: [] for name in base}
    for a in alphas:
        scaled = layer_pre_activations(model, a * np.asarray(h))
        for name in base:
            out[name].append(float(np.mean((scaled[name] > 0) != (base[name] > 0))))
    return out


def jaccard_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard distance of paired bool rows a, b [n, V] (0 where both are empty)."""
    inter = np.logical_and(a, b).sum(1)
    union = np.logical_or(a, b).sum(1)
    return np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)


def cluster_monosemanticity(pre: np.ndarray, labels: np.ndarray, seed: int = 0, n_init: int = 4) -> dict:
    """How well clusters of samples match their labels, clustered two ways by the same algorithm — k-means
    with k = the number of labels, the same restarts and seed — so that only the description differs:
    their polytope codes (1[pre > 0] as 0/1 vectors, where k-means minimises the Hamming distance to the
    cluster means) and their activation directions (pre / ‖pre‖: the direction view of features holds that
    meaning lives in a vector's direction, not its length). pre [n, units] pre-activations, labels [n].
    Returns the NMI and purity of each arm (``codes_*``, ``directions_*``)."""
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import normalized_mutual_info_score

    pre = np.asarray(pre, dtype=np.float64)
    labels = np.asarray(labels)
    k = int(np.unique(labels).size)
    norms = np.linalg.norm(pre, axis=1, keepdims=True)
    arms = {"codes": (pre > 0).astype(np.float64), "directions": pre / np.where(norms > 0, norms, 1.0)}
    out = {}
    for name, vectors in arms.items():
        with warnings.catch_warnings():  # fewer distinct codes than labels is an answer, not a fault
            warnings.simplefilter("ignore", ConvergenceWarning)
            clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(vectors)
        out[f"{name}_nmi"] = float(normalized_mutual_info_score(labels, clusters))
        out[f"{name}_purity"] = float(purity(labels, clusters))
    return out


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Share of samples whose cluster's majority label is their own."""
    total = 0
    for c in np.unique(clusters):
        total += np.bincount(labels[clusters == c]).max()
    return total / labels.size
