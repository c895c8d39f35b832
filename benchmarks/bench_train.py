"""Training throughput: bowsflow's trainer step against a naive dense baseline, same run.

Both train the same tied autoencoder (x̂ = ReLU(WᵀWx + b), MSE, AdamW) on the same batches: BOWS rows
of the bundled corpus (64-token windows, about 26 active words per sample), or random rows (--data random):
- bowsflow: sparse input (embedding_bag encoder) and the sparse-target loss with its fused gradient;
- baseline: the input as a dense float matrix, the encoder an ``nn.Linear`` and ``nn.MSELoss``.
Timed twice: from initialization, and after a warm-up (the trained regime, where the model predicts
few words and the sparse backward pass applies). Prints samples/s of each and the ratio; on a GPU also achieved TFLOP/s against the device's dense
matmul rate measured in the same run. Run:  python benchmarks/bench_train.py [--vocab 10000 --latent 256 --batch 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bowsflow.batches import SparseBatch
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
    from bowsflow.bows import VocabularyIndex, bows_pairs, dense_rows
    from bowsflow.corpus import iter_documents
    from bowsflow.stopwords import ENGLISH_STOPWORDS
    from bowsflow.vocabulary import VocabularyOptions, count_words, select_vocabulary
    from bowsflow.windows import WindowSpec

    docs = list(iter_documents({"source": "wiki-vital"}))
    counts, dfs = count_words([docs])
    vocab = select_vocabulary(counts, dfs, VocabularyOptions(vocab_size=V, stopwords=ENGLISH_STOPWORDS, on_small_vocab="warn"))
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


def time_training(model, loss_of, items, device, steps, warmup):
    """Seconds for ``steps`` AdamW steps of ``loss_of(item)`` after ``warmup`` untimed ones (items cycled)."""
    # the trainer's optimizer for both (on a GPU the fused AdamW kernel, on the CPU torch's default)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1, fused=device.type == "cuda")

    def step(item):
        loss = loss_of(item)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for k in range(warmup):
        step(items[k % len(items)])
    sync(device)
    t = time.perf_counter()
    for k in range(steps):
        step(items[k % len(items)])
    sync(device)
    return time.perf_counter() - t


def time_ours(batches, V, m, device, steps, warmup):
    torch.manual_seed(0)
    model = build_model("tied_ae", V, m).to(device)

    def loss_of(b):
        return model.training_loss(*b.torch(device))

    return time_training(model, loss_of, [SparseBatch.from_dense(x) for x in batches], device, steps, warmup)


def time_baseline(batches, V, m, device, steps, warmup):
    torch.manual_seed(0)
    model = DenseTiedBaseline(V, m).to(device)
    mse = nn.MSELoss()

    def loss_of(x):
        xf = torch.from_numpy(x).to(device).float()
        return mse(torch.relu(model(xf)), xf)

    return time_training(model, loss_of, batches, device, steps, warmup)


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
    ap.add_argument("--data", choices=["corpus", "random"], default="corpus", help="bundled corpus windows, or random rows")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--warmup", type=int, default=200, help="steps before timing (the trained regime)")
    ap.add_argument("--devices", default="all", help="all | cpu | cuda")
    args = ap.parse_args()
    V, m, B = args.vocab, args.latent, args.batch
    batches = corpus_batches(B, V) if args.data == "corpus" else make_batches(16, B, V, args.active)
    V = batches[0].shape[1]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    devices = [d for d in devices if args.devices in ("all", d.type)]
    active = np.mean([x.sum(axis=1).mean() for x in batches])
    print(f"data: {args.data}, V = {V}, m = {m}, batch = {B}, {active:.1f} active words per sample, torch threads = {torch.get_num_threads()}")
    for device in devices:
        steps = args.steps if device.type == "cpu" else args.steps * 25
        for label, warmup in [("from initialization", 3), (f"after {args.warmup} steps", args.warmup)]:
            t_base = time_baseline(batches, V, m, device, steps, warmup)
            t_ours = time_ours(batches, V, m, device, steps, warmup)
            sps_base, sps_ours = steps * B / t_base, steps * B / t_ours
            print(f"[{device.type}, {label}] baseline (dense input, nn.Linear): {sps_base:9.0f} samples/s")
            print(f"[{device.type}, {label}] bowsflow (sparse input and loss):  {sps_ours:9.0f} samples/s   ratio {sps_ours / sps_base:.2f}")
        if device.type == "cuda":
            flops_per_step = 6 * B * m * V  # decoder forward + its two backward products
            achieved = flops_per_step * steps / t_ours / 1e12
            print(f"[cuda] achieved {achieved:.1f} TFLOP/s; dense fp32 matmul here {matmul_tflops(device):.1f} TFLOP/s, "
                  f"bf16 {matmul_tflops(device, dtype=torch.bfloat16):.1f} TFLOP/s ({torch.cuda.get_device_name()})")


if __name__ == "__main__":
    main()
