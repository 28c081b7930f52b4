"""KPI ingest: readings from an external topic become KPI readings in the ledger.

For each polled batch, in partition order: every valid message is recorded in the ledger
(idempotent on its `id`, so the same id twice records once); every invalid one goes to the
dead-letter topic with the reason and its original bytes. Only then are the next offsets
stored (next to the event store), so a crash re-reads, never loses: a re-read reading is
recognised by its id. A partition whose high watermark fell below the stored offset, or whose
record just before it is not the one we handled there (a memory broker restarted and a feed
refilled the topic past our offset), is read again from the start: the offsets named records
of a topic that is gone.

One ingest reads a topic per data directory at a time (an exclusive lock file beside the
store, `ingest.<topic>.lock`): two would read the same batches and dead-letter every bad
message twice. A second `okr ingest --once` is refused; a second follower (`okr up`,
`okr ingest`) waits for the first to stop.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import PersistenceError

from okr.adapters import kafka_client
from okr.consumers import offsets as ingest_offsets
from okr.consumers.offsets import Stored, digest
from okr.consumers.runtime import PartitionConsumer
from okr.domain.base import utc_now
from okr.ledger import principal
from okr.ledger.app import ConcurrencyError, OkrLedger
from okr.ledger.readings import Rejected, parse_message, record
from okr.locks import Busy, exclusive
from okr.settings import Settings

NAME = "ingest"


@dataclass
class IngestProgress:
    read: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    wiped: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "recorded": self.recorded, "duplicates": self.duplicates,
                "dead_letters": self.dead_letters, "wiped_partitions": self.wiped}

    def said(self) -> str:
        """One line for people (`okr ingest --once` and the running ingest's log)."""
        wiped = (f"; partitions {', '.join(map(str, self.wiped))} were refilled, reading them "
                 "again" if self.wiped else "")
        return (f"read {self.read} messages: {self.recorded} recorded, {self.duplicates} "
                f"duplicates, {self.dead_letters} dead letters{wiped}")


class Ingest(PartitionConsumer[IngestProgress]):
    """Consumes the readings topic into the ledger. Use from one thread."""

    name = NAME
    # It writes to the event store too: an outage of the store is waited out like Kafka's.
    transient = (*PartitionConsumer.transient, PersistenceError)

    def __init__(self, app: OkrLedger, servers: str) -> None:
        super().__init__(app.settings, servers, app.settings.topic_kpi_readings)
        self.app = app
        self.wiped: list[int] = []  # partitions found refilled when they were assigned

    def new_progress(self) -> IngestProgress:
        return IngestProgress()

    def stored_offsets(self) -> dict[int, int]:
        """The stored offsets, except where the record before one is not the record we
        handled there: that partition is another topic's now (see the module's docstring)
        and is read from 0; readings read twice are recognised by their ids."""
        kafka_client.ensure_topics(self.settings, self.servers,
                                   [self.topic, self.settings.topic_dead_letter])
        stored = ingest_offsets.load(self.settings, self.topic)
        marked = {p: s.next_offset - 1 for p, s in stored.items()
                  if s.next_offset > 0 and s.last_sha256 is not None}
        last = kafka_client.records_at(self.settings, self.servers, self.topic, marked)
        self.wiped = [p for p, m in last.items() if digest(m.value) != stored[p].last_sha256]
        return {p: 0 if p in self.wiped else s.next_offset for p, s in stored.items()}

    def handle(self, messages: list[kafka_client.Message], progress: IngestProgress) -> None:
        """Readings into the ledger, rejects to dead letters, and only then the offsets."""
        if self.wiped:  # found when the partitions were assigned (stored_offsets)
            progress.wiped += self.wiped
            self.wiped = []
        offsets: dict[int, Stored] = {}
        rejected: list[tuple[kafka_client.Message, str]] = []
        for m in messages:
            now = utc_now()
            try:
                msg = parse_message(m.value, now)
                if self._record(msg, now):
                    progress.recorded += 1
                else:
                    progress.duplicates += 1
            except Rejected as exc:
                rejected.append((m, str(exc)))
            offsets[m.partition] = Stored(m.offset + 1, digest(m.value))
        self.dead_letters(rejected, progress)
        ingest_offsets.save(self.settings, self.topic, offsets)

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
