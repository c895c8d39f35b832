"""Check ``analysis.interaction.constant: isolate`` against the reference code's own functions.

RIB (github.com/ApolloResearch/rib) is not a dependency; give the path of a checkout. For a relu_mlp and a
bilinear model on synthetic data, every Jacobian layer's G and M (against the output) go through our
``layer_basis`` (centred, constant isolated) and through RIB's steps for ``center=True`` with its own
functions (``eigendecompose``, ``move_const_dir_first``, ``centering_matrix``, ``pinv_diag``,
``masked_eigendecompose``, ``build_sorted_lambda_matrices``), and the script prints the largest relative
difference of |Λ| and of C (columns up to sign; RIB's row convention f̂ = f̃ C is our Sᵀ C).

    python scripts/check_isolate_against_rib.py --rib /path/to/rib
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import types
from pathlib import Path

import numpy as np


def rib_functions(rib: Path) -> dict:
    """RIB's linear-algebra functions, imported from its checkout (MPI stubbed: only its types are read)."""
    mpi = types.ModuleType("mpi4py")
    mpi.MPI = types.SimpleNamespace(COMM_WORLD=None, Intracomm=object, Comm=object)
    sys.modules.setdefault("mpi4py", mpi)
    sys.path.insert(0, str(rib))
    from jaxtyping import Float, Int  # noqa: F401  (names the verbatim function's annotations use)
    from rib import linalg
    from torch import Tensor  # noqa: F401

    # build_sorted_lambda_matrices, verbatim: its module imports transformer_lens
    source = (rib / "rib" / "interaction_algos.py").read_text()
    node = next(n for n in ast.parse(source).body if getattr(n, "name", "") == "build_sorted_lambda_matrices")
    namespace = {"torch": linalg.torch, "Float": Float, "Int": Int, "Tensor": Tensor}
    exec(ast.get_source_segment(source, node), namespace)
    return {
        name: getattr(linalg, name)
        for name in ("eigendecompose", "move_const_dir_first", "centering_matrix", "masked_eigendecompose", "pinv_diag")
    } | {"build_sorted_lambda_matrices": namespace["build_sorted_lambda_matrices"]}


def rib_basis(G: np.ndarray, M: np.ndarray, f) -> tuple[np.ndarray, np.ndarray]:
    """(|Λ|, C) by RIB's steps for center=True and an M given in the neuron basis (its "jacobian" Λ)."""
    import torch

    mean = torch.tensor(np.r_[G[:-1, -1], 1.0])
    Y, Y_inv = f["centering_matrix"](mean), f["centering_matrix"](mean, inverse=True)
    D_dash, U_dash = f["eigendecompose"](Y.T @ torch.tensor(G) @ Y)  # the centred Gram, row convention
    D_dash, U_dash = f["move_const_dir_first"](D_dash, U_dash)
    keep = D_dash > 1e-10 * D_dash.max()
    D, U = D_dash[keep].diag(), U_dash[:, keep]
    R, R_pinv = Y @ U @ f["pinv_diag"](D.sqrt()), D.sqrt() @ U.T @ Y_inv
    eigenvalues, V = f["masked_eigendecompose"](R_pinv @ torch.tensor(M) @ R_pinv.T, 1)
    L, _ = f["build_sorted_lambda_matrices"](eigenvalues.abs(), 0.0, ignore_first_n=1)
    lam = eigenvalues.abs().numpy()
    order = np.r_[0, np.argsort(-lam[1:], kind="stable") + 1]
    return lam[order], (R @ V @ L).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rib", type=Path, required=True, help="a checkout of ApolloResearch/rib")
    args = ap.parse_args()
    f = rib_functions(args.rib.resolve())
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, layer_basis
    from bowsflow.lenses.interaction.basis import dask_gram, jacobian_gram
    from bowsflow.models.checkpoints import load_model
    from bowsflow.store.checked import open_dataset, open_group
    from helpers import make_checkpoint, make_store

    tmp = Path(tempfile.mkdtemp())
    options = InteractionOptions(centred=True, constant="isolate", threshold=1e-10, lambda_threshold=0.0)
    for arch, sizes in (("relu_mlp", {"m": 6, "d": 8}), ("bilinear", {"m": 6, "d": 5})):
        make_store(tmp / f"{arch}.zarr", n=512, chunk=256)
        make_checkpoint(tmp / f"{arch}.safetensors", arch, **sizes)
        extract_activations(
            tmp / f"{arch}.safetensors", tmp / f"{arch}.zarr", tmp / f"{arch}-a.zarr", ExtractOptions(device="cpu")
        )
        model, _ = load_model(tmp / f"{arch}.safetensors")
        h = open_dataset(tmp / f"{arch}-a.zarr")["latent"].values.astype(np.float64)
        for layer in model.jacobian_layers:
            G = dask_gram(open_group(tmp / f"{arch}-a.zarr")[layer])
            total, n = jacobian_gram(model, h, layer)
            (basis, _, S, _), _ = layer_basis(G, total / n, options)
            lam, C_rib = rib_basis(G, total / n, f)
            ours = S.T @ basis.C
            signs = np.sign(np.sum(ours * C_rib, axis=0))
            d_lam = np.abs(np.abs(basis.Lambda) - lam).max() / lam.max()
            d_c = np.abs(ours - C_rib * signs).max() / np.abs(C_rib).max()
            print(
                f"{arch:9s} {layer:11s} basis size {basis.C.shape[1]:2d}  |Λ| relative difference {d_lam:.1e}  C {d_c:.1e}"
            )


if __name__ == "__main__":
    main()
