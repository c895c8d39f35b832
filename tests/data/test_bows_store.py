import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from bowsflow.config import resolved_bows, validate_config
from bowsflow.data.bows import VocabularyIndex, bows_pairs, dense_rows
from bowsflow.data.bows_store import (
    DenseRows,
    EmptyCorpusError,
    RowBlock,
    build_synthetic_store,
    build_text_store,
    write_chunk_rows,
)
from bowsflow.data.splits import is_validation
from bowsflow.data.vocabulary import corpus_vocabulary
from bowsflow.data.windows import WindowSpec

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


def make_corpus(tmp_path, n_docs=40, seed=0, lines=False):
    """A blank-line text corpus of random documents (``lines``: of several lines each)."""
    rng = np.random.default_rng(seed)
    texts = []
    for d in range(n_docs):
        n = int(rng.integers(0, 30))
        separators = rng.choice([" ", " ", "\n"] if lines else [" "], max(n - 1, 0)).tolist() + [""]
        texts.append("".join(w + sep for w, sep in zip(rng.choice(WORDS + ["the", "of", "and"], n), separators)))
    texts = [t if t else "..." for t in texts]  # a document without any token
    (tmp_path / "corpus.txt").write_text("\n\n".join(texts))
    spec = {"source": "text", "path": str(tmp_path / "corpus.txt"), "split_docs": "blank_line"}
    return spec, texts


def options(**over):
    cfg = validate_config({"corpora": {"c": {"source": "wiki-vital"}}, "bows": {"vocab_size": 6} | over})
    return resolved_bows(cfg, "c")


@pytest.mark.parametrize("unit", ["tokens", "lines"])
def test_store_layout_and_values(tmp_path, unit):
    spec, texts = make_corpus(tmp_path, lines=unit == "lines")
    opts = options(chunk_samples=7, window={"unit": unit, "size": 5, "stride": 3})
    vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=tmp_path / "tokens.zarr")
    path = tmp_path / "bows.zarr"
    summary = build_text_store(tmp_path / "tokens.zarr", "c", opts, vocab, path, {"config_hash": "abc"}, workers=1)
    ds = xr.open_zarr(path)
    assert ds.bows.dims == ("sample", "word") and ds.bows.dtype == bool
    assert [str(w) for w in ds.word.values] == vocab.words
    assert ds.bows.data.chunks[0][:-1] == (7,) * (len(ds.bows.data.chunks[0]) - 1)
    # the rows are the reference rows with the empty windows dropped
    spec_w = WindowSpec(unit, 5, 3)
    ref = dense_rows(bows_pairs(texts, VocabularyIndex(vocab.words), spec_w), len(vocab))
    ref_doc = bows_pairs(texts, VocabularyIndex(vocab.words), spec_w).window_doc
    keep = ref.any(axis=1)
    np.testing.assert_array_equal(ds.bows.values, ref[keep])
    np.testing.assert_array_equal(ds.doc_id.values, ref_doc[keep])
    assert summary["n_windows_dropped_empty"] == int((~keep).sum())
    assert ds.attrs["n_samples"] == int(keep.sum()) and ds.attrs["config_hash"] == "abc"
    assert set(str(s) for s in ds.split.values) <= {"train", "val"}
    np.testing.assert_array_equal(
        np.array([str(s) for s in ds.split.values]) == "val", is_validation(np.arange(ds.sample.size), 0, 0.1)
    )
    assert ds.word_count.values.tolist() == vocab.counts


def test_split_independent_of_chunking_and_workers(tmp_path):
    spec, _ = make_corpus(tmp_path, n_docs=120)
    opts = options(val_fraction=0.3, seed=5)
    vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=tmp_path / "tokens.zarr")
    tokens = tmp_path / "tokens.zarr"
    build_text_store(tokens, "c", opts | {"chunk_samples": 5}, vocab, tmp_path / "a.zarr", {}, 1, batch_tokens=40)
    build_text_store(tokens, "c", opts | {"chunk_samples": 64}, vocab, tmp_path / "b.zarr", {}, 2)
    a, b = xr.open_zarr(tmp_path / "a.zarr"), xr.open_zarr(tmp_path / "b.zarr")
    for var in ("bows", "doc_id", "window_start"):
        np.testing.assert_array_equal(a[var].values, b[var].values)
    assert [str(s) for s in a.split.values] == [str(s) for s in b.split.values]


def test_split_by_document_keeps_documents_together(tmp_path):
    spec, _ = make_corpus(tmp_path, n_docs=80)
    opts = options(split_by="document", val_fraction=0.5, window={"unit": "tokens", "size": 2, "stride": 1})
    vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=tmp_path / "tokens.zarr")
    build_text_store(tmp_path / "tokens.zarr", "c", opts, vocab, tmp_path / "s.zarr", {})
    ds = xr.open_zarr(tmp_path / "s.zarr")
    split = np.array([str(s) for s in ds.split.values])
    for doc in np.unique(ds.doc_id.values):
        assert len(set(split[ds.doc_id.values == doc])) == 1


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    spec, _ = make_corpus(tmp_path, n_docs=60)
    opts = options(chunk_samples=4, batch_bytes=1024, window={"unit": "tokens", "size": 2, "stride": 2})
    vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=tmp_path / "tokens.zarr")
    import bowsflow.data.bows_store as store

    real = store.iter_rows

    def dies_after_two(*args, **kwargs):
        for k, block in enumerate(real(*args, **kwargs)):
            if k == 2:
                raise KeyboardInterrupt("killed")
            yield block

    monkeypatch.setattr(store, "iter_rows", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        build_text_store(tmp_path / "tokens.zarr", "c", opts, vocab, tmp_path / "out.zarr", {}, batch_tokens=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "tokens.zarr"]


def test_no_sample_is_a_clear_error(tmp_path):
    (tmp_path / "t.txt").write_text("alpha beta")
    spec = {"source": "text", "path": str(tmp_path / "t.txt")}
    opts = options(vocab_size=2)
    vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=tmp_path / "tokens.zarr")
    from bowsflow.data.vocabulary import Vocabulary

    other = Vocabulary(["zulu", "yankee"], [0, 0], [0, 0])
    with pytest.raises(EmptyCorpusError, match="corpora.c: no sample has any vocabulary word"):
        build_text_store(tmp_path / "tokens.zarr", "c", opts, other, tmp_path / "x.zarr", {})
    assert not (tmp_path / "x.zarr").exists()
    assert len(vocab) == 2


def test_synthetic_store(tmp_path):
    spec = {
        "source": "synthetic",
        "structure": "circle",
        "n_features": 12,
        "n_samples": 300,
        "k": 10,
        "bias": 0,
        "noise": 0,
        "p": 0.2,
        "seed": 0,
    }
    summary, vocab = build_synthetic_store(spec, options(chunk_samples=128), tmp_path / "s.zarr", {})
    ds = xr.open_zarr(tmp_path / "s.zarr")
    assert [str(w) for w in ds.word.values] == [f"f{i}" for i in range(12)] == vocab.words
    assert ds.bows.shape == (300, 12) and ds.latent.shape == (300, 2)
    assert ds.feature_position.shape == (12, 2)
    assert summary["n_samples"] == 300
    np.testing.assert_array_equal(ds.bows.values.sum(axis=0), vocab.counts)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_corpus(tmp_path):
    """Peak RSS building the store of a corpus 4x larger stays within 15% (chunk-bounded memory)."""
    script = r"""
import json, resource, sys
from pathlib import Path
import numpy as np
from bowsflow.data.bows_store import build_text_store
from bowsflow.config import resolved_bows, validate_config
from bowsflow.data.vocabulary import corpus_vocabulary
n_docs, out = int(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(0)
words = [f"w{i}" for i in range(3000)]
words = ["".join(chr(97 + int(c)) for c in str(i)) + "x" for i in range(3000)]
with open(out / "c.txt", "w") as f:
    for d in range(n_docs):
        f.write(" ".join(rng.choice(words, 200)) + "\n\n")
cfg = validate_config({"corpora": {"c": {"source": "wiki-vital"}}, "bows": {"vocab_size": 2000, "chunk_samples": 4096}})
opts = resolved_bows(cfg, "c")
spec = {"source": "text", "path": str(out / "c.txt"), "split_docs": "blank_line"}
vocab, _ = corpus_vocabulary(spec, "c", opts, tokens_path=out / "tokens.zarr")
build_text_store(out / "tokens.zarr", "c", opts, vocab, out / "s.zarr", {}, workers=1)
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
    rss = []
    for n_docs in (8_000, 32_000):
        d = tmp_path / str(n_docs)
        d.mkdir()
        out = subprocess.run(
            [sys.executable, "-c", script, str(n_docs), str(d)], capture_output=True, text=True, check=True
        )
        rss.append(json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"])
    assert rss[1] < 1.15 * rss[0], rss


def test_dense_rows_reused_buffer_equals_fresh_rows():
    """Each chunk from the reused buffer equals rows made from zeros (the last chunk's ones cleared), the
    rows after a cut block all False."""
    rng = np.random.default_rng(0)
    V, chunk = 12, 5
    dense_rows_of = DenseRows(chunk, V)
    for n in (5, 5, 3, 1):
        lengths = rng.integers(1, 4, size=n)
        words = np.concatenate([np.sort(rng.choice(V, size=k, replace=False)) for k in lengths]).astype(np.int32)
        block = RowBlock(lengths, words, np.zeros(n, np.int64), np.zeros(n, np.int64))
        fresh = np.zeros((chunk, V), dtype=bool)
        fresh[np.repeat(np.arange(n), lengths), words] = True
        np.testing.assert_array_equal(dense_rows_of.fill(block), fresh)


@pytest.mark.parametrize("n_rows", [4, 7, 3])
def test_a_cut_chunk_written_whole_is_what_zarr_writes(tmp_path, n_rows):
    """write_chunk_rows' last, cut chunk (written whole, the array cut back) gives the same array and the
    same chunk bytes as zarr's own write of the cut rows."""
    import zarr

    rng = np.random.default_rng(n_rows)
    chunk = np.zeros((7, 5), dtype=bool)
    chunk[:n_rows] = rng.random((n_rows, 5)) < 0.4
    arrays = []
    for name in ("ours", "zarrs"):
        group = zarr.open_group(str(tmp_path / name), mode="w", zarr_format=3)
        array = group.create_array("x", shape=(7, 5), chunks=(7, 5), dtype=bool, fill_value=False)
        array[:] = np.ones((7, 5), dtype=bool)
        if name == "ours":
            write_chunk_rows(array, 7, chunk, n_rows)
        else:
            array.resize((7 + n_rows, 5))
            array[7:] = chunk[:n_rows]
        arrays.append(array)
    assert arrays[0].shape == arrays[1].shape == (7 + n_rows, 5)
    np.testing.assert_array_equal(arrays[0][:], arrays[1][:])
    assert (tmp_path / "ours/x/c/1/0").read_bytes() == (tmp_path / "zarrs/x/c/1/0").read_bytes()
