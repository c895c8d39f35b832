"""Eigendecomposition of every output word's interaction matrix B_v: batched (torch.linalg.eigh on
stacks of a chunk of words, float64) against a Python loop of numpy.linalg.eigh, same run, same
matrices; eigenvalues checked equal. Prints the largest array each materializes.
Run:  python benchmarks/bench_bilinear.py [--vocab 4000 --latent 64 --hidden 128 --max-array-mb 256 --device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bowsflow.bilinear import eig_sorted, interaction_matrices, output_map, weights, words_per_chunk
from bowsflow.models import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--max-array-mb", type=float, default=256.0)
    ap.add_argument("--device", default="cpu", help="where the batched eigh runs: cpu | cuda (the loop is numpy, on the CPU)")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = build_model("bilinear", args.vocab, args.latent, args.hidden)
    p = weights(model)
    U = output_map(p)
    V, m = args.vocab, args.latent
    step = words_per_chunk(m, args.max_array_mb)

    device = torch.device(args.device)
    p_dev, U_dev = {k: v.to(device) for k, v in p.items()}, U.to(device)
    if device.type == "cuda":  # libraries load and kernels compile on first use: not part of the timing
        eig_sorted(interaction_matrices(p_dev, U_dev[:step]))
        torch.cuda.synchronize()
    t = time.perf_counter()
    ours = []
    for lo in range(0, V, step):
        vals, vecs = eig_sorted(interaction_matrices(p_dev, U_dev[lo : lo + step]))
        ours.append(vals.cpu().numpy())
    t_ours = time.perf_counter() - t
    ours = np.concatenate(ours)

    t = time.perf_counter()
    loop = []
    for lo in range(0, V, step):  # the same matrices, built the same way, then one eigh per word
        for B in interaction_matrices(p, U[lo : lo + step]).numpy():
            vals, _ = np.linalg.eigh(B)
            loop.append(vals[np.argsort(-np.abs(vals), kind="stable")])
    t_loop = time.perf_counter() - t
    np.testing.assert_allclose(np.sort(ours, axis=1), np.sort(np.array(loop), axis=1), atol=1e-10)
    print(f"V = {V}, m = {m}, d = {args.hidden}, float64, torch threads = {torch.get_num_threads()}, batched on {device}; eigenvalues identical")
    print(f"  batched eigh, {step} words a chunk:   {t_ours:7.2f} s   largest array {step * m * m * 8 * 2 / 2**20:7.1f} MB (bound {args.max_array_mb:g} MB)")
    print(f"  Python loop of numpy.linalg.eigh:   {t_loop:7.2f} s   largest array {m * m * 8 * 2 / 2**20:7.3f} MB   ratio {t_loop / t_ours:.1f}x")


if __name__ == "__main__":
    main()
