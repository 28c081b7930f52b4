"""The same reading id with different content is a conflicting duplicate (issue 18): refused in
one line (the ingest sends it to the dead-letter topic), never silently kept or dropped."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okr.domain.errors import DomainError
from okr.ledger import views
from okr.ledger.app import OkrLedger
from okr.ledger.readings import Rejected, parse_message, record
from okr.settings import load_settings

AT = datetime(2026, 10, 5, 9, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> OkrLedger:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    app.add_kpi("wau", "Weekly active users", green=14000, red=12000)
    assert app.record_reading("wau", 13250, AT, source="bi", reading_id="r1")
    return app


@pytest.mark.parametrize("value, at, source", [
    (13251, AT, "bi"), (13250, AT + timedelta(minutes=1), "bi"), (13250, AT, "crm")])
def test_same_id_other_content_is_refused(ledger: OkrLedger, value: float, at: datetime,
                                          source: str) -> None:
    with pytest.raises(DomainError, match=r"^conflicting duplicate: reading id 'r1'"):
        ledger.record_reading("wau", value, at, source=source, reading_id="r1")
    assert [r["value"] for r in views.readings(ledger, ledger.kpi("wau"))] == [13250]


def test_same_id_same_content_is_a_plain_duplicate(ledger: OkrLedger) -> None:
    assert not ledger.record_reading("wau", 13250, AT + timedelta(seconds=3), source="bi",
                                     reading_id="r1")  # within the clock-skew clamp
    assert len(views.readings(ledger, ledger.kpi("wau"))) == 1


def test_the_ingest_rejects_it_with_the_reason(ledger: OkrLedger) -> None:
    now = AT + timedelta(days=1)
    raw = (b'{"kpi": "wau", "value": 1, "observed_at": "2026-10-05T09:00:00Z", '
           b'"source": "bi", "id": "r1"}')
    with pytest.raises(Rejected, match=r"^conflicting duplicate"):
        record(ledger, parse_message(raw, now), now)
