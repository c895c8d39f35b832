"""Training a BOWS autoencoder from a BOWS store: AdamW, cosine schedule per batch, streaming batches.

Reproducible: on CPU the same config gives byte-identical checkpoints (seeded init and shuffling,
``torch.use_deterministic_algorithms``, a fixed thread count). A NaN or infinite loss stops training
with an error naming the step; the last good weights (from the last logging point) are saved beside
the outputs as ``last_good.safetensors``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from bowsflow.data.batches import BowsBatches, prefetch
from bowsflow.models import BowsAutoencoder, build_model, count_parameters
from bowsflow.models.base import init_embedding
from bowsflow.models.checkpoints import save_checkpoint
from bowsflow.models.evaluation import Evaluation, evaluate
from bowsflow.models.losses import sparse_target_loss
from bowsflow.models.optimizer import AdamW
from bowsflow.runtime.devices import resolve_device
from bowsflow.schema import schema_options

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, or no device); the message says where and why."""


@schema_options("training")
class TrainConfig:
    """One model's training: its architecture and sizes (required, as in a config's model spec),
    then the ``training`` section of the config (defaults: the schema's)."""

    arch: str
    d_latent: int
    d_hidden: int = 0  # 0: no hidden layer
    output: str
    loss: str
    weight_decay: float
    lr: float
    batch_size: int
    epochs: int | None
    steps: int | None
    warmup_steps: int
    grad_clip: float | None
    seed: int
    device: str  # auto | cpu | cuda
    bf16: bool
    output_screening: str | bool  # auto | true | false (see bowsflow.models.output_screening)
    threads: int
    log_every: int
    eval_every: int | None  # steps; None: at the end of each epoch
    threshold: float  # x̂ above it counts as "on" for recall / false positives
    init: str  # linear (nn.Linear's U(±1/√V)) | paper (the BOWS paper's trainer's U(±√2/√V))


def deterministic_algorithms() -> None:
    """torch's deterministic mode for eager kernels. ``torch.use_deterministic_algorithms`` also sets
    the inductor compiler's flag, importing torch._inductor (2.2 s here, once per training job) for a
    compiler bowsflow does not use on the CPU; the eager kernels read only the flag set here. Where
    torch._inductor is already imported, the public call sets both."""
    import sys

    if "torch._inductor" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(True)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=False)


def cosine_lr(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up, then cosine from 1 to 0 over the remaining steps."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class TrainResult:
    model: BowsAutoencoder
    meta: dict
    history: list[dict]
    evaluation: Evaluation
    device: str
    n_parameters: int
    seconds: float


def train(
    store: str | Path,
    cfg: TrainConfig,
    workdir: str | Path | None = None,
    meta: dict | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train a model on the ``train`` split of a BOWS store; evaluate on ``val``."""
    device = resolve_device(cfg.device)
    torch.set_num_threads(max(1, int(cfg.threads)))
    if device.type == "cpu":
        deterministic_algorithms()
    torch.manual_seed(cfg.seed)
    batches = BowsBatches(store, "train", cfg.batch_size, seed=cfg.seed)
    val_batches = BowsBatches(store, "val", cfg.batch_size, shuffle=False)  # one for every evaluation
    if batches.n_samples == 0:
        raise TrainingError(f"{store}: the train split is empty")
    model = build_model(cfg.arch, batches.vocab_size, cfg.d_latent, cfg.d_hidden, cfg.output)
    init_embedding(model, cfg.init)
    model = model.to(device)
    if cfg.output_screening not in ("auto", True, False):
        raise TrainingError(f"output_screening: expected auto, true or false, got {cfg.output_screening!r}")
    if cfg.output_screening != "auto":
        model.output_screening = cfg.output_screening
    per_epoch = batches.batches_per_epoch()
    total = int(cfg.steps) if cfg.steps else int(cfg.epochs or 1) * per_epoch
    # torch's fused AdamW through its functional form (an Optimizer object would import torch._dynamo)
    optimizer = AdamW(
        model.parameters(), cfg.lr, cfg.weight_decay, lr_factor=lambda s: cosine_lr(s, total, cfg.warmup_steps)
    )
    output_relu = model.output == "relu"
    from bowsflow.data.vocabulary import vocabulary_sha256

    words = [str(w) for w in np.asarray(batches.group["word"][:])]
    meta = dict(meta or {}) | {
        "arch": cfg.arch,
        "vocab_size": batches.vocab_size,
        "d_latent": cfg.d_latent,
        "d_hidden": cfg.d_hidden,
        "output": cfg.output,
        "vocab_sha256": vocabulary_sha256(words),
    }

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"train {cfg.arch}", unit="step", mininterval=2.0)
    history: list[dict] = []
    good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    good_step = 0
    last_evaluation: tuple[int, Evaluation | None] = (-1, None)  # (step, its evaluation)
    step, epoch, window_loss, window_n, window_samples = 0, 0, 0.0, 0, 0
    t_window = t_start = time.perf_counter()
    eval_every = cfg.eval_every or per_epoch
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if (cfg.bf16 and device.type == "cuda") else None
    # On a GPU, reading a loss back every step would make the host wait for the device: losses are
    # kept on the device and checked (exactly, step by step) at each log point instead. On the CPU
    # every step is checked at once.
    check_each_step = device.type == "cpu"
    unchecked: list[tuple[torch.Tensor, int]] = []  # (batch loss, batch size)

    def check_losses(last_step: int) -> float:
        """Sum of the batch-weighted losses not yet checked (the last one is step ``last_step``'s);
        raises at the first non-finite one, naming its step."""
        values = torch.stack([loss for loss, _ in unchecked]).double().cpu().numpy() if unchecked else np.zeros(0)
        sizes = np.array([size for _, size in unchecked], dtype=np.float64)
        first_step = last_step - len(unchecked) + 1
        unchecked.clear()
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            _save_last_good(model, good_state, workdir, meta | {"step": good_step})
            where = f" (last good weights, step {good_step}, in {workdir}/last_good.safetensors)" if workdir else ""
            bad_step = first_step + int(bad[0])
            raise TrainingError(
                f"loss is {values[bad[0]]} at step {bad_step} (epoch {(bad_step - 1) // per_epoch + 1}); training stopped{where}"
            )
        return float(values @ sizes)

    while step < total:
        epoch_batches = batches.epoch(epoch)
        for batch in prefetch(epoch_batches) if device.type == "cuda" else epoch_batches:
            indices, offsets, rows, cols = batch.torch(device)
            if autocast is not None:
                with autocast:
                    z = model(indices, offsets)
                loss = sparse_target_loss(z.float(), rows, cols, cfg.loss, output_relu)
            else:
                loss = model.training_loss(indices, offsets, rows, cols, cfg.loss)
            unchecked.append((loss.detach(), batch.size))
            if check_each_step:  # before the update: a bad batch never reaches the weights
                window_loss += check_losses(step + 1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()  # and the schedule's next rate
            # the finished step's graph goes now, not when the next step's loss replaces it: held
            # through the next forward pass it slowed that pass (300 steps at m = 32, V = 10,000:
            # 4.6-7.3 s with it held, 3.3-3.6 s without, alternating runs)
            del loss
            step += 1
            window_n += batch.size
            window_samples += batch.size
            if bar is not None:
                bar.update(1)
            is_eval = step % eval_every == 0 or step == total
            if step % cfg.log_every == 0 or is_eval:
                window_loss += check_losses(step)
                now = time.perf_counter()
                row = {
                    "step": step,
                    "epoch": round(step / per_epoch, 4),
                    "train_loss": window_loss / max(window_n, 1),
                    "val_loss": float("nan"),
                    "lr": optimizer.param_groups[0]["lr"],
                    "samples_per_s": window_samples / max(now - t_window, 1e-9),
                }
                if is_eval:
                    last_evaluation = (
                        step,
                        evaluate(
                            model, store, loss=cfg.loss, threshold=cfg.threshold, device=device, batches=val_batches
                        ),
                    )
                    row["val_loss"] = last_evaluation[1].loss
                history.append(row)
                if bar is not None:
                    bar.set_postfix(loss=f"{row['train_loss']:.5f}", samples_s=f"{row['samples_per_s']:.0f}")
                window_loss, window_n, window_samples, t_window = 0.0, 0, 0, time.perf_counter()
                good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                good_step = step
            if step >= total:
                break
        epoch += 1
    if bar is not None:
        bar.close()
    # the last step is always evaluated in the loop: the weights have not moved since
    evaluation = (
        last_evaluation[1]
        if last_evaluation[0] == step
        else evaluate(model, store, loss=cfg.loss, threshold=cfg.threshold, device=device, batches=val_batches)
    )
    return TrainResult(
        model.cpu(), meta, history, evaluation, device.type, count_parameters(model), time.perf_counter() - t_start
    )


def _save_last_good(model: BowsAutoencoder, state: dict, workdir, meta: dict) -> None:
    if workdir is None:
        return
    model.load_state_dict(state)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, Path(workdir) / "last_good.safetensors", meta)


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
