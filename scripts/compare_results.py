#!/usr/bin/env python3
"""Compare two ``results/`` trees: every array of every Zarr store, every checkpoint tensor, and every
number and string of every JSON and TSV, to a float tolerance. Attributes are compared too, except
those that say when or where a store was written or hash its inputs (they change with any refactor
of the provenance, not with what was computed), and timings (seconds, samples per second). Logs,
benchmarks and figures are not compared.

    python scripts/compare_results.py results_before results_after [--rtol 1e-9] [--atol 1e-12] [--ignore KEY]

Exit 0 when the trees agree, 1 when they differ (each difference is printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

# attributes that record when, where or from which bytes a store was written, not what it holds
IGNORED_ATTRS = {
    "created_utc",
    "input_checksums",
    "input_checksum",
    "vocab_checksum",
    "checkpoint_sha256",
    "bows_store_checksum",
    "checkpoint_path",
    "bows_store_path",
    "python_version",
    "bowsflow_version",
}
SKIPPED_DIRS = {"logs", "benchmarks"}
# JSON keys and TSV columns that measure how long something took, not what it computed
TIMING_KEYS = {"seconds", "samples_per_s"}


class Comparison:
    def __init__(self, rtol: float, atol: float, ignored_keys=()):
        self.rtol, self.atol = rtol, atol
        self.ignored_keys = TIMING_KEYS | set(ignored_keys)
        self.differences: list[str] = []
        self.compared = {"arrays": 0, "values": 0, "files": 0}

    def differ(self, where: str, what: str) -> None:
        self.differences.append(f"{where}: {what}")

    def values(self, where: str, a, b) -> None:
        """Recursive comparison of JSON-like values; numbers to tolerance."""
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                if k in self.ignored_keys:
                    continue
                if k not in a or k not in b:
                    self.differ(f"{where}.{k}", "only in " + ("the first" if k in a else "the second"))
                else:
                    self.values(f"{where}.{k}", a[k], b[k])
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.differ(where, f"lengths {len(a)} != {len(b)}")
            for i, (x, y) in enumerate(zip(a, b)):
                self.values(f"{where}[{i}]", x, y)
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            self.compared["values"] += 1
            if not (math.isclose(a, b, rel_tol=self.rtol, abs_tol=self.atol) or (math.isnan(a) and math.isnan(b))):
                self.differ(where, f"{a!r} != {b!r}")
        else:
            self.compared["values"] += 1
            if a != b:
                self.differ(where, f"{a!r} != {b!r}")

    def arrays(self, where: str, a: np.ndarray, b: np.ndarray) -> None:
        self.compared["arrays"] += 1
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            self.differ(where, f"shape/dtype {a.shape} {a.dtype} != {b.shape} {b.dtype}")
        elif a.dtype.kind in "fc":
            if not np.allclose(a, b, rtol=self.rtol, atol=self.atol, equal_nan=True):
                err = np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))
                self.differ(where, f"max |difference| {err:.3g}")
        elif not np.array_equal(a, b):
            self.differ(where, f"{int(np.sum(a != b))} entries differ")

    def attrs(self, where: str, a: dict, b: dict) -> None:
        def parse(v):
            if isinstance(v, str) and v[:1] in "[{":
                try:
                    return json.loads(v)
                except ValueError:
                    return v
            return v

        keep = lambda d: {k: parse(v) for k, v in d.items() if k not in IGNORED_ATTRS}  # noqa: E731
        self.values(f"{where} attrs", keep(a), keep(b))

    def zarr_store(self, where: str, a: Path, b: Path) -> None:
        import zarr

        ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
        self.attrs(where, dict(ga.attrs), dict(gb.attrs))
        na, nb = set(ga.array_keys()), set(gb.array_keys())
        for k in sorted(na ^ nb):
            self.differ(f"{where}/{k}", "only in " + ("the first" if k in na else "the second"))
        for k in sorted(na & nb):
            xa, xb = ga[k], gb[k]
            self.attrs(f"{where}/{k}", dict(xa.attrs), dict(xb.attrs))
            va, vb = np.asarray(xa[...]), np.asarray(xb[...])
            if va.dtype.kind in "OTU" or vb.dtype.kind in "OTU":
                va, vb = np.asarray([str(x) for x in va.ravel()]), np.asarray([str(x) for x in vb.ravel()])
            self.arrays(f"{where}/{k}", va, vb)

    def checkpoint(self, where: str, a: Path, b: Path) -> None:
        from safetensors.numpy import load_file

        ta, tb = load_file(str(a)), load_file(str(b))
        for k in sorted(set(ta) | set(tb)):
            if k not in ta or k not in tb:
                self.differ(f"{where}:{k}", "only in one")
            else:
                self.arrays(f"{where}:{k}", ta[k], tb[k])

    def table(self, where: str, a: Path, b: Path) -> None:
        """A TSV as a list of rows, each a dict keyed by the header (timing columns left out)."""

        def rows(p):
            with open(p, newline="", encoding="utf-8") as f:
                reader = csv.reader(f, delimiter="\t")
                header = next(reader, [])
                return [{h: _number(c) for h, c in zip(header, r)} for r in reader]

        self.values(where, rows(a), rows(b))


def _number(cell: str):
    try:
        return float(cell)
    except ValueError:
        return cell


def outputs(root: Path) -> dict[str, Path]:
    """relative path → path of every output worth comparing (Zarr stores as one entry each)."""
    found: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] in SKIPPED_DIRS or any(part.endswith(".zarr") for part in rel.parts[:-1]):
            continue
        if p.suffix == ".zarr" and p.is_dir():
            found[str(rel)] = p
        elif p.is_file() and p.suffix in (".json", ".tsv", ".safetensors"):
            found[str(rel)] = p
    return found


def compare(a: Path, b: Path, rtol: float, atol: float, ignored_keys=()) -> Comparison:
    c = Comparison(rtol, atol, ignored_keys)
    oa, ob = outputs(a), outputs(b)
    for k in sorted(set(oa) ^ set(ob)):
        c.differ(k, "only in " + (str(a) if k in oa else str(b)))
    for k in sorted(set(oa) & set(ob)):
        c.compared["files"] += 1
        pa, pb = oa[k], ob[k]
        if pa.suffix == ".zarr":
            c.zarr_store(k, pa, pb)
        elif pa.suffix == ".safetensors":
            c.checkpoint(k, pa, pb)
        elif pa.suffix == ".json":
            c.values(k, json.loads(pa.read_text()), json.loads(pb.read_text()))
        else:
            c.table(k, pa, pb)
    return c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--rtol", type=float, default=1e-9)
    ap.add_argument("--atol", type=float, default=1e-12)
    ap.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KEY",
        help="a JSON key or TSV column to leave out (a deliberate change); repeatable",
    )
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    c = compare(args.first, args.second, args.rtol, args.atol, args.ignore)
    for line in c.differences:
        print("DIFFERENT", line)
    n = c.compared
    print(
        f"compared {n['files']} outputs: {n['arrays']} arrays, {n['values']} values; "
        f"{len(c.differences)} differences (rtol {args.rtol:g}, atol {args.atol:g})"
    )
    return 1 if c.differences else 0


if __name__ == "__main__":
    sys.exit(main())
