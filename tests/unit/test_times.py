"""Times typed by a person: a bare day starts at local midnight for --at/--effective and ends
at the day's last instant for --as-of, --known-at and --until."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okr.cli.times import parse_until, parse_when

OKR = str(Path(sys.executable).parent / "okr")
US = timedelta(microseconds=1)


@pytest.mark.parametrize("zone, day, start_utc", [
    ("UTC", "2026-09-30", datetime(2026, 9, 30, tzinfo=UTC)),
    ("Europe/Berlin", "2026-09-30", datetime(2026, 9, 29, 22, tzinfo=UTC)),
    ("America/Los_Angeles", "2026-09-30", datetime(2026, 9, 30, 7, tzinfo=UTC)),
    # The day the clocks go back in Berlin has 25 hours.
    ("Europe/Berlin", "2026-10-25", datetime(2026, 10, 24, 22, tzinfo=UTC)),
])
def test_a_bare_day_starts_at_local_midnight_and_ends_before_the_next(
        zone: str, day: str, start_utc: datetime) -> None:
    start, end = parse_when(day, zone), parse_until(day, zone)
    assert start == start_utc
    assert end + US == parse_when((datetime.fromisoformat(day) + timedelta(days=1))
                                  .date().isoformat(), zone)
    assert parse_when(day, zone).astimezone().tzinfo is not None
    expected_hours = 25 if day == "2026-10-25" and zone == "Europe/Berlin" else 24
    assert end + US - start == timedelta(hours=expected_hours)


def test_times_with_a_clock_are_taken_as_typed_either_way() -> None:
    for text in ("2026-09-30T12:00", "2026-09-30T12:00Z", "now"):
        now = datetime(2026, 10, 1, 9, tzinfo=UTC)
        assert parse_until(text, "Europe/Berlin", now=now) == \
            parse_when(text, "Europe/Berlin", now=now)


def test_today_and_yesterday_end_at_the_end_of_the_local_day() -> None:
    now = datetime(2026, 9, 30, 23, 30, tzinfo=UTC)  # already 1 October in Berlin
    assert parse_until("today", "Europe/Berlin", now=now) == \
        datetime(2026, 10, 1, 22, tzinfo=UTC) - US
    assert parse_until("yesterday", "Europe/Berlin", now=now) == \
        datetime(2026, 9, 30, 22, tzinfo=UTC) - US
    assert parse_until("9999-12-31", "UTC").year == 9999


@pytest.mark.parametrize("command", [["scorecard"], ["review", "2026-Q4"],
                                     ["audit", "replay"], ["audit", "trail", "x"]])
def test_help_says_a_date_alone_means_the_end_of_the_day(command: list[str]) -> None:
    out = subprocess.run([OKR, *command, "--help"], text=True, capture_output=True,
                         env={**os.environ, "COLUMNS": "200"}, timeout=60).stdout
    assert "END of that day" in " ".join(out.split())
