"""Reconstruction losses against a sparse binary target, with hand-written gradients.

The target x is given by the (row, column) positions of its ones, so no dense batch × V target is
built. Both losses are means over all B·V entries, like ``torch.nn.MSELoss()`` and
``BCEWithLogitsLoss()`` on the dense target:

- ``mse``: mean((x̂ − x)²) with x̂ = ReLU(z) (or z): Σ x̂² − 2 Σ_active x̂ + n_active, over B·V;
  gradient (2/N)·(x̂ − x)·∂x̂/∂z, one pass over the batch plus a sparse correction.
- ``bce``: binary cross-entropy on the logits z: mean(softplus(z) − x·z); gradient (σ(z) − x)/N.

Sums are accumulated in float64, so the loss keeps its precision when x̂ ≈ x (the three terms cancel).
"""

from __future__ import annotations

import threading
import warnings

import torch

LOSSES = ("mse", "bce")


class _SparseTargetMSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, rows, cols, output_relu: bool):
        xhat = torch.relu(z) if output_relu else z
        at_ones = xhat[rows, cols].double()
        n = z.numel()
        flat = xhat.reshape(-1)
        # Σ x̂² over all entries (float32 BLAS dot), then swap the active entries' x̂² for (x̂ − 1)²
        total = (torch.dot(flat, flat).double() - at_ones.square().sum() + (at_ones - 1).square().sum()) / n
        ctx.save_for_backward(xhat, rows, cols)
        ctx.output_relu = output_relu
        return total.to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        xhat, rows, cols = ctx.saved_tensors
        scale = 2 * grad / xhat.numel()
        dz = xhat * scale  # where ReLU is off x̂ = 0, so its mask is already applied
        correction = scale.expand(rows.shape)
        if ctx.output_relu:
            correction = correction * (xhat[rows, cols] > 0)
        dz.index_put_((rows, cols), dz[rows, cols] - correction)
        return dz, None, None, None


class _SparseTargetBCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, rows, cols):
        n = z.numel()
        total = (torch.nn.functional.softplus(z).double().sum() - z[rows, cols].double().sum()) / n
        ctx.save_for_backward(z, rows, cols)
        return total.to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, rows, cols = ctx.saved_tensors
        scale = grad / z.numel()
        dz = torch.sigmoid(z) * scale
        dz.index_put_((rows, cols), dz[rows, cols] - scale)
        return dz, None, None


def sparse_target_loss(
    z: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, loss: str = "mse", output_relu: bool = True
) -> torch.Tensor:
    """Mean loss of pre-activations z [B, V] against the binary target with ones at (rows, cols).

    (rows, cols) must not repeat a position (a BOWS row is a set).
    """
    if loss == "mse":
        return _SparseTargetMSE.apply(z, rows, cols, output_relu)
    if loss == "bce":
        return _SparseTargetBCE.apply(z, rows, cols)
    raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")


def dense_target_loss(z: torch.Tensor, x: torch.Tensor, loss: str = "mse", output_relu: bool = True) -> torch.Tensor:
    """The same loss against a dense target x [B, V] (reference, evaluation)."""
    if loss == "mse":
        xhat = torch.relu(z) if output_relu else z
        return torch.nn.functional.mse_loss(xhat, x.to(z.dtype))
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(z, x.to(z.dtype))
    raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")


_SAME_SIZE_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}

# Below this share of non-zero output gradients the backward pass of the decoder uses sparse products.
# The share is counted exactly below it; above, counting stops once it is reached (a lower bound):
# ``output_density`` in a model's decoder_stats is exact only below this share.
SPARSE_GRADIENT_DENSITY = 0.05


def _count_on_up_to(g: torch.Tensor, enough: float, parts: int = 4) -> int:
    """The number of non-zero entries of g [B, V], counted a quarter of the rows at a time until the
    count reaches ``enough``: exact when it stays below, else a lower bound that is ≥ ``enough``.
    Counts the bits (torch's float count branches per element: 4x slower); a −0.0 counts as non-zero."""
    bits = g.view(_SAME_SIZE_INT[g.element_size()])
    step = -(-bits.shape[0] // parts)
    n_on = 0
    for lo in range(0, bits.shape[0], step):
        n_on += int(torch.count_nonzero(bits[lo : lo + step]))
        if n_on >= enough:
            break
    return n_on


def _csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n_rows: int, n_cols: int) -> torch.Tensor:
    """CSR matrix from entries sorted by row."""
    crow = torch.zeros(n_rows + 1, dtype=torch.int64, device=values.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n_rows), 0)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": we use only its products
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, values, (n_rows, n_cols), check_invariants=False)


class _DecodeMSE(torch.autograd.Function):
    """z = r W + b followed by the sparse-target MSE, with a backward pass that exploits sparsity.

    With a ReLU output the gradient (2/N)(x̂ − x)·1[z > 0] is non-zero only where the model predicts a
    word (x̂ > 0); once a model has learned that most words are absent, that is a small share of the
    batch × V entries, and the two backward products dz Wᵀ and rᵀ dz become sparse × dense products.
    Early in training, while the gradient is dense, and on a GPU, the ordinary dense products are used.
    """

    @staticmethod
    def forward(ctx, r, Wt, b, rows, cols, output_relu: bool, stats, tied_input: bool):
        xhat = torch.addmm(b, r, Wt.t())
        if output_relu:
            xhat.clamp_min_(0)
        flat = xhat.view(-1)
        at_ones = xhat[rows, cols].double()
        # Σ x̂² over all entries (float32 BLAS dot), then swap the active entries' x̂² for (x̂ − 1)²
        total = torch.dot(flat, flat).double() - at_ones.square().sum() + (at_ones - 1).square().sum()
        ctx.save_for_backward(r, Wt, xhat, rows, cols)
        ctx.output_relu, ctx.stats, ctx.tied_input = output_relu, stats, tied_input
        return (total / xhat.numel()).to(r.dtype)

    @staticmethod
    def backward(ctx, grad):
        _claim_saved_output(ctx)
        r, Wt, xhat, rows, cols = ctx.saved_tensors
        scale = 2 * grad / xhat.numel()
        # The saved x̂ becomes (x̂ − x)·∂x̂/∂z in place (only the target's ones change): with a ReLU
        # output, 1 is subtracted where a target word is predicted (x̂ > 0); unpredicted ones stay 0.
        g = xhat
        at_ones = g[rows, cols]
        g.index_put_((rows, cols), at_ones - ((at_ones > 0).to(g.dtype) if ctx.output_relu else 1))
        # On a GPU the dense products are cheap and finding the non-zeros (a host-device sync, sorting,
        # sparse kernels) is not: the sparse path is for the CPU only.
        if ctx.output_relu and g.device.type == "cpu":
            # count first (a parallel reduction): nonzero() is single-threaded and costs more than
            # the dense products it would replace when the gradient is dense (24 ms a step at
            # V = 10,000, batch 512), so it runs only where the sparse path will be taken. The count
            # is of the bits (torch's float count branches per element: 4x slower); a −0.0 would
            # count as on, which only steers the choice of path: nonzero() below is exact. Counting
            # stops one past the threshold (so the share it gives is above it, rounding included)
            n_on = _count_on_up_to(g, SPARSE_GRADIENT_DENSITY * g.numel() + 1)
            if ctx.stats is not None:
                ctx.stats["output_density"] = n_on / g.numel()
            if n_on < SPARSE_GRADIENT_DENSITY * g.numel():
                on_r, on_c = g.nonzero(as_tuple=True)  # exactly the entries with a non-zero gradient
                encoder = (rows, cols) if ctx.tied_input else None
                return (
                    *_sparse_decoder_gradients(on_r, on_c, g[on_r, on_c] * scale, r, Wt, encoder),
                    None,
                    None,
                    None,
                    None,
                    None,
                )
        if g.device.type == "cpu":
            # the scale enters the two products as their alpha (free inside the GEMM) rather than as
            # a pass over the batch × V gradient before them (on a GPU, reading it to the host would
            # wait for the device; there the pass is cheap)
            alpha, unused = float(scale), g.new_zeros(())
            grad_r = torch.addmm(unused, g, Wt, beta=0, alpha=alpha)
            grad_Wt = torch.addmm(unused, g.t(), r, beta=0, alpha=alpha)
            grad_b = g.sum(0).mul_(scale)
        else:
            dz = g.mul_(scale)
            grad_r, grad_Wt, grad_b = dz @ Wt, dz.t() @ r, dz.sum(0)
        if ctx.tied_input:  # the encoder's share: word v's row gains the gradient of each r holding v
            _index_add_rows(grad_Wt, cols, grad_r, rows)
        return grad_r, grad_Wt, grad_b, None, None, None, None, None


# rows of the gathered source per index_add_ call: its temporary stays a few MB
_INDEX_ADD_BYTES = 4 << 20
# the gathered rows go into one buffer per thread, kept across steps: a fresh 4 MB tensor per piece
# was paged in anew each time (the gather took twice as long: 4.4 → 2.5 ms a step at m = 256)
_gather_buffers = threading.local()


def _gather_buffer(numel: int, like: torch.Tensor) -> torch.Tensor:
    """A flat buffer of at least ``numel`` elements of ``like``'s dtype and device, reused across calls."""
    key = (like.dtype, like.device)
    buffers = getattr(_gather_buffers, "by_kind", None)
    if buffers is None:
        buffers = _gather_buffers.by_kind = {}
    buffer = buffers.get(key)
    if buffer is None or buffer.numel() < numel:
        buffer = buffers[key] = torch.empty(numel, dtype=like.dtype, device=like.device)
    return buffer


def _index_add_rows(out: torch.Tensor, index: torch.Tensor, source: torch.Tensor, rows: torch.Tensor) -> None:
    """``out.index_add_(0, index, source[rows])`` without gathering every row at once (a batch's
    ones × m floats: 51 MB at m = 1,000, freshly paged in every step), in pieces. index_add_ adds
    the rows one after another in index order, so the pieces give the same bits."""
    width = source.shape[1]
    step = max(1, _INDEX_ADD_BYTES // max(1, width * source.element_size()))
    buffer = _gather_buffer(min(step, index.numel()) * width, source)
    for lo in range(0, index.numel(), step):
        piece = rows[lo : lo + step]
        gathered = buffer[: piece.numel() * width].view(piece.numel(), width)
        torch.index_select(source, 0, piece, out=gathered)
        out.index_add_(0, index[lo : lo + step], gathered)


def _claim_saved_output(ctx) -> None:
    """The fused decoder losses' backward passes turn their saved output into the gradient in place,
    so a second backward pass (retain_graph) would read a gradient as an output: it is refused."""
    if getattr(ctx, "used", False):
        raise RuntimeError(
            "the fused decoder loss cannot be differentiated twice (retain_graph): its saved output is reused in place"
        )
    ctx.used = True


def _sparse_decoder_gradients(on_r, on_c, values, r, Wt, encoder=None):
    """Gradients of z = r Wtᵀ + b for r, Wt and b from dL/dz given by its non-zero entries
    (on_r, on_c, values), sorted by row: two sparse × dense products and a scatter-add.

    ``encoder`` = (rows, cols), the input's ones, when r is the sum of Wt's rows at them (a tied
    autoencoder, whose input is its target): Wt's gradient then also gets the encoder's share — row v
    gains the gradient of r for each sample holding word v — in the same sparse product, the input's
    ones entering it as B more columns against r's gradient (no dense pass of its own)."""
    B, V = r.shape[0], Wt.shape[0]
    grad_r = _csr(on_r, on_c, values, B, V) @ Wt
    if encoder is None:
        words, samples, weights, against = on_c, on_r, values, r
    else:
        rows, cols = encoder
        words, samples = torch.cat([on_c, cols]), torch.cat([on_r, rows + B])
        weights = torch.cat([values, torch.ones(rows.numel(), dtype=values.dtype, device=values.device)])
        against = torch.cat([r, grad_r])
    order = torch.argsort(words, stable=True)
    grad_Wt = _csr(words[order], samples[order], weights[order], V, against.shape[0]) @ against
    grad_b = torch.zeros(V, dtype=values.dtype, device=values.device).index_add_(0, on_c, values)
    return grad_r, grad_Wt, grad_b


class _ScreenedDecodeMSE(torch.autograd.Function):
    """The same loss and gradients as _DecodeMSE with a ReLU output, without the dense product: the
    outputs that can be on are screened with a bf16 product and a rigorous error bound
    (:mod:`bowsflow.models.output_screening`), z is computed in float32 on those only (a sampled product),
    and the positive ones — exactly the outputs that are on — make the loss and its sparse gradient.
    For a trained model, where a few per cent of outputs are on, on a CPU with native bf16 products."""

    @staticmethod
    def forward(ctx, r, Wt, b, rows, cols, stats, tied_input: bool):
        from bowsflow.models.output_screening import relu_support_candidates

        B, V = r.shape[0], Wt.shape[0]
        cand_r, cand_c = relu_support_candidates(r, Wt, b, rows, cols)
        pattern = _csr(cand_r, cand_c, torch.zeros(cand_r.numel(), dtype=r.dtype, device=r.device), B, V)
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            xhat = torch.sparse.sampled_addmm(pattern, r, Wt.t()).values()
        xhat = xhat.add_(b[cand_c]).clamp_min_(0)
        # the target's ones are among the candidates (row-major, so their flat positions are sorted)
        at = torch.searchsorted(cand_r * V + cand_c, rows * V + cols)
        at_ones = xhat[at].double()
        # Σ x̂² over the candidates (the other outputs are off), then the ones' x̂² swapped for (x̂ − 1)²
        total = torch.dot(xhat, xhat).double() - at_ones.square().sum() + (at_ones - 1).square().sum()
        ctx.save_for_backward(r, Wt, xhat, cand_r, cand_c, at, rows, cols)
        ctx.stats, ctx.tied_input = stats, tied_input
        return (total / (B * V)).to(r.dtype)

    @staticmethod
    def backward(ctx, grad):
        _claim_saved_output(ctx)
        r, Wt, g, cand_r, cand_c, at, rows, cols = ctx.saved_tensors
        # x̂ becomes x̂ − x where x̂ > 0 (as in _DecodeMSE.backward); elsewhere the gradient is 0
        at_ones = g[at]
        g[at] = at_ones - (at_ones > 0).to(g.dtype)
        n_outputs = r.shape[0] * Wt.shape[0]
        on = g.nonzero().squeeze(1)  # the entries with a non-zero gradient, still row-major
        if ctx.stats is not None:
            ctx.stats["output_density"] = on.numel() / n_outputs
        values = g.index_select(0, on).mul_(2 * grad / n_outputs)
        on_r, on_c = cand_r.index_select(0, on), cand_c.index_select(0, on)
        encoder = (rows, cols) if ctx.tied_input else None
        return (*_sparse_decoder_gradients(on_r, on_c, values, r, Wt, encoder), None, None, None, None)


def decode_and_loss(
    r: torch.Tensor,
    Wt: torch.Tensor,
    b: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    loss: str = "mse",
    output_relu: bool = True,
    screen: bool = False,
    stats: dict | None = None,
    tied_input: bool = False,
) -> torch.Tensor:
    """The loss of z = r Wtᵀ + b (r [B, m], Wt [V, m] — the embedding transposed and contiguous, so
    its gradient is accumulated row-wise — b [V]) against the sparse target, fused: for MSE the
    decoder's backward pass uses sparse products when few outputs are on (see _DecodeMSE).
    Equals ``sparse_target_loss(torch.addmm(b, r, Wt.t()), rows, cols, ...)``.

    ``screen`` (MSE with a ReLU output, CPU): skip the dense product, screening the outputs that can
    be on with a bf16 product (see _ScreenedDecodeMSE) — worth it when few are on. ``stats``, when
    given, receives ``output_density``, the share of outputs with a non-zero gradient (those on, but
    for any predicted exactly 1), from the backward pass on the CPU.

    ``tied_input``: r is the sum of Wt's rows at the target's ones, computed outside autograd (a tied
    autoencoder, input = target): Wt's gradient includes the encoder's share (MSE only)."""
    if loss == "mse":
        if screen and output_relu and r.device.type == "cpu":
            return _ScreenedDecodeMSE.apply(r, Wt, b, rows, cols, stats, tied_input)
        return _DecodeMSE.apply(r, Wt, b, rows, cols, output_relu, stats, tied_input)
    if tied_input:
        raise ValueError("decode_and_loss: tied_input is implemented for the mse loss only")
    return sparse_target_loss(torch.addmm(b, r, Wt.t()), rows, cols, loss, output_relu)
