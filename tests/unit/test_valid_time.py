"""Valid time of plan items and the organisation's time zone, on the ledger itself."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from okr.domain.errors import DomainError
from okr.domain.periods import cycle_of, named_window
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from tests.support.clock import recording_at
from tests.unit.test_cli_writes import ok, run


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> OkrLedger:
    return OkrLedger(load_settings({"home": tmp_path}),
                     env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def at(when: str, action: Callable[[], Any]) -> Any:
    with recording_at(lambda: t(when)):
        return action()


def test_named_periods_run_local_midnight_to_local_midnight() -> None:
    assert named_window("2026-Q4", "Europe/Berlin") == named_window("2026-Q4").__class__(
        t("2026-10-01T00:00+02:00"), t("2027-01-01T00:00+01:00"))
    la = named_window("2026-Q3", "America/Los_Angeles")
    assert la is not None and la.end == t("2026-10-01T07:00+00:00")
    assert cycle_of(t("2026-10-01T03:00+00:00"), "America/Los_Angeles") == "2026-Q3"
    assert cycle_of(t("2026-09-30T23:00+00:00"), "Europe/Berlin") == "2026-Q4"


def test_the_cycle_records_the_organisations_zone_and_keeps_it(tmp_path: Path) -> None:
    app = OkrLedger(load_settings({"home": tmp_path,
                                   "org_timezone": "Europe/Berlin"}))
    at("2026-09-01T00:00+00:00", lambda: app.add_cycle("2026-Q4"))
    app.close()
    later = OkrLedger(load_settings({"home": tmp_path}))  # setting now UTC
    cyc = later.cycle("2026-Q4")
    assert (cyc.timezone, cyc.start) == ("Europe/Berlin", t("2026-09-30T22:00+00:00"))
    at("2026-10-02T00:00+00:00", lambda: later.add_objective("o", "O", "2026-Q4", "ana"))
    at("2026-10-02T00:00+00:00", lambda: later.add_key_result("k", "K", "o", target=10))
    # 00:30 on 1 October in Berlin is inside the quarter; 23:30 on 30 September is not.
    at("2026-10-02T00:00+00:00", lambda: later.check_in("k", 1, at=t("2026-09-30T22:30Z")))
    with pytest.raises(DomainError, match="outside the cycle"):
        at("2026-10-02T00:00+00:00", lambda: later.check_in("k", 1, at=t("2026-09-30T21:30Z")))


def test_plan_items_typed_during_planning_are_in_force_from_the_cycle_start(
        ledger: OkrLedger) -> None:
    at("2026-07-09T10:00+00:00", lambda: ledger.add_cycle("2026-Q3"))
    at("2026-07-09T10:00+00:00", lambda: ledger.add_objective("o", "O", "2026-Q3", "ana"))
    kr = at("2026-07-09T10:00+00:00", lambda: ledger.add_key_result("k", "K", "o",
                                                                    target=10))
    assert kr.in_force_since == t("2026-07-01T00:00+00:00")
    at("2026-07-10T00:00+00:00", lambda: ledger.check_in("k", 2, at=t("2026-07-01T00:00Z")))
    at("2026-07-12T00:00+00:00", lambda: ledger.commit_cycle("2026-Q3"))
    late = at("2026-08-01T12:00+00:00", lambda: ledger.add_key_result(
        "k2", "K2", "o", target=10, reason="new priority"))
    assert late.in_force_since == t("2026-08-01T12:00+00:00")
    with pytest.raises(DomainError) as exc:
        at("2026-08-02T00:00+00:00", lambda: ledger.check_in("k2", 1,
                                                             at=t("2026-07-20T00:00Z")))
    assert str(exc.value) == ("check-in time 2026-07-20T00:00:00+00:00 is before key result k2 "
                              "was in force (2026-08-01T12:00:00+00:00)")


def test_effective_needs_a_reason_a_past_time_and_never_goes_back(ledger: OkrLedger) -> None:
    at("2026-06-20T10:00+00:00", lambda: ledger.add_cycle("2026-Q3"))
    at("2026-06-20T10:00+00:00", lambda: ledger.add_objective("o", "O", "2026-Q3", "ana"))
    at("2026-06-20T10:00+00:00", lambda: ledger.add_key_result("k", "K", "o", target=10))
    at("2026-06-25T10:00+00:00", lambda: ledger.commit_cycle("2026-Q3"))
    with pytest.raises(DomainError, match="needs a reason"):
        at("2026-08-01T00:00+00:00", lambda: ledger.revise_key_result(
            "k", target=8, effective=t("2026-07-15T00:00Z")))
    with pytest.raises(DomainError, match="in the future"):
        at("2026-08-01T00:00+00:00", lambda: ledger.revise_key_result(
            "k", target=8, reason="cut", effective=t("2026-08-02T00:00Z")))
    kr = at("2026-08-01T00:00+00:00", lambda: ledger.revise_key_result(
        "k", target=8, reason="cut", effective=t("2026-07-15T00:00Z")))
    assert kr.in_force_from == t("2026-07-15T00:00+00:00")
    with pytest.raises(DomainError, match="before the item's latest change took effect"):
        at("2026-08-02T00:00+00:00", lambda: ledger.revise_key_result(
            "k", target=7, reason="again", effective=t("2026-07-10T00:00Z")))


def test_cli_plan_commands_take_effective_and_the_org_zone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    berlin = {"OKR_ORG_TZ": "Europe/Berlin"}
    out = json.loads(ok(home, "cycle", "add", "2026-Q4", "--json", env=berlin))
    assert (out["start"], out["timezone"]) == ("2026-09-30T22:00:00.000000Z", "Europe/Berlin")
    text = ok(home, "cycle", "add", "2026-H2", env=berlin)
    assert "2026-07-01T00:00:00+02:00 (2026-06-30T22:00:00Z)" in text  # local, UTC beside
    ok(home, "objective", "add", "o", "O", "--cycle", "2026-Q4")
    ok(home, "kr", "add", "k", "K", "--objective", "o", "--target", "10")
    ok(home, "checkin", "k", "1", "--at", "2026-10-01")  # OKR_TZ=Europe/Berlin in run()
    ok(home, "cycle", "commit", "2026-Q4")
    proc = run(home, "kr", "revise", "k", "--target", "9", "--effective", "2026-10-20")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "needs a reason" in proc.stderr
    for args in (["kr", "revise", "k", "--target", "9"], ["kr", "remove", "k"],
                 ["kr", "move", "k", "--objective", "o"], ["kr", "link", "k", "x"],
                 ["kr", "unlink", "k"], ["objective", "add", "o2", "T", "--cycle", "2026-Q4"],
                 ["objective", "update", "o"], ["objective", "close", "o", "--status", "missed"],
                 ["objective", "abandon", "o"], ["initiative", "add", "i", "T", "--kr", "k"],
                 ["initiative", "status", "i", "done"]):
        assert "--effective" in ok(home, *args, "--help"), args


def test_a_review_flags_a_revision_given_effective_and_sees_a_late_plan(
        ledger: OkrLedger) -> None:
    from okr.domain.review import ReviewPoint, review
    from okr.record.envelope import chained

    at("2026-07-09T10:00+00:00", lambda: ledger.add_cycle("2026-Q3"))
    at("2026-07-09T10:00+00:00", lambda: ledger.add_objective("o", "O", "2026-Q3", "ana"))
    at("2026-07-09T10:00+00:00", lambda: ledger.add_key_result("k", "K", "o", target=10))
    at("2026-07-10T00:00+00:00", lambda: ledger.check_in("k", 2, at=t("2026-07-02T00:00Z")))
    at("2026-07-12T00:00+00:00", lambda: ledger.commit_cycle("2026-Q3"))
    at("2026-08-03T00:00+00:00", lambda: ledger.revise_key_result(
        "k", target=8, reason="cut", effective=t("2026-07-27T00:00Z")))
    at("2026-08-04T00:00+00:00", lambda: ledger.revise_key_result("k", weight=2,
                                                                  reason="more"))
    facts = [e.fact() for e in chained(ledger)]
    r = review(facts, "2026-Q3", ReviewPoint(t("2026-07-05T00:00Z"), t("2026-12-01T00:00Z")))
    assert r["summary"]["objectives"] == 1
    assert r["objectives"][0]["key_results"][0]["value"] == 2
    flagged = [(x["effective_at"], x["backdated"]) for x in r["revisions"]]
    assert flagged == [(t("2026-07-27T00:00Z"), True), (t("2026-08-04T00:00Z"), False)]


def test_a_kpi_typed_late_counts_readings_from_its_effective_time(ledger: OkrLedger) -> None:
    from okr.domain.history import scorecard_at
    from okr.record.envelope import chained

    at("2026-07-20T10:00+00:00", lambda: ledger.add_cycle("2026-Q3"))
    at("2026-07-20T10:00+00:00", lambda: ledger.add_objective("o", "O", "2026-Q3", "ana"))
    with pytest.raises(DomainError, match="needs a reason"):
        at("2026-07-20T10:00+00:00", lambda: ledger.add_kpi(
            "wau", "WAU", green=10, red=5, effective=t("2026-07-01T00:00Z")))
    at("2026-07-20T10:00+00:00", lambda: ledger.add_kpi(
        "wau", "WAU", green=10, red=5, effective=t("2026-07-01T00:00Z"), reason="tracked"))
    at("2026-07-20T10:01+00:00", lambda: ledger.add_key_result("k", "K", "o", target=20,
                                                               kpi="wau"))
    at("2026-07-20T10:02+00:00", lambda: ledger.record_reading("wau", 7,
                                                               at=t("2026-07-05T00:00Z")))
    facts = [e.fact() for e in chained(ledger)]
    (card,) = scorecard_at(facts, t("2026-07-06T00:00Z"), t("2026-07-21T00:00Z"))
    assert card["key_results"][0]["value"] == 7
