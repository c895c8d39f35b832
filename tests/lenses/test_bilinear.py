import numpy as np
import pytest
import torch

from bowsflow.lenses.bilinear.decomposition import (
    contraction,
    direction_eig,
    interaction_matrices,
    output_map,
    pair_interaction,
    unfolding_spectrum,
    weights,
    words_per_chunk,
)
from bowsflow.linalg import effective_rank, sorted_eigh
from bowsflow.models import build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = build_model("bilinear", 25, 6, 2)
    with torch.no_grad():
        m.b.uniform_(-1, 1)
    return m


def test_contraction_equals_forward(model):
    h = torch.randn(7, 6, dtype=torch.float64)
    with torch.no_grad():
        z = model.double().layers_from_latent(h)["out_pre"]
    p = weights(model)
    B = interaction_matrices(p, output_map(p))
    via_B = h @ p["W_e"] + torch.einsum("ni,vij,nj->nv", h, B, h) + p["b"]
    torch.testing.assert_close(via_B, z, rtol=1e-12, atol=1e-12)
    parts = contraction(model, h)
    torch.testing.assert_close(parts["direct"] + parts["bilinear"] + parts["bias"], z, rtol=1e-12, atol=1e-12)
    # and in float32, the model's own precision, on the stored activations' path
    with torch.no_grad():
        z32 = model.float().layers_from_latent(h.float())["out_pre"]
    torch.testing.assert_close(via_B.float(), z32, rtol=1e-5, atol=1e-5)


def test_rank_at_most_2d_and_exact_reconstruction(model):
    p = weights(model)
    B = interaction_matrices(p, output_map(p))
    d = p["L"].shape[0]
    assert all(int(torch.linalg.matrix_rank(B[v])) <= 2 * d for v in range(B.shape[0]))
    vals, vecs = sorted_eigh(B, "magnitude")
    assert torch.all(vals.abs()[:, :-1] >= vals.abs()[:, 1:])  # sorted by |λ|
    rec = vecs @ torch.diag_embed(vals) @ vecs.transpose(1, 2)
    torch.testing.assert_close(rec, B, rtol=1e-12, atol=1e-13)
    assert torch.all(effective_rank(vals) <= 2 * d + 1e-9)


def test_hand_built_layer_with_known_eigenvalues():
    """m = 2, d = 2: L = I, R = diag(3, −1), W_out = I and W_e = the first two unit columns of a
    V = 2 embedding, so U = I and B_0 = diag(3, 0), B_1 = diag(0, −1)."""
    model = build_model("bilinear", 2, 2, 2)
    with torch.no_grad():
        model.W_e.copy_(torch.eye(2))
        model.W_out.copy_(torch.eye(2))
        model.L.copy_(torch.eye(2))
        model.R.copy_(torch.tensor([[3.0, 0.0], [0.0, -1.0]]))
    p = weights(model)
    vals, vecs = sorted_eigh(interaction_matrices(p, output_map(p)), "magnitude")
    np.testing.assert_allclose(vals.numpy(), [[3.0, 0.0], [-1.0, 0.0]], atol=1e-15)
    np.testing.assert_allclose(np.abs(vecs[0, :, 0].numpy()), [1.0, 0.0])
    # any output direction: Q_u = u_0 B_0 + u_1 B_1 = diag(3 u_0, −u_1)
    vals_u, _ = direction_eig(model, np.array([1.0, 2.0]))
    np.testing.assert_allclose(vals_u, [3.0, -2.0])
    assert pair_interaction(model, 0, 0, 0) == pytest.approx(3.0)
    assert pair_interaction(model, 0, 1, 0) == pytest.approx(0.0)
    assert effective_rank(torch.tensor([[3.0, -1.0]], dtype=torch.float64)).item() == pytest.approx(16 / 10)


def test_unfolding_spectrum_equals_svd(model):
    p = weights(model)
    B = interaction_matrices(p, output_map(p)).reshape(25, -1)
    sv = torch.linalg.svdvals(B).numpy() ** 2
    got = unfolding_spectrum(model, max_array_mb=0.001)  # many tiny chunks
    np.testing.assert_allclose(got[: sv.size], sv, rtol=1e-9, atol=1e-12)
    assert words_per_chunk(6, 0.001) == 1


def test_pair_interaction_equals_the_contraction(model):
    p = weights(model)
    B = interaction_matrices(p, output_map(p))
    We = p["W_e"]
    assert pair_interaction(model, 3, 7, 11) == pytest.approx(float(We[:, 3] @ B[11] @ We[:, 7]))


def test_analysis_store_truncation_and_bounded_arrays(tmp_path):
    import xarray as xr

    from bowsflow.activations.extraction import ExtractOptions, extract_activations
    from bowsflow.data.correlations import word_correlations
    from bowsflow.lenses.bilinear.analysis import BilinearOptions, analyze_bilinear
    from bowsflow.models.evaluation import evaluate
    from bowsflow.store.zarr_io import write_dataset
    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=600, chunk=128)
    model = make_checkpoint(tmp_path / "m.safetensors", "bilinear", m=3, d=2)
    extract_activations(tmp_path / "m.safetensors", store, tmp_path / "a.zarr", ExtractOptions(device="cpu"))
    bows = xr.open_zarr(store)
    corr, freq, _ = word_correlations(bows["bows"])
    write_dataset(
        xr.Dataset({"correlation": (("word", "word2"), corr), "frequency": ("word", freq)}), tmp_path / "c.zarr"
    )
    opts = BilinearOptions(top_k=2, max_array_mb=0.0002, words=("f0", "f5"), n_frequent=1, eval_samples=10_000)
    summary, figures = analyze_bilinear(
        checkpoint=tmp_path / "m.safetensors",
        activations=tmp_path / "a.zarr",
        bows=store,
        correlations=tmp_path / "c.zarr",
        store=tmp_path / "b.zarr",
        options=opts,
    )
    out = xr.open_zarr(tmp_path / "b.zarr")
    assert out["eigvals"].shape == (12, 3) and out["eigvecs"].shape == (12, 2, 3)
    p = weights(model)
    B = interaction_matrices(p, output_map(p)).numpy()
    for v in range(12):  # stored eigenvalues = numpy's, as a set
        np.testing.assert_allclose(np.sort(out["eigvals"].values[v]), np.linalg.eigvalsh(B[v]), atol=1e-12)
    assert summary["largest_array_bytes"] <= 0.0002 * 2**20 or out.attrs["words_per_chunk"] == 1
    # keeping every eigencomponent gives the model's own validation loss
    rows = summary["truncation"]["rows"]
    full = evaluate(model, store, batch_size=64, split="val").loss
    assert rows[-1]["k"] == 3 and rows[-1]["val_loss"] == pytest.approx(full, rel=1e-5)
    shares = summary["paths"]["all_entries"]
    assert sum(shares.values()) == pytest.approx(1.0)
    # provenance: the inputs' checksums (the checkpoint's bytes, the BOWS store's attributes)
    import json

    from bowsflow.store.provenance import attrs_checksum, sha256_file

    assert json.loads(out.attrs["input_checksums"]) == {
        "checkpoint": sha256_file(tmp_path / "m.safetensors"),
        "bows": attrs_checksum(bows.attrs),
    }
    assert out.attrs["config_hash"] and out.attrs["bowsflow_version"]


@pytest.mark.parametrize(
    "V,m,max_mb,threads", [(4000, 64, 256.0, 2), (4000, 64, 1.0, 3), (5, 8, 256.0, 16), (1000, 128, 0.01, 1)]
)
def test_word_chunks_cover_the_words_and_bound_the_arrays_in_flight(V, m, max_mb, threads):
    from bowsflow.lenses.bilinear.decomposition import word_chunks, words_per_chunk

    chunks = word_chunks(V, m, max_mb, threads)
    assert chunks[0][0] == 0 and chunks[-1][1] == V
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:])) and all(hi > lo for lo, hi in chunks)
    biggest = max(hi - lo for lo, hi in chunks)
    # each chunk holds its matrices and their eigenvectors, 2 · 8 · m² bytes a word; a chunk has at
    # least one word, so the bound can only be exceeded when one word alone exceeds it
    if words_per_chunk(m, max_mb / threads) > 1:
        assert threads * biggest * 2 * 8 * m * m <= max_mb * 2**20
    assert len(chunks) >= min(threads, V)


def test_per_word_reads_touch_only_that_words_chunk(tmp_path, monkeypatch):
    """The bilinear analysis reads one word's eigenvalues, eigenvectors and correlations at a time:
    only the chunk holding that word is read (reading ``.values[v]`` read the whole array, about
    0.6 GB a word at V = 10,000, m = 256)."""
    import xarray as xr
    import zarr.storage

    from bowsflow.data.correlations import write_correlations
    from bowsflow.lenses.bilinear.analysis import word_row
    from helpers import make_store

    V, k, m, step = 12, 2, 3, 4
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(V, k, m))
    xr.Dataset({"eigvecs": (("word", "rank_top", "latent"), vecs)}).to_zarr(
        tmp_path / "e.zarr", zarr_format=3, encoding={"eigvecs": {"chunks": (step, k, m)}}
    )
    make_store(tmp_path / "bows.zarr", n=300, chunk=128)
    monkeypatch.setattr("bowsflow.data.correlations.ROW_CHUNK_BYTES", 4 * V * 3)  # 3 rows a chunk
    write_correlations(tmp_path / "bows.zarr", tmp_path / "c.zarr")
    corr = xr.open_zarr(tmp_path / "c.zarr")["correlation"]
    eig = xr.open_zarr(tmp_path / "e.zarr")["eigvecs"]

    read = []
    get = zarr.storage.LocalStore.get

    async def spy(self, key, *args, **kwargs):
        read.append(key)
        return await get(self, key, *args, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "get", spy)
    for v in (0, 5, 11):
        read.clear()
        np.testing.assert_array_equal(word_row(eig, v), vecs[v])
        assert [key for key in read if "/c/" in key] == [f"eigvecs/c/{v // step}/0/0"]
        read.clear()
        row = word_row(corr, v)
        assert row.shape == (V,) and row[v] in (0.0, 1.0)  # the diagonal: 1, or 0 for a word never seen
        assert [key for key in read if "/c/" in key] == [f"correlation/c/{v // 3}/0"]


def test_components_kept_by_hand():
    from bowsflow.lenses.bilinear.analysis import components_kept, smallest_k

    # gains over k = 0 of 0, 5, 9, 10 (of 10): 90% first reached at k = 2, 50% at k = 1, 100% at k = 3
    assert smallest_k(np.array([1.0, 6.0, 10.0, 11.0]), 0.9) == 2
    assert smallest_k(np.array([1.0, 6.0, 10.0, 11.0]), 0.5) == 1
    assert smallest_k(np.array([1.0, 6.0, 10.0, 11.0]), 1.0) == 3
    assert smallest_k(np.array([3.0, 2.0, 1.0]), 0.9) == 0  # the full model gains nothing over k = 0
    # identical samples: every resample gives the same k, so the interval is that k
    per_sample = np.tile([0.0, 5.0, 9.0, 10.0], (50, 1))
    out = components_kept(per_sample, None, (0.9, 0.95), seed=0, n_resamples=50)
    assert out["0.9"] == {"k": 2, "interval": [2.0, 2.0], "m": 3, "n_samples": 50}
    assert out["0.95"]["k"] == 3
    # recall pooled over samples: (1 + 0, 1 + 2, 2 + 2) / 4 = 0.25, 0.75, 1; gains 0.5 and 0.75 over k = 0
    tp = np.array([[1, 1, 2], [0, 2, 2.0]])
    kept = components_kept(tp, np.array([2, 2]), (0.6, 0.9), seed=0, n_resamples=20)
    assert (kept["0.6"]["k"], kept["0.9"]["k"]) == (1, 2)
