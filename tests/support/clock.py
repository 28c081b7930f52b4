"""The pinned recording clock, for the history generator and tests that build a history over
past quarters. Not part of okr: the wheel has no way to choose a recording time."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from okr.domain import base


@contextmanager
def recording_at(clock: Callable[[], datetime]) -> Iterator[None]:
    """Record events inside the block with timestamps from `clock` (timezone-aware).

    The event store still refuses a time earlier than the last one it holds: record in time
    order."""
    token = base._recording_clock.set(clock)
    try:
        yield
    finally:
        base._recording_clock.reset(token)
