"""JSON output spells every time as the envelope does (UTC, microseconds, Z)."""

import json
from datetime import UTC, datetime, timedelta, timezone

from okr.cli.output import to_json
from okr.record.envelope import iso

# (time, its spelling worked out by hand: converted to UTC, six fractional digits, Z)
TIMES = [(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "2026-01-02T03:04:05.000006Z"),
         (datetime(33, 1, 1, tzinfo=UTC), "0033-01-01T00:00:00.000000Z"),
         (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
          "9999-12-31T23:59:59.999999Z"),
         (datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
          "2025-12-31T22:00:00.000000Z"),
         (datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
          "2026-03-29T11:00:00.000000Z")]


def test_times_in_json_are_spelled_as_in_envelopes() -> None:
    times = [t for t, _ in TIMES]
    spelled = [s for _, s in TIMES]
    assert json.loads(to_json({"t": times}, pretty=False)) == {"t": spelled}
    assert [iso(t) for t in times] == spelled  # and the envelope spells them the same


def test_a_time_repeated_or_given_in_another_zone_is_spelled_the_same_each_time() -> None:
    """A document spells each instant once and reuses the text: the same instant in UTC and
    in +02:00 (equal datetimes), a repeat, and the others around them keep their spelling."""
    utc = datetime(2026, 1, 1, tzinfo=UTC)
    same_instant = utc.astimezone(timezone(timedelta(hours=2)))
    times = [utc, same_instant, *(t for t, _ in TIMES), utc, same_instant]
    doc = json.loads(to_json({"t": times, "also": {"x": [same_instant, (utc,)]}}, pretty=False))
    assert doc["t"] == ["2026-01-01T00:00:00.000000Z"] * 2 + [s for _, s in TIMES] + [
        "2026-01-01T00:00:00.000000Z"] * 2
    assert doc["also"] == {"x": ["2026-01-01T00:00:00.000000Z", ["2026-01-01T00:00:00.000000Z"]]}


def test_the_two_instants_of_a_repeated_hour_are_spelled_apart() -> None:
    """02:30 in Berlin on 2026-10-25 happens twice (fold 0: 00:30 UTC, fold 1: 01:30 UTC): the
    two datetimes compare equal, but a document must not spell the second as the first."""
    from zoneinfo import ZoneInfo

    first = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    second = first.replace(fold=1)
    assert first == second  # (Python's rule for one zone: wall times compared)
    assert json.loads(to_json([first, second], pretty=False)) == [
        "2026-10-25T00:30:00.000000Z", "2026-10-25T01:30:00.000000Z"]


def test_a_count_says_its_noun_in_the_right_number() -> None:
    from okr.cli.output import counted

    assert [counted(n, "event") for n in (0, 1, 2)] == ["0 events", "1 event", "2 events"]
