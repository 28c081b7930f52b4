"""Times typed by a person: read in their local zone, said back explicitly in ISO 8601."""

import os
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from okr.cli.errors import UserError


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


def parse_when(text: str, zone_name: str | None = None, *, now: datetime | None = None
               ) -> datetime:
    """Read 'now', 'today', 'yesterday', a date or a date-time; naive values are local time."""
    zone = local_zone(zone_name)
    now = now or datetime.now(UTC)
    word = text.strip().lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        day = now.astimezone(zone).date() - timedelta(days=1 if word == "yesterday" else 0)
        return datetime.combine(day, time(), zone).astimezone(UTC)
    try:
        if len(word) == 10:
            d = date.fromisoformat(word)
            return datetime.combine(d, time(), zone).astimezone(UTC)
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


def say(t: datetime, zone_name: str | None = None) -> str:
    """A time said back explicitly: local ISO 8601 with offset, and UTC."""
    local = t.astimezone(local_zone(zone_name))
    utc = t.astimezone(UTC)
    if local.utcoffset() == timedelta(0):
        return utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    return (f"{local.isoformat(timespec='seconds')} "
            f"({utc.isoformat(timespec='seconds').replace('+00:00', 'Z')})")
