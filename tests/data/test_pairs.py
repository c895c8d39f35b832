import numpy as np
import pytest

from bowsflow.data.pairs import distinct_pairs


def test_distinct_pairs_hand_case():
    major, minor = distinct_pairs(np.array([2, 0, 2, 0, 1]), np.array([1, 3, 1, 0, 3]), 4)
    assert list(zip(major.tolist(), minor.tolist())) == [(0, 0), (0, 3), (1, 3), (2, 1)]


@pytest.mark.parametrize("n_minor", [7, 3_000_000_000])  # one integer per pair: int32, and int64 when it must
def test_distinct_pairs_equal_a_set_of_tuples(n_minor):
    rng = np.random.default_rng(n_minor % 97)
    major = rng.integers(0, 50, size=2000)
    minor = rng.integers(0, min(n_minor, 40), size=2000) + (n_minor - min(n_minor, 40))
    got = list(zip(*(a.tolist() for a in distinct_pairs(major, minor, n_minor))))
    assert got == sorted(set(zip(major.tolist(), minor.tolist())))


def test_no_pairs():
    major, minor = distinct_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), 5)
    assert major.size == minor.size == 0
