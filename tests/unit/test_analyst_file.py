"""What an analyst opens (issue 21, "Analysts"): one DuckDB file in the data directory,
`okr.duckdb`, the consumer's work file out of the way in `consumer/`; an old layout moved on
first use; every table, column and macro explaining itself with a comment; and a Parquet
export that carries the computed scores, equal to the scorecard's."""

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from okr.consumers.projector import publish_snapshot
from okr.domain.history import scorecard_at
from okr.ledger.app import OkrLedger
from okr.projections.access import owning
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained_records
from okr.settings import Settings, load_settings
from tests.fuzzing import fresh_copy, okr


def _settings(home: Path) -> Settings:
    return load_settings({"home": home}, environ={})


def _fill(proj: Projection, settings: Settings) -> int:
    """Every stored event into `proj`, as the consumer would; returns how many."""
    app = OkrLedger(settings)
    try:
        records = list(chained_records(app))
    finally:
        app.close()
    proj.apply("t", [ConsumedRecord(r.value, 0, i) for i, r in enumerate(records)],
               {0: len(records)})
    return len(records)


@pytest.fixture
def home(readme_home: Path, tmp_path: Path) -> Path:
    return fresh_copy(readme_home, tmp_path)


def test_the_data_directory_holds_one_duckdb_file_the_consumers_is_in_a_sub_folder(
        home: Path) -> None:
    settings = _settings(home)
    with owning(settings):
        proj = Projection(settings.projection_work_file)
        _fill(proj, settings)
        publish_snapshot(proj, settings)
        proj.close()
    assert sorted(p.name for p in home.iterdir() if ".duckdb" in p.name) == ["okr.duckdb"]
    assert settings.projection_work_file == home / "consumer" / "okr.work.duckdb"
    assert settings.projection_work_file.exists()
    assert (home / "consumer").stat().st_mode & 0o077 == 0


def test_an_old_layout_is_moved_once_on_the_first_read_and_keeps_its_rows(home: Path) -> None:
    settings = _settings(home)
    old = home / "okr.work.duckdb"  # where versions before this one kept the work file
    with Projection(old) as proj:
        stored = _fill(proj, settings)
        proj.checkpoint()
    shutil.copyfile(old, settings.duckdb_file)  # the snapshot, newer than the work file
    (home / "okr.duckdb.tmp").write_bytes(b"half a copy")
    first = okr(home, "sql", "SELECT count(*) AS n FROM events", "--json")
    assert first.code == 0 and json.loads(first.stdout) == [{"n": stored}], str(first)
    assert first.stderr == (f"okr: moved the consumer's work file {old} to "
                            f"{settings.projection_work_file}; analysts open "
                            f"{settings.duckdb_file}\n")
    assert not old.exists() and not (home / "okr.duckdb.tmp").exists()
    again = okr(home, "sql", "SELECT count(*) AS n FROM events", "--json")
    assert again.code == 0 and again.stderr == "" and json.loads(again.stdout) == [{"n": stored}]


def test_every_table_column_and_macro_of_the_analysts_file_has_a_comment(home: Path) -> None:
    settings = _settings(home)
    with owning(settings):
        proj = Projection(settings.projection_work_file)
        _fill(proj, settings)
        publish_snapshot(proj, settings)
        proj.close()
    con = duckdb.connect(str(settings.duckdb_file), read_only=True)
    try:
        tables = con.execute("SELECT table_name, comment FROM duckdb_tables() "
                             "WHERE schema_name = 'main'").fetchall()
        columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                              "WHERE schema_name = 'main' AND NOT internal").fetchall()
        macros = con.execute("SELECT DISTINCT function_name, comment FROM duckdb_functions() "
                             "WHERE schema_name = 'main' AND NOT internal").fetchall()
    finally:
        con.close()
    assert {t for t, _ in tables} >= {"events", "check_ins", "key_result_versions",
                                      "kpi_readings", "aggregates"}
    assert {m for m, _ in macros} >= {"scorecard_at", "kr_progress", "kpi_series"}
    silent = ([t for t, c in tables if not c] + [f"{t}.{c}" for t, c, n in columns if not n]
              + [m for m, c in macros if not c])
    assert silent == []


def _scores(facts: list, at: datetime, known: datetime) -> dict[str, tuple]:
    """(value, target, progress, expected, status) per key result, by the Python replay."""
    return {kr["key"]: (kr["value"], kr["target"], kr["progress"], kr["expected"], kr["status"])
            for card in scorecard_at(facts, at, known) for kr in card["key_results"]}


def test_the_parquet_export_carries_the_scorecard_and_weekly_scores_the_replay_computes(
        home: Path, tmp_path: Path) -> None:
    settings = _settings(home)
    at = datetime.now(UTC)
    with Projection(settings.projection_work_file) as proj:
        _fill(proj, settings)
        counts = proj.export_parquet(tmp_path / "out", at)
        facts = list(proj.facts())
    card = pq.read_table(tmp_path / "out" / "scorecard.parquet").to_pylist()
    weekly = pq.read_table(tmp_path / "out" / "kr_weekly.parquet").to_pylist()
    assert counts["scorecard"] == len(card) and counts["kr_weekly"] == len(weekly)
    assert {r["as_of"] for r in card} == {r["known_at"] for r in card} == {at}
    exported = {r["key_result"]: (r["value"], r["target"], r["progress"], r["expected"],
                                  r["status"]) for r in card if r["key_result"]}
    expected = _scores(facts, at, at)
    assert set(exported) == set(expected) >= {"kr-conv", "kr-intl"}
    for key, row in expected.items():
        assert exported[key] == pytest.approx(row), key
    # README's 2026-Q4, week by week from its start, then its end (or now, while it runs)
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    points = [start + timedelta(weeks=n) for n in range(1, 14) if start + timedelta(weeks=n)
              < min(end, at)]
    conv = [r for r in weekly if r["key_result"] == "kr-conv"]
    assert [r["as_of"] for r in conv] == [*points, min(end, at)]
    assert [r["week"] for r in conv] == list(range(1, len(conv) + 1))
    assert all(r["known_at"] == at and r["cycle"] == "2026-Q4" for r in conv)
    for r in weekly:
        replay = _scores(facts, r["as_of"], at)[r["key_result"]]
        assert (r["value"], r["target"], r["progress"], r["expected"],
                r["status"]) == pytest.approx(replay), (r["key_result"], r["week"])
    before, after = conv[3], conv[-1]  # 22 Oct: no check-in yet; the end: 2.2 of 2.3
    assert before["value"] is None and after["value"] == 2.2
