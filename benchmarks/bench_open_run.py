"""Opening a whole run with ``bowsflow.open_run``: time and memory against the data's size.

Builds a results tree whose activation store holds ``--gb`` GB of float32 (written for real, chunk by
chunk, uncompressed), then, in a fresh process, imports everything first and times ``open_run`` alone,
and reports the resident memory it added. Compared in the same run with ``xarray.open_zarr`` of that one
store (the baseline a user would type).

    python benchmarks/bench_open_run.py --gb 10 --dir /tmp/bench_open_run
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MEASURE = r"""
import json, sys, time, warnings
import bowsflow, xarray as xr, dask.array, zarr, torch  # imports are not part of opening
from bowsflow.report.run_tree import open_run
warnings.simplefilter("ignore")
root = sys.argv[1]
# this process' own high-water mark (ru_maxrss would carry the parent's over the fork)
rss = lambda: int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
out = {}
for label, fn in [("open_zarr", lambda: xr.open_zarr(root + "/activations/big.zarr")), ("open_run", lambda: open_run(root))]:
    before = rss()
    times = []
    for _ in range(3):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    out[label] = {"seconds": sorted(times), "peak_rss_added_mb": rss() - before}
print(json.dumps(out))
"""


def build(root: Path, gb: float, width: int = 1000, chunk: int = 65536) -> None:
    import xarray as xr
    import zarr

    rows = int(gb * 2**30 // (4 * width))
    path = root / "activations" / "big.zarr"
    path.parent.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array(
        "latent",
        shape=(rows, width),
        chunks=(chunk, width),
        dtype="float32",
        compressors=None,
        dimension_names=["sample", "latent"],
    )
    block = np.random.default_rng(0).standard_normal((chunk, width), dtype=np.float32)
    for lo in range(0, rows, chunk):
        array[lo : min(lo + chunk, rows)] = block[: min(chunk, rows - lo)]
    group.attrs.update({"bowsflow_version": "0.1.0", "model": "big", "arch": "tied_ae"})
    zarr.consolidate_metadata(str(path))
    assert xr.open_zarr(path)["latent"].shape == (rows, width)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=10.0)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench_open_run"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = args.dir / "results"
    t = time.perf_counter()
    build(root, args.gb)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**30
    print(f"built {size:.2f} GB in {time.perf_counter() - t:.1f} s")
    out = json.loads(
        subprocess.run([sys.executable, "-c", MEASURE, str(root)], capture_output=True, text=True, check=True).stdout
    )
    for label, r in out.items():
        print(
            f"{label:10s} {r['seconds'][0] * 1e3:7.1f} ms (best of 3; worst {r['seconds'][-1] * 1e3:.1f} ms), "
            f"peak RSS added {r['peak_rss_added_mb']:.1f} MB"
        )
    print(f"ratio open_run / open_zarr: {out['open_run']['seconds'][0] / out['open_zarr']['seconds'][0]:.2f}")
    if not args.keep:
        shutil.rmtree(args.dir)


if __name__ == "__main__":
    main()
