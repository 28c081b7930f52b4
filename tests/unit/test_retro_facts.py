"""What a retrospective of 2026-Q3 reads from the review model (trial-retro F2, F3, F4, F9,
F10): the retro counts every revision the review lists, a back-dated revision is judged when
it took effect, a key result planned and then removed has its row, check-in habits count a
KPI-linked key result by its readings and a key result only while it was in force, and the
team's recorded close of an objective stands beside the computed grade.

Every date is explicit, inside 2026-Q3 (UTC: 1 Jul – 30 Sep, 92 days) or after it; nothing
depends on today's date.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from okr.cli.output import to_json
from okr.cli.report import score_rows, to_csv, to_html, to_markdown
from okr.domain.history import Fact
from okr.domain.review import ReviewPoint, retro, review, team_summary
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.support.clock import recording_at

Q3_START = datetime(2026, 7, 1, tzinfo=UTC)
Q3_END = datetime(2026, 10, 1, tzinfo=UTC)
Q3_DAYS = 92
RETRO_DAY = datetime(2026, 12, 4, 9, tzinfo=UTC)  # the retro: two months after the quarter


def d(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def build(steps: Callable[[OkrLedger, Callable[[datetime, Callable[[], Any]], None]], None]
          ) -> list[Fact]:
    app = OkrLedger(load_settings({}), env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                    principal="ana")
    clock = [d(6, 20)]

    def at(t: datetime, action: Callable[[], Any]) -> None:
        clock[0] = t
        action()

    with recording_at(lambda: clock[0]):
        steps(app, at)
    return [e.fact() for e in chained(app)]


def quarter(app: OkrLedger, at: Callable[[datetime, Callable[[], Any]], None]) -> None:
    """Three teams' objectives; a target cut typed at the retro for 10 Aug, a key result
    removed on 20 Aug, one added on 1 Sep, a KPI-linked key result, two closes."""
    at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
    at(d(6, 20), lambda: app.add_kpi("uptime", "Uptime", green=99.9, red=99.0,
                                     cadence="weekly"))
    at(d(6, 21), lambda: app.add_objective("sales", "Sell", "2026-Q3", "ana", team="sales"))
    at(d(6, 21), lambda: app.add_key_result("leads", "Leads", "sales", target=100))
    at(d(6, 21), lambda: app.add_key_result("deals", "Deals", "sales", target=4))
    at(d(6, 21), lambda: app.add_objective("plat", "Stay up", "2026-Q3", "bo",
                                           team="platform"))
    at(d(6, 21), lambda: app.add_key_result("up", "Uptime", "plat", start=99, target=100,
                                            kpi="uptime"))
    at(d(6, 21), lambda: app.add_objective("sup", "Help", "2026-Q3", "cy", team="support"))
    at(d(6, 21), lambda: app.add_key_result("csat", "CSAT", "sup", target=10))
    at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
    at(d(7, 5, 9), lambda: app.record_reading("uptime", 99.5))
    at(d(7, 15, 9), lambda: app.check_in("csat", 5))
    at(d(7, 20, 9), lambda: app.check_in("leads", 20))
    at(d(8, 1, 9), lambda: app.check_in("deals", 1))
    at(d(8, 5, 9), lambda: app.record_reading("uptime", 99.6))
    at(d(8, 7, 9), lambda: app.check_in("leads", 40))
    at(d(8, 20, 9), lambda: app.remove_key_result("deals", reason="not our lever"))
    at(d(9, 1, 9), lambda: app.add_key_result("churn", "Churn fixed", "sup", target=5,
                                              reason="found late"))
    at(d(9, 5, 9), lambda: app.record_reading("uptime", 99.7))
    at(d(9, 10, 9), lambda: app.check_in("churn", 2))
    at(d(9, 25, 9), lambda: app.check_in("churn", 4))
    at(d(9, 29, 9), lambda: app.check_in("leads", 74))
    # At the retro: the week-6 cut typed for the day it was agreed, and the teams' calls.
    at(RETRO_DAY, lambda: app.revise_key_result("leads", target=80, effective=d(8, 10),
                                                reason="market slowdown; agreed in week 6"))
    at(RETRO_DAY + timedelta(minutes=5),
       lambda: app.close_objective("plat", "achieved", reason="judged achieved at retro"))
    at(RETRO_DAY + timedelta(minutes=6),
       lambda: app.close_objective("sup", "missed", reason="short", effective=d(9, 30)))


@pytest.fixture(scope="module")
def facts() -> list[Fact]:
    return build(quarter)


@pytest.fixture(scope="module")
def q3(facts: list[Fact]) -> dict[str, Any]:
    return review(facts, "2026-Q3", ReviewPoint(RETRO_DAY + timedelta(days=1),
                                                RETRO_DAY + timedelta(days=1)))


# ---- F2: the retro counts what the review lists ---------------------------------------------

def test_the_retro_counts_a_removed_key_result_as_a_revision(q3: dict[str, Any]) -> None:
    listed = [(r["key"], r["type"]) for r in q3["revisions"]]
    assert listed == [("deals", "KeyResultRemoved"), ("churn", "KeyResultAdded"),
                      ("leads", "KeyResultRevised")]
    assert team_summary(q3)["revisions"] == 3
    assert team_summary(q3, "sales")["revisions"] == 2  # the cut and the removal
    assert team_summary(q3, "support")["revisions"] == 1  # churn added
    assert retro(q3, q3, "sales")["a"]["revisions"] == 2


# ---- F3: a back-dated revision is judged when it took effect ----------------------------------

def test_a_back_dated_cut_is_judged_at_its_effective_time(q3: dict[str, Any]) -> None:
    cut = next(r for r in q3["revisions"] if r["key"] == "leads")
    assert cut["effective_at"] == d(8, 10) and cut["at"] == RETRO_DAY
    # On 10 Aug leads stood at 40 of 100 (the check-in of 7 Aug); 40 of 92 days had passed.
    assert cut["progress_then"] == pytest.approx(0.40)
    assert cut["expected_then"] == pytest.approx(40 / Q3_DAYS)
    assert cut["goalpost_moved"] is True  # behind then, and eased


def test_a_back_dated_cut_made_while_ahead_moves_no_goalpost() -> None:
    def steps(app: OkrLedger, at: Callable[[datetime, Callable[[], Any]], None]) -> None:
        at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
        at(d(6, 20), lambda: app.add_objective("o1", "O1", "2026-Q3", "ana", team="t"))
        at(d(6, 20), lambda: app.add_key_result("k1", "K1", "o1", target=100))
        at(d(6, 21), lambda: app.commit_cycle("2026-Q3"))
        at(d(7, 20), lambda: app.check_in("k1", 50))
        at(d(9, 29), lambda: app.check_in("k1", 60))
        at(RETRO_DAY, lambda: app.revise_key_result("k1", target=90, effective=d(7, 25),
                                                    reason="ahead of plan, but trimmed"))

    r = review(build(steps), "2026-Q3", ReviewPoint(RETRO_DAY, RETRO_DAY))
    (cut,) = r["revisions"]
    assert cut["progress_then"] == pytest.approx(0.5)
    assert cut["expected_then"] == pytest.approx(24 / Q3_DAYS)
    assert cut["goalpost_moved"] is False
    assert team_summary(r)["goalposts_moved"] == 0


def test_a_revision_is_judged_with_what_the_review_knows_of_that_time() -> None:
    """A check-in recorded after the revision for a moment before it counts in the judgement
    of a review that knows it (as every as-of view counts it), not in one that does not."""
    def steps(app: OkrLedger, at: Callable[[datetime, Callable[[], Any]], None]) -> None:
        at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
        at(d(6, 20), lambda: app.add_objective("o1", "O1", "2026-Q3", "ana", team="t"))
        at(d(6, 20), lambda: app.add_key_result("k1", "K1", "o1", target=100))
        at(d(6, 21), lambda: app.commit_cycle("2026-Q3"))
        at(d(7, 20), lambda: app.check_in("k1", 10))
        at(d(8, 10), lambda: app.revise_key_result("k1", target=90, reason="cut"))
        at(d(8, 15), lambda: app.check_in("k1", 60, at=d(8, 9)))  # late, for 9 Aug

    facts = build(steps)
    before = review(facts, "2026-Q3", ReviewPoint(d(9, 30), d(8, 12)))["revisions"][0]
    after = review(facts, "2026-Q3", ReviewPoint(d(9, 30), d(9, 30)))["revisions"][0]
    assert before["progress_then"] == pytest.approx(0.10) and before["goalpost_moved"]
    assert after["progress_then"] == pytest.approx(0.60) and not after["goalpost_moved"]


# ---- F4: a key result planned and removed has its row ----------------------------------------

def test_a_removed_key_result_has_its_plan_vs_actual_row(q3: dict[str, Any]) -> None:
    sales = next(c for c in q3["objectives"] if c["key"] == "sales")
    assert sales["removed_after_commit"] == ["deals"]
    (gone,) = sales["removed_key_results"]
    assert (gone["key"], gone["planned_target"], gone["value"]) == ("deals", 4, 1)
    assert gone["progress"] == pytest.approx(0.25) and gone["removed_at"] == d(8, 20, 9)
    assert gone["expected"] == pytest.approx((50 + 9 / 24) / Q3_DAYS)
    row = next(r for r in score_rows(q3) if r["key_result"] == "deals")
    assert row["removed_after_commit"] is True and row["added_after_commit"] is False
    assert (row["planned_target"], row["final_target"], row["value"]) == (4, None, 1)
    assert row["progress"] == pytest.approx(0.25) and row["status"] == "removed"
    # The objective's score stands on its live key results alone: leads 74 of 80.
    assert sales["score"] == pytest.approx(74 / 80)
    assert [r["key_result"] for r in score_rows(q3) if r["objective"] == "sales"] == [
        "leads", "deals", None]
    assert "deals" in to_csv(q3)
    assert "deals Deals (removed after commit)" in to_markdown(q3, "UTC")
    assert "removed after commit" in to_html(q3, "UTC")


# ---- F9: check-in habits --------------------------------------------------------------------

def test_habits_count_a_linked_key_result_by_its_readings(q3: dict[str, Any]) -> None:
    up = q3["habits"]["up"]
    # Readings on 5 Jul, 5 Aug and 5 Sep: weeks 0, 5 and 9 of 14.
    assert (up["kpi"], up["readings"], up["check_ins"]) == ("uptime", 3, 0)
    assert (up["weeks"], up["weeks_without"]) == (14, 11)
    assert "| up | 3 readings of KPI uptime, 11 of 14 weeks without one |" in to_markdown(
        q3, "UTC")


def test_habits_count_weeks_while_the_key_result_was_in_force(q3: dict[str, Any]) -> None:
    # churn: in force from 1 Sep 09:00 to the end (29.6 days: 5 weeks), check-ins in weeks
    # 1 and 3 of its own.
    churn = q3["habits"]["churn"]
    assert (churn["check_ins"], churn["weeks"], churn["weeks_without"]) == (2, 5, 3)
    assert churn["kpi"] is None and churn["readings"] is None
    # deals: from the quarter's start to its removal on 20 Aug 09:00 (50.4 days: 8 weeks).
    deals = q3["habits"]["deals"]
    assert (deals["check_ins"], deals["weeks"], deals["weeks_without"]) == (1, 8, 7)
    leads = q3["habits"]["leads"]
    assert (leads["check_ins"], leads["weeks"], leads["weeks_without"]) == (3, 14, 11)


# ---- F10: the team's call beside the computed grade ------------------------------------------

def test_a_close_typed_after_the_quarter_reaches_its_review_beside_the_grade(
        q3: dict[str, Any]) -> None:
    plat = next(c for c in q3["objectives"] if c["key"] == "plat")
    # 99.7 of 99 → 100: 0.7, missed for a committed objective; the team called it achieved.
    assert plat["score"] == pytest.approx(0.7) and plat["succeeded"] is False
    assert plat["closed"]["status"] == "achieved"
    assert plat["closed"]["recorded_at"] == RETRO_DAY + timedelta(minutes=5)
    assert plat["closed"]["after_end"] is True
    assert plat["closed"]["reason"] == "judged achieved at retro"
    assert plat["closed"]["disagrees"] is True
    sup = next(c for c in q3["objectives"] if c["key"] == "sup")
    assert (sup["closed"]["status"], sup["closed"]["disagrees"]) == ("missed", False)
    assert sup["closed"]["after_end"] is False
    sales = next(c for c in q3["objectives"] if c["key"] == "sales")
    assert sales["closed"] is None
    # Never overriding the score: the headline stays computed, the disagreement is counted.
    assert q3["summary"]["succeeded"] == 0
    assert q3["summary"]["calls_disagreeing"] == 1
    assert team_summary(q3)["calls_disagreeing"] == 1
    assert team_summary(q3, "support")["calls_disagreeing"] == 0
    row = next(r for r in score_rows(q3) if r["objective"] == "plat" and r["row"] == "objective")
    assert row["objective_grade"] == "missed"
    assert row["closed_as"] == "achieved"
    assert "closed as achieved (disagrees)" in row["grade"]
    for text in (to_csv(q3), to_markdown(q3, "UTC"), to_html(q3, "UTC")):
        assert "closed as achieved (disagrees)" in text


def test_a_close_after_the_quarter_is_no_part_of_a_mid_quarter_review(
        facts: list[Fact]) -> None:
    r = review(facts, "2026-Q3", ReviewPoint(d(8, 15), RETRO_DAY + timedelta(days=1)))
    assert all(c["closed"] is None for c in r["objectives"])
    assert r["summary"]["calls_disagreeing"] == 0


# ---- the projection loads what these judgements read -----------------------------------------

def test_a_review_from_the_projection_judges_a_removal_after_its_as_of_alike(
        tmp_path: Path) -> None:
    """A review as of 1 Aug, known later, lists the removal of 20 Aug and judges it then, from
    the linked KPI's reading of 10 Aug: the facts the projection selects for that review hold
    that reading (it selected readings up to as_of and the last target revision only)."""
    app = OkrLedger(load_settings({"home": tmp_path}), principal="ana")
    clock = [d(6, 20)]

    def at(t: datetime, action: Callable[[], Any]) -> None:
        clock[0] = t
        action()

    with recording_at(lambda: clock[0]):
        at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
        at(d(6, 20), lambda: app.add_kpi("uptime", "Uptime", green=99.9, red=99.0))
        at(d(6, 21), lambda: app.add_objective("plat", "Stay up", "2026-Q3", "bo", team="p"))
        at(d(6, 21), lambda: app.add_key_result("up", "Uptime", "plat", start=99, target=100,
                                                kpi="uptime"))
        at(d(6, 21), lambda: app.add_key_result("mttr", "MTTR", "plat", target=10))
        at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
        at(d(7, 5, 9), lambda: app.record_reading("uptime", 99.2))
        at(d(8, 10, 9), lambda: app.record_reading("uptime", 99.8))
        at(d(8, 20, 9), lambda: app.remove_key_result("up", reason="measured elsewhere"))
    envelopes = list(chained(app))
    app.close()
    proj = Projection(tmp_path / "p.duckdb")
    proj.apply("t", [ConsumedRecord(e.to_bytes(), 0, e.position) for e in envelopes],
               {0: len(envelopes)})
    facts = [e.fact() for e in envelopes]
    point = ReviewPoint(d(8, 1), d(9, 1))
    want = review(facts, "2026-Q3", point)
    (removal,) = want["revisions"]
    assert removal["value_then"] == 99.8 and removal["progress_then"] == pytest.approx(0.8)
    got = review(proj.review_facts("2026-Q3", point.as_of, point.known_at), "2026-Q3", point)
    assert got["revisions"] == want["revisions"]
    assert to_json(got) == to_json(want)


def test_the_printed_review_and_retro_show_the_removed_row_the_call_and_its_count(
        q3: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from okr.cli.context import State
    from okr.cli.report import retro_of
    from okr.cli.review_cmds import _print_retro, _print_review

    _print_review(State(_settings=load_settings({})), q3, "tsv", "UTC")
    lines = capsys.readouterr().out.splitlines()
    deals = next(line for line in lines if "\tdeals Deals" in line).split("\t")
    assert deals[2:9] == ["deals Deals (removed after commit)", "4", "-", "1", "25%", "54%",
                          "removed"]
    plat = next(line for line in lines if line.startswith("plat Stay up\tcommitted\tall key"))
    assert plat.split("\t")[9] == "0.70 missed · closed as achieved (disagrees)"
    _print_retro(retro_of((q3, "UTC"), (q3, "UTC")), "tsv", "UTC")
    assert "calls disagreeing\t1\t1\t0" in capsys.readouterr().out


def abandoned_mid_quarter(app: OkrLedger,
                          at: Callable[[datetime, Callable[[], Any]], None]) -> None:
    """An objective checked in on every week until it was abandoned on 10 Aug (typed at the
    retro, back-dated), and one pursued to the end, checked in on weekly until 6 Aug only."""
    at(d(6, 20), lambda: app.add_cycle("2026-Q3"))
    at(d(6, 21), lambda: app.add_objective("gone", "Dropped", "2026-Q3", "ana", team="a"))
    at(d(6, 21), lambda: app.add_key_result("k-gone", "Gone", "gone", target=10))
    at(d(6, 21), lambda: app.add_objective("kept", "Kept", "2026-Q3", "ana", team="a"))
    at(d(6, 21), lambda: app.add_key_result("k-kept", "Kept", "kept", target=10))
    at(d(6, 22), lambda: app.commit_cycle("2026-Q3"))
    for week in range(6):  # 2 Jul … 6 Aug: weeks 0 to 5
        at(d(7, 2, 9) + timedelta(weeks=week), lambda: app.check_in("k-gone", 1))
        at(d(7, 2, 9) + timedelta(weeks=week), lambda: app.check_in("k-kept", 1))
    at(RETRO_DAY, lambda: app.abandon_objective("gone", reason="market gone",
                                                effective=d(8, 10, 9)))


def test_habits_stop_counting_an_abandoned_objectives_key_results_at_the_abandonment(
        ) -> None:
    facts = build(abandoned_mid_quarter)
    after = review(facts, "2026-Q3", ReviewPoint(RETRO_DAY + timedelta(days=1),
                                                 RETRO_DAY + timedelta(days=1)))
    gone, kept = after["habits"]["k-gone"], after["habits"]["k-kept"]
    # From the quarter's start to the abandonment on 10 Aug 09:00 (40.4 days: 6 weeks), one
    # check-in in each; the weeks after it were not the team's to check in.
    assert (gone["since"], gone["until"]) == (Q3_START, d(8, 10, 9))
    assert (gone["check_ins"], gone["weeks"], gone["weeks_without"]) == (6, 6, 0)
    assert "6 check-ins, 0 of 6 weeks without one (in force until 2026-08-10)" in to_markdown(
        after, "UTC")
    # Pursued to the end: the weeks after 6 Aug count.
    assert (kept["check_ins"], kept["weeks"], kept["weeks_without"]) == (6, 14, 8)
    # As of a day before the abandonment took effect, the weeks before it count as before.
    before = review(facts, "2026-Q3", ReviewPoint(d(8, 9), RETRO_DAY + timedelta(days=1)))
    assert before["habits"]["k-gone"]["until"] == d(8, 9)
    assert before["habits"]["k-gone"] == {**before["habits"]["k-kept"]}
