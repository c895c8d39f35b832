"""Compiled scans over a batch's UTF-8 bytes: token boundaries, exact word keys, grouping and lookup.

Why compiled: the BOWS stage touches every byte of the corpus twice (counting, then rows). The
numpy formulation of these steps needs a dozen full passes and temporaries per batch (translate,
compare, diff, flatnonzero, two gathers, a hash, a sort, three comparisons); each of the loops below
is one pass (numba, compiled once and cached beside this file).

Keys are those of :func:`bowsflow.data.bows.word_key`: for a token of at most 16 bytes (15 when not
ASCII), ``first`` (its first 8 bytes, little-endian, bit 63 set when longer than 8), ``last`` (its
last 8 bytes when longer than 8, else 0) and its length identify it exactly. Every function here compares
all three, so a hash collision can only cost a probe, never merge two words.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

MAX_KEY_BYTES = 16
SPACE = 0x20
LONG_FLAG = np.uint64(1 << 63)
_MIX_FIRST = np.uint64(0x9E3779B97F4A7C15)
_MIX_LAST = np.uint64(0xC2B2AE3D27D4EB4F)
_MIX_LENGTH = np.uint64(0x165667B19E3779F9)

_compiled = numba.njit(cache=True, nogil=True, boundscheck=False)


@functools.cache
def unicode_alnum() -> np.ndarray:
    """bool [0x110000]: which code points are letters or digits (``str.isalnum``, the ``[^\\W_]`` of
    Python's ``re``) in this Python's Unicode database. Made once per process (about 0.07 s)."""
    return np.array(list(map(str.isalnum, map(chr, range(0x110000)))), dtype=np.bool_)


@_compiled
def _decode_char(raw, i, n):
    """(width, code point) of the UTF-8 character starting at raw[i] (valid UTF-8; a sequence cut by
    the end of the buffer is read as far as it goes)."""
    b = np.int64(raw[i])
    if b < 0xE0:
        width, cp = 2, b & 0x1F
    elif b < 0xF0:
        width, cp = 3, b & 0x0F
    else:
        width, cp = 4, b & 0x07
    for t in range(1, width):
        if i + t >= n:
            return t, 0xFFFD
        cp = (cp << 6) | (np.int64(raw[i + t]) & 0x3F)
    return width, min(cp, 0x10FFFF)


@_compiled
def _scan(raw, i, k, table, alnum, lowercase, starts, lengths, first, last, is_slow):
    """Write the offsets, lengths, keys and slowness of the tokens of raw from byte i on, as tokens k, …
    until the arrays are full; returns (tokens written in all, the byte to go on from)."""
    n = raw.size
    while i < n:
        if k == starts.size:
            return k, i
        b = raw[i]
        if b < 0x80:
            if table[b] == SPACE:
                i += 1
                continue
        else:
            width, cp = _decode_char(raw, i, n)
            if not alnum[cp]:  # non-ASCII punctuation, symbols and spaces separate tokens
                i += width
                continue
        j = i
        non_ascii = False
        while j < n:
            b = raw[j]
            if b < 0x80:
                if table[b] == SPACE:
                    break
                j += 1
            else:
                width, cp = _decode_char(raw, j, n)
                if not alnum[cp]:
                    break
                non_ascii = True
                j += width
        length = j - i
        head = np.uint64(0)
        for t in range(min(length, 8)):
            head |= np.uint64(table[raw[i + t]]) << np.uint64(8 * t)
        tail = np.uint64(0)
        if length > 8:
            head |= LONG_FLAG
            for t in range(8):
                tail |= np.uint64(table[raw[j - 8 + t]]) << np.uint64(8 * t)
        starts[k] = i
        lengths[k] = length
        first[k] = head
        last[k] = tail
        # lowercasing a non-ASCII letter is str.lower's (it may change the bytes); and with byte 7
        # not ASCII, the long-key flag would hide its top bit unless ``last`` holds byte 7 too
        is_slow[k] = length > MAX_KEY_BYTES or (non_ascii and (lowercase or length == MAX_KEY_BYTES))
        k += 1
        i = j
    return k, i


def scan_tokens(raw: np.ndarray, table: np.ndarray, lowercase: bool):
    """The tokens of ``raw`` (uint8 [n], valid UTF-8): maximal runs of letters and digits, as the
    tokenizer defines them. An ASCII byte ``b`` separates tokens when ``table[b] == 0x20``; a non-ASCII
    character when it is not alphanumeric (:func:`unicode_alnum`).

    ``table`` (uint8 [256]) maps ASCII separators to a space and, for lowercasing (``lowercase``),
    ``A``–``Z`` to ``a``–``z``; bytes ≥ 0x80 map to themselves. Returns ``(starts, lengths, first,
    last, slow)``: int64 [k] byte offsets and lengths, uint64 [k] the keys of the mapped bytes (see
    :func:`bowsflow.data.bows.word_key`), int64 [s] the tokens the keys cannot decide, increasing:
    longer than 16 bytes, or with a non-ASCII letter when lowercasing or at 16 bytes.
    """
    # one pass into arrays sized for English (about 6 bytes a token), grown when a text needs more
    arrays = [np.empty(raw.size // 6 + 16, dtype) for dtype in (np.int64, np.int64, np.uint64, np.uint64, np.bool_)]
    alnum = unicode_alnum()
    k, i = _scan(raw, 0, 0, table, alnum, lowercase, *arrays)
    while i < raw.size:
        arrays = [np.concatenate([a, np.empty_like(a)]) for a in arrays]
        k, i = _scan(raw, i, k, table, alnum, lowercase, *arrays)
    starts, lengths, first, last, is_slow = (a[:k] for a in arrays)
    return starts, lengths, first, last, np.flatnonzero(is_slow)


@_compiled
def _key_hash(first, last, length, bits):
    h = first * _MIX_FIRST ^ last * _MIX_LAST ^ np.uint64(length) * _MIX_LENGTH
    return np.int64(h >> np.uint64(64 - bits))


@_compiled
def _group_keys(first, last, length, bits, inverse):
    n_slots = 1 << bits
    mask = n_slots - 1
    slot_group = np.full(n_slots, -1, np.int64)
    first_at = np.empty(first.size, np.int64)
    n_groups = 0
    for i in range(first.size):
        slot = _key_hash(first[i], last[i], length[i], bits)
        while True:
            g = slot_group[slot]
            if g < 0:
                slot_group[slot] = n_groups
                first_at[n_groups] = i
                inverse[i] = n_groups
                n_groups += 1
                break
            j = first_at[g]
            if first[j] == first[i] and last[j] == last[i] and length[j] == length[i]:
                inverse[i] = g
                break
            slot = (slot + 1) & mask
    return first_at[:n_groups].copy()


def group_keys(
    first: np.ndarray, last: np.ndarray, length: np.ndarray, bits: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(the row of each distinct key's first occurrence int64 [g], each row's group int64 [n]) for
    keys given as three columns [n]; groups are numbered in order of first occurrence. ``bits``: the
    table has 2**bits slots (default: at least twice the rows; tests pass fewer to force collisions)."""
    n = first.size
    bits = max(4, (2 * max(n, 1) - 1).bit_length()) if bits is None else bits  # load factor <= 1/2
    if (1 << bits) <= n:
        raise ValueError(f"group_keys: 2**{bits} slots cannot hold {n} keys")
    inverse = np.empty(n, np.int64)
    first_at = _group_keys(
        first.astype(np.uint64, copy=False),
        last.astype(np.uint64, copy=False),
        length.astype(np.int64, copy=False),
        bits,
        inverse,
    )
    return first_at, inverse


@_compiled
def _doc_frequencies(inverse, doc, n_groups):
    last_doc = np.full(n_groups, -1, np.int64)
    freq = np.zeros(n_groups, np.int64)
    for i in range(inverse.size):
        g = inverse[i]
        if last_doc[g] != doc[i]:
            last_doc[g] = doc[i]
            freq[g] += 1
    return freq


def doc_frequencies(inverse: np.ndarray, doc: np.ndarray, n_groups: int) -> np.ndarray:
    """int64 [n_groups]: in how many distinct documents each group occurs; ``doc`` (int64 [n], the
    document of each row) must not decrease."""
    if doc.size > 1 and np.any(doc[1:] < doc[:-1]):
        raise ValueError("doc_frequencies: rows must come in document order")
    return _doc_frequencies(inverse, doc.astype(np.int64, copy=False), n_groups)


def start_slots(first: np.ndarray, bits: int) -> np.ndarray:
    """int64 [n]: the slot where :func:`probe_table`'s search for each key starts (multiplicative
    hashing of the first 8 bytes alone: the top ``bits`` bits). Words that share their first 8 bytes
    share a start slot and are told apart by probing; a table is filled from these slots."""
    with np.errstate(over="ignore"):
        return ((first.astype(np.uint64, copy=False) * _MIX_FIRST) >> np.uint64(64 - bits)).astype(np.int64)


@_compiled
def probe_table(table_first, table_last, table_len, table_id, bits, first, last, length):
    """int64 [n]: the id of each key in an open-addressing table (start slot as :func:`start_slots`,
    linear probing, empty slots hold id −1), −1 where absent."""
    mask = (1 << bits) - 1
    out = np.empty(first.size, np.int64)
    for i in range(first.size):
        f = first[i]
        slot = np.int64((f * _MIX_FIRST) >> np.uint64(64 - bits))
        found = -1
        while table_id[slot] >= 0:
            if table_first[slot] == f and table_last[slot] == last[i] and table_len[slot] == length[i]:
                found = table_id[slot]
                break
            slot = (slot + 1) & mask
        out[i] = found
    return out


@_compiled
def _continuations(raw, i, n, count, low, high):
    """Whether raw[i] lies in low … high and the count − 1 bytes after it are continuation bytes."""
    if i + count > n or raw[i] < low or raw[i] > high:
        return False
    for t in range(1, count):
        if raw[i + t] < 0x80 or raw[i + t] > 0xBF:
            return False
    return True


@_compiled
def is_utf8(raw) -> bool:
    """Whether ``raw`` (uint8 [n]) is well-formed UTF-8, as Python's strict decoder has it (the
    Unicode standard's table 3-7: no overlong form, no surrogate, nothing above U+10FFFF)."""
    n = raw.size
    i = 0
    while i < n:
        b = raw[i]
        if b < 0x80:
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            ok, width = _continuations(raw, i + 1, n, 1, 0x80, 0xBF), 2
        elif b == 0xE0:
            ok, width = _continuations(raw, i + 1, n, 2, 0xA0, 0xBF), 3
        elif b == 0xED:
            ok, width = _continuations(raw, i + 1, n, 2, 0x80, 0x9F), 3
        elif 0xE1 <= b <= 0xEF:
            ok, width = _continuations(raw, i + 1, n, 2, 0x80, 0xBF), 3
        elif b == 0xF0:
            ok, width = _continuations(raw, i + 1, n, 3, 0x90, 0xBF), 4
        elif 0xF1 <= b <= 0xF3:
            ok, width = _continuations(raw, i + 1, n, 3, 0x80, 0xBF), 4
        elif b == 0xF4:
            ok, width = _continuations(raw, i + 1, n, 3, 0x80, 0x8F), 4
        else:
            return False
        if not ok:
            return False
        i += width
    return True


@_compiled
def _fill_line_kinds(block, content_byte, line_end, kind):
    n = block.size
    k = 0
    i = 0
    while i < n:  # at the start of a line
        line_kind = 0
        while i < n:
            b = block[i]
            if b == 0x0A:
                break
            if content_byte[b]:
                line_kind = 1
                break
            if b >= 0x80:
                line_kind = 2
            i += 1
        if line_kind == 1:  # decided: only its end is left to find (most lines end here)
            while i < n and block[i] != 0x0A:
                i += 1
        line_end[k] = i
        kind[k] = line_kind
        k += 1
        i += 1


def line_kinds(block: np.ndarray, content_byte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where each line of ``block`` (uint8 [n]) ends int64 [l] — its ``\\n``, or n for a last line
    without one —, its kind int8 [l]): 1 when it holds a byte with ``content_byte[b]`` (bool [256]),
    else 2 when it holds a byte ≥ 0x80 (undecided: non-ASCII whitespace or not), else 0."""
    n_lines = int(np.count_nonzero(block == 0x0A))
    if block.size and block[-1] != 0x0A:
        n_lines += 1
    line_end = np.empty(n_lines, np.int64)
    kind = np.empty(n_lines, np.int8)
    _fill_line_kinds(block, content_byte, line_end, kind)
    return line_end, kind
