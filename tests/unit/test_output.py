"""JSON output spells every time as the envelope does (UTC, microseconds, Z)."""

import json
from datetime import UTC, datetime, timedelta, timezone

from okr.cli.output import to_json
from okr.record.envelope import iso

TIMES = [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(33, 1, 1, tzinfo=UTC),
         datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
         datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
         datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30)))]


def test_times_in_json_are_spelled_as_in_envelopes() -> None:
    assert json.loads(to_json({"t": TIMES}, pretty=False)) == {"t": [iso(t) for t in TIMES]}
    assert json.loads(to_json(TIMES, pretty=False))[3] == "2025-12-31T22:00:00.000000Z"
