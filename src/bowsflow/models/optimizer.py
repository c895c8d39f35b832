"""AdamW and its learning-rate schedule, as training steps them.

The update is torch's public functional AdamW, ``torch.optim.adamw.adamw(..., fused=True)`` (the fused
kernel ``torch.optim.AdamW(fused=True)`` runs on the CPU and on a GPU), stepped with a ``LambdaLR``-like
schedule, so the weights equal ``torch.optim.AdamW(fused=True)``'s to the bit
(``tests/models/test_optimizer.py`` runs both side by side). The functional form is used because building
a ``torch.optim.Optimizer`` imports ``torch._dynamo``, 1.5 s of every training job. Each parameter is
handed over in its memory order (a permuted view of every tensor, contiguous: an elementwise update does
not care about the order), since the kernel copies what is not contiguous and the embedding is stored
word-major (its [m, V] view is a transpose).
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
        # one call per device and dtype, as torch.optim groups them
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
        from torch.optim.adamw import adamw

        beta1, beta2 = self.betas
        for params, grads, exp_avgs, exp_avg_sqs, steps in groups.values():
            adamw(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                fused=True,
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=self.param_groups[0]["lr"],
                weight_decay=self.weight_decay,
                eps=self.eps,
                maximize=False,
            )
        self.steps_done += 1
        self.param_groups[0]["lr"] = self.base_lr * self.lr_factor(self.steps_done)
