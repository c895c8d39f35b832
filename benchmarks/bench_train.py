"""Training throughput: bowsflow's trainer step against a naive dense baseline, same run.

Both train the same tied autoencoder (x̂ = ReLU(WᵀWx + b), MSE, AdamW) on the same batches: BOWS rows
of the bundled corpus (64-token windows, about 26 active words per sample), or random rows (--data random):
- bowsflow: sparse input (embedding_bag encoder) and the sparse-target loss with its fused gradient;
- baseline: the input as a dense float matrix, the encoder an ``nn.Linear`` and ``nn.MSELoss``.
Timed twice: from initialization, and after a warm-up (the trained regime, where the model predicts
few words and the sparse backward pass applies); each time in blocks that alternate between the two
(the machine's speed drifts), with the median ratio of adjacent blocks. Prints samples/s of each and the ratio; on a GPU also achieved TFLOP/s against the device's dense
matmul rate measured in the same run. Run:  python benchmarks/bench_train.py [--vocab 10000 --latent 256 --batch 512]

The dense baseline is a strawman kept for continuity. The baseline a researcher would use, the BOWS
paper's own trainer (per-sample index lists, a sparse COO encoder, a dense decoder and target,
nn.MSELoss), is in ``bench_train_reference.py`` (whole runs from the store on disk, fresh processes,
losses and peak RSS) and ``bench_step_floor.py`` (steps in one process, against the dense products'
floor).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bowsflow.data.batches import SparseBatch
from bowsflow.models import build_model


class DenseTiedBaseline(nn.Module):
    def __init__(self, V, m):
        super().__init__()
        self.enc = nn.Linear(V, m, bias=False)
        self.b = nn.Parameter(torch.zeros(V))

    def forward(self, x):
        return F.linear(self.enc(x), self.enc.weight.t(), self.b)


def corpus_batches(B, V, seed=0):
    """Batches of real BOWS rows: the bundled Wikipedia summaries, 64-token windows, top-V words."""
    from bowsflow.data.bows import VocabularyIndex, bows_pairs, dense_rows
    from bowsflow.data.corpus import iter_documents
    from bowsflow.data.stopwords import ENGLISH_STOPWORDS
    from bowsflow.data.vocabulary import VocabularyOptions, count_words, select_vocabulary
    from bowsflow.data.windows import WindowSpec

    docs = list(iter_documents({"source": "wiki-vital"}))
    counts, dfs = count_words([docs])
    vocab = select_vocabulary(
        counts, dfs, VocabularyOptions(vocab_size=V, stopwords=ENGLISH_STOPWORDS, on_small_vocab="warn")
    )
    x = dense_rows(bows_pairs(docs, VocabularyIndex(vocab.words), WindowSpec("tokens", 64, 64)), len(vocab))
    x = x[x.any(axis=1)]
    x = x[np.random.default_rng(seed).permutation(x.shape[0])]
    return [x[i : i + B] for i in range(0, x.shape[0] - B + 1, B)]


def make_batches(n, B, V, active, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = np.zeros((B, V), dtype=bool)
        cols = rng.integers(0, V, size=(B, active))
        x[np.arange(B)[:, None], cols] = True
        out.append(x)
    return out


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


class Run:
    """A model, its AdamW (the trainer's choice for both: on a GPU the fused kernel, on the CPU torch's
    default) and its items, stepped a block at a time."""

    def __init__(self, model, loss_of, items, device):
        self.loss_of, self.items, self.k = loss_of, items, 0
        self.opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1, fused=device.type == "cuda")

    def steps(self, n):
        for _ in range(n):
            loss = self.loss_of(self.items[self.k % len(self.items)])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.k += 1


def ours(batches, V, m, device):
    torch.manual_seed(0)
    model = build_model("tied_ae", V, m).to(device)
    return Run(
        model, lambda b: model.training_loss(*b.torch(device)), [SparseBatch.from_dense(x) for x in batches], device
    )


def baseline(batches, V, m, device):
    torch.manual_seed(0)
    model = DenseTiedBaseline(V, m).to(device)
    mse = nn.MSELoss()

    def loss_of(x):
        xf = torch.from_numpy(x).to(device).float()
        return mse(torch.relu(model(xf)), xf)

    return Run(model, loss_of, batches, device)


def time_blocks(runs, device, warmup, block, repeats):
    """Seconds of each run's ``repeats`` blocks of ``block`` steps, after ``warmup`` untimed steps; the
    runs' blocks alternate, so a change in the machine's speed reaches both alike."""
    for run in runs:
        run.steps(warmup)
    seconds = [[] for _ in runs]
    for _ in range(repeats):
        for run, out in zip(runs, seconds):
            sync(device)
            t = time.perf_counter()
            run.steps(block)
            sync(device)
            out.append(time.perf_counter() - t)
    return seconds


def matmul_tflops(device, n=8192, dtype=torch.float32, reps=20):
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--latent", type=int, default=256)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--active", type=int, default=30, help="active words per sample (--data random)")
    ap.add_argument(
        "--data", choices=["corpus", "random"], default="corpus", help="bundled corpus windows, or random rows"
    )
    ap.add_argument("--steps", type=int, default=160)
    ap.add_argument("--warmup", type=int, default=200, help="steps before timing (the trained regime)")
    ap.add_argument("--repeats", type=int, default=8, help="timed blocks per run, alternating between the two")
    ap.add_argument("--devices", default="all", help="all | cpu | cuda")
    args = ap.parse_args()
    V, m, B = args.vocab, args.latent, args.batch
    batches = corpus_batches(B, V) if args.data == "corpus" else make_batches(16, B, V, args.active)
    V = batches[0].shape[1]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    devices = [d for d in devices if args.devices in ("all", d.type)]
    active = np.mean([x.sum(axis=1).mean() for x in batches])
    print(
        f"data: {args.data}, V = {V}, m = {m}, batch = {B}, {active:.1f} active words per sample, torch threads = {torch.get_num_threads()}"
    )
    for device in devices:
        steps = args.steps if device.type == "cpu" else args.steps * 25
        block = max(1, steps // args.repeats)
        for label, warmup in [("from initialization", 3), (f"after {args.warmup} steps", args.warmup)]:
            t_base, t_ours = time_blocks(
                [baseline(batches, V, m, device), ours(batches, V, m, device)], device, warmup, block, args.repeats
            )
            ratios = [b / o for b, o in zip(t_base, t_ours)]
            sps_base, sps_ours = block * B / np.median(t_base), block * B / np.median(t_ours)
            print(f"[{device.type}, {label}] baseline (dense input, nn.Linear): {sps_base:9.0f} samples/s")
            print(
                f"[{device.type}, {label}] bowsflow (sparse input and loss):  {sps_ours:9.0f} samples/s   "
                f"ratio {np.median(ratios):.2f} (median of {len(ratios)} alternating blocks of {block} steps: "
                + ", ".join(f"{x:.2f}" for x in ratios)
                + ")"
            )
        if device.type == "cuda":
            flops_per_step = 6 * B * m * V  # decoder forward + its two backward products
            achieved = flops_per_step * block / np.median(t_ours) / 1e12
            print(
                f"[cuda] achieved {achieved:.1f} TFLOP/s; dense fp32 matmul here {matmul_tflops(device):.1f} TFLOP/s, "
                f"bf16 {matmul_tflops(device, dtype=torch.bfloat16):.1f} TFLOP/s ({torch.cuda.get_device_name()})"
            )


if __name__ == "__main__":
    main()
