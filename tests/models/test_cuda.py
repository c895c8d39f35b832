"""The GPU paths, checked against the CPU (skipped where torch sees no CUDA device; CI has none).
The NaN check's GPU variant is in test_training.py.

Run on a GPU machine with:  python -m pytest tests/test_cuda.py
"""

import numpy as np
import pytest
import torch
import xarray as xr

from bowsflow.activations.extraction import ExtractOptions, extract_activations
from bowsflow.lenses.bilinear.decomposition import interaction_matrices, output_map, weights
from bowsflow.linalg import sorted_eigh
from bowsflow.models import build_model
from bowsflow.models.training import TrainConfig, train
from helpers import make_checkpoint, make_store, synthetic_store

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def exact_float32():
    # TF32 would round float32 products to 10 mantissa bits; the comparisons below are at float32 precision
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


@pytest.fixture(scope="module")
def circle_store(tmp_path_factory):
    return synthetic_store(tmp_path_factory.mktemp("circle") / "bows.zarr", n_samples=4000)


@pytest.mark.parametrize("arch", ["tied_ae", "relu_mlp", "bilinear"])
def test_training_on_the_gpu_follows_the_cpu(circle_store, arch):
    """Same seed, same batches: the GPU run's losses track the CPU's (float32 sums in another order)."""
    cfg = dict(
        arch=arch, d_latent=3, d_hidden=5, lr=1e-2, batch_size=64, steps=60, seed=3, weight_decay=0.1, log_every=10
    )
    cpu = train(circle_store, TrainConfig(**cfg, device="cpu"))
    gpu = train(circle_store, TrainConfig(**cfg, device="cuda"))
    assert gpu.device == "cuda"
    np.testing.assert_allclose(
        [r["train_loss"] for r in gpu.history], [r["train_loss"] for r in cpu.history], rtol=1e-3
    )
    assert gpu.evaluation.loss == pytest.approx(cpu.evaluation.loss, rel=1e-3)
    for name, p in cpu.model.named_parameters():
        np.testing.assert_allclose(
            dict(gpu.model.named_parameters())[name].detach().numpy(), p.detach().numpy(), atol=1e-3
        )


def test_bf16_autocast_trains(circle_store):
    cfg = TrainConfig(
        arch="bilinear", d_latent=3, d_hidden=5, lr=1e-2, batch_size=64, steps=200, seed=0, device="cuda", bf16=True
    )
    result = train(circle_store, cfg)
    first, last = result.history[0]["train_loss"], result.history[-1]["train_loss"]
    assert np.isfinite(last) and last < first


@pytest.mark.parametrize("arch", ["tied_ae", "relu_mlp", "bilinear"])
def test_extraction_on_the_gpu_equals_the_cpu(tmp_path, arch):
    store = make_store(tmp_path / "bows.zarr", n=1500, chunk=256)
    make_checkpoint(tmp_path / "m.safetensors", arch)
    for device in ("cpu", "cuda"):
        extract_activations(
            tmp_path / "m.safetensors",
            store,
            tmp_path / f"{device}.zarr",
            ExtractOptions(device=device, batch_size=100),
        )
    cpu, gpu = xr.open_zarr(tmp_path / "cpu.zarr"), xr.open_zarr(tmp_path / "cuda.zarr")
    assert set(cpu.data_vars) == set(gpu.data_vars)
    for name in cpu.data_vars:
        if name in ("split", "doc_id"):
            assert [str(v) for v in gpu[name].values] == [str(v) for v in cpu[name].values]
        else:
            np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-5, atol=1e-6)


def test_batched_eigh_on_the_gpu_equals_the_cpu():
    torch.manual_seed(0)
    p = weights(build_model("bilinear", 300, 24, 40))
    U = output_map(p)
    vals_cpu, vecs_cpu = sorted_eigh(interaction_matrices(p, U), "magnitude")
    vals_gpu, vecs_gpu = sorted_eigh(interaction_matrices({k: v.cuda() for k, v in p.items()}, U.cuda()), "magnitude")
    np.testing.assert_allclose(vals_gpu.cpu().numpy(), vals_cpu.numpy(), atol=1e-12)
    # eigenvectors agree up to sign (the spectra here have no repeated eigenvalues)
    overlap = np.abs(np.einsum("cmi,cmi->ci", vecs_gpu.cpu().numpy(), vecs_cpu.numpy()))
    np.testing.assert_allclose(overlap[:, :8], 1.0, atol=1e-8)
