"""The compiled byte scans against brute-force Python on the same input."""

import re
from collections import Counter

import numpy as np
import pytest

from bowsflow.data.bows import has_key, word_key
from bowsflow.data.byte_scan import (
    KeyCounter,
    is_utf8,
    probe_table,
    scan_tokens,
    start_slots,
    unicode_alnum,
)
from bowsflow.data.tokenizer import _TABLES, TOKEN_PATTERN

TABLES = {lowercase: np.frombuffer(table, dtype=np.uint8) for lowercase, table in _TABLES.items()}


def brute_tokens(raw: bytes, lowercase: bool):
    """(byte offset, mapped bytes, slow) of every token of the tokenizer's definition (the regex on the
    decoded text), the ASCII bytes mapped by the table."""
    text = raw.decode("utf-8")
    byte_at = np.cumsum([0] + [len(ch.encode()) for ch in text]).tolist()
    tokens = []
    for m in re.finditer(TOKEN_PATTERN, text):
        token = raw[byte_at[m.start()] : byte_at[m.end()]].translate(_TABLES[lowercase])
        non_ascii = not token.isascii()
        tokens.append((byte_at[m.start()], token, len(token) > 16 or (non_ascii and (lowercase or len(token) == 16))))
    return tokens


def key_of(token: bytes) -> tuple[int, int, int]:
    """word_key's definition applied to any byte string (slow tokens included)."""
    n = len(token)
    return (
        int.from_bytes(token[:8], "little") | (1 << 63 if n > 8 else 0),
        (int.from_bytes(token[-8:], "little") if n > 8 else 0),
        n,
    )


# ASCII separators; letters and digits of 1 to 4 UTF-8 bytes (Ⅻ and ² are numeric, ٣ a decimal digit);
# non-ASCII separators (em dash, curly apostrophe, no-break and line separators, an emoji)
ALPHABET = list("aZ9 _-.,\n\t'") + list("éßЖ٣Ⅻ²𝔘") + ["\u2014", "\u2019", "\u00a0", "\u2028", "\U0001f600"]


def scan(text: str, lowercase: bool):
    raw = text.encode("utf-8")
    return raw, scan_tokens(np.frombuffer(raw, np.uint8), TABLES[lowercase], lowercase)


@pytest.mark.parametrize("lowercase", [False, True])
def test_scan_tokens_equals_the_definition_on_random_text(lowercase):
    rng = np.random.default_rng(0)
    for size in (0, 1, 7, 8, 9, 16, 17, 300, 5000):
        text = "".join(rng.choice(ALPHABET, size))
        text += "Supercalifragilistic x" if size == 300 else ""
        text += " é" * 3000 if size == 5000 else ""  # more tokens than the first arrays hold: they grow
        # 15 and 16 bytes with non-ASCII letters (é is 2 bytes; 16 bytes: byte 7 not in ``last``)
        text += " abcdefghijklmé éabcdefghijklmn ééééééé1 ééééééé12" if size == 17 else ""
        raw, (starts, lengths, first, last, slow) = scan(text, lowercase)
        expected = brute_tokens(raw, lowercase)
        assert starts.tolist() == [s for s, _, _ in expected]
        assert lengths.tolist() == [len(t) for _, t, _ in expected]
        assert list(zip(first.tolist(), last.tolist(), lengths.tolist())) == [key_of(t) for _, t, _ in expected]
        assert slow.tolist() == [k for k, (_, _, is_slow) in enumerate(expected) if is_slow]


def test_unicode_alnum_is_the_regex_class():
    alnum = unicode_alnum()
    rng = np.random.default_rng(3)
    for cp in rng.integers(0, 0x110000, 20000).tolist() + [0x5F, 0xB2, 0x2160, 0x663, 0x2014, 0x1D518]:
        assert bool(alnum[cp]) == bool(re.fullmatch(TOKEN_PATTERN, chr(cp))), hex(cp)


@pytest.mark.parametrize("lowercase", [False, True])
def test_scan_tokens_keys_equal_word_key(lowercase):
    text = "Cat dogs supercalif eightchr ninechars sixteencharacter seventeencharacter café—Zürich’s"
    raw, (starts, lengths, first, last, slow) = scan(text, lowercase)
    words = [w.encode() for w in re.findall(TOKEN_PATTERN, text.lower() if lowercase else text)]
    assert len(words) == starts.size == 10
    # 18 bytes: longer than a key holds; with lowercasing, the tokens with a non-ASCII letter too
    assert slow.tolist() == ([6, 7, 8] if lowercase else [6])
    for k, word in enumerate(words):
        if k not in slow:
            assert (int(first[k]), int(last[k]), int(lengths[k])) == word_key(word)
            assert has_key(word)


def adversarial_keys():
    """Keys that share parts: equal first 8 bytes, equal last 8 bytes, equal both with another length."""
    words = [b"a", b"ab", b"aaaaaaaa", b"aaaaaaaaa", b"aaaaaaaaaa", b"aaaaaaaab", b"baaaaaaaa", b"abcdefghijklmnop"]
    words += [b"abcdefgh" + b"x" * k for k in range(1, 9)]
    rng = np.random.default_rng(1)
    rows = [words[i] for i in rng.integers(0, len(words), 400)]
    keys = np.array([word_key(w) for w in rows], dtype=np.uint64)
    return rows, keys


def brute_force_counts(rows, docs):
    """{word: (count, document frequency)} of rows [word] in documents docs [doc]."""
    counts = Counter(rows)
    doc_freqs = Counter(w for w, _ in set(zip(rows, docs)))
    return {w: (counts[w], doc_freqs[w]) for w in counts}


def counter_totals(counter: KeyCounter, words_by_key: dict) -> dict:
    keys, counts, doc_freqs = counter.totals()
    return {words_by_key[tuple(k)]: (c, d) for k, c, d in zip(keys.tolist(), counts.tolist(), doc_freqs.tolist())}


@pytest.mark.parametrize("bits", [4, 16])  # 4: 16 slots for 24 words, grown twice mid-batch
def test_key_counter_counts_words_and_documents_exactly(bits):
    """Keys that share parts, in three batches whose documents repeat their local numbers (0 …) and
    include −1 (tokens before the first document); slow tokens skipped; extra keyed rows merged in
    document order, some of the same word in the same document as a fast token (one document, not two)."""
    rows, keys = adversarial_keys()
    words_by_key = {tuple(k): w for w, k in zip(rows, keys.tolist())}
    rng = np.random.default_rng(2)
    counter = KeyCounter(bits)
    expected_rows, expected_docs, offset = [], [], 0
    for lo, hi in [(0, 150), (150, 151), (151, 400)]:
        n_docs = 7
        doc = np.sort(rng.integers(-1, n_docs, hi - lo))
        slow = np.sort(rng.choice(hi - lo, (hi - lo) // 5, replace=False))
        extra = np.sort(rng.choice(hi - lo, (hi - lo) // 4, replace=False))  # these rows again, as extras
        counter.count_tokens(
            keys[lo:hi, 0], keys[lo:hi, 1], keys[lo:hi, 2], doc, slow, keys[lo:hi][extra], doc[extra], n_docs
        )
        kept = np.setdiff1d(np.arange(hi - lo), slow)
        for i in np.concatenate([kept, extra]).tolist():
            expected_rows.append(rows[lo + i])
            expected_docs.append(offset + int(doc[i]))
        offset += n_docs + 1
    assert counter_totals(counter, words_by_key) == brute_force_counts(expected_rows, expected_docs)


def test_key_counter_adds_counts_grouped_elsewhere():
    """add_counts of per-batch totals equals counting the tokens (batches over disjoint documents)."""
    rows, keys = adversarial_keys()
    words_by_key = {tuple(k): w for w, k in zip(rows, keys.tolist())}
    doc = np.repeat(np.arange(40), 10)
    none = np.zeros(0, np.int64)
    direct, added = KeyCounter(4), KeyCounter(4)
    for lo in range(0, 400, 100):
        part = KeyCounter(4)
        args = (keys[lo : lo + 100, 0], keys[lo : lo + 100, 1], keys[lo : lo + 100, 2], doc[lo : lo + 100] - doc[lo])
        part.count_tokens(*args, none, np.zeros((0, 3), np.uint64), none, 10)
        direct.count_tokens(*args, none, np.zeros((0, 3), np.uint64), none, 10)
        added.add_counts(*part.totals())
    assert counter_totals(added, words_by_key) == counter_totals(direct, words_by_key)
    assert counter_totals(direct, words_by_key) == brute_force_counts(rows, doc.tolist())


def test_probe_table_finds_exact_keys_only():
    """A table filled to 12 of 16 slots by the real insertion rule (start slot from the first 8 bytes,
    linear probing): chains are long and words that share their first 8 bytes share a start slot."""
    words = [b"aaaaaaaaa", b"cat", b"abcdefghijklmnop", b"aaaaaaaab", b"aaaaaaaaaa", b"dog", b"x", b"yy"]
    words += [b"abcdefghijklmnoq", b"zzzzzzzzzzzz", b"q", b"abcdefgh"]
    bits = 4
    n = 1 << bits
    table_first, table_last = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    table_len, table_id = np.zeros(n, np.int64), np.full(n, -1, np.int32)
    keys = np.array([word_key(w) for w in words], dtype=np.uint64)
    for i, slot in enumerate(start_slots(keys[:, 0], bits).tolist()):
        while table_id[slot] >= 0:
            slot = (slot + 1) % n
        table_first[slot], table_last[slot], table_len[slot] = keys[i]
        table_id[slot] = i
    queries = [*words, b"aaaaaaaac", b"ca", b"abcdefghijklmnor", b"abcdefghi", b"zzzzzzzzzzzzz"]
    q = np.array([word_key(w) for w in queries], dtype=np.uint64)
    ids = probe_table(table_first, table_last, table_len, table_id, bits, q[:, 0], q[:, 1], q[:, 2].astype(np.int64))
    assert ids.tolist() == list(range(len(words))) + [-1] * 5


def test_is_utf8_agrees_with_pythons_decoder_across_ascii_words():
    """ASCII runs long enough to be skipped 8 bytes at a time, between valid and invalid pieces, read
    from every offset of the buffer (so a piece falls at every position of a word and the words are
    not aligned in memory)."""
    import random

    rng = random.Random(1)
    pieces = [bytes([b]) for b in (0x80, 0xBF, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xFF)]
    pieces += [ch.encode() for ch in "é—😀\U0010ffff"]
    n_invalid = 0
    for _ in range(5000):
        parts = [b"x" * rng.randint(0, 19) + (rng.choice(pieces) if rng.random() < 0.3 else b"") for _ in range(6)]
        raw = b"".join(parts)
        for offset in range(8):
            try:
                raw[offset:].decode("utf-8")
                valid = True
            except UnicodeDecodeError:
                valid = False
            n_invalid += not valid
            assert is_utf8(np.frombuffer(raw, np.uint8)[offset:]) == valid, (raw, offset)
    assert 5000 < n_invalid < 35000


def test_line_kinds_against_a_line_by_line_reading():
    """Each line's end and kind (1: an ASCII byte that is not whitespace; else 2: a byte >= 0x80;
    else 0) from random lines of spaces, tabs, letters and non-ASCII bytes, long and short, with and
    without a last line end."""
    import random

    from bowsflow.data.byte_scan import line_kinds
    from bowsflow.data.corpus import _CONTENT_BYTE

    rng = random.Random(2)
    alphabet = [b" ", b"\t", b"\r", b"a", b"Z", b"7", "é".encode(), "\u3000".encode()]
    for _ in range(2000):
        lines = [
            b"".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 3, 9, 30])))
            for _ in range(rng.randint(1, 8))
        ]
        block = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        for offset in (0, 3):
            raw = block[offset:]
            expected_end, expected_kind, at = [], [], 0
            for line in raw.split(b"\n")[: raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)]:
                expected_end.append(at + len(line))
                at += len(line) + 1
                has_content = any(_CONTENT_BYTE[b] for b in line)
                expected_kind.append(1 if has_content else 2 if any(b >= 0x80 for b in line) else 0)
            line_end, kind = line_kinds(np.frombuffer(raw, np.uint8), _CONTENT_BYTE)
            assert line_end.tolist() == expected_end, raw
            assert kind.tolist() == expected_kind, raw


def test_is_utf8_agrees_with_pythons_decoder():
    # lead bytes at every boundary of the standard's table 3-7, continuation bytes, and valid
    # characters of 1 to 4 bytes, joined at random: overlong forms, surrogates, truncations, U+10FFFF
    import random

    rng = random.Random(0)
    pieces = [bytes([b]) for b in (0x61, 0x0A, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF)]
    pieces += [bytes([b]) for b in (0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF)]
    pieces += [ch.encode() for ch in "é—😀\U0010ffff\ud7ff\ue000"]
    n_invalid = 0
    for _ in range(50000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        try:
            raw.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        n_invalid += not valid
        assert is_utf8(np.frombuffer(raw, np.uint8)) == valid, raw
    assert 10000 < n_invalid < 45000  # both answers are well represented
