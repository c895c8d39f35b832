"""Training end to end from the BOWS store on disk: bowsflow's trainer against the BOWS paper's own
trainer (the reference method, written here from its description in our own words), same data, same
tied model, same steps, alternating runs, each in a fresh process (so peak RSS is each one's own).

The reference: per-sample word-index lists held in memory (built from the store: part of its time), a
sparse-COO encoder product, a dense decoder (``h @ W + b``, nn.Linear-style, tied), a dense 0/1 target
and ``nn.MSELoss`` (mean), AdamW, a cosine schedule stepped per batch, W from U(±√2/√V), a global
shuffle of all training samples each epoch. ``--arch relu_mlp`` / ``bilinear`` give both the same middle
block (the reference's in plain torch, its other weights from nn.Linear's initialization). Ours: ``bowsflow.models.training.train`` with ``init:
paper`` (the same initialization) and one evaluation at the end (the reference evaluates once too).
Both end with the validation loss over the whole validation split.

    python benchmarks/bench_train_reference.py --vocab 10000 --latent 256 --steps 300 --rounds 2

With ``--before SRC`` (a source tree, e.g. ``git worktree add /tmp/old OLD_COMMIT`` then
``--before /tmp/old/src``) bowsflow from that tree runs too, in the same alternation: a change measured
before and after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PEAK_RSS = r"""
def peak_rss_gb():  # this process' own high-water mark (ru_maxrss would carry the parent's over a fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 2**20
"""

REFERENCE = (
    PEAK_RSS
    + r"""
import json, math, sys, time
import numpy as np, torch, zarr
from torch import nn
store, m, B, steps, lr, wd, threads, seed = sys.argv[1], *map(int, sys.argv[2:4]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
torch.set_num_threads(threads)
torch.manual_seed(seed)
t0 = time.perf_counter()
g = zarr.open_group(store, mode="r")
bows, split = g["bows"], np.asarray(g["split"][:])
V = bows.shape[1]
lists = {"train": [], "val": []}
for lo in range(0, bows.shape[0], bows.chunks[0]):  # the store once, into per-sample index lists
    X = np.asarray(bows[lo : lo + bows.chunks[0]])
    for r in range(X.shape[0]):
        lists[str(split[lo + r])].append(np.flatnonzero(X[r]))
arch, d = sys.argv[9], int(sys.argv[10])
bound = math.sqrt(2.0) / math.sqrt(V)
W = nn.Parameter(torch.empty(m, V).uniform_(-bound, bound))
b = nn.Parameter(torch.zeros(V))
params = [W, b]
def linear_init(*shape):  # nn.Linear's U(±1/√fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-1 / math.sqrt(shape[-1]), 1 / math.sqrt(shape[-1])))
if arch == "relu_mlp":  # the same middle block as ours, in plain torch
    W_in, W_out = linear_init(d, m), linear_init(m, d)
    b_in = nn.Parameter(torch.empty(d).uniform_(-1 / math.sqrt(m), 1 / math.sqrt(m)))
    params += [W_in, b_in, W_out]
    middle = lambda h: h + torch.relu(h @ W_in.t() + b_in) @ W_out.t()
elif arch == "bilinear":
    L, R, W_out = linear_init(d, m), linear_init(d, m), linear_init(m, d)
    params += [L, R, W_out]
    middle = lambda h: h + ((h @ L.t()) * (h @ R.t())) @ W_out.t()
else:
    middle = lambda h: h
opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
mse = nn.MSELoss()

def batch(items):
    lengths = [len(x) for x in items]
    rows = np.repeat(np.arange(len(items)), lengths)
    cols = np.concatenate(items) if items else np.zeros(0, int)
    idx = torch.as_tensor(np.stack([rows, cols]))
    x = torch.sparse_coo_tensor(idx, torch.ones(len(cols)), (len(items), V))
    target = torch.zeros(len(items), V)
    target[idx[0], idx[1]] = 1.0
    return x, target

def loss_of(items):
    x, target = batch(items)
    h = torch.sparse.mm(x, W.t())
    return mse(torch.relu(middle(h) @ W + b), target)

rng = np.random.default_rng(seed)
train = lists["train"]
step, window = 0, []
while step < steps:
    perm = rng.permutation(len(train))
    for i in range(0, len(perm) - B + 1, B):
        loss = loss_of([train[j] for j in perm[i : i + B]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        window.append(float(loss))
        if step == steps:
            break
with torch.no_grad():
    val = lists["val"]
    total = sum(float(loss_of(val[i : i + 4096])) * len(val[i : i + 4096]) for i in range(0, len(val), 4096))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "samples_per_s": steps * B / seconds, "train_loss": float(np.mean(window[-20:])),
                  "val_loss": total / len(val), "peak_rss_gb": peak_rss_gb()}))
"""
)

OURS = (
    PEAK_RSS
    + r"""
import json, sys, time
import numpy as np, torch
from bowsflow.models.training import TrainConfig, train
store, m, B, steps, lr, wd, threads, seed = sys.argv[1], *map(int, sys.argv[2:4]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
torch.set_num_threads(threads)
cfg = TrainConfig(arch=sys.argv[9], d_latent=m, d_hidden=int(sys.argv[10]), batch_size=B, steps=steps, lr=lr, weight_decay=wd, threads=threads,
                  seed=seed, device="cpu", init="paper", eval_every=steps, log_every=20)
t0 = time.perf_counter()
result = train(store, cfg)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "samples_per_s": steps * B / seconds, "train_loss": result.history[-1]["train_loss"],
                  "val_loss": result.evaluation.loss, "peak_rss_gb": peak_rss_gb()}))
"""
)


def build_store(d: Path, V: int) -> Path:
    """The bundled corpus' BOWS store at vocabulary size V (64-token windows, the default options)."""
    from bowsflow.config import resolved_bows, validate_config
    from bowsflow.data import bows_store
    from bowsflow.data.vocabulary import corpus_vocabulary

    cfg = validate_config({"corpora": {"wiki": {"source": "wiki-vital"}}, "bows": {"vocab_size": V}})
    options = resolved_bows(cfg, "wiki")
    tokens = d / f"wiki-{V}-tokens.zarr"
    vocab, _ = corpus_vocabulary(cfg["corpora"]["wiki"], "wiki", options, 2, tokens_path=tokens)
    out = d / f"wiki-{V}.zarr"
    bows_store.build_text_store(tokens, "wiki", options, vocab, out, {}, workers=2)
    return out


def run(code: str, args: list[str], src: str | None = None) -> dict:
    """One trainer in a fresh process; ``src``: a bowsflow source tree to import instead of the installed one."""
    env = (
        dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))) if src else None
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--latent", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    ap.add_argument(
        "--arch", default="tied_ae", help="tied_ae | relu_mlp | bilinear (the reference gets the same middle block)"
    )
    ap.add_argument("--hidden", type=int, default=0, help="d_hidden for relu_mlp and bilinear")
    ap.add_argument(
        "--before",
        metavar="SRC",
        help="also run bowsflow from this source tree (e.g. a git worktree of an older commit's src/), "
        "alternating with the others: before and after a change in the same run",
    )
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="bench_train_reference_"))
    try:
        store = build_store(d, args.vocab)
        for m in args.latent:
            common = [
                str(store),
                str(m),
                str(args.batch),
                str(args.steps),
                str(args.lr),
                str(args.weight_decay),
                str(args.threads),
                "0",
                args.arch,
                str(args.hidden),
            ]
            contestants = {"reference": (REFERENCE, None), "bowsflow": (OURS, None)}
            if args.before:
                contestants["before"] = (OURS, args.before)
            got = {name: [] for name in contestants}
            for r in range(args.rounds):
                for name in list(contestants) if r % 2 == 0 else list(contestants)[::-1]:
                    code, src = contestants[name]
                    got[name].append(run(code, common, src))
            print(
                f"{args.arch} (d = {args.hidden}), V = {args.vocab}, m = {m}, batch {args.batch}, {args.steps} steps, lr {args.lr}, {args.threads} threads:"
            )
            for name, runs in got.items():
                sps = [x["samples_per_s"] for x in runs]
                print(
                    f"  {name:9s} {statistics.median(sps):8.0f} samples/s {[round(x) for x in sps]}  train loss "
                    f"{runs[0]['train_loss']:.6f}  val loss {runs[0]['val_loss']:.6f}  peak RSS "
                    f"{max(x['peak_rss_gb'] for x in runs):.2f} GB"
                )
            reference = statistics.median(x["samples_per_s"] for x in got["reference"])
            for name in [n for n in got if n != "reference"]:
                ratio = statistics.median(x["samples_per_s"] for x in got[name]) / reference
                rounds = [
                    round(a["samples_per_s"] / b["samples_per_s"], 2) for a, b in zip(got[name], got["reference"])
                ]
                print(f"  ratio {name} / reference: {ratio:.2f} (round by round {rounds})")
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
