"""Screening the decoder's outputs with a bf16 product: the candidates hold every output that is on
(a brute-force float64 and float32 reference), exclude outputs well below zero, and the screened
loss and gradients equal the dense ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bowsflow.data.batches import SparseBatch
from bowsflow.models import build_model
from bowsflow.models.losses import decode_and_loss
from bowsflow.models.output_screening import BF16_UNIT_ROUNDOFF, relu_support_candidates


def near_zero_problem(seed=0, B=64, V=300, m=24):
    """r, Wt, b in float32 where a third of the outputs lie within ±1e-6·‖r‖‖w‖ of zero (the bias of
    each word cancels its product with one sample, up to a tiny offset), with row norms from 1e-3 to
    1e3, and the rest of the outputs well below zero."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(B, m, generator=g) * torch.logspace(-3, 3, B)[:, None]
    Wt = torch.randn(V, m, generator=g) * torch.logspace(-2, 1, V)[torch.randperm(V, generator=g)][:, None]
    b = -(r.double().norm(dim=1).max() * Wt.double().norm(dim=1) * 0.5).float()  # mostly off
    pick = torch.randint(0, B, (V,), generator=g)
    near = torch.rand(V, generator=g) < 0.33
    cancel = (r.double()[pick] * Wt.double()).sum(1)
    offset = (
        (torch.rand(V, generator=g, dtype=torch.float64) - 0.5)
        * 2e-6
        * r.double()[pick].norm(dim=1)
        * Wt.double().norm(dim=1)
    )
    b = torch.where(near, (-cancel + offset).float(), b)
    return r, Wt, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidates_hold_every_positive_output(seed):
    r, Wt, b = near_zero_problem(seed)
    B, V = r.shape[0], Wt.shape[0]
    rows = torch.tensor([0, 0, 5, 63])
    cols = torch.tensor([3, 299, 7, 0])
    cand_r, cand_c = relu_support_candidates(r, Wt, b, rows, cols)
    flat = cand_r * V + cand_c
    assert torch.all(flat[1:] > flat[:-1])  # row-major, no repeats
    chosen = torch.zeros(B, V, dtype=torch.bool)
    chosen[cand_r, cand_c] = True
    exact = r.double() @ Wt.double().t() + b.double()
    as_float32 = torch.addmm(b, r, Wt.t())
    assert (exact > 0).any() and (exact < 0).any()
    assert not ((exact > 0) & ~chosen).any(), "an output on (float64) was screened out"
    assert not ((as_float32 > 0) & ~chosen).any(), "an output on (float32) was screened out"
    assert chosen[rows, cols].all()
    # and the screen is a screen: outputs further below zero than a generous bound on the bf16
    # product's error are never candidates (the margin is about 3u‖r‖‖w‖ + 2u|b|)
    u = BF16_UNIT_ROUNDOFF
    bound = 8 * u * r.double().norm(dim=1)[:, None] * Wt.double().norm(dim=1)[None, :] + 4 * u * b.double().abs()
    far_below = exact < -bound
    far_below[rows, cols] = False
    assert far_below.sum() > B * V // 2
    assert not (chosen & far_below).any()


def sparse_regime(dtype, B=48, V=200, m=6, seed=0):
    torch.manual_seed(seed)
    model = build_model("tied_ae", V, m).to(dtype)
    with torch.no_grad():
        model.b.fill_(-0.05)  # a few per cent of outputs on
    x = np.random.default_rng(seed).random((B, V)) < 0.05
    return model, SparseBatch.from_dense(x).torch()


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_screened_loss_and_gradients_equal_the_dense_path(dtype, rtol):
    model, (idx, off, rows, cols) = sparse_regime(dtype)
    Wt = model.W.t().contiguous().detach()
    h = torch.nn.functional.embedding_bag(idx, Wt, off, mode="sum")
    results = []
    for screen in (False, True):
        r, W, b = (t.clone().requires_grad_() for t in (h, Wt, model.b.detach()))
        stats = {}
        loss = decode_and_loss(r, W, b, rows, cols, screen=screen, stats=stats)
        loss.backward()
        results.append((loss, r.grad, W.grad, b.grad, stats["output_density"]))
    (dense, screened) = results
    density = dense[4]
    assert 0 < density < 0.2
    assert screened[4] == density
    for u, v in zip(dense[:4], screened[:4]):
        torch.testing.assert_close(v, u, rtol=rtol, atol=rtol * float(u.detach().abs().max()))


def test_screened_path_is_deterministic():
    model, (idx, off, rows, cols) = sparse_regime(torch.float32, seed=3)
    grads = []
    for _ in range(2):
        model.zero_grad()
        model.output_screening, model.decoder_stats["output_density"] = True, 0.0
        model.training_loss(idx, off, rows, cols).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for u, v in zip(*grads):
        assert torch.equal(u, v)


def test_model_screens_once_few_outputs_are_on(monkeypatch):
    """The first step has no density yet (dense product); its backward pass records the share of
    outputs on, and below SCREEN_BELOW_OUTPUT_DENSITY the next step screens."""
    import bowsflow.models.output_screening as screening

    calls = []
    original = screening.relu_support_candidates
    monkeypatch.setattr(screening, "relu_support_candidates", lambda *a: calls.append(1) or original(*a))
    model, (idx, off, rows, cols) = sparse_regime(torch.float32)
    model.output_screening = True
    model.training_loss(idx, off, rows, cols).backward()
    assert calls == [] and model.decoder_stats["output_density"] < 0.05
    model.training_loss(idx, off, rows, cols).backward()
    assert calls == [1]
    model.output_screening = False
    model.training_loss(idx, off, rows, cols).backward()
    assert calls == [1]
