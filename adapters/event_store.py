"""The event store's database as our own code uses it beside eventsourcing: its highest
position (the one query of ours on the library's table, read-only), the ledger's identity,
and connections for the tables we keep next to the events (the relay's watermarks, the KPI
ingest's offsets).

The only module of ours that opens the SQLite event store file.
"""

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from okr.adapters import pg
from okr.errors import DataDirUnavailable, OkrError, StoreCorrupt
from okr.settings import Settings


@contextmanager
def connect(settings: Settings, *ddl: str) -> Iterator[Any]:
    """A DB-API connection to the event store's database (the SQLite file, or the PostgreSQL
    database and schema), after running `ddl` (CREATE … IF NOT EXISTS statements) in it;
    closed afterwards. Write statements with `?` placeholders and pass them through `sql`."""
    if settings.store == "sqlite":
        conn: Any = sqlite3.connect(settings.event_store_path, timeout=30)
        try:
            with conn:
                for statement in ddl:
                    conn.execute(statement)
            yield conn
        finally:
            conn.close()
        return
    with pg.connect(settings) as conn:
        if settings.postgres_schema:
            conn.execute(f'SET search_path TO "{settings.postgres_schema}"')
        for statement in ddl:
            conn.execute(statement)
        conn.commit()
        yield conn


def sql(settings: Settings, text: str) -> str:
    """`text`, written with `?` placeholders, in the configured database's own placeholders."""
    return text if settings.store == "sqlite" else text.replace("?", "%s")


# eventsourcing's SQLite recorder numbers notifications by the events table's rowid
# (SQLiteApplicationRecorder.max_notification_id runs this very statement); asked here with the
# standard library's driver, so a read that only needs the head does not import the library
# (tests/unit/test_cli_latency.py checks both agree).
SQLITE_EVENTS_TABLE = "stored_events"
_HEAD = f"SELECT MAX(rowid) FROM {SQLITE_EVENTS_TABLE}"


def sqlite_head(settings: Settings) -> int | None:
    """The highest position (notification id) in the SQLite event store, read-only; None when
    there is none yet (an empty store, no file, no table), when the store cannot tell now
    (locked) or is not SQLite."""
    store = settings.event_store_path
    if settings.store != "sqlite" or not store.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(_HEAD).fetchone()
        return int(row[0]) if row and row[0] is not None else None  # None for an empty table
    except sqlite3.Error:
        return None
    finally:
        conn.close()


# eventsourcing names the PostgreSQL events table after the application (OkrLedger.name "okr")
# and creates it in the configured schema, else in `public`.
POSTGRES_EVENTS_TABLE = "okr_events"


def postgres_has_events(settings: Settings) -> bool:
    """Whether the PostgreSQL schema of the event store holds its events table: a ledger was
    started there. Asked of the catalog only — nothing is created, nothing locked."""
    with pg.connect(settings) as conn:
        row = conn.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))",
                           (settings.postgres_schema_used, POSTGRES_EVENTS_TABLE)).fetchone()
        return row is not None and row[0] is not None


# The ledger's identity: one row, a random UUID made when the store's tables are made (or, for
# a store made before it existed, when okr first opens it). A data directory records the
# identity of the ledger it serves (ledger/home.py), so that it is never used with another.
LEDGER_TABLE = "okr_ledger"
_LEDGER_COLUMNS = ("(id INTEGER PRIMARY KEY CHECK (id = 1), ledger_id TEXT NOT NULL, "
                   "created_at TEXT NOT NULL)")


def ledger_id(settings: Settings, *, create: bool = True, lock_held: bool = False
              ) -> str | None:
    """The identity of the ledger in the configured store; None where no ledger was started
    there (no SQLite file, no PostgreSQL events table). A store without one is given one
    (unless not `create`); '' when it has none and cannot be given one now (a store this user
    may only read). On PostgreSQL the identity is made under the lock the event store's tables
    are made under (`lock_held`: the caller holds it)."""
    if settings.store == "sqlite":
        return _sqlite_ledger_id(settings, create)
    return _postgres_ledger_id(settings, create, lock_held)


def _sqlite_ledger_id(settings: Settings, create: bool) -> str | None:
    path = settings.event_store_path
    if not path.is_file():
        return None
    conn = sqlite3.connect(path, timeout=30)
    try:
        found = _sqlite_read_id(conn)
        if found is None and create:
            try:
                with conn:
                    conn.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} {_LEDGER_COLUMNS}")
                    conn.execute(f"INSERT OR IGNORE INTO {LEDGER_TABLE} VALUES (1, ?, ?)",
                                 (str(uuid.uuid4()), datetime.now(UTC).isoformat()))
            except sqlite3.OperationalError as exc:
                if "readonly" not in str(exc):
                    raise
                return ""
            found = _sqlite_read_id(conn)
        return found or ""
    finally:
        conn.close()


def _sqlite_read_id(conn: sqlite3.Connection) -> str | None:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (LEDGER_TABLE,)).fetchone() is None:
        return None
    row = conn.execute(f"SELECT ledger_id FROM {LEDGER_TABLE} WHERE id = 1").fetchone()
    return None if row is None else str(row[0])


def _postgres_ledger_id(settings: Settings, create: bool, lock_held: bool) -> str | None:
    schema = settings.postgres_schema_used
    table = f'"{schema}".{LEDGER_TABLE}'
    with pg.connect(settings) as conn:
        events, made = conn.execute(
            "SELECT to_regclass(format('%%I.%%I', %(s)s::text, %(e)s::text)), "
            "to_regclass(format('%%I.%%I', %(s)s::text, %(t)s::text))",
            {"s": schema, "e": POSTGRES_EVENTS_TABLE, "t": LEDGER_TABLE}).fetchone()
        if events is None:
            return None
        if made is not None:
            row = conn.execute(f"SELECT ledger_id FROM {table} WHERE id = 1").fetchone()
            if row is not None:
                return str(row[0])
        if not create:
            return ""
    psycopg = pg.driver()
    with nullcontext() if lock_held else pg.one_table_creator_at_a_time(settings), \
            pg.connect(settings) as conn:
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} {_LEDGER_COLUMNS}")
            conn.execute(f"INSERT INTO {table} VALUES (1, %s, %s) ON CONFLICT (id) DO NOTHING",
                         (str(uuid.uuid4()), datetime.now(UTC).isoformat()))
            conn.commit()
        except psycopg.errors.InsufficientPrivilege:
            return ""
        row = conn.execute(f"SELECT ledger_id FROM {table} WHERE id = 1").fetchone()
        return "" if row is None else str(row[0])


def postgres_session_user(settings: Settings) -> str:
    """The PostgreSQL role okr's connections authenticate as (ledger/principal.py), asked
    before the event store is opened."""
    with pg.connect(settings) as conn:
        return str(conn.execute("SELECT session_user").fetchone()[0])


def failure(exc: BaseException) -> OkrError | None:
    """okr's failure for an error the SQLite driver raised about the event store file (the
    only SQLite file okr has), else None."""
    if isinstance(exc, sqlite3.OperationalError):  # cannot open, read-only, locked, disk full
        return DataDirUnavailable(
            f"the event store file cannot be opened or written ({_first_line(exc)}); check "
            "that this user may read and write the data directory and events.sqlite (--home, "
            "OKR_HOME) and that the disk has room; nothing was written")
    if isinstance(exc, sqlite3.DatabaseError):
        return StoreCorrupt(
            f"the event store is damaged or not an event store ({_first_line(exc)}); restore "
            "events.sqlite from a backup, or point --home / OKR_HOME at another data directory")
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

