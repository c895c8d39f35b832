"""Word-level, Unicode-aware, deterministic tokenization.

Definition (the contract every fast path below must meet): the tokens of a text are
``re.findall(r"[^\\W_]+", text)`` — maximal runs of Unicode letters and digits — each lowercased with
:py:meth:`str.lower` when ``lowercase`` is set. Punctuation, whitespace, underscores and symbols separate
tokens; "don't" gives "don" and "t"; "abc123" is one token (neither a word nor a number, so it never
enters a vocabulary).

Which tokens may enter a vocabulary is decided separately by :func:`is_vocabulary_candidate`
(alphabetic and not a stop word, or one of the numbers "0" … "100" as in the BOWS paper).
Windows count *all* tokens, so window boundaries do not move when the stop-word list changes.

The fast path (:func:`bowsflow.data.bows.token_keys`) works on UTF-8 bytes: one compiled scan
(:func:`bowsflow.data.byte_scan.scan_tokens`) treats every ASCII byte that is not a letter or digit as
a separator (the table below), decodes the other characters and looks them up in a table of
``str.isalnum`` over all code points (the regex's class, in this Python's Unicode database), so its
tokens are the definition's exactly (tests compare both on random Unicode text). Only tokens longer
than a key holds, and, when lowercasing, tokens with a non-ASCII letter (``str.lower`` may change
their bytes), go through the regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bowsflow.data.stopwords import stopword_set

TOKEN_PATTERN = r"[^\W_]+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)

NUMBER_WORDS: frozenset[str] = frozenset(str(i) for i in range(101))


def tokenize(text: str, lowercase: bool = False) -> list[str]:
    """Reference tokenizer: the tokens of ``text`` by the module's definition (slow, obviously right)."""
    tokens = _TOKEN_RE.findall(text)
    return [t.lower() for t in tokens] if lowercase else tokens


def is_vocabulary_candidate(word: str, stopwords: frozenset[str], keep_numbers: bool = True) -> bool:
    """Whether a token may enter the vocabulary: alphabetic and not a stop word, or a number 0–100."""
    if keep_numbers and word in NUMBER_WORDS:
        return True
    return word.isalpha() and word not in stopwords


def _byte_table(lowercase: bool) -> bytes:
    table = bytearray(range(256))
    for b in range(128):
        ch = chr(b)
        if not ch.isalnum():
            table[b] = 0x20
        elif lowercase and "A" <= ch <= "Z":
            table[b] = b + 32
    return bytes(table)


_TABLES = {False: _byte_table(False), True: _byte_table(True)}


@dataclass(frozen=True)
class TextBatch:
    """A batch of documents as one buffer of UTF-8 bytes, with each document's byte offset and length
    (int64 [n_docs]), in order. A line end follows each document but the last; between documents there
    is nothing but whitespace (no token): one newline when joined by :func:`join_byte_documents`, the
    blank lines of the file when a reader leaves the documents in place."""

    raw: bytes
    doc_starts: np.ndarray
    doc_lengths: np.ndarray

    def __len__(self) -> int:
        return int(self.doc_starts.size)


def join_byte_documents(encoded: list[bytes]) -> TextBatch:
    """The :class:`TextBatch` of documents given as UTF-8 bytes."""
    n_docs = len(encoded)
    doc_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n_docs)
    doc_starts = np.zeros(n_docs, dtype=np.int64)
    if n_docs > 1:
        np.cumsum(doc_lengths[:-1] + 1, out=doc_starts[1:])
    return TextBatch(b"\n".join(encoded), doc_starts, doc_lengths)


def join_documents(texts: list[str] | TextBatch) -> TextBatch:
    """The :class:`TextBatch` of a list of documents (a batch is returned as it is)."""
    if isinstance(texts, TextBatch):
        return texts
    return join_byte_documents([t.encode("utf-8") for t in texts])


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
