"""The `okr` entry point against a PostgreSQL event store (127.0.0.1:5432, database `test`)."""

import json
import uuid
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


def held(schema: str) -> list[str]:
    """The tables, types and functions in the schema, by name."""
    with psycopg.connect(DSN) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace"
            " WHERE nspname = %(s)s UNION ALL SELECT typname FROM pg_type t"
            " JOIN pg_namespace n ON n.oid = typnamespace WHERE nspname = %(s)s"
            " UNION ALL SELECT proname FROM pg_proc p JOIN pg_namespace n"
            " ON n.oid = pronamespace WHERE nspname = %(s)s", {"s": schema}).fetchall()
    return sorted(r[0] for r in rows)


def nothing_left_running(home: Path) -> None:
    """Stop a broker the command under test should not have started."""
    if (home / "broker.json").exists():
        run(home, "broker", "stop")


def no_ledger_in(schema: str) -> str:
    return (f"okr: error: no ledger in PostgreSQL schema {schema} of database test on "
            "127.0.0.1:5432 (no okr_events table there); start one with 'okr cycle add "
            "2026-Q4', or point POSTGRES_SCHEMA / POSTGRES_DBNAME at an existing ledger")


def test_a_read_on_an_empty_postgres_schema_says_no_ledger_and_creates_nothing(
        tmp_path: Path, pg_env: dict[str, str]) -> None:
    """As on SQLite (README): a read, and a write that needs something recorded, find no ledger
    in a schema without the events table — no tables, types, functions or trigger made there,
    no data directory, no broker; a first write then starts the ledger in that schema."""
    home, schema = tmp_path / "fresh", pg_env["POSTGRES_SCHEMA"]
    try:
        for args in (["scorecard"], ["list", "cycles"], ["checkin", "kr-1", "5"],
                     ["objective", "add", "x", "t", "--cycle", "2026-Q4"]):
            proc = run(home, *args, env=pg_env)
            assert (proc.returncode, proc.stderr.splitlines()) == (2, [no_ledger_in(schema)]), \
                proc.stderr
    finally:
        nothing_left_running(home)
    assert held(schema) == []
    assert not home.exists()
    ok(home, "cycle", "add", "2026-Q4", env=pg_env)
    assert stored(pg_env) == 1 and "okr_events" in held(schema)


def test_an_empty_postgres_schema_setting_means_public_and_a_read_there_creates_nothing(
        tmp_path: Path, pg_env: dict[str, str]) -> None:
    """POSTGRES_SCHEMA= is no schema: eventsourcing's `public`. The read runs in read-only
    transactions (PGOPTIONS), so that a read which would create the store there fails
    instead of touching a schema that is not this test's."""
    home = tmp_path / "fresh"
    with psycopg.connect(DSN) as conn:
        if conn.execute("SELECT to_regclass('public.okr_events')").fetchone() != (None,):
            pytest.skip("public holds a ledger in database test")
    before = held("public")
    env = {**pg_env, "POSTGRES_SCHEMA": "", "PGOPTIONS": "-c default_transaction_read_only=on"}
    try:
        proc = run(home, "scorecard", env=env)
    finally:
        nothing_left_running(home)
    assert (proc.returncode, proc.stderr.splitlines()) == (2, [no_ledger_in("public")]), \
        proc.stderr
    assert held("public") == before
    assert not home.exists()


def test_a_refused_first_write_on_an_empty_postgres_store_records_nothing_and_makes_no_directory(
        tmp_path: Path, pg_env: dict[str, str]) -> None:
    """A write that can start a ledger, refused on an empty schema, says its own refusal
    and leaves no data directory (DuckDB files, logs) behind."""
    home = tmp_path / "fresh2"
    for args, said in ((["cycle", "add", "NOPE"], "needs both a start and an end date"),
                       (["cycle", "add", "2026-Q9"], "quarters are Q1–Q4")):
        proc = run(home, *args, env=pg_env)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "okr_events" not in held(pg_env["POSTGRES_SCHEMA"])
    assert not home.exists()


@pytest.mark.parametrize("prefix", ["TrialPg2Case", "okr_semi;x", 'okr_quote"x'])
def test_a_schema_name_the_store_cannot_use_is_refused_and_creates_nothing(
        tmp_path: Path, prefix: str) -> None:
    """A mixed-case name failed after creating the tables ("Composite type
    'stored_event_uuid' not found", exit 4); one with `;` was a SQL syntax error. Now the
    setting is refused in one line (exit 2) before PostgreSQL is asked: the schema — made
    here, under that exact name — stays empty, and no data directory is made."""
    schema, home = f"{prefix}_{uuid.uuid4().hex[:8]}", tmp_path / "fresh"
    quoted = '"' + schema.replace('"', '""') + '"'
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {quoted}")
    try:
        env = {"OKR_STORE": "postgres", "POSTGRES_DBNAME": "test", "POSTGRES_HOST": "127.0.0.1",
               "POSTGRES_SCHEMA": schema}
        proc = run(home, "cycle", "add", "2026-Q4", env=env)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [
            f"okr: error: setting postgres_schema: Value error, {schema!r} cannot name the "
            "schema: lower-case letters a-z, digits and _, not starting with a digit, at most "
            "63 characters, no word PostgreSQL reserves (its unquoted identifiers), and not a "
            "system schema (pg_…, information_schema)"]
        assert held(schema) == []
        assert not home.exists()
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {quoted} CASCADE")
