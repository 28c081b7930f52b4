"""The recording clock (transaction time), apart from the aggregates: reads that only need
"now" (`okr scorecard`, `okr show`) import this, not the event-sourcing library."""

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

# The transaction-time clock: real UTC now. Only the history generator of the tests
# (tests/support/clock.py) pins it, to build a history over past quarters; nothing in the CLI
# or the public API can, and the event store refuses a recording time earlier than the last
# one it holds (ledger/recording_time.py), so a pinned clock cannot back-date a live ledger.
_recording_clock: ContextVar[Callable[[], datetime] | None] = ContextVar(
    "okr_recording_clock", default=None
)


def utc_now() -> datetime:
    """The recording clock's current time, in UTC."""
    clock = _recording_clock.get()
    return datetime.now(tz=UTC) if clock is None else clock().astimezone(UTC)
