"""A command can only create an event the log can carry (issue 18): phased targets per key
result and the size of any event are limited where the command is decided, in one line."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okr.adapters.kafka_client import MAX_VALUE
from okr.domain.errors import DomainError
from okr.domain.key_result import MAX_PHASES
from okr.ledger import app as ledger_app
from okr.ledger.app import EventTooLarge, OkrLedger
from okr.record.envelope import chained_records
from okr.settings import load_settings
from tests.fuzzing import event_count, fresh_copy, okr
from tests.support.clock import recording_at

START = datetime(2026, 10, 1, tzinfo=UTC)
MID_QUARTER = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> OkrLedger:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    with recording_at(lambda: START):  # recorded when 2026-Q4 began, whatever today is
        app.add_cycle("2026-Q4")
        app.add_objective("o1", "Grow revenue", cycle="2026-Q4", owner="ana")
    return app


def phases(n: int) -> list[dict[str, object]]:
    step = timedelta(days=90) / (n + 1)
    return [{"at": START + step * (i + 1), "value": float(i)} for i in range(n)]


def test_the_most_phases_allowed_make_an_event_kafka_carries(ledger: OkrLedger) -> None:
    ledger.add_key_result("k1", "Many steps", objective="o1", target=1e6,
                          phases=phases(MAX_PHASES))  # type: ignore[arg-type]
    sizes = [len(r.value) for r in chained_records(ledger)]
    assert max(sizes) < MAX_VALUE
    assert max(sizes) < ledger_app.MAX_EVENT_BYTES + 1024


def test_more_phases_than_allowed_are_refused_in_one_line(readme_home: Path,
                                                          workdir: Path) -> None:
    home = fresh_copy(readme_home, workdir)
    before = event_count(home)
    flags = [a for i in range(MAX_PHASES + 1)
             for a in ("--phase", f"{(START + timedelta(minutes=i + 1)).date()}T"
                                  f"{(START + timedelta(minutes=i + 1)).time()}={i}")]
    result = okr(home, "kr", "add", "kr-many", "Too many steps", "--objective", "rev-2x",
                 "--target", "5000", "--reason", "more", *flags)
    assert result.code == 2, str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"at most {MAX_PHASES}" in lines[0], result.stderr
    assert event_count(home) == before


def test_an_event_beyond_the_size_limit_is_refused_and_nothing_is_kept(
        ledger: OkrLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = ledger.recorder.max_notification_id()
    ledger.add_key_result("k1", "Steps", objective="o1", target=100.0)
    monkeypatch.setattr(ledger_app, "MAX_EVENT_BYTES", 2_000)
    with pytest.raises(EventTooLarge, match="at most 2,000 bytes"):
        ledger.revise_key_result("k1", phases=phases(60))  # type: ignore[arg-type]
    assert ledger.recorder.max_notification_id() == stored + 1
    assert ledger.key_result("k1").phases == []  # the refused change is not left in memory
    ledger.revise_key_result("k1", target=120.0)  # and the next command is decided afresh
    assert ledger.key_result("k1").target == 120.0
    assert ledger.recorder.max_notification_id() == stored + 2


@pytest.mark.parametrize(("field", "change"), [
    ("note", lambda app: app.check_in("k1", 3, note="a\ud800b")),
    ("title", lambda app: app.update_objective("o1", title="\udcff")),
    ("source", lambda app: app.record_reading("wau", 3, source="x\ud83d")),
])
def test_text_with_a_lone_surrogate_is_refused_in_one_line_and_nothing_is_kept(
        ledger: OkrLedger, field: str, change: object) -> None:
    """A JSON body may spell a lone UTF-16 surrogate ("\\ud800"): it is no character, so it
    cannot be stored as UTF-8. Until 2026-12-04 the event store's encoding failed on it deep
    in the save (a traceback; through the web, HTTP 500)."""
    with recording_at(lambda: MID_QUARTER):  # a check-in "now" lies in 2026-Q4 then
        ledger.add_key_result("k1", "Steps", objective="o1", target=100.0)
        ledger.add_kpi("wau", "Weekly active", green=10, red=5)
        stored = ledger.recorder.max_notification_id()
        with pytest.raises(DomainError) as refused:
            change(ledger)  # type: ignore[operator]
        message = str(refused.value)
        assert "\n" not in message and field in message and "surrogate" in message, message
        assert ledger.recorder.max_notification_id() == stored  # nothing recorded
        ledger.check_in("k1", 4.0, note="fine")  # and the next command is decided afresh
    assert ledger.key_result("k1").last_check_in["note"] == "fine"  # type: ignore[index]
    assert ledger.recorder.max_notification_id() == stored + 1
