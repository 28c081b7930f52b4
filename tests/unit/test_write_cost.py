"""Writes do not slow with history (issue 20): recording a reading on a KPI that holds 20,000
or a check-in on a key result with 1,000 reads a bounded number of stored events — its latest
snapshot and the events after it — and the snapshots stay out of the ledger's own log (the
notification log the relay publishes and the audit replays). How fast: bench/history_bench.py.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from okr.domain.errors import DomainError
from okr.domain.periods import cycle_of
from okr.ledger import views
from okr.ledger.app import SNAPSHOT_EVERY, OkrLedger
from okr.settings import load_settings

READINGS = 20_000
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)  # the first observed


def settings(home: Path, env: dict[str, str] | None = None) -> Any:
    return load_settings({"home": home}, environ=env or {})


def with_readings(home: Path, n: int, ids: bool, env: dict[str, str] | None = None) -> None:
    """A KPI `wau` holding `n` readings (saved in batches, as the history generator does)."""
    app = OkrLedger(settings(home, env))
    try:
        app.add_kpi("wau", "Weekly active users", green=14000, red=12000)
        for start in range(0, n, 5000):
            kpi = app.kpi("wau")
            for i in range(start, min(n, start + 5000)):
                kpi.record(float(i), BASE + timedelta(seconds=i), "feed",
                           f"r-{i}" if ids else None, datetime.now(UTC), "ana",
                           earlier=app.reading_of(kpi))
            app.save(kpi)
    finally:
        app.close()


class Counted:
    """Counts the stored events and snapshots a ledger reads (its recorders' select_events)."""

    def __init__(self, app: OkrLedger) -> None:
        self.events = self.snapshots = 0
        self._wrap(app.recorder, "events")
        assert app.snapshots is not None
        self._wrap(app.snapshots.recorder, "snapshots")

    def _wrap(self, recorder: Any, what: str) -> None:
        real = recorder.select_events

        def counting(*args: Any, **kwargs: Any) -> Any:
            rows = real(*args, **kwargs)
            setattr(self, what, getattr(self, what) + len(rows))
            return rows
        recorder.select_events = counting


@pytest.fixture(scope="module")
def kpi_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("long-kpi")
    with_readings(home, READINGS, ids=False)
    yield home


def test_a_reading_after_20000_reads_a_snapshot_and_few_events(kpi_home: Path) -> None:
    app = OkrLedger(settings(kpi_home))  # a new process: nothing cached
    try:
        seen = Counted(app)
        assert app.record_reading("wau", 13_000, reading_id="new-1")
        assert seen.events < SNAPSHOT_EVERY + 10, seen.events  # not 20,000
        assert seen.snapshots == 1
        kpi = app.kpi("wau")
        assert (kpi.reading_count, kpi.latest_reading()["value"]) == (READINGS + 1, 13_000.0)
    finally:
        app.close()


def test_a_repeated_id_is_found_and_checked_across_snapshots(tmp_path: Path) -> None:
    with_readings(tmp_path, 3 * SNAPSHOT_EVERY + 5, ids=True)
    app = OkrLedger(settings(tmp_path))
    try:
        seen = Counted(app)
        assert not app.record_reading("wau", 7.0, BASE + timedelta(seconds=7), source="feed",
                                      reading_id="r-7")  # the same reading, sent again
        assert seen.events < SNAPSHOT_EVERY + 10, seen.events
        with pytest.raises(DomainError, match="conflicting duplicate: reading id 'r-7'"):
            app.record_reading("wau", 8.0, BASE + timedelta(seconds=7), source="feed",
                               reading_id="r-7")
        assert app.record_reading("wau", 8.0, source="feed", reading_id="r-new")
    finally:
        app.close()


def test_snapshots_stay_out_of_the_ledgers_log(kpi_home: Path) -> None:
    app = OkrLedger(settings(kpi_home))
    try:
        assert app.snapshots is not None
        snapshots = app.snapshots.recorder.select_events(app.kpi("wau").id)
        assert len(snapshots) >= READINGS // SNAPSHOT_EVERY  # they were taken …
        head = app.recorder.max_notification_id()
        log = app.recorder.select_notifications(None, head + 10)
        # … and the log the relay publishes and the audit replays holds only the events:
        # the KPI's creation, its readings and the one reading of the first test.
        assert len(log) == head and all("Snapshot" not in n.topic for n in log)
        assert {n.topic.rsplit(".", 1)[-1] for n in log} == {"KpiAdded", "KpiReadingRecorded"}
    finally:
        app.close()


def test_a_check_in_after_1000_reads_few_events_and_shows_all(tmp_path: Path) -> None:
    app = OkrLedger(settings(tmp_path))
    now = datetime.now(UTC)
    cycle = cycle_of(now)
    app.add_cycle(cycle)
    app.add_objective("o", "Grow", cycle=cycle, owner="ana")
    app.add_key_result("k", "Signups", objective="o", target=1e6)
    kr = app.key_result("k")
    for i in range(1000):
        kr.check_in(float(i), 0.5, "", now, now, app.cycle(cycle).window, "ana")
    app.save(kr)
    app.close()
    app = OkrLedger(settings(tmp_path))
    try:
        seen = Counted(app)
        app.check_in("k", 1000.0)
        assert seen.events < SNAPSHOT_EVERY + 10, seen.events
        kr = app.key_result("k")
        assert (kr.check_in_count, kr.latest_check_in()["value"]) == (1001, 1000.0)
        # Every check-in is still there for `okr show`, read from the events.
        assert [c["value"] for c in views.check_ins(app, kr)][-2:] == [999.0, 1000.0]
    finally:
        app.close()


@pytest.mark.postgres
def test_postgres_keeps_snapshots_in_their_own_table_and_loads_from_them(
        tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from tests.pg import private_schema

    with private_schema("okr_snap") as env:
        with_readings(tmp_path, 2 * SNAPSHOT_EVERY + 5, ids=True, env=env)
        app = OkrLedger(settings(tmp_path, env))
        try:
            seen = Counted(app)
            assert not app.record_reading("wau", 3.0, BASE + timedelta(seconds=3),
                                          source="feed", reading_id="r-3")
            assert app.record_reading("wau", 4.0, source="feed", reading_id="r-new")
            assert (seen.snapshots, seen.events) == (1, 7)  # 6 after it, 1 to check r-3
            log = app.recorder.select_notifications(None, 1000)
            assert len(log) == 2 * SNAPSHOT_EVERY + 7  # KpiAdded, the readings, r-new
            assert all("Snapshot" not in n.topic for n in log)
        finally:
            app.close()


def test_every_kind_of_aggregate_reads_back_the_same_from_its_snapshot(tmp_path: Path) -> None:
    app = OkrLedger(settings(tmp_path))
    now = datetime.now(UTC)
    cycle = cycle_of(now)
    app.add_cycle(cycle)
    app.add_objective("o", "Grow", cycle=cycle, owner="ana")
    app.add_kpi("wau", "Weekly active users", green=14000, red=12000, tags=["guardrail"])
    app.add_key_result("k", "Signups", objective="o", target=100, kpi="wau",
                       phases=[{"at": now, "value": 50.0}])
    app.add_initiative("i", "Webinars", key_result="k")
    app.record_reading("wau", 13000, reading_id="r-1")
    app.record_reading("wau", 13100)
    app.add_key_result("k2", "Demos", objective="o", target=10)
    app.check_in("k2", 3, confidence=0.5, note="first")
    aggregates = [app.cycle(cycle), app.objective("o"), app.key_result("k"),
                  app.key_result("k2"), app.initiative("i"), app.kpi("wau")]
    for agg in aggregates:
        app.take_snapshot(agg.id)
    app.close()
    app = OkrLedger(settings(tmp_path))
    try:
        seen = Counted(app)
        for agg in aggregates:
            again = app.repository.get(agg.id)
            assert vars(again) == vars(agg), type(agg).__name__
        assert (seen.snapshots, seen.events) == (len(aggregates), 0)
    finally:
        app.close()


def test_reading_ids_with_separators_are_found_exactly_after_a_snapshot(tmp_path: Path) -> None:
    app = OkrLedger(settings(tmp_path))
    app.add_kpi("wau", "Weekly active users", green=14000, red=12000)
    ids = ["a;b", "a=b", "100%", "r-1", "r-10", "x%3By", ";", "=", "é ü"]
    for n, rid in enumerate(ids):
        assert app.record_reading("wau", float(n), BASE + timedelta(seconds=n), source="feed",
                                  reading_id=rid)
    app.take_snapshot(app.kpi("wau").id)
    app.close()
    app = OkrLedger(settings(tmp_path))
    try:
        seen = Counted(app)
        kpi = app.kpi("wau")
        assert (seen.snapshots, seen.events) == (1, 0)  # read from the snapshot alone
        assert [kpi.reading_ids.get(r) for r in ids] == list(range(2, 2 + len(ids)))
        assert [kpi.reading_ids.get(r) for r in ("a", "b", "r-", "x;y", "%")] == [None] * 5
        assert len(kpi.reading_ids) == len(ids)
        assert not app.record_reading("wau", 4.0, BASE + timedelta(seconds=4), source="feed",
                                      reading_id="r-10")
    finally:
        app.close()
