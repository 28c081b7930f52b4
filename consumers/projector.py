"""The projection consumer: okr.ledger → DuckDB, exactly-once in effect.

One process owns the projection's work file (an exclusive lock file says which). It assigns
every partition of the topic (no group join), seeks from the offsets stored in DuckDB, and for
each polled batch:
1. decodes and validates every envelope; a bad one goes to okr.dead-letter with the reason,
   and the consumer carries on (a poison record never blocks its partition);
1b. holds every valid record at the gate (consumers/gate.py) until a signed checkpoint, read
   from okr.checkpoints and verified with the relay's public key, covers it: only the records
   on the signed chain are applied; one that conflicts with them (a forgery at the same
   position, or a second history) is dead-lettered as an alarm and logged loudly;
1c. paces the partitions: one read more than `window` positions ahead of the slowest is not
   fetched until the others caught up. A checkpoint covers a record only once every record
   before it was read, from every partition, and the client hands out one partition's
   fetched records before the next one's: unpaced, the gate held most of a long history
   while the last partition caught up (593 MB at 97,086 events); paced, what waits stays
   within a window, a batch and a checkpoint's span;
2. flushes those dead letters;
3. writes the rows and the next offsets in ONE DuckDB transaction (duplicates of an
   (aggregate id, version) change nothing); a partition's offset never passes a record still
   waiting at the gate, so a restart reads it again;
4. once it reaches the tail, closes the work file so readers can open it read-only (DuckDB
   allows one writer *or* many readers), and reopens it for the next batch;
5. at most every SNAPSHOT_EVERY seconds while events arrive, copies the work file to the
   readers' snapshot (atomic rename), which analysts' long sessions use: they never block
   the consumer and it never blocks them.
A partition whose high watermark is below the stored offset was wiped and republished (the
local broker forgets everything when it restarts): it is read again from the start.

A running consumer's reader goes on fetching after the broker restarted: a topic the relay
refilled past its positions within one poll would be read on from them, with no error, though
they name other records now (a log that held some events twice, a topic created again with
other partitions). So whenever the reader's broker connections or the topic's id changed since
the last step, its records are dropped and it is opened again: from the offsets stored with
the rows, each checked against the record before it (`stored_offsets`), every partition of the
topic as it is now; the checkpoints topic, refilled too, is read again from its start.
A topic found with other partitions than configured (Tansu creates one with 4 when a client
asks for it before the relay made it) is said once (`Progress.partitions`).
"""

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from okr.adapters import kafka_client
from okr.consumers.gate import START, Gate, Head, Waiting
from okr.consumers.runtime import PartitionConsumer
from okr.errors import ProjectionUnavailable
from okr.projections.access import SNAPSHOT_EVERY, snapshot_due
from okr.projections.store import ConsumedRecord, Projection, ProjectionLocked
from okr.record.envelope import Checked, Envelope, checked
from okr.settings import Settings, SettingsError

NAME = "projector"
log = logging.getLogger("okr.projector")
# How far (in positions) a partition may be read ahead of the slowest one before it is paused:
# many signed checkpoints' span (the relay signs every 1,000 events by default), so the gate
# releases while the others catch up, and few enough records to hold (~1.3 KB each). A
# partition's fetch brings up to ~5,000 of its records, which span ~30,000 positions of six
# partitions, so pacing costs fetch round trips. Measured at 0.3 scale (291,204 events):
# unpaced 482 MB peak in 18 s; 20,000: 335 MB, 20-23 s; 10,000: 308-325 MB, 23-24 s;
# 5,000: 314 MB, 30 s (steps of 1,000 records).
WINDOW = 10_000
# How long one batch waits at most for the checkpoints topic's tail.
CHECKPOINT_WAIT = 1.0


@dataclass
class Progress:
    """What a catch-up or a step did. The counts are of different records: `stored` events
    applied include records read in an earlier step that waited at the gate until a signed
    checkpoint covered them, so they do not add up to `read`."""

    read: int = 0  # records read from the ledger topic
    stored: int = 0  # events applied: new rows in the projection
    duplicates: int = 0  # records the projection already held (or already dead-lettered)
    dead_letters: int = 0  # records sent to the dead-letter topic (`forged` ones among them)
    wiped: list[int] = field(default_factory=list)
    forged: int = 0  # records conflicting with the signed chain (dead-lettered, alarmed)
    waiting: int = 0  # records held now because no verified checkpoint covers them yet
    # reconnected, or the topic created again: read again from the stored offsets, checked
    reread: bool = False
    # (topic, partitions found, partitions configured) when they differ, said once
    partitions: tuple[str, int, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "stored": self.stored, "applied": self.stored,
                "duplicates": self.duplicates, "dead_letters": self.dead_letters,
                "wiped_partitions": self.wiped, "forged": self.forged,
                "waiting": self.waiting, "reread": self.reread,
                "partitions": None if self.partitions is None else dict(zip(
                    ("topic", "found", "configured"), self.partitions, strict=True))}

    def said(self) -> str:
        """One line for people, each count named for what it is (the applied ones are not
        necessarily among the records read: see the class)."""
        forged = f" ({self.forged} forged)" if self.forged else ""
        wiped = (f"; partitions {', '.join(map(str, self.wiped))} were wiped, reading them "
                 "again" if self.wiped else "")
        reread = ("; the broker connection or the topic changed (a broker restart?): read "
                  "again from the stored offsets, checked" if self.reread else "")
        parts = ""
        if self.partitions is not None:
            topic, found, configured = self.partitions
            parts = (f"; {topic} has {found} partitions where {configured} are configured "
                     "(OKR_PARTITIONS): a client's request created it after a broker restart? "
                     "the relay creates it again when it finds it short")
        return (f"read {self.read} records; {self.stored} applied, {self.duplicates} "
                f"duplicates, {self.dead_letters} dead letters{forged}; {self.waiting} waiting "
                f"for a signed checkpoint{wiped}{reread}{parts}")

    def worth_saying(self) -> bool:
        """Something happened that a step reading nothing still reports."""
        return bool(self.wiped or self.reread or self.partitions)


def reject_reason(exc: Exception) -> str:
    """One line saying why a record was rejected."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"invalid envelope: {where + ': ' if where else ''}{err['msg']}"
    return f"invalid envelope: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def envelope_of(message: kafka_client.Message) -> Envelope | str:
    """The envelope of a record, or why it is rejected: pydantic's Envelope reads and validates
    it, then the hash over its bytes, then its Kafka key. What `decode` falls back to for every
    record its quick path does not accept, and the oracle that path is held to
    (tests/unit/test_decode_differential.py)."""
    if message.value is None:
        return "invalid envelope: empty record (tombstone)"
    try:
        env = Envelope.from_bytes(message.value)
    except (ValidationError, ValueError) as exc:
        return reject_reason(exc)
    if not env.hash_ok(message.value):
        return f"hash mismatch at position {env.position}: the envelope was altered"
    if message.key is not None and message.key != env.aggregate_id.encode():
        return "record key does not match the envelope's aggregate_id"
    return env


def decode(message: kafka_client.Message) -> Checked | str:
    """The chain link of a valid record, or why it is rejected. Most records are read by
    `checked` (one parse in C); the rest by `envelope_of`, which says why."""
    link = None if message.value is None else checked(message.value)
    if link is None:
        env = envelope_of(message)
        if isinstance(env, str):
            return env
        return Checked(env.position, env.hash, env.prev_hash, env.aggregate_id, env.version)
    if message.key is not None and message.key != link.aggregate_id.encode():
        return "record key does not match the envelope's aggregate_id"
    return link


def public_key(settings: Settings) -> str | None:
    """The key checkpoints must verify with: OKR_PUBLIC_KEY, else the relay's own key's public
    half when this machine holds it (never created here)."""
    from okr.record.signing import existing_public_key_pem, load_public_key

    if settings.public_key is not None:
        try:
            pem = settings.public_key.read_text(encoding="utf-8")
            load_public_key(pem)
        except (OSError, ValueError, TypeError) as exc:
            raise SettingsError(f"OKR_PUBLIC_KEY {settings.public_key}: not an Ed25519 public "
                                f"key in PEM form ({exc})") from None
        return pem
    return existing_public_key_pem(settings.signing_key_file)


def publish_snapshot(projection: Projection, settings: Settings) -> Path:
    """Copy the work file to the readers' snapshot atomically (open sessions keep reading the
    copy they opened). The writer lets go of the file while it is copied."""
    projection.checkpoint()
    projection.release()
    snap = settings.duckdb_file
    tmp = settings.projection_work_file.with_name(snap.name + ".tmp")  # out of analysts' sight
    shutil.copyfile(projection.path, tmp)
    os.replace(tmp, snap)
    return snap


def _last_positions(polled: list[kafka_client.Message]) -> dict[int, int]:
    """The `position` header of each partition's last record among these (where it reads as
    a number)."""
    out: dict[int, int] = {}
    seen: set[int] = set()
    for m in reversed(polled):
        if m.partition in seen:
            continue
        seen.add(m.partition)
        for name, value in m.headers:
            if name == "position" and value.isdigit():
                out[m.partition] = int(value)
    return out


def _describe(m: kafka_client.Message) -> str:
    """A held record's type, aggregate and actor, for a conflict's reason (it was valid when
    held, so it decodes)."""
    env = Envelope.from_bytes(m.value or b"")
    return f"{env.type}, {env.aggregate_id} v{env.version}, actor {env.actor[:40]!r}, "


class Projector(PartitionConsumer[Progress]):
    """Feeds one Projection from okr.ledger. Use from one thread."""

    name = NAME
    poll_records = 1_000  # small polls: pacing sees each partition's reach between them
    # The work file held by a reader longer than the projection waits to open it (60 s), or
    # briefly not writable: waited out like broker trouble (back off, log, try again).
    transient = (*PartitionConsumer.transient, ProjectionLocked, ProjectionUnavailable)

    def __init__(self, settings: Settings, servers: str, projection: Projection,
                 batch: int = 10_000, snapshot_every: float = SNAPSHOT_EVERY,
                 window: int = WINDOW) -> None:
        super().__init__(settings, servers, settings.topic_ledger)
        self.projection = projection
        self.max_records = batch
        self.snapshot_every = snapshot_every
        self.window = window
        # DuckDB runs a transaction without holding the GIL: one thread writes batch N while
        # this one polls and validates batch N+1 (only ever one transaction in flight). The
        # thread lives from the first batch to close().
        self._writer: ThreadPoolExecutor | None = None
        self._inflight: tuple[Future[int], Progress, int] | None = None
        self.gate: Gate[kafka_client.Message] | None = None
        self.checkpoint_reader: kafka_client.PartitionReader | None = None
        self.read_to: dict[int, int] = {}  # next offset to read per partition
        self.reached: dict[int, int] = {}  # position of the last valid record per partition
        # Offsets per partition of the records dead-lettered at or past the stored offset:
        # read again (from a record waiting before them), they are not sent again.
        self.sent: dict[int, set[int]] = {}
        # What the reader was connected over and the topic's id when last looked at (None:
        # not yet known).
        self.seen_id: object | None = None
        self.seen_over: frozenset[object] | None = None
        self.refilled: list[int] = []  # found by `stored_offsets`, said by the next step
        self.partition_count: int | None = None  # the topic's count when last said
        self.found: tuple[str, int, int] | None = None  # a count to say by the next step

    def new_progress(self) -> Progress:
        return Progress()

    def stored_offsets(self) -> dict[int, int]:
        """The offsets stored with the rows, except where the record just before one is not
        an event we stored: the topic was wiped and refilled past our offset (a broker that
        restarted, a republish with new events, while no consumer ran). Such a partition is
        read again from 0; duplicates change nothing.

        The work file is held only for the two short reads, not while Kafka is asked (an idle
        consumer does this every few seconds; readers should not wait for it)."""
        self.settle()
        stored = self.projection.offsets(self.topic)
        self.sent = self.projection.dead_lettered(self.topic)
        if self.gate is None:
            self.gate = Gate(self._applied_head(), None, self.topic, describe=_describe)
        self.gate.waiting.clear()  # read again from the stored offsets
        self.reached = {}
        self.projection.release()
        last = kafka_client.records_at(self.settings, self.servers, self.topic,
                                       {p: o - 1 for p, o in stored.items() if o > 0})
        # (a record we dead-lettered has nothing to compare with: its offset stands)
        events = {p: env for p, m in last.items()
                  if m is not None and not isinstance(env := decode(m), str)}
        if not events:
            return stored
        try:
            wiped = {p for p, env in events.items()
                     if not self.projection.has_event(env.aggregate_id, env.version)}
        finally:
            self.projection.release()
        for p in wiped:  # another incarnation of the partition: its offsets name other records
            self.sent.pop(p, None)
        self.refilled = sorted(wiped)
        return {p: 0 if p in wiped else o for p, o in stored.items()}

    def _open(self) -> bool:
        """The reader, opened if it is not (see PartitionConsumer); a new one's partition count
        is compared with the configured one."""
        fresh = self.reader is None
        if not super()._open():
            return False
        assert self.reader is not None
        if fresh:
            self.seen_id, self.seen_over = self.reader.topic_id(), None
            found, configured = len(self.reader.partitions), self.settings.partitions
            if found != configured and found != self.partition_count:
                self.found = (self.topic, found, configured)
            self.partition_count = found
        return True

    def checked(self, polled: list[kafka_client.Message], progress: Progress
                ) -> list[kafka_client.Message]:
        """The step's records, unless the reader reconnected (a restarted broker, whose topic
        the relay may have refilled past our positions within this very poll) or the topic's
        id changed (deleted and created again) since the last step: then none, and the reader
        is let go of, to be opened again by the next step from the stored offsets, checked
        against the topic as it is now (see the module's docstring)."""
        reader = self.reader
        assert reader is not None
        progress.wiped += self.refilled
        self.refilled = []
        if self.found is not None:
            progress.partitions, self.found = self.found, None
        topic_id, over = reader.topic_id(), reader.connections()
        if ((self.seen_id is not None and topic_id is not None and topic_id != self.seen_id)
                or (self.seen_over is not None and over != self.seen_over)):
            progress.reread = True  # said by the follow loop (`worth_saying`)
            self._let_go()
            return []
        if self.seen_id is None:
            self.seen_id = topic_id
        if self.seen_over is None and over:  # connected by the first fetch after opening
            self.seen_over = over
        return polled

    def _let_go(self) -> None:
        """Close both readers (the next step opens them again, the checkpoints' at its start:
        the topic may hold fewer records now than our position), keeping the writer."""
        self.settle()
        if self.checkpoint_reader is not None:
            self.checkpoint_reader.close()
            self.checkpoint_reader = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.read_to, self.reached = {}, {}

    def _applied_head(self) -> Head:
        """The last applied record (the gate releases chain prefixes only)."""
        head = self.projection.head()
        return START if head is None else Head(*head)

    def _read_checkpoints(self) -> None:
        """Offer the gate every checkpoint published since the last call."""
        assert self.gate is not None
        if self.gate.signature_ok is None:
            from okr.record.signing import verifier
            pem = public_key(self.settings)
            if pem is None:
                return  # no key yet (no relay has signed): records wait
            self.gate.signature_ok = verifier(pem)
        if self.checkpoint_reader is None:
            reader = kafka_client.PartitionReader(self.settings, self.servers,
                                                  self.settings.topic_checkpoints, 20)
            if not reader.open(timeout=2.0):
                reader.close()
                return
            for p in reader.partitions:
                reader.seek(p, 0)
            self.checkpoint_reader = reader
        reader = self.checkpoint_reader
        # To the topic's tail (an empty poll may only mean the fetch is still under way): a
        # checkpoint read a few batches late makes the gate hold those batches meanwhile.
        deadline = time.monotonic() + CHECKPOINT_WAIT
        while True:
            messages = reader.poll(timeout_ms=20, max_records=5000)
            for m in messages:
                try:
                    self.gate.offer(json.loads(m.value or b""))
                except ValueError:
                    continue  # not a checkpoint: verify reports what the topic holds
            if reader.caught_up() or (not messages and time.monotonic() > deadline):
                return

    def _through_gate(self, held: list[Waiting[kafka_client.Message]],
                      rejected: list[tuple[kafka_client.Message, str]],
                      progress: Progress) -> list[ConsumedRecord]:
        """Hold valid records until a verified checkpoint covers them; the records it covers,
        in position order (conflicting ones join `rejected`)."""
        gate = self.gate
        assert gate is not None
        forged: list[tuple[kafka_client.Message, str]] = []
        old = [w for w in held if w.position <= gate.head.position]
        if old:  # at or below the applied head: a duplicate, or a conflict with the truth
            applied = self.projection.hashes_at(sorted({w.position for w in old}))
            for w in old:
                if applied.get(w.position, w.hash) != w.hash:
                    forged.append((w.item, f"forged or conflicting record: position "
                                           f"{w.position} ({_describe(w.item)}hash "
                                           f"{w.hash[:16]}…) differs from the verified record "
                                           "applied there"))
                else:
                    progress.duplicates += 1
        for w in held:
            if w.position > gate.head.position:
                gate.keep(w)
        self._read_checkpoints()
        released, conflicts = gate.release()
        forged += [(w.item, why) for w, why in conflicts]
        forged = self._not_sent(forged, progress)
        for _, why in forged:
            log.error("ALARM: %s — dead-lettered; run `okr audit verify`", why)
        rejected += forged
        progress.forged += len(forged)
        progress.waiting = gate.held_count()
        return [ConsumedRecord(w.item.value or b"", w.item.partition, w.item.offset)
                for w in released]

    def _not_sent(self, rejected: list[tuple[kafka_client.Message, str]], progress: Progress
                  ) -> list[tuple[kafka_client.Message, str]]:
        """The rejected records not dead-lettered already (a record waiting at the gate before
        them in their partition made this consumer read them again)."""
        fresh = [(m, why) for m, why in rejected
                 if m.offset not in self.sent.get(m.partition, ())]
        progress.duplicates += len(rejected) - len(fresh)
        return fresh

    def _offsets(self) -> dict[int, int]:
        """The next offsets to store: never past a record still waiting at the gate."""
        assert self.gate is not None
        out = dict(self.read_to)
        for w in self.gate.held():
            p = w.item.partition
            out[p] = min(out.get(p, w.item.offset), w.item.offset)
        return out

    def handle(self, messages: list[kafka_client.Message], progress: Progress) -> None:
        """Dead letters first, then rows and next offsets in one DuckDB transaction."""
        # only the chain links of the batch's envelopes are kept (thousands of them wait)
        held: list[Waiting[kafka_client.Message]] = []
        rejected: list[tuple[kafka_client.Message, str]] = []
        for m in messages:
            result = decode(m)
            if isinstance(result, str):
                rejected.append((m, result))
            else:
                # without its headers (a third of what a waiting record kept): a conflict's
                # dead letter carries its key, bytes and where it was read
                held.append(Waiting(result.position, result.hash, result.prev_hash,
                                    m._replace(headers=())))
                self.reached[m.partition] = result.position
            self.read_to[m.partition] = max(self.read_to.get(m.partition, 0), m.offset + 1)
        self.settle()
        good = self._through_gate(held, rejected, progress)
        self._apply(good, rejected, progress)

    def pace(self, polled: list[kafka_client.Message]) -> None:
        """Pause the partitions read more than `window` positions ahead of the slowest one
        still being read, resume the others. The slowest is never paused (one not read from
        yet counts as the slowest; one at its tail does not count), so reading always goes on.
        Within a step, where records are polled but not yet decoded, a partition's reach is
        taken from the relay's `position` header of its last record (pacing only: what is
        applied is decided by the envelopes and the gate)."""
        reader = self.reader
        if reader is None:
            return
        for p, pos in _last_positions(polled).items():
            self.reached[p] = max(self.reached.get(p, -1), pos)
        behind = [self.reached.get(p, -1) for p in reader.partitions if not reader.at_tail(p)]
        floor = min(behind, default=0) + self.window
        reader.pause({p for p in reader.partitions
                      if self.reached.get(p, -1) > floor and not reader.at_tail(p)})

    def _apply(self, good: list[ConsumedRecord], rejected: list[tuple[kafka_client.Message,
               str]], progress: Progress) -> None:
        offsets = self._offsets()
        rejected = self._not_sent(rejected, progress)
        self.dead_letters(rejected, progress)
        for m, _ in rejected:
            self.sent.setdefault(m.partition, set()).add(m.offset)
        # Kept only at or past the offset stored: below it nothing is read again.
        self.sent = {p: {o for o in os_ if o >= offsets.get(p, 0)}
                     for p, os_ in self.sent.items()}
        marks = {p: sorted(os_) for p, os_ in self.sent.items() if os_}
        self.settle()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="okr-duckdb")
        self._inflight = (self._writer.submit(self.projection.apply, self.topic, good, offsets,
                                              marks),
                          progress, len(good))

    def settle(self) -> None:
        """Wait for the transaction in flight (its error, if any, is raised here)."""
        if self._inflight is not None:
            future, progress, good = self._inflight
            self._inflight = None
            try:
                added = future.result()
            except BaseException:
                self.gate = None  # its head ran ahead of what was stored: read it again
                raise
            progress.stored += added
            progress.duplicates += good - added

    def catch_up(self, on_progress: Callable[[Progress], None] | None = None,
                 idle: float = 2.0) -> Progress:
        progress = super().catch_up(on_progress, idle)
        self.release_waiting(progress)
        self.settle()
        return progress

    def release_waiting(self, progress: Progress | None = None) -> bool:
        """Apply waiting records a checkpoint published meanwhile now covers (counted in
        `progress`); True when some were applied or rejected."""
        if self.gate is None or not self.gate.waiting or self.reader is None:
            return False
        progress = Progress() if progress is None else progress
        rejected: list[tuple[kafka_client.Message, str]] = []
        self.settle()
        good = self._through_gate([], rejected, progress)
        if good or rejected:
            self._apply(good, rejected, progress)
        return bool(good or rejected)

    def close(self) -> None:
        try:
            self.settle()
        finally:
            if self._writer is not None:
                self._writer.shutdown()
                self._writer = None
            if self.checkpoint_reader is not None:
                self.checkpoint_reader.close()
                self.checkpoint_reader = None
            self.read_to, self.reached = {}, {}
            super().close()

    def after_step(self, read: int, progress: Progress | None = None) -> bool:
        """Once the tail is reached, let go of the work file so readers can open it (they
        see every event projected so far) — before asking Kafka for the checkpoints that
        release waiting records, so readers never wait on that; republish the snapshot when
        it is due. The records released count in the step's `progress`: those read in an
        earlier step are applied in this one (True when there were some, or when the step
        found something else to say: partitions read again, a reread, a partition count)."""
        self.settle()
        at_tail = not read or (self.reader is not None and self.reader.caught_up())
        if at_tail:
            self.projection.release()
        released = self.release_waiting(progress)
        self.settle()
        if self.snapshot_due():
            self.publish()
        elif at_tail:
            self.projection.release()
        return released or (progress is not None and progress.worth_saying())

    def snapshot_due(self) -> bool:
        """The snapshot is missing, or older than the work file by `snapshot_every` seconds."""
        return snapshot_due(self.settings, self.snapshot_every)

    def publish(self) -> None:
        """Publish the readers' snapshot now."""
        publish_snapshot(self.projection, self.settings)
