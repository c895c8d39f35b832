"""bowsflow's AdamW against torch.optim.AdamW(fused=True) with a LambdaLR schedule: the same weights to
the bit, parameters in any memory layout."""

from __future__ import annotations

import math

import pytest
import torch

from bowsflow.models.optimizer import AdamW
from bowsflow.models.training import cosine_lr


def _params(seed: int) -> list[torch.nn.Parameter]:
    """A matrix, a vector, a small matrix, and a matrix stored transposed (the embedding's layout:
    its [5, 40] view has strides (1, 5)) and one stored with permuted dimensions."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(50, 8), (8,), (3, 4)]
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    params.append(torch.nn.Parameter(torch.randn(40, 5, generator=g).t()))
    params.append(torch.nn.Parameter(torch.randn(3, 4, 6, generator=g).permute(2, 0, 1)))
    return params


def _gradients(step: int, params) -> list[torch.Tensor | None]:
    g = torch.Generator().manual_seed(1000 + step)
    grads = [torch.randn(p.shape, generator=g) * 10.0 ** (step % 3 - 1) for p in params]
    grads[2] = None if step % 4 == 1 else grads[2]  # a parameter left out of some steps: no update, no count
    return grads


@pytest.mark.parametrize("weight_decay, warmup", [(0.0, 0), (0.05, 3)])
def test_adamw_equals_torch_fused_bit_for_bit(weight_decay, warmup):
    total, lr = 25, 3e-3
    ours, theirs = _params(0), _params(0)
    assert not ours[3].is_contiguous() and not ours[4].is_contiguous()
    factor = lambda s: cosine_lr(s, total, warmup)  # noqa: E731
    opt = AdamW(ours, lr, weight_decay, lr_factor=factor)
    ref = torch.optim.AdamW(theirs, lr=lr, weight_decay=weight_decay, fused=True)
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
    # the moments keep the parameters' layouts (so the kernel gets contiguous views, no copies)
    assert opt.state[3][1].stride() == ours[3].stride() and opt.state[4][2].stride() == ours[4].stride()


def test_adamw_updates_a_strided_parameter_like_a_contiguous_one():
    # an elementwise update cannot depend on the layout: the transposed parameter (handed to the
    # kernel as a contiguous permuted view) and its contiguous copy end equal
    g = torch.Generator().manual_seed(5)
    strided = torch.nn.Parameter(torch.randn(30, 7, generator=g).t())
    dense = torch.nn.Parameter(strided.detach().contiguous())
    a, b = AdamW([strided], 1e-2, 0.1), AdamW([dense], 1e-2, 0.1)
    for _ in range(5):
        grad = torch.randn(7, 30, generator=g)
        strided.grad, dense.grad = grad.t().contiguous().t(), grad
        a.step()
        b.step()
    assert torch.equal(strided.detach(), dense.detach())


def test_adamw_with_mixed_dtypes_equals_torch_fused():
    # one kernel call per dtype, as torch.optim groups them: float32 and float64 parameters together
    g = torch.Generator().manual_seed(7)
    ours = [torch.nn.Parameter(torch.randn(6, 3, generator=g)), torch.nn.Parameter(torch.randn(4, dtype=torch.float64))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt, ref = AdamW(ours, 1e-2, 0.1), torch.optim.AdamW(theirs, lr=1e-2, weight_decay=0.1, fused=True)
    for _ in range(4):
        grads = [torch.randn(p.shape, dtype=p.dtype, generator=g) for p in ours]
        for p, q, grad in zip(ours, theirs, grads):
            p.grad, q.grad = grad, grad.clone()
        opt.step()
        ref.step()
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs))
    assert ours[1].dtype == torch.float64


def test_adamw_rate_follows_the_schedule():
    # lr at step k = base · factor(k), the factor here a closed form
    p = torch.nn.Parameter(torch.zeros(2))
    opt = AdamW([p], 0.5, 0.0, lr_factor=lambda s: 1 / (s + 1))
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


def test_adamw_does_not_depend_on_the_thread_count():
    # the kernel is elementwise: one thread and three give the same bits (a config's thread count
    # must not be what makes its checkpoint)
    results = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            g = torch.Generator().manual_seed(9)
            p = torch.nn.Parameter(torch.randn(1001, 17, generator=g))
            opt = AdamW([p], 1e-3, 0.01)
            for _ in range(4):
                p.grad = torch.randn(1001, 17, generator=g)
                opt.step()
            results.append(p.detach())
    finally:
        torch.set_num_threads(before)
    assert torch.equal(*results)


def test_adamw_refuses_a_sparse_gradient():
    p = torch.nn.Parameter(torch.zeros(3, 2))
    p.grad = torch.zeros(3, 2).to_sparse()
    with pytest.raises(ValueError, match="sparse gradients"):
        AdamW([p], 1e-3).step()
