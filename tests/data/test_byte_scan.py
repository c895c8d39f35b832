"""The compiled byte scans against brute-force Python on the same input."""

import re

import numpy as np
import pytest

from bowsflow.data.bows import word_key
from bowsflow.data.byte_scan import doc_frequencies, group_keys, probe_table, scan_tokens, start_slots
from bowsflow.data.tokenizer import _TABLES

TABLES = {lowercase: np.frombuffer(table, dtype=np.uint8) for lowercase, table in _TABLES.items()}


def brute_tokens(raw: bytes, lowercase: bool):
    """(start, mapped bytes, slow) of every maximal run of bytes that are not ASCII separators."""
    mapped = raw.translate(_TABLES[lowercase])
    return [
        (m.start(), m.group(), any(b >= 0x80 for b in m.group()) or len(m.group()) > 16)
        for m in re.finditer(rb"[^ ]+", mapped)
    ]


def key_of(token: bytes) -> tuple[int, int, int]:
    """word_key's definition applied to any byte string (slow tokens included)."""
    n = len(token)
    return (
        int.from_bytes(token[:8], "little") | (1 << 63 if n > 8 else 0),
        (int.from_bytes(token[-8:], "little") if n > 8 else 0),
        n,
    )


@pytest.mark.parametrize("lowercase", [False, True])
def test_scan_tokens_equals_brute_force_on_random_bytes(lowercase):
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"aZ9 _-.,\n\t'" + "é—ß".encode(), dtype=np.uint8)
    for size in (0, 1, 7, 8, 9, 16, 17, 300, 5000):
        raw = alphabet[rng.integers(0, alphabet.size, size)].tobytes()
        raw += b"Supercalifragilistic x" if size == 300 else b""
        starts, lengths, first, last, slow = scan_tokens(np.frombuffer(raw, np.uint8), TABLES[lowercase])
        expected = brute_tokens(raw, lowercase)
        assert starts.tolist() == [s for s, _, _ in expected]
        assert lengths.tolist() == [len(t) for _, t, _ in expected]
        assert list(zip(first.tolist(), last.tolist(), lengths.tolist())) == [key_of(t) for _, t, _ in expected]
        assert slow.tolist() == [k for k, (_, _, is_slow) in enumerate(expected) if is_slow]


def test_scan_tokens_keys_equal_word_key():
    raw = b"Cat dogs supercalif eightchr ninechars sixteencharacter seventeencharacter"
    starts, lengths, first, last, slow = scan_tokens(np.frombuffer(raw, np.uint8), TABLES[True])
    words = raw.lower().split()
    assert slow.tolist() == [6]  # 18 bytes: longer than a key holds
    for k, word in enumerate(words[:6]):
        assert (int(first[k]), int(last[k]), int(lengths[k])) == word_key(word)


def adversarial_keys():
    """Keys that share parts: equal first 8 bytes, equal last 8 bytes, equal both with another length."""
    words = [b"a", b"ab", b"aaaaaaaa", b"aaaaaaaaa", b"aaaaaaaaaa", b"aaaaaaaab", b"baaaaaaaa", b"abcdefghijklmnop"]
    words += [b"abcdefgh" + b"x" * k for k in range(1, 9)]
    rng = np.random.default_rng(1)
    rows = [words[i] for i in rng.integers(0, len(words), 400)]
    keys = np.array([word_key(w) for w in rows], dtype=np.uint64)
    return rows, keys


@pytest.mark.parametrize("bits", [None, 9])  # 9: 512 slots for 400 rows, long probe chains
def test_group_keys_groups_exactly(bits):
    rows, keys = adversarial_keys()
    first_at, inverse = group_keys(keys[:, 0], keys[:, 1], keys[:, 2], bits=bits)
    order_of_first = list(dict.fromkeys(rows))
    assert [rows[i] for i in first_at.tolist()] == order_of_first
    assert [order_of_first[g] for g in inverse.tolist()] == rows


def test_group_keys_refuses_a_table_too_small():
    _, keys = adversarial_keys()
    with pytest.raises(ValueError, match="cannot hold 400 keys"):
        group_keys(keys[:, 0], keys[:, 1], keys[:, 2], bits=8)


def test_doc_frequencies_count_distinct_documents():
    inverse = np.array([0, 1, 0, 0, 1, 2, 0])
    doc = np.array([0, 0, 0, 1, 2, 2, 5])
    assert doc_frequencies(inverse, doc, 4).tolist() == [3, 2, 1, 0]
    with pytest.raises(ValueError, match="document order"):
        doc_frequencies(inverse, doc[::-1].copy(), 4)


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
