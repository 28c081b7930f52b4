"""Which KPI readings count, decided once for every reader (docs/scoring.md):

- a reading observed before its KPI was in force counts in no as-of view (`Kpi.counts_at`;
  the warning `early_reading` says so when it is recorded) — the replay (`kr_card`), the
  DuckDB macros, `okr show`, `okr list kpis`, the review's goalposts and guardrails alike;
- a cycle's end is exclusive (Window.contains): a reading observed exactly at the next
  quarter's first instant (a daily feed at local midnight) is the next quarter's, not the
  finished quarter's final value; as of t includes t.

Found by a read-only review: the replay and the SQL kept the early reading (the linked key
result showed it as its value while `okr list kpis --as-of` did not), and a finished quarter
took a reading at its end instant (`<= until`). All dates explicit, in 2026-Q2/Q3 (past).
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from okr.domain.history import scorecard_at
from okr.projections.store import Projection
from okr.settings import load_settings
from tests.support.built import ok
from tests.unit.test_hostile_text import project

ZONE = {"OKR_ORG_TZ": "UTC"}
IN_FORCE = datetime(2026, 5, 10, tzinfo=UTC)  # the KPI 'up' from then on
Q2_END = datetime(2026, 7, 1, tzinfo=UTC)  # Q3's first instant


def run(home: Path, *args: str) -> Any:
    return ok(home, *args, env=ZONE)  # which must succeed


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("readings") / "home"
    for args in [
        ("cycle", "add", "2026-Q2"),
        ("cycle", "add", "2026-Q3"),
        ("kpi", "add", "up", "Uptime", "--green", "90", "--red", "50", "--tag", "guardrail",
         "--effective", "2026-05-10", "--reason", "tracked from 10 May"),
        ("objective", "add", "o2", "Q2 goal", "--cycle", "2026-Q2", "--team", "t"),
        ("kr", "add", "kr-q2", "Up in Q2", "--objective", "o2", "--target", "100",
         "--kpi", "up"),
        ("kr", "add", "kr-g", "Up, revised", "--objective", "o2", "--target", "100",
         "--kpi", "up"),
        ("objective", "add", "o3", "Q3 goal", "--cycle", "2026-Q3", "--team", "t"),
        ("kr", "add", "kr-q3", "Up in Q3", "--objective", "o3", "--target", "100",
         "--kpi", "up"),
        ("cycle", "commit", "2026-Q2"),
        ("cycle", "commit", "2026-Q3"),
        # before the KPI was in force: recorded, said, and counted in no view
        ("kpi", "record", "up", "80", "--at", "2026-05-05"),
        ("kpi", "record", "up", "60", "--at", "2026-06-20"),
        # exactly at Q2's end, Q3's first instant
        ("kpi", "record", "up", "95", "--at", "2026-07-01T00:00:00Z"),
        # a cut judged on 16 May, when only the early reading had been observed
        ("kr", "revise", "kr-g", "--target", "100.5", "--effective", "2026-05-16T12:00:00Z",
         "--reason", "rounding"),
    ]:
        run(home, *args)
    project(home)
    return home


def kr_values(cards: list[dict[str, Any]]) -> dict[str, Any]:
    return {kr["key"]: (kr["value"], kr["progress"]) for c in cards for kr in c["key_results"]}


def both(home: Path, as_of: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The key results' (value, progress) as of `as_of`: the projection's and the replay's."""
    now = datetime.now(UTC)
    settings = load_settings({"home": home}, environ={})
    with Projection(settings.duckdb_file, read_only=True) as proj:
        return (kr_values(proj.scorecard_at(as_of, now)),
                kr_values(scorecard_at(list(proj.facts()), as_of, now)))


def test_a_reading_before_its_kpi_was_in_force_is_no_key_results_value(home: Path) -> None:
    as_of = datetime(2026, 5, 16, tzinfo=UTC)  # the KPI in force; only the early reading
    sql, replay = both(home, as_of)
    assert sql == replay
    assert replay["kr-q2"] == (None, 0.0)
    card = json.loads(run(home, "scorecard", "--as-of", "2026-05-16", "--json").stdout)
    assert kr_values(card["objectives"])["kr-q2"] == (None, 0.0)
    krs = json.loads(run(home, "list", "krs", "--as-of", "2026-05-16", "--json").stdout)
    assert {r["key"]: r["value"] for r in krs["items"]}["kr-q2"] is None
    kpis = json.loads(run(home, "list", "kpis", "--as-of", "2026-05-16", "--json").stdout)
    assert [(r["key"], r["value"]) for r in kpis["items"]] == [("up", None)]


def test_the_review_counts_no_reading_before_its_kpi_was_in_force(home: Path) -> None:
    rev = json.loads(run(home, "review", "2026-Q2", "--as-of", "2026-05-16", "--json").stdout)
    guard = next(g for g in rev["guardrails"] if g["key"] == "up")
    assert guard["readings"] == []
    assert guard["shares"]["none"] == pytest.approx(1.0)
    assert guard["health_at_end"] is None


def test_a_revision_is_judged_without_a_reading_from_before_its_kpi(home: Path) -> None:
    whole = json.loads(run(home, "review", "2026-Q2", "--json").stdout)
    cut = next(r for r in whole["revisions"] if r["key"] == "kr-g")
    assert (cut["value_then"], cut["progress_then"]) == (None, 0.0)


def test_a_reading_at_a_cycles_end_is_the_next_cycles(home: Path) -> None:
    sql, replay = both(home, datetime(2026, 7, 2, tzinfo=UTC))
    assert sql == replay
    assert replay["kr-q2"] == (60.0, pytest.approx(0.6))  # 20 June's, not 1 July's 95
    assert replay["kr-q3"] == (95.0, pytest.approx(0.95))
    # as of the end instant itself: Q2 is over (its end excluded), Q3 has begun (t included)
    sql, replay = both(home, Q2_END)
    assert sql == replay
    assert replay["kr-q2"][0] == 60.0 and replay["kr-q3"][0] == 95.0
    card = json.loads(run(home, "scorecard", "--cycle", "2026-Q2", "--json").stdout)
    assert kr_values(card["objectives"])["kr-q2"] == (60.0, pytest.approx(0.6))
    rev = json.loads(run(home, "review", "2026-Q2", "--json").stdout)
    assert kr_values(rev["objectives"])["kr-q2"] == (60.0, pytest.approx(0.6))
    guard = next(g for g in rev["guardrails"] if g["key"] == "up")
    assert [r["value"] for r in guard["readings"]] == [60.0]
    assert guard["health_at_end"] == "amber"
    shown = json.loads(run(home, "show", "kr-q2", "--json").stdout)  # from the ledger
    assert (shown["value"], shown["progress"]) == (60.0, pytest.approx(0.6))
    shown = json.loads(run(home, "show", "o2", "--json").stdout)
    assert shown["score"] == pytest.approx((0.6 + 60 / 100.5) / 2)
    krs = json.loads(run(home, "list", "krs", "--cycle", "2026-Q2", "--json").stdout)
    assert {r["key"]: r["value"] for r in krs["items"]} == {"kr-q2": 60.0, "kr-g": 60.0}
    settings = load_settings({"home": home}, environ={})
    with Projection(settings.duckdb_file, read_only=True) as proj:
        near = proj.query("SELECT e.cycle_end, e.value FROM kpi_readings_at_ends e "
                          "ORDER BY ALL")[1]
    assert near == []  # 20 June is more than 8 days before the end; 1 July is not before it


def test_a_kpi_read_only_before_it_was_in_force_shows_no_value(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "kpi", "add", "mrr", "Revenue", "--green", "9", "--red", "5", "--effective",
        "2026-05-10", "--reason", "tracked from 10 May")
    run(home, "kpi", "record", "mrr", "7", "--at", "2026-05-05")
    shown = json.loads(run(home, "show", "mrr", "--json").stdout)  # from the ledger, now
    assert (shown["value"], shown["health"], shown["stale"]) == (None, None, True)
    assert [r["value"] for r in shown["readings"]] == [7.0]  # recorded: its history keeps it
