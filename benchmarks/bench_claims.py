"""What the claims scorecard adds to a default run, measured on a finished results tree.

Times, in one process, (1) the whole scorecard (``evaluate_claims``; what the ``claims`` rule runs) and
each claim alone, and (2) what the claims added to the lenses: the polytope lens' half-sample
clusterings (``cluster_resamples`` = 10 against the single clustering it ran before) and the bilinear
truncation's bootstrap over samples. Prints each beside the run's own wall time (the sum of the jobs'
benchmark files is not the wall time: read it from the run's log or ``time``).

    python benchmarks/bench_claims.py --results results --run-seconds 540
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--run-seconds", type=float, required=True, help="wall time of the whole default run")
    parser.add_argument("--model", default="wiki-relu", help="a model whose polytope lens is re-timed")
    args = parser.parse_args()

    from bowsflow.claims.registry import ClaimOptions, registered_claims
    from bowsflow.claims.run import RunData
    from bowsflow.claims.scorecard import evaluate_claims
    from bowsflow.config import load_config, model_specs

    cfg = load_config(args.config)
    specs = model_specs(cfg)

    def fresh_run():
        return RunData(args.results, specs, cfg["corpora"])

    t = time.perf_counter()
    rows = evaluate_claims(fresh_run(), ClaimOptions.from_config(cfg["claims"]))
    scorecard = time.perf_counter() - t
    print(f"scorecard: {len(rows)} rows in {scorecard:.1f} s")
    for cid, c in registered_claims().items():
        run = fresh_run()  # nothing cached from the others
        t = time.perf_counter()
        try:
            c.function(run, ClaimOptions.from_config(cfg["claims"]), run.model_names)
        except Exception as err:  # noqa: BLE001  (a claim the config cannot test still costs its checks)
            print(f"  {cid}: {type(err).__name__}")
        print(f"  {cid:45s} {time.perf_counter() - t:6.2f} s")

    # the polytope lens: its half-sample clusterings against one clustering (what it ran before)
    from bowsflow.lenses.polytope.analysis import PolytopeOptions, _monosemanticity
    from bowsflow.models.checkpoints import load_model
    from bowsflow.store.checked import open_dataset, open_group

    res = args.results
    model, _ = load_model(f"{res}/models/{args.model}/model.safetensors")
    acts = open_dataset(f"{res}/activations/{args.model}.zarr")
    bows = open_group(f"{res}/bows/{specs[args.model]['corpus']}/bows.zarr")
    words = [str(w) for w in np.asarray(bows["word"][:])]
    polytope = {}
    for resamples in (1, 10, 1, 10):  # alternating
        options = PolytopeOptions(cluster_resamples=resamples)
        t = time.perf_counter()
        _monosemanticity(acts, bows, words, list(model.relu_layers), options, np.random.default_rng(0))
        polytope.setdefault(resamples, []).append(time.perf_counter() - t)
    added_polytope = (min(polytope[10]) - min(polytope[1])) * sum(
        1
        for s in specs.values()
        if not s.get("replicate_of") and s.get("lenses", True) and cfg["corpora"][s["corpus"]]["source"] != "synthetic"
    )
    print(
        f"polytope monosemanticity ({args.model}): 1 clustering {min(polytope[1]):.2f} s, 10 half-samples {min(polytope[10]):.2f} s"
    )

    # the bilinear truncation's bootstrap (1000 resamples of its per-sample scores, two shares, loss and recall)
    from bowsflow.lenses.bilinear.analysis import components_kept

    rng = np.random.default_rng(0)
    per_sample = rng.random((2000, 33)).cumsum(axis=1)
    t = time.perf_counter()
    components_kept(per_sample, None, (0.9, 0.95), 0)
    components_kept(per_sample, rng.integers(1, 20, 2000), (0.9, 0.95), 0)
    bilinear = time.perf_counter() - t
    print(f"bilinear truncation bootstrap: {bilinear:.2f} s")

    added = scorecard + added_polytope + bilinear
    print(
        f"claims added {added:.1f} s (scorecard {scorecard:.1f} + polytope {added_polytope:.1f} over the text models + "
        f"bilinear {bilinear:.1f}) to a {args.run_seconds:.0f} s run: {100 * added / args.run_seconds:.1f}% "
        "(serial seconds: an upper bound on the wall time they add on 2 cores)"
    )


if __name__ == "__main__":
    main()
