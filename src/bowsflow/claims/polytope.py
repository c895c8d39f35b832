"""The polytope lens's claims (Black et al., 2022): polytope boundaries track semantic boundaries, and
regions of the code space are more monosemantic than directions. Read from each model's polytope.json."""

from __future__ import annotations

import numpy as np

from bowsflow.claims.registry import ClaimOptions, Evidence, NotTestable, Skipped, claim
from bowsflow.claims.run import RunData, describe
from bowsflow.claims.stats import bootstrap_difference, percentile_interval

PAPER = "Black et al. 2022, the polytope lens"


def chosen_layers(claim_id: str, options: ClaimOptions, available: set[str]) -> set[str]:
    """The layers ``claims.layers`` allows for a claim (all of ``available`` when it names none); a named
    layer that none of the compared models has skips the claim, with the layer in the reason."""
    named = (options.layers or {}).get(claim_id)
    if named is None:
        return available
    missing = sorted(set(named) - available)
    if missing:
        raise Skipped(
            f"config key claims.layers.{claim_id} names layers no compared model has: {', '.join(missing)} "
            f"(they have {', '.join(sorted(available)) or 'none'})"
        )
    return set(named)


@claim(
    "polytope.boundaries_track_documents",
    paper=PAPER,
    statement="Polytope boundaries are denser between documents than within one: a straight path between two "
    "windows of different documents crosses more boundaries per unit length.",
    compares="each model configuration (seeds pooled) and each path layer",
    metric="crossings per unit length, across documents minus within a document (mean over paths)",
    direction="greater",
    min_n=30,
    n_counts="paths of each kind",
)
def boundaries_track_documents(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    groups = run.replicates(run.analysed(run.select(names)))
    jsons = {m: run.lens_json(m, "polytope") for g in groups for m in g}
    layers = chosen_layers(
        "polytope.boundaries_track_documents", options, {layer for j in jsons.values() for layer in j.get("paths", {})}
    )
    out = []
    for models in groups:
        paths = {m: jsons[m].get("paths", {}) for m in models}
        for layer in [x for x in paths[models[0]] if x in layers]:
            across, within = [], []
            for m in models:
                kinds = paths[m].get(layer, {})
                across += kinds.get("across_documents", {}).get("crossings_per_unit_length", [])
                within += kinds.get("within_document", {}).get("crossings_per_unit_length", [])
            a, w = np.array(across), np.array(within)
            if not a.size and not w.size:
                continue
            out.append(
                Evidence(
                    compared=f"layer {layer} of {describe(models)}",
                    effect=float(a.mean() - w.mean()) if a.size and w.size else float("nan"),
                    null=0.0,
                    n=int(min(a.size, w.size)),
                    interval=bootstrap_difference(a, w, options.n_resamples, options.confidence, options.seed),
                    details={
                        "across_mean": float(a.mean()) if a.size else None,
                        "within_mean": float(w.mean()) if w.size else None,
                        "n_across": int(a.size),
                        "n_within": int(w.size),
                        "interval_method": "percentile bootstrap over paths (the two kinds resampled apart)",
                    },
                )
            )
    if not out:
        raise NotTestable("no model on a text corpus has polytope paths (documents of two or more windows)")
    return out


@claim(
    "polytope.codes_more_monosemantic",
    paper=PAPER,
    statement="Clusters of polytope codes are more monosemantic than clusters of activation directions (k-means).",
    compares="each model configuration and each ReLU layer stored as activations",
    metric="NMI of code clusters with the probe-word labels minus NMI of k-means clusters (paired half-samples)",
    direction="greater",
    min_n=5,
    n_counts="half-samples",
)
def codes_more_monosemantic(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    groups = run.replicates(run.analysed(run.select(names)))
    jsons = {m: run.lens_json(m, "polytope") for g in groups for m in g}
    available = {
        layer
        for j in jsons.values()
        for layer, info in j.get("monosemanticity", {}).items()
        if isinstance(info, dict) and "resamples" in info
    }
    layers = chosen_layers("polytope.codes_more_monosemantic", options, available)
    out = []
    for models in groups:
        mono = {m: jsons[m].get("monosemanticity", {}) for m in models}
        first = mono[models[0]]
        if "skipped" in first:
            continue
        for layer, info in first.items():
            if not isinstance(info, dict) or "resamples" not in info or layer not in layers:
                continue
            d = []
            for m in models:
                r = mono[m].get(layer, {}).get("resamples")
                if r:
                    d += list(np.subtract(r["codes_nmi"], r["kmeans_nmi"]))
            d = np.array(d)
            out.append(
                Evidence(
                    compared=f"layer {layer} of {describe(models)}",
                    effect=float(d.mean()),
                    null=0.0,
                    n=int(d.size),
                    # the half-samples' spread is the sampling spread of the whole labelled set
                    interval=percentile_interval(d, options.confidence) if d.size >= 2 else None,
                    details={
                        "codes_nmi": info["codes_nmi"],
                        "kmeans_nmi": info["kmeans_nmi"],
                        "n_labelled_samples": first.get("n_labelled"),
                        "half_sample_size": first.get("n_samples"),
                        "interval_method": "percentile of paired half-sample differences",
                    },
                )
            )
    if not out:
        raise NotTestable("no model on a text corpus has a monosemanticity comparison (probe words too rare?)")
    return out
