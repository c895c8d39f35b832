"""The LLC lens: the estimator against closed forms (a regular linear model: λ = d/2; a redundant
reparameterisation of it: the same), its bookkeeping and warnings on hand-made traces, reproducibility,
and the lens on a tiny store."""

import json
import math

import numpy as np
import pytest
import torch

from bowsflow.lenses.llc.analysis import LLCOptions, analyze_llc, sampler_settings
from bowsflow.lenses.llc.sampling import ChainsResult, SamplerSettings, default_nbeta, run_chains, trace_warnings


class Linear(torch.nn.Module):
    """w = A v (A = I: the plain model; A = [I, I]: twice the parameters, the same function)."""

    def __init__(self, w_star, A=None):
        super().__init__()
        self.A = A
        self.v = torch.nn.Parameter(w_star.clone() if A is None else torch.linalg.pinv(A) @ w_star)

    def weight(self):
        return self.v if self.A is None else self.A @ self.v


def regression(n=4000, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, dtype=torch.float64, generator=g)
    y = X @ torch.randn(d, dtype=torch.float64, generator=g) + 0.5 * torch.randn(n, dtype=torch.float64, generator=g)
    w_star = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]  # the exact minimum

    def loss(model, idx):
        r = y[idx] - X[idx] @ model.weight()
        return 0.5 * (r * r).mean()

    def batches(chain, size=min(1000, n // 2)):
        rng = np.random.default_rng(chain)
        while True:
            yield torch.as_tensor(rng.choice(n, size, replace=False))

    return w_star, loss, batches


# ε nβ ≈ 0.14 at n = 4,000: the discretisation bias of λ̂ is about ε nβ / 4 ≈ 4% (measured: 2.06–2.14 for 2)
SETTINGS = SamplerSettings(step_size=3e-4, localization=1.0, n_chains=4, n_draws=600, n_burnin=150, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("redundant", [False, True])
def test_a_regular_model_has_llc_d_over_2_and_redundancy_does_not_change_it(redundant):
    d = 4
    w_star, loss, batches = regression(d=d)
    A = torch.cat([torch.eye(d), torch.eye(d)], dim=1).double() if redundant else None
    model = Linear(w_star, A)
    result = run_chains(model, loss, batches, 4000, SETTINGS)
    summary = result.summary()
    low, high = summary["interval"]
    assert low <= d / 2 <= high, summary
    assert summary["warnings"] == []
    assert sum(p.numel() for p in model.parameters()) == (2 * d if redundant else d)
    torch.testing.assert_close(model.weight(), w_star)  # the model is handed back at w*


def test_same_seed_same_chains_and_the_model_back_at_its_start():
    w_star, loss, batches = regression(n=500)
    settings = SamplerSettings(step_size=1e-4, localization=1.0, n_chains=2, n_draws=20, n_burnin=5, seed=3)
    model = Linear(w_star)
    a = run_chains(model, loss, batches, 500, settings)
    b = run_chains(model, loss, batches, 500, settings)
    np.testing.assert_array_equal(a.trace, b.trace)
    assert torch.equal(model.v, w_star)
    c = run_chains(model, loss, batches, 500, SamplerSettings(1e-4, 1.0, 2, 20, 5, seed=4))
    assert not np.array_equal(a.trace, c.trace)


def test_estimates_and_warnings_from_hand_made_traces():
    rng = np.random.default_rng(0)
    steady = 0.01 + 0.001 * rng.standard_normal((4, 40))
    result = ChainsResult(steady, init_loss=1.0, nbeta=100.0, n=1000, n_burnin=8)
    np.testing.assert_allclose(result.per_chain, 100 * steady[:, 8:].mean(axis=1))
    s = result.summary(0.95)
    sd = result.per_chain.std(ddof=1)
    assert s["llc"] == pytest.approx(result.per_chain.mean())
    assert s["interval"][1] - s["llc"] == pytest.approx(3.182446305284263 * sd / 2)  # t(0.975, 3)
    assert trace_warnings(result) == []
    rising = steady + np.linspace(0, 0.02, 40)[None, :]
    assert any("not levelled off" in w for w in trace_warnings(ChainsResult(rising, 1.0, 100.0, 1000, 8)))
    diverging = steady.copy()
    diverging[2, 8:] = 50.0
    assert any("chain 2 diverges" in w for w in trace_warnings(ChainsResult(diverging, 1.0, 100.0, 1000, 8)))
    assert any("not at a local minimum" in w for w in trace_warnings(ChainsResult(-steady, 1.0, 100.0, 1000, 8)))
    assert default_nbeta(1000) == pytest.approx(1000 / math.log(1000))


def test_calibrated_values_per_architecture():
    options = LLCOptions(step_size=1e-4, localization=100.0, by_architecture={"relu_mlp": {"step_size": 3e-5}})
    assert sampler_settings(options, "relu_mlp").step_size == 3e-5
    assert sampler_settings(options, "relu_mlp").localization == 100.0
    assert sampler_settings(options, "tied_ae").step_size == 1e-4


def test_the_lens_on_a_tiny_store(tmp_path):
    import xarray as xr

    from helpers import make_checkpoint, make_store

    store = make_store(tmp_path / "bows.zarr", n=600, chunk=256)
    make_checkpoint(tmp_path / "m.safetensors", "relu_mlp", m=3, d=4)
    (tmp_path / "config.json").write_text(json.dumps({"loss": "mse"}))
    options = LLCOptions(
        step_size=1e-5, localization=100.0, n_chains=3, n_draws=12, n_burnin=4, batch_size=64, device="cpu"
    )
    summary, figures = analyze_llc(
        bows=store,
        checkpoint=tmp_path / "m.safetensors",
        model_config=tmp_path / "config.json",
        store=tmp_path / "llc.zarr",
        options=options,
    )
    ds = xr.open_zarr(tmp_path / "llc.zarr")
    assert ds.excess_loss.shape == (3, 12) and ds.llc_per_chain.shape == (3,)
    per = summary["nbeta"] * ds.excess_loss.values[:, 4:].mean(axis=1)
    np.testing.assert_allclose(summary["llc_per_chain"], per)
    assert summary["n_parameters"] == 12 * 3 + 12 + 4 * 3 + 4 + 3 * 4  # W_e, b, W_in, b_in, W_out
    assert summary["n_samples"] == int((xr.open_zarr(store).split.values == "train").sum())
    assert figures["trace"].shape == (3, 12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_chains_run_on_the_gpu():
    n = 500
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 3, dtype=torch.float64, generator=g).cuda()
    y = X @ torch.ones(3, dtype=torch.float64, device="cuda")
    model = Linear(torch.linalg.lstsq(X, y[:, None]).solution[:, 0])

    def loss(m, idx):
        r = y[idx] - X[idx] @ m.weight()
        return 0.5 * (r * r).mean()

    def batches(chain):
        rng = np.random.default_rng(chain)
        while True:
            yield torch.as_tensor(rng.choice(n, 100, replace=False), device="cuda")

    result = run_chains(model, loss, batches, n, SamplerSettings(1e-4, 1.0, 2, 20, 5))
    assert np.isfinite(result.per_chain).all() and model.v.device.type == "cuda"
