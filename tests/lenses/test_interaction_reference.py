"""An independent re-derivation of the interaction analysis for a two-layer model, written from the
formulas in numpy alone (no library function): G, M, Λ, C, C⁺ and the edges between latent and
hidden_pre of a relu_mlp, for every option combination (centred or not; |Λ| truncation or not; M
against the output or, the local chain, against the next layer's basis), against what
analyze_interaction stores. Eigenvector signs are free, so C is compared column by
column up to sign; Λ and the edges (squares) are sign-free."""

import numpy as np
import pytest
import xarray as xr


def basis(G, M, mean, centred, lambda_threshold, threshold=1e-10):
    """Λ, C, C⁺ (and S, G, M in the coordinates used) from G and M over f̃ = [f, 1]; ``centred``: False,
    True, or "isolate" (centred, the constant direction kept apart as the reference code does)."""
    w = mean.size
    S = np.eye(w + 1)
    if centred:
        S[:w, w] = -mean
    Si = np.linalg.inv(S)
    G, M = S @ G @ S.T, Si.T @ M @ Si
    if centred == "isolate":
        return isolated_basis(G, M, S, Si, lambda_threshold, threshold)
    dv, U = np.linalg.eigh(G)
    dv, U = dv[::-1], U[:, ::-1]
    keep = dv > threshold * dv[0]
    U, dv = U[:, keep], dv[keep]
    R, Rp = U / np.sqrt(dv), (U * np.sqrt(dv)).T
    lam, V = np.linalg.eigh(Rp @ M @ Rp.T)
    order = np.argsort(-np.abs(lam), kind="stable")
    lam, V = lam[order], V[:, order]
    live = np.abs(lam) >= lambda_threshold * np.abs(lam).max()
    lam, V = lam[live], V[:, live]
    C = R @ V * np.sqrt(np.abs(lam))
    Cp = (V.T @ Rp) / np.sqrt(np.abs(lam))[:, None]
    # the way back from the basis, f̃ = S⁻¹ C⁺ᵀ f̂, from the factors (on the data's subspace)
    return {"G": G, "M": M, "Lambda": lam, "C": C, "Cpinv": Cp, "S": S, "back": Si @ Cp.T}


def isolated_basis(G, M, S, Si, lambda_threshold, threshold):
    """The centred G is block diagonal, [[Σ, 0], [0, 1]]: the constant direction e_w is an eigenvector,
    kept first and unrotated (Λ₀ = M_ww, C's first column e_w·√|M_ww|); the other columns are the
    interaction basis of the blocks Σ and M[:w, :w], both thresholds relative to the largest value
    counting the constant's (1 in G, |M_ww| in Λ)."""
    w = G.shape[0] - 1
    dv, U = np.linalg.eigh(G[:w, :w])
    dv, U = dv[::-1], U[:, ::-1]
    keep = dv > threshold * max(dv[0], 1.0)
    U, dv = U[:, keep], dv[keep]
    R, Rp = U / np.sqrt(dv), (U * np.sqrt(dv)).T
    lam, V = np.linalg.eigh(Rp @ M[:w, :w] @ Rp.T)
    order = np.argsort(-np.abs(lam), kind="stable")
    lam, V = lam[order], V[:, order]
    live = np.abs(lam) >= lambda_threshold * max(np.abs(lam).max(), abs(M[w, w]))
    lam, V = lam[live], V[:, live]
    C = np.zeros((w + 1, lam.size + 1))
    Cp = np.zeros((lam.size + 1, w + 1))
    C[w, 0], Cp[0, w] = np.sqrt(abs(M[w, w])), 1 / np.sqrt(abs(M[w, w]))
    C[:w, 1:] = R @ V * np.sqrt(np.abs(lam))
    Cp[1:, :w] = (V.T @ Rp) / np.sqrt(np.abs(lam))[:, None]
    lam = np.r_[M[w, w], lam]
    return {"G": G, "M": M, "Lambda": lam, "C": C, "Cpinv": Cp, "S": S, "back": Si @ Cp.T}


def reference_next_layer(p: dict, h: np.ndarray, centred: bool, lambda_threshold: float, stored: dict):
    """The local chain: resid against the output z; hidden_pre against resid's basis; latent against
    hidden_pre's. J̃ of the next layer: hidden_pre → resid [[W_out diag(on), r − J a], [0, 1]];
    latent → hidden_pre [[W_in, b_in], [0, 1]]."""
    We, Win, bin_, Wout, b = p["W_e"], p["W_in"], p["b_in"], p["W_out"], p["b"]
    a = h @ Win.T + bin_
    on = (a > 0).astype(float)
    r = h + np.maximum(a, 0) @ Wout.T
    n, m = h.shape
    d = a.shape[1]

    def gram(layer):
        ft = np.c_[stored[layer], np.ones(n)]
        return ft.T @ ft / n

    out = {}
    Jt = np.c_[We.T, b]  # ∂z/∂[r, 1]: the same at every sample
    out["resid"] = basis(gram("resid"), Jt.T @ Jt, stored["resid"].mean(0), centred, lambda_threshold)
    P = out["resid"]["C"].T @ out["resid"]["S"]
    M = np.zeros((d + 1, d + 1))
    for s in range(n):
        J = Wout * on[s]
        Jt = np.zeros((m + 1, d + 1))
        Jt[:m, :d], Jt[:m, d], Jt[m, d] = J, r[s] - J @ a[s], 1.0
        M += (P @ Jt).T @ (P @ Jt) / n
    out["hidden_pre"] = basis(gram("hidden_pre"), M, stored["hidden_pre"].mean(0), centred, lambda_threshold)
    P = out["hidden_pre"]["C"].T @ out["hidden_pre"]["S"]
    Jt = np.zeros((d + 1, m + 1))
    Jt[:d, :m], Jt[:d, m], Jt[d, m] = Win, bin_, 1.0
    out["latent"] = basis(gram("latent"), (P @ Jt).T @ (P @ Jt), stored["latent"].mean(0), centred, lambda_threshold)
    P_src, P_dst = out["latent"]["C"].T @ out["latent"]["S"], P
    D = P_dst @ Jt @ out["latent"]["back"]
    coords = np.c_[h, np.ones(n)] @ P_src.T
    return out, np.mean((D[None] * coords[:, None, :]) ** 2, axis=0)


def reference_with_residual(p: dict, h: np.ndarray, centred: bool, lambda_threshold: float, stored: dict, local: bool):
    """The hidden node carries the residual: N = [h, a] (width m + d). Against the output, J of z with
    respect to N is W_eᵀ [I, W_out diag(on)] (the residual part feeds r directly); the local chain takes
    N against resid's basis with ∂r/∂N = [I, W_out diag(on)], and the latent against N's basis with
    ∂N/∂h = [I; W_in] (offset [0, b_in])."""
    We, Win, bin_, Wout, b = p["W_e"], p["W_in"], p["b_in"], p["W_out"], p["b"]
    a = h @ Win.T + bin_
    on = (a > 0).astype(float)
    r = h + np.maximum(a, 0) @ Wout.T
    z = r @ We + b
    n, m = h.shape
    d = a.shape[1]
    f_node, node_stored = np.c_[h, a], np.c_[stored["latent"], stored["hidden_pre"]]

    def gram(x):
        ft = np.c_[x, np.ones(n)]
        return ft.T @ ft / n

    def output_M(f, jac):  # E[J̃ᵀJ̃] of z with respect to [f, 1]
        M = np.zeros((f.shape[1] + 1, f.shape[1] + 1))
        for s in range(n):
            J = jac(s)
            Jt = np.c_[J, z[s] - J @ f[s]]
            M += Jt.T @ Jt / n
        return M

    J_node_latent = np.zeros((m + d + 1, m + 1))  # ∂[h, a, 1]/∂[h, 1]
    J_node_latent[:m, :m], J_node_latent[m : m + d, :m], J_node_latent[m : m + d, m] = np.eye(m), Win, bin_
    J_node_latent[m + d, m] = 1.0
    out = {}
    node = "hidden_pre_with_residual"
    if not local:
        M = output_M(h, lambda s: We.T @ (np.eye(m) + Wout @ np.diag(on[s]) @ Win))
        out["latent"] = basis(gram(stored["latent"]), M, stored["latent"].mean(0), centred, lambda_threshold)
        M = output_M(f_node, lambda s: We.T @ np.c_[np.eye(m), Wout * on[s]])
        out[node] = basis(gram(node_stored), M, node_stored.mean(0), centred, lambda_threshold)
    else:
        Jt = np.c_[We.T, b]
        out["resid"] = basis(gram(stored["resid"]), Jt.T @ Jt, stored["resid"].mean(0), centred, lambda_threshold)
        P = out["resid"]["C"].T @ out["resid"]["S"]
        M = np.zeros((m + d + 1, m + d + 1))
        for s in range(n):
            J = np.c_[np.eye(m), Wout * on[s]]
            Jt = np.zeros((m + 1, m + d + 1))
            Jt[:m, : m + d], Jt[:m, m + d], Jt[m, m + d] = J, r[s] - J @ f_node[s], 1.0
            M += (P @ Jt).T @ (P @ Jt) / n
        out[node] = basis(gram(node_stored), M, node_stored.mean(0), centred, lambda_threshold)
        P = out[node]["C"].T @ out[node]["S"]
        Jt = J_node_latent
        out["latent"] = basis(
            gram(stored["latent"]), (P @ Jt).T @ (P @ Jt), stored["latent"].mean(0), centred, lambda_threshold
        )
    P_src, P_dst = out["latent"]["C"].T @ out["latent"]["S"], out[node]["C"].T @ out[node]["S"]
    D = P_dst @ J_node_latent @ out["latent"]["back"]
    coords = np.c_[h, np.ones(n)] @ P_src.T
    return out, np.mean((D[None] * coords[:, None, :]) ** 2, axis=0)


def reference(p: dict, h: np.ndarray, centred: bool, lambda_threshold: float, stored: dict, threshold: float = 1e-10):
    """Per layer (latent, hidden_pre): G, M, Λ, C, C⁺; and the latent → hidden_pre edges in the
    interaction basis. relu_mlp: a = W_in h + b_in; r = h + W_out ReLU(a); z = W_eᵀ r + b.
    G is taken over the activations as stored (``stored``: float32 in the activation store, as the
    library reads them); the Jacobians, and M, at the activations computed in float64 from h."""
    We, Win, bin_, Wout, b = p["W_e"], p["W_in"], p["b_in"], p["W_out"], p["b"]
    a = h @ Win.T + bin_
    on = (a > 0).astype(float)
    z = (h + np.maximum(a, 0) @ Wout.T) @ We + b  # [n, V]
    n, m = h.shape
    d = a.shape[1]
    out = {}
    jac = {}
    for layer, f in (("latent", h), ("hidden_pre", a)):
        w = f.shape[1]
        ft = np.c_[stored[layer], np.ones(n)]
        Jt = np.empty((n, z.shape[1], w + 1))
        for s in range(n):
            if layer == "latent":  # ∂z/∂h = W_eᵀ (I + W_out diag(on) W_in)
                J = We.T @ (np.eye(m) + Wout @ np.diag(on[s]) @ Win)
            else:  # ∂z/∂a = W_eᵀ W_out diag(on)
                J = We.T @ Wout @ np.diag(on[s])
            Jt[s, :, :w] = J
            Jt[s, :, w] = z[s] - J @ f[s]
        G = ft.T @ ft / n
        M = np.einsum("nvi,nvj->ij", Jt, Jt) / n
        out[layer] = basis(G, M, stored[layer].mean(0), centred, lambda_threshold, threshold)
        jac[layer] = (f, w)
    # edges latent → hidden_pre: f̃_dst = [a, 1] as a function of f̃_src = [h, 1]: [[W_in, b_in], [0, 1]]
    P_src = out["latent"]["C"].T @ out["latent"]["S"]
    P_dst = out["hidden_pre"]["C"].T @ out["hidden_pre"]["S"]
    Jt = np.zeros((d + 1, m + 1))
    Jt[:d, :m], Jt[:d, m], Jt[d, m] = Win, bin_, 1.0  # offset a − W_in h = b_in
    D = P_dst @ Jt @ out["latent"]["back"]
    coords = np.c_[h, np.ones(n)] @ P_src.T  # f̂_src of each sample
    E = np.mean((D[None] * coords[:, None, :]) ** 2, axis=0)
    return out, E


FAST = {
    (False, 0.0, "output", "residual_fixed"),
    (True, 1e-10, "next_layer", "with_residual"),
    ("isolate", 1e-10, "output", "residual_fixed"),
}
COMBINATIONS = [
    pytest.param(c, lt, j, h, marks=() if (c, lt, j, h) in FAST else pytest.mark.slow)
    for c in (False, True, "isolate")
    for lt in (0.0, 1e-10)
    for j in ("output", "next_layer")
    for h in ("residual_fixed", "with_residual")
]


# three combinations in the fast tier (each value of every option); all twenty-four in the full suite
@pytest.mark.parametrize("centred, lambda_threshold, jacobian_of, hidden_node", COMBINATIONS)
def test_the_library_equals_a_numpy_re_derivation(tmp_path, centred, lambda_threshold, jacobian_of, hidden_node):
    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.interaction.analysis import InteractionOptions, analyze_interaction
    from bowsflow.lenses.polytope.analysis import write_codes
    from bowsflow.models.checkpoints import load_model
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=256, chunk=128)
    make_checkpoint(tmp_path / "m.safetensors", "relu_mlp", m=3, d=4)
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    model, _ = load_model(tmp_path / "m.safetensors")
    write_codes(xr.open_zarr(tmp_path / "a.zarr"), model, tmp_path / "codes.zarr", 1)
    options = InteractionOptions(
        centred=bool(centred),
        constant="isolate" if centred == "isolate" else "rotate",
        lambda_threshold=lambda_threshold,
        jacobian_samples=256,
        edge_samples=256,
        ablation_samples=0,
        threshold=1e-10,
        jacobian_of=jacobian_of,
        hidden_node=hidden_node,
    )
    analyze_interaction(
        activations=tmp_path / "a.zarr",
        checkpoint=tmp_path / "m.safetensors",
        codes=tmp_path / "codes.zarr",
        store=tmp_path / "i.zarr",
        options=options,
    )
    got = xr.open_zarr(tmp_path / "i.zarr")
    p = {k: v.detach().double().numpy() for k, v in model.named_parameters()}
    # the activations as stored (float32), in float64, in sample order (all samples are used)
    acts = xr.open_zarr(tmp_path / "a.zarr")
    stored = {layer: acts[layer].values.astype(np.float64) for layer in ("latent", "hidden_pre", "resid")}
    h = stored["latent"]
    hidden = "hidden_pre" if hidden_node == "residual_fixed" else "hidden_pre_with_residual"
    if hidden_node == "with_residual":
        ref, E = reference_with_residual(p, h, centred, lambda_threshold, stored, jacobian_of == "next_layer")
    elif jacobian_of == "output":
        ref, E = reference(p, h, centred, lambda_threshold, stored)
    else:
        ref, E = reference_next_layer(p, h, centred, lambda_threshold, stored)
    for layer in ("latent", hidden):
        r = ref[layer]
        lam = got[f"Lambda_{layer}"].values
        scale = np.abs(r["Lambda"]).max()
        # float64 throughout; only the order of summation differs (and G's float32 products are exact here)
        np.testing.assert_allclose(lam, r["Lambda"], rtol=1e-10, atol=1e-12 * scale)
        C, Cp = got[f"C_{layer}"].values, got[f"Cpinv_{layer}"].values
        big = np.abs(r["Lambda"]) > 1e-6 * scale  # well-separated directions: the columns are determined
        # (an eigenvector is determined to about eps / its eigengap; gaps here reach 1e-4 of the largest: 1e-7)
        for k in np.flatnonzero(big):
            sign = np.sign(C[:, k] @ r["C"][:, k])
            np.testing.assert_allclose(C[:, k], sign * r["C"][:, k], rtol=1e-7, atol=1e-9 * np.abs(r["C"]).max())
            np.testing.assert_allclose(Cp[k], sign * r["Cpinv"][k], rtol=1e-7, atol=1e-9 * np.abs(r["Cpinv"][k]).max())
        gram = got[f"gram_eigvals_{layer}"].values
        np.testing.assert_allclose(gram, np.sort(np.linalg.eigvalsh(r["G"]))[::-1], rtol=1e-10, atol=1e-13)
        jac = got[f"jacobian_eigvals_{layer}"].values
        np.testing.assert_allclose(jac, np.sort(np.linalg.eigvalsh(r["M"]))[::-1], rtol=1e-9, atol=1e-12 * scale)
    for layer in ("latent", hidden):  # every direction well separated: the edges are determined
        assert np.all(np.abs(ref[layer]["Lambda"]) > 1e-6 * np.abs(ref[layer]["Lambda"]).max())
    edges = got[f"edges_interaction_latent_{hidden}"].values
    np.testing.assert_allclose(edges, E, rtol=1e-7, atol=1e-10 * E.max())
