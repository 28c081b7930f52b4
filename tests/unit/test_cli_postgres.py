"""The `okr` entry point against a PostgreSQL event store (127.0.0.1:5432, database `test`)."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_cli_writes import ok, readme_commands, run

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.postgres

DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    """A private schema in the local PostgreSQL, dropped afterwards."""
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {exc}")
    schema = f"okr_cli_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield {"OKR_STORE": "postgres", "POSTGRES_DBNAME": "test", "POSTGRES_HOST": "127.0.0.1",
               "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres", "POSTGRES_SCHEMA": schema}
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


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
