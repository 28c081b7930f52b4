"""The KPI ingest's own offsets: the next offset to read per partition of an external topic,
kept next to the event store (same SQLite file or database) and written only after the
readings before it are in the ledger, so a crash re-reads, never loses."""

from datetime import UTC, datetime

from okr.adapters.event_store import connect, sql
from okr.settings import Settings

TABLE = "okr_ingest_offsets"
_DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (topic TEXT NOT NULL, part INTEGER NOT "
        "NULL, next_offset BIGINT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY "
        "(topic, part))")


def load(settings: Settings, topic: str) -> dict[int, int]:
    """The next offset to read per partition of `topic` ({} before the first save)."""
    with connect(settings, _DDL) as conn:
        rows = conn.execute(sql(settings, f"SELECT part, next_offset FROM {TABLE} WHERE "
                                          "topic = ?"), (topic,)).fetchall()
        conn.commit()
    return {int(p): int(o) for p, o in rows}


def save(settings: Settings, topic: str, offsets: dict[int, int]) -> None:
    """Record the next offsets of the partitions in `offsets` (the others keep theirs)."""
    now = datetime.now(UTC).isoformat()
    with connect(settings, _DDL) as conn:
        for part, offset in offsets.items():
            conn.execute(sql(settings, f"INSERT INTO {TABLE} (topic, part, next_offset, "
                                       "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (topic, "
                                       "part) DO UPDATE SET next_offset = excluded.next_offset,"
                                       " updated_at = excluded.updated_at"),
                         (topic, part, offset, now))
        conn.commit()
