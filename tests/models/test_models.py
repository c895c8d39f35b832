import numpy as np
import pytest
import torch

from bowsflow.data.batches import SparseBatch
from bowsflow.models import build_model, count_parameters, expected_shapes, n_parameters
from bowsflow.models.checkpoints import CheckpointError, load_model, save_checkpoint
from bowsflow.models.losses import dense_target_loss, sparse_target_loss


def relu(a):
    return np.maximum(a, 0)


def numpy_forward(arch, p, x):
    """The architectures' equations, written out in numpy (x: [B, V] float)."""
    if arch == "tied_ae":
        h = x @ p["W"].T
        return h @ p["W"] + p["b"]
    h = x @ p["W_e"].T
    if arch == "relu_mlp":
        r = h + relu(h @ p["W_in"].T + p["b_in"]) @ p["W_out"].T
    else:
        r = h + ((h @ p["L"].T) * (h @ p["R"].T)) @ p["W_out"].T
    return r @ p["W_e"] + p["b"]


def sample_batch(rng, B=6, V=11, rate=0.3):
    x = rng.random((B, V)) < rate
    x[0] = False  # an empty sample too
    return x, SparseBatch.from_dense(x)


@pytest.mark.parametrize("arch", ["tied_ae", "relu_mlp", "bilinear"])
def test_forward_equals_numpy(arch):
    torch.manual_seed(0)
    model = build_model(arch, vocab_size=11, d_latent=4, d_hidden=5)
    with torch.no_grad():
        model.b.uniform_(-0.5, 0.5)
    x, batch = sample_batch(np.random.default_rng(1))
    idx, off, _, _ = batch.torch()
    z = model(idx, off).detach().numpy()
    p = {k: v.detach().numpy().astype(np.float64) for k, v in model.named_parameters()}
    np.testing.assert_allclose(z, numpy_forward(arch, p, x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert {k: tuple(v.shape) for k, v in model.named_parameters()} == expected_shapes(arch, 11, 4, 5)
    assert count_parameters(model) == n_parameters(arch, 11, 4, 5)


@pytest.mark.parametrize("arch", ["tied_ae", "relu_mlp", "bilinear"])
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_gradients_equal_finite_differences(arch, loss):
    torch.manual_seed(0)
    model = build_model(arch, vocab_size=7, d_latent=3, d_hidden=4).double()
    x, batch = sample_batch(np.random.default_rng(2), B=4, V=7, rate=0.4)
    idx, off, rows, cols = batch.torch()
    params = list(model.parameters())
    names = [n for n, _ in model.named_parameters()]

    def loss_of(*ps):
        state = dict(zip(names, ps))
        z = torch.func.functional_call(model, state, (idx, off))
        return sparse_target_loss(z, rows, cols, loss, True)

    assert torch.autograd.gradcheck(loss_of, tuple(p.detach().requires_grad_() for p in params), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("relu_out", [True, False])
def test_sparse_target_loss_equals_dense(loss, relu_out):
    torch.manual_seed(3)
    z = torch.randn(8, 13, dtype=torch.float64, requires_grad=True)
    x = torch.rand(8, 13) < 0.3
    rows, cols = x.nonzero(as_tuple=True)
    a = sparse_target_loss(z, rows, cols, loss, relu_out)
    b = dense_target_loss(z, x, loss, relu_out)
    ga, gb = torch.autograd.grad(a, z)[0], torch.autograd.grad(b, z)[0]
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-15)


def test_unknown_arch_and_bad_sizes():
    with pytest.raises(ValueError, match="unknown architecture 'conv'"):
        build_model("conv", 10, 4)
    with pytest.raises(ValueError, match="d_latent must be >= 1"):
        build_model("tied_ae", 10, 0)
    with pytest.raises(ValueError, match="d_hidden must be >= 1"):
        build_model("bilinear", 10, 4, 0)


def test_checkpoint_round_trip_and_shape_check(tmp_path):
    torch.manual_seed(0)
    model = build_model("relu_mlp", 9, 3, 4)
    meta = {"arch": "relu_mlp", "vocab_size": 9, "d_latent": 3, "d_hidden": 4}
    save_checkpoint(model, tmp_path / "m.safetensors", meta)
    loaded, got_meta = load_model(tmp_path / "m.safetensors")
    assert got_meta == meta | {
        "tensors_sha256": got_meta["tensors_sha256"],
        "parameter_shapes": {k: list(v) for k, v in model.parameter_shapes.items()},
    }
    assert len(got_meta["tensors_sha256"]) == 64
    for (n, a), (_, b) in zip(model.named_parameters(), loaded.named_parameters()):
        assert torch.equal(a, b), n
    save_checkpoint(model, tmp_path / "bad.safetensors", meta | {"d_latent": 5})
    with pytest.raises(CheckpointError, match="do not match relu_mlp"):
        load_model(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.safetensors")


def test_a_flipped_bit_in_a_checkpoint_is_named_by_every_loader(tmp_path):
    """The checkpoint records the SHA-256 of its tensors: one bit of one weight flipped (in the file's
    data, where safetensors itself checks nothing) stops load_model, read_checkpoint and open_run."""
    from bowsflow.models.checkpoints import read_checkpoint
    from bowsflow.report.run_tree import RunError, model_parameters

    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_checkpoint(build_model("tied_ae", 9, 3), path, {"arch": "tied_ae", "vocab_size": 9, "d_latent": 3})
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    data[header + 5] ^= 0x40  # a bit of W's first float32, after the JSON header
    path.write_bytes(bytes(data))
    for load in (load_model, read_checkpoint):
        with pytest.raises(CheckpointError, match=f"{path}: its tensors do not match the SHA-256"):
            load(path)
    with pytest.raises(RunError, match="do not match the SHA-256"):
        model_parameters(path)


def test_encoder_never_builds_dense_input(monkeypatch):
    # the sparse path must not call the dense encoder
    model = build_model("tied_ae", 50, 4)
    monkeypatch.setattr(type(model), "encode_dense", lambda *a: (_ for _ in ()).throw(AssertionError("dense")))
    _, batch = sample_batch(np.random.default_rng(0), B=3, V=50)
    idx, off, _, _ = batch.torch()
    assert model(idx, off).shape == (3, 50)
