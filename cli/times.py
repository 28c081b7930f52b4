"""Times typed by a person: read in their local zone, said back explicitly in ISO 8601."""

import functools
import io
import os
import re
import struct
import zoneinfo
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from okr.cli.errors import UserError

# The zone this invocation's settings name (`timezone`: OKR_TZ or okr.toml), kept when they
# are read (cli/context.State) so that a refusal, translated far from the command, says its
# times where the command's own answers do.
PERSON_ZONE: ContextVar[str | None] = ContextVar("PERSON_ZONE", default=None)


# The system's zone: /etc/localtime, named by its link into a zoneinfo tree or, where it is a
# copy, by Debian's /etc/timezone. Module constants so that a test can point them elsewhere.
LOCALTIME = "/etc/localtime"
TIMEZONE_FILE = "/etc/timezone"

# A date is written one way, YYYY-MM-DD, so that a date alone is always seen as one (the start
# of the day, or for a view its end): `20260930` or `2026-W40-3` was read as a midnight, and
# `2026-W40` as its Monday's.
_WRITTEN = re.compile(r"\d{4}-\d\d-\d\d(?:[Tt ]\d.*)?", re.ASCII | re.DOTALL)
_FORMS = ("use 2026-11-02, 2026-11-02T14:30, 2026-11-02T14:30+01:00, 2026-11-02T14:30Z, "
          "today, yesterday or now")


def local_zone(name: str | None = None) -> tzinfo:
    """The person's zone: the configured one (OKR_TZ), else TZ, else the system's.

    TZ is read as the C library reads it: an IANA name, a zoneinfo file (`:/etc/localtime`),
    or a POSIX rule that carries its own rules (`IST-5:30`, `EST5EDT,M3.2.0,M11.1.0`); one
    okr cannot read is refused naming TZ, pointing to OKR_TZ."""
    if name:
        return _named_zone(name)
    name = os.environ.get("OKR_TZ")
    if name:
        return _named_zone(name)
    name = os.environ.get("TZ")
    if not name:
        return system_zone()
    try:
        return _named_zone(name)
    except UserError:
        pass
    try:
        return posix_zone(name.lstrip(":"))
    except ValueError:
        raise UserError(f"TZ={name!r} (from the environment) is neither an IANA zone name nor "
                        "a POSIX TZ rule okr can read (one with its DST rules, e.g. "
                        "'EST5EDT,M3.2.0,M11.1.0'); set OKR_TZ=Area/City, e.g. "
                        "OKR_TZ=Europe/Berlin") from None


def _named_zone(name: str) -> tzinfo:
    """An IANA zone by name, or a zoneinfo file by path (`:/etc/localtime`)."""
    if name.lstrip(":").startswith("/"):  # TZ=:/etc/localtime, a zoneinfo file
        return system_zone(name.lstrip(":"))
    try:
        return ZoneInfo(name.lstrip(":"))
    except (KeyError, ValueError):
        raise UserError(f"unknown time zone {name!r} (e.g. Europe/Berlin)") from None


@functools.lru_cache(maxsize=16)
def posix_zone(rule: str) -> tzinfo:
    """The zone a POSIX TZ rule describes (`IST-5:30`, `EST5EDT,M3.2.0,M11.1.0`), read by
    the standard library's own reader of such rules — the one that reads the rule at the end
    of every zoneinfo file — from a zoneinfo file holding that rule alone; ValueError when it
    is no such rule (one with summer time must say when it starts and ends: without them
    the C library takes the dates from a `posixrules` file, which okr does not guess at)."""
    if not rule.isascii() or "\n" in rule or not rule.strip():
        raise ValueError(rule)
    header = b"TZif2" + bytes(15) + struct.pack(">6l", 0, 0, 0, 0, 1, 1)
    block = header + struct.pack(">lbb", 0, 0, 0) + b"\0"  # one local time type, no times
    data = block + block + b"\n" + rule.encode("ascii") + b"\n"
    return ZoneInfo.from_file(io.BytesIO(data), key=rule)


def system_zone(path: str | None = None) -> tzinfo:
    """The system's IANA zone (/etc/localtime), whose offset follows the instant in question;
    without one, what the C library says now (UTC where it has no zone either)."""
    path = path or LOCALTIME
    return _system_zone(path, TIMEZONE_FILE, _stamp(path), _stamp(TIMEZONE_FILE))


def _stamp(path: str) -> tuple[int, int, int] | None:
    """What changes when a file does (the cache key of a zone read from it)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=16)
def _system_zone(path: str, timezone_file: str, *_stamps: object) -> tzinfo:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return _c_library_zone()
    link = None  # a link into a zoneinfo tree names its zone
    parts = Path(os.path.realpath(path)).parts
    if "zoneinfo" in parts:
        link = "/".join(parts[len(parts) - parts[::-1].index("zoneinfo"):])
    try:
        with open(timezone_file, encoding="utf-8") as f:
            named = f.read(200).strip()
    except (OSError, UnicodeDecodeError):
        named = ""
    for name in (link, named):
        if name and _zone_file_is(name, data):
            return ZoneInfo(name)
    try:  # a copy that no name matches (a stale /etc/timezone): its rules as they are
        return ZoneInfo.from_file(io.BytesIO(data), key=link or f"the system's zone ({path})")
    except ValueError:
        return _c_library_zone()


def _zone_file_is(name: str, data: bytes) -> bool:
    """True when `name` is an IANA zone whose file holds `data` (or whose file cannot be
    found to compare: the tzdata package)."""
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return False
    for base in zoneinfo.TZPATH:
        candidate = Path(base, name)
        if candidate.is_file():
            return candidate.read_bytes() == data
    return True


def _c_library_zone() -> tzinfo:
    """The last resort: the offset the C library gives now, fixed (UTC on a system with no
    zone at all)."""
    zone = datetime.now().astimezone().tzinfo
    if zone is None or zone.utcoffset(None) == timedelta(0):
        return UTC
    return zone


def zone_label(zone: tzinfo) -> str:
    """How a refusal names a zone: its IANA key."""
    return str(getattr(zone, "key", None) or zone)


def _day_instant(d: date, zone: tzinfo, end_of_day: bool) -> datetime:
    """Local midnight starting the day (the first instant of it where its midnight does not
    exist), or the day's last microsecond."""
    if not end_of_day:
        return _first_instant(datetime.combine(d, time()), zone)
    if d == date.max:
        return datetime.combine(d, time.max, zone).astimezone(UTC)
    return _first_instant(datetime.combine(d + timedelta(days=1), time()), zone) - \
        timedelta(microseconds=1)


def _first_instant(wall: datetime, zone: tzinfo) -> datetime:
    """The first instant at or after a wall time in `zone` (UTC)."""
    earlier, later = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset() or _exists(earlier):
        return earlier.astimezone(UTC)  # of two occurrences, the first
    return _change(zone, later.astimezone(UTC), earlier.astimezone(UTC))


def _exists(t: datetime) -> bool:
    """True when the aware wall time `t` is a reading its zone's clocks show."""
    assert t.tzinfo is not None
    return t.astimezone(UTC).astimezone(t.tzinfo).replace(tzinfo=None, fold=0) == \
        t.replace(tzinfo=None, fold=0)


def _change(zone: tzinfo, lo: datetime, hi: datetime) -> datetime:
    """The instant (UTC) in (lo, hi] at which `zone` changes its offset."""
    offset = lo.astimezone(zone).utcoffset()
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) // 2
        if mid.astimezone(zone).utcoffset() == offset:
            lo = mid
        else:
            hi = mid
    return hi


def _exact(wall: datetime, zone: tzinfo, typed: str) -> datetime:
    """The one instant (UTC) a typed wall time names in `zone`; refused in one line asking for
    an offset where the clocks never show it (spring forward) or show it twice (fall back)."""
    earlier, later = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier.astimezone(UTC)
    # PEP 495: fold=0 takes the offset in force before the change, fold=1 the one after
    before, after = earlier.utcoffset(), later.utcoffset()
    assert before is not None and after is not None
    if not _exists(earlier):
        at = _change(zone, later.astimezone(UTC), earlier.astimezone(UTC)).replace(tzinfo=None)
        raise UserError(f"{typed} does not exist in {zone_label(zone)} (clocks jump "
                        f"{_span(at + before, at + after)}); give an offset, e.g. "
                        f"{_written(earlier.astimezone(UTC).astimezone(zone))}")
    at = _change(zone, earlier.astimezone(UTC), later.astimezone(UTC)).replace(tzinfo=None)
    first, second = (f"{_written(t)} ({_written(t.astimezone(UTC))})" for t in (earlier, later))
    raise UserError(f"{typed} happens twice in {zone_label(zone)} (clocks go back "
                    f"{_span(at + before, at + after)}); give an offset: {first} or {second}")


def _span(old: datetime, new: datetime) -> str:
    """A change of the wall clocks: 'from 02:00 to 03:00', with the dates where they differ
    (Samoa skipped 30 December 2011)."""
    if old.date() != new.date():
        return f"from {_written(old)} to {_written(new)}"
    return f"from {_written(old)[11:]} to {_written(new)[11:]}"


def _written(t: datetime) -> str:
    """An aware time as a person would type it, to the minute where that is exact."""
    text = t.isoformat(timespec="minutes" if not t.second and not t.microsecond else "auto")
    return text.replace("+00:00", "Z")


def parse_when(text: str, zone_name: str | None = None, *, now: datetime | None = None,
               end_of_day: bool = False) -> datetime:
    """Read 'now', 'today', 'yesterday', a date or a date-time; naive values are local time.

    A day without a time (a date, 'today', 'yesterday') is the start of that day, or with
    `end_of_day` its last instant: `--as-of 2026-09-30` includes all of 30 September. A date
    is written YYYY-MM-DD; a local time the zone's clocks skip or show twice is refused.
    """
    zone = local_zone(zone_name)
    now = now or datetime.now(UTC)
    typed = text.strip()
    word = typed.lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        day = now.astimezone(zone).date() - timedelta(days=1 if word == "yesterday" else 0)
        return _day_instant(day, zone, end_of_day)
    try:
        if not _WRITTEN.fullmatch(typed):
            raise ValueError(typed)
        if len(typed) == 10:
            return _day_instant(date.fromisoformat(typed), zone, end_of_day)
        t = datetime.fromisoformat(typed.replace("Z", "+00:00").replace("z", "+00:00"))
        if t.tzinfo is not None:
            return t.astimezone(UTC)
    except ValueError:
        raise UserError(f"cannot read time {text!r}; {_FORMS}") from None
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        raise UserError(f"time {text!r} is out of range: in UTC it must fall in the years "
                        "1 to 9999") from None
    try:
        return _exact(t, zone, typed)
    except OverflowError:
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
