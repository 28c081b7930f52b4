"""The relay's durable watermark, kept next to the event store (same SQLite file or database).

It records the last position known to be flushed to Kafka, the chain head hash there and the
event count, per topic. It is written only after the producer's flush succeeded, so a relay
killed at any moment resumes after it and at worst sends a few events again.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from okr.adapters import pg
from okr.record.envelope import GENESIS_HASH
from okr.settings import Settings

TABLE = "okr_relay_watermark"
_DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (topic TEXT PRIMARY KEY, position BIGINT NOT NULL,"
        " head_hash TEXT NOT NULL, count BIGINT NOT NULL, updated_at TEXT NOT NULL)")


class Watermark(NamedTuple):
    position: int
    head_hash: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, which nothing here uses


START = Watermark(0, GENESIS_HASH, 0)


@contextmanager
def _connect(settings: Settings) -> Iterator[Any]:
    if settings.store == "sqlite":
        conn: Any = sqlite3.connect(settings.event_store_path, timeout=30)
        try:
            with conn:
                conn.execute(_DDL)
            yield conn
        finally:
            conn.close()
        return
    with pg.connect(settings) as conn:
        if settings.postgres_schema:
            conn.execute(f'SET search_path TO "{settings.postgres_schema}"')
        conn.execute(_DDL)
        conn.commit()
        yield conn


def _sql(settings: Settings, text: str) -> str:
    return text if settings.store == "sqlite" else text.replace("?", "%s")


def load(settings: Settings, topic: str) -> Watermark:
    """The watermark for a topic (the start of the log if none was written)."""
    with _connect(settings) as conn:
        row = conn.execute(_sql(settings, f"SELECT position, head_hash, count FROM {TABLE} "
                                          "WHERE topic = ?"), (topic,)).fetchone()
    return START if row is None else Watermark(int(row[0]), str(row[1]), int(row[2]))


def save(settings: Settings, topic: str, mark: Watermark) -> None:
    """Record a new watermark (after a successful flush only)."""
    now = datetime.now(UTC).isoformat()
    with _connect(settings) as conn:
        conn.execute(_sql(settings, f"INSERT INTO {TABLE} (topic, position, head_hash, count, "
                                    "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic) DO "
                                    "UPDATE SET position = excluded.position, head_hash = "
                                    "excluded.head_hash, count = excluded.count, updated_at = "
                                    "excluded.updated_at"),
                     (topic, mark.position, mark.head_hash, mark.count, now))
        conn.commit()


# ---- ingest offsets: the next offset to read per partition of an external topic, written
# only after the readings before it are in the ledger.

OFFSETS = "okr_ingest_offsets"
_OFFSETS_DDL = (f"CREATE TABLE IF NOT EXISTS {OFFSETS} (topic TEXT NOT NULL, part INTEGER NOT "
                "NULL, next_offset BIGINT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY "
                "(topic, part))")


def load_offsets(settings: Settings, topic: str) -> dict[int, int]:
    with _connect(settings) as conn:
        conn.execute(_OFFSETS_DDL)
        rows = conn.execute(_sql(settings, f"SELECT part, next_offset FROM {OFFSETS} WHERE "
                                           "topic = ?"), (topic,)).fetchall()
        conn.commit()
    return {int(p): int(o) for p, o in rows}


def save_offsets(settings: Settings, topic: str, offsets: dict[int, int]) -> None:
    now = datetime.now(UTC).isoformat()
    with _connect(settings) as conn:
        conn.execute(_OFFSETS_DDL)
        for part, offset in offsets.items():
            conn.execute(_sql(settings, f"INSERT INTO {OFFSETS} (topic, part, next_offset, "
                                        "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (topic, "
                                        "part) DO UPDATE SET next_offset = excluded.next_offset,"
                                        " updated_at = excluded.updated_at"),
                         (topic, part, offset, now))
        conn.commit()
