"""The KPI ingest's offsets belong to the broker they were read from.

Two data directories on one PostgreSQL schema, each with its own local broker and feed, shared
the ingest's offsets (kept in the store per topic only): each ingest found the other's offsets,
their marks did not match its records, and it read its partitions again from 0 — every reading
again, every bad message dead-lettered again, "refilled" said every time. Now the offsets are
kept per destination (the Kafka cluster read from), as the relay's watermark is; the offsets of
before are taken over by the data directory that wrote them without reading anything again.
"""

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okr.adapters import kafka_client, local_broker
from okr.ledger import views
from okr.ledger.app import OkrLedger
from tests.integration.conftest import Env, okr_environ
from tests.integration.test_ingest import add_wau, message
from tests.pg import DSN, private_schema

pytestmark = pytest.mark.integration

BAD = b"{not json"


@pytest.fixture
def pg() -> Iterator[dict[str, str]]:
    """A private PostgreSQL schema, dropped afterwards."""
    with private_schema("okr_ingestid") as env:
        yield env


def home_env(home: Path, pg: dict[str, str]) -> Env:
    """A data directory with its own local broker, on `pg`; every such directory of a test
    uses the same topic names (one readings topic name, two brokers)."""
    environ = {**okr_environ(home, "", tag="ingestid"), **pg}
    del environ["KAFKA_BOOTSTRAP_SERVERS"]
    return Env(home, environ)


def servers(env: Env) -> str:
    state = local_broker.status(env.home)
    assert state is not None, "the data directory's broker is not running"
    return state.bootstrap


def feed(env: Env, values: list[bytes]) -> None:
    """Send readings to the data directory's own broker, spread over the partitions."""
    s = env.settings
    kafka_client.ensure_topics(s, servers(env), [s.topic_kpi_readings])
    prod = kafka_client.producer(s, servers(env))
    for n, value in enumerate(values):
        prod.send(s.topic_kpi_readings, key=b"k%d" % n, value=value)
    prod.flush()
    prod.close()


def ingest(env: Env) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(env.ok("ingest", "--once", "--json"))
    return out


def counts(out: dict[str, Any]) -> tuple[object, ...]:
    """(read, recorded, duplicates, dead letters, partitions read again)."""
    return (out["read"], out["recorded"], out["duplicates"], out["dead_letters"],
            [*out["wiped_partitions"], *out["unchecked_partitions"]])


def dead_letters(env: Env) -> list[bytes | None]:
    s = env.settings
    return [m.value for m in kafka_client.read_topic(s, servers(env), s.topic_dead_letter,
                                                     idle=1.0)]


def reading_values(env: Env) -> list[float]:
    app = OkrLedger(env.settings)
    try:
        return sorted(r["value"] for r in views.readings(app, app.kpi("wau")))
    finally:
        app.close()


@pytest.fixture
def homes(tmp_path: Path, pg: dict[str, str]) -> Iterator[tuple[Env, Env]]:
    """Two data directories on one schema, each with its broker running and the KPI known."""
    a, b = home_env(tmp_path / "a", pg), home_env(tmp_path / "b", pg)
    try:
        add_wau(a)
        b.ok("broker", "start")
        assert servers(a) != servers(b)
        yield a, b
    finally:
        for env in (a, b):
            env.run("broker", "stop")


@pytest.mark.postgres
def test_two_data_directories_on_one_schema_each_ingest_their_feed_once(
        homes: tuple[Env, Env]) -> None:
    """Given two data directories on one PostgreSQL schema, each with its own broker and feed
    of other readings, when their ingests take turns, then each reads its own feed once: no
    partition is read again, no bad message is dead-lettered twice, every reading is recorded."""
    a, b = homes
    feed(a, [message(i) for i in range(10)] + [BAD])
    feed(b, [message(i) for i in range(100, 106)] + [BAD])

    assert counts(ingest(a)) == (11, 10, 0, 1, [])
    assert counts(ingest(b)) == (7, 6, 0, 1, [])  # not A's offsets
    feed(a, [message(i) for i in range(10, 15)])
    assert counts(ingest(a)) == (5, 5, 0, 0, [])  # not B's offsets
    assert counts(ingest(b)) == (0, 0, 0, 0, [])
    assert counts(ingest(a)) == (0, 0, 0, 0, [])

    assert dead_letters(a) == [BAD] and dead_letters(b) == [BAD]
    assert reading_values(a) == [100.0 + i for i in [*range(15), *range(100, 106)]]


def as_before(schema: str) -> None:
    """Turn the ingest's offsets into the two tables the previous version kept, per topic only
    (okr_ingest_offsets, okr_ingest_marks), as that version would have written them."""
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(DSN) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        rows = conn.execute("SELECT topic, part, next_offset, mark FROM okr_ingest_positions"
                            ).fetchall()
        assert rows, "nothing was ingested"
        conn.execute("CREATE TABLE okr_ingest_offsets (topic TEXT NOT NULL, part INTEGER NOT "
                     "NULL, next_offset BIGINT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY "
                     "(topic, part))")
        conn.execute("CREATE TABLE okr_ingest_marks (topic TEXT NOT NULL, part INTEGER NOT "
                     "NULL, next_offset BIGINT NOT NULL, last_sha256 TEXT NOT NULL, PRIMARY "
                     "KEY (topic, part))")
        for topic, part, offset, mark in rows:
            conn.execute("INSERT INTO okr_ingest_offsets VALUES (%s, %s, %s, "
                         "'2026-11-01T00:00:00+00:00')", (topic, part, offset))
            conn.execute("INSERT INTO okr_ingest_marks VALUES (%s, %s, %s, %s)",
                         (topic, part, offset, mark))
        conn.execute("DROP TABLE okr_ingest_positions")


def legacy_rows(schema: str) -> list[tuple[object, ...]]:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(DSN) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return sorted(conn.execute("SELECT o.topic, o.part, o.next_offset, o.updated_at, "
                                   "m.last_sha256 FROM okr_ingest_offsets o JOIN "
                                   "okr_ingest_marks m USING (topic, part)").fetchall())


@pytest.mark.postgres
def test_offsets_kept_before_are_used_by_the_data_directory_that_wrote_them(
        homes: tuple[Env, Env], pg: dict[str, str]) -> None:
    """Given offsets the previous version kept per topic only, written by data directory A,
    and B on the same schema that never ingested, when this version runs both ingests, then A
    goes on where it stopped (nothing read again) and B, whose records are not the ones the
    old marks name, reads its own feed from the start once and is told so; the old tables are
    never written again."""
    a, b = homes
    feed(a, [message(i) for i in range(10)] + [BAD])
    feed(b, [message(i) for i in range(100, 106)])
    assert counts(ingest(a)) == (11, 10, 0, 1, [])
    schema = pg["POSTGRES_SCHEMA"]
    as_before(schema)
    before = legacy_rows(schema)
    feed(a, [message(i) for i in range(10, 14)])

    assert counts(ingest(a)) == (4, 4, 0, 0, [])  # the old offsets, its own
    read, recorded, duplicates, letters, again = counts(ingest(b))
    assert (read, recorded, duplicates, letters) == (6, 6, 0, 0)
    assert again, "B took A's old offsets and did not say it read its partitions again"
    assert counts(ingest(b)) == (0, 0, 0, 0, [])
    assert counts(ingest(a)) == (0, 0, 0, 0, [])
    assert legacy_rows(schema) == before
    assert dead_letters(a) == [BAD]
    assert reading_values(b) == [100.0 + i for i in [*range(14), *range(100, 106)]]


def as_before_in_sqlite(env: Env, marks: bool) -> None:
    """The SQLite store's offsets as the previous version kept them (`marks` False: as a version
    before marks kept them, offsets alone)."""
    with sqlite3.connect(env.home / "events.sqlite") as conn:
        conn.execute("CREATE TABLE okr_ingest_offsets (topic TEXT NOT NULL, part INTEGER NOT "
                     "NULL, next_offset BIGINT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY "
                     "(topic, part))")
        conn.execute("INSERT INTO okr_ingest_offsets SELECT topic, part, next_offset, "
                     "updated_at FROM okr_ingest_positions")
        if marks:
            conn.execute("CREATE TABLE okr_ingest_marks (topic TEXT NOT NULL, part INTEGER NOT "
                         "NULL, next_offset BIGINT NOT NULL, last_sha256 TEXT NOT NULL, "
                         "PRIMARY KEY (topic, part))")
            conn.execute("INSERT INTO okr_ingest_marks SELECT topic, part, next_offset, mark "
                         "FROM okr_ingest_positions")
        conn.execute("DROP TABLE okr_ingest_positions")
    conn.close()


@pytest.mark.parametrize("marks", [True, False], ids=["with-marks", "before-marks"])
def test_a_sqlite_store_from_before_goes_on_where_its_ingest_stopped(env: Env,
                                                                     marks: bool) -> None:
    """Given a SQLite store whose ingest offsets are in the tables of before (with or without
    marks), when this version ingests again, then it reads only the new readings."""
    add_wau(env)
    s = env.settings
    servers = s.kafka_bootstrap_servers or ""
    kafka_client.ensure_topics(s, servers, [s.topic_kpi_readings])

    def send(values: list[bytes]) -> None:
        prod = kafka_client.producer(s, servers)
        for value in values:
            prod.send(s.topic_kpi_readings, key=value[-8:], value=value)
        prod.flush()
        prod.close()

    send([message(i) for i in range(10)] + [BAD])
    assert counts(ingest(env)) == (11, 10, 0, 1, [])
    as_before_in_sqlite(env, marks)
    send([message(i) for i in range(10, 15)])
    assert counts(ingest(env)) == (5, 5, 0, 0, [])
    assert counts(ingest(env)) == (0, 0, 0, 0, [])
