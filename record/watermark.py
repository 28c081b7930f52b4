"""The relay's durable watermark, kept next to the event store (same SQLite file or database).

It records the last position known to be flushed to Kafka, the chain head hash there and the
event count, per topic. It is written only after the producer's flush succeeded, so a relay
killed at any moment resumes after it and at worst sends a few events again.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from okr.adapters.event_store import connect, sql
from okr.record.envelope import GENESIS_HASH
from okr.settings import Settings

TABLE = "okr_relay_watermark"
_DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (topic TEXT PRIMARY KEY, position BIGINT NOT NULL,"
        " head_hash TEXT NOT NULL, count BIGINT NOT NULL, updated_at TEXT NOT NULL)")
# Added later (a watermark written before lacks them: ''): the head's previous hash, so the
# head's hash can be recomputed from its stored event alone, and the head's recording time.
_ADDED = (("prev_hash", "TEXT NOT NULL DEFAULT ''"), ("recorded_at", "TEXT NOT NULL DEFAULT ''"))


class Watermark(NamedTuple):
    position: int
    head_hash: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, which nothing here uses
    prev_hash: str = ""  # the hash before the head ('' when not known)
    recorded_at: str = ""  # the head's recording time as in its envelope ('' when not known)


START = Watermark(0, GENESIS_HASH, 0)


@contextmanager
def _connect(settings: Settings) -> Iterator[Any]:
    """The event store's database with the watermark table, its later columns added."""
    with connect(settings, _DDL) as conn:
        if settings.store == "sqlite":
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
            with conn:
                for name, decl in _ADDED:
                    if name not in have:
                        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {decl}")
        else:
            for name, decl in _ADDED:
                conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {name} {decl}")
            conn.commit()
        yield conn


def load(settings: Settings, topic: str) -> Watermark:
    """The watermark for a topic (the start of the log if none was written)."""
    with _connect(settings) as conn:
        row = conn.execute(sql(settings, f"SELECT position, head_hash, count, prev_hash, "
                                         f"recorded_at FROM {TABLE} WHERE topic = ?"),
                           (topic,)).fetchone()
    return START if row is None else Watermark(int(row[0]), str(row[1]), int(row[2]),
                                               str(row[3]), str(row[4]))


def save(settings: Settings, topic: str, mark: Watermark) -> None:
    """Record a new watermark (after a successful flush only)."""
    now = datetime.now(UTC).isoformat()
    with _connect(settings) as conn:
        conn.execute(sql(settings, f"INSERT INTO {TABLE} (topic, position, head_hash, count, "
                                   "updated_at, prev_hash, recorded_at) VALUES (?, ?, ?, ?, ?, "
                                   "?, ?) ON CONFLICT (topic) DO UPDATE SET position = "
                                   "excluded.position, head_hash = excluded.head_hash, count = "
                                   "excluded.count, updated_at = excluded.updated_at, prev_hash "
                                   "= excluded.prev_hash, recorded_at = excluded.recorded_at"),
                     (topic, mark.position, mark.head_hash, mark.count, now, mark.prev_hash,
                      mark.recorded_at))
        conn.commit()
