"""Word-level, Unicode-aware, deterministic tokenization: what counts as a word is one regular expression.

The tokens of a text are ``re.findall(TOKEN_PATTERN, text)`` — by default maximal runs of Unicode letters
and digits — each lowercased with :py:meth:`str.lower` when ``lowercase`` is set. Punctuation,
whitespace, underscores and symbols separate tokens; "don't" gives "don" and "t"; "abc123" is one token
(neither a word nor a number, so it never enters a vocabulary). To change what a word is, change
``TOKEN_PATTERN`` (one line): a corpus is tokenized through it once, into its token store
(:mod:`bowsflow.data.tokens`), which the vocabulary is counted from and the BOWS store built from.

Which tokens may enter a vocabulary is decided separately by :func:`is_vocabulary_candidate`
(alphabetic and not a stop word, or one of the numbers "0" … "100" as in the BOWS paper).
Windows count *all* tokens, so window boundaries do not move when the stop-word list changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bowsflow.data.stopwords import stopword_set

TOKEN_PATTERN = r"[^\W_]+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)

NUMBER_WORDS: frozenset[str] = frozenset(str(i) for i in range(101))


def tokenize(text: str, lowercase: bool = False) -> list[str]:
    """The tokens of ``text`` (see the module doc)."""
    tokens = _TOKEN_RE.findall(text)
    return [t.lower() for t in tokens] if lowercase else tokens


def tokenize_documents(texts: list[str], lowercase: bool = False) -> list[list[str]]:
    """The tokens of each text (:func:`tokenize` mapped over them, without a Python loop per text)."""
    tokens = list(map(_TOKEN_RE.findall, texts))
    return [list(map(str.lower, t)) for t in tokens] if lowercase else tokens


def tokenize_with_starts(text: str, lowercase: bool = False) -> tuple[list[str], list[int]]:
    """The tokens of ``text`` and the character offset where each starts."""
    matches = list(_TOKEN_RE.finditer(text))
    tokens = [m.group() for m in matches]
    return ([t.lower() for t in tokens] if lowercase else tokens), [m.start() for m in matches]


def is_vocabulary_candidate(word: str, stopwords: frozenset[str], keep_numbers: bool = True) -> bool:
    """Whether a token may enter the vocabulary: alphabetic and not a stop word, or a number 0–100."""
    if keep_numbers and word in NUMBER_WORDS:
        return True
    return word.isalpha() and word not in stopwords


@dataclass(frozen=True)
class TokenizerOptions:
    lowercase: bool
    stopwords: frozenset[str]
    keep_numbers: bool


def tokenizer_options(options: dict) -> TokenizerOptions:
    return TokenizerOptions(
        lowercase=bool(options["lowercase"]),
        stopwords=stopword_set(options["stopwords"]),
        keep_numbers=bool(options["keep_numbers"]),
    )
