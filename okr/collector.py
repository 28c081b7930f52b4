"""Python's cyclic garbage collector paused around CPU-bound work that makes many objects and
no cycles (a review's facts and the review itself).

A full-scale review holds ~43,000 facts and makes some 10^6 small dicts and tuples, none in a
cycle (reference counting frees them): the collector found nothing to free there and took
~0.2 s of the review's ~1.1 s, rescanning the facts at each full collection
(docs/benchmarks.md, issue 20).

The collector is one per process, so pauses are counted: the first to begin pauses it (if it
was running), the last to end restarts it — two reviews at once in the web app do not
restart it under each other. Keep a pause to the work itself: never around a wait (a lock, a
file another process holds, Kafka), which would stop collection for every thread meanwhile.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """The collector paused while the block runs; left as the first pause found it."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
