"""Plan changes after commit that move a quarter's grade (trial-retro F11, F12): an objective
abandoned mid-quarter is not graded and its abandonment is a revision; a committed objective
downgraded to aspirational, or weight shifted away from a lagging key result, moves the
goalposts as an eased target does, and the plan's type stands beside the final one.

The trial's repro, on 2026-Q3 (UTC), every date explicit: objective `a` (committed, a1 at
10 of 10, a2 at 2 of 10 → 0.6, missed), `b` (committed, b1 at 1 of 10); after commit `a`
turned aspirational on 15 Aug, a2's weight cut 1 → 0.25 on 16 Aug (a: 0.6 → 0.84, reached),
`b` abandoned on 20 Aug.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from okr.cli.report import score_rows, to_markdown
from okr.domain.history import Fact
from okr.domain.review import ReviewPoint, retro, review, team_summary
from okr.ledger.app import OkrLedger
from tests.unit.test_retro_facts import RETRO_DAY, build, d

At = Callable[[datetime, Callable[[], Any]], None]


def plan(app: OkrLedger, at: At) -> None:
    at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
    at(d(6, 21), lambda: app.add_objective("a", "A committed", "2026-Q3", "ana", team="t1"))
    at(d(6, 21), lambda: app.add_key_result("a1", "A1", "a", target=10))
    at(d(6, 21), lambda: app.add_key_result("a2", "A2", "a", target=10))
    at(d(6, 21), lambda: app.add_objective("b", "B to abandon", "2026-Q3", "bo", team="t2"))
    at(d(6, 21), lambda: app.add_key_result("b1", "B1", "b", target=10))
    at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
    at(d(8, 1, 9), lambda: app.check_in("a1", 10))
    at(d(8, 1, 9), lambda: app.check_in("a2", 2))
    at(d(8, 1, 9), lambda: app.check_in("b1", 1))


def trial(app: OkrLedger, at: At) -> None:
    """The trial's three changes, typed at the retro for the days they were agreed."""
    plan(app, at)
    at(RETRO_DAY, lambda: app.update_objective("a", okr_type="aspirational",
                                               effective=d(8, 15), reason="rescoped"))
    at(RETRO_DAY, lambda: app.revise_key_result("a2", weight=0.25, effective=d(8, 16),
                                                reason="less important now"))
    at(RETRO_DAY, lambda: app.abandon_objective("b", reason="strategy change",
                                                effective=d(8, 20)))


def whole(facts: list[Fact]) -> dict[str, Any]:
    later = RETRO_DAY.replace(day=5)
    return review(facts, "2026-Q3", ReviewPoint(later, later))


@pytest.fixture(scope="module")
def q3() -> dict[str, Any]:
    return whole(build(trial))


def card(r: dict[str, Any], key: str) -> dict[str, Any]:
    return next(c for c in r["objectives"] if c["key"] == key)


# ---- F11: an abandoned objective is not graded; its abandonment is a revision --------------

def test_an_abandoned_objective_is_left_out_of_the_headline(q3: dict[str, Any]) -> None:
    s = q3["summary"]
    assert (s["graded"], s["succeeded"]) == (1, 1)  # was 1 of 2
    assert s["mean_score"] == pytest.approx(0.84)  # was (0.84 + 0.10) / 2 = 0.47
    assert s["abandoned"] == 1
    b = card(q3, "b")
    assert b["status"] == "abandoned" and b["succeeded"] is None
    assert b["score"] == pytest.approx(0.1)  # its score is still said, not graded
    assert team_summary(q3)["graded"] == 1
    assert team_summary(q3)["mean_score"] == pytest.approx(0.84)


def test_an_abandoned_objective_says_when_who_and_why(q3: dict[str, Any]) -> None:
    gone = card(q3, "b")["abandoned"]
    assert gone["effective_at"] == d(8, 20) and gone["recorded_at"] == RETRO_DAY
    assert gone["actor"] == "ana" and gone["reason"] == "strategy change"
    assert card(q3, "a")["abandoned"] is None
    rows = [r for r in score_rows(q3) if r["objective"] == "b"]
    assert {r["objective_grade"] for r in rows} == {"abandoned"}
    assert "missed" not in rows[-1]["grade"] and "abandoned" in rows[-1]["grade"]


def test_an_abandonment_after_commit_is_a_listed_and_counted_revision(q3: dict[str, Any]
                                                                       ) -> None:
    listed = [(r["key"], r["type"]) for r in q3["revisions"]]
    assert ("b", "ObjectiveStatusChanged") in listed
    gone = next(r for r in q3["revisions"] if r["key"] == "b")
    assert gone["changes"] == {"status": {"from": "active", "to": "abandoned"}}
    assert gone["effective_at"] == d(8, 20) and gone["reason"] == "strategy change"
    assert gone["objective"] == "b" and gone["backdated"]
    assert team_summary(q3)["revisions"] == 3  # was 2
    assert retro(q3, q3, "t2")["a"]["revisions"] == 1
    assert "b: status active → abandoned" in to_markdown(q3, "UTC")


def test_an_objective_abandoned_in_planning_is_no_revision() -> None:
    def steps(app: OkrLedger, at: At) -> None:
        at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
        at(d(6, 21), lambda: app.add_objective("x", "X", "2026-Q3", "ana"))
        at(d(6, 21), lambda: app.add_key_result("x1", "X1", "x", target=10))
        at(d(6, 21), lambda: app.abandon_objective("x", reason="not this quarter"))
        at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
    r = whole(build(steps))
    assert r["revisions"] == [] and r["summary"]["graded"] == 0
    assert card(r, "x")["abandoned"]["reason"] == "not this quarter"


def test_a_review_before_the_abandonment_took_effect_still_grades_it() -> None:
    facts = build(trial)
    r = review(facts, "2026-Q3", ReviewPoint(d(8, 19), RETRO_DAY.replace(day=5)))
    assert card(r, "b")["status"] == "active" and card(r, "b")["abandoned"] is None
    assert r["summary"]["graded"] == 2


# ---- F12: a type downgrade or a score-raising weight shift moves the goalposts --------------

def test_a_downgrade_from_committed_after_commit_moves_the_goalposts(q3: dict[str, Any]
                                                                     ) -> None:
    typed = next(r for r in q3["revisions"] if r["type"] == "ObjectiveTypeChanged")
    assert typed["changes"] == {"okr_type": {"from": "committed", "to": "aspirational"}}
    assert typed["goalpost_moved"] and typed["goalpost"] == "type lowered"
    assert typed["judged_at"] == d(8, 15)
    # the objective as it stood then: a1 1.0, a2 0.2, equal weights
    assert typed["score_then"] == pytest.approx(0.6)


def test_a_weight_cut_on_a_lagging_key_result_moves_the_goalposts(q3: dict[str, Any]) -> None:
    cut = next(r for r in q3["revisions"] if r["key"] == "a2")
    assert cut["changes"] == {"weight": {"from": 1, "to": 0.25}}
    assert cut["goalpost_moved"] and cut["goalpost"] == "weight shifted"
    assert cut["score_then"] == pytest.approx(0.6)
    assert cut["score_revised"] == pytest.approx((1.0 + 0.25 * 0.2) / 1.25)
    assert team_summary(q3)["goalposts_moved"] == 2  # was 0
    assert retro(q3, q3, "t1")["a"]["goalposts_moved"] == 2


def test_the_plan_type_stands_beside_the_final_type(q3: dict[str, Any]) -> None:
    a = card(q3, "a")
    assert (a["planned_type"], a["okr_type"], a["type_changed"]) == (
        "committed", "aspirational", True)
    assert (card(q3, "b")["planned_type"], card(q3, "b")["type_changed"]) == (
        "committed", False)
    row = next(r for r in score_rows(q3) if r["objective"] == "a")
    assert row["planned_type"] == "committed" and row["type"] == "aspirational"


def test_a_weight_shift_towards_the_lagging_key_result_and_an_upgrade_move_nothing() -> None:
    def steps(app: OkrLedger, at: At) -> None:
        plan(app, at)
        at(RETRO_DAY, lambda: app.revise_key_result("a2", weight=3, effective=d(8, 16),
                                                    reason="it matters more"))
        at(RETRO_DAY, lambda: app.update_objective("b", okr_type="learning",
                                                   effective=d(8, 17), reason="explore"))
        at(RETRO_DAY, lambda: app.update_objective("b", okr_type="committed",
                                                   effective=d(8, 18), reason="back"))
    r = whole(build(steps))
    moved = {(x["key"], x["type"], str(x["changes"])): x["goalpost_moved"]
             for x in r["revisions"]}
    assert list(moved.values()) == [False, True, False], moved  # only the learning downgrade
    reweighted = next(x for x in r["revisions"] if x["key"] == "a2")
    assert reweighted["score_revised"] < reweighted["score_then"]


def test_a_weight_cut_on_a_key_result_ahead_of_the_others_is_no_goalpost_move() -> None:
    def steps(app: OkrLedger, at: At) -> None:
        plan(app, at)
        at(RETRO_DAY, lambda: app.revise_key_result("a1", weight=0.5, effective=d(8, 16),
                                                    reason="less weight on the easy one"))
    r = whole(build(steps))
    (rev,) = r["revisions"]
    assert not rev["goalpost_moved"] and rev["goalpost"] is None


def test_a_weight_change_is_judged_by_the_values_when_it_took_effect() -> None:
    """Cut on 16 Jul, before any check-in: nothing to raise then (both at 0), however
    lagging a2 was by the end."""
    def steps(app: OkrLedger, at: At) -> None:
        plan(app, at)
        at(RETRO_DAY, lambda: app.revise_key_result("a2", weight=0.25, effective=d(7, 16),
                                                    reason="early rebalance"))
    (rev,) = whole(build(steps))["revisions"]
    assert rev["score_then"] == rev["score_revised"] == 0.0 and not rev["goalpost_moved"]
