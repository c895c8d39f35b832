"""BOWS feature geometry (Prieto et al.): how co-occurrence becomes geometry.

Feature directions are the columns of W (tied_ae) or W_e (relu_mlp, bilinear): word v's direction is
W[:, v] ∈ ℝᵐ. The corpus side is the Pearson correlation of the word indicators over the samples of a
BOWS store (:mod:`bowsflow.data.correlations`).
"""

from __future__ import annotations

import numpy as np


def cosine_matrix(W: np.ndarray) -> np.ndarray:
    """[V, V] cosine similarity of the columns of W [m, V] (0 for zero columns)."""
    norms = np.linalg.norm(W, axis=0)
    U = W / np.where(norms > 0, norms, 1.0)
    return U.T @ U


def upper_triangle_spearman(a: np.ndarray, b: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Spearman rank correlation of two symmetric matrices over the word pairs i < j (of ``idx``)."""
    from scipy.stats import spearmanr

    if idx is not None:
        a, b = a[np.ix_(idx, idx)], b[np.ix_(idx, idx)]
    iu = np.triu_indices(a.shape[0], k=1)
    if iu[0].size < 2:
        return float("nan")
    return float(spearmanr(a[iu], b[iu]).statistic)


def interference(W: np.ndarray, b: np.ndarray, context: np.ndarray, target: int) -> tuple[float, float, float]:
    """Decomposition of the pre-activation of ``target`` in a context (bool [V] that contains it):
    (self term ‖W_v‖², interference Σ_{j∈S, j≠v} ⟨W_v, W_j⟩, bias b_v); they sum to z_v = (WᵀW x + b)_v."""
    w = W[:, target]
    others = np.flatnonzero(context)
    others = others[others != target]
    return float(w @ w), float((W[:, others].T @ w).sum()), float(b[target])


def one_hot_r2(W: np.ndarray, b: np.ndarray, frequency: np.ndarray, relu: bool = True) -> np.ndarray:
    """R² of each word if it were reconstructed alone: x̂_v = act(‖W_v‖² + b_v) where v is present and
    act(b_v) where it is absent (no interference), in closed form from its frequency p:
    1 − [p (a − 1)² + (1 − p) c²] / [p (1 − p)]."""
    act = (lambda z: np.maximum(z, 0)) if relu else (lambda z: z)
    a = act((W * W).sum(axis=0) + b)
    c = act(b)
    p = frequency
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1 - (p * (a - 1) ** 2 + (1 - p) * c**2) / (p * (1 - p))
    return np.where((p > 0) & (p < 1), r2, np.nan)


def pca_2d(points: np.ndarray) -> np.ndarray:
    """[k, 2] coordinates of points [k, d] on their first two principal axes."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred @ vt[:1].T, np.zeros(len(points))]


def cyclic_order_recovered(xy: np.ndarray) -> float:
    """Share of cyclically consecutive items (0-1, 1-2, …, (k−1)-0) that are neighbours in the
    angular order of their 2-D points around the centroid."""
    k = len(xy)
    c = xy - xy.mean(axis=0)
    order = np.argsort(np.arctan2(c[:, 1], c[:, 0]))
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    hits = [((rank[(i + 1) % k] - rank[i]) % k) in (1, k - 1) for i in range(k)]
    return float(np.mean(hits))


def circularity(xy: np.ndarray) -> float:
    """How well 2-D points, in their given cyclic order, sit evenly round a circle: the modulus of
    the mean of exp(i(θ_k ∓ 2πk/n)) (angles about the centroid; the better direction), times
    1 − CV of the radii. 1 for a regular polygon in order; near 1/√n for a shuffled order."""
    k = len(xy)
    c = xy - xy.mean(axis=0)
    theta = np.arctan2(c[:, 1], c[:, 0])
    steps = 2 * np.pi * np.arange(k) / k
    align = max(abs(np.exp(1j * (theta - steps)).mean()), abs(np.exp(1j * (theta + steps)).mean()))
    r = np.linalg.norm(c, axis=1)
    evenness = max(0.0, 1 - r.std() / r.mean()) if r.mean() > 0 else 0.0
    return float(align * evenness)


def structure_measure(W_group: np.ndarray) -> float:
    """‖G − diag(G)‖_F of the Gram matrix G = W_gᵀ W_g of a group's directions (columns)."""
    G = W_group.T @ W_group
    return float(np.linalg.norm(G - np.diag(np.diag(G))))


def synthetic_regime(W: np.ndarray) -> dict:
    """Classify the geometry of a synthetic model's feature directions W [m, n]: ``ring`` (their
    2-D PCA goes round in feature order), ``antipodal`` (features pair up with cosine < −0.9),
    ``identity`` (off-diagonal share of ‖WᵀW‖_F below 0.1), else ``other``."""
    G = W.T @ W
    off = np.linalg.norm(G - np.diag(np.diag(G))) / max(np.linalg.norm(G), 1e-12)
    cos = cosine_matrix(W)
    np.fill_diagonal(cos, 1.0)
    partner = cos.argmin(axis=1)
    mutual = partner[partner] == np.arange(len(partner))
    antipodal = float(np.mean(mutual & (cos[np.arange(len(partner)), partner] < -0.9)))
    order = cyclic_order_recovered(pca_2d(W.T))
    if off < 0.1:
        regime = "identity"
    elif order == 1.0 and circularity(pca_2d(W.T)) > 0.8:
        regime = "ring"
    elif antipodal >= 0.8:
        regime = "antipodal"
    else:
        regime = "other"
    return {"regime": regime, "offdiagonal_share": float(off), "antipodal_share": antipodal, "cyclic_order": order}


def silhouette_cosine(W: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of labelled feature directions (columns of W) on cosine distance."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(labels) < 3:
        return float("nan")
    return float(silhouette_score(W.T, labels, metric="cosine"))


def umap_2d(points: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """[k, 2] UMAP embedding of points [k, d] (cosine metric, 15 neighbours, as the BOWS paper), or
    None when umap-learn is not installed (it is optional: pip install umap-learn)."""
    try:
        import umap
    except ImportError:
        return None
    reducer = umap.UMAP(
        n_neighbors=min(15, max(2, len(points) - 1)), metric="cosine", n_components=2, random_state=seed
    )
    return np.asarray(reducer.fit_transform(points))


def covariance_from_correlation(corr: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """[V, V] covariance of binary word indicators from their Pearson correlation and frequencies p:
    a binary indicator's variance is p(1 − p), so cov_ij = corr_ij · √(p_i(1 − p_i) p_j(1 − p_j))."""
    sd = np.sqrt(np.clip(frequency * (1.0 - frequency), 0.0, None))
    return np.asarray(corr, dtype=np.float64) * np.outer(sd, sd)


def principal_subspace(cov: np.ndarray, m: int) -> np.ndarray:
    """[V, m]: orthonormal top-m eigenvectors of a covariance (float64)."""
    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    return vecs[:, np.argsort(vals)[::-1][:m]]


def subspace_overlap(W: np.ndarray, U: np.ndarray) -> float:
    """‖Uᵀ Q‖²_F / m: the share of the row space of W [m, V] (Q [V, m] orthonormal, from a QR of Wᵀ)
    inside the subspace spanned by U [V, m] (orthonormal): 1 when they coincide, 0 when orthogonal,
    m/V on average for a random m-dimensional subspace (the null)."""
    Q, _ = np.linalg.qr(np.asarray(W, dtype=np.float64).T)
    return float(np.sum((U.T @ Q) ** 2) / W.shape[0])
