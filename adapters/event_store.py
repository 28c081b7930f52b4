"""The event store's database as our own code uses it beside eventsourcing: its highest
position and its first event (the ledger's identity) — our only queries on the library's table,
read-only — and connections for the tables we keep next to the events (the relay's watermarks,
the KPI ingest's offsets).

The only module of ours that opens the SQLite event store file.
"""

import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


# The ledger's identity, read from its content: a hash of its first event (the position-1 row:
# the item's id, its version, its type and the moment it was recorded, from its stored state).
# Every copy of one ledger — a backup restored, a file copied — has the same one; another
# ledger, even one that began with the same command, has another; an edit of what the first
# event says is tampering, found by the audit, not another ledger. A data directory
# records the identity of the ledger it serves (ledger/home.py), so that it is never used with
# another. Read-only: nothing is created (the okr_ledger table of a version that kept a random
# identity there is no longer read or made).
_FIRST_SQLITE = (f"SELECT originator_id, originator_version, topic, state FROM "
                 f"{SQLITE_EVENTS_TABLE} ORDER BY rowid LIMIT 1")


def ledger_id(settings: Settings) -> str | None:
    """The identity of the ledger in the configured store; None where the store holds no event
    yet (no SQLite file or table, no PostgreSQL events table, an empty one): no ledger, nothing
    to tell apart; '' when the store cannot be read now (locked, this role may not read it)."""
    if settings.store == "sqlite":
        return _sqlite_ledger_id(settings)
    return _postgres_ledger_id(settings)


def _identity(row: Any) -> str:
    """The first event's item id, version, type and the moment it was recorded — not the rest
    of its content: an edit of what it says is tampering, for `okr audit verify` to find (as
    an edit of any other event is), not another ledger. A state that holds no readable
    recording time (edited beyond reading) is taken whole."""
    originator_id, version, topic, state = row
    digest = hashlib.sha256()
    for part in (str(originator_id), str(int(version)), str(topic)):
        digest.update(part.encode() + b"\0")
    digest.update(_recorded(bytes(state)))
    return str(uuid.UUID(bytes=digest.digest()[:16]))


def _recorded(state: bytes) -> bytes:
    """The recording time in a stored event's state (eventsourcing's `timestamp`), else the
    state itself."""
    import json

    try:
        stamp = json.loads(state)["timestamp"]
    except (ValueError, TypeError, KeyError):
        return state
    return b"timestamp:" + json.dumps(stamp, sort_keys=True).encode()


def _sqlite_ledger_id(settings: Settings) -> str | None:
    path = settings.event_store_path
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (SQLITE_EVENTS_TABLE,)).fetchone() is None:
            return None
        row = conn.execute(_FIRST_SQLITE).fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return ""
        raise
    finally:
        conn.close()
    return None if row is None else _identity(row)


def _postgres_ledger_id(settings: Settings) -> str | None:
    schema = settings.postgres_schema_used
    psycopg = pg.driver()
    with pg.connect(settings) as conn:
        events = conn.execute(
            "SELECT to_regclass(format('%%I.%%I', %(s)s::text, %(e)s::text))",
            {"s": schema, "e": POSTGRES_EVENTS_TABLE}).fetchone()[0]
        if events is None:
            return None
        try:
            row = conn.execute(
                "SELECT originator_id, originator_version, topic, state FROM "
                f'"{schema}".{POSTGRES_EVENTS_TABLE} ORDER BY notification_id LIMIT 1'
            ).fetchone()
        except psycopg.errors.InsufficientPrivilege:  # cannot read the ledger: nor tell it
            return ""
    return None if row is None else _identity(row)


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

