"""Integrated gradients for the interaction basis and its edges (the reference code's integration rules).

A layer's downstream function is taken *folded*: F(f̃) with f̃ = [f, c] and every offset the function adds
— each bias (every one-dimensional parameter of the architecture) and each layer held at the sample (the
residual stream) — multiplied by the constant coordinate c, as the papers fold biases into the weights. At
c = 1 it is the function itself. Integrated gradients average the folded Jacobian J̃(α f̃) = ∂F/∂f̃ at
α f̃ over the points of a quadrature rule on [0, 1]:

- ``gradient``: α = 1 alone (the plain Jacobian; the constant's column is then the offset F − J f, as
  everywhere in the lens);
- ``trapezoidal``: ``n_alphas`` equally spaced points in [ε, 1 − ε], ε = 10⁻³ / n_alphas, the end
  points half-weighted (one point: α = ½), as the reference code chooses them;
- ``gauss_legendre``: the ``n_alphas`` Gauss–Legendre nodes and weights on [0, 1] (exact for
  polynomials in α of degree below 2·n_alphas).

A layer that is positively homogeneous once folded (affine maps, ReLUs, residual additions: every layer
of tied_ae, untied_ae and relu_mlp) has J̃(α f̃) = J̃(f̃), so every rule gives the gradient's answer; the
bilinear product is homogeneous of degree 2 once folded, and its Jacobian scales with α.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RULES = ("gradient", "trapezoidal", "gauss_legendre")


@dataclass(frozen=True)
class IntegrationPoints:
    alphas: np.ndarray  # [k] points in (0, 1]
    weights: np.ndarray  # [k], summing to 1

    @property
    def is_gradient(self) -> bool:
        return self.alphas.size == 1 and self.alphas[0] == 1.0


def integration_points(rule: str = "gradient", n_alphas: int = 1) -> IntegrationPoints:
    """The points α and weights of ``rule`` (see the module doc) with ``n_alphas`` points."""
    if rule == "gradient":
        return IntegrationPoints(np.array([1.0]), np.array([1.0]))
    if n_alphas < 1:
        raise ValueError(f"n_alphas: {rule} needs at least one point, got {n_alphas}")
    if rule == "gauss_legendre":
        x, w = np.polynomial.legendre.leggauss(n_alphas)
        return IntegrationPoints((x + 1) / 2, w / 2)
    if rule == "trapezoidal":
        if n_alphas == 1:
            return IntegrationPoints(np.array([0.5]), np.array([1.0]))
        eps = 1e-3 / n_alphas
        weights = np.full(n_alphas, 1.0 / (n_alphas - 1))
        weights[[0, -1]] /= 2
        return IntegrationPoints(np.linspace(eps, 1 - eps, n_alphas), weights)
    raise ValueError(f"integration: {rule!r} is not one of {RULES}")


class _Folded(torch.nn.Module):
    """fn(f, acts) with every offset scaled by c: the one-dimensional parameters (biases) through
    ``torch.func.functional_call``, the held layers here."""

    def __init__(self, model, fn):
        super().__init__()
        self.model = model
        self.fn = fn
        self.held: set | None = None  # the layers fn reads (None: scale them all)

    def forward(self, f, c, acts):
        return self.fn(f, {k: c * v if self.held is None or k in self.held else v for k, v in acts.items()})


def folded(model, fn, example: tuple | None = None):
    """F(f, c, acts) = fn(f, acts) with every offset (biases, held layers) multiplied by the scalar c.
    ``example`` (f, acts of one sample): only the biases fn reads there are scaled (scaling the others,
    such as the decoder's [V] bias in a layer that never reaches it, would cost a copy per tangent)."""
    from torch.func import functional_call

    wrapper = _Folded(model, fn)
    biases = {name: p for name, p in wrapper.named_parameters() if p.dim() == 1}
    if example is not None:
        with torch.enable_grad():
            probe = {name: p.detach().clone().requires_grad_(True) for name, p in biases.items()}
            held = {k: v.detach().clone().requires_grad_(True) for k, v in example[1].items()}
            inputs = [*probe.values(), *held.values()]
            out = functional_call(wrapper, probe, (example[0], torch.tensor(1.0, dtype=torch.float64), held))
            used = (
                torch.autograd.grad(out.sum(), inputs, allow_unused=True) if out.requires_grad else [None] * len(inputs)
            )
        biases = {name: p for (name, p), grad in zip(biases.items(), used) if grad is not None}
        wrapper.held = {k for k, grad in zip(held, used[len(probe) :]) if grad is not None}

    def F(f, c, acts):
        return functional_call(wrapper, {name: c * p for name, p in biases.items()}, (f, c, acts))

    return F


def folded_jacobians(F, f: torch.Tensor, acts: dict, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(J̃ [B, w_out, w + 1], F [B, w_out]) at α f̃ for a batch: the Jacobian of the folded F with respect to
    [f, c] at (α f, α), per sample (``vmap`` of forward mode), and F's value there. ``F`` takes one sample
    (f [w], c, acts of one sample)."""
    from torch.func import jacfwd, vmap

    def value(x, a):  # x = [f, c]
        return F(x[:-1], x[-1], a)

    x = torch.cat([f, torch.ones(f.shape[0], 1, dtype=f.dtype)], dim=1) * alpha
    with torch.enable_grad():
        J = vmap(jacfwd(value), in_dims=(0, 0))(x, acts)
        y = vmap(value, in_dims=(0, 0))(x, acts)
    return J.detach(), y.detach()


FORMULAS = ("jacobian", "(1-0)*alpha", "(1-alpha)^2")


def _one_sample(step):
    """A layer function of the contract (f [B, K, w], acts [B, …]) as a function of one sample."""
    return lambda f, a: step(f[None, None], {k: v[None] for k, v in a.items()})[0, 0]


def pair_jacobians(model, h: torch.Tensor, src: str, dst: str, points: IntegrationPoints):
    """Per integration point α: (weight, J̃ [B, w_dst + 1, w_src + 1], f̃_dst at α f̃_src [B, w_dst + 1]) of
    the folded next layer (its constant row [0, …, 0, 1]), and f̃_src, f̃_dst at the samples, for latent
    vectors h [B, m] (float64)."""
    acts = model.layers_from_latent(h)
    step = _one_sample(model.layer_function(src, dst))
    F = folded(model, step, (acts[src][0], {k: v[0] for k, v in acts.items()}))
    B = h.shape[0]
    ones = torch.ones(B, 1, dtype=torch.float64)
    out = []
    for alpha, weight in zip(points.alphas, points.weights):
        J, y = folded_jacobians(F, acts[src], acts, float(alpha))
        w_dst, w_src1 = J.shape[1], J.shape[2]
        Jt = torch.zeros(B, w_dst + 1, w_src1, dtype=torch.float64)
        Jt[:, :w_dst] = J
        Jt[:, w_dst, -1] = 1.0
        out.append((float(weight), Jt, torch.cat([y, ones * alpha], dim=1)))
    f_src, f_dst = (torch.cat([acts[k], ones], dim=1) for k in (src, dst))
    return out, f_src, f_dst


def formula_gradients(per_alpha, y: torch.Tensor, formula: str) -> torch.Tensor | None:
    """g [B, w + 1] of a basis formula from (weight, A_α = ∂ŷ/∂f̃ at α f̃ [B, r, w + 1], ŷ(α f̃) [B, r]) and
    ŷ(f̃) [B, r]: "(1-0)*alpha" Σ w_α A_αᵀ ŷ(f̃); "(1-alpha)^2" Σ w_α 2 A_αᵀ (ŷ(f̃) − ŷ(α f̃)); None for
    "jacobian"."""
    if formula == "jacobian":
        return None
    g = 0.0
    for weight, A, y_alpha in per_alpha:
        target = y if formula == "(1-0)*alpha" else 2.0 * (y - y_alpha)
        g = g + weight * torch.einsum("bri,br->bi", A, target)
    return g


def next_layer_moments(
    model, h: np.ndarray, src: str, dst: str, P_dst: np.ndarray, points: IntegrationPoints, formula: str, batch: int
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The local chain's sums over samples with integration: M = Σ (P J̄̃)ᵀ(P J̄̃) (``jacobian``, J̄̃ = Σ w_α J̃(α))
    or M = Σ g gᵀ and Λ' = Σ g f̃ᵀ (the two formulas, :func:`formula_gradients`, ŷ = P f̃_dst)."""
    from bowsflow.models import as_float64

    model = as_float64(model)
    P = torch.as_tensor(P_dst, dtype=torch.float64)
    h = torch.as_tensor(np.asarray(h, dtype=np.float64))
    M = Lam = None
    with torch.no_grad():
        for lo in range(0, h.shape[0], batch):
            per_alpha, f_src, f_dst = pair_jacobians(model, h[lo : lo + batch], src, dst, points)
            projected = [(w, P[None] @ Jt, y @ P.t()) for w, Jt, y in per_alpha]
            g = formula_gradients(projected, f_dst @ P.t(), formula)
            if g is None:
                A = sum(w * A for w, A, _ in projected)
                part, lam = torch.einsum("bri,brj->ij", A, A), None
            else:
                part, lam = g.t() @ g, g.t() @ f_src
            M = part if M is None else M + part
            Lam = lam if Lam is None else Lam + lam
    return M.numpy(), None if Lam is None else Lam.numpy(), int(h.shape[0])


def output_moments(
    model, h: np.ndarray, layer: str, points: IntegrationPoints, formula: str, through_output_relu: bool, batch: int
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The global construction's sums over samples with integration (against z, or x̂ through the output
    ReLU): M = Σ J̄̃ᵀ J̄̃ with J̄̃ = Σ w_α ∂ŷ/∂f̃ (α f̃) (``jacobian``), or M = Σ g gᵀ and Λ' = Σ g f̃ᵀ for the
    two formulas. The decoder is linear: ∂z/∂f̃ = Ŵᵀ Q̂ with Q̂ the folded Jacobian of r̂ = [r, c], so the
    output's V entries appear only in products with Ŵ [m + 1, V] (and, through the output ReLU, in the
    masks of the α points)."""
    from bowsflow.models import as_float64

    model = as_float64(model)
    fn, _ = model.decoder_input(layer)
    W_hat = torch.cat([model.decoder, model.b[None, :]]).detach()  # [m + 1, V]
    h = torch.as_tensor(np.asarray(h, dtype=np.float64))
    with torch.no_grad():
        example = model.layers_from_latent(h[:1])
    F = folded(model, fn, (example[layer][0], {k: v[0] for k, v in example.items()}))
    M = Lam = None
    with torch.no_grad():
        for lo in range(0, h.shape[0], batch):
            acts = model.layers_from_latent(h[lo : lo + batch])
            f = acts[layer]
            B, w = f.shape
            ones = torch.ones(B, 1, dtype=torch.float64)
            _, r1 = folded_jacobians(F, f, acts, 1.0)
            y = torch.cat([r1, ones], dim=1) @ W_hat  # z at the samples [B, V]
            if through_output_relu:
                y = torch.relu(y)
            per_alpha = []
            for alpha, weight in zip(points.alphas, points.weights):
                Q, r = folded_jacobians(F, f, acts, float(alpha))
                Q_hat = torch.zeros(B, Q.shape[1] + 1, w + 1, dtype=torch.float64)
                Q_hat[:, :-1], Q_hat[:, -1, -1] = Q, 1.0
                z = torch.cat([r, ones * alpha], dim=1) @ W_hat
                mask = (z > 0).to(torch.float64) if through_output_relu else None
                per_alpha.append((float(weight), Q_hat, torch.relu(z) if through_output_relu else z, mask))
            if formula == "jacobian":
                if through_output_relu:  # J̄ = Σ w_α diag(mask_α) Ŵᵀ Q̂_α, outputs in chunks
                    part = 0.0
                    for vlo in range(0, W_hat.shape[1], 512):
                        cols = W_hat[:, vlo : vlo + 512]
                        J = sum(wt * mk[:, vlo : vlo + 512, None] * (cols.t() @ Qh) for wt, Qh, _, mk in per_alpha)
                        part = part + torch.einsum("bvi,bvj->ij", J, J)
                else:
                    Q_bar = sum(wt * Qh for wt, Qh, _, _ in per_alpha)
                    part = torch.einsum("bki,kl,blj->ij", Q_bar, W_hat @ W_hat.t(), Q_bar)
                lam = None
            else:
                g = 0.0
                for wt, Qh, y_alpha, mk in per_alpha:
                    target = y if formula == "(1-0)*alpha" else 2.0 * (y - y_alpha)
                    if mk is not None:
                        target = target * mk
                    g = g + wt * torch.einsum("bki,bk->bi", Qh, target @ W_hat.t())
                part, lam = g.t() @ g, g.t() @ torch.cat([f, ones], dim=1)
            M = part if M is None else M + part
            Lam = lam if Lam is None else Lam + lam
    return M.numpy(), None if Lam is None else Lam.numpy(), int(h.shape[0])
