"""The degeneracy / interaction-basis analyses of one model (see :mod:`bowsflow.lenses.interaction.basis`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bowsflow.lenses.interaction.basis import (
    cofiring_groups,
    cofiring_summary,
    dask_gram,
    degeneracy,
    edge_strengths,
    edges_for_mass,
    interaction_basis,
    jaccard_groups,
    jacobian_gram,
    modularity,
)
from bowsflow.linalg import sorted_eigh
from bowsflow.schema import options_from_config, section_defaults
from bowsflow.store.provenance import input_checksums, provenance_attrs

_DEFAULTS = section_defaults("analysis.interaction")


@dataclass(frozen=True)
class InteractionOptions:
    """``analysis.interaction`` of the config (defaults: the schema's)."""

    centred: bool = _DEFAULTS["centred"]
    gram_products: str = _DEFAULTS["gram_products"]  # float64 | float32 (faster; sums across chunks stay float64)
    threshold: float = _DEFAULTS["threshold"]  # relative: eigenvalues below threshold × the largest are dropped
    degeneracy_threshold: float = _DEFAULTS["degeneracy_threshold"]
    through_output_relu: bool = _DEFAULTS["through_output_relu"]
    jacobian_samples: int = _DEFAULTS["jacobian_samples"]
    jacobian_batch: int = _DEFAULTS["jacobian_batch"]
    jacobian_block_mb: float = _DEFAULTS["jacobian_block_mb"]
    edge_samples: int = _DEFAULTS["edge_samples"]
    jaccard_threshold: float | None = _DEFAULTS["jaccard_threshold"]
    seed: int = _DEFAULTS["seed"]

    @classmethod
    def from_config(cls, section: dict) -> "InteractionOptions":
        return options_from_config(cls, section)


def analyze_interaction(
    acts_path, checkpoint, codes_path, out, options: InteractionOptions = InteractionOptions(), threads: int = 1
):
    import xarray as xr
    import zarr

    from bowsflow.models.checkpoints import load_model
    from bowsflow.store.zarr_io import write_dataset

    model, meta = load_model(checkpoint)
    arch = meta["arch"]
    acts = xr.open_zarr(acts_path)
    n = int(acts.sizes["sample"])
    rng = np.random.default_rng(options.seed)
    jac_idx = np.sort(rng.choice(n, min(n, options.jacobian_samples), replace=False))
    h_jac = acts["latent"].isel(sample=jac_idx).values.astype(np.float64)
    summary = {"model": meta.get("model"), "arch": arch, "layers": {}, "options": options.__dict__}
    figures = {"spectra": {}, "edge_mass": {}}
    data_vars, bases = {}, {}
    for layer in model.jacobian_layers:
        if layer not in acts.variables:
            summary["layers"][layer] = {"skipped": "not in the activation store (extract.layers)"}
            continue
        G = dask_gram(
            zarr.open_group(str(acts_path), mode="r")[layer], options.centred, threads, np.dtype(options.gram_products)
        )
        S, count = jacobian_gram(
            model, h_jac, layer, options.through_output_relu, options.jacobian_batch, options.jacobian_block_mb
        )
        M = S / count
        g_vals, g_vecs = sorted_eigh(G, "descending")
        m_vals, m_vecs = sorted_eigh(M, "descending")
        basis = interaction_basis(G, M, options.threshold)
        bases[layer] = (basis, g_vecs)
        lam_rel = np.abs(basis.Lambda) / max(np.abs(basis.Lambda).max(), 1e-300)
        summary["layers"][layer] = {
            "width": int(G.shape[0] - 1),
            "gram": degeneracy(g_vals, options.degeneracy_threshold),
            "jacobian": degeneracy(m_vals, options.degeneracy_threshold),
            "basis_size": int(basis.C.shape[1]),
            "n_lambda_above_1e-3_of_max": int((lam_rel > 1e-3).sum()),
        }
        figures["spectra"][layer] = {"gram": g_vals, "jacobian": m_vals}
        w1 = G.shape[0]
        dims, bdim = (f"{layer}_i", f"{layer}_j"), f"{layer}_basis"
        data_vars |= {
            f"gram_eigvals_{layer}": ((f"{layer}_j",), g_vals),
            f"gram_eigvecs_{layer}": (dims, g_vecs),
            f"jacobian_eigvals_{layer}": ((f"{layer}_j",), m_vals),
            f"jacobian_eigvecs_{layer}": (dims, m_vecs),
            f"C_{layer}": ((f"{layer}_i", bdim), basis.C),
            f"Cpinv_{layer}": ((bdim, f"{layer}_i"), basis.Cpinv),
            f"Lambda_{layer}": ((bdim,), basis.Lambda),
        }
        assert w1 == basis.C.shape[0]
    attrs = provenance_attrs(
        dict(options.__dict__),
        model=meta.get("model"),
        input_checksums=input_checksums(activations=acts_path, checkpoint=checkpoint, codes=codes_path),
    )
    ds = xr.Dataset(
        data_vars,
        attrs=attrs
        | {
            "note": "f̃ = [f, 1]; the last index of each layer's i/j axes is the constant (bias) direction",
            "centred": int(options.centred),
            "threshold": options.threshold,
        },
    )
    write_dataset(ds, out, threads)

    # ReLU co-firing (from the polytope codes)
    codes_group = zarr.open_group(str(codes_path), mode="r")
    summary["cofiring"] = {}
    for layer in model.relu_layers:
        codes = codes_group[f"codes_{layer}"]
        n_units = model.layer_width(layer)
        chunk = int(codes.chunks[0])

        def blocks():
            for lo in range(0, n, chunk):
                yield np.asarray(codes[lo : lo + chunk])

        fire = np.zeros(n_units, dtype=np.int64)
        for block in blocks():
            fire += np.unpackbits(block, axis=1, count=n_units).sum(axis=0, dtype=np.int64)
        info = cofiring_summary(cofiring_groups(blocks(), n_units), fire)
        if options.jaccard_threshold is not None:
            groups = jaccard_groups(blocks(), n_units, options.jaccard_threshold)
            info["jaccard"] = {
                "threshold": options.jaccard_threshold,
                "n_groups": len(groups),
                "group_sizes": sorted(map(len, groups), reverse=True)[:50],
            }
        summary["cofiring"][layer] = info

    # interactions between adjacent layers, in three bases
    pairs = [(s, d) for s, d in model.adjacent_pairs if s in bases and d in bases]
    summary["edges"], edge_sets = {}, {"interaction": [], "neuron": [], "pca": []}
    if pairs:
        idx = np.sort(rng.choice(n, min(n, options.edge_samples), replace=False))
        h = torch.as_tensor(acts["latent"].isel(sample=idx).values.astype(np.float64))
        for src, dst in pairs:
            key = f"{src}->{dst}"
            summary["edges"][key] = {}
            figures["edge_mass"][key] = {}
            projection_of = {  # f̂ = P f̃ in each basis, P of a layer
                "interaction": lambda L: bases[L][0].C.T,
                "neuron": lambda L: np.eye(bases[L][0].C.shape[0]),
                "pca": lambda L: bases[L][1].T,
            }
            projections = {name: (P(src), P(dst)) for name, P in projection_of.items()}
            for name, E in edge_strengths(model, h, src, dst, projections, options.jacobian_block_mb).items():
                edge_sets[name].append((src, dst, E))
                summary["edges"][key][name] = {
                    "n_edges": int(E.size),
                    "edges_for_99pct_mass": edges_for_mass(E, 0.99),
                    "total_mass": float(E.sum()),
                }
                flat = np.sort(E.ravel())[::-1]
                figures["edge_mass"][key][name] = np.cumsum(flat) / max(flat.sum(), 1e-300)
        summary["modularity"] = {
            name: modularity(sets, options.seed)
            for name, sets in edge_sets.items()
            if name in ("interaction", "neuron")
        }
    else:
        summary["edges_note"] = f"{arch} has no pair of adjacent layers with a basis (tied_ae has one layer)"
    return summary, figures
