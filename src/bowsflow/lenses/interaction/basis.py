"""Degeneracy and the interaction basis (Bushnaq et al., 2024; ApolloResearch's RIB code).

Two constructions (``jacobian_of``). ``output`` (default) is the *global* one: every layer against the
model's output z (the reference's ``naive_gradient_flow``, α = 1). ``next_layer`` is the *local chain*
(the reference's ``basis_formula: jacobian``): the last layer against z, then, backwards, each layer
against the next layer's interaction-basis coordinates f̂_next = P f̃_next, M = E[(P J̃)ᵀ(P J̃)] with J̃
the folded Jacobian ∂f̃_next/∂f̃ (:func:`next_layer_jacobian_gram`).

For a layer's activations f (width w) the bias is folded in by appending a constant, f̃ = [f, 1]
(centred: S f̃ = [f − μ, 1], so the mean lives in the constant direction — see :func:`centred_moments`).
Then

- Gram            G = E[f̃ f̃ᵀ]                       (activations; small eigenvalues: linearly dependent activations)
- Jacobian Gram   M = E[J̃ᵀ J̃], J̃ = ∂z/∂f̃            (gradients; small eigenvalues: linearly dependent gradients)
  with z the output pre-activations (or x̂ through the output ReLU); the constant's column of J̃ is
  the affine offset z − J f (so Σⱼ J̃ᵢⱼ f̃ⱼ = zᵢ; for bilinear layers the reference uses b instead).
  The other layers are held at the sample: for a hidden layer that includes the residual stream,
  unless ``hidden_node: with_residual`` joins the residual to the hidden node as the reference does
  (:mod:`bowsflow.lenses.interaction.residual_node`; its edges then include the skip path);
- interaction basis: G = U D Uᵀ keeping eigenvalues above ``threshold`` × the largest, R = U D^{-1/2},
  M in whitened coordinates R⁺ M R⁺ᵀ = V Λ Vᵀ, directions with |Λ| below ``lambda_threshold`` × the
  largest dropped, C = R V |Λ|^{1/2} sorted by |Λ|, and C⁺ = |Λ|^{-1/2} Vᵀ R⁺.
  Coordinates in the basis are f̂ = Cᵀ f̃ (whitened coordinates Rᵀ f̃, rotated by V and scaled by
  |Λ|^{1/2}), and C⁺ᵀ maps them back onto the data's subspace. Under a function-preserving
  reparameterization f̃' = S f̃ of the layer, Λ and the coordinates f̂ of every sample stay the same.

All expectations are accumulated in float64; eigendecompositions are float64.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from bowsflow.linalg import effective_rank, sorted_eigh
from bowsflow.models import as_float64


def gram_from_moments(xtx: np.ndarray, sums: np.ndarray, n: int, centred: bool = False) -> np.ndarray:
    """G of f̃ = [f, 1] (or [f − μ, 1]) from XᵀX, the column sums and the count: [w + 1, w + 1]."""
    w = sums.size
    mean = sums / n
    G = np.empty((w + 1, w + 1))
    if centred:
        G[:w, :w] = xtx / n - np.outer(mean, mean)
        G[:w, w] = G[w, :w] = 0.0
    else:
        G[:w, :w] = xtx / n
        G[:w, w] = G[w, :w] = mean
    G[w, w] = 1.0
    return G


def _chunk_moments(block: np.ndarray, product_dtype) -> np.ndarray:
    """[1, w·w + w] float64: XᵀX and the column sums of one chunk (its product in product_dtype)."""
    x = np.asarray(block).astype(product_dtype, copy=False)
    xtx = (x.T @ x).astype(np.float64)
    return np.concatenate([xtx.ravel(), x.sum(axis=0, dtype=np.float64)])[None, :]


class ReadBuffers:
    """One reusable array per worker thread to read zarr chunks into. A fresh chunk-sized array per
    read costs its page faults every time (measured: a 134 MB chunk read in 84 ms into a reused
    buffer, 132–310 ms into a new one); a buffer per thread keeps memory at one chunk per thread.
    Pickles empty (for dask.distributed workers, which make their own)."""

    def __init__(self):
        self._local = threading.local()

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self._local = threading.local()

    def read(self, array, lo: int, hi: int) -> np.ndarray:
        """Rows lo:hi of a 2-d zarr array, in this thread's buffer (valid until its next read)."""
        from zarr.buffer.cpu import NDBuffer

        shape = (hi - lo, *array.shape[1:])
        buf = getattr(self._local, "buf", None)
        if buf is None or buf.dtype != array.dtype or buf.shape[1:] != shape[1:] or buf.shape[0] < shape[0]:
            buf = self._local.buf = np.empty(shape, dtype=array.dtype)
        out = buf[: shape[0]]
        array.get_basic_selection((slice(lo, hi),), out=NDBuffer.from_numpy_array(out))
        return out


def _zarr_chunk_moments(array, lo: int, hi: int, product_dtype, buffers: ReadBuffers) -> np.ndarray:
    return _chunk_moments(buffers.read(array, lo, hi), product_dtype)


def dask_gram(data, centred: bool = False, threads: int = 1, product_dtype=np.float64) -> np.ndarray:
    """G of activations [n, w] — a zarr array (read chunk by chunk inside the tasks) or a dask array:
    each sample chunk's XᵀX and column sums in one task (products in ``product_dtype``; float32 is
    faster on CPUs), summed across chunks in float64 by dask's tree reduction. With a zarr array a
    chunk exists only inside the task that reads it, so memory is a few chunks whatever n."""
    import dask
    import dask.array as da
    from threadpoolctl import threadpool_limits

    from bowsflow.runtime.dask_cluster import compute_context

    n, w = (int(s) for s in data.shape)
    if isinstance(data, da.Array):
        data = data.rechunk({1: -1})
        parts = data.map_blocks(
            _chunk_moments, product_dtype, dtype=np.float64, chunks=((1,) * data.numblocks[0], (w * w + w,))
        )
    else:
        step = int(data.chunks[0])
        buffers = ReadBuffers()
        parts = da.concatenate(
            [
                da.from_delayed(
                    dask.delayed(_zarr_chunk_moments)(data, lo, min(lo + step, n), product_dtype, buffers),
                    (1, w * w + w),
                    np.float64,
                )
                for lo in range(0, n, step)
            ]
        )
    # one BLAS thread per task: the chunks are the parallelism
    with compute_context(threads), threadpool_limits(1 if threads > 1 else None):
        total = parts.sum(axis=0).compute()
    return gram_from_moments(total[: w * w].reshape(w, w), total[w * w :], n, centred)


def degeneracy(vals: np.ndarray, threshold: float) -> dict:
    """Counts from a spectrum: eigenvalues below ``threshold`` × the largest, and the effective rank
    (:func:`bowsflow.linalg.effective_rank`)."""
    vals = np.asarray(vals)
    top = vals.max() if vals.size else 0.0
    small = int((vals < threshold * top).sum()) if top > 0 else int(vals.size)
    return {
        "n": int(vals.size),
        "n_below_threshold": small,
        "effective_rank": float(effective_rank(vals)),
        "threshold": threshold,
    }


@dataclass(frozen=True)
class InteractionBasis:
    C: np.ndarray  # [w + 1, r]: coordinates f̂ = Cᵀ f̃
    Cpinv: np.ndarray  # [r, w + 1]: f̃ = C⁺ᵀ f̂ on the data's subspace
    Lambda: np.ndarray  # [r], sorted by descending |Λ|
    kept: int  # Gram directions kept (eigenvalue above threshold × the largest)
    n_lambda_dropped: int = 0  # directions dropped for |Λ| below lambda_threshold × the largest


def interaction_basis(
    G: np.ndarray,
    M: np.ndarray,
    threshold: float = 1e-10,
    lambda_threshold: float = 0.0,
    isolate_constant: bool = False,
    Lambda_dash: np.ndarray | None = None,
) -> InteractionBasis:
    """C, C⁺ and Λ from the Gram G and the Jacobian Gram M of one layer (both in f̃ coordinates).

    Two truncations, both relative to the largest value: Gram eigenvalues below ``threshold`` (linearly
    dependent activations), then directions whose |Λ| is below ``lambda_threshold`` (directions the
    output does not depend on: kept, their C⁺ rows would be |Λ|^{-1/2}-large). C⁺ is formed from the
    factors, |Λ|^{-1/2} Vᵀ R⁺, so that C⁺C = I exactly up to rounding, never by a numerical pseudo-inverse.

    ``isolate_constant`` (the reference code's centring; G must be centred, so that the constant
    direction e_w of f̃ = [f − μ, 1] is an eigenvector of G): the constant direction is kept out of both
    eigendecompositions and of the truncations and becomes the first column of C, with Λ₀ = M_ww; the
    other directions are the interaction basis of the blocks G[:w, :w], M[:w, :w].

    ``Lambda_dash`` (the reference's Λ' = E[g f̃ᵀ] of the basis formulas "(1-0)*alpha" and "(1-alpha)^2",
    whose M = E[g gᵀ]): V still diagonalises M, but Λ = |diag(Vᵀ R⁺ Λ' R V)| orders, truncates and scales
    the directions, as the reference code does; without it Λ are M's eigenvalues in whitened coordinates."""
    if not isolate_constant:
        return _rotated_basis(G, M, threshold, lambda_threshold, Lambda_dash=Lambda_dash)
    w = G.shape[0] - 1
    if np.any(G[:w, w] != 0) or G[w, w] != 1:
        raise ValueError("isolate_constant needs the centred Gram (E[f − μ] = 0 in its last column)")
    lam0 = M[w, w] if Lambda_dash is None else abs(Lambda_dash[w, w])
    rest = _rotated_basis(
        G[:w, :w],
        M[:w, :w],
        threshold,
        lambda_threshold,
        top=1.0,
        lambda_top=abs(lam0),
        Lambda_dash=None if Lambda_dash is None else Lambda_dash[:w, :w],
    )
    scale = np.sqrt(abs(lam0)) if lam0 != 0 else 1.0  # an output that ignores the constant: unscaled
    C = np.zeros((w + 1, rest.C.shape[1] + 1))
    C[w, 0], C[:w, 1:] = scale, rest.C
    Cpinv = np.zeros((rest.C.shape[1] + 1, w + 1))
    Cpinv[0, w], Cpinv[1:, :w] = 1.0 / scale, rest.Cpinv
    return InteractionBasis(C, Cpinv, np.r_[lam0, rest.Lambda], rest.kept + 1, rest.n_lambda_dropped)


def _rotated_basis(
    G, M, threshold, lambda_threshold, top: float = 0.0, lambda_top: float = 0.0, Lambda_dash=None
) -> InteractionBasis:
    """:func:`interaction_basis` of the whole of G and M; ``top`` and ``lambda_top``: values outside G and
    M (the isolated constant's) that the relative thresholds also count as the largest."""
    d, U = sorted_eigh(G, "descending")
    keep = d > threshold * max(d[0], top)
    U, d = U[:, keep], d[keep]
    R = U / np.sqrt(d)  # U D^{-1/2}
    R_pinv = (U * np.sqrt(d)).T  # D^{1/2} Uᵀ
    Mw = R_pinv @ M @ R_pinv.T
    lam, V = sorted_eigh(0.5 * (Mw + Mw.T), "magnitude")
    if Lambda_dash is not None:  # the formulas' Λ: |diag(Vᵀ R⁺ Λ' R V)|, in its own order
        lam = np.abs(np.einsum("ik,ij,jk->k", V, R_pinv @ Lambda_dash @ R, V))
        order = np.argsort(-lam, kind="stable")
        lam, V = lam[order], V[:, order]
    live = np.abs(lam) >= lambda_threshold * max(np.abs(lam).max() if lam.size else 0.0, lambda_top)
    if lambda_threshold > 0:
        live &= np.abs(lam) > 0
    lam, V = lam[live], V[:, live]
    scale = np.sqrt(np.abs(lam))
    C = R @ V * scale
    Cpinv = (V.T @ R_pinv) / scale[:, None]
    return InteractionBasis(C, Cpinv, lam, int(keep.sum()), int((~live).sum()))


def centring_map(mean: np.ndarray) -> np.ndarray:
    """S [w + 1, w + 1] with S [f, 1] = [f − μ, 1]: the change of coordinates that centres a layer
    (the mean moves into the constant direction). Under it G → S G Sᵀ and M → S⁻ᵀ M S⁻¹, so Λ and
    the coordinates f̂ of every sample are unchanged: centring is a reparameterization."""
    w = mean.size
    S = np.eye(w + 1)
    S[:w, w] = -mean
    return S


def centred_moments(G: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, S G Sᵀ, S⁻ᵀ M S⁻¹) from the uncentred G (whose last column holds the mean) and M."""
    S = centring_map(G[:-1, -1])
    S_inv = np.linalg.inv(S)  # exact: [[I, μ], [0, 1]]
    Gc = S @ G @ S.T
    Gc[:-1, -1] = Gc[-1, :-1] = 0.0  # exactly: E[f − μ] = 0
    return S, Gc, S_inv.T @ M @ S_inv


# ---------------------------------------------------------------------------------------------
# Jacobians of the output pre-activations z with respect to a layer


def layer_inputs(model, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every named layer for latent vectors h (float64), to evaluate the downstream functions at."""
    return model.layers_from_latent(h)


def jacobian_blocks(
    n_outputs: int, bytes_per_pair: int, batch_size: int, max_block_mb: float, bytes_per_sample: int = 0
) -> tuple[int, int]:
    """(samples, outputs) per block so that samples × (outputs × ``bytes_per_pair`` +
    ``bytes_per_sample``) stay within ``max_block_mb``: all outputs and up to ``batch_size`` samples
    when one sample fits, else one sample and the outputs cut into chunks."""
    budget = max_block_mb * 2**20
    pairs = max(1, int(max(budget - bytes_per_sample, 0) // bytes_per_pair))  # (sample, output) pairs per block
    outputs = min(n_outputs, pairs)
    samples = min(batch_size, pairs // outputs, int(budget // (outputs * bytes_per_pair + bytes_per_sample)))
    return max(1, samples), outputs


def jacobian_gram(
    model,
    h: np.ndarray,
    layer: str,
    through_output_relu: bool = False,
    batch_size: int = 256,
    max_block_mb: float = 256.0,
) -> tuple[np.ndarray, int]:
    """Σ over samples of J̃ᵀ J̃ (float64) for latent vectors h [n, m], with J̃ = [∂z/∂f, z − (∂z/∂f) f]
    (rows masked to the outputs that fire when ``through_output_relu``). Returns (sum, n).

    The decoder is linear: with Ŵ = [W; bᵀ] ([m+1, V]) and r̂ = [r, 1], z = r̂ Ŵ, so J̃ = Ŵᵀ Q̂ with
    Q̂ = [[∂r/∂f, s], [0, 1]] and s = r − (∂r/∂f) f, and J̃ᵀ J̃ = Q̂ᵀ (Ŵ diag(mask) Ŵᵀ) Q̂. ∂r/∂f
    [m, w] comes from autograd (``torch.func.jacfwd``, or ``jacrev`` when m < w) vectorized over
    samples with ``vmap``; no [samples, V, w] Jacobian is ever formed and no loop runs over output units. Where r
    is affine in f (the architecture's ``decoder_input``), ∂r/∂f is taken once and the sums over samples reduce to
    the firing counts, Σ mask ⊙ offset and Σ mask·offset² per output (offset = ŝ Ŵ). Blocks of
    samples × outputs stay within ``max_block_mb`` (:func:`jacobian_blocks`)."""
    model = as_float64(model)
    n = int(h.shape[0])
    fn, affine = model.decoder_input(layer)
    W_hat = torch.cat([model.decoder, model.b[None, :]]).detach()  # [m + 1, V]: the decoder, and its bias
    m1, V = W_hat.shape
    with torch.no_grad():
        w = int(layer_inputs(model, torch.as_tensor(np.asarray(h[:1], dtype=np.float64)))[layer].shape[1])
    per_sample = (3 * m1 * (w + 1) + m1 * m1) * 8  # Q (from jacfwd), Q̂, K Q̂ and K_b
    if affine:  # per (sample, output): z, mask and offset
        batch, step = jacobian_blocks(V, 3 * 8, batch_size, max_block_mb)
    elif through_output_relu:  # per (sample, output): z and Ŵ's masked columns
        batch, step = jacobian_blocks(V, (m1 + 2) * 8, batch_size, max_block_mb, per_sample)
    else:  # V does not enter
        batch, step = jacobian_blocks(1, per_sample, batch_size, max_block_mb)

    def batches():
        for lo in range(0, n, batch):
            acts = layer_inputs(model, torch.as_tensor(np.asarray(h[lo : lo + batch], dtype=np.float64)))
            yield acts[layer], acts

    with torch.no_grad():
        sums = _affine_jacobian_sums if affine else _jacobian_sums
        total = sums(fn, batches(), W_hat, w, step, through_output_relu)
    return total.numpy(), n


def _affine_jacobian_sums(fn, batches, W_hat, w, step, through_output_relu) -> torch.Tensor:
    """Σ J̃ᵀ J̃ when r is affine in f: ∂r/∂f once, then per output the firing count, Σ mask ⊙ offset and
    Σ mask·offset² over the samples (offset = z − J f = ŝ Ŵ with ŝ = [r − (∂r/∂f) f, 1])."""
    from torch.func import jacfwd, vmap

    V = W_hat.shape[1]
    fires = torch.zeros(V, dtype=torch.float64)
    offset_sum = torch.zeros(V, dtype=torch.float64)
    total = torch.zeros(w + 1, w + 1, dtype=torch.float64)
    Q = None
    for f, acts in batches:
        B = f.shape[0]
        r = vmap(fn, in_dims=(0, 0))(f, acts)  # [B, m]
        if Q is None:  # the same at every sample
            Q = jacfwd(fn)(f[0], {k: v[0] for k, v in acts.items()})  # [m, w]
        ones = torch.ones(B, 1, dtype=torch.float64)
        s_hat, r_hat = torch.cat([r - f @ Q.t(), ones], dim=1), torch.cat([r, ones], dim=1)  # [B, m + 1]
        for vlo in range(0, V, step):
            cols = W_hat[:, vlo : vlo + step]
            offset = s_hat @ cols  # [B, c]
            if through_output_relu:
                mask = (r_hat @ cols > 0).to(torch.float64)
                fires[vlo : vlo + step] += mask.sum(0)
                offset = offset * mask
            else:
                fires[vlo : vlo + step] += B
            offset_sum[vlo : vlo + step] += offset.sum(0)
            total[w, w] += (offset * offset).sum()
    if Q is not None:
        J = W_hat[:-1].t() @ Q  # [V, w]
        total[:w, :w] = (J * fires[:, None]).t() @ J
        total[:w, w] = total[w, :w] = J.t() @ offset_sum
    return total


def _jacobian_sums(fn, batches, W_hat, w, step, through_output_relu) -> torch.Tensor:
    """Σ_b Q̂_bᵀ K_b Q̂_b with ∂r/∂f per sample and K_b = Ŵ diag(mask_b) Ŵᵀ (K = Ŵ Ŵᵀ for every
    sample without the output ReLU). ∂r/∂f [m, w] by ``vmap`` of forward mode (w tangents pushed
    through) or, when r has fewer entries than f, reverse mode (m cotangents pulled back)."""
    from torch.func import jacfwd, jacrev, vmap

    m1, V = W_hat.shape
    jacobian = jacrev if m1 - 1 < w else jacfwd
    K = None if through_output_relu else W_hat @ W_hat.t()
    total = torch.zeros(w + 1, w + 1, dtype=torch.float64)
    for f, acts in batches:
        B = f.shape[0]
        r = vmap(fn, in_dims=(0, 0))(f, acts)  # [B, m]
        Q = vmap(jacobian(fn), in_dims=(0, 0))(f, acts)  # [B, m, w]
        Q_hat = torch.zeros(B, m1, w + 1, dtype=torch.float64)
        Q_hat[:, :-1, :w] = Q
        Q_hat[:, :-1, w] = r - torch.einsum("bmw,bw->bm", Q, f)
        Q_hat[:, -1, w] = 1.0
        if through_output_relu:
            r_hat = torch.cat([r, torch.ones(B, 1, dtype=torch.float64)], dim=1)
            K_b = torch.zeros(B, m1, m1, dtype=torch.float64)
            for vlo in range(0, V, step):
                cols = W_hat[:, vlo : vlo + step]
                mask = (r_hat @ cols > 0).to(torch.float64)  # [B, c]
                K_b += (cols[None] * mask[:, None, :]) @ cols.t()
            KQ = K_b @ Q_hat
        else:
            KQ = K @ Q_hat
        total += Q_hat.reshape(-1, w + 1).t() @ KQ.reshape(-1, w + 1)
    return total


# ---------------------------------------------------------------------------------------------
# ReLU co-firing


def cofiring_groups(code_blocks, n_units: int) -> list[list[int]]:
    """Groups of units with exactly the same firing set over all samples, by partition refinement
    over blocks of packed codes (uint8 [n_b, ceil(n_units/8)] each): units start in one group and a
    group splits wherever its members' firing columns differ in a block. Exact; one pass."""
    label = np.zeros(n_units, dtype=np.int64)
    for block in code_blocks:
        bits = np.unpackbits(block, axis=1, count=n_units).astype(bool)  # [n_b, units]
        columns = np.packbits(bits.T, axis=1)  # each unit's firing column in this block, as bytes
        keys: dict = {}
        new = np.empty(n_units, dtype=np.int64)
        for u in range(n_units):
            new[u] = keys.setdefault((int(label[u]), columns[u].tobytes()), len(keys))
        label = new
    groups: dict[int, list[int]] = {}
    for u, g in enumerate(label.tolist()):
        groups.setdefault(g, []).append(u)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def cofiring_summary(groups: list[list[int]], fire_counts: np.ndarray) -> dict:
    """Counts of identical-firing groups (dead units, those that never fire, reported apart)."""
    dead = [u for g in groups for u in g if fire_counts[u] == 0]
    multi = [g for g in groups if len(g) > 1 and fire_counts[g[0]] > 0]
    return {
        "n_units": int(sum(len(g) for g in groups)),
        "n_dead": len(dead),
        "n_groups_identical_firing": len(multi),
        "n_units_in_groups": int(sum(len(g) for g in multi)),
        "group_sizes": sorted((len(g) for g in multi), reverse=True)[:50],
        "examples": [g[:10] for g in multi[:10]],
    }


def jaccard_groups(code_blocks, n_units: int, threshold: float) -> list[list[int]]:
    """Connected groups of units whose firing sets have Jaccard similarity ≥ threshold (co-firing
    counts accumulated over blocks; [units, units] int64)."""
    import networkx as nx

    co = np.zeros((n_units, n_units), dtype=np.int64)
    for block in code_blocks:
        bits = np.unpackbits(block, axis=1, count=n_units).astype(np.float64)
        co += np.rint(bits.T @ bits).astype(np.int64)
    fires = np.diag(co)
    union = fires[:, None] + fires[None, :] - co
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = np.where(union > 0, co / union, 0.0)
    graph = nx.Graph()
    graph.add_nodes_from(range(n_units))
    i, j = np.nonzero(np.triu(jac >= threshold, k=1))
    graph.add_edges_from(zip(i.tolist(), j.tolist()))
    return [sorted(c) for c in nx.connected_components(graph) if len(c) > 1]


# ---------------------------------------------------------------------------------------------
# Interactions between adjacent layers


def layer_jacobians(model, h: torch.Tensor, src: str, dst: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(J [n, w_dst, w_src], f_src [n, w_src], f_dst [n, w_dst]) of one adjacent layer pair, float64,
    from the architecture's own form (the path through the hidden layer: the residual skip from
    latent to resid is not an edge here)."""
    return model.layer_jacobians(h, src, dst)


def folded_jacobian(J: torch.Tensor, f_src: torch.Tensor, f_dst: torch.Tensor) -> torch.Tensor:
    """J̃ of f̃_dst = [f_dst, 1] with respect to f̃_src = [f_src, 1]: [[J, f_dst − J f_src], [0, 1]]."""
    n, wd, ws = J.shape
    out = torch.zeros(n, wd + 1, ws + 1, dtype=torch.float64)
    out[:, :wd, :ws] = J
    out[:, :wd, ws] = f_dst - torch.einsum("nds,ns->nd", J, f_src)
    out[:, wd, ws] = 1.0
    return out


def next_layer_jacobian_gram(
    model, h: np.ndarray, src: str, dst: str, P_dst: np.ndarray, max_block_mb: float = 256.0
) -> tuple[np.ndarray, int]:
    """The local chain's M of layer ``src`` (the reference's ``basis_formula: jacobian``): Σ over samples
    of (P J̃)ᵀ(P J̃), where J̃ = ∂f̃_dst/∂f̃_src is the folded Jacobian of the next layer ``dst`` (an
    adjacent pair) and P [r, w_dst + 1] maps f̃_dst to its interaction-basis coordinates f̂_dst = P f̃_dst,
    so M weighs each of src's directions by how much it moves the next layer's interaction basis. Samples
    go in batches whose Jacobians stay within ``max_block_mb``. Returns (sum [w_src + 1, w_src + 1], n)."""
    model = as_float64(model)
    P = torch.as_tensor(P_dst, dtype=torch.float64)
    h = torch.as_tensor(np.asarray(h, dtype=np.float64))
    n = h.shape[0]
    J, _, _ = layer_jacobians(model, h[:1], src, dst)  # the widths, from one sample
    per_sample = (2 * (J.shape[1] + 1) + 2 * P.shape[0]) * (J.shape[2] + 1) * 8  # J, J̃ and P J̃
    batch = max(1, int(max_block_mb * 2**20 // per_sample))
    total = torch.zeros(J.shape[2] + 1, J.shape[2] + 1, dtype=torch.float64)
    with torch.no_grad():
        for lo in range(0, n, batch):
            J, fs, fd = layer_jacobians(model, h[lo : lo + batch], src, dst)
            A = P[None] @ folded_jacobian(J, fs, fd)  # [B, r, w_src + 1]
            total += torch.einsum("bri,brj->ij", A, A)
    return total.numpy(), n


def edge_strengths(
    model,
    h: torch.Tensor,
    src: str,
    dst: str,
    projections: dict,
    max_block_mb: float = 256.0,
    groups: int = 0,
    points=None,
    functional: bool = False,
):
    """E_ij = mean over samples of (∂f̂ᵢ_dst/∂f̂ⱼ_src · f̂ⱼ_src)² between two adjacent layers, for each
    named basis in ``projections`` (name → (P_src [r_src, w_src + 1], P_src⁺ [w_src + 1, r_src],
    P_dst [r_dst, w_dst + 1])): with f̂ = P f̃ in each layer, ∂f̂_dst/∂f̂_src = P_dst J̃ P_src⁺. P_src⁺ is the
    basis's own back-map (for the interaction basis C⁺ᵀ, formed from the factors), which maps f̂ into the
    data's subspace: a numerical pseudo-inverse of P_src leaves that subspace where the Gram is rank
    deficient, and the edges would then change under a reparameterization (centring among them).
    Samples h [n, m] go in batches whose [B, w_dst + 1, w_src + 1] Jacobians stay within ``max_block_mb``
    (with their projected copies); an identity P is not multiplied. Returns name → E [r_dst, r_src]; with
    ``groups`` > 0, also name → [groups, r_dst, r_src], the sums of the samples i with i mod groups = g
    (for resampling the samples without recomputing a Jacobian).

    ``points`` (:func:`~bowsflow.lenses.interaction.integration.integration_points`, other than the
    gradient's): integrated gradients, ∂f̂_dst/∂f̂_src averaged over the folded next layer at α f̃_src.
    ``functional``: the reference's functional edges instead of squared ones, E_ij = mean over samples of
    Σ_α w_α 2 (ŷᵢ(f̃) − ŷᵢ(α f̃)) [P_dst J̃(α) P_src⁺]ᵢⱼ f̂ⱼ (ŷ = P_dst f̃_dst; signed; zero at the gradient's
    single point α = 1, so they need an integration rule). On a linear layer, ŷ = A f̂, both have closed
    forms with Ĝ = mean f̂ f̂ᵀ: squared E_ij = A_ij² Ĝ_jj and functional E = A ⊙ (A Ĝ); they are equal
    where Ĝ is diagonal, as it is in the interaction basis (Ĝ = |Λ| on the kept directions) and the PCA one."""
    if points is not None and (functional or not points.is_gradient):
        return _integrated_edge_strengths(model, h, src, dst, projections, max_block_mb, groups, points, functional)
    prepared = {}
    for name, (P_src, P_src_inverse, P_dst) in projections.items():
        Ps, Pd = torch.as_tensor(P_src, dtype=torch.float64), torch.as_tensor(P_dst, dtype=torch.float64)
        identity = all(
            P.shape[0] == P.shape[1] and torch.equal(P, torch.eye(P.shape[0], dtype=torch.float64)) for P in (Ps, Pd)
        )
        prepared[name] = (Ps, Pd, None if identity else torch.as_tensor(P_src_inverse, dtype=torch.float64))
    n = h.shape[0]
    J, _, _ = layer_jacobians(model, h[:1], src, dst)  # the widths, from one sample
    per_sample = 4 * (J.shape[1] + 1) * (J.shape[2] + 1) * 8  # J, J̃, the projected J̃ and its square
    batch = max(1, int(max_block_mb * 2**20 // per_sample))
    sums: dict[str, torch.Tensor] = {}
    by_group: dict[str, torch.Tensor] = {}
    for lo in range(0, n, batch):
        J, fs, fd = layer_jacobians(model, h[lo : lo + batch], src, dst)
        Jt = folded_jacobian(J, fs, fd)
        del J
        fs_t = torch.cat([fs, torch.ones(fs.shape[0], 1, dtype=torch.float64)], dim=1)
        for name, (Ps, Pd, Ps_pinv) in prepared.items():
            if Ps_pinv is None:
                weighted = Jt * fs_t[:, None, :]
            else:
                weighted = (Pd[None] @ Jt @ Ps_pinv[None]).mul_((fs_t @ Ps.t())[:, None, :])  # [B, r_dst, r_src]
            _accumulate(sums, by_group, name, weighted.square_(), lo, groups)
    return _edge_means(sums, by_group, n, groups)


def _accumulate(sums: dict, by_group: dict, name: str, per_sample: torch.Tensor, lo: int, groups: int) -> None:
    """Add a batch's per-sample edges [B, r_dst, r_src] (samples lo, lo + 1, …) to the running sum of
    ``name`` and, with ``groups``, to the sums of the sample groups (sample i in group i mod groups)."""
    part = per_sample.sum(0)
    sums[name] = part if name not in sums else sums[name] + part
    if groups:
        gid = torch.arange(lo, lo + per_sample.shape[0]) % groups
        acc = by_group.setdefault(name, torch.zeros((groups, *part.shape), dtype=torch.float64))
        acc.index_add_(0, gid, per_sample)


def _edge_means(sums: dict, by_group: dict, n: int, groups: int):
    """The mean edges over n samples (and the groups' sums, with ``groups``), as numpy."""
    edges = {name: (total / n).numpy() for name, total in sums.items()}
    return (edges, {name: g.numpy() for name, g in by_group.items()}) if groups else edges


@torch.no_grad()
def _integrated_edge_strengths(model, h, src, dst, projections, max_block_mb, groups, points, functional):
    """:func:`edge_strengths` with integration points (and functional edges)."""
    from bowsflow.lenses.interaction.integration import pair_jacobians
    from bowsflow.models import as_float64

    model = as_float64(model)
    h = torch.as_tensor(h, dtype=torch.float64)
    prepared = {
        name: tuple(torch.as_tensor(P, dtype=torch.float64) for P in (P_src, P_src_inverse, P_dst))
        for name, (P_src, P_src_inverse, P_dst) in projections.items()
    }
    per_alpha, _, _ = pair_jacobians(model, h[:1], src, dst, points)  # the widths, from one sample
    wd1, ws1 = per_alpha[0][1].shape[1:]
    batch = max(1, int(max_block_mb * 2**20 // ((points.alphas.size + 4) * wd1 * ws1 * 8)))
    n = h.shape[0]
    sums: dict[str, torch.Tensor] = {}
    by_group: dict[str, torch.Tensor] = {}
    for lo in range(0, n, batch):
        per_alpha, fs_t, fd_t = pair_jacobians(model, h[lo : lo + batch], src, dst, points)
        for name, (Ps, Ps_pinv, Pd) in prepared.items():
            coords = (fs_t @ Ps.t())[:, None, :]  # f̂_src [B, 1, r_src]
            if functional:
                y = fd_t @ Pd.t()
                per_sample = sum(
                    (2.0 * w) * (y - y_alpha @ Pd.t())[:, :, None] * (Pd[None] @ Jt @ Ps_pinv[None])
                    for w, Jt, y_alpha in per_alpha
                ).mul_(coords)
            else:
                J_bar = sum(w * Jt for w, Jt, _ in per_alpha)
                per_sample = (Pd[None] @ J_bar @ Ps_pinv[None]).mul_(coords).square_()
            _accumulate(sums, by_group, name, per_sample, lo, groups)
    return _edge_means(sums, by_group, n, groups)


def edges_for_mass(E: np.ndarray, share: float = 0.99) -> int:
    """How many of the strongest edges hold ``share`` of the total edge mass."""
    flat = np.sort(E.ravel())[::-1]
    total = flat.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(flat), share * total) + 1)
