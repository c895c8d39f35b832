import logging
from collections import Counter

import numpy as np
import pytest

from bowsflow.data.stopwords import ENGLISH_STOPWORDS
from bowsflow.data.tokenizer import tokenize
from bowsflow.data.vocabulary import (
    VocabularyError,
    VocabularyOptions,
    count_words,
    read_vocabulary,
    select_vocabulary,
    write_vocabulary,
)

# A hand-made corpus: counts  cat 4, dog 3, sun 3, The 2, the 2 (stop word), moon 1, 7 1, 101 1
DOCS = [
    "The cat and the dog. cat",
    "cat sun sun dog 7",
    "The sun dog cat moon 101",
    "the",
]


def test_counts_and_doc_freq():
    counts, dfs = count_words([DOCS[:2], DOCS[2:]])
    assert counts["cat"] == 4 and dfs["cat"] == 3
    assert counts["sun"] == 3 and dfs["sun"] == 2
    assert counts["The"] == 2 and counts["the"] == 2
    assert dfs["the"] == 2


def test_counts_parallel_equal_serial():
    batches = [DOCS[:1], DOCS[1:3], DOCS[3:]] * 5
    assert count_words(batches, workers=2) == count_words(batches, workers=1)


def test_vocabulary_order():
    counts, dfs = count_words([DOCS])
    opts = VocabularyOptions(vocab_size=6, stopwords=ENGLISH_STOPWORDS, always_include=("moon", "Venus"))
    vocab = select_vocabulary(counts, dfs, opts)
    # always-included first in config order (Venus never occurs: count 0); then by count desc, ties
    # alphabetical by code point ("The" < "dog" < "sun" since uppercase sorts first)
    assert vocab.words == ["moon", "Venus", "cat", "dog", "sun", "The"]
    assert vocab.counts == [1, 0, 4, 3, 3, 2]
    assert vocab.doc_freqs == [1, 0, 3, 3, 2, 2]


def test_numbers_and_lowercase():
    counts, dfs = count_words([DOCS], lowercase=True)
    opts = VocabularyOptions(vocab_size=5, lowercase=True, stopwords=ENGLISH_STOPWORDS)
    vocab = select_vocabulary(counts, dfs, opts)
    assert vocab.words == ["cat", "dog", "sun", "7", "moon"]  # "the" is a stop word, 101 out of range


def test_small_vocabulary_error_or_warning(caplog):
    counts, dfs = count_words([DOCS])
    opts = VocabularyOptions(vocab_size=50, stopwords=ENGLISH_STOPWORDS)
    with pytest.raises(VocabularyError, match="only 6 distinct candidate words"):
        select_vocabulary(counts, dfs, opts)
    with caplog.at_level(logging.WARNING):
        vocab = select_vocabulary(
            counts, dfs, VocabularyOptions(vocab_size=50, stopwords=ENGLISH_STOPWORDS, on_small_vocab="warn")
        )
    assert len(vocab) == 6
    assert "only 6" in caplog.text


def test_vocab_tsv_round_trip(tmp_path):
    counts, dfs = count_words([DOCS])
    vocab = select_vocabulary(counts, dfs, VocabularyOptions(vocab_size=4, stopwords=ENGLISH_STOPWORDS))
    path = tmp_path / "vocab.tsv"
    write_vocabulary(vocab, path)
    assert path.read_text().splitlines()[:2] == ["id\tword\tcount\tdoc_freq", "0\tcat\t4\t3"]
    assert read_vocabulary(path) == vocab


def test_malformed_vocab_tsv_names_line(tmp_path):
    path = tmp_path / "vocab.tsv"
    path.write_text("id\tword\tcount\tdoc_freq\n0\tcat\t4\t3\n5\tdog\t1\t1\n")
    with pytest.raises(VocabularyError, match="line 3"):
        read_vocabulary(path)


def test_counts_and_document_frequencies_equal_the_tokenizers_by_hand():
    """Counts over batches (long, non-ASCII and near-identical words) equal counting the tokenizer's
    tokens directly; a word's document frequency counts each document once."""
    docs = [*DOCS, "aaaaaaaaa aaaaaaaaaa aaaaaaaaa naïve supercalifragilisticexpialidocious cat", "naïve cat"]
    counts, doc_freqs = count_words([docs[:3], docs[3:]])
    assert counts == Counter(w for d in docs for w in tokenize(d))
    assert doc_freqs == Counter(w for d in docs for w in set(tokenize(d)))
    assert counts["aaaaaaaaa"] == 2 and counts["aaaaaaaaaa"] == 1 and doc_freqs["naïve"] == 2
    assert counts["cat"] == 6 and doc_freqs["cat"] == 5  # 4 in 3 documents of DOCS, 2 more


@pytest.mark.parametrize("vocab_size", [3, 5, 37, 200, 400])
def test_vocabulary_is_the_head_of_the_full_ordering(vocab_size):
    """The chosen words are the always-included ones, then the first candidates of all sorted by
    (count desc, word asc), ties at the cut included (counts from a small range: many ties); past the
    candidates there are (400), all of them."""
    rng = np.random.default_rng(4)
    words = sorted({"".join(rng.choice(list("abcdefgh"), 4)) for _ in range(400)})
    counts = Counter({w: int(c) for w, c in zip(words, rng.integers(1, 12, len(words)))})
    counts["the"] = 50  # a stop word: never a candidate
    always = ("zzzz", words[0])
    options = VocabularyOptions(
        vocab_size=vocab_size, stopwords=frozenset({"the"}), always_include=always, on_small_vocab="warn"
    )
    vocab = select_vocabulary(counts, Counter(counts), options)
    ranked = sorted((w for w in counts if w not in always and w != "the"), key=lambda w: (-counts[w], w))
    assert vocab.words == list(always) + ranked[: vocab_size - len(always)]
