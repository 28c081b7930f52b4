"""The `okr` entry point against a PostgreSQL event store (127.0.0.1:5432, database `test`)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import DSN, private_schema
from tests.unit.test_cli_writes import ok, readme_commands, run

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.postgres

@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    """A private schema in the local PostgreSQL, dropped afterwards."""
    with private_schema("okr_cli") as env:
        yield env


def stored(env: dict[str, str]) -> int:
    with psycopg.connect(DSN) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{env["POSTGRES_SCHEMA"]}".okr_events'
                           ).fetchone()
        assert row is not None
        return int(row[0])


def test_readme_scenario_on_postgres(tmp_path: Path, pg_env: dict[str, str]) -> None:
    for args in readme_commands():
        ok(tmp_path, *args, env=pg_env)
    kr = json.loads(ok(tmp_path, "show", "kr-conv", "--json", env=pg_env))
    assert (kr["target"], kr["value"]) == (2.3, 2.2)
    assert not (tmp_path / "events.sqlite").exists()
    before = stored(pg_env)
    assert before == 10  # one event per README write
    proc = run(tmp_path, "kr", "revise", "kr-conv", "--target", "2.1", env=pg_env)
    assert proc.returncode == 2 and "needs a reason" in proc.stderr
    proc = run(tmp_path, "checkin", "kr-conv", "2.25", "--confidence", "3", env=pg_env)
    assert proc.returncode == 2
    assert stored(pg_env) == before


def test_a_refused_write_on_an_empty_postgres_store_records_nothing_and_makes_no_directory(
        tmp_path: Path, pg_env: dict[str, str]) -> None:
    """On PostgreSQL the ledger is the database the operator points okr at, not a file a write
    creates: "no ledger" does not apply, the command's own refusal is said, and nothing is
    recorded — and the data directory (DuckDB files, logs) is not made by a refused write."""
    home = tmp_path / "fresh2"
    for args, said in ((["checkin", "NOPE", "5"], "key result 'NOPE' not found"),
                       (["objective", "add", "x", "t", "--cycle", "NOPE"],
                        "cycle 'NOPE' not found"),
                       (["cycle", "add", "NOPE"], "needs both a start and an end date")):
        proc = run(home, *args, env=pg_env)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert stored(pg_env) == 0
    assert not home.exists()
