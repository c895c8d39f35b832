import numpy as np
import pytest
import torch

from bowsflow.lenses.polytope.codes import (
    count_codes,
    hamming_matmul,
    hamming_xor,
    layer_pre_activations,
    nearest_other_code_distance,
    pack_codes,
    path_crossings,
    scale_state_changes,
    unpack_codes,
)
from bowsflow.linalg import affine_crossings, quadratic_crossings
from bowsflow.models import build_model


def test_pack_order_is_numpy_packbits():
    pre = np.array([[1.0, -1, 0, 2, -3, 4, 5, -6, 7]])
    packed = pack_codes(pre)
    assert packed.tolist() == [[0b10010110, 0b10000000]]
    assert unpack_codes(packed, 9).tolist() == [(pre[0] > 0).tolist()]


def test_regions_of_a_hand_placed_arrangement():
    """Four lines in general position cut the plane into 1 + 4 + C(4, 2) = 11 regions; a dense grid
    over a window holding every intersection visits exactly that many distinct codes."""
    # x = 0, y = 0, x + y = 1, y = x + 1.5 as ReLU units w·p + c
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 1.0]])
    c = np.array([0.0, 0.0, -1.0, -1.5])
    g = np.linspace(-4, 4, 801)
    pts = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    codes = pack_codes(pts @ w.T + c)
    assert len(count_codes(codes)) == 11
    assert len(count_codes(pack_codes(pts @ w[:3].T + c[:3]))) == 7  # three lines: 1 + 3 + 3


def test_counts_are_exact_even_when_every_hash_collides():
    rng = np.random.default_rng(0)
    codes = pack_codes(rng.random((3000, 20)) - 0.9)  # many repeats, many distinct
    expected = dict(
        zip(
            *[
                list(map(bytes, u)) if k == 0 else u.tolist()
                for k, u in enumerate(np.unique(codes, axis=0, return_counts=True))
            ]
        )
    )
    assert count_codes(codes) == expected
    # adversarial: one hash for every row, and a hash that only sees the first byte
    assert count_codes(codes, hash_fn=lambda p: np.zeros(p.shape[0], dtype=np.uint64)) == expected
    assert count_codes(codes, hash_fn=lambda p: p[:, 0].astype(np.uint64)) == expected


def test_hamming_by_xor_equals_matmul_and_brute_force():
    rng = np.random.default_rng(1)
    a, b = rng.random((17, 70)) > 0.5, rng.random((23, 70)) > 0.7
    brute = (a[:, None, :] != b[None, :, :]).sum(axis=2)
    pa, pb = pack_codes(a.astype(float)), pack_codes(b.astype(float))
    np.testing.assert_array_equal(hamming_xor(pa, pb), brute)
    np.testing.assert_array_equal(hamming_matmul(pa, pb, 70), brute)


def test_nearest_other_code():
    codes = pack_codes(np.array([[1, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1.0]]))
    assert nearest_other_code_distance(codes).tolist() == [2, 2, 2, 2]


def test_quadratic_and_affine_crossings_known_answers():
    # z(t) = (t − 0.25)(t − 0.75) = 0.1875 − t + t²
    t = quadratic_crossings(np.array([0.1875]), np.array([-1.0]), np.array([1.0]))
    np.testing.assert_allclose(np.sort(t), [0.25, 0.75])
    assert quadratic_crossings(np.array([1.0]), np.array([0.0]), np.array([1.0])).size == 0
    np.testing.assert_allclose(affine_crossings(np.array([1.0, -2.0, 3.0]), np.array([-1.0, 2.0, 4.0])), [0.5, 0.5])


def brute_force_flips(model, h0, h1, layer, steps=20001):
    t = np.linspace(0, 1, steps)
    pre = layer_pre_activations(model, h0[None] + t[:, None] * (h1 - h0)[None])
    on = np.concatenate([pre[k] > 0 for k in (["hidden_pre", "out_pre"] if layer == "both" else [layer])], axis=1)
    return int((on[1:] != on[:-1]).sum())


@pytest.mark.parametrize(
    "arch, layer",
    [
        ("tied_ae", "out_pre"),
        ("bilinear", "out_pre"),
        ("relu_mlp", "hidden_pre"),
        ("relu_mlp", "out_pre"),
        ("relu_mlp", "both"),
    ],
)
def test_exact_crossings_equal_a_fine_brute_force(arch, layer):
    torch.manual_seed(0)
    model = build_model(arch, 30, 4, 6)
    with torch.no_grad():
        model.b.uniform_(-0.3, 0.3)
        for p in model.parameters():
            p.mul_(3)
    rng = np.random.default_rng(2)
    for _ in range(5):
        h0, h1 = rng.normal(size=4), rng.normal(size=4)
        res = path_crossings(model, h0, h1, layer)
        assert res.crossings.size == brute_force_flips(model, h0, h1, layer)


def test_relu_mlp_paths_place_every_crossing_where_a_pre_activation_is_zero():
    torch.manual_seed(1)
    model = build_model("relu_mlp", 30, 4, 6)
    rng = np.random.default_rng(3)
    h0, h1 = rng.normal(size=4) * 3, rng.normal(size=4) * 3
    exact = path_crossings(model, h0, h1, "both")
    assert exact.crossings.size == brute_force_flips(model, h0, h1, "both")
    # every exact crossing is where a unit's pre-activation is zero
    for u_t in exact.crossings:
        at = layer_pre_activations(model, (h0 + u_t * (h1 - h0))[None])
        assert np.min(np.abs(np.concatenate([at["hidden_pre"][0], at["out_pre"][0]]))) < 1e-9


def test_scale_changes_zero_at_one_and_known_for_a_linear_layer():
    torch.manual_seed(0)
    model = build_model("tied_ae", 8, 2)
    with torch.no_grad():
        model.b.zero_()  # no bias: z(αh) = α z(h), so positive scaling never changes a state
    h = np.random.default_rng(0).normal(size=(50, 2))
    out = scale_state_changes(model, h, alphas=(0.5, 1.0, 3.0))
    assert out["out_pre"] == [0.0, 0.0, 0.0]
    with torch.no_grad():
        model.b.fill_(-0.5)
    out = scale_state_changes(model, h, alphas=(0.5, 1.0, 3.0))
    assert out["out_pre"][1] == 0.0 and out["out_pre"][0] > 0 and out["out_pre"][2] > 0


def test_codes_in_the_store_equal_codes_from_the_checkpoint(tmp_path):
    import xarray as xr
    import zarr

    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.lenses.polytope.analysis import PolytopeOptions, analyze_polytope
    from bowsflow.models.checkpoints import load_model
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=700, chunk=128)
    make_checkpoint(tmp_path / "m.safetensors", "relu_mlp")
    extract_activations(
        tmp_path / "m.safetensors",
        store,
        tmp_path / "a.zarr",
        ExtractOptions(device="cpu", layers=("latent", "hidden_pre")),
    )
    opts = PolytopeOptions(
        n_pairs=200,
        neighbourhood_subsample=100,
        n_paths=5,
        cluster_subsample=50,
        scale_subsample=50,
        probe_words={"a": ["f0", "f1"], "b": ["f6", "f7"]},
    )
    summary, _ = analyze_polytope(
        activations=tmp_path / "a.zarr",
        bows=store,
        checkpoint=tmp_path / "m.safetensors",
        codes=tmp_path / "codes.zarr",
        options=opts,
    )
    model, _ = load_model(tmp_path / "m.safetensors")
    codes = zarr.open_group(str(tmp_path / "codes.zarr"))
    latent = xr.open_zarr(tmp_path / "a.zarr")["latent"].values
    rows = np.sort(np.random.default_rng(0).choice(700, 50, replace=False))
    pre = layer_pre_activations(model, latent[rows].astype(np.float64))
    for layer in ("hidden_pre", "out_pre"):  # out_pre was not extracted: recomputed from latent
        np.testing.assert_array_equal(np.asarray(codes[f"codes_{layer}"][:])[rows], pack_codes(pre[layer]))
        assert codes[f"codes_{layer}"].chunks[0] == 128
        info = summary["layers"][layer]
        assert info["n_samples"] == 700 and len(info["firing_rate"]) == info["n_units"]
        all_codes = np.asarray(codes[f"codes_{layer}"][:])
        assert info["n_unique_codes"] == np.unique(all_codes, axis=0).shape[0]
    assert set(summary["paths"]) == {"hidden_pre", "out_pre", "both"}
    assert summary["paths"]["hidden_pre"]["across_documents"]["exact"] is True
    assert summary["paths"]["both"]["across_documents"]["exact"] is True
    assert summary["paths"]["out_pre"]["within_document"]["n_paths"] == 0  # one sample per document
