from collections import Counter

import numpy as np
import pytest
import xarray as xr

from bowsflow.data.tokenizer import tokenize
from bowsflow.data.tokens import (
    TokenBatch,
    TokenStore,
    WordTable,
    encode_documents,
    first_appearance_ids,
    tokenize_batches,
    word_frequencies,
    write_token_store,
)
from bowsflow.store.integrity import verify_store

BATCHES = [
    ["The cat sat.\nThe dog ran", "", "cat cat"],
    ["sun\n\nrose over the cat", "Ünïcode wörds, don't"],
    ["the end"],
]


def test_encode_documents_hand_case():
    words = first_appearance_ids()
    batch = encode_documents(["b a b", "", "c a"], words)
    assert list(words) == ["b", "a", "c"]  # order of first appearance
    assert batch.ids.tolist() == [0, 1, 0, 2, 1]
    assert batch.tokens_per_doc.tolist() == [3, 0, 2]
    assert batch.line is None and batch.lines_per_doc is None


def test_word_frequencies_hand_case():
    batch = TokenBatch(np.array([0, 1, 0, 2, 1, 1], dtype=np.int32), np.array([3, 0, 3]))
    counts, doc_freqs = word_frequencies(batch, 4)
    assert counts.tolist() == [2, 3, 1, 0]
    assert doc_freqs.tolist() == [1, 2, 1, 0]  # word 1 in documents 0 and 2; word 0 twice in document 0


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("lowercase", [False, True])
def test_the_table_counts_what_the_tokenizer_gives(workers, lowercase):
    table = WordTable()
    batches = list(tokenize_batches(BATCHES, table, lowercase, workers=workers))
    docs = [doc for texts in BATCHES for doc in texts]
    tokens = [tokenize(doc, lowercase) for doc in docs]
    assert table.words == list(dict.fromkeys(t for doc in tokens for t in doc))
    got = [table.words[i] for b in batches for i in b.ids.tolist()]
    assert got == [t for doc in tokens for t in doc]
    counts, doc_freqs = table.counters()
    assert counts == Counter(t for doc in tokens for t in doc)
    assert doc_freqs == Counter(t for doc in tokens for t in set(doc))


@pytest.mark.parametrize("with_lines", [False, True])
@pytest.mark.parametrize("batch_tokens", [1, 4, 1000])
def test_a_token_store_gives_back_what_was_tokenized(tmp_path, with_lines, batch_tokens):
    path = tmp_path / "tokens.zarr"
    table = write_token_store(BATCHES, path, False, with_lines, {"corpus": "c"})
    store = TokenStore.open(path)
    assert store.words == table.words and store.with_lines == with_lines
    assert store.attrs["n_documents"] == 6 and store.attrs["corpus"] == "c"
    docs = [doc for texts in BATCHES for doc in texts]
    read = list(store.batches(batch_tokens))
    per_doc = np.concatenate([b.tokens_per_doc for b in read])
    assert per_doc.tolist() == [len(tokenize(d)) for d in docs]
    for b in read:  # whole documents; a batch passes batch_tokens only with its last document
        assert b.ids.size == b.tokens_per_doc.sum()
        assert b.tokens_per_doc[:-1].sum() <= batch_tokens or b.n_docs == 1
    assert [store.words[i] for b in read for i in b.ids.tolist()] == [t for d in docs for t in tokenize(d)]
    if with_lines:  # each token's line: the line it is found in when each line is tokenized alone
        ref = [li for d in docs for li, line in enumerate(d.split("\n")) for _ in tokenize(line)]
        assert np.concatenate([b.line for b in read]).tolist() == ref
        assert np.concatenate([b.lines_per_doc for b in read]).tolist() == [d.count("\n") + 1 for d in docs]
    ds = xr.open_zarr(path)  # one line of xarray opens it
    assert ds.word_id.dims == ("token",) and int(ds.word_count.sum()) == ds.sizes["token"]
    assert "token" not in ds.indexes  # opened lazily: the tokens are not an index
    assert verify_store(path) > 0


def test_a_failed_finish_leaves_no_token_store(tmp_path):
    def refuse(table):
        raise ValueError("no vocabulary")

    with pytest.raises(ValueError, match="no vocabulary"):
        write_token_store(BATCHES, tmp_path / "tokens.zarr", False, False, {}, finish=refuse)
    assert list(tmp_path.iterdir()) == []
