"""The local learning coefficient (LLC) by SGLD around trained parameters (Lau et al. 2023).

With L_n the loss on n training samples and w* the trained parameters, the estimator is

    λ̂ = nβ (E_w[L_n(w)] − L_n(w*)),   nβ = n / log n by default,

the expectation over the tempered posterior localised at w*, exp(−nβ L_n(w) − γ/2 ‖w − w*‖²), sampled by
SGLD: w ← w − ε/2 (nβ ∇L_b(w) + γ (w − w*)) + √ε N(0, I), with L_b the loss of a batch. The sampler is
devinterp's (``devinterp.optim.SGMCMC.sgld``, the field's implementation); this module runs its chains,
pairs each draw's batch loss with the loss of w* on the same batch (so batch-to-batch noise cancels)
and checks what practitioners check before trusting an estimate: several chains, each chain's λ̂ and
their spread, a trace that levels off after the burn-in, no chain that diverges.

For a regular model (a full-rank quadratic loss around w*) λ = d/2, however the loss is scaled, and a
redundant reparameterisation (more parameters, the same function) leaves it unchanged: the tests hold
the estimator to both.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class SamplerSettings:
    step_size: float  # ε
    localization: float  # γ
    n_chains: int = 4
    n_draws: int = 120  # SGLD steps per chain (each a draw), burn-in included
    n_burnin: int = 40  # first draws of each chain left out of the estimate
    nbeta: float | None = None  # inverse temperature nβ; None: n / log n
    seed: int = 0


@dataclass
class ChainsResult:
    trace: np.ndarray  # [chains, draws] L_b(w_t) − L_b(w*): the loss above the trained one, per draw
    init_loss: float  # L at w* averaged over the draws' batches
    nbeta: float
    n: int
    n_burnin: int
    warnings: list[str] = field(default_factory=list)

    @property
    def per_chain(self) -> np.ndarray:
        """λ̂ of each chain: nβ × its mean excess loss after the burn-in (NaN for a chain that diverged)."""
        return self.nbeta * self.trace[:, self.n_burnin :].mean(axis=1)

    def summary(self, confidence: float = 0.95) -> dict:
        """λ̂ (mean over chains), its spread, a t interval over chains, and the warnings."""
        from scipy import stats

        per = self.per_chain
        good = per[np.isfinite(per)]
        k = good.size
        mean = float(good.mean()) if k else float("nan")
        sd = float(good.std(ddof=1)) if k > 1 else float("nan")
        half = float(stats.t.ppf(0.5 + confidence / 2, k - 1) * sd / math.sqrt(k)) if k > 1 else float("nan")
        return {
            "llc": mean,
            "llc_std_between_chains": sd,
            "interval": [mean - half, mean + half],
            "confidence": confidence,
            "n_chains": int(self.trace.shape[0]),
            "n_chains_used": int(k),
            "llc_per_chain": per.tolist(),
            "n_draws": int(self.trace.shape[1]),
            "n_burnin": int(self.n_burnin),
            "nbeta": float(self.nbeta),
            "n_samples": int(self.n),
            "init_loss": float(self.init_loss),
            "warnings": list(self.warnings),
        }


def default_nbeta(n: int) -> float:
    """n / log n: the inverse temperature at which λ̂ is consistent (Watanabe's WBIC temperature)."""
    return n / math.log(n)


def run_chains(
    model: torch.nn.Module,
    loss: Callable[[torch.nn.Module, object], torch.Tensor],
    batches: Callable[[int], Iterator],
    n: int,
    settings: SamplerSettings,
    progress: Callable[[str], None] | None = None,
) -> ChainsResult:
    """SGLD chains from the trained parameters of ``model`` (left unchanged): ``loss(model, batch)`` is the
    mean loss of a batch, ``batches(chain)`` an endless iterator of batches for one chain, n the number of
    training samples. Chains are seeded by (seed, chain)."""
    import copy

    from devinterp.optim import SGMCMC

    nbeta = settings.nbeta if settings.nbeta is not None else default_nbeta(n)
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    trained = copy.deepcopy(model)  # held at w*, for each draw's paired loss
    trace = np.full((settings.n_chains, settings.n_draws), np.nan)
    init_losses = []
    notes: list[str] = []
    for chain in range(settings.n_chains):
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(start[name])
        device = next(model.parameters()).device  # the noise is drawn where the parameters live
        generator = torch.Generator(device=device).manual_seed(settings.seed * 1_000_003 + chain)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            sampler = SGMCMC.sgld(
                model.parameters(), lr=settings.step_size, localization=settings.localization, nbeta=nbeta
            )
        stream = batches(chain)
        for draw in range(settings.n_draws):
            batch = next(stream)
            with torch.no_grad():
                at_start = float(loss(trained, batch))
            sampler.zero_grad(set_to_none=True)
            value = loss(model, batch)
            value.backward()
            excess = float(value.detach()) - at_start
            init_losses.append(at_start)
            if not math.isfinite(excess):
                notes.append(f"chain {chain} diverged at draw {draw} (the loss is {float(value.detach())}): left out")
                break
            trace[chain, draw] = excess
            sampler.step(noise_generator=generator)
        if progress is not None:
            kept = trace[chain, settings.n_burnin :]
            estimate = nbeta * kept.mean() if np.isfinite(kept).all() else float("nan")
            progress(f"chain {chain + 1}/{settings.n_chains}: λ̂ = {estimate:.4g}")
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(start[name])
    result = ChainsResult(trace, float(np.mean(init_losses)), nbeta, n, settings.n_burnin, notes)
    result.warnings.extend(trace_warnings(result))
    return result


def trace_warnings(result: ChainsResult) -> list[str]:
    """What makes an estimate untrustworthy, in words: a chain whose excess loss grew beyond 100× the
    others' median (diverging), a trace that has not levelled off after the burn-in (the mean of the last
    quarter of the draws above the quarter before it by more than 3 standard errors), an excess loss that
    is negative on average (the chain found lower loss than w*: w* is not a local minimum)."""
    out = []
    kept = result.trace[:, result.n_burnin :]
    finite = np.isfinite(kept).all(axis=1)
    per = result.per_chain
    median = np.nanmedian(np.abs(per)) if np.isfinite(per).any() else np.nan
    for chain in np.flatnonzero(finite):
        if median > 0 and abs(per[chain]) > 100 * median:
            out.append(f"chain {chain} diverges: λ̂ = {per[chain]:.3g}, 100× the chains' median {median:.3g}")
    q = kept.shape[1] // 4
    chains = np.flatnonzero(finite)
    if q >= 1 and chains.size >= 3:  # the chains are independent replicates (successive draws are not)
        rise = kept[chains, -q:].mean(axis=1) - kept[chains, -2 * q : -q].mean(axis=1)
        se = rise.std(ddof=1) / math.sqrt(rise.size)
        if se > 0 and rise.mean() > 3 * se:
            out.append(
                f"the loss traces have not levelled off: their last quarter lies {rise.mean():.3g} above the "
                f"quarter before, {rise.mean() / se:.1f} standard errors over {rise.size} chains (more draws, or "
                "a larger step size)"
            )
    if np.isfinite(per).any() and np.nanmean(per) < 0:
        out.append("the excess loss is negative on average: the trained parameters are not at a local minimum")
    return out
