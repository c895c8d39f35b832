"""Claims on the local learning coefficient (the degeneracy paper's starting point, singular learning
theory): degenerate parameters do not count toward the LLC, and how weight decay moves it.

The estimates come from the LLC lens (``results/analysis/{model}/llc.json``) where a model has one; the
planted models of ``llc.degenerate_parameters`` are sampled here, with the lens' settings for the
architecture. The controls are linear regressions, whose LLC is known in closed form: d/2 for d
parameters that all enter the function, whatever is added that does not.
"""

from __future__ import annotations

import numpy as np

from bowsflow.claims.registry import ClaimOptions, Evidence, NotTestable, claim, control
from bowsflow.claims.run import RunData
from bowsflow.claims.stats import welch_test


def _regression(n: int, d: int, seed: int):
    """A least-squares regression on d Gaussian features (its exact minimum), its loss and batches."""
    import torch

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, dtype=torch.float64, generator=g)
    y = X @ torch.randn(d, dtype=torch.float64, generator=g) + 0.5 * torch.randn(n, dtype=torch.float64, generator=g)
    w_star = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]

    def batches(chain, size=n // 4):
        rng = np.random.default_rng([seed, chain])
        while True:
            yield torch.as_tensor(rng.choice(n, size, replace=False))

    return X, y, w_star, batches


def regression_llc(d: int, seed: int, redundant: bool = False, n: int = 2000) -> dict:
    """The LLC of a linear regression with d features (λ = d/2), or of its redundant reparameterisation
    w = [I, I] v (2d parameters, the same function and the same λ), by the lens' estimator."""
    import torch

    from bowsflow.lenses.llc.sampling import SamplerSettings, run_chains

    X, y, w_star, batches = _regression(n, d, seed)
    A = torch.cat([torch.eye(d), torch.eye(d)], dim=1).double() if redundant else None

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.v = torch.nn.Parameter(w_star.clone() if A is None else torch.linalg.pinv(A) @ w_star)

        def weight(self):
            return self.v if A is None else A @ self.v

    def loss(model, idx):
        r = y[idx] - X[idx] @ model.weight()
        return 0.5 * (r * r).mean()

    # ε nβ ≈ 0.08 at n = 2,000: a few percent of discretisation bias, levelled traces in 300 draws
    settings = SamplerSettings(step_size=3e-4, localization=1.0, n_chains=4, n_draws=300, n_burnin=75, seed=seed)
    model = Linear()
    summary = run_chains(model, loss, batches, n, settings).summary()
    return summary | {"n_parameters": sum(p.numel() for p in model.parameters())}


def contrast_evidence(a: dict, b: dict, compared: str, options: ClaimOptions, null: float, direction: str, n_counts):
    """Evidence of λ̂(a) − λ̂(b) against ``null`` from the two estimates' per-chain values (Welch's interval)."""
    per_a, per_b = np.asarray(a["llc_per_chain"], dtype=float), np.asarray(b["llc_per_chain"], dtype=float)
    interval, p = welch_test(per_a, per_b, null, options.confidence, direction)
    return Evidence(
        compared=compared,
        effect=float(per_a.mean() - per_b.mean()),
        null=null,
        n=n_counts,
        interval=interval,
        p_value=p,
        details={
            "llc": [a["llc"], b["llc"]],
            "n_parameters": [a["n_parameters"], b["n_parameters"]],
            "warnings": a.get("warnings", []) + b.get("warnings", []),
        },
    )


@claim(
    "llc.degenerate_parameters",
    paper="Bushnaq et al. 2024 (degeneracy), after Watanabe",
    statement="Degenerate parameters do not count toward the LLC: adding parameters that leave the function "
    "unchanged (copied ReLUs with their outgoing weights split, dead units) raises λ̂ by less than the Δd/2 "
    "that as many regular parameters would add.",
    compares="each relu_mlp model against the same model with 4 of its hidden units copied (outgoing weights "
    "split between the copies) and 4 dead units added",
    metric="λ̂(planted) − λ̂(original), SGLD chains with the lens' settings; null Δd/2",
    direction="less",
    min_n=3,
    n_counts="chains per model",
)
def degenerate_parameters(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    models = run.analysed(run.select(names, arch="relu_mlp"))
    if not models:
        raise NotTestable("no relu_mlp model in the run")
    out = []
    for m in models:
        original, planted = planted_relu_llc(run, m, options.seed)
        delta_d = planted["n_parameters"] - original["n_parameters"]
        out.append(
            contrast_evidence(planted, original, m, options, delta_d / 2, "less", len(original["llc_per_chain"]))
        )
    return out


def planted_relu_llc(run: RunData, model: str, seed: int, k: int = 4) -> tuple[dict, dict]:
    """(the planted model's LLC, the original's): the original as the lens estimated it; the planted one
    sampled with the same settings on the same batches."""
    import tempfile
    from pathlib import Path

    from bowsflow.lenses.llc.analysis import LLCOptions, analyze_llc
    from bowsflow.models.checkpoints import load_model, save_checkpoint

    original = run.lens_json(model, "llc")
    if not original:
        raise NotTestable(f"{model} has no LLC estimate (the llc lens did not run)")
    net, meta = load_model(run.root / "models" / model / "model.safetensors")
    planted = planted_relu_mlp(net, k, seed)
    options = LLCOptions(**original["options"])  # the settings the lens estimated the original with
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "planted.safetensors"
        save_checkpoint(planted, path, {**meta, "d_hidden": str(planted.hidden_width)})
        spec = run.specs[model]
        summary, _ = analyze_llc(
            bows=run.root / "bows" / spec["corpus"] / "bows.zarr",
            checkpoint=path,
            model_config=run.root / "models" / model / "config.json",
            store=Path(tmp) / "llc.zarr",
            options=options,
        )
    return summary, original


def planted_relu_mlp(net, k: int, seed: int):
    """The same function with 2k more hidden units: k units copied (incoming weights and bias copied, the
    outgoing weights split in half between original and copy) and k dead units (incoming weights random,
    bias far below every pre-activation)."""
    import torch

    from bowsflow.models.registry import build_model

    rng = np.random.default_rng(seed)
    d, m = net.W_in.shape
    V = net.b.shape[0]
    out = build_model("relu_mlp", V, m, d + 2 * k, output=net.output)
    copy = rng.choice(d, k, replace=False)
    with torch.no_grad():
        W_in, b_in, W_out = net.W_in.detach().clone(), net.b_in.detach().clone(), net.W_out.detach().clone()
        W_out[:, copy] /= 2
        dead_in = torch.as_tensor(rng.normal(size=(k, m)) / np.sqrt(m), dtype=W_in.dtype)
        out.W_in.copy_(torch.cat([W_in, W_in[copy], dead_in]))
        out.b_in.copy_(torch.cat([b_in, b_in[copy], torch.full((k,), -1e6, dtype=b_in.dtype)]))
        out.W_out.copy_(torch.cat([W_out, W_out[:, copy], torch.zeros(m, k, dtype=W_out.dtype)], dim=1))
        out.W_e.copy_(net.W_e)
        out.b.copy_(net.b)
    return out


@control("llc.degenerate_parameters", "positive", "a linear regression (d = 3) and its redundant reparameterisation")
def _degenerate_positive(options: ClaimOptions) -> list[Evidence]:
    plain, redundant = regression_llc(3, options.seed), regression_llc(3, options.seed, redundant=True)
    delta = redundant["n_parameters"] - plain["n_parameters"]
    return [contrast_evidence(redundant, plain, "redundant", options, delta / 2, "less", 4)]


@control("llc.degenerate_parameters", "negative", "a linear regression with 3 more features that enter the function")
def _degenerate_negative(options: ClaimOptions) -> list[Evidence]:
    plain, wider = regression_llc(3, options.seed), regression_llc(6, options.seed)
    delta = wider["n_parameters"] - plain["n_parameters"]
    return [contrast_evidence(wider, plain, "regular", options, delta / 2, "less", 4)]


@claim(
    "llc.weight_decay",
    paper="contrast (no paper claim; reported as it comes out)",
    statement="Weight decay lowers the LLC of the tied autoencoder (hypothesis: it pushes the weights toward "
    "the data's low-rank structure, where more directions are degenerate).",
    compares="tied_ae at weight decay 4 against weight decay 0 (same width), each over its seeds",
    metric="mean λ̂ over seeds (weight decay 4) − mean over seeds (weight decay 0); Welch over seeds",
    direction="less",
    min_n=2,
    n_counts="seeds per configuration",
)
def weight_decay(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    tied = run.select(names, arch="tied_ae")
    groups = {}
    for group in run.replicates(tied):
        spec = run.specs[group[0]]
        estimates = [run.lens_json(m, "llc") for m in group]
        if all(estimates):
            groups.setdefault(spec.get("d_latent"), {})[float(spec.get("weight_decay", 0.0))] = estimates
    out = []
    for width, by_decay in sorted(groups.items()):
        if 0.0 in by_decay and 4.0 in by_decay:
            with_decay = np.array([e["llc"] for e in by_decay[4.0]])
            without = np.array([e["llc"] for e in by_decay[0.0]])
            interval, p = welch_test(with_decay, without, 0.0, options.confidence, "less")
            out.append(
                Evidence(
                    compared=f"m = {width}",
                    effect=float(with_decay.mean() - without.mean()),
                    null=0.0,
                    n=int(min(with_decay.size, without.size)),
                    interval=interval,
                    p_value=p,
                    details={"llc_weight_decay_4": with_decay.tolist(), "llc_weight_decay_0": without.tolist()},
                )
            )
    if not out:
        raise NotTestable("no tied_ae width with LLC estimates at both weight decay 0 and 4")
    return out


def _seed_contrast(d_a: int, d_b: int, options: ClaimOptions, compared: str) -> list[Evidence]:
    a = [regression_llc(d_a, options.seed + s)["llc"] for s in range(3)]
    b = [regression_llc(d_b, options.seed + 10 + s)["llc"] for s in range(3)]
    interval, p = welch_test(np.array(a), np.array(b), 0.0, options.confidence, "less")
    return [Evidence(compared, float(np.mean(a) - np.mean(b)), 0.0, 3, interval, p_value=p)]


@control("llc.weight_decay", "positive", "regressions on 2 features against regressions on 4, 3 seeds each")
def _decay_positive(options: ClaimOptions) -> list[Evidence]:
    return _seed_contrast(2, 4, options, "d = 2 vs 4")


@control("llc.weight_decay", "negative", "regressions on 3 features against regressions on 3, 3 seeds each")
def _decay_negative(options: ClaimOptions) -> list[Evidence]:
    return _seed_contrast(3, 3, options, "d = 3 vs 3")
