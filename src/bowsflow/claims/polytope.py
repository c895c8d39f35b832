"""The polytope lens's claims (Black et al., 2022): polytope boundaries track semantic boundaries, and
regions of the code space are more monosemantic than directions. Read from each model's polytope.json;
the controls run the lens's own functions (:mod:`bowsflow.lenses.polytope.codes`) on small planted cases."""

from __future__ import annotations

import numpy as np

from bowsflow.claims.registry import ClaimOptions, Evidence, NotTestable, Skipped, claim, control
from bowsflow.claims.run import RunData, describe
from bowsflow.claims.stats import bootstrap_interval, half_sample_p_value, percentile_interval, resampled_p_value

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


# --- boundaries at document transitions -------------------------------------------------------------------
def transition_evidence(crossings: np.ndarray, positions: list[int], compared: str, options) -> Evidence:
    """Evidence that boundaries are denser where a chain of consecutive windows crosses from one document
    to the next: crossings [chains, segments] counted on equal-length pieces of each segment (path length
    controlled), ``positions`` the segments' places relative to the transition (0). The effect: the
    transition segment's count minus the mean of the chain's other segments, averaged over chains, with a
    bootstrap over chains."""
    crossings = np.asarray(crossings, dtype=np.float64).reshape(-1, len(positions))
    at = positions.index(0)
    others = np.delete(crossings, at, axis=1).mean(axis=1)
    d = crossings[:, at] - others
    interval, p = (None, None)
    if d.size >= 2:
        interval = bootstrap_interval(
            d, n_resamples=options.n_resamples, confidence=options.confidence, seed=options.seed
        )
        boot = _bootstrap_means(d, options.n_resamples, options.seed)
        p = resampled_p_value(boot, 0.0)
    return Evidence(
        compared=compared,
        effect=float(d.mean()) if d.size else float("nan"),
        null=0.0,
        n=int(d.size),
        interval=interval,
        p_value=p,
        details={
            "profile": dict(zip(map(str, positions), crossings.mean(axis=0).tolist() if d.size else [])),
            "interval_method": "percentile bootstrap over chains",
            "p_value_floor": 1 / (1 + options.n_resamples),
            "path_length": "every segment cut to the chain's shortest segment length",
        },
    )


def _bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return values[rng.integers(0, values.size, (n_resamples, values.size))].mean(axis=1)


@claim(
    "polytope.boundaries_track_documents",
    paper=PAPER,
    statement="Polytope boundaries are denser at a document transition: along a chain of consecutive windows, the "
    "segment that crosses from one document to the next crosses more boundaries than its neighbours of equal length.",
    compares="each model and each path layer, over chains of consecutive windows across a document transition",
    metric="crossings on the transition segment minus the mean of the chain's other segments, all cut to the "
    "chain's shortest segment length",
    direction="greater",
    min_n=30,
    n_counts="chains",
)
def boundaries_track_documents(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    models = run.analysed(run.select(names))
    jsons = {m: run.lens_json(m, "polytope") for m in models}
    transitions = {m: j.get("transitions", {}) for m, j in jsons.items()}
    available = {layer for t in transitions.values() for layer, v in t.items() if isinstance(v, dict)}
    layers = chosen_layers("polytope.boundaries_track_documents", options, available)
    out = []
    for m in models:
        t = transitions[m]
        for layer in sorted(x for x, v in t.items() if isinstance(v, dict) and x in layers):
            ev = transition_evidence(np.array(t[layer]["crossings"]), t["positions"], f"layer {layer} of {m}", options)
            ev.details["n_chains_found"] = t.get("n_chains_found")
            out.append(ev)
    if not out:
        raise NotTestable("no model on a text corpus has transition chains (the polytope lens found none)")
    return out


def _cluster_chains(options: ClaimOptions, boundaries: str, n_chains: int = 80):
    """Chains through four document clusters in ℝ²: windows of one document sit close to its centre
    (spread 0.15), documents 2 apart on a 3 × 3 grid; each chain two windows of a document, then two of a
    neighbouring one. The model: tied_ae whose ReLU boundaries are the lines halfway between the grid's
    centres (``between``: every transition crosses one, no window pair of a document does) or random lines
    through the same square (``random``: the same density everywhere)."""
    import torch

    from bowsflow.lenses.polytope.codes import equal_length_crossings
    from bowsflow.models.architectures.tied_ae import TiedAutoencoder

    rng = np.random.default_rng([options.seed, 7])
    centres = np.array([(x, y) for x in (0.0, 2.0, 4.0) for y in (0.0, 2.0, 4.0)])
    if boundaries == "between":
        normals = np.array([[1.0, 0.0]] * 2 + [[0.0, 1.0]] * 2)
        offsets = -np.array([1.0, 3.0, 1.0, 3.0])
    else:
        angle = rng.uniform(0, np.pi, 40)
        normals = np.c_[np.cos(angle), np.sin(angle)]
        offsets = -(normals * rng.uniform(-0.5, 4.5, (40, 2))).sum(axis=1)
    model = TiedAutoencoder(len(offsets), 2).double()
    with torch.no_grad():
        model.W.copy_(torch.as_tensor(normals.T))
        model.b.copy_(torch.as_tensor(offsets))
    counts = []
    for _ in range(n_chains):
        a = rng.integers(0, len(centres))
        neighbours = np.flatnonzero(np.isclose(np.linalg.norm(centres - centres[a], axis=1), 2.0))
        b = rng.choice(neighbours)
        points = np.r_[centres[[a, a]], centres[[b, b]]] + 0.15 * rng.standard_normal((4, 2))
        counts.append(equal_length_crossings(model, points, "out_pre")[0])
    return np.array(counts)


@control(
    "polytope.boundaries_track_documents",
    "positive",
    "documents as clusters in ℝ², the model's boundaries halfway between them",
)
def _boundaries_positive(options: ClaimOptions) -> list[Evidence]:
    return [
        transition_evidence(_cluster_chains(options, "between"), [-1, 0, 1], "boundaries between documents", options)
    ]


@control(
    "polytope.boundaries_track_documents",
    "negative",
    "the same documents, the model's boundaries random lines (equal density everywhere)",
)
def _boundaries_negative(options: ClaimOptions) -> list[Evidence]:
    return [transition_evidence(_cluster_chains(options, "random"), [-1, 0, 1], "random boundaries", options)]


# --- codes against directions -------------------------------------------------------------------------
def monosemanticity_evidence(resamples: dict, n_labelled: int, compared: str, options) -> Evidence:
    """Evidence that codes cluster more monosemantically than directions: NMI (codes) − NMI (directions),
    paired over the lens's half-samples of the labelled samples (their spread is the sampling spread of
    the whole set, so the percentile interval of the differences is the interval)."""
    d = np.subtract(resamples["codes_nmi"], resamples["directions_nmi"])
    return Evidence(
        compared=compared,
        effect=float(d.mean()),
        null=0.0,
        n=int(n_labelled),
        interval=percentile_interval(d, options.confidence) if d.size >= 2 else None,
        p_value=half_sample_p_value(d, 0.0) if d.size >= 2 else None,
        details={
            "codes_nmi": float(np.mean(resamples["codes_nmi"])),
            "directions_nmi": float(np.mean(resamples["directions_nmi"])),
            "n_half_samples": int(d.size),
            "interval_method": "percentile of paired half-sample differences",
        },
    )


@claim(
    "polytope.codes_more_monosemantic",
    paper=PAPER,
    statement="Clusters of polytope codes are more monosemantic than clusters of activation directions, "
    "clustered by the same algorithm.",
    compares="each model and each ReLU layer stored as activations",
    metric="NMI with the probe-word labels of k-means clusters of the codes minus that of k-means clusters of the "
    "unit-length pre-activation vectors (paired half-samples)",
    direction="greater",
    min_n=100,
    n_counts="labelled samples",
)
def codes_more_monosemantic(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    models = run.analysed(run.select(names))
    mono = {m: run.lens_json(m, "polytope").get("monosemanticity", {}) for m in models}
    available = {
        layer for j in mono.values() for layer, info in j.items() if isinstance(info, dict) and "resamples" in info
    }
    layers = chosen_layers("polytope.codes_more_monosemantic", options, available)
    out = []
    for m in models:
        for layer, info in mono[m].items():
            if not isinstance(info, dict) or "resamples" not in info or layer not in layers:
                continue
            if "directions_nmi" not in info["resamples"]:
                continue  # a polytope.json from before codes and directions shared an algorithm
            ev = monosemanticity_evidence(
                info["resamples"], mono[m]["n_labelled"], f"layer {layer} of {describe([m])}", options
            )
            ev.details["half_sample_size"] = mono[m].get("n_samples")
            out.append(ev)
    if not out:
        raise NotTestable("no model on a text corpus has a monosemanticity comparison (probe words too rare?)")
    return out


def _planted_pre(options: ClaimOptions, label_in: str, n: int = 600, n_labels: int = 3, units: int = 12):
    """Pre-activations [n, units] and labels [n] where the label is carried by the codes alone
    (``codes``: each label switches on its own 4 units, with magnitudes spread over three orders, beside an
    always-on unit whose size swamps every direction) or by the directions alone (``directions``: every
    unit always on, each label pointing its own way)."""
    rng = np.random.default_rng([options.seed, 8])
    labels = rng.integers(0, n_labels, n)
    if label_in == "codes":
        pre = -rng.uniform(0.5, 1.0, (n, units))
        group = np.arange(units - 1) // ((units - 1) // n_labels)
        on = (group[None, :] == labels[:, None]) & (rng.random((n, units - 1)) < 0.9)
        pre[:, : units - 1][on] = 10 ** rng.uniform(-2, 1, on.sum())
        pre[:, -1] = 10 ** rng.uniform(1, 3, n)
    else:
        means = rng.uniform(1.0, 3.0, (n_labels, units))
        pre = means[labels] * rng.uniform(0.5, 2.0, (n, 1)) + 0.1 * rng.standard_normal((n, units))
        pre = np.abs(pre) + 0.01
    return pre, labels


def _monosemanticity_control(options: ClaimOptions, label_in: str) -> list[Evidence]:
    from bowsflow.lenses.polytope.codes import cluster_monosemanticity

    pre, labels = _planted_pre(options, label_in)
    rng = np.random.default_rng([options.seed, 9])
    got = {"codes_nmi": [], "directions_nmi": []}
    for _ in range(10):  # half-samples, as the lens draws them
        pick = np.sort(rng.choice(labels.size, labels.size // 2, replace=False))
        scores = cluster_monosemanticity(pre[pick], labels[pick], options.seed)
        got["codes_nmi"].append(scores["codes_nmi"])
        got["directions_nmi"].append(scores["directions_nmi"])
    return [monosemanticity_evidence(got, labels.size, f"label in the {label_in}", options)]


@control(
    "polytope.codes_more_monosemantic",
    "positive",
    "labels carried by which units are on, directions swamped by an always-on unit of random size",
)
def _monosemanticity_positive(options: ClaimOptions) -> list[Evidence]:
    return _monosemanticity_control(options, "codes")


@control(
    "polytope.codes_more_monosemantic",
    "negative",
    "every unit always on (one code), labels carried by the directions",
)
def _monosemanticity_negative(options: ClaimOptions) -> list[Evidence]:
    return _monosemanticity_control(options, "directions")
