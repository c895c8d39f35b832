"""Jacobian Gram Σ_b J̃_bᵀ J̃_b of the output pre-activations with respect to a layer:
``bowsflow.lenses.interaction.basis.jacobian_gram`` (∂r/∂f by forward-mode autograd, the linear decoder applied in
closed form) against the direct way — the whole [batch, V, w] Jacobian of z by ``vmap(jacfwd)``, then
its Gram — on the same model and samples, same run; results checked equal. Prints the direct way's
block size (ours are bounded by --max-block-mb). Run:  python benchmarks/bench_jacobian.py [--vocab 2000 --latent 32 --hidden 95 --samples 5000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bowsflow.lenses.interaction.basis import jacobian_gram, layer_inputs
from bowsflow.models import as_float64, build_model


def direct_jacobian_gram(model, h: np.ndarray, layer: str, through_output_relu: bool, batch_size: int):
    """The baseline: J̃ = [∂z/∂f, z − (∂z/∂f) f] of the whole z per batch, [B, V, w + 1], and its Gram."""
    from torch.func import jacfwd, vmap

    model = as_float64(model)
    p = dict(model.named_parameters())
    We, b = model.embedding, p["b"]
    z_of = {
        "latent": lambda f, a: model.middle(f[None])["resid"][0] @ We + b,
        "hidden_pre": lambda f, a: (a["latent"] + torch.relu(f) @ p["W_out"].t()) @ We + b,
        "hidden": lambda f, a: (a["latent"] + f @ p["W_out"].t()) @ We + b,
        "resid": lambda f, a: f @ We + b,
    }[layer]
    total, largest = 0, 0
    with torch.no_grad():
        for lo in range(0, h.shape[0], batch_size):
            acts = layer_inputs(model, torch.as_tensor(h[lo : lo + batch_size]))
            f = acts[layer]
            J = vmap(jacfwd(z_of), in_dims=(0, 0))(f, acts)
            z = vmap(z_of, in_dims=(0, 0))(f, acts)
            Jt = torch.cat([J, (z - torch.einsum("bvw,bw->bv", J, f))[:, :, None]], dim=2)
            if through_output_relu:
                Jt = Jt * (z > 0).to(Jt.dtype)[:, :, None]
            largest = max(largest, Jt.numel() * 8)
            rows = Jt.reshape(-1, Jt.shape[2])
            total = total + rows.t() @ rows
    return total.numpy(), largest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=95)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=256, help="samples per batch (both sides)")
    ap.add_argument("--max-block-mb", type=float, default=256.0)
    args = ap.parse_args()
    torch.manual_seed(0)
    print(
        f"V = {args.vocab}, m = {args.latent}, d = {args.hidden}, {args.samples} samples, float64, "
        f"torch threads = {torch.get_num_threads()}; sums checked equal (rtol 1e-9); our blocks ≤ {args.max_block_mb:g} MB"
    )
    for arch, layers in (("relu_mlp", ("latent", "hidden_pre", "resid")), ("bilinear", ("latent", "hidden", "resid"))):
        model = build_model(arch, args.vocab, args.latent, args.hidden)
        with torch.no_grad():
            model.b.uniform_(-0.2, 0.2)
        h = np.random.default_rng(0).normal(size=(args.samples, args.latent))
        jacobian_gram(model, h[:8], layers[0])  # first use builds torch.func's transforms: not timed
        for layer in layers:
            for relu in (False, True):
                t = time.perf_counter()
                ours, n = jacobian_gram(model, h, layer, relu, args.batch, args.max_block_mb)
                t_ours = time.perf_counter() - t
                t = time.perf_counter()
                ref, largest = direct_jacobian_gram(model, h, layer, relu, args.batch)
                t_ref = time.perf_counter() - t
                np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
                print(
                    f"  {arch:8s} {layer:10s} {'x̂ (ReLU)' if relu else 'z':9s} ours {t_ours:7.2f} s   direct {t_ref:7.2f} s"
                    f" (blocks of {largest / 2**20:6.0f} MB)   ratio {t_ref / t_ours:6.1f}x"
                )


if __name__ == "__main__":
    main()
