"""PostgreSQL connections of our own beside the event store's pool: the relay watermark's, and
the lock under which the event store's tables are created.

Connection failures surface as eventsourcing's OperationalError, the error every other
event-store failure raises, so callers (and the CLI's one-line errors) handle one type.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from okr.errors import StoreUnavailable
from okr.settings import Settings

# Like the event store's pool, keep trying to connect for a while: a server restarting
# ("the database system is starting up") is back within seconds.
CONNECT_FOR = 5.0


def driver() -> ModuleType:
    """psycopg, or a one-line StoreUnavailable when it is not installed: PostgreSQL support
    is the optional extra `okr-ledger[postgres]`, and every use of the PostgreSQL store opens
    a connection here first (the event store's own pool after it)."""
    try:
        import psycopg
    except ImportError:
        raise StoreUnavailable(
            "the postgres event store (OKR_STORE, store in okr.toml) needs PostgreSQL "
            "support, which is not installed here: pip install 'okr-ledger[postgres]'; "
            "nothing was written") from None
    return psycopg


@contextmanager
def connect(settings: Settings) -> Iterator[Any]:
    """A psycopg connection to the configured PostgreSQL database, closed afterwards."""
    psycopg = driver()
    from eventsourcing.persistence import OperationalError
    env = settings.eventsourcing_env()
    deadline = time.monotonic() + CONNECT_FOR
    try:
        while True:
            try:
                conn = psycopg.connect(
                    host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]),
                    dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                    password=env["POSTGRES_PASSWORD"] or None, connect_timeout=5)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        try:
            yield conn
        finally:
            conn.close()
    except psycopg.OperationalError as exc:
        raise OperationalError(str(exc)) from exc


@contextmanager
def one_table_creator_at_a_time(settings: Settings) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock (per schema) while the event store's tables are set up.

    eventsourcing creates its tables when missing and replaces its insert function on every
    start; PostgreSQL fails some of several processes doing that at once ("tuple concurrently
    updated"), so concurrent `okr` commands failed at random before this lock.
    """
    if settings.store != "postgres":
        yield
        return
    with connect(settings) as conn:
        conn.autocommit = True
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))",
                     (f"okr event store tables in {settings.postgres_schema_used}",))
        yield  # closing the connection ends the session and with it the lock
