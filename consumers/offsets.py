"""The KPI ingest's own offsets: the next offset to read per partition of an external topic,
kept next to the event store (same SQLite file or database) and written only after the
readings before it are in the ledger, so a crash re-reads, never loses.

Beside each offset, in the same transaction, a mark of the record just before it (the last
one handled): after a memory broker restarts and a feed refills the topic past our offset, the
record at that place is another one, so the ingest knows the offsets name records of a topic
that is gone (consumers/ingest.py). A table of its own, so data directories made before it
need no migration: a partition without a mark is trusted as before.

A mark is `k1:` and the SHA-256 of the record's key, value, headers and timestamp: a feed that
refills a topic sends its records anew, so a reading it re-sends is another record (a later
timestamp, or another key) even where its value bytes are the same. Marks stored before the
`k1:` format (the SHA-256 of the value alone, 64 hex digits, no tag) are still compared, by
the value.
"""

import hashlib
from datetime import UTC, datetime
from typing import NamedTuple

from okr.adapters.event_store import connect, sql
from okr.adapters.kafka_client import Message
from okr.settings import Settings

TABLE = "okr_ingest_offsets"
MARKS = "okr_ingest_marks"
_DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (topic TEXT NOT NULL, part INTEGER NOT "
        "NULL, next_offset BIGINT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY "
        "(topic, part))",
        f"CREATE TABLE IF NOT EXISTS {MARKS} (topic TEXT NOT NULL, part INTEGER NOT NULL, "
        "next_offset BIGINT NOT NULL, last_sha256 TEXT NOT NULL, PRIMARY KEY (topic, part))")
_UPSERT = ("INSERT INTO {table} (topic, part, next_offset, {column}) VALUES (?, ?, ?, ?) ON "
           "CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset, {column} "
           "= excluded.{column}")


TAG = "k1:"  # marks of key, value, headers and timestamp (untagged: the value's alone)


class Stored(NamedTuple):
    next_offset: int
    last_sha256: str | None  # the mark of the record at next_offset - 1; None when not known


def digest(m: Message) -> str:
    """What a mark holds of a record: the SHA-256 of its key, value, headers and timestamp,
    each part length-prefixed (no two records share an encoding), behind the format's tag."""
    h = hashlib.sha256()

    def part(data: bytes | None) -> None:
        h.update(b"-" if data is None else b"%d:" % len(data) + data)

    part(m.key)
    part(m.value)
    h.update(b"%d;" % len(m.headers))
    for name, data in m.headers:
        part(name.encode())
        part(data)
    part(None if m.timestamp is None else b"%d" % m.timestamp)
    return TAG + h.hexdigest()


def same_record(mark: str, m: Message) -> bool:
    """Whether `m` is the record `mark` was taken of (an untagged mark: of the value alone)."""
    if mark.startswith(TAG):
        return mark == digest(m)
    return mark == hashlib.sha256(m.value or b"").hexdigest()


def load(settings: Settings, topic: str) -> dict[int, Stored]:
    """The next offset to read per partition of `topic` ({} before the first save), with the
    digest of the record before it where one was kept for that very offset."""
    with connect(settings, *_DDL) as conn:
        rows = conn.execute(sql(settings, f"SELECT o.part, o.next_offset, m.last_sha256 FROM "
                                          f"{TABLE} o LEFT JOIN {MARKS} m ON m.topic = o.topic "
                                          "AND m.part = o.part AND m.next_offset = "
                                          "o.next_offset WHERE o.topic = ?"),
                            (topic,)).fetchall()
        conn.commit()
    return {int(p): Stored(int(o), d) for p, o, d in rows}


def save(settings: Settings, topic: str, offsets: dict[int, Stored]) -> None:
    """Record the next offsets (and marks) of the partitions in `offsets`; the others keep
    theirs. One transaction."""
    now = datetime.now(UTC).isoformat()
    with connect(settings, *_DDL) as conn:
        for part, (offset, last) in offsets.items():
            conn.execute(sql(settings, _UPSERT.format(table=TABLE, column="updated_at")),
                         (topic, part, offset, now))
            if last is not None:
                conn.execute(sql(settings, _UPSERT.format(table=MARKS, column="last_sha256")),
                             (topic, part, offset, last))
        conn.commit()
