"""Events stored by earlier code must load with today's code (upcast where they changed)."""

import json
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from okr.domain.history import scorecard_at
from okr.ledger.app import OkrLedger
from okr.ledger.envelope import EVENT_TYPES, chained
from okr.ledger.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def restore(home: Path, name: str) -> OkrLedger:
    """A fresh SQLite store holding exactly the fixture's stored events."""
    app = OkrLedger(load_settings({"home": home, "actor": "auditor"}))
    rows = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]
    app.recorder.insert_events([
        StoredEvent(originator_id=UUID(r["originator_id"]),
                    originator_version=r["originator_version"], topic=r["topic"],
                    state=json.dumps(r["state"], separators=(",", ":")).encode())
        for r in rows])
    return app


def test_v1_fixtures_cover_every_published_event_type(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v1.jsonl")
    types = {env.type for env in chained(app)}
    assert types == {t for t, _ in EVENT_TYPES.values()}


def test_v1_events_load_into_todays_aggregates(tmp_path: Path) -> None:
    app = restore(tmp_path, "stored-events-v1.jsonl")
    k1 = app.key_result("k1")
    assert (k1.target, k1.cycle, k1.latest_check_in()["value"]) == (30.0, "2026-Q3", 10.0)
    assert app.key_result("k2").removed and app.key_result("k2").objective == "o2"
    assert app.objective("o1").parent == "co" and app.objective("o1").owner == "cy"
    assert app.kpi("nps").retired and app.kpi("nps").green == 45.0
    assert app.cycle("2026-Q3").status == "committed"
    assert app.initiative("i1").status == "in-progress"
    facts = [e.fact() for e in chained(app)]
    (o1,) = [c for c in scorecard_at(facts, facts[-1].recorded_at, facts[-1].recorded_at)
             if c["key"] == "o1"]
    assert o1["key_results"][0]["progress"] == 10 / 30
