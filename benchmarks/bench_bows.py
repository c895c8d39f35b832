"""Text -> binary BOWS matrix: bowsflow against scikit-learn's CountVectorizer, same text, same run.

Each document is one sample (a window larger than any document), so both sides build the same
documents x vocabulary binary matrix; the script checks that the matrices are identical, then prints
MB/s for each and the ratio. Run:  python benchmarks/bench_bows.py [--mb 50] [--vocab 10000]

``--stage``: the whole BOWS stage on one core, from a text file on disk (the bundled corpus repeated
to ``--mb``, documents separated by blank lines) to what is kept on disk, each side a whole program
started from the shell: ours is ``snakemake --cores 1 results/bows/c/bows.zarr`` on a config with that
corpus (the count_vocabulary job tokenizes the text into the token store, counts the words and chooses
the vocabulary; build_bows writes the BOWS store: 64-token windows, the dense ``bows`` and its index
form, checksummed); the baseline is what a researcher would write instead, run with ``python``:
``CountVectorizer(binary=True, max_features=V)`` fitted and applied to the documents (one row per
document) and ``scipy.sparse.save_npz`` of the matrix. Rounds alternate.
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from bowsflow.data.bows import VocabularyIndex, bows_pairs
from bowsflow.data.corpus import iter_batches, iter_documents
from bowsflow.data.stopwords import ENGLISH_STOPWORDS
from bowsflow.data.tokenizer import TOKEN_PATTERN
from bowsflow.data.vocabulary import VocabularyOptions, count_words, select_vocabulary
from bowsflow.data.windows import WindowSpec
from bowsflow.runtime.parallel import ordered_map

WHOLE_DOCUMENT = WindowSpec("tokens", size=10**9, stride=10**9)


def batch_csr(texts: list[str], index: VocabularyIndex) -> sp.csr_matrix:
    pairs = bows_pairs(texts, index, WHOLE_DOCUMENT)
    m = sp.csr_matrix(
        (np.ones(pairs.rows.size, dtype=np.int64), (pairs.rows, pairs.ids)), shape=(len(texts), index.size)
    )
    m.data[:] = 1  # binary: duplicates were summed
    return m


def ours(batches, index, workers):
    return sp.vstack(list(ordered_map(batch_csr, batches, workers, None, index)), format="csr")


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


def stage(args) -> None:
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import yaml

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
    jobs: list[dict] = []
    for _ in range(args.repeats):
        for name, fn in (("ours", ours), ("baseline", baseline)):
            t = time.perf_counter()
            rows, seconds = fn()
            times[name].append(time.perf_counter() - t)
            jobs += [seconds] if seconds else []
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
    print(f"ratio (baseline time / ours), best of {args.repeats}: {best['baseline'] / best['ours']:.2f}")
    shutil.rmtree(work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=50.0, help="MB of text (the bundled corpus, repeated)")
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs per method")
    ap.add_argument("--stage", action="store_true", help="the whole stage, text file to files on disk")
    args = ap.parse_args()
    if args.stage:
        return stage(args)

    base = list(iter_documents({"source": "wiki-vital"}))
    base_mb = sum(len(d.encode()) for d in base) / 1e6
    docs = base * max(1, int(round(args.mb / base_mb)))
    mb = sum(len(d.encode()) for d in docs) / 1e6
    counts, dfs = count_words([base])
    vocab = select_vocabulary(
        counts, dfs, VocabularyOptions(vocab_size=args.vocab, stopwords=ENGLISH_STOPWORDS, on_small_vocab="warn")
    )
    index = VocabularyIndex(vocab.words)
    batches = list(iter_batches(iter(docs), 1 << 20))
    print(f"text: {mb:.1f} MB, {len(docs)} documents, V = {len(vocab)}")

    def best(fn):
        times, result = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
        return min(times), result

    vectorizer = CountVectorizer(binary=True, vocabulary=vocab.words, lowercase=False, token_pattern=TOKEN_PATTERN)
    t_sk, m_sk = best(lambda: vectorizer.transform(docs))
    t_1, m_1 = best(lambda: ours(batches, index, 1))
    t_2, m_2 = best(lambda: ours(batches, index, 2))
    m_sk = m_sk.tocsr()
    m_sk.data[:] = 1
    for m in (m_1, m_2):
        assert m.shape == m_sk.shape and (m != m_sk).nnz == 0, "matrices differ"
    print("identical matrices: yes")
    print(f"{'method':<34}{'seconds':>9}{'MB/s':>9}{'ratio':>8}")
    for name, t in [
        ("scikit-learn CountVectorizer", t_sk),
        ("bowsflow, 1 process", t_1),
        ("bowsflow, 2 processes", t_2),
    ]:
        print(f"{name:<34}{t:>9.2f}{mb / t:>9.1f}{t_sk / t:>8.2f}")


if __name__ == "__main__":
    main()
