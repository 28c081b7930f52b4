"""KPI ingest: readings from an external topic become KPI readings in the ledger.

For each polled batch, in partition order: every valid message is recorded in the ledger
(idempotent on its `id`, so the same id twice records once); every invalid one goes to the
dead-letter topic with the reason and its original bytes. Only then are the next offsets
stored (next to the event store), so a crash re-reads, never loses: a re-read reading is
recognised by its id. A partition whose high watermark fell below the stored offset (a wiped
broker) is read again from the start.
"""

import time
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import PersistenceError

from okr.adapters import kafka_client
from okr.consumers import offsets as ingest_offsets
from okr.consumers.runtime import PartitionConsumer
from okr.domain.base import utc_now
from okr.ledger import principal
from okr.ledger.app import ConcurrencyError, OkrLedger
from okr.ledger.readings import Rejected, parse_message, record
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
                "dead_letters": self.dead_letters}


class Ingest(PartitionConsumer[IngestProgress]):
    """Consumes the readings topic into the ledger. Use from one thread."""

    name = NAME
    # It writes to the event store too: an outage of the store is waited out like Kafka's.
    transient = (*PartitionConsumer.transient, PersistenceError)

    def __init__(self, app: OkrLedger, servers: str) -> None:
        super().__init__(app.settings, servers, app.settings.topic_kpi_readings)
        self.app = app

    def new_progress(self) -> IngestProgress:
        return IngestProgress()

    def stored_offsets(self) -> dict[int, int]:
        kafka_client.ensure_topics(self.settings, self.servers,
                                   [self.topic, self.settings.topic_dead_letter])
        return ingest_offsets.load(self.settings, self.topic)

    def handle(self, messages: list[kafka_client.Message], progress: IngestProgress) -> None:
        """Readings into the ledger, rejects to dead letters, and only then the offsets."""
        offsets: dict[int, int] = {}
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
            offsets[m.partition] = m.offset + 1
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
