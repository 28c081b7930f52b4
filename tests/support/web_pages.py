"""More of a quarter for the web's item, review and audit pages: on top of tests/support/web.py's
ledger, a guardrail KPI with readings and a key result linked to it, an objective aligned under
another (added after commit, with a reason), an initiative, check-ins with confidence and a
target eased while behind (a moved goalpost) — every new text hostile."""

from datetime import UTC, datetime, timedelta

from okr.ledger.app import OkrLedger
from tests.fuzzing import live_window
from tests.support.hostile_text import CORPUS

HOSTILE = CORPUS["html"] + " " + CORPUS["bidi override"] + " " + CORPUS["ansi colour"]


def seed_pages(app: OkrLedger) -> dict[str, datetime]:
    """Add the items; the instants a time-travel test needs: `before_second` (known at it,
    k-eng's value is 1 and the KPI's latest reading 40)."""
    start, _ = live_window()
    now = datetime.now(UTC)
    # In force from the cycle's start: its readings are observed from then on (a reading
    # observed before its KPI was in force counts in no as-of view, docs/scoring.md).
    app.add_kpi("wau", "Weekly users " + HOSTILE, unit="users", green=100, red=50,
                cadence="weekly", tags=["guardrail"], effective=start,
                reason="tracked since the cycle began")
    with app.acting_for("ops " + HOSTILE):  # recorded beside the actor, shown on the pages
        app.record_reading("wau", 40, at=start + timedelta(days=1),
                           source="import " + HOSTILE)
    app.add_objective("o-child", "Child " + HOSTILE, cycle="live", owner="ben", team="eng",
                      parent="o-eng", reason="split " + HOSTILE)
    app.add_key_result("k-kpi", "Users " + HOSTILE, objective="o-child", start=0, target=150,
                       kpi="wau", reason="added " + HOSTILE)
    app.add_initiative("i-chat", "Chat " + HOSTILE, key_result="k-eng", owner="ben")
    app.check_in("k-eng", 1, confidence=0.9, note="first " + HOSTILE,
                 at=now - timedelta(days=3))
    with app.acting_for("ops " + HOSTILE):
        app.revise_key_result("k-eng", target=5, reason="eased " + HOSTILE)
    before_second = datetime.now(UTC)
    app.check_in("k-eng", 3, confidence=0.4, note="second")
    app.record_reading("wau", 80, at=now - timedelta(days=1))
    return {"before_second": before_second}
