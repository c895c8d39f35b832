"""Gram matrix of activations: the dask reduction over a chunked Zarr store against numpy ``X.T @ X`` on
the same data held in memory, same run, results checked equal; then (``--big-gb``) the peak RSS of the
dask Gram over a store larger than half the machine's memory, in a fresh process.
Run:  python benchmarks/bench_gram.py [--samples 1000000 --width 512] [--big-gb 13]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_store(path: Path, n: int, width: int, chunk: int) -> None:
    import zarr

    z = zarr.create_array(str(path), shape=(n, width), chunks=(chunk, width), dtype="f4", compressors=None)
    rng = np.random.default_rng(0)
    block = rng.standard_normal((chunk, width)).astype(np.float32)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        z[lo:hi] = block[: hi - lo] * np.float32(1 + lo / n)


def dask_gram_of(path: Path, threads: int, product_dtype=np.float64) -> tuple[np.ndarray, float]:
    import zarr

    from bowsflow.lenses.interaction.basis import dask_gram

    data = zarr.open_array(str(path), mode="r")  # read inside the dask tasks, chunk by chunk
    t = time.perf_counter()
    G = dask_gram(data, threads=threads, product_dtype=product_dtype)
    return G, time.perf_counter() - t


def child(args) -> None:
    path = Path(args.dir) / "big.zarr"
    G, seconds = dask_gram_of(path, 2)
    # this process' own high-water mark (ru_maxrss would carry the parent's over the fork)
    rss_mb = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--big-gb", type=float, default=0, help="also measure peak RSS over a store of this many GB")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    d = Path(tempfile.mkdtemp(prefix="bench_gram_"))
    try:
        make_store(d / "x.zarr", args.samples, args.width, args.chunk)
        import zarr

        X = np.asarray(zarr.open_array(str(d / "x.zarr"))[:])
        flops = 2 * args.samples * args.width**2
        t = time.perf_counter()
        ref = X.T @ X
        t_np = time.perf_counter() - t
        X64 = X.astype(np.float64)  # the same values, held as float64: numpy doing the analysis' float64 computation
        t = time.perf_counter()
        ref64 = X64.T @ X64
        t_np64 = time.perf_counter() - t
        del X64
        print(
            f"{args.samples} x {args.width} float32 ({X.nbytes / 1e9:.1f} GB), chunks of {args.chunk} samples; results equal"
        )
        print(f"  numpy X.T @ X in memory (float32):          {t_np:6.2f} s  {flops / t_np / 1e9:6.1f} GFLOP/s")
        print(f"  numpy X.T @ X in memory (float64 copy):     {t_np64:6.2f} s  {flops / t_np64 / 1e9:6.1f} GFLOP/s")
        for dtype in (np.float64, np.float32):
            G, t_dask = dask_gram_of(d / "x.zarr", 2, dtype)
            np.testing.assert_allclose(
                G[: args.width, : args.width] * args.samples, ref, rtol=2e-3, atol=1e-2 * args.samples**0.5
            )
            if dtype == np.float64:  # float64 products are exact, so the sums agree with numpy's float64 to rounding
                np.testing.assert_allclose(
                    G[: args.width, : args.width] * args.samples, ref64, rtol=1e-12, atol=1e-9 * args.samples**0.5
                )
            print(
                f"  dask Gram over the store, {np.dtype(dtype).name} products: {t_dask:6.2f} s  {flops / t_dask / 1e9:6.1f} GFLOP/s"
                f"   ratio {t_np / t_dask:.2f} to numpy float32, {t_np64 / t_dask:.2f} to numpy float64 (read included; sums across chunks in float64)"
            )
        del X
        if args.big_gb:
            n_big = int(args.big_gb * 1e9 / (4 * args.width))
            make_store(d / "big.zarr", n_big, args.width, args.chunk)
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--dir", str(d)], capture_output=True, text=True, check=True
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  dask Gram over {n_big} x {args.width} ({args.big_gb:g} GB on disk): {r['seconds']:.1f} s, peak RSS {r['rss_mb']:.0f} MB"
            )
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
