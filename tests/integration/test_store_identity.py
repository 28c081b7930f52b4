"""A data directory serves one ledger, and a relay's watermark belongs to the broker it
published to: two defects a trial found with OKR_STORE / POSTGRES_SCHEMA.

1. Pointing a data directory at another event store showed the other ledger's projection and
   made `okr audit verify` cry tampering: now it is refused up front, naming both ledgers.
2. Two data directories on one PostgreSQL schema shared the relay's watermark (kept in the
   store, per topic only): one directory's relay took the other's broker for its own, and
   writes never reached its projection. Now the watermark is kept per destination (the Kafka
   cluster it published to; each local broker has a cluster id of its own).
"""

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Env, okr_environ
from tests.pg import DSN, private_schema

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def pg() -> Iterator[dict[str, str]]:
    """A private PostgreSQL schema, dropped afterwards."""
    with private_schema("okr_storeid") as env:
        yield env


def tables_in(schema: str) -> list[str]:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(DSN) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                            (schema,)).fetchall()
    return sorted(r[0] for r in rows)


def objectives(env: Env, **extra: str) -> list[str]:
    """The objectives the data directory's projection shows, complete (--strict: a projection
    lacking stored events fails the read)."""
    out = env.ok("--strict", "list", "objectives", "--json", **extra)
    return sorted(o["key"] for o in json.loads(out)["items"])


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal says (exit 2, nothing on stdout)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and proc.stdout == "", proc.stderr
    return lines[0]


def test_a_data_directory_pointed_at_another_store_is_refused_and_writes_nothing(
        env: Env, tmp_path: Path, pg: dict[str, str]) -> None:
    """Given a data directory that served a SQLite ledger, when OKR_STORE points it at
    PostgreSQL, then every command is refused in one line naming both ledgers — a write creates
    nothing in the schema, a read shows no projection of the other ledger, `okr audit verify`
    says no "tampered", `okr up` starts nothing — and the directory works as before with its
    own store."""
    schema = pg["POSTGRES_SCHEMA"]
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o-sqlite", "On SQLite", "--cycle", "2026-Q4")
    assert objectives(env) == ["o-sqlite"]

    line = refused(env.run("cycle", "add", "2027-Q1", **pg))
    sqlite_id = json.loads((env.home / "ledger.json").read_text())["ledger"]
    assert line.startswith("okr: error: this data directory") and sqlite_id in line
    assert f"postgres schema {schema}" in line and "holds no ledger" in line
    assert tables_in(schema) == []  # nothing written there

    # A ledger is started in that schema through another data directory …
    bootstrap = env.environ["KAFKA_BOOTSTRAP_SERVERS"]
    other = Env(tmp_path / "other", {**okr_environ(tmp_path / "other", bootstrap), **pg})
    other.ok("cycle", "add", "2027-Q1")
    other.ok("objective", "add", "o-pg", "On PostgreSQL", "--cycle", "2027-Q1")
    pg_id = json.loads((other.home / "ledger.json").read_text())["ledger"]
    assert pg_id != sqlite_id
    # … and this directory, pointed at it, still refuses: reads, writes, the audit, the relay.
    for args in (("list", "objectives"), ("scorecard",), ("audit", "verify"),
                 ("objective", "add", "o-x", "X", "--cycle", "2027-Q1"), ("relay", "--once"),
                 ("consume", "--once"), ("up",)):
        line = refused(env.run(*args, **pg))
        assert sqlite_id in line and pg_id in line, line
        assert f"(sqlite {env.home / 'events.sqlite'})" in line and schema in line, line
    assert objectives(other) == ["o-pg"]  # the other ledger's own directory is fine

    assert objectives(env) == ["o-sqlite"]  # and this one, with its own store again
    assert env.run("audit", "verify").returncode == 0


def local_brokers_env(home: Path, pg: dict[str, str]) -> Env:
    """A data directory with its own local broker (no KAFKA_BOOTSTRAP_SERVERS), on `pg`."""
    environ = {**okr_environ(home, "", tag="storeid"), **pg}
    del environ["KAFKA_BOOTSTRAP_SERVERS"]
    return Env(home, environ)


def test_two_data_directories_on_one_postgres_schema_each_get_every_event(
        tmp_path: Path, pg: dict[str, str]) -> None:
    """Given two data directories, each with its own local broker, on one PostgreSQL schema,
    when each writes, then both projections hold both writes and both audits verify: a relay's
    watermark is that of the broker it published to, not one shared through the store."""
    a = local_brokers_env(tmp_path / "a", pg)
    b = local_brokers_env(tmp_path / "b", pg)
    try:
        a.ok("cycle", "add", "2026-Q4")
        b.ok("objective", "add", "o-b", "Written through B", "--cycle", "2026-Q4")
        a.ok("objective", "add", "o-a", "Written through A", "--cycle", "2026-Q4")
        assert objectives(b) == ["o-a", "o-b"]
        assert objectives(a) == ["o-a", "o-b"]
        for env in (a, b):
            proc = env.run("audit", "verify")
            assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        for env in (a, b):
            env.run("broker", "stop")


def test_a_data_directory_and_store_from_before_keep_working(env: Env, tmp_path: Path,
                                                             pg: dict[str, str]) -> None:
    """Given a data directory and SQLite store as the previous version left them — no ledger
    identity in the store, none in the directory, the relay's watermark one row per topic —
    when this version uses them, then writes and reads go on without a republish (the old
    watermark is used for the broker that holds what it counts), the directory is bound to its
    ledger from then on, and another store is refused."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o-old", "From before", "--cycle", "2026-Q4")
    assert objectives(env) == ["o-old"]
    make_it_as_before(env)

    out = json.loads(env.ok("relay", "--once", "--json"))
    assert (out["published"], out["republished"]) == (0, False)
    env.ok("objective", "add", "o-new", "After the upgrade", "--cycle", "2026-Q4")
    assert objectives(env) == ["o-new", "o-old"]
    assert env.run("audit", "verify").returncode == 0
    assert (env.home / "ledger.json").exists()
    with sqlite3.connect(env.home / "events.sqlite") as conn:  # the identity is its content
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'okr_ledger'"
                            ).fetchone() is None
    conn.close()
    line = refused(env.run("list", "objectives", **pg))
    assert "this data directory" in line and pg["POSTGRES_SCHEMA"] in line


def make_it_as_before(env: Env) -> None:
    """Turn the data directory and its store back into what the previous version left: no
    ledger identity and the watermark in its old table, keyed by topic alone."""
    (env.home / "ledger.json").unlink()
    conn = sqlite3.connect(env.home / "events.sqlite")
    with conn:
        conn.execute("DROP TABLE IF EXISTS okr_ledger")
        conn.execute("CREATE TABLE okr_relay_watermark (topic TEXT PRIMARY KEY, position "
                     "BIGINT NOT NULL, head_hash TEXT NOT NULL, count BIGINT NOT NULL, "
                     "updated_at TEXT NOT NULL, prev_hash TEXT NOT NULL DEFAULT '', "
                     "recorded_at TEXT NOT NULL DEFAULT '')")
        conn.execute("INSERT INTO okr_relay_watermark SELECT topic, position, head_hash, count, "
                     "updated_at, prev_hash, recorded_at FROM okr_relay_watermarks")
        conn.execute("DROP TABLE okr_relay_watermarks")
    conn.close()


def test_a_data_directory_from_before_is_not_taken_for_another_ledger(
        env: Env, tmp_path: Path, pg: dict[str, str]) -> None:
    """Given a data directory from before (nothing says which ledger it serves) that holds the
    projection of a SQLite ledger, when it is pointed at a PostgreSQL ledger, then it is refused
    — its projection's last event is not that ledger's — and nothing says it serves either."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o-old", "From before", "--cycle", "2026-Q4")
    assert objectives(env) == ["o-old"]
    make_it_as_before(env)
    bootstrap = env.environ["KAFKA_BOOTSTRAP_SERVERS"]
    other = Env(tmp_path / "other", {**okr_environ(tmp_path / "other", bootstrap), **pg})
    other.ok("cycle", "add", "2026-Q4")

    line = refused(env.run("list", "objectives", **pg))
    assert "holds the projection of another ledger" in line and pg["POSTGRES_SCHEMA"] in line
    assert not (env.home / "ledger.json").exists()
    assert objectives(env) == ["o-old"]  # its own store: taken as its ledger from now on
    assert (env.home / "ledger.json").exists()


def test_a_store_restored_from_a_backup_taken_before_the_directory_was_bound_is_served(
        env: Env, tmp_path: Path) -> None:
    """Given a data directory bound to its ledger, when its events.sqlite is restored from a
    copy taken before anything recorded an identity in it (a backup of an older version), then
    the directory goes on serving it: the identity is the ledger's, made of its content."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o-1", "Before the backup", "--cycle", "2026-Q4")
    backup = tmp_path / "backup.sqlite"
    backup.write_bytes((env.home / "events.sqlite").read_bytes())
    with sqlite3.connect(backup) as conn:
        conn.execute("DROP TABLE IF EXISTS okr_ledger")  # as a version before identities left it
    conn.close()
    (env.home / "events.sqlite").write_bytes(backup.read_bytes())

    env.ok("cycle", "add", "2027-Q1")
    assert objectives(env) == ["o-1"]
    assert env.run("audit", "verify").returncode == 0
    with sqlite3.connect(env.home / "events.sqlite") as conn:  # nothing made beside the events
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'okr_ledger'"
                            ).fetchone() is None
    conn.close()


def test_another_ledgers_store_in_a_data_directory_is_refused_with_a_way_out(
        tmp_path: Path) -> None:
    """Given a data directory (with its local broker) whose events.sqlite is replaced by
    another ledger's, when it is used, then it is refused in one line saying what to do, and
    doing it (stop its broker, move all but events.sqlite aside) serves the ledger now there."""
    a = local_brokers_env(tmp_path / "a", {})
    b = local_brokers_env(tmp_path / "b", {})
    try:
        a.ok("cycle", "add", "2026-Q4")
        a.ok("objective", "add", "o-a", "Ledger A", "--cycle", "2026-Q4")
        b.ok("cycle", "add", "2026-Q4")  # the same first command: another ledger all the same
        b.ok("objective", "add", "o-b", "Ledger B", "--cycle", "2026-Q4")
        b.ok("broker", "stop")
        (a.home / "events.sqlite").write_bytes((b.home / "events.sqlite").read_bytes())

        line = refused(a.run("list", "objectives"))
        assert "holds the projection of ledger" in line and "okr broker stop" in line, line
        assert "move everything but events.sqlite out of it" in line, line
        a.ok("broker", "stop")
        aside = tmp_path / "aside"
        aside.mkdir()
        for path in a.home.iterdir():
            if path.name != "events.sqlite":
                path.rename(aside / path.name)
        assert objectives(a) == ["o-b"]
        assert a.run("audit", "verify").returncode == 0
    finally:
        for env in (a, b):
            env.run("broker", "stop")


def test_a_role_with_rights_on_the_events_table_only_gets_no_traceback(
        env: Env, pg: dict[str, str]) -> None:
    """Given a PostgreSQL ledger started by its owner, when a person's role with rights on the
    okr_events table only (docker/README.md, "Who did it") reads it, then no traceback: the
    ledger's identity is read from the events themselves."""
    psycopg = pytest.importorskip("psycopg")
    schema = pg["POSTGRES_SCHEMA"]
    env.ok("cycle", "add", "2026-Q4", **pg)
    env.ok("objective", "add", "o-pg", "On PostgreSQL", "--cycle", "2026-Q4", **pg)
    role = f"{schema}_person"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        conn.execute(f'GRANT SELECT, INSERT ON "{schema}".okr_events TO "{role}"')
    try:
        other = Env(env.home.parent / "person", {**okr_environ(
            env.home.parent / "person", env.environ["KAFKA_BOOTSTRAP_SERVERS"]), **pg,
            "POSTGRES_USER": role})
        proc = other.run("list", "objectives")
        assert "Traceback" not in proc.stderr and "psycopg" not in proc.stderr, proc.stderr
        assert "okr_ledger" not in proc.stderr, proc.stderr
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_a_directory_bound_to_a_random_identity_of_before_is_bound_again(env: Env) -> None:
    """Given a data directory whose ledger.json holds a random identity (kept in the store's
    okr_ledger table by a version before, never released), when it is used with its own
    store, then it is bound again to the ledger's content identity (its projection agrees)."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o-1", "Bound before", "--cycle", "2026-Q4")
    random = "dde7a1e0-0000-4000-8000-000000000000"
    (env.home / "ledger.json").write_text(json.dumps({"ledger": random, "store": "x"}) + "\n")
    assert objectives(env) == ["o-1"]
    doc = json.loads((env.home / "ledger.json").read_text())
    assert doc["identity"] == "first-event-recorded" and doc["ledger"] != random
