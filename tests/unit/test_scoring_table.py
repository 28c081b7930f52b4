"""The hand-computed scoring table (tests/support/scoring_table.py), row by row, through the
domain (the scoring rules and the replay), the DuckDB macros (scalar and `scorecard_at`) and
`okr scorecard --json` reading a projection — no broker anywhere."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from okr.domain import scoring
from okr.domain.history import Fact, scorecard_at
from okr.domain.periods import named_window
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.fuzzing import okr
from tests.support import scoring_table as T

THRESHOLDS = ("stay-above", "stay-below", "range")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Fact], Projection]:
    """The table written into a ledger, its facts, and its projection (the CLI's work file,
    published as its snapshot, so `okr scorecard` reads it without refreshing)."""
    home = tmp_path_factory.mktemp("table") / "home"
    settings = load_settings({"home": home})
    app = OkrLedger(settings)
    T.build(app)
    envelopes = list(chained(app))
    app.close()
    proj = Projection(settings.projection_work_file)
    proj.apply("okr.ledger", [ConsumedRecord(e.to_bytes(), 0, e.position) for e in envelopes],
               {0: len(envelopes)})
    proj.close()
    shutil.copyfile(settings.projection_work_file, settings.duckdb_file)
    return home, [e.fact() for e in envelopes], Projection(settings.projection_work_file,
                                                           read_only=True)


@pytest.fixture(scope="module")
def sql(ledger: tuple[Path, list[Fact], Projection]) -> Any:
    return ledger[2].con


def one(con: Any, query: str, *args: Any) -> Any:
    (value,) = con.execute(query, list(args)).fetchone()
    return value


# ---- each rule on its own: the domain, then the macro ------------------------------------

@pytest.mark.parametrize("row", T.PROGRESS + T.DEGENERATE, ids=lambda r: f"{r.kind}-{r.why}")
def test_progress_and_status_rows_in_the_domain(row: T.Progress) -> None:
    got = scoring.progress(row.kind, row.start, row.target, row.high, row.tolerance, row.value)
    assert got == pytest.approx(row.progress, abs=1e-9)
    expected_mid = 1.0 if row.kind in THRESHOLDS else 0.5
    assert scoring.status(got, expected_mid) == row.status


@pytest.mark.parametrize("row", T.PROGRESS + T.DEGENERATE, ids=lambda r: f"{r.kind}-{r.why}")
def test_progress_rows_in_the_duckdb_macro(row: T.Progress, sql: Any) -> None:
    got = one(sql, "SELECT kr_progress_of(?, ?::DOUBLE, ?::DOUBLE, ?::DOUBLE, ?::DOUBLE, "
                   "?::DOUBLE)", row.kind, row.start, row.target, row.high, row.tolerance,
              row.value)
    assert got == pytest.approx(row.progress, abs=1e-9)


@pytest.mark.parametrize("row", T.STATUS, ids=lambda r: f"{r.actual}-{r.expected}")
def test_status_at_and_just_past_each_gap(row: T.Status, sql: Any) -> None:
    assert scoring.status(row.actual, row.expected) == row.status
    assert one(sql, "SELECT okr_status(?::DOUBLE, ?::DOUBLE)", row.actual,
               row.expected) == row.status


@pytest.mark.parametrize("row", T.HEALTH, ids=lambda r: f"{r.direction}-{r.value}")
def test_kpi_health(row: T.Health, sql: Any) -> None:
    assert scoring.kpi_health(row.direction, row.green, row.red, row.value) == row.health
    assert one(sql, "SELECT kpi_health_of(?, ?::DOUBLE, ?::DOUBLE, ?::DOUBLE)", row.direction,
               row.green, row.red, row.value) == row.health


@pytest.mark.parametrize("row", T.STALE, ids=lambda r: f"{r.cadence}-{r.age}")
def test_staleness_for_every_cadence_in_the_domain(row: T.Stale) -> None:
    last = None if row.age is None else T.MID - row.age
    assert scoring.kpi_stale(row.cadence, last, T.MID) is row.stale


@pytest.mark.parametrize("row", T.EXPECTED, ids=lambda r: f"{r.kind}-{r.phases}-{r.day}")
def test_expected_progress_in_the_domain(row: T.Expected) -> None:
    window = named_window(T.CYCLE)
    assert window is not None
    phases = [{"at": T.at_day(d), "value": v} for d, v in row.phases]
    got = scoring.expected_progress(row.kind, row.start, row.target, row.high, phases, window,
                                    T.at_day(row.day))
    assert got == pytest.approx(row.expected, abs=1e-9)


@pytest.mark.parametrize("row", T.OBJECTIVES, ids=lambda r: f"{r.okr_type}-{r.krs}")
def test_weighted_scores_and_grades(row: T.Graded, sql: Any) -> None:
    score = scoring.objective_score([(value, weight) for value, weight in row.krs])
    assert score == (None if row.score is None else pytest.approx(row.score, abs=1e-9))
    assert scoring.succeeded(row.okr_type, score) is row.succeeded
    assert one(sql, "SELECT okr_succeeded(?, ?::DOUBLE)", row.okr_type,
               row.score) is row.succeeded


def test_the_table_covers_every_kind_branch_cadence_and_type() -> None:
    assert {r.kind for r in T.PROGRESS} == {"increase", "decrease", "milestone", *THRESHOLDS}
    assert {(r.kind, r.tolerance is not None) for r in T.PROGRESS if r.kind in THRESHOLDS} == \
        {(k, t) for k in THRESHOLDS for t in (False, True)}
    assert {r.status for r in T.PROGRESS} == {"on-track", "at-risk", "off-track"}
    assert {r.cadence for r in T.STALE if r.stale} == {r.cadence for r in T.STALE
                                                       if not r.stale} == {
        "daily", "weekly", "monthly", "quarterly"}
    assert {r.okr_type for r in T.OBJECTIVES} == {"committed", "aspirational", "learning"}
    assert any(r.phases for r in T.EXPECTED)


# ---- the whole scenario, read three ways -------------------------------------------------

@pytest.mark.parametrize("day", T.READ_DAYS)
def test_the_replay_scores_every_row(day: float, ledger: tuple) -> None:
    _, facts, _ = ledger
    assert T.mismatches(scorecard_at(facts, T.at_day(day), T.KNOWN), day) == []


@pytest.mark.parametrize("day", T.READ_DAYS)
def test_the_duckdb_scorecard_scores_every_row(day: float, ledger: tuple) -> None:
    _, _, proj = ledger
    assert T.mismatches(proj.scorecard_at(T.at_day(day), T.KNOWN), day) == []


def test_okr_scorecard_json_scores_every_row(ledger: tuple) -> None:
    home, _, proj = ledger
    proj.close()  # the CLI opens the file itself
    for day in T.READ_DAYS:
        result = okr(home, "scorecard", "--as-of", T.at_day(day).isoformat(), "--known-at",
                     T.KNOWN.isoformat(), "--json")
        assert result.code == 0, str(result)
        assert T.mismatches(json.loads(result.stdout)["objectives"], day) == []
