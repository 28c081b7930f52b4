"""The projection consumer: okr.ledger → DuckDB, exactly-once in effect.

One process owns the projection's work file (an exclusive lock file says which). It assigns
every partition of the topic (no group join), seeks from the offsets stored in DuckDB, and for
each polled batch:
1. decodes and validates every envelope; a bad one goes to okr.dead-letter with the reason,
   and the consumer carries on (a poison record never blocks its partition);
2. flushes those dead letters;
3. writes the rows and the next offsets in ONE DuckDB transaction (duplicates of an
   (aggregate id, version) change nothing);
4. publishes a read-only snapshot of the file for readers (atomic rename), so CLI readers and
   analysts are never locked out by the running consumer.
A partition whose high watermark is below the stored offset was wiped and republished (the
local broker forgets everything when it restarts): it is read again from the start.
"""

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from okr.ledger import kafka_client
from okr.ledger.envelope import Envelope
from okr.ledger.settings import Settings
from okr.projections.store import Located, Projection

NAME = "projector"


class ProjectionBusy(RuntimeError):
    """Another process owns the projection's work file."""


@dataclass
class Progress:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    wiped: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "stored": self.stored, "duplicates": self.duplicates,
                "dead_letters": self.dead_letters, "wiped_partitions": self.wiped}


def reject_reason(exc: Exception) -> str:
    """One line saying why a record was rejected."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"invalid envelope: {where + ': ' if where else ''}{err['msg']}"
    return f"invalid envelope: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def decode(message: kafka_client.Message) -> Envelope | str:
    """The envelope of a record, or why it is rejected."""
    if message.value is None:
        return "invalid envelope: empty record (tombstone)"
    try:
        env = Envelope.from_bytes(message.value)
    except (ValidationError, ValueError) as exc:
        return reject_reason(exc)
    if not env.hash_ok():
        return f"hash mismatch at position {env.position}: the envelope was altered"
    if message.key is not None and message.key != env.aggregate_id.encode():
        return "record key does not match the envelope's aggregate_id"
    return env


@contextmanager
def owning(settings: Settings, wait: bool = False) -> Iterator[None]:
    """Hold the projection's writer lock (raises ProjectionBusy unless `wait`)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.projection_lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ProjectionBusy("a projection consumer is running (okr consume / okr up)"
                                 ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def consumer_running(settings: Settings) -> bool:
    try:
        with owning(settings):
            return False
    except ProjectionBusy:
        return True


def publish_snapshot(projection: Projection, settings: Settings) -> Path:
    """Copy the work file to the readers' file atomically (readers keep their open copy)."""
    projection.checkpoint()
    snap = settings.duckdb_file
    tmp = snap.with_name(snap.name + ".tmp")
    shutil.copyfile(projection.path, tmp)
    os.replace(tmp, snap)
    return snap


class Projector:
    """Feeds one Projection from okr.ledger. Use from one thread."""

    def __init__(self, settings: Settings, servers: str, projection: Projection,
                 batch: int = 5000) -> None:
        self.settings = settings
        self.servers = servers
        self.topic = settings.topic_ledger
        self.projection = projection
        self.batch = batch
        self.reader: kafka_client.PartitionReader | None = None
        self.producer: Any = None
        self.total = Progress()

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
        reader = kafka_client.PartitionReader(self.settings, self.servers, self.topic)
        if not reader.open(timeout=2.0):
            reader.close()
            return False
        stored = self.projection.offsets(self.topic)
        for p in reader.partitions:
            reader.seek(p, stored.get(p, 0))
        self.reader = reader
        return True

    def _check_wiped(self, progress: Progress) -> None:
        """Seek to the start of partitions whose high watermark fell below our offset."""
        assert self.reader is not None
        for p in self.reader.partitions:
            hw = self.reader.highwater(p)
            if hw is not None and hw < self.reader.position(p):
                self.reader.seek(p, 0)
                progress.wiped.append(p)

    def step(self, progress: Progress) -> int:
        """Poll one batch and apply it; returns records read (0 when idle or no topic)."""
        if not self._open():
            return 0
        assert self.reader is not None
        messages = self.reader.poll(timeout_ms=200, max_records=self.batch)
        self._check_wiped(progress)
        if not messages:
            return 0
        good: list[Located] = []
        rejected: list[tuple[kafka_client.Message, str]] = []
        offsets: dict[int, int] = {}
        for m in messages:
            result = decode(m)
            if isinstance(result, str):
                rejected.append((m, result))
            else:
                good.append(Located(result, m.partition, m.offset))
            offsets[m.partition] = max(offsets.get(m.partition, 0), m.offset + 1)
        if rejected:
            self._dead_letters(rejected)
        added = self.projection.apply(self.topic, good, offsets)
        progress.read += len(messages)
        progress.stored += added
        progress.duplicates += len(good) - added
        progress.dead_letters += len(rejected)
        return len(messages)

    def _dead_letters(self, rejected: list[tuple[kafka_client.Message, str]]) -> None:
        if self.producer is None:
            self.producer = kafka_client.producer(self.settings, self.servers,
                                                  client_id="okr-projector")
        futures = [kafka_client.dead_letter(self.producer, self.settings, m, reason, NAME)
                   for m, reason in rejected]
        self.producer.flush(timeout=30)
        failed = [f for f in futures if not f.succeeded()]
        if failed:
            raise kafka_client.KafkaError(f"could not write {len(failed)} dead letters")

    def catch_up(self, on_progress: Callable[[Progress], None] | None = None,
                 idle: float = 2.0) -> Progress:
        """Read to the tail seen now, then return (`okr consume --once`, CLI reads)."""
        progress = Progress()
        if not self._open():
            return progress
        quiet = time.monotonic()
        while True:
            n = self.step(progress)
            if n:
                quiet = time.monotonic()
                if on_progress is not None:
                    on_progress(progress)
            assert self.reader is not None
            if self.reader.caught_up() or time.monotonic() - quiet > idle:
                return progress

    def run(self, stop: Callable[[], bool], on_batch: Callable[[Progress], None],
            on_error: Callable[[Exception, float], None], health_every: float = 3.0,
            publish_every: float = 0.3) -> None:
        """Follow the topic until `stop()`; reconnect after broker trouble; publish snapshots."""
        backoff, last_health, last_publish, dirty = 0.5, time.monotonic(), 0.0, True
        while not stop():
            try:
                progress = Progress()
                n = self.step(progress)
                if n:
                    dirty = True
                    on_batch(progress)
                if dirty and (not n or time.monotonic() - last_publish > publish_every):
                    publish_snapshot(self.projection, self.settings)
                    last_publish, dirty = time.monotonic(), False
                if not n and time.monotonic() - last_health > health_every:
                    last_health = time.monotonic()
                    # Reopen while idle: after a broker restart an old client can wait at a
                    # stale position forever; a fresh one sees the new high watermarks.
                    self.close()
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
