"""Eigendecomposition of every output word's interaction matrix B_v: batched (torch.linalg.eigh on
stacks of a chunk of words, float64; chunks run ``--threads`` at a time as the analysis's dask threads
run them) against a Python loop of numpy.linalg.eigh, same run, same
matrices; eigenvalues checked equal. Prints the largest array each materializes.
Run:  python benchmarks/bench_bilinear.py [--vocab 4000 --latent 64 --hidden 128 --max-array-mb 256 --device cpu]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from bowsflow.lenses.bilinear.decomposition import interaction_matrices, output_map, weights, word_chunks
from bowsflow.linalg import sorted_eigh
from bowsflow.models import build_model
from bowsflow.runtime.parallel import torch_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--max-array-mb", type=float, default=256.0)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many timings of each")
    ap.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="chunks in flight at once (the analysis rule's threads)",
    )
    ap.add_argument(
        "--device", default="cpu", help="where the batched eigh runs: cpu | cuda (the loop is numpy, on the CPU)"
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    model = build_model("bilinear", args.vocab, args.latent, args.hidden)
    p = weights(model)
    U = output_map(p)
    V, m = args.vocab, args.latent
    device = torch.device(args.device)
    threads = args.threads if device.type == "cpu" else 1
    chunks = word_chunks(V, m, args.max_array_mb, threads)
    step = chunks[0][1] - chunks[0][0]

    p_dev, U_dev = {k: v.to(device) for k, v in p.items()}, U.to(device)

    def chunk(bounds):
        vals, vecs = sorted_eigh(interaction_matrices(p_dev, U_dev[bounds[0] : bounds[1]]), "magnitude")
        return vals.cpu().numpy()

    def batched():
        with ThreadPoolExecutor(threads) as pool, torch_threads(1 if device.type == "cpu" else torch.get_num_threads()):
            return np.concatenate(
                list(pool.map(chunk, chunks))
            )  # as the analysis's dask threads run them, one core each

    def numpy_loop():
        out = []
        for lo, hi in chunks:  # the same matrices, built the same way, then one eigh per word
            for B in interaction_matrices(p, U[lo:hi]).numpy():
                vals, _ = np.linalg.eigh(B)
                out.append(vals[np.argsort(-np.abs(vals), kind="stable")])
        return np.array(out)

    def best_time(fn):
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            result = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best, result

    chunk(chunks[0])  # first use loads libraries (and compiles kernels on a GPU): not timed
    t_ours, ours = best_time(batched)
    t_loop, loop = best_time(numpy_loop)
    np.testing.assert_allclose(np.sort(ours, axis=1), np.sort(loop, axis=1), atol=1e-10)
    print(
        f"V = {V}, m = {m}, d = {args.hidden}, float64, torch threads = {torch.get_num_threads()}, batched on {device}, best of {args.repeats}; eigenvalues identical"
    )
    in_flight = step * m * m * 8 * 2 * threads / 2**20
    print(
        f"  batched eigh, {len(chunks)} chunks of {step} words, {threads} at a time: {t_ours:7.2f} s   "
        f"arrays in flight {in_flight:7.1f} MB (bound {args.max_array_mb:g} MB)"
    )
    print(
        f"  Python loop of numpy.linalg.eigh:   {t_loop:7.2f} s   largest array {m * m * 8 * 2 / 2**20:7.3f} MB   ratio {t_loop / t_ours:.1f}x"
    )


if __name__ == "__main__":
    main()
