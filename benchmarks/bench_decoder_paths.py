"""The decoder loss' three paths side by side, at a given share of outputs on: where does each pay?

dense: z = r Wᵀ + b and the dense backward products; sparse: the dense forward product, then the
backward products over the outputs on only (``nonzero()`` and two CSR products); screened: a bf16
screen finds the candidates, z on those only, and the sparse backward. Random r and W, the bias set
so that the asked share of outputs is on, the tied encoder's share folded in (as training does);
forward + backward, the median of ``--reps`` runs of each, alternating paths within each setting.

    python benchmarks/bench_decoder_paths.py [--latent 32 256 1000] [--shares 0.005 0.01 0.03 0.05]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import bowsflow.models.losses as losses


def one_step(path: str, r, W, b, rows, cols) -> float:
    r, W, b = (t.clone().requires_grad_() for t in (r, W, b))
    t = time.perf_counter()
    if path == "screened":
        loss = losses._ScreenedDecodeMSE.apply(r, W, b, rows, cols, None, True)
    else:
        losses.SPARSE_GRADIENT_DENSITY = 0.0 if path == "dense" else 1.01
        loss = losses._DecodeMSE.apply(r, W, b, rows, cols, True, None, True)
    loss.backward()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--latent", type=int, nargs="+", default=[32, 256, 1000])
    ap.add_argument("--shares", type=float, nargs="+", default=[0.005, 0.01, 0.03, 0.05])
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    B, V = args.batch, args.vocab
    paths = ("dense", "sparse", "screened")
    saved = losses.SPARSE_GRADIENT_DENSITY
    gen = torch.Generator().manual_seed(0)
    print(f"V = {V}, batch {B}, {args.threads} threads; forward + backward of the decoder loss, ms (median)")
    print(f"{'m':>6}{'share on':>10}" + "".join(f"{p:>11}" for p in paths))
    try:
        for m in args.latent:
            r, W = torch.randn(B, m, generator=gen), torch.randn(V, m, generator=gen) * 0.1
            z = r @ W.t()
            key = torch.unique(torch.randint(0, B * V, (B * 26,), generator=gen))  # ~26 words a sample
            rows, cols = key // V, key % V
            for share in args.shares:
                b = -torch.quantile(z.reshape(-1)[::97], 1 - share) * torch.ones(V)
                times = {p: [] for p in paths}
                for _ in range(args.reps):
                    for p in paths:
                        times[p].append(one_step(p, r, W, b, rows, cols))
                row = "".join(f"{statistics.median(times[p]) * 1e3:>11.1f}" for p in paths)
                print(f"{m:>6}{share:>10.3f}{row}", flush=True)
    finally:
        losses.SPARSE_GRADIENT_DENSITY = saved


if __name__ == "__main__":
    main()
