"""The KPI ingest's own offsets: the next offset to read per partition of an external topic on
one Kafka cluster, kept next to the event store (same SQLite file or database) and written only
after the readings before it are in the ledger, so a crash re-reads, never loses.

Beside each offset, in the same row, a mark of the record just before it (the last one
handled): after a memory broker restarts and a feed refills the topic past our offset, the
record at that place is another one, so the ingest knows the offsets name records of a topic
that is gone (consumers/ingest.py).

Offsets are kept per destination (the cluster's id, as the relay's watermark:
record/watermark.py): several data directories may share one store (a PostgreSQL schema), each
with its own local broker and feed, and one's offsets say nothing of another's topic.

Before destinations were kept, offsets were kept per topic only (okr_ingest_offsets, with the
marks in okr_ingest_marks). A destination holding no offsets for a topic takes those, once, and
they are never written again: the ingest then checks their marks against its records as at
every start, so the data directory that wrote them goes on where it stopped, and another one,
whose records are not the ones marked, reads its partitions from 0 (a partition without a mark,
only ever written by a version before marks, is trusted as it was then).

A mark is `k1:` and the SHA-256 of the record's key, value, headers and timestamp: a feed that
refills a topic sends its records anew, so a reading it re-sends is another record (a later
timestamp, or another key) even where its value bytes are the same. Marks stored before the
`k1:` format (the SHA-256 of the value alone, 64 hex digits, no tag) are still compared, by
the value.
"""

import hashlib
from datetime import UTC, datetime
from typing import Any, NamedTuple

from okr.adapters.event_store import connect, sql
from okr.adapters.kafka_client import Message
from okr.settings import Settings

TABLE = "okr_ingest_positions"
_DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (topic TEXT NOT NULL, destination TEXT NOT NULL, "
        "part INTEGER NOT NULL, next_offset BIGINT NOT NULL, mark TEXT, updated_at TEXT NOT "
        "NULL, PRIMARY KEY (topic, destination, part))")
_INSERT = (f"INSERT INTO {TABLE} (topic, destination, part, next_offset, mark, updated_at) "
           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (topic, destination, part) DO ")
# The offsets and marks per topic of before destinations were kept; read, never written.
LEGACY_OFFSETS = "okr_ingest_offsets"
LEGACY_MARKS = "okr_ingest_marks"


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


def load(settings: Settings, topic: str, destination: str) -> dict[int, Stored]:
    """The next offset to read per partition of `topic` on `destination` ({} before the first
    save), with the mark of the record before it where one is known. A destination without
    offsets for the topic takes the ones kept before destinations were, if any."""
    with connect(settings, _DDL) as conn:
        rows = _rows(conn, settings, topic, destination)
        if not rows:
            now = datetime.now(UTC).isoformat()
            for part, (offset, mark) in _legacy(conn, settings, topic).items():
                # DO NOTHING: a data directory on the same cluster may have begun meanwhile.
                conn.execute(sql(settings, _INSERT + "NOTHING"),
                             (topic, destination, part, offset, mark, now))
            rows = _rows(conn, settings, topic, destination)
        conn.commit()
    return rows


def _rows(conn: Any, settings: Settings, topic: str, destination: str) -> dict[int, Stored]:
    rows = conn.execute(sql(settings, f"SELECT part, next_offset, mark FROM {TABLE} WHERE "
                                      "topic = ? AND destination = ?"),
                        (topic, destination)).fetchall()
    return {int(p): Stored(int(o), m) for p, o, m in rows}


def _legacy(conn: Any, settings: Settings, topic: str) -> dict[int, Stored]:
    """The offsets per topic of before destinations were kept, with their marks where a mark
    was kept for that very offset ({} where there are none)."""
    if settings.store == "sqlite":
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    else:
        have = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = current_schema()")}
    if LEGACY_OFFSETS not in have:
        return {}
    if LEGACY_MARKS in have:  # (a version before marks kept offsets alone)
        query = (f"SELECT o.part, o.next_offset, m.last_sha256 FROM {LEGACY_OFFSETS} o LEFT "
                 f"JOIN {LEGACY_MARKS} m ON m.topic = o.topic AND m.part = o.part AND "
                 "m.next_offset = o.next_offset WHERE o.topic = ?")
    else:
        query = f"SELECT part, next_offset, NULL FROM {LEGACY_OFFSETS} WHERE topic = ?"
    rows = conn.execute(sql(settings, query), (topic,)).fetchall()
    return {int(p): Stored(int(o), m) for p, o, m in rows}


def save(settings: Settings, topic: str, destination: str, offsets: dict[int, Stored]) -> None:
    """Record the next offsets (and marks) of the partitions in `offsets` on `destination`; the
    others keep theirs. One transaction."""
    now = datetime.now(UTC).isoformat()
    with connect(settings, _DDL) as conn:
        for part, (offset, mark) in offsets.items():
            conn.execute(sql(settings, _INSERT + "UPDATE SET next_offset = excluded.next_offset, "
                                       "mark = excluded.mark, updated_at = excluded.updated_at"),
                         (topic, destination, part, offset, mark, now))
        conn.commit()
