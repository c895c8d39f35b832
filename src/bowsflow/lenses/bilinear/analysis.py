"""The bilinear-tensor analyses of one bilinear model (see :mod:`bowsflow.lenses.bilinear.decomposition`).

Writes ``bilinear.zarr`` — ``eigvals`` (word, rank), ``eigvecs`` (word, rank, latent; the top k),
``effective_rank`` (word) — computed over chunks of output words with dask, each chunk's stack of
m × m matrices bounded by ``max_array_mb``; returns a JSON-able summary and the arrays behind the figures.
"""

from __future__ import annotations

import numpy as np
import torch

from bowsflow.lenses.bilinear.decomposition import (
    contraction,
    interaction_matrices,
    output_map,
    unfolding_spectrum,
    weights,
    word_chunks,
    words_per_chunk,
)
from bowsflow.linalg import effective_rank, sorted_eigh
from bowsflow.runtime.parallel import torch_threads
from bowsflow.schema import schema_options
from bowsflow.store.checked import open_dataset, open_group
from bowsflow.store.provenance import input_checksums, provenance_attrs


@schema_options("analysis.bilinear")
class BilinearOptions:
    """``analysis.bilinear`` of the config (defaults: the schema's)."""

    top_k: int
    max_array_mb: float
    words: tuple
    n_frequent: int
    n_input_words: int
    eval_samples: int
    seed: int


def word_row(array, v: int) -> np.ndarray:
    """Row ``v`` along ``word`` of a lazy (dask-backed) DataArray, reading only the chunk that holds
    it (``.values[v]`` would load the whole array first: V × m × m floats for the eigenvectors)."""
    return np.asarray(array.isel(word=v).values)


def write_eigendecomposition(
    model, words: list[str], out, options: BilinearOptions, threads: int = 1, attrs: dict | None = None
) -> np.ndarray:
    """Write eigvals / top-k eigvecs / effective rank of every B_v (``attrs`` added to the store's,
    e.g. provenance); returns the effective ranks."""
    import dask
    import dask.array as da
    import xarray as xr

    from bowsflow.store.zarr_io import write_dataset

    p = weights(model)
    U = output_map(p)
    V, m = U.shape[0], p["L"].shape[1]
    k = min(options.top_k, m)
    chunks = word_chunks(V, m, options.max_array_mb, threads)  # dask runs ``threads`` of them at once
    step = chunks[0][1] - chunks[0][0]

    def chunk(lo: int, hi: int):
        vals, vecs = sorted_eigh(interaction_matrices(p, U[lo:hi]), "magnitude")
        return vals.numpy(), vecs[:, :, :k].transpose(1, 2).numpy(), effective_rank(vals).numpy()

    parts = [dask.delayed(chunk, nout=3)(lo, hi) for lo, hi in chunks]
    sizes = [hi - lo for lo, hi in chunks]
    vals = da.concatenate([da.from_delayed(c[0], (s, m), np.float64) for c, s in zip(parts, sizes)])
    vecs = da.concatenate([da.from_delayed(c[1], (s, k, m), np.float64) for c, s in zip(parts, sizes)])
    eff = da.concatenate([da.from_delayed(c[2], (s,), np.float64) for c, s in zip(parts, sizes)])
    ds = xr.Dataset(
        {
            "eigvals": (("word", "rank"), vals),
            "eigvecs": (("word", "rank_top", "latent"), vecs),
            "effective_rank": ("word", eff),
        },
        coords={"word": np.asarray(words, dtype=object)},
        attrs=(attrs or {})
        | {
            "order": "eigenvalues sorted by descending |λ|; eigvecs holds the top k",
            "max_array_mb": options.max_array_mb,
            "words_per_chunk": step,
            "chunks_in_flight": max(1, int(threads)),
            "largest_array_bytes": int(step * m * m * 8 * 2),
        },
    )
    with torch_threads(1):  # the chunks run in parallel (dask threads), each on one core
        write_dataset(ds, out, threads)
    return np.asarray(open_dataset(out)["effective_rank"].values)


def analyze_bilinear(
    *,
    checkpoint,
    activations,
    bows,
    correlations,
    store,
    options: BilinearOptions = BilinearOptions(),
    threads: int = 1,
):
    from scipy.stats import spearmanr

    from bowsflow.models.checkpoints import load_model

    model, meta = load_model(checkpoint)
    if meta["arch"] != "bilinear":
        raise ValueError(f"{checkpoint}: the bilinear analyses need a bilinear model, not {meta['arch']}")
    bows_group = open_group(bows)
    words = [str(w) for w in np.asarray(bows_group["word"][:])]
    index = {w: i for i, w in enumerate(words)}
    p = weights(model)
    V, m, d = p["W_e"].shape[1], p["W_e"].shape[0], p["L"].shape[0]
    provenance = provenance_attrs(
        {"top_k": options.top_k, "max_array_mb": options.max_array_mb},
        model=meta.get("model"),
        input_checksums=input_checksums(checkpoint=checkpoint, bows=bows),
    )
    eff = write_eigendecomposition(model, words, store, options, threads, provenance)
    eig = open_dataset(store)
    summary = {
        "model": meta.get("model"),
        "V": V,
        "m": m,
        "d": d,
        "largest_array_bytes": int(eig.attrs["largest_array_bytes"]),
        "max_array_mb": options.max_array_mb,
        "effective_rank": {
            "mean": float(eff.mean()),
            "median": float(np.median(eff)),
            "max_possible": int(min(m, 2 * d)),
        },
    }
    corr_ds = open_dataset(correlations)
    freq = corr_ds["frequency"].values
    selected = [w for w in options.words if w in index]
    selected += [words[i] for i in np.argsort(-freq, kind="stable") if words[i] not in selected][: options.n_frequent]
    figures = {"spectra": {}, "truncation": {}, "paths": {}}

    # reading in word space, and interaction strength against co-occurrence
    We = p["W_e"]
    reading, rhos = {}, []
    for w in selected:
        v = index[w]
        vals = torch.as_tensor(word_row(eig["eigvals"], v))
        vecs = torch.as_tensor(word_row(eig["eigvecs"], v))  # [k, m]
        proj = (vecs[0] @ We).numpy()  # top eigenvector through W_e: one value per input word
        order = np.argsort(proj)
        B = interaction_matrices(p, output_map(p)[v : v + 1])[0]
        strength = ((B @ We) * We).sum(0).numpy()  # W_e[:, w]ᵀ B_v W_e[:, w] for every input word w
        corr_v = word_row(corr_ds["correlation"], v).astype(np.float64)
        keep = np.arange(V) != v
        rho = float(spearmanr(strength[keep], corr_v[keep]).statistic)
        rhos.append(rho)
        reading[w] = {
            "top_eigenvalues": vals[: options.top_k].tolist(),
            "effective_rank": float(eff[v]),
            "top_eigenvector_positive_words": [words[i] for i in order[::-1][: options.n_input_words]],
            "top_eigenvector_negative_words": [words[i] for i in order[: options.n_input_words]],
            "spearman_self_interaction_vs_correlation": rho,
        }
        figures["spectra"][w] = np.abs(vals.numpy())
    summary["words"] = reading
    summary["median_spearman_interaction_vs_correlation"] = float(np.nanmedian(rhos)) if rhos else None
    summary["n_words_selected"] = len(rhos)

    # truncation: keep the top-k eigencomponents of every B_v; loss and recall on validation samples
    acts = open_dataset(activations)
    rng = np.random.default_rng(options.seed)
    val = np.flatnonzero(np.asarray(bows_group["split"][:]) == "val")
    val = np.sort(rng.choice(val, min(val.size, options.eval_samples), replace=False))
    h = torch.as_tensor(acts["latent"].isel(sample=val).values.astype(np.float64))
    x = np.asarray(bows_group["bows"].get_orthogonal_selection((val, slice(None))))
    summary["truncation"], figures["truncation"] = _truncation(p, h, x, options)

    # paths: direct, bilinear and bias shares of z
    parts = contraction(model, h)
    mags = {k: v.abs() for k, v in parts.items()}
    total = sum(mags.values())
    present = torch.as_tensor(x)
    paths = {}
    for where, mask in [("all_entries", torch.ones_like(present)), ("present_words", present)]:
        denom = float(total[mask].sum())
        paths[where] = {k: float(v[mask].sum()) / denom for k, v in mags.items()}
    summary["paths"] = paths | {"n_samples": int(h.shape[0])}
    figures["paths"] = paths
    sv2 = unfolding_spectrum(model, options.max_array_mb)
    share = np.cumsum(sv2) / sv2.sum()
    summary["tensor_spectrum"] = {
        "n_components": int(sv2.size),
        "norm_share_top": {str(i + 1): float(share[i]) for i in (0, 1, 2, 4, 9) if i < share.size},
        "effective_rank": float((np.sqrt(sv2).sum() / np.sqrt(sv2.sum())) ** 2),
    }
    figures["tensor_spectrum"] = sv2
    return summary, figures


def truncation_errors(p, h: torch.Tensor, x: np.ndarray, max_array_mb: float, seed: int) -> dict[str, np.ndarray]:
    """Per-sample squared error and true positives [n, m + 1] on validation samples (latents h [n, m], bags
    x [n, V]) when every B_v keeps k = 0 … m components (k = 0: the direct path and the bias alone):
    ``eigen`` its top-k eigencomponents by |λ|; ``random_basis`` the k × k block of B_v in a random
    orthonormal basis Q of the latent space (seeded; hᵀ B_v h restricted to the span of Q's first k
    columns), the null of a basis that knows nothing of B_v. At k = m both are the full model."""
    V, m = p["W_e"].shape[1], p["W_e"].shape[0]
    n = h.shape[0]
    base = (h @ p["W_e"] + p["b"]).numpy()  # direct path and bias
    Q = torch.as_tensor(np.linalg.qr(np.random.default_rng([seed, 17]).standard_normal((m, m)))[0])
    y = h @ Q  # [n, m] coordinates in the random basis
    out = {f"{kind}_{what}": np.zeros((n, m + 1)) for kind in ("eigen", "random_basis") for what in ("sse", "tp")}
    U = output_map(p)
    step = max(1, words_per_chunk(m, max_array_mb) // max(1, n // 64 + 1))
    for lo in range(0, V, step):
        hi = min(lo + step, V)
        B = interaction_matrices(p, U[lo:hi])
        vals, vecs = sorted_eigh(B, "magnitude")
        proj = torch.einsum("ni,vik->nvk", h, vecs)  # [n, c, m] coordinates on each word's eigenvectors
        increments = {"eigen": (proj**2 * vals[None]).numpy()}
        Bq = Q.t() @ B @ Q  # [c, m, m] B_v in the random basis
        # the k-th coordinate's increment of y_{:k}ᵀ B_{:k,:k} y_{:k}: y_k (2 Σ_{j<k} B_kj y_j + B_kk y_k)
        lower = torch.einsum("vkj,nj->nvk", torch.tril(Bq, -1), y)
        diag = torch.diagonal(Bq, dim1=1, dim2=2)[None]
        increments["random_basis"] = (y[:, None, :] * (2 * lower + diag * y[:, None, :])).numpy()
        xs = x[:, lo:hi, None]
        for kind, inc in increments.items():
            z = np.repeat(base[:, lo:hi, None], m + 1, axis=2)
            z[:, :, 1:] += np.cumsum(inc, axis=2)  # z with k components, k = 0 … m
            xhat = np.maximum(z, 0)
            out[f"{kind}_sse"] += ((xhat - xs) ** 2).sum(axis=1)
            out[f"{kind}_tp"] += ((xhat > 0.5) & xs).sum(axis=1)
    return out


def _truncation(p, h, x, options):
    """Validation loss and recall when each B_v keeps its top-k eigencomponents, k = 0 … m, beside the
    random-basis null (:func:`truncation_errors`)."""
    V, m = p["W_e"].shape[1], p["W_e"].shape[0]
    n = h.shape[0]
    errors = truncation_errors(p, h, x, options.max_array_mb, options.seed)
    sse, tp = errors["eigen_sse"], errors["eigen_tp"]
    loss = sse.sum(axis=0) / (n * V)
    positives = x.sum(axis=1)
    recall = tp.sum(axis=0) / max(int(positives.sum()), 1)
    random_loss = errors["random_basis_sse"].sum(axis=0) / (n * V)
    rows = [
        {"k": k, "val_loss": float(loss[k]), "recall": float(recall[k]), "val_loss_random_basis": float(random_loss[k])}
        for k in range(m + 1)
    ]
    summary = {"rows": rows, "n_samples": int(n), "note": "k = 0 keeps only the direct path and the bias"}
    shares = (0.9, 0.95)
    summary["k_for_loss_reduction_share"] = components_kept(-sse, None, shares, options.seed)
    summary["k_for_loss_reduction_share_random_basis"] = components_kept(
        -errors["random_basis_sse"], None, shares, options.seed
    )
    summary["eigen_against_random_basis"] = {
        f"{share:g}": paired_components(-sse, -errors["random_basis_sse"], share, options.seed) for share in shares
    }
    summary["k_for_recall_share"] = components_kept(tp, positives, shares, options.seed)
    return summary, {
        "k": np.arange(m + 1),
        "loss": loss,
        "recall": recall,
        "loss_random_basis": random_loss,
    }


def paired_components(eigen: np.ndarray, random_basis: np.ndarray, share: float, seed: int, n_resamples: int = 1000):
    """k (eigencomponents) − k (random basis) for ``share`` of the loss reduction (:func:`smallest_k` on
    each), from per-sample scores [n, m + 1], with the same bootstrap resamples of the samples for both
    (paired): the difference and its value on every resample (the claims read their interval off them)."""
    n = eigen.shape[0]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, (n_resamples, n))
    diff = np.array([smallest_k(eigen[d].sum(0), share) - smallest_k(random_basis[d].sum(0), share) for d in draws])
    return {
        "k_eigen": smallest_k(eigen.sum(0), share),
        "k_random_basis": smallest_k(random_basis.sum(0), share),
        "difference_resamples": diff.tolist(),
        "m": int(eigen.shape[1] - 1),
        "n_samples": int(n),
    }


def smallest_k(score: np.ndarray, share: float) -> int:
    """The smallest k at which ``score[k] − score[0]`` reaches ``share`` of ``score[m] − score[0]`` (the
    full model's gain over k = 0); 0 when the full model gains nothing."""
    gain = score - score[0]
    if gain[-1] <= 0:
        return 0
    return int(np.argmax(gain >= share * gain[-1] - 1e-12 * abs(gain[-1])))


def components_kept(per_sample: np.ndarray, norm, shares, seed: int, n_resamples: int = 1000) -> dict:
    """For each share: the smallest k of eigencomponents per word whose truncation keeps that share of
    what the bilinear layer adds over k = 0 (:func:`smallest_k`), with a 95% percentile bootstrap
    interval over samples. ``per_sample`` [n, m + 1]: each sample's score at each k (−squared error, or
    true positives); ``norm`` [n] (or None): what a resample's score is divided by (positives: recall)."""
    n = per_sample.shape[0]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, (n_resamples, n))

    def score(rows):
        total = per_sample[rows].sum(axis=0)
        return total / max(norm[rows].sum(), 1) if norm is not None else total

    out = {}
    for share in shares:
        boot = np.array([smallest_k(score(d), share) for d in draws])
        out[f"{share:g}"] = {
            "k": smallest_k(score(np.arange(n)), share),
            "interval": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
            "m": int(per_sample.shape[1] - 1),
            "n_samples": int(n),
        }
    return out
