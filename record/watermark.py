"""The relay's durable watermark, kept next to the event store (same SQLite file or database).

It records the last position known to be flushed to Kafka, the chain head hash there and the
event count, per topic. It is written only after the producer's flush succeeded, so a relay
killed at any moment resumes after it and at worst sends a few events again.
"""

from datetime import UTC, datetime
from typing import NamedTuple

from okr.adapters.event_store import connect, sql
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


def load(settings: Settings, topic: str) -> Watermark:
    """The watermark for a topic (the start of the log if none was written)."""
    with connect(settings, _DDL) as conn:
        row = conn.execute(sql(settings, f"SELECT position, head_hash, count FROM {TABLE} "
                                          "WHERE topic = ?"), (topic,)).fetchone()
    return START if row is None else Watermark(int(row[0]), str(row[1]), int(row[2]))


def save(settings: Settings, topic: str, mark: Watermark) -> None:
    """Record a new watermark (after a successful flush only)."""
    now = datetime.now(UTC).isoformat()
    with connect(settings, _DDL) as conn:
        conn.execute(sql(settings, f"INSERT INTO {TABLE} (topic, position, head_hash, count, "
                                    "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic) DO "
                                    "UPDATE SET position = excluded.position, head_hash = "
                                    "excluded.head_hash, count = excluded.count, updated_at = "
                                    "excluded.updated_at"),
                     (topic, mark.position, mark.head_hash, mark.count, now))
        conn.commit()
