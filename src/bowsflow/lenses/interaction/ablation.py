"""Node and edge ablation curves, the interaction basis's main evaluation (Bushnaq et al. 2024): keep the top-k
directions of one layer in a basis, put the activation back, run the rest of the model, and measure
the validation loss against k.

For a layer with activations f (width w), f̃ = [f, 1] and a basis with coordinates f̂ = P f̃ (P [r, w + 1],
directions in order of importance) and its inverse on the data's subspace P⁺ ([w + 1, r]), keeping k
directions removes the others: f̃ₖ = f̃ − P⁺[:, k:] f̂[k:]. Its first w entries replace the layer's
activations and the architecture's own ``decoder_input(layer)`` carries them to the decoder's input r
(the other layers held at the sample), then z = decoderᵀr + b and the loss is the training loss (MSE of
x̂ against the bag, or BCE) averaged over samples and words. What the basis does not hold — directions
dropped for |Λ| below ``lambda_threshold`` (the output does not depend on them) or outside the Gram's
kept eigenvalues — is never ablated, so keeping every direction (or every edge) is the identity and gives
the unablated loss exactly, under every option. (RIB rebuilds f̃ from the kept coordinates alone; the two
differ by what the dropped directions carry: 4e-5 of the loss on the default relu_mlp.)
"""

from __future__ import annotations

import numpy as np
import torch

from bowsflow.models import as_float64
from bowsflow.models.losses import dense_target_loss


def ablation_ks(r: int, max_points: int = 64) -> list[int]:
    """k = 0 … r: all of them when r + 1 ≤ ``max_points``, else a geometric grid with 0, 1 and r."""
    if r + 1 <= max_points:
        return list(range(r + 1))
    grid = np.unique(np.r_[0, np.round(np.geomspace(1, r, max_points - 1)).astype(int), r])
    return [int(k) for k in grid]


def _batches(model, h: np.ndarray, x: np.ndarray, layer: str, P: torch.Tensor, batch: int):
    """Per batch of samples: (its size, its bags, every layer's activations, ``layer``'s coordinates
    f̂ = P f̃ [B, r]), the model in float64."""
    for lo in range(0, h.shape[0], batch):
        hb = torch.as_tensor(np.asarray(h[lo : lo + batch], dtype=np.float64))
        acts = model.layers_from_latent(hb)
        f = acts[layer]
        coords = torch.cat([f, torch.ones(f.shape[0], 1, dtype=torch.float64)], dim=1) @ P.t()
        yield hb.shape[0], torch.as_tensor(np.asarray(x[lo : lo + batch])), acts, coords


def _loss_after(model, fn, f: torch.Tensor, acts: dict, xb: torch.Tensor, loss: str) -> float:
    """The loss when a layer holds activations f [B, w] and the rest of the model runs from it: ``fn`` is
    the architecture's ``decoder_input(layer)``, the other layers at each sample."""
    from torch.func import vmap

    r = vmap(fn, in_dims=(0, 0))(f, acts)
    return float(dense_target_loss(model.decode(r), xb, loss, model.output == "relu"))


@torch.no_grad()
def node_ablation_curve(
    model,
    h: np.ndarray,
    x: np.ndarray,
    layer: str,
    P: np.ndarray,
    P_pinv: np.ndarray,
    ks: list[int],
    loss: str = "mse",
    batch: int = 512,
) -> np.ndarray:
    """Validation loss [len(ks)] when ``layer`` keeps the first k coordinates of the basis f̂ = P f̃
    (P [r, w + 1], P⁺ [w + 1, r]) and the others are removed (see the module doc), for latent vectors
    h [n, m] and their bags x [n, V] (bool)."""
    model = as_float64(model)
    fn, _ = model.decoder_input(layer)
    P, P_pinv = torch.as_tensor(P, dtype=torch.float64), torch.as_tensor(P_pinv, dtype=torch.float64)
    totals = np.zeros(len(ks))
    for size, xb, acts, coords in _batches(model, h, x, layer, P, batch):
        w = acts[layer].shape[1]
        for i, k in enumerate(ks):
            f_k = acts[layer] - (coords[:, k:] @ P_pinv[:, k:].t())[:, :w]
            totals[i] += _loss_after(model, fn, f_k, acts, xb, loss) * size
    return totals / h.shape[0]


@torch.no_grad()
def edge_ablation_curve(
    model,
    h: np.ndarray,
    x: np.ndarray,
    src: str,
    dst: str,
    bases: tuple,
    E: np.ndarray,
    counts: list[int],
    loss: str = "mse",
    batch: int = 256,
) -> np.ndarray:
    """Validation loss [len(counts)] when only the ``count`` strongest edges (by E [r_dst, r_src]) from
    ``src`` to ``dst`` are kept, in one basis (``bases`` = (P_src, P_src⁺, P_dst, P_dst⁺), f̂ = P f̃).

    Each direction i of dst is computed from src's activations with the edges into i that are not kept
    removed: f̂_dst,i = P_dst,i [g(f̃_src − P_src⁺ ((1 − mask_i) ⊙ f̂_src)), 1] with g the architecture's
    ``layer_function(src, dst)`` (the other layers at the sample); dst's activations move by
    P_dst⁺ (f̂_dst − P_dst f̃_dst) and go through the rest of the model as in node ablation. Keeping every
    edge is the identity: the unablated loss exactly."""
    model = as_float64(model)
    g = model.layer_function(src, dst)
    fn, _ = model.decoder_input(dst)
    P_src, P_src_pinv, P_dst, P_dst_pinv = (torch.as_tensor(P, dtype=torch.float64) for P in bases)
    order = np.argsort(-E.ravel(), kind="stable")
    masks = []  # [r_dst, r_src] per count: the edges kept, the strongest first
    for count in counts:
        kept = np.zeros(E.size, dtype=bool)
        kept[order[:count]] = True
        masks.append(torch.as_tensor(kept.reshape(E.shape), dtype=torch.float64))
    totals = np.zeros(len(counts))
    for size, xb, acts, coords in _batches(model, h, x, src, P_src, batch):
        w_src, w_dst = acts[src].shape[1], acts[dst].shape[1]
        ones = torch.ones(acts[dst].shape[0], 1, dtype=torch.float64)
        unablated_dst = torch.cat([acts[dst], ones], dim=1) @ P_dst.t()  # [B, r_dst]
        for c, mask in enumerate(masks):
            removed = (coords[:, None, :] * (1.0 - mask)[None]) @ P_src_pinv.t()  # [B, r_dst, w_src + 1]
            variants = acts[src][:, None, :] - removed[..., :w_src]  # one per dst direction
            f_dst = g(variants, acts)  # [B, r_dst, w_dst]
            f_dst = torch.cat([f_dst, torch.ones(*f_dst.shape[:2], 1, dtype=torch.float64)], dim=2)
            coords_dst = torch.einsum("bij,ij->bi", f_dst, P_dst)  # direction i from its own variant
            f_k = acts[dst] + ((coords_dst - unablated_dst) @ P_dst_pinv.t())[:, :w_dst]
            totals[c] += _loss_after(model, fn, f_k, acts, xb, loss) * size
    return totals / h.shape[0]


@torch.no_grad()
def unablated_loss(model, h: np.ndarray, x: np.ndarray, loss: str = "mse") -> float:
    """The model's own validation loss on latent vectors h [n, m] and their bags x [n, V] (float64)."""
    model = as_float64(model)
    z = model.layers_from_latent(torch.as_tensor(np.asarray(h, dtype=np.float64)))["out_pre"]
    return float(dense_target_loss(z, torch.as_tensor(np.asarray(x)), loss, model.output == "relu"))


def neuron_order(G: np.ndarray, M: np.ndarray) -> np.ndarray:
    """The neuron basis's order of importance: by G_ii · M_ii (a coordinate's activation power times
    the output's sensitivity to it, the diagonal analogue of |Λ|), descending, ties by index."""
    return np.argsort(-(np.diag(G) * np.diag(M)), kind="stable")
