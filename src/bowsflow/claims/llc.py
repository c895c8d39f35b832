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


def _regression(n: int, d: int, seed: int, scales=None, duplicates: int = 0):
    """A least-squares regression on d Gaussian features (each times its ``scales``), the first ``duplicates``
    of them repeated as further columns (exactly dependent features), at its exact minimum; its batches."""
    import torch

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, dtype=torch.float64, generator=g)
    if scales is not None:
        X = X * torch.as_tensor(scales, dtype=torch.float64)
    X = torch.cat([X, X[:, :duplicates]], dim=1)
    d = X.shape[1]
    y = X @ torch.randn(d, dtype=torch.float64, generator=g) + 0.5 * torch.randn(n, dtype=torch.float64, generator=g)
    w_star = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]

    def batches(chain, size=n // 4):
        rng = np.random.default_rng([seed, chain])
        while True:
            yield torch.as_tensor(rng.choice(n, size, replace=False))

    return X, y, w_star, batches


def regression_llc(d: int, seed: int, redundant: bool = False, n: int = 2000, scales=None, duplicates: int = 0) -> dict:
    """The LLC of a linear regression with d features (λ = d/2), or of its redundant reparameterisation
    w = [I, I] v (twice the parameters, the same function and the same λ), by the lens' estimator;
    ``scales`` and ``duplicates`` as :func:`_regression` (duplicated features add parameters, not λ)."""
    import torch

    from bowsflow.lenses.llc.sampling import SamplerSettings, run_chains

    X, y, w_star, batches = _regression(n, d, seed, scales, duplicates)
    d = X.shape[1]
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
        planted, original = planted_relu_llc(run, m, options.seed)
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
    for group in run.replicates(run.sampled(tied)):
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


# --- the degeneracies the interaction lens counts, against the LLC ---------------------------------------------
def block_degenerate_directions(n_in: int, n_out: int, input_nulls: int, output_nulls: int) -> int:
    """Directions of a weight block W [n_out, n_in] along which the block's effect on the output does not
    change on the data: ΔW = u vᵀ with v in the null space of the input's Gram (W never sees v) or u in the
    null space of the Jacobian Gram at the block's output (nothing downstream reads u). They span
    n_in·n_out − (n_in − input_nulls)(n_out − output_nulls) dimensions."""
    return n_in * n_out - (n_in - input_nulls) * (n_out - output_nulls)


def relu_mlp_degenerate_directions(params: dict, h: np.ndarray, threshold: float) -> dict:
    """k, the parameter directions of a relu_mlp that the interaction lens' counts make free, over latent
    vectors h [n, m] (each count by the lens' own functions: Gram eigenvalues below ``threshold`` × the
    largest):

    - the hidden layer's incoming block [W_in, b_in] ((m + 1) × d): its input's dependent directions
      (Gram of h̃ = [h, 1]) and the pre-activations' directions that no output reads (Jacobian Gram of z
      with respect to hidden_pre, J(x) = W_eᵀ W_out D(x), D the ReLU's on/off pattern): dead units and the
      difference of copied units, for example;
    - the outgoing weights (m each) of units that are silent on every sample: their activation is an
      exact zero of the post-ReLU Gram, free together with everything above.

    Not counted: other dependent post-ReLU activations (a copied unit's outgoing split) free outgoing
    weights only while the incoming ones stay put (the two families multiply in the output, so together
    they are not flat), and the tied embedding W_e and the output bias b are taken as regular. So k is the
    dimension of one family of parameters that leaves the function on the data unchanged, and
    2λ ≤ d − k (Watanabe: directions of a flat family add nothing to λ, the others at most 1/2 each)."""
    from bowsflow.lenses.interaction.basis import degeneracy, gram_from_moments
    from bowsflow.linalg import sorted_eigh

    W_e, W_in, b_in, W_out = (params[k] for k in ("W_e", "W_in", "b_in", "W_out"))
    n, m = h.shape
    d = W_in.shape[0]
    on = (h @ W_in.T + b_in > 0).astype(np.float64)  # [n, d]
    latent_nulls = degeneracy(sorted_eigh(gram_from_moments(h.T @ h, h.sum(axis=0), n))[0], threshold)
    read = W_out.T @ W_e  # [d, V]: J(x)ᵀ = D(x) W_outᵀ W_e
    pre_jacobian = (read @ read.T) * (on.T @ on / n)  # E[Jᵀ J] = (W_outᵀ W_e W_eᵀ W_out) ⊙ E[D Dᵀ]
    jacobian_nulls = degeneracy(sorted_eigh(pre_jacobian)[0], threshold)
    silent = int((on.sum(axis=0) == 0).sum())
    k_in = block_degenerate_directions(m + 1, d, latent_nulls["n_below_threshold"], jacobian_nulls["n_below_threshold"])
    return {
        "k": int(k_in + m * silent),
        "incoming": int(k_in),
        "outgoing_of_silent_units": int(m * silent),
        "latent_gram_nulls": latent_nulls["n_below_threshold"],
        "hidden_pre_jacobian_nulls": jacobian_nulls["n_below_threshold"],
        "silent_units": silent,
        "threshold": threshold,
    }


def bound_evidence(estimate: dict, d: int, k: int, options: ClaimOptions, compared: str, details: dict) -> Evidence:
    """2λ̂ (t interval over chains, and the one-sided t p-value of 2λ < d − k) against d − k. An interval that
    holds d − k cannot decide the claim (``not testable``), nor can an estimate with fewer than 2 finite chains."""
    from scipy import stats

    twice = 2 * np.asarray(estimate["llc_per_chain"], dtype=float)
    good = twice[np.isfinite(twice)]
    bound = float(d - k)
    ev = Evidence(
        compared=compared,
        effect=float(good.mean()) if good.size else float("nan"),
        null=bound,
        n=int(good.size),
        details=details | {"d": int(d), "k": int(k), "llc": estimate["llc"], "share_of_bound": None},
    )
    if good.size < 2:
        ev.not_testable = f"{good.size} of {twice.size} chains gave a finite estimate"
        return ev
    se = good.std(ddof=1) / np.sqrt(good.size)
    half = stats.t.ppf(0.5 + options.confidence / 2, good.size - 1) * se
    ev.interval = (ev.effect - half, ev.effect + half)
    ev.p_value = float(stats.t.cdf((ev.effect - bound) / se, good.size - 1)) if se > 0 else float("nan")
    ev.details["share_of_bound"] = ev.effect / bound if bound > 0 else float("inf")
    if ev.interval[0] <= bound <= ev.interval[1]:
        ev.not_testable = (
            f"the interval of 2λ̂ [{ev.interval[0]:.4g}, {ev.interval[1]:.4g}] holds d − k = {bound:g}: "
            "too noisy to decide"
        )
    return ev


@claim(
    "llc.degeneracy_bound",
    paper="Bushnaq et al. 2024 (degeneracy), after Watanabe",
    statement="The degeneracies the interaction lens counts are seen by the loss landscape: 2λ̂ ≤ d − k, with d "
    "the parameter count and k the parameter directions the lens' counts make free (a regular model: 2λ = d).",
    compares="each relu_mlp model and its seeds: the LLC lens' estimate against d − k, k from its hidden layer "
    "on training samples (see relu_mlp_degenerate_directions)",
    metric="2λ̂ (t interval over chains) against d − k; an interval holding d − k cannot decide",
    direction="less",
    min_n=3,
    n_counts="chains",
)
def degeneracy_bound(run: RunData, options: ClaimOptions, names: list[str]) -> list[Evidence]:
    from bowsflow.claims.degeneracy import _options_from, split_latents
    from bowsflow.models.checkpoints import load_model

    out = []
    for group in run.replicates(run.sampled(run.select(names, arch="relu_mlp"))):
        analysed = run.analysed(group)  # the seeds share the interaction lens' options of the first
        threshold = float(
            _options_from(run if analysed else None, analysed[0] if analysed else None).degeneracy_threshold
        )
        for m in run.sampled(group):
            estimate = run.lens_json(m, "llc")
            model, _ = load_model(run.checkpoint(m))
            h = split_latents(run, model, run.specs[m]["corpus"], 2000, "train")
            counts = relu_mlp_degenerate_directions(model.double().float64_parameters(), h, threshold)
            out.append(bound_evidence(estimate, estimate["n_parameters"], counts["k"], options, m, counts))
    if not out:
        raise NotTestable("no relu_mlp model with an LLC estimate (k is counted in a relu_mlp's hidden layer)")
    return out


def regression_bound(
    d: int, seed: int, threshold: float, options: ClaimOptions, redundant=False, scales=None, duplicates: int = 0
) -> list[Evidence]:
    """The bound on a linear regression (:func:`regression_llc`): k from the Gram of its features by the
    lens' count (each dependent feature frees its one weight), λ̂ by the lens' estimator."""
    from bowsflow.lenses.interaction.basis import degeneracy
    from bowsflow.linalg import sorted_eigh

    estimate = regression_llc(d, seed, redundant=redundant, scales=scales, duplicates=duplicates)
    X = _regression(2000, d, seed, scales, duplicates)[0].numpy()
    nulls = degeneracy(sorted_eigh(X.T @ X / len(X))[0], threshold)["n_below_threshold"]
    k = block_degenerate_directions(X.shape[1], 1, nulls, 0)
    d_all = estimate["n_parameters"]
    return [bound_evidence(estimate, d_all, k, options, f"d = {d_all}, k = {k}", {"gram_nulls": nulls})]


@control(
    "llc.degeneracy_bound",
    "positive",
    "a regression on 3 features and a copy of one, parameterised redundantly: d = 8, k = 1 (the copy), "
    "λ = 3/2 (the redundancy is in the parameters, where the lens does not look)",
)
def _bound_positive(options: ClaimOptions) -> list[Evidence]:
    return regression_bound(3, options.seed, 1e-6, options, redundant=True, duplicates=1)


@control(
    "llc.degeneracy_bound",
    "negative",
    "a regression on 12 features, 6 of them at 0.3 of the scale (Gram eigenvalues 0.09 of the others), counted "
    "degenerate by a loose threshold (0.2): d − k = 6, 2λ = 12",
)
def _bound_negative(options: ClaimOptions) -> list[Evidence]:
    return regression_bound(12, options.seed, 0.2, options, scales=[1.0] * 6 + [0.3] * 6)
