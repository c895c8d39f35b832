"""Small cases with known answers for the claims' controls (:func:`bowsflow.claims.registry.control`).

A *planted corpus* is BOWS data whose structure is known: topic windows that switch on the words of one
category together, a cycle of words that follow an angle drawn per window (like months round a year), and
background words that occur independently. Shuffling its tokens across windows (each word's column
permuted on its own) keeps every word's frequency and destroys all co-occurrence: the negative control
of every claim about co-occurrence. A *PCA model* is what a linear compressor of such data learns, the
exact optimum of a linear autoencoder: W = (U_m Λ_m^{1/2})ᵀ, so that WᵀW is the best rank-m approximation
of the training windows' covariance. Nothing here is trained; every case takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_CATEGORIES, CATEGORY_SIZE, CYCLE_SIZE, N_BACKGROUND = 4, 8, 12, 20


@dataclass(frozen=True)
class PlantedCorpus:
    """``X`` bool [n, V] windows; ``train`` bool [n] (the rest are validation windows); ``categories``
    name → word ids; ``cycle`` the cycle's word ids in their cyclic order."""

    X: np.ndarray
    train: np.ndarray
    categories: dict[str, np.ndarray]
    cycle: np.ndarray

    @property
    def V(self) -> int:
        return int(self.X.shape[1])

    @property
    def category_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(word ids, category label of each) of every category word."""
        ids = np.concatenate(list(self.categories.values()))
        labels = np.concatenate([np.full(len(v), k) for k, v in enumerate(self.categories.values())])
        return ids, labels


def planted_corpus(seed: int = 0, n: int = 6000, shuffled: bool = False) -> PlantedCorpus:
    """A corpus with known co-occurrence (see the module doc): ``N_CATEGORIES`` topics of
    ``CATEGORY_SIZE`` words (present with probability 0.35 in a window of their topic, 0.02 otherwise),
    ``CYCLE_SIZE`` cycle words (word k present with probability 0.45·exp(3(cos(θ − 2πk/K) − 1)) for the
    window's angle θ), ``N_BACKGROUND`` independent words (0.02–0.12); the first 80% of windows train.
    ``shuffled``: each word's column permuted on its own (frequencies kept, co-occurrence gone)."""
    rng = np.random.default_rng([seed, 101])
    topic = rng.integers(0, N_CATEGORIES, n)
    blocks = []
    for t in range(N_CATEGORIES):
        p = np.where(topic[:, None] == t, 0.35, 0.02) * np.ones((1, CATEGORY_SIZE))
        blocks.append(rng.random((n, CATEGORY_SIZE)) < p)
    theta = rng.uniform(0, 2 * np.pi, n)
    phase = 2 * np.pi * np.arange(CYCLE_SIZE) / CYCLE_SIZE
    p_cycle = 0.45 * np.exp(3.0 * (np.cos(theta[:, None] - phase[None, :]) - 1.0))
    blocks.append(rng.random((n, CYCLE_SIZE)) < p_cycle)
    blocks.append(rng.random((n, N_BACKGROUND)) < np.linspace(0.02, 0.12, N_BACKGROUND)[None, :])
    X = np.concatenate(blocks, axis=1)
    if shuffled:
        X = shuffle_tokens(X, rng)
    categories = {f"topic{t}": np.arange(t * CATEGORY_SIZE, (t + 1) * CATEGORY_SIZE) for t in range(N_CATEGORIES)}
    start = N_CATEGORIES * CATEGORY_SIZE
    train = np.arange(n) < int(0.8 * n)
    return PlantedCorpus(X, train, categories, np.arange(start, start + CYCLE_SIZE))


def shuffle_tokens(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each column of X [n, V] permuted on its own: every word keeps its frequency, co-occurrence is gone."""
    return np.stack([X[rng.permutation(X.shape[0]), v] for v in range(X.shape[1])], axis=1)


def covariance(X: np.ndarray) -> np.ndarray:
    """[V, V] covariance of the word indicators of windows X [n, V] (float64)."""
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)
    return centred.T @ centred / max(X.shape[0] - 1, 1)


def correlation(X: np.ndarray) -> np.ndarray:
    """[V, V] Pearson correlation of the word indicators (0 where a word never varies)."""
    C = covariance(X)
    sd = np.sqrt(np.clip(np.diag(C), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        R = C / np.outer(sd, sd)
    return np.nan_to_num(R)


def pca_model(X: np.ndarray, m: int) -> np.ndarray:
    """W [m, V] of the optimal linear compressor of windows X: rows √λᵢ uᵢ of the top-m eigenpairs of
    their covariance (float64), so that WᵀW is its best rank-m approximation."""
    from bowsflow.linalg import sorted_eigh

    vals, vecs = sorted_eigh(covariance(X), "descending")
    return (vecs[:, :m] * np.sqrt(np.clip(vals[:m], 0, None))).T


def random_model(m: int, V: int, rng: np.random.Generator) -> np.ndarray:
    """W [m, V] with independent Gaussian entries: directions that know nothing of the data."""
    return rng.standard_normal((m, V)) / np.sqrt(V)


def with_noise(W: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """W plus Gaussian noise whose norm is ``share`` of W's (a model that learned the structure less well)."""
    noise = rng.standard_normal(W.shape)
    return W + share * np.linalg.norm(W) / np.linalg.norm(noise) * noise
