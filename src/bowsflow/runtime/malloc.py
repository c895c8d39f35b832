"""Keeping freed memory in the process for reuse (glibc's ``mallopt``), for CPU training.

Why: a training step allocates the same large temporaries every step and frees them at its end —
the decoder's batch × V output (20 MB at batch 512, V = 10,000) and the embedding's gradient (10 MB
at m = 256). glibc serves allocations above its mmap threshold (128 KiB at first, raised as such
blocks are freed) with ``mmap`` and returns them with ``munmap``, and it trims the top of its heap
once more than its trim threshold is free there; either way the next step's allocation is fresh
memory that the kernel faults in and zeroes again. At V = 10,000, m = 256 on 2 cores that cost
2–3 ms of a 38–41 ms step (``benchmarks/bench_malloc.py``). Serving blocks up to 32 MiB (glibc's
ceiling for the setting) from the heap and trimming only past 256 MiB free lets each step reuse the
last step's memory: the steady state takes no page faults. The peak is unchanged; the process keeps
up to 256 MiB it no longer uses until it ends.

Only glibc has these settings; elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import functools
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest mmap threshold on 64-bit systems
TRIM_THRESHOLD = 256 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (once per process); returns whether they were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a C library without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; musl's accepts nothing (returns 0)
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
