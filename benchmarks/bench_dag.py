"""Workflow overhead: building the DAG of a config with 200 models (``snakemake -n``, nothing built yet),
and a no-op rerun of the default workflow once its results exist; the dry run of the default config
is timed in the same run as the reference. Goals: both under 5 s.
Run (from the repository, after `snakemake --cores 2`):  python benchmarks/bench_dag.py [--models 200]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def timed(cmd, cwd) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    return time.perf_counter() - t, out.stdout + out.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=200)
    args = ap.parse_args()
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    with tempfile.TemporaryDirectory() as d:
        config = {
            "corpora": {"ring": {"source": "synthetic", "n_samples": 1000}},
            "sweeps": {
                "many": {
                    "base": {"corpus": "ring", "arch": "tied_ae", "d_latent": 2},
                    "grid": {"seed": list(range(args.models))},
                }
            },
        }
        cfg = Path(d) / "config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        t_many, out = timed([*snakemake, "-d", d, "-n", "--configfile", str(cfg)], d)
        jobs = [line for line in out.splitlines() if line.startswith("total")]
    t_default, _ = timed([*snakemake, "-n"], REPO)
    t_noop, out = timed([*snakemake, "--cores", "2"], REPO)
    noop = "Nothing to be done" in out
    print(f"dry run, default config (reference):        {t_default:5.2f} s")
    print(
        f"dry run, {args.models} models ({jobs[0].split()[-1] if jobs else '?'} jobs):        {t_many:5.2f} s   (goal < 5 s)"
    )
    print(
        f"no-op rerun of the default workflow:        {t_noop:5.2f} s   (goal < 5 s){'' if noop else '  [it was not a no-op: run snakemake first]'}"
    )


if __name__ == "__main__":
    main()
