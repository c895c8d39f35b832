"""AdamW and its learning-rate schedule, as training steps them.

The update is torch's fused AdamW kernel (``torch._fused_adamw_``, what ``torch.optim.AdamW(fused=True)``
runs on the CPU and on a GPU) with a ``LambdaLR`` schedule, so the weights equal torch's to the bit
(``tests/models/test_optimizer.py`` runs both side by side). Two things torch.optim does not:

- no ``torch._dynamo`` import: building any ``torch.optim.Optimizer`` imports it, 1.5 s of every
  training job (a fifth of a 300-step run at m = 32, ``benchmarks/bench_train_reference.py``);
- each parameter is handed to the kernel in its memory order. The kernel wants contiguous tensors and
  otherwise copies a parameter, its gradient and both moments to temporaries and back; the embedding
  is stored word-major (its [m, V] view is a transpose), which cost 5 ms a step at V = 10,000,
  m = 256. A permuted view of every tensor in that order is contiguous, and an elementwise update does
  not care about the order.

The fused kernel makes one pass over each parameter where torch's single-tensor path (the CPU's
default, used here before) made eight: one update at V = 10,000, m = 256 takes 1.2 ms instead of 3.8
(BENCHMARKS.md, issue 18). Its rounding differs from that path's in the last bit of some weights, some
steps, so weights trained before and after the change differ at float32 rounding (amplified by
training); for a given config they are the same to the bit, on any thread count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


def _memory_order(t: torch.Tensor) -> tuple[int, ...]:
    """The permutation of t's dimensions from the largest stride to the smallest (a contiguous view's)."""
    return tuple(sorted(range(t.dim()), key=lambda d: (-t.stride(d), -d)))


class AdamW:
    """AdamW with decoupled weight decay over ``params``; ``lr`` is the base rate, scaled each step by
    ``lr_factor(step)`` (step = 0, 1, … : the updates done before this one) like ``LambdaLR``.

    ``param_groups[0]["lr"]`` holds the rate of the next step, as in torch."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        weight_decay: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        lr_factor: Callable[[int], float] = lambda step: 1.0,
    ) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("AdamW: no parameters to optimize")
        self.base_lr, self.weight_decay, self.betas, self.eps = float(lr), weight_decay, betas, eps
        self.lr_factor = lr_factor
        self.steps_done = 0
        # per parameter: (its step count as torch keeps it — a float32 scalar on its device —, first
        # moment, second moment), the moments laid out like the parameter
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.param_groups = [{"lr": self.base_lr * lr_factor(0)}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient, then the schedule's next rate."""
        # the kernel takes one device's and dtype's tensors per call, as torch.optim groups them
        groups: dict[tuple[torch.device, torch.dtype], tuple[list, list, list, list, list]] = {}
        for i, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise ValueError("AdamW: sparse gradients are not supported")
            if i not in self.state:
                step = torch.zeros((), dtype=torch.float32, device=param.device)
                self.state[i] = (step, torch.zeros_like(param), torch.zeros_like(param))
            step, exp_avg, exp_avg_sq = self.state[i]
            order = _memory_order(param)
            tensors = [t.permute(order) for t in (param, grad, exp_avg, exp_avg_sq)]
            if not all(t.is_contiguous() for t in tensors):  # the kernel copies what is not contiguous
                tensors = [param, grad, exp_avg, exp_avg_sq]
            lists = groups.setdefault((param.device, param.dtype), ([], [], [], [], []))
            for out, t in zip(lists, [*tensors, step]):
                out.append(t)
        beta1, beta2 = self.betas
        for params, grads, exp_avgs, exp_avg_sqs, steps in groups.values():
            torch._foreach_add_(steps, 1)
            torch._fused_adamw_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                lr=self.param_groups[0]["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=self.weight_decay,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )
        self.steps_done += 1
        self.param_groups[0]["lr"] = self.base_lr * self.lr_factor(self.steps_done)
