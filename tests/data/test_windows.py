import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bowsflow.data.windows import (
    WindowSpec,
    unit_window_pairs,
    window_bounds,
    window_origins,
    window_word_rows,
    windows_per_group,
)


def test_window_bounds_hand_cases():
    assert window_bounds(10, WindowSpec("tokens", 4, 4)) == [(0, 4), (4, 8)]  # tail 8..9 not covered
    assert window_bounds(10, WindowSpec("tokens", 4, 3)) == [(0, 4), (3, 7), (6, 10)]
    assert window_bounds(3, WindowSpec("tokens", 4, 1)) == [(0, 3)]  # short group: one window
    assert window_bounds(0, WindowSpec("tokens", 4, 1)) == []
    assert window_bounds(5, WindowSpec("lines", 2, 1)) == [(0, 2), (1, 3), (2, 4), (3, 5)]


@pytest.mark.parametrize("bad", [dict(size=0), dict(stride=0), dict(size=-3), dict(unit="chars")])
def test_window_spec_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="window"):
        WindowSpec(**({"unit": "tokens", "size": 4, "stride": 4} | bad))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 25), min_size=1, max_size=5),
    st.integers(1, 8),
    st.integers(1, 8),
)
def test_unit_window_pairs_equal_brute_force(n_units, size, stride):
    spec = WindowSpec("tokens", size, stride)
    n_units = np.array(n_units)
    group = np.concatenate([np.full(n, g) for g, n in enumerate(n_units)]).astype(np.int64)
    unit = np.concatenate([np.arange(n) for n in n_units]).astype(np.int64)
    rows, entry = unit_window_pairs(group, unit, n_units, spec)
    got = sorted(zip(rows.tolist(), entry.tolist()))
    expected, row, e0 = [], 0, 0
    for n in n_units.tolist():
        for lo, hi in window_bounds(n, spec):
            expected += [(row, e0 + u) for u in range(lo, hi)]
            row += 1
        e0 += n
    assert got == sorted(expected)
    assert windows_per_group(n_units, spec).sum() == row


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 25), min_size=1, max_size=6),
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
)
def test_window_word_rows_are_each_windows_distinct_ids(n_units, size, stride, seed):
    # entries: a random subset of each group's units (the tokens that are vocabulary words), with
    # repeated ids; each window's row is the sorted set of ids of the units window_bounds gives it
    rng = np.random.default_rng(seed)
    spec = WindowSpec("tokens", size, stride)
    n_units = np.array(n_units, dtype=np.int64)
    kept = [np.flatnonzero(rng.random(n) < 0.7) for n in n_units.tolist()]
    group = np.concatenate([np.full(k.size, g) for g, k in enumerate(kept)]).astype(np.int64)
    unit = np.concatenate(kept).astype(np.int64)
    ids = rng.integers(0, 5, unit.size)
    lengths, words = window_word_rows(group, unit, ids, n_units, spec, 5)
    expected = []
    for g, n in enumerate(n_units.tolist()):
        for lo, hi in window_bounds(n, spec):
            expected.append(sorted(set(ids[(group == g) & (unit >= lo) & (unit < hi)].tolist())))
    assert lengths.tolist() == [len(row) for row in expected]
    assert words.dtype == np.int32 and words.tolist() == [w for row in expected for w in row]
    window_group, window_start = window_origins(n_units, spec)
    origins = [(g, lo) for g, n in enumerate(n_units.tolist()) for lo, _ in window_bounds(n, spec)]
    assert list(zip(window_group.tolist(), window_start.tolist())) == origins
