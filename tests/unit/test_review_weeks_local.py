"""Weeks end at local midnight in the cycle's zone, across a change of the clocks (trial-tz F4):
a review's progress series, its check-in habits and the Parquet export's `kr_weekly` step
week by week on the cycle's local calendar, not 7 × 24 h in UTC.

2026-Q4 in Europe/Berlin starts 2026-10-01T00:00+02:00; the clocks go back on 25 October, in
its fourth week, which ends at local midnight on 29 October: 2026-10-28T23:00Z (7 × 24 h in
UTC from the start is 22:00Z, 23:00 local). Every date is explicit; nothing depends on today.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from okr.domain.history import Fact
from okr.domain.review import ReviewPoint, review
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.support.clock import recording_at

BERLIN = ZoneInfo("Europe/Berlin")
RECORDED = datetime(2027, 1, 5, 9, tzinfo=UTC)  # everything typed after the quarter
LATER = datetime(2027, 1, 10, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


Q4_START = local(2026, 10, 1)
WEEK4_END = local(2026, 10, 29)  # 2026-10-28T23:00Z
LATE_WEDNESDAY = local(2026, 10, 28, 23, 30)  # the last half hour of week 4


def envelopes(steps: Callable[[OkrLedger], Any]) -> list[Any]:
    app = OkrLedger(load_settings({"org_timezone": "Europe/Berlin"}),
                    env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, principal="ana")
    with recording_at(lambda: RECORDED):
        steps(app)
    return list(chained(app))


def plan(app: OkrLedger, cycle: str = "2026-Q4", **window: datetime) -> None:
    app.add_cycle(cycle, **window)
    app.add_objective("o", "O", cycle, "ana", team="t")
    app.add_key_result("k", "K", "o", target=100)
    app.commit_cycle(cycle)


def late_check_in(app: OkrLedger) -> None:
    plan(app)
    app.check_in("k", 40, at=local(2026, 10, 20))
    app.check_in("k", 60, at=LATE_WEDNESDAY)


def q4_review(facts: list[Fact], cycle: str = "2026-Q4") -> dict[str, Any]:
    return review(facts, cycle, ReviewPoint(LATER, LATER))


def test_week_starts_are_local_midnights_across_the_change_of_the_clocks() -> None:
    from okr.domain.periods import week_starts
    starts = week_starts(Q4_START, local(2027, 1, 1), "Europe/Berlin")
    assert len(starts) == 14  # 92 days: 13 weeks and a day
    assert all(t.tzinfo == UTC for t in starts)
    assert [t.astimezone(BERLIN).time().isoformat() for t in starts] == ["00:00:00"] * 14
    assert starts[4] == WEEK4_END == datetime(2026, 10, 28, 23, tzinfo=UTC)
    assert week_starts(Q4_START, Q4_START, "Europe/Berlin") == []


def test_the_progress_series_steps_from_local_midnight_to_local_midnight() -> None:
    r = q4_review([e.fact() for e in envelopes(late_check_in)])
    at = {p["at"]: p for p in r["progress"]["k"]}
    weeks = sorted(at)[:-1]  # the last point is the cycle's end
    assert [t.astimezone(BERLIN).time().isoformat() for t in weeks] == ["00:00:00"] * 14
    # The week starting 29 October (local) begins with the late Wednesday check-in in it.
    assert at[WEEK4_END]["value"] == 60


def test_a_check_in_in_the_last_hour_of_a_week_counts_in_that_week() -> None:
    def steps(app: OkrLedger) -> None:
        plan(app)
        # 23:30 local on the last day of each of the 13 whole weeks, and one in the 14th
        for n in range(13):
            app.check_in("k", n + 1, at=local(2026, 10, 7, 23, 30) + timedelta(days=7 * n))
        app.check_in("k", 20, at=local(2026, 12, 31, 12))
    habits = q4_review([e.fact() for e in envelopes(steps)])["habits"]["k"]
    assert (habits["weeks"], habits["check_ins"], habits["weeks_without"]) == (14, 14, 0)


def test_a_custom_cycle_of_five_local_weeks_across_the_change_has_five_weeks() -> None:
    def steps(app: OkrLedger) -> None:
        plan(app, "autumn", start=local(2026, 10, 1), end=local(2026, 11, 5))
        app.check_in("k", 10, at=local(2026, 11, 4, 23, 30))  # week 5's last half hour
    r = q4_review([e.fact() for e in envelopes(steps)], "autumn")
    habits = r["habits"]["k"]
    assert (habits["weeks"], habits["weeks_without"]) == (5, 4)
    assert len(r["progress"]["k"]) == 5 + 1  # five week starts and the end


def test_kr_weekly_rows_end_at_local_midnight(tmp_path: Path) -> None:
    sent = envelopes(late_check_in)
    with Projection(tmp_path / "p.duckdb") as proj:
        proj.apply("t", [ConsumedRecord(e.to_bytes(), 0, e.position) for e in sent],
                   {0: len(sent)})
        proj.export_parquet(tmp_path / "out", LATER)
    rows = [r for r in pq.read_table(tmp_path / "out" / "kr_weekly.parquet").to_pylist()
            if r["key_result"] == "k"]
    ends = [r["as_of"] for r in rows]
    assert len(ends) == 14 and ends[-1] == local(2027, 1, 1)
    assert [t.astimezone(BERLIN).time().isoformat() for t in ends] == ["00:00:00"] * 14
    week4 = next(r for r in rows if r["week"] == 4)
    assert week4["as_of"] == WEEK4_END and week4["value"] == pytest.approx(60)
