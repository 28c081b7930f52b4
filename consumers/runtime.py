"""What every okr consumer shares: assigned partitions, our own offsets, wiped partitions,
dead letters, catch-up and the follow loop with back-off.

A consumer subclass says where its offsets live (`stored_offsets`) and what a batch does
(`handle`, which must store the next offsets only after its effects are durable).
"""

import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from okr.adapters import kafka_client
from okr.settings import Settings

POLL = 5000  # records per poll
REFILL_MS = 100  # how long a step waits for more records while partitions are behind


class Counts(Protocol):
    read: int
    dead_letters: int
    wiped: list[int]


P = TypeVar("P", bound=Counts)


class PartitionConsumer(Generic[P]):
    """One topic, every partition assigned (no group join), read from offsets we keep.
    Use from one thread."""

    name = "consumer"
    max_records = 500
    poll_records = POLL  # records per poll, up to max_records per step
    # How long the broker may hold a fetch that finds nothing: 100 ms when following (fewer
    # empty round trips), 20 ms when catching up once (a CLI read waits for the answer).
    fetch_wait_ms = 100
    catch_up_fetch_wait_ms = 20
    # Failures the follow loop waits out (back off, reconnect) instead of stopping.
    transient: tuple[type[Exception], ...] = (kafka_client.KafkaError, OSError)

    def __init__(self, settings: Settings, servers: str, topic: str) -> None:
        self.settings = settings
        self.servers = servers
        self.topic = topic
        self.reader: kafka_client.PartitionReader | None = None
        self.producer: Any = None

    # ---- what a subclass says ----------------------------------------------------------

    def new_progress(self) -> P:
        raise NotImplementedError

    def stored_offsets(self) -> dict[int, int]:
        raise NotImplementedError

    def handle(self, messages: list[kafka_client.Message], progress: P) -> None:
        raise NotImplementedError

    def after_step(self, read: int, progress: P | None = None) -> bool:
        """Called by the follow loop after every step (read = records in it); what it does
        counts in the step's `progress`. True when it did something worth saying in a step
        that read nothing (the follow loop reports such a step too)."""
        return False

    def pace(self, polled: list[kafka_client.Message]) -> None:
        """Called before every poll with the records the step polled so far: pause or resume
        partitions (default: read them all)."""

    def checked(self, polled: list[kafka_client.Message], progress: P
                ) -> list[kafka_client.Message]:
        """Called with a step's records before they are handled: the ones to handle (default:
        all). A subclass may verify its positions here and seek partitions elsewhere, or
        close its reader: the next step opens it again from the stored offsets."""
        return polled

    # ---- shared ------------------------------------------------------------------------

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        kafka_client.close_quietly(self.producer)
        self.producer = None

    def _open(self) -> bool:
        """Assign the partitions and seek from the stored offsets (False: no topic yet)."""
        if self.reader is not None:
            return True
        reader = kafka_client.PartitionReader(self.settings, self.servers, self.topic,
                                              self.fetch_wait_ms)
        try:
            if not reader.open(timeout=2.0):
                reader.close()
                return False
            stored = self.stored_offsets()
            for p in reader.partitions:
                reader.seek(p, stored.get(p, 0))
        except BaseException:
            reader.close()
            raise
        self.reader = reader
        return True

    def _seek_wiped(self, progress: P) -> None:
        """A partition whose high watermark fell below our position was wiped and refilled
        (the local broker never raises OffsetOutOfRange): read it again from the start."""
        assert self.reader is not None
        for p in self.reader.partitions:
            hw = self.reader.highwater(p)
            if hw is not None and hw < self.reader.position(p):
                self.reader.seek(p, 0)
                progress.wiped.append(p)

    def step(self, progress: P, wait_ms: int = 200) -> int:
        """Poll one batch (waiting up to wait_ms for the first record) and handle it; returns
        records read (0 when idle or no topic)."""
        if not self._open():
            return 0
        assert self.reader is not None
        # Take what has arrived, up to max_records: one transaction for many records while
        # catching up, without waiting for more when following the tail.
        self.pace([])
        messages = self.reader.poll(timeout_ms=wait_ms,
                                    max_records=min(self.poll_records, self.max_records))
        while messages and len(messages) < self.max_records:
            self.pace(messages)
            # While a backlog lasts, wait a moment for the next fetch (a paused partition's
            # peers are fetched only now) rather than write a small batch.
            more = self.reader.poll(
                timeout_ms=0 if self.reader.caught_up() else REFILL_MS,
                max_records=min(self.poll_records, self.max_records - len(messages)))
            if not more:
                break
            messages += more
        messages = self.checked(messages, progress)
        if self.reader is None:  # let go of by `checked`: opened again by the next step
            return 0
        self._seek_wiped(progress)
        if not messages:
            return 0
        self.handle(messages, progress)
        progress.read += len(messages)
        return len(messages)

    def dead_letters(self, rejected: list[tuple[kafka_client.Message, str]],
                     progress: P) -> None:
        """Send rejected records to the dead-letter topic and wait until Kafka has them."""
        if not rejected:
            return
        if self.producer is None:
            self.producer = kafka_client.producer(self.settings, self.servers,
                                                  client_id=f"okr-{self.name}")
        futures = [kafka_client.dead_letter(self.producer, self.settings, m, reason, self.name)
                   for m, reason in rejected]
        self.producer.flush(timeout=30)
        failed = [f for f in futures if not f.succeeded()]
        if failed:
            raise kafka_client.KafkaError(f"could not write {len(failed)} dead letters")
        progress.dead_letters += len(rejected)

    def catch_up(self, on_progress: Callable[[P], None] | None = None,
                 idle: float = 2.0) -> P:
        """Read to the tail seen now, then return (the `--once` mode)."""
        progress = self.new_progress()
        following, self.fetch_wait_ms = self.fetch_wait_ms, self.catch_up_fetch_wait_ms
        try:
            return self._catch_up(progress, on_progress, idle)
        finally:
            self.fetch_wait_ms = following

    def _catch_up(self, progress: P, on_progress: Callable[[P], None] | None,
                  idle: float) -> P:
        if not self._open():
            return progress
        quiet = time.monotonic()
        while True:
            if self.step(progress, wait_ms=50):  # short waits: caught_up() ends the loop
                quiet = time.monotonic()
                if on_progress is not None:
                    on_progress(progress)
            # (no reader: `checked` let go of it, the next step opens it again)
            reader = self.reader
            if (reader is not None and reader.caught_up()) or time.monotonic() - quiet > idle:
                return progress

    def run(self, stop: Callable[[], bool], on_batch: Callable[[P], None],
            on_error: Callable[[Exception, float], None], health_every: float = 3.0) -> None:
        """Follow the topic until `stop()`; back off and reconnect after broker trouble."""
        backoff, last_health = 0.5, time.monotonic()
        while not stop():
            try:
                progress = self.new_progress()
                n = self.step(progress)
                acted = self.after_step(n, progress)  # the batch's effects are complete now
                if n or acted:
                    on_batch(progress)
                if not n and time.monotonic() - last_health > health_every:
                    last_health = time.monotonic()
                    # Reopen while idle: after a broker restart an old client can wait at a
                    # stale position forever; a fresh one sees the new high watermarks.
                    self.close()
                if self.reader is None:
                    time.sleep(0.2)
                backoff = 0.5
            except self.transient as exc:
                self.close()
                on_error(exc, backoff)
                deadline = time.monotonic() + backoff
                while time.monotonic() < deadline and not stop():
                    time.sleep(0.05)
                backoff = min(backoff * 2, 10.0)
