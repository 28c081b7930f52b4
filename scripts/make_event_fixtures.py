"""Write tests/fixtures/stored-events-vN.jsonl: one stored event of every type, as today's
code stores them (N = FIXTURE_VERSION: raise it when an event class changes, and keep every
older file). Kept forever: a later change to an event must upcast them (class_version +
upcast_vN_vN+1), and tests/unit/test_event_fixtures.py loads every file with today's code.

v1: the first published events. v2: CheckInRecorded version 2 (with `source`). v3:
KeyResultAdded and KeyResultRevised version 2 (with `tolerance`); CycleAdded version 2 (with
`timezone`); plan events with `effective_at` (typed while the cycle was in planning after
its start, and a revision given --effective). v4: ObjectiveAdded version 2 and KeyResultAdded
version 3 (with `carried_from`): 2026-Q3 carried forward into 2026-Q4. v5: UserAdded and
UserTokenIssued (users of the web app and API). v6: UserPasswordSet (an argon2id hash), and a
check-in recorded on behalf of someone (the stored state's `on_behalf_of`, which the envelope
carries as a member present only when named). v7: UserTokensRevoked (token ids, with a
reason), UserDisabled and UserEnabled (each with a reason)."""

import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the clock

from okr.ledger.app import OkrLedger
from okr.ledger.carry import carry
from okr.settings import load_settings
from tests.support.clock import recording_at

FIXTURE_VERSION = 7
OUT = (Path(__file__).resolve().parent.parent / "tests" / "fixtures"
       / f"stored-events-v{FIXTURE_VERSION}.jsonl")


# A fixed argon2id hash (of "correct horse battery", salt "fixture-salt-16b"): a fixture is
# reproducible, so no random salt.
PASSWORD_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$Zml4dHVyZS1zYWx0LTE2Yg$"
                 "Wz40HkgtJL5hVN7X9+X66Vrmos5ZyFSEB2nJBsr88dg")


def build(app: OkrLedger) -> None:
    """A history touching every event type once at least."""
    app.add_cycle("2026-Q3")
    app.add_objective("co", "Company goal", cycle="2026-Q3", owner="ana", level="company")
    app.add_objective("o1", "Grow", cycle="2026-Q3", owner="ana", team="sales")
    app.add_objective("o2", "Other", cycle="2026-Q3", owner="ben", team="eng")
    app.add_kpi("nps", "NPS", direction="up", green=40, red=20, tags=["guardrail", "lagging"])
    app.add_key_result("k1", "Deals", objective="o1", start=0, target=40, unit="deals",
                       phases=[{"at": datetime(2026, 8, 1, tzinfo=UTC), "value": 15.0}])
    app.add_key_result("k2", "Band", objective="o1", kind="range", start=50, target=60,
                       target_high=70)
    app.add_key_result("k3", "Latency", objective="o2", kind="stay-below", start=400,
                       target=200, unit="ms", tolerance=50)
    app.add_initiative("i1", "Outbound campaign", key_result="k1")
    app.commit_cycle("2026-Q3")
    app.update_objective("o1", title="Grow revenue", description="new words")
    app.update_objective("o1", owner="cy", team="sales-eu")
    app.update_objective("o1", parent="co", reason="alignment")
    app.update_objective("o2", okr_type="aspirational", reason="stretch")
    app.check_in("k1", 10, confidence=0.7, note="first", at=datetime(2026, 8, 1, tzinfo=UTC))
    app.check_in("k1", 12, note="from the sheet", at=datetime(2026, 8, 8, tzinfo=UTC),
                 source="import")
    app.revise_key_result("k1", target=30, reason="market",
                          effective=datetime(2026, 8, 20, tzinfo=UTC))
    app.revise_key_result("k3", tolerance=20, reason="tighter band")
    app.link_kpi("k2", "nps")
    app.unlink_kpi("k2")
    app.move_key_result("k2", "o2", reason="ownership")
    app.remove_key_result("k2", reason="dropped")
    app.set_initiative_status("i1", "in-progress")
    app.update_kpi("nps", {"green": 45.0})
    app.record_reading("nps", 38, at=datetime(2026, 8, 2, tzinfo=UTC), reading_id="r1")
    app.retire_kpi("nps", reason="replaced")
    app.close_objective("o2", "missed")
    app.abandon_objective("co", reason="reorg")
    app.close_cycle("2026-Q3")
    app.reopen_cycle("2026-Q3", reason="late numbers")
    app.add_cycle("2026-Q4")
    carry(app, "2026-Q3", "2026-Q4")
    app.add_user("dee", "member", team="sales")
    app.issue_token("dee", "0123456789abcdef", "a" * 64)
    app.set_password("dee", PASSWORD_HASH)
    with app.acting_for("Dana"):
        app.check_in("k1", 14, at=datetime(2026, 8, 15, tzinfo=UTC))
    app.issue_token("dee", "fedcba9876543210", "b" * 64)
    app.revoke_token("dee", "0123456789abcdef", reason="leaked in a build log")
    app.disable_user("dee", reason="left the team")
    app.enable_user("dee", reason="back")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = OkrLedger(load_settings({"home": tmp}), principal="ana")  # fixed, like its clock
        ticks = iter(range(10_000))
        # A minute a tick (v1–v3 took the minute modulo 60: they needed fewer than 60).
        with recording_at(lambda: datetime(2026, 9, 1, tzinfo=UTC)
                          + timedelta(minutes=next(ticks))):
            build(app)
        notes = app.recorder.select_notifications(None, 1000)
        with OUT.open("w", encoding="utf-8") as f:
            for n in notes:
                f.write(json.dumps({"id": n.id, "originator_id": str(n.originator_id),
                                    "originator_version": n.originator_version,
                                    "topic": n.topic,
                                    "state": json.loads(n.state)}) + "\n")
    print(f"wrote {len(notes)} stored events to {OUT}")


if __name__ == "__main__":
    main()
