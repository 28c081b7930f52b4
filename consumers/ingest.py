"""KPI ingest: readings from an external topic become KPI readings in the ledger.

For each polled batch, in partition order: every valid message is recorded in the ledger
(idempotent on its `id`, so the same id twice records once); every invalid one goes to the
dead-letter topic with the reason and its original bytes. Only then are the next offsets
stored (next to the event store), so a crash re-reads, never loses: a re-read reading is
recognised by its id. A partition whose high watermark fell below the stored offset (a wiped
broker) is read again from the start.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from okr.domain.base import utc_now
from okr.ledger import kafka_client, watermark
from okr.ledger.app import ConcurrencyError, OkrLedger
from okr.ledger.readings import Rejected, parse_message, record

NAME = "ingest"


@dataclass
class IngestProgress:
    read: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_letters: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "recorded": self.recorded, "duplicates": self.duplicates,
                "dead_letters": self.dead_letters}


class Ingest:
    """Consumes the readings topic into the ledger. Use from one thread."""

    def __init__(self, app: OkrLedger, servers: str) -> None:
        self.app = app
        self.settings = app.settings
        self.servers = servers
        self.topic = self.settings.topic_kpi_readings
        self.reader: kafka_client.PartitionReader | None = None
        self.producer: Any = None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        kafka_client.close_quietly(self.producer)
        self.producer = None

    def _open(self) -> bool:
        if self.reader is not None:
            return True
        kafka_client.ensure_topics(self.settings, self.servers,
                                   [self.topic, self.settings.topic_dead_letter])
        reader = kafka_client.PartitionReader(self.settings, self.servers, self.topic)
        if not reader.open(timeout=2.0):
            reader.close()
            return False
        stored = watermark.load_offsets(self.settings, self.topic)
        for p in reader.partitions:
            reader.seek(p, stored.get(p, 0))
        self.reader = reader
        return True

    def step(self, progress: IngestProgress) -> int:
        if not self._open():
            return 0
        assert self.reader is not None
        messages = self.reader.poll(timeout_ms=200, max_records=500)
        for p in self.reader.partitions:  # wiped and recreated: read it again
            hw = self.reader.highwater(p)
            if hw is not None and hw < self.reader.position(p):
                self.reader.seek(p, 0)
        if not messages:
            return 0
        offsets: dict[int, int] = {}
        futures = []
        for m in messages:
            now = utc_now()
            try:
                msg = parse_message(m.value, now)
                if self._record(msg, now):
                    progress.recorded += 1
                else:
                    progress.duplicates += 1
            except Rejected as exc:
                futures.append(self._dead_letter(m, str(exc)))
                progress.dead_letters += 1
            offsets[m.partition] = m.offset + 1
            progress.read += 1
        if futures:
            self.producer.flush(timeout=30)
            if not all(f.succeeded() for f in futures):
                raise kafka_client.KafkaError("could not write the dead letters")
        watermark.save_offsets(self.settings, self.topic, offsets)
        return len(messages)

    def _record(self, msg: Any, now: Any) -> bool:
        for attempt in range(5):
            try:
                return record(self.app, msg, now)
            except ConcurrencyError:
                time.sleep(0.05 * (attempt + 1))
        return record(self.app, msg, now)

    def _dead_letter(self, m: kafka_client.Message, reason: str) -> Any:
        if self.producer is None:
            self.producer = kafka_client.producer(self.settings, self.servers,
                                                  client_id="okr-ingest")
        return kafka_client.dead_letter(self.producer, self.settings, m, reason, NAME)

    def catch_up(self, on_progress: Callable[[IngestProgress], None] | None = None,
                 idle: float = 2.0) -> IngestProgress:
        progress = IngestProgress()
        if not self._open():
            return progress
        quiet = time.monotonic()
        while True:
            if self.step(progress):
                quiet = time.monotonic()
                if on_progress is not None:
                    on_progress(progress)
            assert self.reader is not None
            if self.reader.caught_up() or time.monotonic() - quiet > idle:
                return progress

    def run(self, stop: Callable[[], bool], on_batch: Callable[[IngestProgress], None],
            on_error: Callable[[Exception, float], None], health_every: float = 3.0) -> None:
        backoff, last_health = 0.5, time.monotonic()
        while not stop():
            try:
                progress = IngestProgress()
                if self.step(progress):
                    on_batch(progress)
                elif time.monotonic() - last_health > health_every:
                    last_health = time.monotonic()
                    self.close()  # a fresh client sees a restarted broker's new watermarks
                if self.reader is None:
                    time.sleep(0.2)
                backoff = 0.5
            except (kafka_client.KafkaError, OSError) as exc:
                self.close()
                on_error(exc, backoff)
                deadline = time.monotonic() + backoff
                while time.monotonic() < deadline and not stop():
                    time.sleep(0.05)
                backoff = min(backoff * 2, 10.0)
