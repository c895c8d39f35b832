"""Polytope codes: packing plus exact distinct-code counting against numpy.unique(axis=0) on the
unpacked boolean matrix; all-pairs Hamming distances by XOR + popcount against a matrix product.
Same data, same run; the results are checked equal. Run:  python benchmarks/bench_polytope.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bowsflow.lenses.polytope.codes import count_codes, hamming_matmul, hamming_xor, pack_codes


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--pairs-a", type=int, default=2000)
    ap.add_argument("--pairs-b", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    # pre-activations with a repeated structure: half the samples share one of 1,000 patterns
    base = rng.standard_normal((1000, args.units)).astype(np.float32) - 1.5
    pre = rng.standard_normal((args.samples, args.units)).astype(np.float32) - 1.5
    pre[: args.samples // 2] = base[rng.integers(0, 1000, args.samples // 2)]

    t_ours, counts = timed(lambda: count_codes(pack_codes(pre)))
    on = pre > 0
    t_np, (uniq, cnt) = timed(lambda: np.unique(on, axis=0, return_counts=True))
    assert len(counts) == uniq.shape[0] and sorted(counts.values()) == sorted(cnt.tolist())
    print(f"{args.samples} samples x {args.units} units: {len(counts)} distinct codes")
    print(f"  pack + exact count (hash, verify): {t_ours:7.2f} s")
    print(f"  numpy.unique(axis=0) on booleans:  {t_np:7.2f} s   ratio {t_np / t_ours:.1f}x")

    a = pack_codes(pre[: args.pairs_a])
    b = pack_codes(pre[args.pairs_a : args.pairs_a + args.pairs_b])
    t_xor, h1 = timed(lambda: hamming_xor(a, b))
    t_mm, h2 = timed(lambda: hamming_matmul(a, b, args.units))
    assert np.array_equal(h1, h2)
    print(f"all-pairs Hamming {args.pairs_a} x {args.pairs_b} codes of {args.units} units (identical results):")
    print(f"  XOR + popcount: {t_xor:7.2f} s")
    print(f"  matrix product: {t_mm:7.2f} s   (XOR / matmul time {t_xor / t_mm:.2f})")


if __name__ == "__main__":
    main()
