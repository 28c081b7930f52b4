"""Reviews of a cycle closed early grade final, reopening grades open again; review tables show
titles beside keys, each key result's initiatives with their status and a range's bounds."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from okr.cli.report import score_rows, to_html, to_markdown
from okr.cli.scorecard import target_text
from okr.domain.review import ReviewPoint, review
from okr.ledger.app import OkrLedger
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.support.clock import recording_at


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def history() -> list:
    app = OkrLedger(load_settings({}), env={"PERSISTENCE_MODULE":
                                                          "eventsourcing.popo"})

    def at(when: str, action: Callable[[], Any]) -> None:
        with recording_at(lambda: t(when)):
            action()

    at("2026-06-20T09:00+00:00", lambda: app.add_cycle("2026-Q3"))
    at("2026-06-20T09:01+00:00", lambda: app.add_objective("win", "Win the market", "2026-Q3",
                                                           "ana"))
    at("2026-06-20T09:01+00:00", lambda: app.add_objective("try", "Try things", "2026-Q3",
                                                           "ana", okr_type="aspirational"))
    at("2026-06-20T09:02+00:00", lambda: app.add_key_result("deals", "Close deals", "win",
                                                            target=10))
    at("2026-06-20T09:02+00:00", lambda: app.add_key_result(
        "band", "Latency band", "try", kind="range", start=50, target=40, target_high=60))
    at("2026-06-20T09:03+00:00", lambda: app.add_initiative("calls", "Cold calls", "deals"))
    at("2026-06-21T09:00+00:00", lambda: app.commit_cycle("2026-Q3"))
    at("2026-07-10T09:00+00:00", lambda: app.set_initiative_status("calls", "done"))
    at("2026-08-01T09:00+00:00", lambda: app.check_in("deals", 10))
    at("2026-08-01T09:00+00:00", lambda: app.check_in("band", 45))
    at("2026-08-15T09:00+00:00", lambda: app.close_cycle("2026-Q3", "done early"))
    at("2026-09-01T09:00+00:00", lambda: app.reopen_cycle("2026-Q3", "late numbers"))
    return [e.fact() for e in chained(app)]


SO_FAR = {"try": "reached so far", "win": "reached so far"}  # open grades


def grades(facts: list, as_of: str) -> dict[str, str]:
    r = review(facts, "2026-Q3", ReviewPoint(t(as_of), t("2026-12-01T00:00+00:00")))
    return {row["objective"]: row["objective_grade"] for row in score_rows(r)}


def test_a_cycle_closed_early_grades_final_and_reopened_grades_open() -> None:
    facts = history()
    assert grades(facts, "2026-08-10T00:00+00:00") == SO_FAR
    assert grades(facts, "2026-08-20T00:00+00:00") == {"try": "reached", "win": "reached"}
    assert grades(facts, "2026-09-02T00:00+00:00") == SO_FAR


def test_review_tables_show_titles_initiatives_and_range_bounds() -> None:
    r = review(history(), "2026-Q3", ReviewPoint(t("2026-08-20T00:00+00:00"),
                                                 t("2026-12-01T00:00+00:00")))
    md = to_markdown(r, "UTC")
    assert "| win Win the market | committed | deals Close deals |" in md
    assert "| 40–60 | 40–60 |" in md
    assert "calls Cold calls (done)" in md
    page = to_html(r, "UTC")
    assert "Latency band" in page and "calls Cold calls (done)" in page and "40–60" in page
    band = next(k for c in r["objectives"] for k in c["key_results"] if k["key"] == "band")
    assert target_text(band) == "40–60"

