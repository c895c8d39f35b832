"""Activation extraction: stored MB/s against a raw sequential write of the same bytes, same run;
and peak RSS at two sample counts 4x apart (each in a fresh process).

A synthetic BOWS store (iid features) and a bilinear model; every layer is extracted, out_pre (V wide)
being most of the bytes. MB are the activations' uncompressed size; the raw baseline writes that many
bytes with numpy ``tofile`` and fsync. Run:  python benchmarks/bench_extract.py [--samples 200000 --vocab 2000 --device cpu]
(the smaller run has a quarter of the samples; fixed setup costs — 0.3 s on a CPU, 1.3-1.7 s for a CUDA
context — weigh on small runs' rates, and the script prints them apart from the streaming stages)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from bowsflow.activations.extraction import ExtractOptions, extract_activations
from bowsflow.config import resolved_bows, validate_config
from bowsflow.data.bows_store import build_synthetic_store
from bowsflow.data.vocabulary import vocabulary_sha256
from bowsflow.models import build_model
from bowsflow.models.checkpoints import save_checkpoint


def setup(d: Path, n: int, V: int, chunk: int, m: int = 64, hidden: int = 64):
    spec = {
        "source": "synthetic",
        "structure": "iid",
        "n_features": V,
        "n_samples": n,
        "k": 10,
        "bias": 0,
        "noise": 0,
        "p": 0.01,
        "seed": 0,
    }
    cfg = validate_config({"corpora": {"c": spec}, "bows": {"chunk_samples": chunk}})
    build_synthetic_store(spec, resolved_bows(cfg, "c"), d / "bows.zarr", {"config_hash": "bench"})
    torch.manual_seed(0)
    model = build_model("bilinear", V, m, hidden)
    words = [f"f{i}" for i in range(V)]
    meta = {
        "arch": "bilinear",
        "vocab_size": V,
        "d_latent": m,
        "d_hidden": hidden,
        "output": "relu",
        "vocab_sha256": vocabulary_sha256(words),
    }
    save_checkpoint(model, d / "m.safetensors", meta)


def activation_bytes(path: Path) -> int:
    ds = xr.open_zarr(path)
    return (
        sum(ds[v].nbytes for v in ds.data_vars if v not in ("split", "doc_id"))
        + ds["latent"].nbytes
        + ds["hidden"].nbytes
    )


def child(args) -> None:
    d = Path(args.dir)
    if args.setup:  # its own process: the generator's memory must not count as the extraction's
        setup(d, args.samples, args.vocab, args.chunk)
        return
    t = time.perf_counter()
    stages = extract_activations(
        d / "m.safetensors",
        d / "bows.zarr",
        d / "act.zarr",
        ExtractOptions(device=args.device, writer_threads=args.writer_threads, compressor=args.compressor),
    )
    seconds = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline's buffer
    nbytes = activation_bytes(d / "act.zarr")
    # the raw baseline: the same number of bytes, written sequentially and fsynced
    data = np.random.default_rng(0).standard_normal(min(nbytes, 1 << 28) // 4).astype(np.float32)
    t = time.perf_counter()
    with open(d / "raw.bin", "wb") as f:
        written = 0
        while written < nbytes:
            block = data[: (nbytes - written) // 4] if nbytes - written < data.nbytes else data
            block.tofile(f)
            written += block.nbytes
        f.flush()
        os.fsync(f.fileno())
    raw_seconds = time.perf_counter() - t
    stored = sum(p.stat().st_size for p in (d / "act.zarr").rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "samples": args.samples,
                "mb": nbytes / 1e6,
                "seconds": seconds,
                "raw_seconds": raw_seconds,
                "stored_mb": stored / 1e6,
                "rss_mb": rss_mb,
                "stages": stages["seconds"],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto (the model's device)")
    ap.add_argument("--writer-threads", type=int, default=2)
    ap.add_argument("--compressor", default="lz4", help="lz4 | zstd | none")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    results = []
    for n in (args.samples // 4, args.samples):
        d = Path(tempfile.mkdtemp(prefix="bench_extract_"))
        try:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "--dir",
                str(d),
                "--samples",
                str(n),
                "--vocab",
                str(args.vocab),
                "--chunk",
                str(args.chunk),
                "--device",
                args.device,
                "--writer-threads",
                str(args.writer_threads),
                "--compressor",
                args.compressor,
            ]
            subprocess.run(cmd + ["--setup"], capture_output=True, text=True, check=True)
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print(
        f"V = {args.vocab}, chunk = {args.chunk} samples, compressor {args.compressor} (level 1), {args.writer_threads} writer threads, "
        f"device {args.device}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'samples':>9}{'act. MB':>9}{'stored MB':>11}{'extract MB/s':>14}{'raw MB/s':>10}{'ratio':>7}{'peak RSS MB':>13}"
    )
    for r in results:
        print(
            f"{r['samples']:>9}{r['mb']:>9.0f}{r['stored_mb']:>11.0f}{r['mb'] / r['seconds']:>14.0f}{r['mb'] / r['raw_seconds']:>10.0f}"
            f"{(r['mb'] / r['seconds']) / (r['mb'] / r['raw_seconds']):>7.2f}{r['rss_mb']:>13.0f}"
        )
    for r in results:
        print(f"  {r['samples']} samples, main thread: " + ", ".join(f"{k} {v:.2f} s" for k, v in r["stages"].items()))
    print(f"peak RSS ratio (4x samples / 1x): {results[1]['rss_mb'] / results[0]['rss_mb']:.3f}")


if __name__ == "__main__":
    main()
