"""The relay's durable watermarks, kept next to the event store (same SQLite file or database).

A watermark records, for one topic on one destination (the Kafka cluster it was published to,
by the cluster's id), the last position known to be flushed there, the chain head hash at it
and the event count. It is written only after the producer's flush succeeded, so a relay
killed at any moment resumes after it and at worst sends a few events again. Several data
directories may share one store (a PostgreSQL schema), each with its own local broker: each
broker has its own watermark, so none takes another's for its own.

Before destinations were kept there was one watermark per topic (table okr_relay_watermark):
a relay finding none for its destination takes that one, once it checked that the destination
holds what it counts (record/relay.py); it is never written again.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from okr.adapters.event_store import connect, sql
from okr.record.envelope import GENESIS_HASH
from okr.settings import Settings

TABLE = "okr_relay_watermarks"
_DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (topic TEXT NOT NULL, destination TEXT NOT NULL, "
        "position BIGINT NOT NULL, head_hash TEXT NOT NULL, count BIGINT NOT NULL, "
        "updated_at TEXT NOT NULL, prev_hash TEXT NOT NULL, recorded_at TEXT NOT NULL, "
        "PRIMARY KEY (topic, destination))")
_COLUMNS = "position, head_hash, count, prev_hash, recorded_at"
# One watermark per topic, as written before destinations were kept; read, never written.
LEGACY = "okr_relay_watermark"
# Added to the legacy table later (a watermark written before lacks them: '').
_ADDED = ("prev_hash", "recorded_at")


class Watermark(NamedTuple):
    position: int
    head_hash: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, which nothing here uses
    prev_hash: str = ""  # the hash before the head ('' when not known)
    recorded_at: str = ""  # the head's recording time as in its envelope ('' when not known)


START = Watermark(0, GENESIS_HASH, 0)


@contextmanager
def _connect(settings: Settings) -> Iterator[Any]:
    """The event store's database with the watermarks' table."""
    with connect(settings, _DDL) as conn:
        yield conn


def _mark(row: Any) -> Watermark:
    return Watermark(int(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]))


def load(settings: Settings, topic: str, destination: str) -> Watermark | None:
    """The watermark of a topic on a destination (None: nothing was published there yet)."""
    with _connect(settings) as conn:
        row = conn.execute(sql(settings, f"SELECT {_COLUMNS} FROM {TABLE} WHERE topic = ? AND "
                                         "destination = ?"), (topic, destination)).fetchone()
    return None if row is None else _mark(row)


def only(settings: Settings, topic: str) -> Watermark | None:
    """The topic's watermark when one destination alone has one (or only an older version's
    single mark exists); None when none or several do."""
    with _connect(settings) as conn:
        rows = conn.execute(sql(settings, f"SELECT {_COLUMNS} FROM {TABLE} WHERE topic = ? "
                                          "LIMIT 2"), (topic,)).fetchall()
    if len(rows) == 1:
        return _mark(rows[0])
    return legacy(settings, topic) if not rows else None


def anywhere(settings: Settings, topic: str) -> bool:
    """Whether a watermark of the topic was written for any destination, now or by an older
    version: when none was, nothing of this store was ever published to the topic."""
    with _connect(settings) as conn:
        row = conn.execute(sql(settings, f"SELECT 1 FROM {TABLE} WHERE topic = ? LIMIT 1"),
                           (topic,)).fetchone()
    return row is not None or legacy(settings, topic) is not None


def legacy(settings: Settings, topic: str) -> Watermark | None:
    """The one watermark per topic an older version kept (None where there is none)."""
    with connect(settings) as conn:
        if settings.store == "sqlite":
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({LEGACY})")}
        else:
            have = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s", (LEGACY,))}
        if not have:
            return None
        columns = ", ".join(c if c in have or c not in _ADDED else "''"
                            for c in _COLUMNS.split(", "))
        row = conn.execute(sql(settings, f"SELECT {columns} FROM {LEGACY} WHERE topic = ?"),
                           (topic,)).fetchone()
    return None if row is None else _mark(row)


def save(settings: Settings, topic: str, destination: str, mark: Watermark) -> None:
    """Record a new watermark of a topic on a destination (after a successful flush only)."""
    now = datetime.now(UTC).isoformat()
    with _connect(settings) as conn:
        conn.execute(sql(settings, f"INSERT INTO {TABLE} (topic, destination, position, "
                                   "head_hash, count, updated_at, prev_hash, recorded_at) VALUES "
                                   "(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic, destination) DO "
                                   "UPDATE SET position = excluded.position, head_hash = "
                                   "excluded.head_hash, count = excluded.count, updated_at = "
                                   "excluded.updated_at, prev_hash = excluded.prev_hash, "
                                   "recorded_at = excluded.recorded_at"),
                     (topic, destination, mark.position, mark.head_hash, mark.count, now,
                      mark.prev_hash, mark.recorded_at))
        conn.commit()
