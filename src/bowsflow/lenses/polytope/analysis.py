"""The polytope-lens analyses of one model, from its activation store (see :mod:`bowsflow.lenses.polytope.codes`).

Everything over all samples (codes, firing rates, distinct codes) streams the activation store chunk
by chunk with dask; the rest (pairs, paths, clusters, scaling) works on seeded subsamples whose sizes
are options, so memory stays bounded. Returns a JSON-able summary and the arrays behind the figures.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from bowsflow.data.word_lists import MONTHS, TOPICS
from bowsflow.lenses.polytope.codes import (
    cluster_monosemanticity,
    count_codes,
    equal_length_crossings,
    hamming_distances,
    jaccard_distance,
    nearest_other_code_distance,
    pack_codes,
    path_crossings,
    scale_state_changes,
    transition_chains,
    unpack_codes,
)
from bowsflow.models import as_float64
from bowsflow.schema import schema_options
from bowsflow.store.checked import open_dataset, open_group
from bowsflow.store.provenance import attrs_checksum, provenance_attrs

DEFAULT_PROBES = {"months": MONTHS, **TOPICS}


@schema_options("analysis.polytope")
class PolytopeOptions:
    """``analysis.polytope`` of the config (defaults: the schema's)."""

    seed: int
    top_codes: int
    n_pairs: int
    neighbourhood_subsample: int
    n_paths: int
    n_transitions: int
    transition_half_width: int
    profile_bins: int
    cluster_subsample: int
    cluster_resamples: int
    probe_words: dict | None  # None: DEFAULT_PROBES
    alphas: tuple
    scale_subsample: int


def _rows(array, index: np.ndarray) -> np.ndarray:
    """Rows of a zarr array at (sorted, unique) indices, read chunk-wise by zarr."""
    return np.asarray(array.get_orthogonal_selection((index, slice(None))))


def write_codes(acts, model, out: Path, threads: int) -> list[str]:
    """Write ``codes_{layer}`` (sample, byte_{layer}; uint8) for each ReLU layer, chunk-aligned with
    the activation store; a layer not stored is recomputed from ``latent`` with the model."""
    import xarray as xr

    from bowsflow.lenses.polytope.codes import layer_pre_activations
    from bowsflow.store.zarr_io import write_dataset

    layers = list(model.relu_layers)
    model = as_float64(model)  # once, not per block (blocks run in parallel threads)
    data = {}
    for layer in layers:
        if layer in acts.variables:
            pre = acts[layer].data
        else:
            latent = acts["latent"].data
            width = model.layer_width(layer)
            pre = latent.map_blocks(
                lambda h, name=layer: layer_pre_activations(model, h)[name],
                chunks=(latent.chunks[0], (width,)),
                dtype=np.float64,
            )
        n_units = pre.shape[1]
        codes = pre.rechunk({1: -1}).map_blocks(
            pack_codes, chunks=(pre.chunks[0], ((n_units + 7) // 8,)), dtype=np.uint8
        )
        data[f"codes_{layer}"] = (("sample", f"byte_{layer}"), codes)
    attrs = provenance_attrs(
        {"layers": layers}, model=acts.attrs.get("model"), input_checksums={"activations": attrs_checksum(acts.attrs)}
    )
    ds = xr.Dataset(
        data, attrs=attrs | {"bit_order": "numpy packbits (big): unit 8j+k is bit 7-k of byte j", "layers": layers}
    )
    write_dataset(ds, out, threads)
    return layers


def analyze_polytope(
    *, activations, bows, checkpoint, codes, options: PolytopeOptions = PolytopeOptions(), threads: int = 1
):
    """Run every polytope analysis; returns (summary, figures) — figures holds the plotted arrays.
    The codes store at ``codes`` is read (written first when it does not exist)."""

    from bowsflow.models.checkpoints import load_model

    model, meta = load_model(checkpoint)
    model = as_float64(model)  # once: paths and scaling evaluate it many times in float64
    acts = open_dataset(activations)
    arch = acts.attrs["arch"]
    rng = np.random.default_rng(options.seed)
    layers = list(model.relu_layers)
    if not Path(codes).exists():
        write_codes(acts, model, Path(codes), threads)
    codes_group = open_group(codes)
    bows_group = open_group(bows)
    words = [str(w) for w in np.asarray(bows_group["word"][:])]
    n = int(acts.sizes["sample"])
    summary = {
        "model": meta.get("model"),
        "arch": arch,
        "layers": {},
        "bit_order": "numpy packbits (big endian within a byte)",
    }
    figures = {"rank_frequency": {}, "profiles": {}, "scale": {}, "neighbour_distance": {}}

    for layer in layers:
        layer_codes = codes_group[f"codes_{layer}"]
        n_units = model.layer_width(layer)
        chunk = int(layer_codes.chunks[0])
        counts: Counter = Counter()
        fired = np.zeros(n_units, dtype=np.int64)
        for lo in range(0, n, chunk):  # one chunk of codes at a time
            block = np.asarray(layer_codes[lo : lo + chunk])
            counts.update(count_codes(block))
            fired += unpack_codes(block, n_units).sum(axis=0)
        freq = np.array(sorted(counts.values(), reverse=True), dtype=np.int64)
        top = counts.most_common(options.top_codes)
        info = {
            "n_samples": n,
            "n_units": n_units,
            "n_unique_codes": len(counts),
            "unique_fraction": len(counts) / n,
            "firing_rate": (fired / n).tolist(),
            "mean_units_on": float(fired.sum() / n),
            "top_codes": [
                {
                    "units_on": np.flatnonzero(unpack_codes(np.frombuffer(c, np.uint8)[None], n_units)[0]).tolist()[
                        :50
                    ],
                    "n_on": int(unpack_codes(np.frombuffer(c, np.uint8)[None], n_units)[0].sum()),
                    "count": k,
                }
                for c, k in top
            ],
            "samples_in_top_codes": int(sum(k for _, k in top)),
        }
        figures["rank_frequency"][layer] = freq

        # Hamming neighbourhoods on a subsample (almost every sample may have its own code)
        sub = np.sort(rng.choice(n, min(n, options.neighbourhood_subsample), replace=False))
        sub_codes = _rows(layer_codes, sub)
        nearest = nearest_other_code_distance(sub_codes, n_units)
        valid = nearest[nearest >= 0]
        info["hamming_neighbourhood"] = {
            "subsample": int(sub.size),
            "nearest_other_code_mean": float(valid.mean()) if valid.size else None,
            "nearest_other_code_quartiles": np.quantile(valid, [0.25, 0.5, 0.75]).tolist() if valid.size else None,
        }
        figures["neighbour_distance"][layer] = valid

        # codes against meaning: random pairs
        i = rng.integers(0, n, options.n_pairs)
        j = rng.integers(0, n, options.n_pairs)
        keep = i != j
        i, j = i[keep], j[keep]
        idx = np.unique(np.concatenate([i, j]))
        code_rows, bow_rows = _rows(layer_codes, idx), _rows(bows_group["bows"], idx)
        pos = {k: r for r, k in enumerate(idx.tolist())}
        pi, pj = np.array([pos[k] for k in i.tolist()]), np.array([pos[k] for k in j.tolist()])
        ham = np.bitwise_count(code_rows[pi] ^ code_rows[pj]).sum(axis=1)
        jac = jaccard_distance(bow_rows[pi], bow_rows[pj])
        from scipy.stats import spearmanr

        rho = spearmanr(ham, jac).statistic if np.ptp(ham) > 0 and np.ptp(jac) > 0 else float("nan")
        # pairs inside the neighbourhood subsample that share a code, against random pairs
        same = np.argwhere(np.triu(hamming_distances(sub_codes, sub_codes, n_units) == 0, k=1))
        sub_bows = _rows(bows_group["bows"], sub)
        shared_sim = 1 - jaccard_distance(sub_bows[same[:, 0]], sub_bows[same[:, 1]]) if len(same) else np.zeros(0)
        info["codes_vs_meaning"] = {
            "n_pairs": int(i.size),
            "spearman_hamming_vs_jaccard_distance": float(rho),
            "shared_code_pairs": int(len(same)),
            "shared_code_mean_jaccard_similarity": float(shared_sim.mean()) if shared_sim.size else None,
            "random_pair_mean_jaccard_similarity": float((1 - jac).mean()),
        }
        summary["layers"][layer] = info

    # boundary density along latent paths, within and across documents
    doc = np.asarray(bows_group["doc_id"][:])
    order = np.argsort(doc, kind="stable")
    starts = np.flatnonzero(np.r_[True, doc[order][1:] != doc[order][:-1]])
    sizes = np.diff(np.r_[starts, n])
    multi = np.flatnonzero(sizes >= 2)
    pairs = {"within_document": [], "across_documents": []}
    for _ in range(options.n_paths):
        if multi.size:
            g = rng.choice(multi)
            a, b = rng.choice(sizes[g], 2, replace=False)
            pairs["within_document"].append((order[starts[g] + a], order[starts[g] + b]))
        a, b = rng.integers(0, n, 2)
        if doc[a] != doc[b]:
            pairs["across_documents"].append((a, b))
    path_layers = list(model.path_layers)
    latent = acts["latent"]
    paths = {}
    for kind, plist in pairs.items():
        if not plist:  # e.g. synthetic corpora: every sample is a document of its own
            for layer in path_layers:
                paths.setdefault(layer, {})[kind] = {"n_paths": 0, "crossings_per_unit_length_mean": None}
            continue
        idx = np.unique(np.array(plist).ravel())
        h = latent.isel(sample=idx).values.astype(np.float64)
        pos = {k: r for r, k in enumerate(idx.tolist())}
        for layer in path_layers:
            per_length, all_t = [], []
            for a, b in plist:
                res = path_crossings(model, h[pos[a]], h[pos[b]], layer)
                if res.length > 0:
                    per_length.append(res.crossings.size / res.length)
                all_t.append(res.crossings)
            t = np.concatenate(all_t) if all_t else np.zeros(0)
            hist = np.histogram(t, bins=options.profile_bins, range=(0, 1))[0] / max(len(plist), 1)
            paths.setdefault(layer, {})[kind] = {
                "n_paths": len(plist),
                "n_paths_nonzero_length": len(per_length),
                "crossings_per_unit_length_mean": float(np.mean(per_length)) if per_length else None,
                "crossings_per_unit_length": [float(x) for x in per_length],  # per path: the claims bootstrap them
                "crossings_per_path_mean": float(t.size / len(plist)),
                "exact": True,
                "profile": hist.tolist(),
            }
            figures["profiles"].setdefault(layer, {})[kind] = hist
    summary["paths"] = paths
    summary["transitions"] = _transitions(model, latent, doc, path_layers, options, rng)
    summary["paths_note"] = (
        "exact: affine layers (one flip per unit), bilinear out_pre (quadratic), relu_mlp out_pre "
        "(affine between hidden flips); each architecture declares its exact crossings"
    )

    # monosemanticity: clusters of codes against k-means of the activation vectors
    summary["monosemanticity"] = _monosemanticity(acts, bows_group, words, layers, options, rng)

    # scale of validity
    sub = np.sort(rng.choice(n, min(n, options.scale_subsample), replace=False))
    h = latent.isel(sample=sub).values.astype(np.float64)
    changes = scale_state_changes(model, h, options.alphas)
    summary["scale"] = {"alphas": list(options.alphas), "fraction_units_changed": changes, "n_samples": int(sub.size)}
    figures["scale"] = {"alphas": np.array(options.alphas), **{k: np.array(v) for k, v in changes.items()}}
    return summary, figures


def _transitions(model, latent, doc, path_layers, options, rng) -> dict:
    """Boundary crossings along chains of consecutive windows that cross a document transition in their
    middle, each segment cut to the chain's shortest segment length (path length controlled;
    :func:`~bowsflow.lenses.polytope.codes.equal_length_crossings`): the density profile at the transition."""
    chains = transition_chains(doc, options.transition_half_width, options.n_transitions, rng)
    positions = list(range(-options.transition_half_width + 1, options.transition_half_width))
    out = {"positions": positions, "transition_position": 0, "n_chains_found": int(len(chains))}
    if not len(chains):
        return out | {layer: {"n_chains": 0, "crossings": [], "sub_length": []} for layer in path_layers}
    idx = np.unique(chains)
    h = latent.isel(sample=idx).values.astype(np.float64)
    at = {k: r for r, k in enumerate(idx.tolist())}
    for layer in path_layers:
        counts, lengths = [], []
        for chain in chains:
            got = equal_length_crossings(model, h[[at[k] for k in chain.tolist()]], layer)
            if got is not None:
                counts.append(got[0].tolist())
                lengths.append(got[1])
        out[layer] = {"n_chains": len(counts), "crossings": counts, "sub_length": lengths}
    return out


def _monosemanticity(acts, bows_group, words, layers, options, rng) -> dict:
    """Codes against directions (:func:`~bowsflow.lenses.polytope.codes.cluster_monosemanticity`) on
    ``cluster_resamples`` half-samples of the samples that carry exactly one probe group."""
    groups = {
        g: [words.index(w) for w in ws if w in words] for g, ws in (options.probe_words or DEFAULT_PROBES).items()
    }
    groups = {g: ids for g, ids in groups.items() if ids}
    if len(groups) < 2:
        return {"skipped": "fewer than two probe groups have words in the vocabulary"}
    names = sorted(groups)
    n = int(acts.sizes["sample"])
    chunk = int(bows_group["bows"].chunks[0])
    labelled, labels = [], []
    for lo in range(0, n, chunk):  # label every sample by the probe groups present
        block = np.asarray(bows_group["bows"][lo : lo + chunk])
        present = np.stack([block[:, groups[g]].any(axis=1) for g in names], axis=1)
        one = np.flatnonzero(present.sum(axis=1) == 1)
        labelled.append(lo + one)
        labels.append(present[one].argmax(axis=1))
    labelled, labels = np.concatenate(labelled), np.concatenate(labels)
    if labelled.size < 10 or np.unique(labels).size < 2:
        return {"skipped": "fewer than 10 samples carry exactly one probe group"}
    # half-samples without replacement: their spread matches the sampling spread of the whole labelled
    # set (a half-sample's variance is (1/b)(1 − b/n)σ² = σ²/n at b = n/2), so the claims can read an
    # interval off them; the first one gives the headline numbers
    size = min(options.cluster_subsample, max(10, labelled.size // 2))
    out = {
        "groups": names,
        "n_labelled": int(labelled.size),
        "n_samples": size,
        "n_resamples": options.cluster_resamples,
        "method": "k-means (same k, restarts and seed) of the codes (0/1 vectors) and of the unit-length "
        "pre-activation vectors (directions)",
    }
    keys = ("codes_nmi", "codes_purity", "directions_nmi", "directions_purity")
    per_layer = {layer: {key: [] for key in keys} for layer in layers if layer in acts.variables}
    for r in range(options.cluster_resamples):
        pick = np.sort(rng.choice(labelled.size, size, replace=False))
        idx, y = labelled[pick], labels[pick]
        if r == 0:
            out |= {"n_clusters": int(np.unique(y).size), "label_counts": np.bincount(y, minlength=len(names)).tolist()}
        for layer, got in per_layer.items():
            scores = cluster_monosemanticity(acts[layer].isel(sample=idx).values, y, options.seed)
            for key in keys:
                got[key].append(scores[key])
    for layer, got in per_layer.items():
        out[layer] = {key: values[0] for key, values in got.items()} | {"resamples": got}
    return out
