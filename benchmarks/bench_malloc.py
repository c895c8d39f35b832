"""One training step with glibc's default allocator settings against ``keep_freed_memory``
(:mod:`bowsflow.runtime.malloc`): the same model, store and steps, each setting in a fresh process
(the setting cannot be undone within one), the two alternating.

Each process trains ``--warm`` steps, then times ``--blocks`` blocks of ``--steps`` steps (the
median step of each block) and counts the minor page faults over the timed steps. Run:

    python benchmarks/bench_malloc.py [--vocab 10000 --latent 256 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_train_reference import build_store  # noqa: E402

STEPS = r"""
import json, resource, statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, sys.argv[1])
from bench_step_floor import Ours
from bowsflow.models.training import deterministic_algorithms
from bowsflow.runtime.malloc import keep_freed_memory

store, m, warm, blocks, steps, keep = sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:7]), sys.argv[7] == "1"
torch.set_num_threads(2)
deterministic_algorithms()
if keep:
    assert keep_freed_memory()
trainer = Ours(Path(store), m, 512, 5e-4)
for _ in range(warm):
    trainer.step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
medians = []
for _ in range(blocks):
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        trainer.step()
        times.append(time.perf_counter() - t)
    medians.append(statistics.median(times) * 1e3)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (blocks * steps)
print(json.dumps({"step_ms": statistics.median(medians), "blocks": medians, "faults_per_step": faults}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--latent", type=int, default=256)
    ap.add_argument("--warm", type=int, default=60)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="alternating processes of each setting")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="bench_malloc_"))
    try:
        store = build_store(d, args.vocab)
        got: dict[str, list[dict]] = {"glibc default": [], "keep_freed_memory": []}
        for r in range(args.rounds):
            for name in list(got) if r % 2 == 0 else list(got)[::-1]:
                keep = "1" if name == "keep_freed_memory" else "0"
                cmd = [sys.executable, "-c", STEPS, str(Path(__file__).parent), str(store), str(args.latent)]
                cmd += [str(args.warm), str(args.blocks), str(args.steps), keep]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                got[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"tied_ae, V = {args.vocab}, m = {args.latent}, batch 512, 2 threads; ms a step (median of blocks):")
        for name, runs in got.items():
            ms = [x["step_ms"] for x in runs]
            faults = [round(x["faults_per_step"]) for x in runs]
            print(
                f"  {name:18s} {statistics.median(ms):6.1f} ms {[round(x, 1) for x in ms]}  page faults a step {faults}"
            )
        ratio = statistics.median(x["step_ms"] for x in got["glibc default"]) / statistics.median(
            x["step_ms"] for x in got["keep_freed_memory"]
        )
        print(f"  ratio default / keep_freed_memory: {ratio:.3f}")
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
