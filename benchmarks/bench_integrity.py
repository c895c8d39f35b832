"""The cost of integrity: CRC-32C on every chunk, every chunk written and the fsync before publishing,
and the check of a finished extraction before it is published, against the same work without them (and
with checksums but no fsync, to tell the two apart), alternating in one process (the machine's speed
drifts).

Two stages: activation extraction (a bilinear model over a synthetic iid store, every layer, lz4) and
building the BOWS store of the bundled corpus (V = 2,000, 64-token windows). "without" swaps the
checksum codec out (bowsflow.store.integrity.checksummed returns the compressors alone), writes only
non-empty chunks, skips the fsync and publishes unchecked.

    python benchmarks/bench_integrity.py [--samples 200000 --vocab 2000 --rounds 4]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import bowsflow.activations.extraction as extraction
import bowsflow.data.bows_store as bows_store
import bowsflow.store.atomic as atomic
import bowsflow.store.integrity as integrity
import bowsflow.store.zarr_io as zarr_io
from bowsflow.activations.extraction import ExtractOptions, extract_activations


@contextlib.contextmanager
def without_fsync():
    """Checksums and every chunk written, but no fsync (the OS writes the pages back later)."""
    saved_sync, saved_extraction_sync = atomic.sync_tree, extraction.sync_tree
    atomic.sync_tree = extraction.sync_tree = lambda path: None
    try:
        yield
    finally:
        atomic.sync_tree, extraction.sync_tree = saved_sync, saved_extraction_sync


@contextlib.contextmanager
def without_integrity():
    saved = (integrity.checksummed, atomic.sync_tree, integrity.writing_every_chunk)
    saved_verify = extraction.verify_before_publishing
    extraction.verify_before_publishing = lambda partial: None
    integrity.checksummed = lambda compressors=None: tuple(
        integrity.default_compressors() if compressors is None else compressors
    )
    extraction.checksummed = integrity.checksummed
    atomic.sync_tree = extraction.sync_tree = lambda path: None
    nothing = contextlib.nullcontext
    for module in (integrity, extraction, bows_store, zarr_io):
        if hasattr(module, "writing_every_chunk"):
            module.writing_every_chunk = nothing
    try:
        yield
    finally:
        extraction.verify_before_publishing = saved_verify
        integrity.checksummed, atomic.sync_tree, every = saved
        extraction.checksummed, extraction.sync_tree = integrity.checksummed, atomic.sync_tree
        for module in (integrity, extraction, bows_store, zarr_io):
            if hasattr(module, "writing_every_chunk"):
                module.writing_every_chunk = every


def extract_once(d: Path) -> float:
    out = d / "a.zarr"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    extract_activations(d / "m.safetensors", d / "bows.zarr", out, ExtractOptions(device="cpu"))
    return time.perf_counter() - t


def bows_once(d: Path, vocab) -> float:
    from bowsflow.config import resolved_bows, validate_config

    cfg = validate_config({"corpora": {"wiki": {"source": "wiki-vital"}}})
    out = d / "wiki.zarr"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    bows_store.build_text_store(d / "tokens.zarr", "wiki", resolved_bows(cfg, "wiki"), vocab, out, {}, workers=2)
    return time.perf_counter() - t


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_extract import setup

    from bowsflow.config import resolved_bows, validate_config
    from bowsflow.data.vocabulary import corpus_vocabulary

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="bench_integrity_"))
    try:
        setup(d, args.samples, args.vocab, 16384)
        cfg = validate_config({"corpora": {"wiki": {"source": "wiki-vital"}}})
        options = resolved_bows(cfg, "wiki")
        vocab, _ = corpus_vocabulary(cfg["corpora"]["wiki"], "wiki", options, 2, tokens_path=d / "tokens.zarr")
        modes = {"with": contextlib.nullcontext, "checksums, no fsync": without_fsync, "without": without_integrity}
        times = {(stage, mode): [] for stage in ("extract", "bows") for mode in modes}
        for r in range(args.rounds):
            order = list(modes) if r % 2 == 0 else list(modes)[::-1]
            for mode in order:
                with modes[mode]():
                    times[("extract", mode)].append(extract_once(d))
                    times[("bows", mode)].append(bows_once(d, vocab))
        for stage in ("extract", "bows"):
            base = statistics.median(times[(stage, "without")])
            for mode in modes:
                m = statistics.median(times[(stage, mode)])
                print(
                    f"{stage:8s} {mode:20s} {m:6.2f} s (median of {args.rounds}; {100 * (m / base - 1):+5.1f}% against "
                    f"without)  {[round(x, 2) for x in sorted(times[(stage, mode)])]}"
                )
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
