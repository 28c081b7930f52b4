"""Times typed by a person: read in their local zone, said back explicitly in ISO 8601."""

import os
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from okr.cli.errors import UserError

# The zone this invocation's settings name (`timezone`: OKR_TZ or okr.toml), kept when they
# are read (cli/context.State) so that a refusal, translated far from the command, says its
# times where the command's own answers do.
PERSON_ZONE: ContextVar[str | None] = ContextVar("PERSON_ZONE", default=None)


def local_zone(name: str | None = None) -> tzinfo:
    """The person's zone: the configured one (OKR_TZ), else TZ, else the system's."""
    name = name or os.environ.get("OKR_TZ") or os.environ.get("TZ")
    if name:
        try:
            return ZoneInfo(name.lstrip(":"))
        except (KeyError, ValueError):
            raise UserError(f"unknown time zone {name!r} (e.g. Europe/Berlin)") from None
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def _day_instant(d: date, zone: tzinfo, end_of_day: bool) -> datetime:
    """Local midnight starting the day, or the day's last microsecond."""
    if not end_of_day:
        return datetime.combine(d, time(), zone).astimezone(UTC)
    if d == date.max:
        return datetime.combine(d, time.max, zone).astimezone(UTC)
    nxt = datetime.combine(d + timedelta(days=1), time(), zone).astimezone(UTC)
    return nxt - timedelta(microseconds=1)


def parse_when(text: str, zone_name: str | None = None, *, now: datetime | None = None,
               end_of_day: bool = False) -> datetime:
    """Read 'now', 'today', 'yesterday', a date or a date-time; naive values are local time.

    A day without a time (a date, 'today', 'yesterday') is the start of that day, or with
    `end_of_day` its last instant: `--as-of 2026-09-30` includes all of 30 September.
    """
    zone = local_zone(zone_name)
    now = now or datetime.now(UTC)
    word = text.strip().lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        day = now.astimezone(zone).date() - timedelta(days=1 if word == "yesterday" else 0)
        return _day_instant(day, zone, end_of_day)
    try:
        if len(word) == 10:
            return _day_instant(date.fromisoformat(word), zone, end_of_day)
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=zone)
        return t.astimezone(UTC)
    except ValueError:
        raise UserError(f"cannot read time {text!r}; use 2026-11-02, 2026-11-02T14:30, "
                        "2026-11-02T14:30Z, today, yesterday or now") from None
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        raise UserError(f"time {text!r} is out of range: in UTC it must fall in the years "
                        "1 to 9999") from None


def parse_until(text: str, zone_name: str | None = None, *, now: datetime | None = None
                ) -> datetime:
    """A time that bounds a view (--as-of, --known-at, --until): a bare day means its end."""
    return parse_when(text, zone_name, now=now, end_of_day=True)


def view_instants(as_of: str | None, known_at: str | None, zone_name: str | None = None
                  ) -> tuple[datetime, datetime]:
    """The (valid, transaction) instants a view is read at: each typed one as `parse_until`
    reads it, else the recording clock's now."""
    from okr.domain.clock import utc_now
    now = utc_now()
    return (parse_until(as_of, zone_name) if as_of else now,
            parse_until(known_at, zone_name) if known_at else now)


def said_briefly(t: datetime, zone_name: str | None = None) -> str:
    """A time inside a sentence (an error's): local ISO 8601 with its offset, to the second
    (`2026-10-15T00:00:00+02:00`); the offset makes it exact without UTC beside it."""
    zone = local_zone(zone_name or PERSON_ZONE.get())
    return _in_zone(t, zone).isoformat(timespec="seconds")


def _in_zone(t: datetime, zone: tzinfo) -> datetime:
    """`t` in that zone, or in UTC where the zone's calendar cannot write it (an instant of
    year 1 or 9999 in UTC may lie outside years 1–9999 there: OverflowError)."""
    try:
        return t.astimezone(zone)
    except OverflowError:
        return t.astimezone(UTC)


def say(t: datetime, zone_name: str | None = None) -> str:
    """A time said back explicitly: local ISO 8601 with offset, and UTC."""
    local = _in_zone(t, local_zone(zone_name))
    utc = t.astimezone(UTC)
    if local.utcoffset() == timedelta(0):
        return utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    return (f"{local.isoformat(timespec='seconds')} "
            f"({utc.isoformat(timespec='seconds').replace('+00:00', 'Z')})")


def local_day(t: datetime, zone_name: str | None, *, end: bool = False) -> str:
    """The calendar day of an instant in a zone (a cycle's), as YYYY-MM-DD; an exclusive
    `end` (a cycle's end, local midnight after its last day) says the day before it."""
    if end:
        t -= timedelta(microseconds=1)
    return _in_zone(t, local_zone(zone_name)).date().isoformat()
