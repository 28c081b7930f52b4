"""One card builder (domain/cards.py): `okr show`'s view (ledger/views.kr_view, from the
aggregates), the replay (domain/history.scorecard, from the facts) and the projection's SQL
macro (scorecard_at) measure every key result and objective of one ledger alike."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from okr.domain.base import utc_now
from okr.domain.history import scorecard_at
from okr.ledger import views
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained_records
from okr.settings import load_settings
from tests.fuzzing import LIVE_CYCLE, live_window

MEASURED = ("value", "progress", "expected", "status", "confidence", "kpi_health")


@pytest.fixture
def ledger(tmp_path: Path) -> OkrLedger:
    """A cycle under way with key results of every kind: checked in, KPI-linked, phased,
    late, untouched; a KPI gone stale and one fresh."""
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    now = utc_now()
    cycle = app.add_cycle(LIVE_CYCLE, *live_window(now))  # under way on any date
    start, end = cycle.start, cycle.end
    app.add_objective("o1", "Grow revenue", cycle=cycle.key, owner="ana")
    app.add_objective("o2", "Keep customers", cycle=cycle.key, owner="bo", okr_type="aspirational")
    # in force from the cycle's start: a reading observed before its KPI was in force would
    # count in no view (Kpi.counts_at)
    app.add_kpi("churn", "Churn", direction="down", green=2, red=5, cadence="daily",
                effective=start, reason="tracked all cycle")
    app.add_kpi("nps", "NPS", green=40, red=20, cadence="quarterly", effective=start,
                reason="tracked all cycle")
    app.add_key_result("k1", "Deals", objective="o1", start=0, target=40, weight=2)
    app.add_key_result("k2", "Costs", objective="o1", kind="decrease", start=100, target=60)
    app.add_key_result("k3", "Churn", objective="o2", kind="stay-below", start=5, target=3,
                       kpi="churn")
    app.add_key_result("k4", "Launch", objective="o2", kind="milestone", start=0, target=1)
    app.add_key_result("k5", "Band", objective="o2", kind="range", start=0, target=10,
                       target_high=20)
    app.add_key_result("k6", "NPS", objective="o1", start=10, target=50, kpi="nps",
                       phases=[{"at": start + (end - start) / 2, "value": 20}])
    app.check_in("k1", 12, confidence=0.6, at=start + timedelta(days=3))
    app.check_in("k1", 9, confidence=0.8, at=start + timedelta(days=1))  # late, older
    app.check_in("k2", 80, confidence=0.4)
    app.check_in("k5", 25)
    app.record_reading("churn", 4.0, at=start + timedelta(hours=5))
    app.record_reading("nps", 45.0, at=now - timedelta(hours=1))
    app.record_reading("nps", 30.0, at=now - timedelta(days=1))
    return app


def by_key(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in cards}


def test_view_replay_and_sql_macro_measure_every_key_result_alike(ledger: OkrLedger) -> None:
    now = utc_now()
    settings = ledger.settings
    with Projection(settings.projection_work_file) as proj:
        proj.apply("t", [ConsumedRecord(r.value, 0, i)
                         for i, r in enumerate(chained_records(ledger))], {0: 1})
        sql = by_key(proj.scorecard_at(now, now))
        replay = by_key(scorecard_at(list(proj.facts()), now, now))
    shown = {key: views.view(ledger, "objective", ledger.objective(key), now)
             for key in ("o1", "o2")}
    assert set(sql) == set(replay) == set(shown) == {"o1", "o2"}
    for key, objective in shown.items():
        for field in ("score", "expected", "track", "succeeded"):
            assert objective[field] == pytest.approx(replay[key][field]), (key, field)
            assert sql[key][field] == pytest.approx(replay[key][field]), (key, field)
        krs = {k["key"]: k for k in objective["key_results"]}
        krs_replay, krs_sql = (by_key(c[key]["key_results"]) for c in (replay, sql))
        assert set(krs) == set(krs_replay) == set(krs_sql)
        for kr in krs:
            for field in MEASURED:
                assert krs[kr][field] == pytest.approx(krs_replay[kr][field]), (kr, field)
                assert krs_sql[kr][field] == pytest.approx(krs_replay[kr][field]), (kr, field)
            assert krs_sql[kr]["kpi_stale"] == krs_replay[kr]["kpi_stale"], kr
    # the ledger really exercises every branch of the card
    every = [k for o in shown.values() for k in o["key_results"]]
    assert {k["status"] for k in every} >= {"on-track", "off-track"}
    assert {k["kpi_health"] for k in every} >= {None, "amber", "green"}
    assert any(k["confidence"] is None and k["value"] is not None for k in every)
    assert by_key(replay["o2"]["key_results"])["k3"]["kpi_stale"]


def test_a_key_result_view_takes_the_latest_effective_check_in(ledger: OkrLedger) -> None:
    now = utc_now()
    card = views.view(ledger, "key_result", ledger.key_result("k1"), now)
    assert (card["value"], card["confidence"]) == (12, 0.6)
    assert card["progress"] == pytest.approx(12 / 40)


def test_a_latest_check_in_without_confidence_shows_none_everywhere(ledger: OkrLedger) -> None:
    """k2's older check-in said 0.4; its latest says nothing: the SQL macro must not fill the
    gap from the older one (DuckDB's arg_max skips NULLs), as the view and replay do not."""
    ledger.check_in("k2", 70)
    now = utc_now()
    with Projection(ledger.settings.projection_work_file) as proj:
        proj.apply("t", [ConsumedRecord(r.value, 0, i)
                         for i, r in enumerate(chained_records(ledger))], {0: 1})
        sql = by_key(by_key(proj.scorecard_at(now, now))["o1"]["key_results"])["k2"]
        replay = by_key(by_key(scorecard_at(list(proj.facts()), now, now))["o1"]
                        ["key_results"])["k2"]
    shown = views.view(ledger, "key_result", ledger.key_result("k2"), now)
    assert (shown["value"], shown["confidence"]) == (70, None)
    assert (replay["value"], replay["confidence"]) == (70, None)
    assert (sql["value"], sql["confidence"]) == (70, None)
