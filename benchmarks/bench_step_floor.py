"""What bounds a training step: ours, the BOWS paper's reference step, and the decoder's three dense
products alone, timed in one process, alternating (the machine's speed drifts by up to 2x over minutes).

Both trainers compute z = h Wᵀ + b over the whole batch × V and its two gradient products (dz W and
dzᵀ h) as dense float32 GEMMs; while more than a few per cent of the outputs are on (5–17% over the
first 300 steps at lr 5e-4), sparse products do not pay (``bench_decoder_paths.py``). So the ratio
reference / ours cannot exceed reference step / products, whatever else is made faster. Run:

    python benchmarks/bench_step_floor.py [--vocab 10000 --latent 32 256 1000 --warm 50 --blocks 4 --steps 10]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_train_reference import build_store  # noqa: E402

from bowsflow.data.batches import BowsBatches  # noqa: E402
from bowsflow.models import build_model  # noqa: E402
from bowsflow.models.base import init_embedding  # noqa: E402
from bowsflow.models.optimizer import AdamW  # noqa: E402
from bowsflow.models.training import deterministic_algorithms  # noqa: E402


def forever(batches: BowsBatches):
    epoch = 0
    while True:
        yield from batches.epoch(epoch)
        epoch += 1


class Ours:
    def __init__(self, store: Path, m: int, B: int, lr: float):
        self.batches = forever(BowsBatches(store, "train", B, seed=0))
        V = BowsBatches(store, "train", B).vocab_size
        self.model = build_model("tied_ae", V, m, 0, "relu")
        init_embedding(self.model, "paper")
        self.opt = AdamW(self.model.parameters(), lr, 0.0)

    def step(self) -> None:
        indices, offsets, rows, cols = next(self.batches).torch(torch.device("cpu"))
        loss = self.model.training_loss(indices, offsets, rows, cols, "mse")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


class Reference:
    """The reference method (as in bench_train_reference.py): per-sample index lists, a sparse COO
    encoder product, a dense decoder, a dense 0/1 target, nn.MSELoss, torch's AdamW."""

    def __init__(self, store: Path, m: int, B: int, lr: float):
        import zarr

        g = zarr.open_group(str(store), mode="r")
        bows, split = g["bows"], np.asarray(g["split"][:])
        self.V, self.B = bows.shape[1], B
        self.lists = []
        for lo in range(0, bows.shape[0], bows.chunks[0]):
            X = np.asarray(bows[lo : lo + bows.chunks[0]])
            self.lists += [np.flatnonzero(X[r]) for r in range(X.shape[0]) if split[lo + r] == "train"]
        bound = math.sqrt(2.0) / math.sqrt(self.V)
        self.W = torch.nn.Parameter(torch.empty(m, self.V).uniform_(-bound, bound))
        self.b = torch.nn.Parameter(torch.zeros(self.V))
        self.opt = torch.optim.AdamW([self.W, self.b], lr=lr, weight_decay=0.0)
        self.rng = np.random.default_rng(0)
        self.mse = torch.nn.MSELoss()

    def step(self) -> None:
        items = [self.lists[j] for j in self.rng.choice(len(self.lists), self.B, replace=False)]
        rows = np.repeat(np.arange(len(items)), [len(x) for x in items])
        idx = torch.as_tensor(np.stack([rows, np.concatenate(items)]))
        x = torch.sparse_coo_tensor(idx, torch.ones(idx.shape[1]), (len(items), self.V))
        target = torch.zeros(len(items), self.V)
        target[idx[0], idx[1]] = 1.0
        loss = self.mse(torch.relu(torch.sparse.mm(x, self.W.t()) @ self.W + self.b), target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


class Products:
    """The decoder's three dense products at the same shapes: z = r Wtᵀ + b (ReLU), dz Wt, dzᵀ r."""

    def __init__(self, V: int, m: int, B: int):
        g = torch.Generator().manual_seed(0)
        self.r = torch.randn(B, m, generator=g)
        self.Wt = torch.randn(V, m, generator=g) / math.sqrt(m)
        self.b = torch.randn(V, generator=g)

    def step(self) -> None:
        z = torch.addmm(self.b, self.r, self.Wt.t()).clamp_min_(0)
        z @ self.Wt
        z.t() @ self.r


class AdamWUpdate:
    """One AdamW update of a V × m embedding and a V bias (both trainers update every weight each step)."""

    def __init__(self, V: int, m: int):
        g = torch.Generator().manual_seed(0)
        self.params = [
            torch.nn.Parameter(torch.randn(V, m, generator=g)),
            torch.nn.Parameter(torch.randn(V, generator=g)),
        ]
        self.grads = [torch.randn(p.shape, generator=g) for p in self.params]
        self.opt = AdamW(self.params, 1e-3, 0.0)

    def step(self) -> None:
        for p, grad in zip(self.params, self.grads):
            p.grad = grad
        self.opt.step()


# torch's deterministic mode as each runs: bowsflow trains with it, the reference script without it
DETERMINISTIC = {"reference step": False, "bowsflow step": True, "three dense products": False, "AdamW update": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--latent", type=int, nargs="+", default=[32, 256, 1000])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warm", type=int, default=50, help="steps of each trainer before timing")
    ap.add_argument("--blocks", type=int, default=4, help="alternating timed blocks of each")
    ap.add_argument("--steps", type=int, default=10, help="steps per timed block")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    deterministic_algorithms()  # once the public way; the runners then switch the flag
    d = Path(tempfile.mkdtemp(prefix="bench_step_floor_"))
    try:
        store = build_store(d, args.vocab)
        for m in args.latent:
            torch.manual_seed(0)
            runners = {
                "reference step": Reference(store, m, args.batch, args.lr),
                "bowsflow step": Ours(store, m, args.batch, args.lr),
                "three dense products": Products(args.vocab, m, args.batch),
                "AdamW update": AdamWUpdate(args.vocab, m),
            }
            for name, runner in runners.items():
                torch._C._set_deterministic_algorithms(DETERMINISTIC[name], warn_only=False)
                for _ in range(args.warm):
                    runner.step()
            times: dict[str, list[float]] = {name: [] for name in runners}
            for block in range(args.blocks):
                order = list(runners.items())
                for name, runner in order if block % 2 == 0 else order[::-1]:
                    torch._C._set_deterministic_algorithms(DETERMINISTIC[name], warn_only=False)
                    for _ in range(args.steps):
                        t = time.perf_counter()
                        runner.step()
                        times[name].append(time.perf_counter() - t)
            ms = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
            print(
                f"V = {args.vocab}, m = {m}, batch {args.batch}, {args.threads} threads, after {args.warm} steps "
                f"(medians of {args.blocks} x {args.steps} steps, ms):"
            )
            for name, value in ms.items():
                print(f"  {name:22s} {value:7.1f}")
            floor = ms["three dense products"] + ms["AdamW update"]
            print(
                f"  ratio reference / ours: {ms['reference step'] / ms['bowsflow step']:.2f}; bound for any step that "
                f"does the three products and the update: {ms['reference step'] / floor:.2f} "
                f"(products alone: {ms['reference step'] / ms['three dense products']:.2f})",
                flush=True,
            )
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
