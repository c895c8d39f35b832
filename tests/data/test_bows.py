import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bowsflow.data.bows import (
    DocumentWindows,
    VocabularyIndex,
    bows_pairs,
    dense_rows,
    document_bags,
    token_ids,
)
from bowsflow.data.tokenizer import tokenize
from bowsflow.data.windows import WindowSpec, window_bounds


def reference_rows(texts, words, spec, lowercase=False):
    """BOWS rows by the definition: windows over tokens/lines of each document, set of vocab words."""
    index = {w: i for i, w in enumerate(words)}
    rows = []
    for text in texts:
        if spec.unit == "tokens":
            units = [[t] for t in tokenize(text, lowercase)]
        else:
            units = [tokenize(line, lowercase) for line in text.split("\n")]
        for lo, hi in window_bounds(len(units), spec):
            row = np.zeros(len(words), dtype=bool)
            for unit in units[lo:hi]:
                for t in unit:
                    if t in index:
                        row[index[t]] = True
            rows.append(row)
    return np.array(rows, dtype=bool).reshape(-1, len(words))


def test_hand_written_window_vectors():
    # vocabulary: cat=0 dog=1 sun=2; windows of 3 tokens, stride 2
    texts = ["cat dog the sun cat", "sun"]
    spec = WindowSpec("tokens", 3, 2)
    pairs = bows_pairs(texts, VocabularyIndex(["cat", "dog", "sun"]), spec)
    got = dense_rows(pairs, 3).astype(int).tolist()
    # doc 0 tokens: cat dog the | the sun cat  (starts 0, 2); doc 1 short: one window [sun]
    assert got == [[1, 1, 0], [1, 0, 1], [0, 0, 1]]
    assert pairs.window_doc.tolist() == [0, 0, 1]
    assert pairs.window_start.tolist() == [0, 2, 0]


def test_hand_written_line_windows():
    texts = ["cat\n\ndog sun\ncat"]
    spec = WindowSpec("lines", 2, 1)
    got = dense_rows(bows_pairs(texts, VocabularyIndex(["cat", "dog", "sun"]), spec), 3).astype(int).tolist()
    assert got == [[1, 0, 0], [0, 1, 1], [1, 1, 1]]


WORDS = ["cat", "Dog", "é", "naïve", "日本", "a", "b", "ab", "ba", "x1"]
ALPHABET = st.sampled_from(
    ["cat", "Dog", "dog", "é", "naïve", "日本", "a", "b", "ab", "ba", "x1", " ", "\n", ".", "—", "_", "\u00a0"]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(ALPHABET, max_size=30).map("".join), min_size=1, max_size=5),
    st.sampled_from(["tokens", "lines"]),
    st.integers(1, 5),
    st.integers(1, 5),
    st.booleans(),
)
def test_bows_pairs_equal_reference(texts, unit, size, stride, lowercase):
    spec = WindowSpec(unit, size, stride)
    words = [w.lower() for w in WORDS] if lowercase else WORDS
    words = list(dict.fromkeys(words))
    pairs = bows_pairs(texts, VocabularyIndex(words, lowercase), spec)
    np.testing.assert_array_equal(dense_rows(pairs, len(words)), reference_rows(texts, words, spec, lowercase))


def test_keys_are_exact_even_when_slots_collide():
    # Words that share their first 8 bytes, their last 8 bytes or their length; and a table so
    # small that many share a slot. Only exact (first, last, length) matches may be found.
    words = ["abcdefgh", "abcdefghi", "abcdefghij", "xbcdefghij", "abcdefghijklmnop", "abcdefghijklmnopq", "a"]
    index = VocabularyIndex(words)
    texts = [
        "abcdefgh abcdefghi abcdefghij xbcdefghij abcdefghijklmnop abcdefghijklmnopq a",
        "abcdefg abcdefghx abcdefghijx abcdefghijklmnoq aa b abcdefghijklmnopqr",
    ]
    t = token_ids(texts, index)
    assert t.ids.tolist() == list(range(7))
    assert t.doc_index.tolist() == [0] * 7


def test_document_windows_stream_equals_brute_force():
    rng = np.random.default_rng(0)
    bags = rng.random((23, 5)) < 0.2
    for size, stride in [(1, 1), (3, 1), (4, 4), (5, 2), (30, 3)]:
        spec = WindowSpec("documents", size, stride)
        w = DocumentWindows(spec, 5)
        got, firsts = [], []
        for lo in range(0, 23, 7):  # batches of 7 documents
            rows, first = w.push(bags[lo : lo + 7])
            got.append(rows)
            firsts.append(first)
        rows, first = w.finish()
        got.append(rows)
        firsts.append(first)
        got = np.concatenate(got)
        expected = np.array([bags[a:b].any(axis=0) for a, b in window_bounds(23, spec)])
        np.testing.assert_array_equal(got, expected)
        assert np.concatenate(firsts).tolist() == [a for a, _ in window_bounds(23, spec)]


def test_document_bags_include_empty_documents():
    bags = document_bags(["cat", "", "the", "sun cat"], VocabularyIndex(["cat", "sun"]))
    assert bags.astype(int).tolist() == [[1, 0], [0, 0], [0, 0], [1, 1]]


def test_duplicate_vocabulary_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        VocabularyIndex(["a", "a"])
