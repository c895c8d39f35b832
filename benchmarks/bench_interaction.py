"""The interaction lens' cost per option, on a finished default run's models.

Each variant runs ``analyze_interaction`` on a model's stored activations, codes and BOWS store (as the
``interaction`` rule does, 2 threads) in a fresh process, variants alternating over ``--rounds``; the
table gives the median seconds and the ratio to the default options. With ``--before SRC`` (a source tree,
e.g. ``git worktree add /tmp/old OLD_COMMIT`` then ``--before /tmp/old/src``) the default options also run
with bowsflow from that tree: the cost of a change measured in one run.

    python benchmarks/bench_interaction.py --results results [--models wiki-relu wiki-bilinear] [--before SRC]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "default": {},
    "trapezoidal, 10 points": {"integration": "trapezoidal", "n_alphas": 10},
    "gauss_legendre, 4 points": {"integration": "gauss_legendre", "n_alphas": 4},
    "(1-0)*alpha, gauss_legendre 4": {"integration": "gauss_legendre", "n_alphas": 4, "basis_formula": "(1-0)*alpha"},
    "functional edges, gauss_legendre 4": {
        "integration": "gauss_legendre",
        "n_alphas": 4,
        "edge_formula": "functional",
    },
    "constant: isolate": {"centred": True, "constant": "isolate"},
    "leiden": {"communities": "leiden"},
}


def child(args) -> None:
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction

    res = Path(args.results)
    spec = json.loads(args.child)
    known = set(InteractionOptions.__dataclass_fields__)
    options = InteractionOptions(**{k: v for k, v in spec["options"].items() if k in known})
    model = spec["model"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = (
            res / "activations" / f"{model}.zarr",
            res / "models" / model / "model.safetensors",
            res / "analysis" / model / "polytope.zarr",
            Path(tmp) / "interaction.zarr",
        )
        bows = res / "bows" / spec["corpus"] / "bows.zarr"
        t = time.perf_counter()
        if "activations" in inspect.signature(analyze_interaction).parameters:
            names = ("activations", "checkpoint", "codes", "store")
            analyze_interaction(**dict(zip(names, paths)), options=options, threads=2, bows=bows)
        else:  # an older tree: positional paths
            analyze_interaction(*paths, options, 2, bows)
        print(json.dumps({"seconds": time.perf_counter() - t}))


def run_one(args, model: str, corpus: str, options: dict, src: str | None) -> float:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    spec = json.dumps({"model": model, "corpus": corpus, "options": options})
    out = subprocess.run(
        [sys.executable, __file__, "--results", args.results, "--child", spec],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    ap.add_argument("--models", nargs="+", default=["wiki-relu", "wiki-bilinear"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--before", help="a bowsflow source tree whose default options also run")
    ap.add_argument("--variants", nargs="+", help=f"a subset of {list(VARIANTS)}")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    from bowsflow.config import load_config, model_specs

    specs = model_specs(load_config("config.yaml"))
    variants = {k: v for k, v in VARIANTS.items() if not args.variants or k in args.variants or k == "default"}
    if args.before:
        variants = {"default, before": {}, **variants}
    for model in args.models:
        corpus = specs[model]["corpus"]
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, options in variants.items():
                src = args.before if name == "default, before" else None
                times[name].append(run_one(args, model, corpus, options, src))
        base = statistics.median(times["default"])
        print(f"{model} (analyze_interaction, 2 threads, median of {args.rounds} rounds):")
        for name, ts in times.items():
            t = statistics.median(ts)
            print(f"  {name:38s} {t:7.2f} s   {t / base:5.2f}x the default   [{', '.join(f'{x:.2f}' for x in ts)}]")


if __name__ == "__main__":
    main()
