"""KPI ingest: readings from an external topic become KPI readings in the ledger.

For each polled batch, in partition order: every valid message is recorded in the ledger
(idempotent on its `id`, so the same id twice records once); every invalid one goes to the
dead-letter topic with the reason and its original bytes. Only then are the next offsets
stored (next to the event store), so a crash re-reads, never loses: a re-read reading is
recognised by its id. A partition whose high watermark fell below the stored offset, or whose
record just before it is not the one we handled there (a memory broker restarted and a feed
refilled the topic past our offset), is read again from the start: the offsets named records
of a topic that is gone.

The record before each stored offset is checked (its mark: consumers/offsets.py) before the
first records fetched over a new connection are handled: when the partitions are assigned, and
whenever the reader's connections to the broker changed since the last check — a restarted
broker is reached over a new connection, and its refilled topic could otherwise be read on from
the old offset within one poll. Where that record does not answer in `CHECK_WAIT` seconds, the
partition is not trusted: it is read from 0 and the ingest says so (`unchecked_partitions`).

The offsets are those of the cluster read from (kept per topic and cluster id): data
directories sharing a store, each with its own broker and feed, never take each other's.

One ingest reads a topic per data directory at a time (an exclusive lock file beside the
store, `ingest.<topic>.lock`): two would read the same batches and dead-letter every bad
message twice. A second `okr ingest --once` is refused; a second follower (`okr up`,
`okr ingest`) waits for the first to stop.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import PersistenceError

from okr.adapters import kafka_client
from okr.consumers import offsets as ingest_offsets
from okr.consumers.offsets import Stored, digest, same_record
from okr.consumers.runtime import PartitionConsumer
from okr.domain.base import utc_now
from okr.domain.notices import Notice
from okr.ledger import principal
from okr.ledger.app import ConcurrencyError, OkrLedger
from okr.ledger.readings import ReadingMessage, Rejected, parse_message, record
from okr.locks import Busy, exclusive
from okr.settings import Settings

NAME = "ingest"
CHECK_WAIT = 2.0  # seconds the record before a stored offset may take to answer


@dataclass
class IngestProgress:
    read: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    wiped: list[int] = field(default_factory=list)
    unchecked: list[int] = field(default_factory=list)  # read from 0: no answer to check
    before_in_force: int = 0  # recorded, observed before their KPI was in force (warned)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "recorded": self.recorded, "duplicates": self.duplicates,
                "dead_letters": self.dead_letters, "wiped_partitions": self.wiped,
                "unchecked_partitions": self.unchecked,
                "before_in_force": self.before_in_force}

    def said(self) -> str:
        """One line for people (`okr ingest --once` and the running ingest's log)."""
        wiped = (f"; partitions {', '.join(map(str, self.wiped))} were refilled, reading them "
                 "again" if self.wiped else "")
        unchecked = (f"; partitions {', '.join(map(str, self.unchecked))} could not be checked "
                     f"(the record before the stored offset did not answer in {CHECK_WAIT:g} s), "
                     "reading them again from 0" if self.unchecked else "")
        early = (f" ({self.before_in_force} observed before their KPI was in force: they "
                 "count in no as-of view)" if self.before_in_force else "")
        return (f"read {self.read} messages: {self.recorded} recorded{early}, "
                f"{self.duplicates} duplicates, {self.dead_letters} dead letters{wiped}"
                f"{unchecked}")


# Told of each reading recorded that counts in no as-of view: (the warning, the message).
Warn = Callable[[Notice, ReadingMessage], None]


class Ingest(PartitionConsumer[IngestProgress]):
    """Consumes the readings topic into the ledger. Use from one thread."""

    name = NAME
    # It writes to the event store too: an outage of the store is waited out like Kafka's.
    transient = (*PartitionConsumer.transient, PersistenceError)

    def __init__(self, app: OkrLedger, servers: str, warn: Warn | None = None) -> None:
        super().__init__(app.settings, servers, app.settings.topic_kpi_readings)
        self.app = app
        self.warn = warn  # a reading recorded is never refused for its time: it is said
        # The reader's broker connections when its marks were last checked (None: not yet).
        self.checked_over: frozenset[object] | None = None
        self.destination: str | None = None  # the cluster's id, asked at every open

    def new_progress(self) -> IngestProgress:
        return IngestProgress()

    def close(self) -> None:
        self.checked_over = None
        super().close()

    def stored_offsets(self) -> dict[int, int]:
        """The stored offsets, as they are: the marks are checked before the first records
        fetched from them are handled (`checked`)."""
        self.destination = kafka_client.destination(
            self.settings, self.servers, [self.topic, self.settings.topic_dead_letter])[0]
        return {p: s.next_offset for p, s in self._load().items()}

    def _load(self) -> dict[int, Stored]:
        assert self.destination is not None
        return ingest_offsets.load(self.settings, self.topic, self.destination)

    def _save(self, offsets: dict[int, Stored]) -> None:
        assert self.destination is not None
        ingest_offsets.save(self.settings, self.topic, self.destination, offsets)

    def checked(self, polled: list[kafka_client.Message], progress: IngestProgress
                ) -> list[kafka_client.Message]:
        """Before handling records fetched over connections not seen at the last check (the
        first fetch after the partitions were assigned, or after a reconnect: perhaps to a
        restarted broker whose feed refilled the topic past our offsets), check the record
        before each stored offset. A partition where it is another record, or none, or gives
        no answer, is read from 0 (readings read twice are recognised by their ids): its
        offset is stored as 0 and its polled records are dropped."""
        assert self.reader is not None
        now = self.reader.connections()
        if now == self.checked_over or not (now or polled or self.checked_over is not None):
            return polled  # (the latter: just assigned, not connected, nothing fetched yet)
        wiped, unchecked = self._check_marks()
        self.checked_over = now
        again = {*wiped, *unchecked}
        if again:  # decided once: the next check (a reopen while idle) finds offset 0 here
            self._save({p: Stored(0, None) for p in again})
        for p in again & set(self.reader.partitions):
            self.reader.seek(p, 0)
        progress.wiped += wiped
        progress.unchecked += unchecked
        return [m for m in polled if m.partition not in again] if again else polled

    def _check_marks(self) -> tuple[list[int], list[int]]:
        """(partitions whose record before the stored offset is another one or gone, those
        whose record did not answer in CHECK_WAIT seconds)."""
        stored = self._load()
        marks = {p: s.last_sha256 for p, s in stored.items()
                 if s.next_offset > 0 and s.last_sha256 is not None}
        last = kafka_client.records_at(self.settings, self.servers, self.topic,
                                       {p: stored[p].next_offset - 1 for p in marks},
                                       timeout=CHECK_WAIT)
        wiped = sorted(p for p, mark in marks.items()
                       if p in last and ((m := last[p]) is None or not same_record(mark, m)))
        return wiped, sorted(p for p in marks if p not in last)

    def after_step(self, read: int, progress: IngestProgress | None = None) -> bool:
        """A step that read nothing is still reported when it found partitions to read again."""
        return progress is not None and bool(progress.wiped or progress.unchecked)

    def handle(self, messages: list[kafka_client.Message], progress: IngestProgress) -> None:
        """Readings into the ledger, rejects to dead letters, and only then the offsets."""
        offsets: dict[int, Stored] = {}
        rejected: list[tuple[kafka_client.Message, str]] = []
        for m in messages:
            now = utc_now()
            try:
                msg = parse_message(m.value, now)
                if self._record(msg, now):
                    progress.recorded += 1
                    self._say_if_early(msg, now, progress)
                else:
                    progress.duplicates += 1
            except Rejected as exc:
                rejected.append((m, str(exc)))
            offsets[m.partition] = Stored(m.offset + 1, digest(m))
        self.dead_letters(rejected, progress)
        self._save(offsets)

    def _say_if_early(self, msg: ReadingMessage, now: datetime,
                      progress: IngestProgress) -> None:
        """Count and say a reading observed before its KPI was in force (domain/notices.py)."""
        notice = self.app.reading_notice(msg.kpi, min(msg.observed_at, now))
        if notice is not None:
            progress.before_in_force += 1
            if self.warn is not None:
                self.warn(notice, msg)

    def _record(self, msg: Any, now: Any) -> bool:
        for attempt in range(5):
            try:
                return record(self.app, msg, now)
            except ConcurrencyError:
                time.sleep(0.05 * (attempt + 1))
        return record(self.app, msg, now)


def feed_ledger(settings: Settings) -> OkrLedger:
    """The ledger the ingest records through: readings a feed sent are recorded under
    `ingest:<topic>`, not under the account that happens to run the ingest
    (ledger/principal.py). The caller closes it."""
    return OkrLedger(settings, principal=principal.feed(settings.topic_kpi_readings))


class IngestBusy(RuntimeError):
    """Another process ingests this topic for this data directory now."""


@contextmanager
def reading_alone(settings: Settings, topic: str, stop: Callable[[], bool] | None = None,
                  waiting: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold the ingest's lock on `topic` for the block (okr.locks.exclusive): without `stop`,
    IngestBusy when another process holds it; with `stop`, wait for it."""
    try:
        with exclusive(settings.home / f"ingest.{topic}.lock", stop, waiting) as ours:
            yield ours
    except Busy as exc:
        raise IngestBusy(f"another ingest is reading {topic} here (pid {exc.holder}: okr "
                         "ingest or okr up); it records the readings") from None
