import logging
import math

import numpy as np
import pytest
import torch
import zarr

from bowsflow.config import ConfigError, model_specs, sweep_model_names, validate_config
from bowsflow.data.batches import BowsBatches, prefetch
from bowsflow.models.checkpoints import load_model, save_checkpoint
from bowsflow.models.evaluation import evaluate
from bowsflow.models.training import TrainConfig, TrainingError, cosine_lr, train
from bowsflow.report.tables import comparison_rows
from bowsflow.runtime.devices import DeviceError, resolve_device
from helpers import synthetic_store


@pytest.fixture(scope="module")
def circle_store(tmp_path_factory):
    return synthetic_store(tmp_path_factory.mktemp("circle") / "bows.zarr", n_samples=4000)


def test_batches_visit_each_train_sample_once_per_epoch(tmp_path):
    store = synthetic_store(tmp_path / "s.zarr", n_samples=1000, chunk=128, structure="iid", p=0.5)
    split = np.asarray(zarr.open_group(str(tmp_path / "s.zarr"))["split"][:]) == "train"
    expected = np.asarray(zarr.open_group(str(tmp_path / "s.zarr"))["bows"][:])[split]
    batches = BowsBatches(store, "train", batch_size=50, seed=1)
    for epoch in (0, 1):
        got = [b.dense(12) for b in batches.epoch(epoch)]
        assert all(g.shape[0] == 50 for g in got[:-1]) and len(got) == batches.batches_per_epoch()
        got = np.concatenate(got)
        # the same multiset of rows (iid rows with p = 0.5 are nearly all distinct)
        key = lambda a: sorted(map(bytes, np.packbits(a, axis=1)))  # noqa: E731
        assert key(got) == key(expected)
    first = [b.rows.tolist() + b.cols.tolist() for b in batches.epoch(0)]
    assert first == [b.rows.tolist() + b.cols.tolist() for b in BowsBatches(store, "train", 50, seed=1).epoch(0)]
    assert first != [b.rows.tolist() + b.cols.tolist() for b in batches.epoch(1)]


def test_prefetch_keeps_order_and_raises_where_the_producer_failed():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield from range(5)
        raise OSError("chunk 5 unreadable")

    got = []
    with pytest.raises(OSError, match="chunk 5 unreadable"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]
    # leaving early does not hang on a producer blocked on a full queue
    for item in prefetch(iter(range(10**6)), depth=1):
        if item == 3:
            break


@pytest.mark.parametrize("arch", ["tied_ae", "relu_mlp", "bilinear"])
def test_fused_training_loss_equals_forward_loss(arch):
    """The training path (fused decoder, sparse backward where few outputs are on, screened outputs,
    and for tied_ae the encoder's gradient folded into the decoder's) gives the loss and gradients of
    the plain forward pass, in the sparse and the dense regime."""
    import bowsflow.models.losses as losses
    from bowsflow.data.batches import SparseBatch
    from bowsflow.models import build_model
    from bowsflow.models.losses import sparse_target_loss

    torch.manual_seed(0)
    model = build_model(arch, 40, 3, 4).double()
    with torch.no_grad():
        model.b.fill_(-0.3)
        model.embedding.mul_(4)  # about a quarter of the outputs on, the rest off
    x = np.random.default_rng(0).random((16, 40)) < 0.1
    idx, off, rows, cols = SparseBatch.from_dense(x).torch()
    for threshold, screen in [(1.0, False), (0.0, False), (0.0, True)]:  # sparse branch always / never; screened
        losses.SPARSE_GRADIENT_DENSITY = threshold
        model.output_screening, model.decoder_stats["output_density"] = screen, 0.0
        try:
            a = model.training_loss(idx, off, rows, cols)
            ga = torch.autograd.grad(a, list(model.parameters()))
            b = sparse_target_loss(model(idx, off), rows, cols)
            gb = torch.autograd.grad(b, list(model.parameters()))
        finally:
            losses.SPARSE_GRADIENT_DENSITY = 0.05
        # counted exactly below the threshold (and when screened); above it only until it is passed
        density = model.decoder_stats["output_density"]
        assert 0.1 < density < 0.4 if threshold == 1.0 or screen else 0.0 < density < 0.4
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
        for u, v in zip(ga, gb):
            torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-13)


def test_index_add_in_pieces_gives_the_same_bits(monkeypatch):
    """The tied encoder's share added a few rows at a time equals one index_add_ of every gathered row,
    bit for bit (index_add_ adds in index order), repeated indices and a last short piece included."""
    import bowsflow.models.losses as losses

    g = torch.Generator().manual_seed(0)
    source = torch.randn(30, 7, generator=g) * 1e3  # large and mixed: rounding shows if the order changes
    rows = torch.randint(0, 30, (101,), generator=g)
    index = torch.randint(0, 5, (101,), generator=g)  # 5 output rows: many additions into each
    base = torch.randn(5, 7, generator=g)
    expected = base.clone().index_add_(0, index, source[rows])
    for piece_rows in (1, 3, 100, 1000):
        monkeypatch.setattr(losses, "_INDEX_ADD_BYTES", piece_rows * 7 * 4)
        out = base.clone()
        losses._index_add_rows(out, index, source, rows)
        assert torch.equal(out, expected), piece_rows
    # the gather buffer is reused across calls: a second source, then a strided one, each
    # give their own sum, nothing of the last call's rows left over
    monkeypatch.setattr(losses, "_INDEX_ADD_BYTES", 3 * 7 * 4)
    other = -2 * source
    for src in (other, other.t().contiguous().t()):
        out = base.clone()
        losses._index_add_rows(out, index, src, rows)
        assert torch.equal(out, base.clone().index_add_(0, index, other[rows]))


def test_count_on_up_to_is_exact_below_the_threshold_and_a_bound_above():
    """Counting stops at the first quarter of rows that reaches the threshold: below it the count is
    exact (numpy's count of the same entries), above it a lower bound that has passed the threshold,
    so the choice of the decoder's backward path is the one an exact count gives."""
    import bowsflow.models.losses as losses

    rng = np.random.default_rng(0)
    g = torch.from_numpy(np.where(rng.random((10, 33)) < 0.3, rng.standard_normal((10, 33)), 0.0).astype(np.float32))
    exact = int(np.count_nonzero(g.numpy()))
    assert losses._count_on_up_to(g, exact + 1) == exact  # never reached: every row counted
    first_quarter = int(np.count_nonzero(g.numpy()[:3]))  # ceil(10 / 4) = 3 rows a part
    assert losses._count_on_up_to(g, first_quarter) == first_quarter
    got = losses._count_on_up_to(g, first_quarter + 1)
    assert got == int(np.count_nonzero(g.numpy()[:6])) and first_quarter + 1 <= got <= exact
    # -0.0 counts as on (its bits are not zero); +0.0 does not
    assert losses._count_on_up_to(torch.tensor([[0.0, -0.0, 1.0]]), 10) == 2


def test_fused_loss_refuses_a_second_backward():
    """Its backward reuses the saved output in place, so retain_graph would give wrong gradients: it raises."""
    from bowsflow.data.batches import SparseBatch
    from bowsflow.models import build_model

    model = build_model("tied_ae", 20, 3)
    idx, off, rows, cols = SparseBatch.from_dense(np.eye(20, dtype=bool)[:5]).torch()
    loss = model.training_loss(idx, off, rows, cols)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="cannot be differentiated twice"):
        loss.backward()


def test_cosine_schedule_closed_form():
    assert cosine_lr(0, 100, 0) == 1.0
    assert cosine_lr(50, 100, 0) == pytest.approx(0.5)
    assert cosine_lr(100, 100, 0) == pytest.approx(0.0)
    assert cosine_lr(4, 100, 10) == pytest.approx(0.5)
    assert cosine_lr(10 + 45, 100, 10) == pytest.approx(0.5)


def test_training_is_byte_identical_on_cpu(circle_store, tmp_path):
    cfg = TrainConfig(
        arch="relu_mlp",
        d_latent=3,
        d_hidden=5,
        lr=1e-2,
        batch_size=64,
        steps=40,
        seed=3,
        device="cpu",
        weight_decay=0.1,
    )
    paths = []
    for k in range(2):
        result = train(circle_store, cfg)
        paths.append(tmp_path / f"{k}.safetensors")
        save_checkpoint(result.model, paths[-1], {"arch": "relu_mlp", "vocab_size": 12, "d_latent": 3, "d_hidden": 5})
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other = train(circle_store, TrainConfig(**{**cfg.__dict__, "seed": 4}))
    assert not torch.equal(other.model.W_e, result.model.W_e)


def test_the_sparse_batch_cache_changes_no_bit_of_training(tmp_path, monkeypatch):
    """Chunks cached (default), or read again every epoch (cache_mb = 0): the same checkpoint and the
    same validation losses, over several chunks and epochs (evaluation reuses its cached batches)."""
    import bowsflow.models.training as training

    store = synthetic_store(tmp_path / "s.zarr", n_samples=1500, chunk=300)
    cfg = TrainConfig(arch="tied_ae", d_latent=3, lr=1e-2, batch_size=64, epochs=3, seed=1, device="cpu", eval_every=10)
    cached = train(store, cfg)

    class Uncached(BowsBatches):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs | {"cache_mb": 0.0})

    monkeypatch.setattr(training, "BowsBatches", Uncached)
    uncached = train(store, cfg)
    assert torch.equal(cached.model.W, uncached.model.W) and torch.equal(cached.model.b, uncached.model.b)
    assert [r["val_loss"] for r in cached.history] == [r["val_loss"] for r in uncached.history]
    assert cached.evaluation.loss == uncached.evaluation.loss


def test_training_with_output_screening_is_reproducible_and_follows_the_dense_run(tmp_path, monkeypatch):
    """Screening forced on (as on a CPU with native bf16 products) and, on this small problem, at any
    share of outputs on: two runs give the same bytes, and the weights follow the run without it
    (the two differ only in float32 rounding: sampled versus dense products)."""
    import bowsflow.models.base as models
    import bowsflow.models.output_screening as screening

    monkeypatch.setattr(models, "SCREEN_BELOW_OUTPUT_DENSITY", 1.01)

    store = synthetic_store(tmp_path / "iid.zarr", n_samples=3000, chunk=500, structure="iid", n_features=150, p=0.03)
    calls = []
    original = screening.relu_support_candidates
    monkeypatch.setattr(screening, "relu_support_candidates", lambda *a: calls.append(1) or original(*a))
    cfg = TrainConfig(
        arch="tied_ae", d_latent=8, lr=1e-2, batch_size=100, steps=60, seed=1, device="cpu", output_screening=True
    )
    runs = [train(store, cfg) for _ in range(2)]
    assert len(calls) == 2 * 60  # every step of both runs
    for u, v in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(u, v)
    dense = train(store, TrainConfig(**{**cfg.__dict__, "output_screening": False}))
    assert len(calls) == 2 * 60
    for u, v in zip(runs[0].model.parameters(), dense.model.parameters()):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-4)
    assert runs[0].evaluation.loss == pytest.approx(dense.evaluation.loss, rel=1e-3)


def test_circle_directions_are_ordered_by_angle(circle_store):
    """12 features on a circle, m = 2: the learned feature directions go round the origin in the
    features' own cyclic order (either way round)."""
    cfg = TrainConfig(arch="tied_ae", d_latent=2, lr=1e-2, batch_size=128, epochs=30, seed=0, device="cpu")
    result = train(circle_store, cfg)
    W = result.model.W.detach().numpy()
    order = np.argsort(np.arctan2(W[1], W[0]))
    steps = np.diff(np.concatenate([order, order[:1]])) % 12
    assert set(steps.tolist()) in ({1}, {11}), order
    assert result.evaluation.loss < 0.06


def test_evaluation_metrics_known_answer(tmp_path):
    store = synthetic_store(tmp_path / "s.zarr", n_samples=500, chunk=100, structure="iid", p=0.3)
    cfg = TrainConfig(arch="tied_ae", d_latent=2, batch_size=64, device="cpu")
    torch.manual_seed(0)
    from bowsflow.models import build_model

    model = build_model("tied_ae", 12, 2)
    with torch.no_grad():  # x̂ = ReLU(0·… + b) = constant b = 0.25 everywhere
        model.W.zero_()
        model.b.fill_(0.25)
    ev = evaluate(model, store, loss=cfg.loss, threshold=cfg.threshold, batch_size=cfg.batch_size)
    group = zarr.open_group(str(tmp_path / "s.zarr"))
    x = np.asarray(group["bows"][:])[np.asarray(group["split"][:]) == "val"].astype(float)
    assert ev.loss == pytest.approx(((0.25 - x) ** 2).mean(), rel=1e-6)
    mean = x.mean(axis=0)
    r2 = 1 - ((x - 0.25) ** 2).sum(0) / ((x - mean) ** 2).sum(0)
    np.testing.assert_allclose(ev.r2_per_word, r2, rtol=1e-9)
    np.testing.assert_allclose(ev.frequency, mean, rtol=1e-12)
    assert ev.recall == 0.0 and ev.false_positive_rate == 0.0  # 0.25 is below the 0.5 threshold


# On a GPU losses are checked at log points, not every step: the error must still name the exact step.
@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"))],
)
def test_nan_loss_stops_with_step_and_keeps_last_good(circle_store, tmp_path, monkeypatch, device):
    from bowsflow.models import BowsAutoencoder

    real = BowsAutoencoder.training_loss
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        out = real(self, *args, **kwargs)
        return out * float("nan") if calls["n"] == 7 else out

    monkeypatch.setattr(BowsAutoencoder, "training_loss", poisoned)
    cfg = TrainConfig(arch="tied_ae", d_latent=2, batch_size=64, steps=20, log_every=5, device=device)
    with pytest.raises(TrainingError, match=r"loss is nan at step 7 \(epoch 1\).*step 5"):
        train(circle_store, cfg, workdir=tmp_path)
    model, meta = load_model(tmp_path / "last_good.safetensors")
    assert meta["step"] == 5 and all(torch.isfinite(p).all() for p in model.parameters())


def test_device_choice(caplog, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="device: cuda was asked for, but torch sees no CUDA GPU"):
        resolve_device("cuda")
    with caplog.at_level(logging.INFO):
        assert resolve_device("auto").type == "cpu"
    assert "falls back" in caplog.text or "auto -> cpu" in caplog.text


BASE = {"corpora": {"w": {"source": "wiki-vital"}, "s": {"source": "synthetic"}}}


def test_sweep_names_are_readable_and_ordered():
    names = [
        n for n, _ in sweep_model_names("t", {"weight_decay": [0.0, 1.0, 0.0001], "d_latent": [8, 16], "seed": [0]})
    ]
    assert names == [
        "t-wd0-m8-s0",
        "t-wd0-m16-s0",
        "t-wd1-m8-s0",
        "t-wd1-m16-s0",
        "t-wd0.0001-m8-s0",
        "t-wd0.0001-m16-s0",
    ]
    cfg = validate_config(
        BASE
        | {
            "sweeps": {
                "t": {"base": {"corpus": "s", "arch": "tied_ae", "d_latent": 2, "lr": 0.1}, "grid": {"seed": [1, 2]}}
            }
        }
    )
    specs = model_specs(cfg)
    assert list(specs) == ["t-s1", "t-s2"]
    assert specs["t-s2"]["seed"] == 2 and specs["t-s2"]["lr"] == 0.1 and specs["t-s2"]["batch_size"] == 256


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"models": {"a": {"corpus": "w", "arch": "conv", "d_latent": 4}}},
            "config key models.a.arch: unknown architecture 'conv'",
        ),
        (
            {"models": {"a": {"corpus": "w", "arch": "tied_ae", "d_latent": 0}}},
            "config key models.a.d_latent: 0 is less than the minimum of 1",
        ),
        (
            {"models": {"a": {"corpus": "nope", "arch": "tied_ae", "d_latent": 4}}},
            "config key models.a.corpus: no corpus named 'nope'",
        ),
        (
            {"models": {"a": {"corpus": "w", "arch": "bilinear", "d_latent": 4}}},
            "config key models.a.d_hidden: bilinear needs a hidden size d_hidden",
        ),
        (
            {
                "models": {"t-s1": {"corpus": "w", "arch": "tied_ae", "d_latent": 4}},
                "sweeps": {"t": {"base": {"corpus": "w", "arch": "tied_ae", "d_latent": 4}, "grid": {"seed": [1]}}},
            },
            "model name 't-s1' clashes with models.t-s1",
        ),
        (
            {"sweeps": {"t": {"base": {"corpus": "w", "arch": "tied_ae"}, "grid": {"d_latent": [-2]}}}},
            "config key sweeps.t.d_latent: -2 is less than",
        ),
        ({"training": {"device": "tpu"}}, "config key training.device"),
        ({"training": {"output_screening": "sometimes"}}, "config key training.output_screening"),
    ],
)
def test_bad_model_config(extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        validate_config(BASE | extra)


def test_comparison_groups_equal_budgets():
    def entry(name, arch, n, loss):
        return (
            name,
            {"corpus": "w", "arch": arch, "d_latent": 32, "d_hidden": 1, "weight_decay": 0.0},
            {"n_parameters": n, "val_loss": loss, "recall": 0.5, "false_positive_rate": 0.1, "r2_median": 0.2},
        )

    rows = comparison_rows(
        [entry("r", "relu_mlp", 72175, 0.2), entry("b", "bilinear", 72144, 0.1), entry("t", "tied_ae", 66000, 0.3)]
    )
    assert [(r["model"], r["budget"]) for r in rows] == [("t", "B1"), ("b", "B2"), ("r", "B2")]
    assert not math.isnan(rows[0]["val_loss"])
