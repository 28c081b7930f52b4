"""A write refused because its recording time is earlier than the store's last event: a race
lost to another writer is decided again with a fresh time; a clock behind the store is said at
once (ClockBehind), and nothing is recorded."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okr.ledger.app import ClockBehind, OkrLedger
from okr.settings import load_settings
from tests.support.clock import recording_at


def _ledger(tmp_path: Path) -> OkrLedger:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    app.add_cycle("2026-Q4")
    app.add_objective("o1", "Grow", cycle="2026-Q4", owner="ana")
    app.add_key_result("k1", "Leads", objective="o1", kind="increase", start=0, target=10)
    return app


def test_a_clock_behind_the_store_is_said_and_nothing_is_recorded(tmp_path: Path) -> None:
    app = _ledger(tmp_path)
    with recording_at(lambda: datetime.now(UTC) + timedelta(hours=1)):
        app.add_objective("o2", "From the future", cycle="2026-Q4", owner="ana")
    head = app.recorder.max_notification_id()
    with pytest.raises(ClockBehind, match="check the system clock"):
        app.add_objective("o3", "Now", cycle="2026-Q4", owner="ana")
    assert app.recorder.max_notification_id() == head
    app.close()


def test_a_race_lost_by_recording_time_is_decided_again(tmp_path: Path) -> None:
    app = _ledger(tmp_path)
    stale = datetime.now(UTC) - timedelta(minutes=5)  # taken before the last event committed
    calls = iter([stale])
    with recording_at(lambda: next(calls, None) or datetime.now(UTC)):
        app.add_objective("o2", "Late writer", cycle="2026-Q4", owner="ana")
    assert app.objective("o2").title == "Late writer"
    app.close()


def test_an_import_behind_the_store_says_clock_not_collision(tmp_path: Path) -> None:
    from okr.ledger.imports import import_csv

    app = _ledger(tmp_path)
    with recording_at(lambda: datetime.now(UTC) + timedelta(hours=1)):
        app.add_objective("o2", "From the future", cycle="2026-Q4", owner="ana")
    csv = tmp_path / "checkins.csv"
    csv.write_text("kr,value,at\nk1,3,2026-11-02T10:00:00Z\n")
    with pytest.raises(ClockBehind):
        import_csv(app, csv, "checkins", datetime.fromisoformat)
    app.close()
