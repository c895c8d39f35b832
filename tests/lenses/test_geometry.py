import numpy as np
import pytest
import torch
import xarray as xr

from bowsflow.data.correlations import correlation_from_moments, word_correlations
from bowsflow.lenses.geometry.measures import (
    circularity,
    cosine_matrix,
    cyclic_order_recovered,
    interference,
    one_hot_r2,
    pca_2d,
    structure_measure,
    synthetic_regime,
    upper_triangle_spearman,
)


def test_cosine_and_correlation_equal_numpy():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(4, 9))
    cos = cosine_matrix(W)
    ref = np.array(
        [[W[:, i] @ W[:, j] / np.linalg.norm(W[:, i]) / np.linalg.norm(W[:, j]) for j in range(9)] for i in range(9)]
    )
    np.testing.assert_allclose(cos, ref, atol=1e-12)
    X = rng.random((300, 9)) < 0.3
    X[:, 4] = False  # a constant column
    Xf = X.astype(float)
    corr = correlation_from_moments(Xf.T @ Xf, Xf.sum(0), 300)
    with np.errstate(invalid="ignore"):  # numpy divides by the constant column's zero deviation
        ref = np.corrcoef(Xf, rowvar=False)
    keep = [i for i in range(9) if i != 4]
    np.testing.assert_allclose(corr[np.ix_(keep, keep)], ref[np.ix_(keep, keep)], atol=1e-12)
    assert corr[4, 4] == 0 and not corr[4].any()
    # the dask reduction over a chunked array gives the same
    da = xr.DataArray(X, dims=("sample", "word")).chunk({"sample": 64})
    c2, freq, n = word_correlations(da, threads=2)
    np.testing.assert_allclose(c2, corr, atol=1e-6)
    np.testing.assert_allclose(freq, X.mean(0))
    assert n == 300


def test_spearman_over_upper_triangle():
    a = np.array([[1, 0.1, 0.5], [0.1, 1, 0.9], [0.5, 0.9, 1]])
    assert upper_triangle_spearman(a, a) == pytest.approx(1.0)
    assert upper_triangle_spearman(a, -a) == pytest.approx(-1.0)


def test_interference_decomposition_sums_to_the_pre_activation():
    torch.manual_seed(0)
    from bowsflow.models import build_model

    model = build_model("tied_ae", 15, 4)
    with torch.no_grad():
        model.b.uniform_(-1, 1)
    W, b = model.W.detach().double().numpy(), model.b.detach().double().numpy()
    x = np.zeros(15, dtype=bool)
    x[[2, 5, 7, 11]] = True
    idx = torch.tensor([2, 5, 7, 11])
    with torch.no_grad():
        pre = model.double()(idx, torch.tensor([0]))[0].numpy()
    for v in (2, 5, 11):
        self_term, interf, bias = interference(W, b, x, v)
        assert self_term + interf + bias == pytest.approx(pre[v], abs=1e-12)


def test_one_hot_r2_closed_form_equals_brute_force():
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(3, 5)) * 0.7, rng.normal(size=5) * 0.3
    X = rng.random((400, 5)) < 0.25
    freq = X.mean(0)
    r2 = one_hot_r2(W, b, freq)
    for v in range(5):
        pred = np.where(X[:, v], max(W[:, v] @ W[:, v] + b[v], 0), max(b[v], 0))
        ref = 1 - ((pred - X[:, v]) ** 2).sum() / ((X[:, v] - X[:, v].mean()) ** 2).sum()
        assert r2[v] == pytest.approx(ref, rel=1e-10)


def test_circularity_and_cyclic_order():
    k = 12
    ang = 2 * np.pi * np.arange(k) / k + 0.3
    circle = np.c_[np.cos(ang), np.sin(ang)] * 2 + [1, -1]
    assert circularity(circle) == pytest.approx(1.0)
    assert circularity(circle[::-1]) == pytest.approx(1.0)  # either direction
    assert cyclic_order_recovered(circle) == 1.0
    rng = np.random.default_rng(0)
    shuffled = np.mean([circularity(circle[rng.permutation(k)]) for _ in range(50)])
    assert shuffled < 0.4
    assert cyclic_order_recovered(circle[[0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]]) < 0.5
    # a 2-D PCA of points on a circle in 5-D keeps the circle
    Q = np.linalg.qr(rng.normal(size=(5, 5)))[0][:, :2]
    assert circularity(pca_2d(circle @ Q.T)) == pytest.approx(1.0)


def test_structure_measure_and_regimes():
    assert structure_measure(np.eye(4)) == 0.0
    W = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert structure_measure(W) == pytest.approx(np.sqrt(2))
    k = 12
    ang = 2 * np.pi * np.arange(k) / k
    assert synthetic_regime(np.vstack([np.cos(ang), np.sin(ang)]))["regime"] == "ring"
    assert synthetic_regime(np.eye(12))["regime"] == "identity"
    pairs = np.zeros((6, 12))
    for i in range(6):
        pairs[i, 2 * i], pairs[i, 2 * i + 1] = 1, -1
    assert synthetic_regime(pairs)["regime"] == "antipodal"


def test_synthetic_circle_with_m2_recovers_the_cyclic_order_exactly(tmp_path):
    from bowsflow.models.training import TrainConfig, train
    from helpers import synthetic_store

    store = synthetic_store(tmp_path / "s.zarr", n_samples=4000)
    result = train(store, TrainConfig(arch="tied_ae", d_latent=2, lr=1e-2, batch_size=128, epochs=30, device="cpu"))
    W = result.model.W.detach().double().numpy()
    assert cyclic_order_recovered(W.T) == 1.0
    assert synthetic_regime(W)["regime"] == "ring"


def test_umap_is_used_when_installed(monkeypatch, tmp_path):
    """umap-learn is optional: without it the map is PCA only; with it (here a stand-in module)
    the directions are embedded with the paper's settings (cosine metric, 15 neighbours)."""
    import sys
    import types

    from bowsflow.lenses.geometry.measures import umap_2d
    from bowsflow.report.plots import map_figure

    monkeypatch.setitem(sys.modules, "umap", None)  # import fails
    points = np.random.default_rng(0).normal(size=(40, 5))
    assert umap_2d(points) is None
    calls = {}

    class FakeUMAP:
        def __init__(self, **kwargs):
            calls.update(kwargs)

        def fit_transform(self, x):
            return x[:, :2]

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    xy = umap_2d(points, seed=3)
    assert calls == {"n_neighbors": 15, "metric": "cosine", "n_components": 2, "random_state": 3}
    np.testing.assert_array_equal(xy, points[:, :2])
    m = {"xy": pca_2d(points), "umap": xy, "labelled": np.array([0, 1]), "labels": np.array([0, 0]), "names": ["a"]}
    map_figure(m, tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 1000


def test_subspace_overlap_known_answers():
    from bowsflow.lenses.geometry.measures import principal_subspace, subspace_overlap

    rng = np.random.default_rng(0)
    V, m = 40, 4
    A = rng.normal(size=(V, V))
    cov = A @ A.T / V
    U = principal_subspace(cov, m)
    np.testing.assert_allclose(U.T @ U, np.eye(m), atol=1e-12)
    # W whose rows span exactly the top-m principal subspace (any invertible mix of them): overlap 1
    W = rng.normal(size=(m, m)) @ U.T
    assert subspace_overlap(W, U) == pytest.approx(1.0, rel=1e-12)
    # orthogonal to it: 0
    W_perp = (np.eye(V) - U @ U.T) @ rng.normal(size=(V, m))
    assert subspace_overlap(W_perp.T, U) == pytest.approx(0.0, abs=1e-12)
    # random subspaces: E[overlap] = m/V exactly; the mean of 2,000 draws within 4 standard errors
    draws = np.array([subspace_overlap(rng.normal(size=(m, V)), U) for _ in range(2000)])
    assert abs(draws.mean() - m / V) < 4 * draws.std() / np.sqrt(draws.size)


def test_covariance_from_correlation_equals_numpy_on_binary_data():
    from bowsflow.data.correlations import correlation_from_moments
    from bowsflow.lenses.geometry.measures import covariance_from_correlation

    rng = np.random.default_rng(1)
    X = rng.random((500, 7)) < np.linspace(0.05, 0.6, 7)
    Xf = X.astype(np.float64)
    corr = correlation_from_moments(Xf.T @ Xf, Xf.sum(0), 500)
    np.testing.assert_allclose(covariance_from_correlation(corr, Xf.mean(0)), np.cov(Xf.T, ddof=0), atol=1e-14)
