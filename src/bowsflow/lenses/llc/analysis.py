"""The LLC lens of one trained model: SGLD chains around its parameters on its training split.

The loss is the model's training loss (its config's ``loss``) per sample, summed over the V outputs
(V × the training loss, a mean over outputs): for the MSE the Gaussian negative log-likelihood up to
constants, the L_n of the estimator (:mod:`bowsflow.lenses.llc.sampling`). Batches are drawn from the
training split (a fresh seeded shuffle per chain); n is the split's size.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bowsflow.lenses.llc.sampling import SamplerSettings, run_chains
from bowsflow.schema import schema_options

log = logging.getLogger(__name__)


@schema_options("analysis.llc")
class LLCOptions:
    """``analysis.llc`` of the config (defaults: the schema's)."""

    step_size: float  # ε, unless by_architecture names the model's architecture
    localization: float  # γ, likewise
    by_architecture: dict | None  # arch → {step_size, localization}: the calibrated values
    n_chains: int
    n_draws: int
    n_burnin: int
    batch_size: int
    nbeta: float | None
    confidence: float
    device: str
    seed: int


def sampler_settings(options: LLCOptions, arch: str) -> SamplerSettings:
    """The sampler's settings for an architecture: its calibrated ε and γ where the config has them."""
    chosen = (options.by_architecture or {}).get(arch, {})
    return SamplerSettings(
        step_size=float(chosen.get("step_size", options.step_size)),
        localization=float(chosen.get("localization", options.localization)),
        n_chains=options.n_chains,
        n_draws=options.n_draws,
        n_burnin=options.n_burnin,
        nbeta=options.nbeta,
        seed=options.seed,
    )


def per_sample_loss(kind: str, vocab_size: int):
    """loss(model, batch) → V × the model's mean training loss of the batch (a per-sample sum over outputs)."""

    def loss(model, batch):
        indices, offsets, rows, cols = batch
        return vocab_size * model.training_loss(indices, offsets, rows, cols, kind)

    return loss


def batch_streams(bows, batch_size: int, seed: int, device):
    """batches(chain) → an endless stream of training-split batches, shuffled by (seed, chain)."""
    from bowsflow.data.batches import BowsBatches

    def batches(chain: int):
        data = BowsBatches(bows, "train", batch_size, seed=seed * 1000 + chain)
        epoch = 0
        while True:
            for batch in data.epoch(epoch):
                yield batch.torch(device)
            epoch += 1

    return batches


def analyze_llc(*, bows, checkpoint, model_config, store, options: LLCOptions = LLCOptions(), threads: int = 1):
    """λ̂ of one model: the chains' traces and estimates (the store), the summary (returned, with the
    figure's data)."""
    import torch
    import xarray as xr

    from bowsflow.data.batches import BowsBatches
    from bowsflow.models.checkpoints import load_model
    from bowsflow.runtime.devices import resolve_device
    from bowsflow.store.provenance import input_checksums, provenance_attrs
    from bowsflow.store.zarr_io import write_dataset

    torch.set_num_threads(threads)
    device = resolve_device(options.device)
    model, meta = load_model(checkpoint)
    model = model.to(device)
    trained_with = json.loads(Path(model_config).read_text())
    n = BowsBatches(bows, "train").n_samples
    settings = sampler_settings(options, meta["arch"])
    d = sum(p.numel() for p in model.parameters())
    log.info(
        "LLC of %s (%s, %d parameters) on %d training samples: %s", meta.get("model"), meta["arch"], d, n, settings
    )
    result = run_chains(
        model,
        per_sample_loss(trained_with["loss"], int(meta["vocab_size"])),
        batch_streams(bows, options.batch_size, options.seed, device),
        n,
        settings,
        progress=log.info,
    )
    for warning in result.warnings:
        log.warning("LLC of %s: %s", meta.get("model"), warning)
    summary = {
        "model": meta.get("model"),
        "arch": meta["arch"],
        "n_parameters": int(d),
        **result.summary(options.confidence),
        "step_size": settings.step_size,
        "localization": settings.localization,
        "loss": f"{meta['vocab_size']} x the training loss ({trained_with['loss']}): a per-sample sum over outputs",
        "device": str(device),
        "options": dict(options.__dict__),
    }
    attrs = provenance_attrs(
        dict(options.__dict__),
        model=meta.get("model"),
        input_checksums=input_checksums(bows=bows, checkpoint=checkpoint),
    )
    ds = xr.Dataset(
        {
            "excess_loss": (("chain", "draw"), result.trace),
            "llc_per_chain": (("chain",), result.per_chain),
        },
        attrs=attrs
        | {
            "llc": summary["llc"],
            "nbeta": result.nbeta,
            "n_burnin": settings.n_burnin,
            "step_size": settings.step_size,
            "localization": settings.localization,
            "note": "excess_loss: L_b(w_t) − L_b(w*) of each SGLD draw, per-sample loss; llc = nβ × its mean "
            "after the burn-in",
        },
    )
    write_dataset(ds, store, threads)
    figures = {"trace": result.trace, "n_burnin": settings.n_burnin, "nbeta": result.nbeta, "llc": summary["llc"]}
    return summary, figures
