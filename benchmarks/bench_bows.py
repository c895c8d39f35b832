"""The BOWS stage, text file to store: bowsflow against scikit-learn's CountVectorizer, same text, same run.

The bundled corpus repeated to ``--mb`` in one text file (documents separated by blank lines), taken to
what is kept on disk, each side a whole program started from the shell, on one core: ours is
``snakemake --cores 1 results/bows/c/bows.zarr`` on a config with that corpus (the count_vocabulary job
tokenizes the text into the token store, counts the words and chooses the vocabulary; build_bows writes
the BOWS store: 64-token windows, the dense ``bows`` and its index form, checksummed); the baseline is
what a researcher would write instead, run with ``python``: ``CountVectorizer(binary=True,
max_features=V)`` fitted and applied to the documents (one row per document) and
``scipy.sparse.save_npz`` of the matrix. Rounds alternate; the best of each side is compared.

Run:  python benchmarks/bench_bows.py [--mb 160] [--vocab 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bowsflow.data.corpus import iter_documents

BASELINE = """
import sys
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from bowsflow.data.stopwords import ENGLISH_STOPWORDS
from bowsflow.data.tokenizer import TOKEN_PATTERN
corpus, vocab, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
documents = (d for d in open(corpus, encoding="utf-8").read().split("\\n\\n") if d.strip())
vectorizer = CountVectorizer(
    binary=True, max_features=vocab, lowercase=False, token_pattern=TOKEN_PATTERN, stop_words=sorted(ENGLISH_STOPWORDS)
)
matrix = vectorizer.fit_transform(documents)
sp.save_npz(out, matrix)
print(matrix.shape[0])
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=160.0, help="MB of text (the bundled corpus, repeated)")
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3, help="rounds; the best of each side is compared")
    args = ap.parse_args()
    snakefile = Path(__file__).resolve().parents[1] / "Snakefile"
    base = "\n\n".join(d.replace("\n\n", "\n") for d in iter_documents({"source": "wiki-vital"})) + "\n\n"
    text = base * max(1, int(round(args.mb * 1e6 / len(base.encode()))))
    work = Path(tempfile.mkdtemp(prefix="bench_bows_"))
    corpus = work / "corpus.txt"
    corpus.write_text(text)
    mb = corpus.stat().st_size / 1e6
    del text, base
    config = work / "config.yaml"
    spec = {"source": "text", "path": str(corpus), "split_docs": "blank_line"}
    config.write_text(yaml.safe_dump({"corpora": {"c": spec}, "bows": {"vocab_size": args.vocab}, "models": {}}))
    run = work / "run"

    def ours():
        shutil.rmtree(run, ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "snakemake",
            "results/bows/c/bows.zarr",
            "--snakefile",
            str(snakefile),
            "--directory",
            str(run),
        ]
        command += ["--configfile", str(config), "--cores", "1", "--quiet", "all"]
        subprocess.run(command, check=True, capture_output=True)
        jobs = {rule: run / f"results/benchmarks/{rule}/c.tsv" for rule in ("count_vocabulary", "build_bows")}
        seconds = {rule: float(path.read_text().splitlines()[1].split("\t")[0]) for rule, path in jobs.items()}
        rows = json.loads((run / "results/bows/c/bows.zarr/zarr.json").read_text())["attributes"]["n_samples"]
        return rows, seconds

    def baseline():
        out = subprocess.run(
            [sys.executable, "-c", BASELINE, str(corpus), str(args.vocab), str(work / "baseline.npz")],
            check=True,
            capture_output=True,
            text=True,
        )
        return int(out.stdout.split()[-1]), {}

    print(f"text: {mb:.1f} MB in {corpus}, V = {args.vocab}; each side a whole program run from the shell")
    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    for _ in range(args.repeats):
        for name, fn in (("ours", ours), ("baseline", baseline)):
            t = time.perf_counter()
            rows, seconds = fn()
            times[name].append(time.perf_counter() - t)
            detail = ", ".join(f"{rule} {s:.2f} s" for rule, s in seconds.items())
            print(f"  {name}: {times[name][-1]:.2f} s ({rows} rows{'; ' + detail if detail else ''})", flush=True)
    best = {name: min(ts) for name, ts in times.items()}
    print(f"{'method':<66}{'seconds':>9}{'MB/s':>8}")
    rows = [
        ("python: CountVectorizer(binary, max_features) + save_npz", best["baseline"]),
        ("snakemake --cores 1: count_vocabulary + build_bows (tokens, store)", best["ours"]),
    ]
    for label, t in rows:
        print(f"{label:<66}{t:>9.2f}{mb / t:>8.1f}")
    ratios = sorted(b / o for b, o in zip(times["baseline"], times["ours"]))
    print(f"ratio (baseline time / ours), best of {args.repeats}: {best['baseline'] / best['ours']:.2f}")
    print(f"ratio of each round, baseline / ours: {', '.join(f'{r:.2f}' for r in ratios)}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
