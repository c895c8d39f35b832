"""Text -> binary BOWS matrix: bowsflow against scikit-learn's CountVectorizer, same text, same run.

Each document is one sample (a window larger than any document), so both sides build the same
documents x vocabulary binary matrix; the script checks that the matrices are identical, then prints
MB/s for each and the ratio. Run:  python benchmarks/bench_bows.py [--mb 50] [--vocab 10000]

``--stage``: the whole BOWS stage on one core, from a text file on disk (the bundled corpus repeated
to ``--mb``, documents separated by blank lines) to what is kept on disk: ours counts the words,
chooses the vocabulary and writes the BOWS store (64-token windows, the dense ``bows`` and its index
form, checksummed), as the count_vocabulary and build_bows rules do; the baseline is what a researcher
would write instead: ``CountVectorizer(binary=True, max_features=V)`` fitted and applied to the
documents (one row per document) and ``scipy.sparse.save_npz`` of the matrix. Rounds alternate.
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


def stage(args) -> None:
    import tempfile
    from pathlib import Path

    from bowsflow.config import resolved_bows, validate_config
    from bowsflow.data.bows_store import build_text_store
    from bowsflow.data.vocabulary import corpus_vocabulary

    base = "\n\n".join(d.replace("\n\n", "\n") for d in iter_documents({"source": "wiki-vital"})) + "\n\n"
    text = base * max(1, int(round(args.mb * 1e6 / len(base.encode()))))
    work = Path(tempfile.mkdtemp(prefix="bench_bows_"))
    corpus = work / "corpus.txt"
    corpus.write_text(text)
    mb = corpus.stat().st_size / 1e6
    del text, base
    spec = {"source": "text", "path": str(corpus), "split_docs": "blank_line"}
    cfg = validate_config({"corpora": {"c": spec}, "bows": {"vocab_size": args.vocab}})
    options = resolved_bows(cfg, "c")

    def ours():
        vocab, _ = corpus_vocabulary(spec, "c", options, workers=1)
        summary = build_text_store(spec, "c", options, vocab, work / f"bows-{time.perf_counter_ns()}.zarr", {}, 1)
        return summary["n_samples"]

    def baseline():
        documents = (d for d in corpus.read_text().split("\n\n") if d.strip())
        vectorizer = CountVectorizer(
            binary=True,
            max_features=args.vocab,
            lowercase=False,
            token_pattern=TOKEN_PATTERN,
            stop_words=sorted(ENGLISH_STOPWORDS),
        )
        matrix = vectorizer.fit_transform(documents)
        sp.save_npz(work / f"bows-{time.perf_counter_ns()}.npz", matrix)
        return matrix.shape[0]

    print(f"text: {mb:.1f} MB in {corpus}, V = {args.vocab}, one core (bowsflow: 1 worker process)")
    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    for _ in range(args.repeats):
        for name, fn in (("ours", ours), ("baseline", baseline)):
            t = time.perf_counter()
            rows = fn()
            times[name].append(time.perf_counter() - t)
            print(f"  {name}: {times[name][-1]:.2f} s ({rows} rows)", flush=True)
    best = {name: min(ts) for name, ts in times.items()}
    print(f"{'method':<58}{'seconds':>9}{'MB/s':>8}")
    print(
        f"{'CountVectorizer(binary, max_features) + save_npz':<58}{best['baseline']:>9.2f}{mb / best['baseline']:>8.1f}"
    )
    print(
        f"{'bowsflow: vocabulary + BOWS store (windows, index form)':<58}{best['ours']:>9.2f}{mb / best['ours']:>8.1f}"
    )
    print(f"ratio (baseline time / ours): {best['baseline'] / best['ours']:.2f}")
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
