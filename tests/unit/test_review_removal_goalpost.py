"""Removing a key result that was behind, after its cycle started, moves the goalposts as an
eased target does (docs/scoring.md, "Grades"): the review flags it in its revisions, with the
key result, its progress against the expectation when the removal took effect, and when — in
JSON, the terminal's and Markdown's lines, the HTML file and the CSV's removed row. A removal
before the cycle started is planning, and one of a key result on pace is no goalpost move.

Found in the last closing note: the review flagged an eased target, a shifted weight and a
lowered type, yet not a lagging key result removed mid-quarter. Explicit 2026 dates.
"""

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from okr.cli.output import to_json
from okr.cli.report import sections, to_csv, to_html, to_markdown
from okr.domain.review import ReviewPoint, review, team_summary
from okr.ledger.app import OkrLedger
from tests.unit.test_retro_facts import RETRO_DAY, build, d

# At 20 Aug 09:00 of 2026-Q3 (1 Jul – 1 Oct UTC, 92 days) 50.375 days had passed: 0.5476.
EXPECTED_20_AUG = 50.375 / 92


def removals(app: OkrLedger, at: Any) -> None:
    at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
    at(d(6, 21), lambda: app.add_objective("o", "Grow", "2026-Q3", "ana", team="t"))
    at(d(6, 21), lambda: app.add_key_result("lag", "Lagging", "o", target=100))
    at(d(6, 21), lambda: app.add_key_result("ahead", "Ahead", "o", target=10))
    at(d(6, 21), lambda: app.add_key_result("early", "Held from the start", "o",
                                            kind="stay-above", target=99))
    at(d(6, 21), lambda: app.add_key_result("kept", "Kept", "o", target=10))
    at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
    # After the commit, before the quarter began: planning still (a threshold kind with no
    # value scores 0 against an expectation of 1, yet nothing was under way).
    at(d(6, 25), lambda: app.remove_key_result("early", reason="not ours after all"))
    at(d(7, 10, 9), lambda: app.check_in("lag", 5))
    at(d(7, 10, 9), lambda: app.check_in("ahead", 9))
    at(d(7, 10, 9), lambda: app.check_in("kept", 9))
    at(d(8, 20, 9), lambda: app.remove_key_result("lag", reason="too hard"))
    at(d(8, 20, 9), lambda: app.remove_key_result("ahead", reason="done early"))


@pytest.fixture(scope="module")
def q3() -> dict[str, Any]:
    return review(build(removals), "2026-Q3",
                  ReviewPoint(RETRO_DAY + timedelta(days=1), RETRO_DAY + timedelta(days=1)))


def test_a_lagging_key_result_removed_mid_quarter_moved_the_goalposts(
        q3: dict[str, Any]) -> None:
    by_key = {r["key"]: r for r in q3["revisions"]}
    lag = by_key["lag"]
    assert lag["type"] == "KeyResultRemoved"
    assert lag["goalpost_moved"] and lag["goalpost"] == "removed while behind"
    assert lag["judged_at"] == d(8, 20, 9)
    assert lag["progress_then"] == pytest.approx(0.05)
    assert lag["expected_then"] == pytest.approx(EXPECTED_20_AUG)
    assert not by_key["ahead"]["goalpost_moved"] and by_key["ahead"]["goalpost"] is None
    assert not by_key["early"]["goalpost_moved"]  # before the quarter began: planning
    assert team_summary(q3)["goalposts_moved"] == 1
    said = json.loads(to_json(q3))
    assert [r["key"] for r in said["revisions"] if r["goalpost_moved"]] == ["lag"]


SAID = "goalpost moved (removed while behind: 5% against 54% expected on 2026-08-20)"


def test_every_format_says_it_as_the_other_goalposts_are_said(q3: dict[str, Any]) -> None:
    lines = [line for sec in sections(q3, "UTC") if sec.key == "revisions"
             for line in sec.lines]
    flagged = [line for line in lines if any(f.startswith("goalpost moved") for f in line.flags)]
    assert len(flagged) == 1 and " lag: removed by ana — too hard" in flagged[0].text
    assert flagged[0].flags == (SAID,)
    assert SAID in to_markdown(q3, "UTC")
    assert SAID in to_html(q3, "UTC")
    rows = {r["key_result"]: r for r in csv.DictReader(io.StringIO(to_csv(q3)))
            if r["key_result"]}
    assert rows["lag"]["goalpost"] == "removed while behind"
    assert rows["ahead"]["goalpost"] == rows["early"]["goalpost"] == rows["kept"]["goalpost"] \
        == ""


def mistakes(app: OkrLedger, at: Any) -> None:
    at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
    at(d(6, 21), lambda: app.add_objective("o", "Grow", "2026-Q3", "ana", team="t"))
    at(d(6, 21), lambda: app.add_key_result("planned", "Planned, never checked in", "o",
                                            target=100))
    at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
    # Added mid-quarter by mistake and removed an hour later, no check-in: a typo undone.
    at(d(8, 5, 9), lambda: app.add_key_result("oops", "Typo", "o", target=10,
                                                      reason="new"))
    at(d(8, 5, 10), lambda: app.remove_key_result("oops", reason="added by mistake"))
    # Added mid-quarter, checked in behind pace, then removed: it was being measured.
    at(d(8, 1, 9), lambda: app.add_key_result("late", "Added late", "o", target=100,
                                                      reason="new"))
    at(d(8, 2, 9), lambda: app.check_in("late", 1))
    at(d(8, 20, 9), lambda: app.remove_key_result("late", reason="too hard"))
    at(d(8, 20, 9), lambda: app.remove_key_result("planned", reason="dropped"))


def test_a_key_result_added_by_mistake_and_removed_unmeasured_moves_no_goalpost() -> None:
    """Only a key result of the committed plan, or one checked in before its removal, was
    something the team was held to; a typo added and removed an hour later was not (it
    scored 0 against an expectation above 0 and was flagged)."""
    got = review(build(mistakes), "2026-Q3",
                 ReviewPoint(RETRO_DAY + timedelta(days=1), RETRO_DAY + timedelta(days=1)))
    moved = {r["key"]: r["goalpost"] for r in got["revisions"]
             if r["type"] == "KeyResultRemoved"}
    assert moved == {"oops": None, "late": "removed while behind",
                     "planned": "removed while behind"}
    assert team_summary(got)["goalposts_moved"] == 2


def shared_key(app: OkrLedger, at: Any) -> None:
    at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
    at(d(6, 21), lambda: app.add_objective("o", "Grow", "2026-Q3", "ana", team="t"))
    # An objective and a key result may share a key: keys are unique within a kind.
    at(d(6, 21), lambda: app.add_objective("x", "Empty for now", "2026-Q3", "ana", team="t"))
    at(d(6, 21), lambda: app.add_key_result("x", "Lagging", "o", target=100))
    at(d(6, 21), lambda: app.add_key_result("y", "Kept", "o", target=10))
    at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
    at(d(7, 10, 9), lambda: app.check_in("x", 5))
    at(d(8, 20, 9), lambda: app.revise_key_result("x", target=50, reason="too hard"))


def test_an_objectives_csv_row_says_its_own_goalposts_not_a_key_result_of_its_key() -> None:
    got = review(build(shared_key), "2026-Q3",
                 ReviewPoint(RETRO_DAY + timedelta(days=1), RETRO_DAY + timedelta(days=1)))
    rows = list(csv.DictReader(io.StringIO(to_csv(got))))
    (kr_row,) = [r for r in rows if r["key_result"] == "x"]
    (objective_row,) = [r for r in rows if r["objective"] == "x"]
    assert kr_row["goalpost"] == "target eased"
    assert objective_row["key_result"] == "" and objective_row["goalpost"] == ""
