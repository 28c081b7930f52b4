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
