"""Reads of the projection take turns: a few at once, the others waiting in the order they came.

Every read costs CPU in DuckDB and in Python (the whole organisation's scorecard about a fifth
of a second at full scale). Forty of them at once on two cores each took forty times as long,
and who got the GIL next was the scheduler's whim: under 50 clients some requests waited past
the clients' 30 s while others were answered in one (docs/benchmarks.md, "Web"). Let in a few
at a time, first come first served, a read takes about its own time plus its place in the
line, and the line moves at the machine's speed.
"""

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class Busy(RuntimeError):
    """A read waited its longest for its turn: the server is overloaded (HTTP 503)."""

    retry_after = 2  # seconds: what the answer's Retry-After says


class Turns:
    """At most `size` holders at once; the others admitted strictly in the order they asked.
    A thread already holding a turn is let in again at once (a read inside a read)."""

    def __init__(self, size: int, longest_wait: float) -> None:
        self.size = size
        self.longest_wait = longest_wait
        self._cond = threading.Condition()
        self._line: deque[object] = deque()
        self._inside = 0
        self._mine = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this thread's turn (Busy after `longest_wait` seconds), then hold it."""
        depth = getattr(self._mine, "depth", 0)
        if depth:
            self._mine.depth = depth + 1
            try:
                yield
            finally:
                self._mine.depth = depth
            return
        me = object()
        with self._cond:
            self._line.append(me)
            admitted = self._cond.wait_for(
                lambda: self._line[0] is me and self._inside < self.size, self.longest_wait)
            self._line.remove(me)
            if admitted:
                self._inside += 1
            self._cond.notify_all()  # the next in line may go in now, or move up
        if not admitted:
            raise Busy(f"the server is busy: this read waited {self.longest_wait:g} s for its "
                       f"turn; try again in {Busy.retry_after} s")
        self._mine.depth = 1
        try:
            yield
        finally:
            self._mine.depth = 0
            with self._cond:
                self._inside -= 1
                self._cond.notify_all()

    def waiting(self) -> int:
        """How many wait for a turn now."""
        with self._cond:
            return len(self._line)
