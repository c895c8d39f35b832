"""A zstd frame of a sparse 0/1 byte array, written from the positions of its ones.

Why: the BOWS store keeps its rows dense (``bows``, bool [n, V]) for xarray users, zstd-compressed.
At V = 10,000 a 65,536-row chunk is 655 MB of bytes of which about 0.3% are ones; zstd's compressor
reads all of them, at about 3.3 GB/s on this machine at any level (1 down to -200), so compressing
the dense chunks was about 1.1 s of the 4.8 s BOWS job on 160 MB of text. The chunk's content is
known from its ones alone, so here the compressed frame is written from them directly, in time
proportional to the number of ones, and the dense chunk is never made.

The frame is an ordinary zstd frame (RFC 8878) that any decoder reads, zarr's ``zstd`` codec
included: every run of zeros after a one is one *sequence* — the literals ``1 0`` followed by a
match at offset 1 (the repeat offset every frame starts with) that copies the zero — so the ones and
the first zero of each run are Huffman-coded literals (1 bit each) and a run costs its match
length's code (FSE-coded with one table per frame, made from the frame's own counts) and extra bits.
Runs shorter than 4 zeros (a match is at least 3 bytes) stay literals. Blocks hold at most 128 KiB of
content and at most 1,023 literals (a single Huffman stream); a block of zeros alone is an RLE
block; a block that would not be smaller compressed is stored raw. On the bundled corpus a 65,536 ×
10,000 chunk's frame takes 0.06 s and 2.50 MB, zstd's own at level 1 0.60 s and 4.35 MB.

``tests/store/test_sparse_zstd.py`` decompresses frames with two decoders (the ``zstandard``
package's, and zarr's codec through numcodecs) and compares every byte with the dense array.
"""

from __future__ import annotations

import numba
import numpy as np

_compiled = numba.njit(cache=True, nogil=True, boundscheck=False)

WINDOW_LOG = 17  # the frame's window, 128 KiB (matches reach back one byte; it bounds a block)
BLOCK_CONTENT = 1 << WINDOW_LOG  # the largest block content
MAX_LITERALS = 1023  # a single Huffman stream's limit (10-bit sizes)
TABLE_LOG = 9  # the largest accuracy the format allows literal and match length codes
_NCOUNT_BYTES = 128  # more than a 9-bit table of at most 53 symbols needs

# the format's literal length and match length codes: base value and extra bits of each code
LL_BASE = np.array(
    [*range(16), 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536],
    dtype=np.int64,
)
LL_BITS = np.array([0] * 16 + [1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], dtype=np.int64)
ML_BASE = np.array(
    [*range(3, 35), 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771]
    + [65539],
    dtype=np.int64,
)
ML_BITS = np.array([0] * 32 + [1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], dtype=np.int64)
# the code of every literal length a block can have and of every match length (looked up: a search
# per sequence cost a third of the encoding)
LL_CODE = (np.searchsorted(LL_BASE, np.arange(MAX_LITERALS + 1), side="right") - 1).astype(np.uint8)
ML_CODE = (np.searchsorted(ML_BASE, np.arange(BLOCK_CONTENT + 1), side="right") - 1).astype(np.uint8)


@_compiled
def _highbit(x):
    n = -1
    while x:
        x >>= 1
        n += 1
    return n


@_compiled
def _plan_block(positions, k, pos, n_bytes, lits, seq_ll, seq_ml):
    """Cut the next block from byte ``pos`` (``positions[k]`` the next one at or after it): its
    literals (0/1 bytes, into ``lits``) and its sequences (literal length, match length, into
    ``seq_ll``/``seq_ml``), every match at offset 1 copying the zero literal before it. Returns
    (bytes, literals, sequences, ones) of the block and the next (k, pos)."""
    start = pos
    n_lit = 0
    n_seq = 0
    since_seq = 0
    n_ones = 0
    nnz = positions.size
    while pos < n_bytes:
        room = BLOCK_CONTENT - (pos - start)
        if room == 0:
            break
        next_one = positions[k] if k < nnz else n_bytes
        zeros = next_one - pos
        if zeros > 0:
            take = min(zeros, room)
            if take >= 4 and n_lit < MAX_LITERALS:
                lits[n_lit] = 0
                n_lit += 1
                seq_ll[n_seq] = since_seq + 1
                seq_ml[n_seq] = take - 1
                n_seq += 1
                since_seq = 0
            else:
                if n_lit + take > MAX_LITERALS:
                    break
                for i in range(take):
                    lits[n_lit + i] = 0
                n_lit += take
                since_seq += take
            pos += take
            continue
        if n_lit == MAX_LITERALS:
            break
        lits[n_lit] = 1
        n_lit += 1
        since_seq += 1
        n_ones += 1
        pos += 1
        k += 1
    return pos - start, n_lit, n_seq, n_ones, k, pos


@_compiled
def _normalize(counts, table_log):
    """Normalized counts summing to ``2**table_log``, at least 1 for every symbol counted (the
    largest symbol takes the rounding)."""
    total = counts.sum()
    size = 1 << table_log
    norm = np.zeros(counts.size, dtype=np.int64)
    if total == 0:  # no sequence: a table that is never used, but valid
        norm[0] = size
        return norm
    largest = 0
    for s in range(counts.size):
        if counts[s] > 0:
            norm[s] = max(1, (counts[s] * size + total // 2) // total)
            if norm[s] > norm[largest]:
                largest = s
    rest = size - norm.sum()
    norm[largest] += rest
    while norm[largest] < 1:  # many symbols rounded up to 1: take back from the others
        for s in range(norm.size):
            if norm[s] > 1 and norm[largest] < 1:
                norm[s] -= 1
                norm[largest] += 1
    return norm


@_compiled
def _encoding_table(norm, table_log):
    """FSE's encoding table of a normalized distribution: (next state [2**table_log], per symbol
    (delta of bits, delta of state)), laid out as the format's decoder lays out its table."""
    size = 1 << table_log
    mask = size - 1
    step = (size >> 1) + (size >> 3) + 3
    symbol_at = np.zeros(size, dtype=np.int64)
    position = 0
    for s in range(norm.size):
        for _ in range(norm[s]):
            symbol_at[position] = s
            position = (position + step) & mask
    cumul = np.zeros(norm.size + 1, dtype=np.int64)
    for s in range(norm.size):
        cumul[s + 1] = cumul[s] + norm[s]
    next_state = np.zeros(size, dtype=np.int64)
    for u in range(size):
        s = symbol_at[u]
        next_state[cumul[s]] = size + u
        cumul[s] += 1
    delta_bits = np.zeros(norm.size, dtype=np.int64)
    delta_state = np.zeros(norm.size, dtype=np.int64)
    total = 0
    for s in range(norm.size):
        n = norm[s]
        if n == 1:
            delta_bits[s] = (table_log << 16) - size
            delta_state[s] = total - 1
            total += 1
        elif n > 1:
            bits_out = table_log - _highbit(n - 1)
            delta_bits[s] = (bits_out << 16) - (n << bits_out)
            delta_state[s] = total - n
            total += n
    return next_state, delta_bits, delta_state


@_compiled
def _put(out, at, acc, n_acc, value, n_bits):
    """Append the low ``n_bits`` of ``value`` to the little-endian bit stream (``acc`` holds the
    ``n_acc`` < 8 bits not yet written at ``out[at]``); returns the new (at, acc, n_acc)."""
    acc |= (value & ((1 << n_bits) - 1)) << n_acc
    n_acc += n_bits
    while n_acc >= 8:
        out[at] = acc & 0xFF
        at += 1
        acc >>= 8
        n_acc -= 8
    return at, acc, n_acc


@_compiled
def _close(out, at, acc, n_acc):
    """End a backward-read bit stream: a 1 bit marks its end, then the last byte."""
    at, acc, n_acc = _put(out, at, acc, n_acc, 1, 1)
    if n_acc:
        out[at] = acc
        at += 1
    return at


@_compiled
def _write_ncount(out, at, norm, table_log):
    """The normalized counts as the format describes an FSE table (RFC 8878, 4.1.1)."""
    acc = 0
    n_acc = 0
    at, acc, n_acc = _put(out, at, acc, n_acc, table_log - 5, 4)
    size = 1 << table_log
    remaining = size + 1
    threshold = size
    n_bits = table_log + 1
    s = 0
    last = norm.size - 1
    while norm[last] == 0:
        last -= 1
    previous_zero = False
    while s <= last and remaining > 1:
        if previous_zero:
            start = s
            while norm[s] == 0:
                s += 1
            while s >= start + 24:
                start += 24
                at, acc, n_acc = _put(out, at, acc, n_acc, 0xFFFF, 16)
            while s >= start + 3:
                start += 3
                at, acc, n_acc = _put(out, at, acc, n_acc, 3, 2)
            at, acc, n_acc = _put(out, at, acc, n_acc, s - start, 2)
        count = norm[s]
        s += 1
        largest = 2 * threshold - 1 - remaining
        remaining -= count
        count += 1
        if count >= threshold:
            count += largest
        if count < largest:
            at, acc, n_acc = _put(out, at, acc, n_acc, count, n_bits - 1)
        else:
            at, acc, n_acc = _put(out, at, acc, n_acc, count, n_bits)
        previous_zero = count == 1
        while remaining < threshold:
            n_bits -= 1
            threshold >>= 1
    if n_acc:
        out[at] = acc
        at += 1
    return at


@_compiled
def _block_bound(n_lit, n_seq):
    """More bytes than a compressed block body of ``n_lit`` literals and ``n_seq`` sequences takes:
    headers, two table descriptions, the literals raw, 50 bits a sequence and the final states."""
    return 32 + 2 * _NCOUNT_BYTES + n_lit + 8 * n_seq


@_compiled
def _put_header(out, at, value, n_bytes):
    for i in range(n_bytes):
        out[at + i] = (value >> (8 * i)) & 0xFF
    return at + n_bytes


@_compiled
def _write_table(out, at, mode, rle_symbol, norm):
    """A sequence code's table at ``out[at]``: its one symbol (RLE mode), its normalized counts (FSE
    mode) or nothing (repeat mode); returns the end."""
    if mode == 1:
        out[at] = rle_symbol
        return at + 1
    if mode == 2:
        return _write_ncount(out, at, norm, TABLE_LOG)
    return at


@_compiled
def _first_state(next_state, delta_bits, delta_state, symbol):
    """The encoder's state after the first symbol it encodes (the last the decoder reads)."""
    bits = (delta_bits[symbol] + (1 << 15)) >> 16
    return next_state[(((bits << 16) - delta_bits[symbol]) >> bits) + delta_state[symbol]]


@_compiled
def _encode_symbol(out, at, acc, n_acc, state, next_state, delta_bits, delta_state, symbol):
    """Encode ``symbol`` from ``state``: the state's low bits go out; returns (state, at, acc, n_acc)."""
    bits = (state + delta_bits[symbol]) >> 16
    at, acc, n_acc = _put(out, at, acc, n_acc, state, bits)
    return next_state[(state >> bits) + delta_state[symbol]], at, acc, n_acc


@_compiled
def _encode_block(out, at, lits, n_lit, seq_ll, seq_ml, n_seq, modes, tables, first_tables):
    """A compressed block's body (literals then sequences) at ``out[at]``; returns its end."""
    ll_next, ll_dbits, ll_dstate, ml_next, ml_dbits, ml_dstate = tables
    ll_norm, ml_norm, ll_rle, ml_rle = modes
    # literals: Huffman with two 1-bit codes (the byte is its code) when both bytes occur, else raw
    n_one = 0
    for i in range(n_lit):
        n_one += lits[i]
    if 0 < n_one < n_lit:
        head = at
        at += 3
        out[at] = 128  # the tree: one weight given (byte 0's: 1), byte 1's implied (1)
        out[at + 1] = 0x10
        at += 2
        acc = 0
        n_acc = 0
        for i in range(n_lit - 1, -1, -1):  # read backward: the first literal last
            at, acc, n_acc = _put(out, at, acc, n_acc, lits[i], 1)
        at = _close(out, at, acc, n_acc)
        _put_header(out, head, 2 | (n_lit << 4) | ((at - head - 3) << 14), 3)
    else:
        at = _put_header(out, at, 0 | (1 << 2) | (n_lit << 4), 2)
        for i in range(n_lit):
            out[at + i] = lits[i]
        at += n_lit
    # sequences
    if n_seq < 128:
        out[at] = n_seq
        at += 1
    else:
        out[at] = 128 + (n_seq >> 8)
        out[at + 1] = n_seq & 0xFF
        at += 2
    if n_seq == 0:
        return at
    ll_mode = 1 if ll_rle >= 0 else (2 if first_tables else 3)
    ml_mode = 1 if ml_rle >= 0 else (2 if first_tables else 3)
    out[at] = (ll_mode << 6) | (1 << 4) | (ml_mode << 2)  # offsets: RLE of code 0 (repeat offset 1)
    at += 1
    at = _write_table(out, at, ll_mode, ll_rle, ll_norm)
    out[at] = 0  # the offset code
    at += 1
    at = _write_table(out, at, ml_mode, ml_rle, ml_norm)
    # the bit stream, last sequence first (the decoder reads it backward)
    acc = 0
    n_acc = 0
    n = n_seq - 1
    ll = seq_ll[n]
    llc = np.int64(LL_CODE[ll])
    ml = seq_ml[n]
    mlc = np.int64(ML_CODE[ml])
    size = 1 << TABLE_LOG
    ml_state = 0
    ll_state = 0
    if ml_rle < 0:
        ml_state = _first_state(ml_next, ml_dbits, ml_dstate, mlc)
    if ll_rle < 0:
        ll_state = _first_state(ll_next, ll_dbits, ll_dstate, llc)
    at, acc, n_acc = _put(out, at, acc, n_acc, ll - LL_BASE[llc], LL_BITS[llc])
    at, acc, n_acc = _put(out, at, acc, n_acc, ml - ML_BASE[mlc], ML_BITS[mlc])
    for n in range(n_seq - 2, -1, -1):
        ll = seq_ll[n]
        llc = np.int64(LL_CODE[ll])
        ml = seq_ml[n]
        mlc = np.int64(ML_CODE[ml])
        if ml_rle < 0:
            ml_state, at, acc, n_acc = _encode_symbol(out, at, acc, n_acc, ml_state, ml_next, ml_dbits, ml_dstate, mlc)
        if ll_rle < 0:
            ll_state, at, acc, n_acc = _encode_symbol(out, at, acc, n_acc, ll_state, ll_next, ll_dbits, ll_dstate, llc)
        at, acc, n_acc = _put(out, at, acc, n_acc, ll - LL_BASE[llc], LL_BITS[llc])
        at, acc, n_acc = _put(out, at, acc, n_acc, ml - ML_BASE[mlc], ML_BITS[mlc])
    if ml_rle < 0:
        at, acc, n_acc = _put(out, at, acc, n_acc, ml_state - size, TABLE_LOG)
    if ll_rle < 0:
        at, acc, n_acc = _put(out, at, acc, n_acc, ll_state - size, TABLE_LOG)
    return _close(out, at, acc, n_acc)


@_compiled
def _frame(positions, n_bytes):
    """The zstd frame (uint8 array) of ``n_bytes`` bytes, 1 at ``positions`` (increasing, in range)
    and 0 elsewhere."""
    lits = np.zeros(MAX_LITERALS + 4, dtype=np.int64)
    seq_ll = np.zeros(MAX_LITERALS + 4, dtype=np.int64)
    seq_ml = np.zeros(MAX_LITERALS + 4, dtype=np.int64)
    ll_counts = np.zeros(LL_BASE.size, dtype=np.int64)
    ml_counts = np.zeros(ML_BASE.size, dtype=np.int64)
    # first pass: the blocks' sizes and the codes' counts, for one table per frame
    bound = 32
    k = 0
    pos = 0
    while pos < n_bytes:
        size, n_lit, n_seq, n_ones, k, pos = _plan_block(positions, k, pos, n_bytes, lits, seq_ll, seq_ml)
        for i in range(n_seq):
            ll_counts[LL_CODE[seq_ll[i]]] += 1
            ml_counts[ML_CODE[seq_ml[i]]] += 1
        bound += 3 + min(size, _block_bound(n_lit, n_seq))
    ll_rle = -1
    ml_rle = -1
    if (ll_counts > 0).sum() == 1:
        ll_rle = np.argmax(ll_counts)
    if (ml_counts > 0).sum() == 1:
        ml_rle = np.argmax(ml_counts)
    ll_norm = _normalize(ll_counts, TABLE_LOG)
    ml_norm = _normalize(ml_counts, TABLE_LOG)
    ll_next, ll_dbits, ll_dstate = _encoding_table(ll_norm, TABLE_LOG)
    ml_next, ml_dbits, ml_dstate = _encoding_table(ml_norm, TABLE_LOG)
    tables = (ll_next, ll_dbits, ll_dstate, ml_next, ml_dbits, ml_dstate)
    modes = (ll_norm, ml_norm, ll_rle, ml_rle)
    # room for a block encoded before it turns out larger than its content (then stored raw)
    out = np.zeros(bound + _block_bound(MAX_LITERALS, MAX_LITERALS), dtype=np.uint8)
    # the frame header: magic, 8-byte content size without a single segment, no checksum; the window
    at = _put_header(out, 0, 0xFD2FB528, 4)
    out[at] = 0xC0
    out[at + 1] = (WINDOW_LOG - 10) << 3
    at = _put_header(out, at + 2, n_bytes, 8)
    sent_tables = False
    k = 0
    pos = 0
    while pos < n_bytes:
        start = pos
        size, n_lit, n_seq, n_ones, k, pos = _plan_block(positions, k, pos, n_bytes, lits, seq_ll, seq_ml)
        last = 1 if pos == n_bytes else 0
        head = at
        if n_ones == 0:  # zeros alone: an RLE block
            at = _put_header(out, at, last | (1 << 1) | (size << 3), 3)
            out[at] = 0
            at += 1
            continue
        first_tables = not sent_tables
        end = _encode_block(out, at + 3, lits, n_lit, seq_ll, seq_ml, n_seq, modes, tables, first_tables)
        if end - (at + 3) < size:
            _put_header(out, head, last | (2 << 1) | ((end - at - 3) << 3), 3)
            at = end
            if n_seq > 0:
                sent_tables = True
        else:  # not smaller compressed: raw
            at = _put_header(out, at, last | (size << 3), 3)
            out[at : at + size] = 0
            j = k - n_ones
            for i in range(n_ones):
                out[at + positions[j + i] - start] = 1
            at += size
    return out[:at]


def zstd_frame_of_ones(lengths: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> bytes:
    """The zstd frame of the bool (0/1 byte) array [n_rows, n_columns], C order, whose ones are given
    row by row: ``lengths`` int [n ≤ n_rows] ones per row, ``columns`` int [sum(lengths)] their
    columns, increasing within a row (rows n … n_rows − 1 all zero)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64)
    if lengths.size > n_rows or lengths.sum() != columns.size:
        raise ValueError(
            f"lengths give {lengths.size} rows holding {int(lengths.sum())} ones and columns give {columns.size} ones; "
            f"the array has {n_rows} rows"
        )
    n_bytes = n_rows * n_columns
    if n_bytes == 0:
        raise ValueError("an empty array has no zstd frame here")
    positions = np.repeat(np.arange(lengths.size, dtype=np.int64) * n_columns, lengths) + columns
    if columns.size and (columns.min() < 0 or columns.max() >= n_columns or (np.diff(positions) <= 0).any()):
        raise ValueError(f"columns must lie in [0, {n_columns}) and increase within each row")
    return _frame(positions, n_bytes).tobytes()
