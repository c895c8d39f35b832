"""Word-level, Unicode-aware, deterministic tokenization.

Definition (the contract every fast path below must meet): the tokens of a text are
``re.findall(r"[^\\W_]+", text)`` — maximal runs of Unicode letters and digits — each lowercased with
:py:meth:`str.lower` when ``lowercase`` is set. Punctuation, whitespace, underscores and symbols separate
tokens; "don't" gives "don" and "t"; "abc123" is one token (neither a word nor a number, so it never
enters a vocabulary).

Which tokens may enter a vocabulary is decided separately by :func:`is_vocabulary_candidate`
(alphabetic and not a stop word, or one of the numbers "0" … "100" as in the BOWS paper).
Windows count *all* tokens, so window boundaries do not move when the stop-word list changes.

The fast path (:func:`tokenize_batch`) works on UTF-8 bytes: one ``bytes.translate`` maps every ASCII
byte that is not a letter or digit to a space and ``bytes.split`` cuts the tokens in C; only the
tokens that contain non-ASCII bytes (a few percent of English text) go through the regular expression.
Because a multi-byte UTF-8 character never contains an ASCII byte, every byte token decodes on its own
and the result equals the definition exactly (tests compare both on random Unicode text).
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


def _translate_table(lowercase: bool) -> bytes:
    table = bytearray(range(256))
    for b in range(128):
        ch = chr(b)
        if not ch.isalnum():
            table[b] = 0x20
        elif lowercase and "A" <= ch <= "Z":
            table[b] = b + 32
    return bytes(table)


_TABLES = {False: _translate_table(False), True: _translate_table(True)}


@dataclass(frozen=True)
class TokenBatch:
    """Tokens of a batch of documents, in order, with where each token sits.

    tokens: list[bytes] of length n (UTF-8 encoded tokens);
    doc_index: int64 [n], index of the token's document within the batch;
    position: int64 [n], index of the token within its document;
    line: int64 [n] or None, line of the token within its document (lines split at "\\n");
    tokens_per_doc: int64 [n_docs]; lines_per_doc: int64 [n_docs] (a document has count("\\n") + 1 lines).
    """

    tokens: list[bytes]
    doc_index: np.ndarray
    position: np.ndarray
    line: np.ndarray | None
    tokens_per_doc: np.ndarray
    lines_per_doc: np.ndarray


def join_documents(texts: list[str]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(UTF-8 bytes of the documents joined by one newline — a separator for tokens and for lines —,
    byte offset of each document int64 [n_docs], its length in bytes int64 [n_docs])."""
    encoded = [t.encode("utf-8") for t in texts]
    n_docs = len(encoded)
    doc_lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n_docs)
    doc_starts = np.zeros(n_docs, dtype=np.int64)
    if n_docs > 1:
        np.cumsum(doc_lengths[:-1] + 1, out=doc_starts[1:])
    return b"\n".join(encoded), doc_starts, doc_lengths


def tokenize_batch(texts: list[str], lowercase: bool = False, with_lines: bool = False) -> TokenBatch:
    """Tokenize a batch of documents at once (see the module docstring for the definition)."""
    raw, doc_starts, doc_lengths = join_documents(texts)
    n_docs = doc_starts.size
    buf = raw.translate(_TABLES[lowercase])
    tokens = buf.split()

    arr = np.frombuffer(buf, dtype=np.uint8)
    is_token_byte = arr != 0x20
    starts = np.flatnonzero(is_token_byte[1:] & ~is_token_byte[:-1]) + 1
    if arr.size and is_token_byte[0]:
        starts = np.concatenate([[0], starts])
    assert starts.size == len(tokens)

    doc_index = np.searchsorted(doc_starts, starts, side="right") - 1 if n_docs else starts
    line = None
    if with_lines:
        newlines = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 0x0A)
        global_line = np.searchsorted(newlines, starts)
        doc_first_line = np.searchsorted(newlines, doc_starts)
        line = global_line - doc_first_line[doc_index]
        doc_ends = doc_starts + doc_lengths
        lines_per_doc = np.searchsorted(newlines, doc_ends) - doc_first_line + 1
    else:
        lines_per_doc = np.zeros(n_docs, dtype=np.int64)

    non_ascii = np.flatnonzero(arr >= 0x80)
    if non_ascii.size:
        special = np.unique(np.searchsorted(starts, non_ascii, side="right") - 1)
        tokens, doc_index, line = _split_non_ascii(tokens, doc_index, line, special, lowercase)

    tokens_per_doc = np.bincount(doc_index, minlength=n_docs).astype(np.int64)
    first_of_doc = np.concatenate([[0], np.cumsum(tokens_per_doc)[:-1]]) if n_docs else tokens_per_doc
    position = np.arange(len(tokens), dtype=np.int64) - first_of_doc[doc_index]
    return TokenBatch(tokens, doc_index.astype(np.int64), position, line, tokens_per_doc, lines_per_doc)


def _split_non_ascii(tokens, doc_index, line, special, lowercase):
    """Re-tokenize the byte tokens that contain non-ASCII characters with the reference regex."""
    parts = []
    for k in special.tolist():
        words = _TOKEN_RE.findall(tokens[k].decode("utf-8"))
        if lowercase:
            words = [w.lower() for w in words]
        parts.append([w.encode("utf-8") for w in words])
    counts = np.ones(len(tokens), dtype=np.int64)
    counts[special] = [len(p) for p in parts]
    new_tokens: list[bytes] = []
    prev = 0
    for k, p in zip(special.tolist(), parts):
        new_tokens.extend(tokens[prev:k])
        new_tokens.extend(p)
        prev = k + 1
    new_tokens.extend(tokens[prev:])
    doc_index = np.repeat(doc_index, counts)
    if line is not None:
        line = np.repeat(line, counts)
    return new_tokens, doc_index, line


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
