"""AdamW and its learning-rate schedule, as training steps them on the CPU.

The arithmetic is that of ``torch.optim.AdamW`` (its single-tensor path, the CPU's default) with a
``LambdaLR`` schedule, operation for operation, so the weights are the same to the bit
(``tests/models/test_optimizer.py`` runs both side by side). It exists because building any
``torch.optim.Optimizer`` imports ``torch._dynamo``: 1.5 s of every training job, a fifth of a
300-step run at m = 32 (``benchmarks/bench_train_reference.py``). On a GPU, training keeps torch's
fused AdamW (one kernel for every parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


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
        # per parameter: (step count as torch keeps it — a float32 scalar —, first moment, second moment,
        # a workspace for the update's denominator)
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
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
        lr = self.param_groups[0]["lr"]
        beta1, beta2 = self.betas
        for i, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if i not in self.state:
                self.state[i] = (
                    torch.tensor(0.0),
                    torch.zeros_like(param),
                    torch.zeros_like(param),
                    torch.empty_like(param),
                )
            step_t, exp_avg, exp_avg_sq, denom = self.state[i]
            step_t += 1
            if self.weight_decay != 0:
                param.mul_(1 - lr * self.weight_decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = step_t.item()
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            # torch's (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps), in a buffer kept across steps:
            # the same operations (so the same bits) without two fresh parameter-sized tensors a step
            torch.sqrt(exp_avg_sq, out=denom).div_(bias_correction2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)
        self.steps_done += 1
        self.param_groups[0]["lr"] = self.base_lr * self.lr_factor(self.steps_done)


class _FusedAdamW:
    """torch's fused AdamW with its LambdaLR schedule behind the same three calls (for a GPU)."""

    def __init__(self, params, lr: float, weight_decay: float, lr_factor: Callable[[int], float]) -> None:
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor)
        self.param_groups = self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.optimizer.step()
        self.schedule.step()


def adamw(params, lr: float, weight_decay: float, lr_factor: Callable[[int], float], device: torch.device):
    """The optimizer training uses: ``step()`` updates the parameters and moves the schedule on.

    On the CPU, :class:`AdamW`; on a GPU, torch's fused AdamW (one kernel for every parameter; the
    same formula, its own rounding)."""
    if device.type == "cuda":
        return _FusedAdamW(params, lr, weight_decay, lr_factor)
    return AdamW(params, lr, weight_decay, lr_factor=lr_factor)
