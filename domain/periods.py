"""Cycle arithmetic: quarters, halves, years and custom windows, as UTC instants.

Named periods run from local midnight to local midnight in the organisation's time zone
(recorded on the cycle when it is added): 2026-Q4 in Europe/Berlin starts at
2026-09-30T22:00Z.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from okr.domain.errors import DomainError

_QUARTER = re.compile(r"(\d{4})-Q([1-4])", re.IGNORECASE)
_HALF = re.compile(r"(\d{4})-H([12])", re.IGNORECASE)
_YEAR = re.compile(r"(\d{4})")
_CUSTOM_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Window:
    """A half-open interval [start, end) of UTC instants."""

    start: datetime
    end: datetime

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end

    def fraction_elapsed(self, t: datetime) -> float:
        """Share of the window elapsed at t, clamped to 0–1."""
        total = (self.end - self.start).total_seconds()
        done = (t - self.start).total_seconds()
        return min(1.0, max(0.0, done / total))


def week_starts(start: datetime, until: datetime, tz: str) -> list[datetime]:
    """The starts of the weeks from `start` that begin before `until`, as UTC instants:
    `start`, then the same local time 7, 14, … days later on the calendar of zone tz — a
    cycle that starts at local midnight has its weeks start at local midnight, whatever the
    clocks do in between (not 7 × 24 h, which after a change of the clocks is 23:00 or 01:00
    local)."""
    where = zone(tz)
    wall = start.astimezone(where).replace(tzinfo=None)
    out = []
    t = start.astimezone(UTC)
    while t < until:
        out.append(t)
        t = (wall + timedelta(days=7 * len(out))).replace(tzinfo=where).astimezone(UTC)
    return out


def local_weeks(since: datetime, t: datetime, tz: str) -> int:
    """The week `t` falls in, counted from 0 on the local calendar of zone tz from local
    midnight of the day `since` is in (negative before it)."""
    where = zone(tz)
    first = datetime.combine(since.astimezone(where).date(), time())
    return (t.astimezone(where).replace(tzinfo=None) - first) // timedelta(days=7)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name, or a DomainError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f"unknown time zone {name!r} (e.g. Europe/Berlin)") from None


def _midnight(d: date, tz: str) -> datetime:
    """Local midnight starting day d in zone tz, as a UTC instant."""
    return datetime.combine(d, time(), zone(tz)).astimezone(UTC)


def named_window(key: str, tz: str = "UTC") -> Window | None:
    """The window of a named cycle (`2026-Q4`, `2026-H2`, `2026`) in zone tz, local midnight
    to local midnight, or None for a custom key."""
    try:
        return _named_window(key, tz)
    except (ValueError, OverflowError):  # year 0, or a period ending after 9999-12-31
        raise DomainError(f"cycle {key!r} is out of range: dates run from 0001-01-01 to "
                          "9999-12-31") from None


def _named_window(key: str, tz: str) -> Window | None:
    if m := _QUARTER.fullmatch(key):
        year, q = int(m[1]), int(m[2])
        start = date(year, 3 * (q - 1) + 1, 1)
        end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
        return Window(_midnight(start, tz), _midnight(end, tz))
    if m := _HALF.fullmatch(key):
        year, h = int(m[1]), int(m[2])
        start = date(year, 1 if h == 1 else 7, 1)
        end = date(year, 7, 1) if h == 1 else date(year + 1, 1, 1)
        return Window(_midnight(start, tz), _midnight(end, tz))
    if m := _YEAR.fullmatch(key):
        year = int(m[1])
        return Window(_midnight(date(year, 1, 1), tz), _midnight(date(year + 1, 1, 1), tz))
    return None


def canonical_cycle_key(key: str) -> str:
    """Upper-case the Q/H of named cycles so `2026-q4` and `2026-Q4` are one cycle."""
    return key.strip().upper() if named_window(key.strip()) else key.strip()


def cycle_window(key: str, start: datetime | None, end: datetime | None,
                 tz: str = "UTC") -> Window:
    """Resolve a cycle's window from its key (named periods in zone tz) or from explicit
    custom bounds."""
    named = named_window(key, tz)
    if named is not None:
        if start is not None or end is not None:
            raise DomainError(f"cycle {key!r} is a named period; custom --start/--end are only "
                              "for custom cycles (e.g. 'launch-2026')")
        return named
    if re.fullmatch(r"\d{4}-[QqHh]\d+", key):
        raise DomainError(f"cycle {key!r} is not a period: quarters are Q1–Q4, halves H1–H2")
    if not _CUSTOM_KEY.fullmatch(key):
        raise DomainError(f"cycle key {key!r} is not valid; use 2026-Q4, 2026-H2, 2026 or a "
                          "custom name of letters, digits, '.', '_' and '-'")
    if start is None or end is None:
        raise DomainError(f"custom cycle {key!r} needs both a start and an end date")
    if end <= start:
        raise DomainError("cycle {key!r} ends ({end}) before it starts ({start})",
                          key=key, end=end, start=start)
    if end - start > timedelta(days=3 * 366):
        raise DomainError(f"cycle {key!r} spans more than three years; split it")
    return Window(start.astimezone(UTC), end.astimezone(UTC))


def cycle_of(t: datetime, tz: str = "UTC") -> str:
    """The key of the quarter (in zone tz) that contains t."""
    t = t.astimezone(zone(tz))
    return f"{t.year}-Q{(t.month - 1) // 3 + 1}"
