"""A turn of the web's reads (web/turns.py) held by another thread, for tests of those waiting."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from okr.web.turns import Turns


@contextmanager
def one_holding(turns: Turns) -> Iterator[None]:
    """Another thread holds a turn until the block ends."""
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with turns.turn():
            held.set()
            release.wait()

    t = threading.Thread(target=first, daemon=True)
    t.start()
    held.wait()
    try:
        yield
    finally:
        release.set()
        t.join(10)
