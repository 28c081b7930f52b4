"""The machine's PostgreSQL (127.0.0.1:5432, user postgres, database `test`) for tests whose
subject it is: a private schema each, dropped afterwards."""

import contextlib
import uuid
from collections.abc import Iterator

import pytest

DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@contextlib.contextmanager
def private_schema(prefix: str) -> Iterator[dict[str, str]]:
    """okr's settings (environment) for a fresh schema `<prefix>_<random>`; skips the test
    when PostgreSQL is not reachable."""
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {exc}")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield {"OKR_STORE": "postgres", "POSTGRES_DBNAME": "test", "POSTGRES_HOST": "127.0.0.1",
               "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres", "POSTGRES_SCHEMA": schema}
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()
