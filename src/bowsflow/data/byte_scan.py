"""Compiled scans over a batch's UTF-8 bytes: token boundaries, exact word keys, counting and lookup.

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
# bytes eight at a time (a uint64 word): the top bit of each byte, the low bit of each, eight "\n"
_HIGH_BITS = np.uint64(0x8080808080808080)
_LOW_BITS = np.uint64(0x0101010101010101)
_NEWLINES = np.uint64(0x0A0A0A0A0A0A0A0A)

_compiled = numba.njit(cache=True, nogil=True, boundscheck=False)


@functools.cache
def unicode_alnum() -> np.ndarray:
    """bool [0x110000]: which code points are letters or digits (``str.isalnum``, the ``[^\\W_]`` of
    Python's ``re``) in this Python's Unicode database. Made once per process (about 0.07 s)."""
    return np.fromiter(map(str.isalnum, map(chr, range(0x110000))), dtype=np.bool_, count=0x110000)


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
        # the token's bytes (mapped by the table) go through a 64-bit register, each new byte entering
        # at the top: after 8 bytes it holds the key's first 8, at the end its last 8
        j = i
        non_ascii = False
        roll = np.uint64(0)
        head = np.uint64(0)
        while j < n:
            b = raw[j]
            if b < 0x80:
                c = table[b]
                if c == SPACE:
                    break
                roll = (roll >> np.uint64(8)) | (np.uint64(c) << np.uint64(56))
                j += 1
                if j - i == 8:
                    head = roll
            else:
                width, cp = _decode_char(raw, j, n)
                if not alnum[cp]:
                    break
                non_ascii = True
                for _ in range(width):  # bytes >= 0x80 map to themselves
                    roll = (roll >> np.uint64(8)) | (np.uint64(raw[j]) << np.uint64(56))
                    j += 1
                    if j - i == 8:
                        head = roll
        length = j - i
        if length > 8:
            first[k] = head | LONG_FLAG
            last[k] = roll
        else:  # the token's bytes are the register's top ``length`` bytes
            first[k] = roll >> np.uint64(8 * (8 - length)) if length < 8 else roll
            last[k] = 0
        starts[k] = i
        lengths[k] = length
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


# A counting table's slot is one row of 6 uint64 (48 bytes): the key's three parts (length 0: an
# empty slot), the word's count, its document frequency and the last document it was seen in. One
# row, not one array per field: a token's probe touches one or two cache lines, not six, and the
# frequent words' slots (most tokens) stay in the core's cache. A distinct word takes 96–192 bytes
# (load 1/2 to 1/4); 64-byte rows, one line each, were no faster here and take a third more.
_FIRST, _LAST, _LENGTH, _COUNT, _DOC_FREQ, _LAST_DOC = range(6)
_SLOT_WIDTH = 6
_NO_DOC = np.uint64(0xFFFFFFFFFFFFFFFF)


@_compiled
def _find_or_insert(table, bits, f, la, n):
    """(slot of key (f, la, n) in the table, whether it is new): linear probing from its hash."""
    mask = (1 << bits) - 1
    slot = _key_hash(f, la, n, bits)
    while table[slot, _LENGTH] != 0:
        if table[slot, _FIRST] == f and table[slot, _LAST] == la and table[slot, _LENGTH] == n:
            return slot, False
        slot = (slot + 1) & mask
    table[slot, _FIRST], table[slot, _LAST], table[slot, _LENGTH] = f, la, n
    table[slot, _COUNT], table[slot, _DOC_FREQ], table[slot, _LAST_DOC] = 0, 0, _NO_DOC
    return slot, True


@_compiled
def _count_one(table, bits, n_used, f, la, n, d):
    slot, new = _find_or_insert(table, bits, f, la, n)
    table[slot, _COUNT] += np.uint64(1)
    if table[slot, _LAST_DOC] != d:
        table[slot, _LAST_DOC] = d
        table[slot, _DOC_FREQ] += np.uint64(1)
    return n_used + 1 if new else n_used


@_compiled
def _count_tokens(
    table, bits, n_used, limit, first, last, length, doc, slow, i, s, x_first, x_last, x_length, x_doc, x, base
):
    """Count tokens i … (skipping the sorted indices ``slow``) and the extra rows x … (sorted by
    document), merged in document order, until the table holds ``limit`` keys; returns where it
    stopped (i, s, x) and the keys held. Document d of the batch is number d + base of the table."""
    while i < first.size or x < x_first.size:
        if n_used >= limit:
            break
        if x < x_first.size and (i >= first.size or x_doc[x] < doc[i]):
            d = np.uint64(x_doc[x] + base)
            n_used = _count_one(table, bits, n_used, x_first[x], x_last[x], np.uint64(x_length[x]), d)
            x += 1
        elif s < slow.size and slow[s] == i:
            s += 1
            i += 1
        else:
            n_used = _count_one(table, bits, n_used, first[i], last[i], np.uint64(length[i]), np.uint64(doc[i] + base))
            i += 1
    return i, s, x, n_used


@_compiled
def _add_counts(table, bits, n_used, limit, add_keys, add_counts, add_doc_freqs, i):
    """Add counted keys i … (rows of ``add_keys`` [k, 3] with their counts and document frequencies,
    from documents no other call counts) until the table holds ``limit`` keys; returns (i, keys held)."""
    while i < add_keys.shape[0] and n_used < limit:
        slot, new = _find_or_insert(table, bits, add_keys[i, 0], add_keys[i, 1], add_keys[i, 2])
        table[slot, _COUNT] += add_counts[i]
        table[slot, _DOC_FREQ] += add_doc_freqs[i]
        if new:
            n_used += 1
        i += 1
    return i, n_used


@_compiled
def _rehash(table, new_table, bits):
    mask = (1 << bits) - 1
    for old in range(table.shape[0]):
        if table[old, _LENGTH] == 0:
            continue
        slot = _key_hash(table[old, _FIRST], table[old, _LAST], table[old, _LENGTH], bits)
        while new_table[slot, _LENGTH] != 0:
            slot = (slot + 1) & mask
        new_table[slot] = table[old]


class KeyCounter:
    """Counts and document frequencies of exact word keys (first, last, length; see the module's
    docstring) over a whole corpus in one open-addressing table: memory grows with the distinct words,
    and each token costs one probe (no per-batch grouping, sorting and merging).

    Tokens come batch by batch in document order (:meth:`count_tokens`); a word's document frequency
    counts the distinct documents it occurs in (the table keeps the last document each word was seen
    in, so documents must not go back). Counts grouped elsewhere, over other documents, are added with
    :meth:`add_counts`. The table doubles when half full."""

    def __init__(self, bits: int = 16):
        self.bits = bits
        self.table = np.zeros((1 << bits, _SLOT_WIDTH), np.uint64)
        self.n_used = 0
        self._next_doc = 0  # documents of earlier batches are numbered below this

    def _grow(self) -> None:
        old, self.bits = self.table, self.bits + 1
        self.table = np.zeros((1 << self.bits, _SLOT_WIDTH), np.uint64)
        _rehash(old, self.table, self.bits)

    def _limit(self) -> int:
        return 1 << (self.bits - 1)  # load factor at most 1/2

    def count_tokens(self, first, last, length, doc, slow, extra_keys, extra_doc, n_docs: int) -> None:
        """Count one batch's tokens: keys first, last uint64 [n], length [n], doc int64 [n] (the
        batch's document of each token, −1 … n_docs − 1, non-decreasing), skipping ``slow`` (sorted
        int64 indices), and extra keyed rows ``extra_keys`` uint64 [x, 3] in documents ``extra_doc``
        int64 [x] (non-decreasing)."""
        base = self._next_doc + 1  # document −1 (tokens before the first document) gets a number too
        self._next_doc += n_docs + 1
        doc, extra_doc = np.asarray(doc, np.int64), np.asarray(extra_doc, np.int64)
        extra_keys = np.asarray(extra_keys, np.uint64).reshape(-1, 3)
        columns = [np.ascontiguousarray(extra_keys[:, j]) for j in range(3)]
        first, last = first.astype(np.uint64, copy=False), last.astype(np.uint64, copy=False)
        i = s = x = 0
        while True:
            i, s, x, self.n_used = _count_tokens(
                self.table, self.bits, self.n_used, self._limit(), first, last, length, doc, slow, i, s,
                *columns, extra_doc, x, base,
            )  # fmt: skip
            if i >= first.size and x >= extra_doc.size:
                return
            self._grow()

    def add_counts(self, keys: np.ndarray, counts: np.ndarray, doc_freqs: np.ndarray) -> None:
        """Add keys uint64 [k, 3] (distinct) counted over documents no other call covers."""
        keys = np.asarray(keys, np.uint64)
        counts, doc_freqs = np.asarray(counts, np.uint64), np.asarray(doc_freqs, np.uint64)
        i = 0
        while True:
            i, self.n_used = _add_counts(self.table, self.bits, self.n_used, self._limit(), keys, counts, doc_freqs, i)
            if i >= len(keys):
                return
            self._grow()

    def totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys uint64 [k, 3], counts int64 [k], document frequencies int64 [k]) of the words seen, in
        the table's order."""
        used = self.table[self.table[:, _LENGTH] != 0]
        return (
            np.ascontiguousarray(used[:, :3]),
            used[:, _COUNT].astype(np.int64),
            used[:, _DOC_FREQ].astype(np.int64),
        )


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
    words = raw[: n - n % 8].view(np.uint64)  # ASCII is skipped 8 bytes at a time
    i = 0
    while i < n:
        b = raw[i]
        if b < 0x80:
            if i & 7 == 0:
                w = i >> 3
                while w < words.size and words[w] & _HIGH_BITS == 0:
                    w += 1
                i = max(i + 1, w << 3)
            else:
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
def _next_newline(block, words, i):
    """The position of the first ``\n`` in block[i:] (block.size if none); ``words`` is the block's
    first bytes viewed as uint64, scanned 8 bytes at a time (a word with no zero byte after xor with
    ``\n``s holds no line end)."""
    n = block.size
    while i < n and i & 7 != 0:
        if block[i] == 0x0A:
            return i
        i += 1
    w = i >> 3
    while w < words.size:
        x = words[w] ^ _NEWLINES
        if (x - _LOW_BITS) & ~x & _HIGH_BITS != 0:
            break
        w += 1
    i = max(i, w << 3)
    while i < n and block[i] != 0x0A:
        i += 1
    return i


@_compiled
def _fill_line_kinds(block, content_byte, line_end, kind):
    n = block.size
    words = block[: n - n % 8].view(np.uint64)
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
            i = _next_newline(block, words, i)
        line_end[k] = i
        kind[k] = line_kind
        k += 1
        i += 1


def line_kinds(
    block: np.ndarray, content_byte: np.ndarray, n_newlines: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(where each line of ``block`` (uint8 [n]) ends int64 [l] — its ``\\n``, or n for a last line
    without one —, its kind int8 [l]): 1 when it holds a byte with ``content_byte[b]`` (bool [256]),
    else 2 when it holds a byte ≥ 0x80 (undecided: non-ASCII whitespace or not), else 0.
    ``n_newlines``: the block's count of ``\\n`` where the caller has it (else counted here)."""
    n_lines = int(np.count_nonzero(block == 0x0A)) if n_newlines is None else n_newlines
    if block.size and block[-1] != 0x0A:
        n_lines += 1
    line_end = np.empty(n_lines, np.int64)
    kind = np.empty(n_lines, np.int8)
    _fill_line_kinds(block, content_byte, line_end, kind)
    return line_end, kind
