"""keep_freed_memory: blocks up to 32 MiB come from the heap and freed ones stay there for reuse."""

from __future__ import annotations

import ctypes
import sys

import pytest
import torch

from bowsflow.runtime.malloc import MMAP_THRESHOLD, TRIM_THRESHOLD, keep_freed_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")


@pytest.fixture(scope="module")
def program_break():
    if not keep_freed_memory():
        pytest.skip("a C library without glibc's mallopt settings")
    sbrk = ctypes.CDLL(None).sbrk
    sbrk.argtypes, sbrk.restype = [ctypes.c_ssize_t], ctypes.c_void_p
    return lambda: sbrk(0)  # the end of the main heap


def test_blocks_up_to_the_threshold_come_from_the_heap(program_break):
    # glibc's default serves a block above its (at first 128 KiB) threshold with mmap, far above the
    # heap; with the setting only blocks above 32 MiB are
    small = torch.empty(MMAP_THRESHOLD // 4 - (1 << 20))  # a block just under the threshold
    assert small.data_ptr() < program_break()
    large = torch.empty(MMAP_THRESHOLD // 4 + (1 << 20))
    assert large.data_ptr() > program_break()


def test_freed_blocks_stay_in_the_heap(program_break):
    # ten 20 MB blocks (a step's temporaries, several steps' worth), freed together: the free space at
    # the heap's top (200 MB) is under the 256 MiB trim threshold, so the heap keeps it (glibc's
    # default trims past twice its mmap threshold, at most 64 MiB)
    blocks = [torch.empty((20 << 20) // 4) for _ in range(10)]
    top = program_break()
    assert all(b.data_ptr() < top for b in blocks)
    del blocks
    assert program_break() == top
    assert 10 * (20 << 20) < TRIM_THRESHOLD


def test_keep_freed_memory_is_set_once():
    assert keep_freed_memory() is keep_freed_memory()  # functools.cache: one mallopt per process
