"""Parallel execution: an ordered map over a stream with worker processes and a bound on work in
flight, and torch's intra-op threads for work parallel across chunks.

``Pool.imap`` reads its whole input ahead; here at most ``max_in_flight`` items are submitted at once,
so memory is bounded by a few batches whatever the corpus size, and results come back in input order.
The extra arguments (a vocabulary index, say) are sent to each worker once, when it starts, not with
every item.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_worker_args: tuple = ()


def _set_worker_args(args: tuple) -> None:
    global _worker_args
    _worker_args = args


def _call_with_worker_args(fn: Callable, item):
    return fn(item, *_worker_args)


def ordered_map(
    fn: Callable[..., R], items: Iterable[T], workers: int = 1, max_in_flight: int | None = None, *args
) -> Iterator[R]:
    """Yield ``fn(item, *args)`` for each item, in order, using ``workers`` processes (1: in-process).

    ``fn`` must be a module-level function (it is pickled by name).
    """
    if workers <= 1:
        for item in items:
            yield fn(item, *args)
        return
    limit = max_in_flight or 2 * workers
    with ProcessPoolExecutor(max_workers=workers, initializer=_set_worker_args, initargs=(args,)) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(_call_with_worker_args, fn, item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@contextmanager
def torch_threads(n: int):
    """Run the block with torch's intra-op thread pool at ``n`` threads (restored after).

    For work that is parallel across chunks (one chunk per worker thread), intra-op threads inside each
    chunk only compete with the other chunks: small LAPACK calls ran 2-3x slower with them here.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
