"""bowsflow's CPU AdamW against torch.optim.AdamW with a LambdaLR schedule: the same weights to the bit."""

from __future__ import annotations

import math

import pytest
import torch

from bowsflow.models.optimizer import AdamW, adamw
from bowsflow.models.training import cosine_lr


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(50, 8), (8,), (3, 4)]
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]


def _gradients(step: int, params) -> list[torch.Tensor | None]:
    g = torch.Generator().manual_seed(1000 + step)
    grads = [torch.randn(p.shape, generator=g) * 10.0 ** (step % 3 - 1) for p in params]
    grads[2] = None if step % 4 == 1 else grads[2]  # a parameter left out of some steps: no update, no count
    return grads


@pytest.mark.parametrize("weight_decay, warmup", [(0.0, 0), (0.05, 3)])
def test_adamw_equals_torch_bit_for_bit(weight_decay, warmup):
    total, lr = 25, 3e-3
    ours, theirs = _params(0), _params(0)
    factor = lambda s: cosine_lr(s, total, warmup)  # noqa: E731
    opt = AdamW(ours, lr, weight_decay, lr_factor=factor)
    ref = torch.optim.AdamW(theirs, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(ref, factor)
    for step in range(total):
        assert opt.param_groups[0]["lr"] == ref.param_groups[0]["lr"]
        for group, grads in ((ours, _gradients(step, ours)), (theirs, _gradients(step, theirs))):
            for p, grad in zip(group, grads):
                p.grad = grad
        opt.step()
        ref.step()
        schedule.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b), f"step {step}"
    # the one left out of some steps had fewer updates: its own step count, as torch keeps it
    assert float(opt.state[2][0]) == float(ref.state[theirs[2]]["step"]) == total - math.ceil((total - 1) / 4)


def test_adamw_rate_follows_the_schedule():
    # lr at step k = base · factor(k), the factor here a closed form
    p = torch.nn.Parameter(torch.zeros(2))
    opt = adamw([p], 0.5, 0.0, lambda s: 1 / (s + 1), torch.device("cpu"))
    rates = []
    for _ in range(4):
        rates.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(2)
        opt.step()
        opt.zero_grad()
        assert p.grad is None
    assert rates == [0.5, 0.25, 0.5 / 3, 0.125]


def test_first_step_moves_each_weight_by_the_rate():
    # Adam's first step is lr · g / (|g| + eps·…) ≈ lr · sign(g): the closed form of the bias correction
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = AdamW([p], 0.01, 0.0)
    p.grad = torch.tensor([2.0, -0.5, 1e-3], dtype=torch.float64)
    opt.step()
    expected = -0.01 * p.grad / (p.grad.abs() + 1e-8)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=0)


def test_gpu_wrapper_follows_the_same_schedule():
    # the GPU's optimizer (torch's fused AdamW + LambdaLR behind the same calls), run here on the CPU
    # (torch's fused kernel has a CPU version): the same rates step by step, and close weights
    from bowsflow.models.optimizer import _FusedAdamW

    factor = lambda s: cosine_lr(s, 10, 2)  # noqa: E731
    ours, fused = _params(3), _params(3)
    a, b = AdamW(ours, 1e-2, 0.01, lr_factor=factor), _FusedAdamW(fused, 1e-2, 0.01, factor)
    for step in range(10):
        assert a.param_groups[0]["lr"] == b.param_groups[0]["lr"]
        for group in (ours, fused):
            for p, grad in zip(group, _gradients(step, group)):
                p.grad = grad
        a.step()
        b.step()
        b.zero_grad()
        assert all(p.grad is None for p in fused)
    for u, v in zip(ours, fused):  # the same formula, the fused kernel's own rounding
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6)
