"""Ordered map over a stream with worker processes and a bound on work in flight.

``Pool.imap`` reads its whole input ahead; here at most ``max_in_flight`` items are submitted at once,
so memory is bounded by a few batches whatever the corpus size, and results come back in input order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[..., R], items: Iterable[T], workers: int = 1, max_in_flight: int | None = None, *args
) -> Iterator[R]:
    """Yield ``fn(item, *args)`` for each item, in order, using ``workers`` processes (1: in-process)."""
    if workers <= 1:
        for item in items:
            yield fn(item, *args)
        return
    limit = max_in_flight or 2 * workers
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item, *args))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
