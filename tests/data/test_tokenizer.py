import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bowsflow.data.bows import VocabularyIndex, token_ids
from bowsflow.data.stopwords import ENGLISH_STOPWORDS, stopword_set
from bowsflow.data.tokenizer import is_vocabulary_candidate, tokenize
from bowsflow.data.vocabulary import count_words


@pytest.mark.parametrize(
    "text, lowercase, expected",
    [
        ("The cat sat.", False, ["The", "cat", "sat"]),
        ("The cat sat.", True, ["the", "cat", "sat"]),
        ("don't stop", False, ["don", "t", "stop"]),
        ("snake_case and abc123", False, ["snake", "case", "and", "abc123"]),
        ("Café — naïve façade", False, ["Café", "naïve", "façade"]),
        ("word—word", False, ["word", "word"]),
        ("1984: 42 of 100, 101!", False, ["1984", "42", "of", "100", "101"]),
        ("ÉCOLE Straße", True, ["école", "straße"]),
        ("  \n\t ", False, []),
        ("日本語 テキスト", False, ["日本語", "テキスト"]),
    ],
)
def test_tokenize_hand_cases(text, lowercase, expected):
    assert tokenize(text, lowercase) == expected
    counts, doc_freqs = count_words([[text]], lowercase)  # the fast path: keys, and strings where needed
    assert counts == Counter(expected) and doc_freqs == Counter(set(expected))


def test_vocabulary_candidates():
    stop = ENGLISH_STOPWORDS
    assert is_vocabulary_candidate("cat", stop)
    assert not is_vocabulary_candidate("the", stop)
    assert is_vocabulary_candidate("The", stop)  # case kept: the list is lowercase, as in the paper
    assert is_vocabulary_candidate("0", stop) and is_vocabulary_candidate("100", stop)
    assert not is_vocabulary_candidate("101", stop)
    assert not is_vocabulary_candidate("007", stop)
    assert not is_vocabulary_candidate("100", stop, keep_numbers=False)
    assert not is_vocabulary_candidate("abc123", stop)
    assert is_vocabulary_candidate("naïve", stop)


def test_stopword_option():
    assert stopword_set("none") == frozenset()
    assert stopword_set(["a", "b"]) == {"a", "b"}
    assert "the" in stopword_set("english")
    with pytest.raises(ValueError, match="bows.stopwords"):
        stopword_set("french")


def test_batch_positions_and_lines():
    texts = ["a b\nc", "", "d\n\ne f"]
    b = token_ids(texts, VocabularyIndex(list("abcdef")), with_lines=True)
    assert b.ids.tolist() == list(range(6))
    assert b.doc_index.tolist() == [0, 0, 0, 2, 2, 2]
    assert b.position.tolist() == [0, 1, 2, 0, 1, 2]
    assert b.line.tolist() == [0, 0, 1, 0, 2, 2]
    assert b.tokens_per_doc.tolist() == [3, 0, 3]
    assert b.lines_per_doc.tolist() == [2, 1, 3]


# Characters that exercise every path: ASCII letters/digits/punctuation, accents, CJK, symbols,
# combining marks, non-ASCII spaces and dashes, underscores, newlines.
ALPHABET = st.sampled_from(list("aZ09 _.,'\n\t-") + ["é", "ß", "İ", "日", "—", "\u00a0", "\u0301", "€", "Ⅻ", "ǅ"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, max_size=40), min_size=1, max_size=6), st.booleans())
def test_fast_path_equals_definition(texts, lowercase):
    expected = [t for text in texts for t in tokenize(text, lowercase)]
    counts, doc_freqs = count_words([texts], lowercase)
    assert counts == Counter(expected)
    assert doc_freqs == Counter(w for text in texts for w in set(tokenize(text, lowercase)))
    words = list(dict.fromkeys(expected))  # a vocabulary of every token: token_ids keeps them all
    batch = token_ids(texts, VocabularyIndex(words, lowercase), with_lines=True)
    assert [words[i] for i in batch.ids.tolist()] == expected
    # each token's document and line agree with a per-document, per-line reference
    ref_doc, ref_line = [], []
    for d, text in enumerate(texts):
        for li, line in enumerate(text.split("\n")):
            n = len(tokenize(line, lowercase))
            ref_doc += [d] * n
            ref_line += [li] * n
    assert batch.doc_index.tolist() == ref_doc
    assert batch.line.tolist() == ref_line
    assert batch.lines_per_doc.tolist() == [t.count("\n") + 1 for t in texts]


def test_token_pattern_is_documented_definition():
    assert tokenize("x_y") == re.findall(r"[^\W_]+", "x_y")
    assert np.array_equal(token_ids(["x_y"], VocabularyIndex(["x"])).tokens_per_doc, [2])
