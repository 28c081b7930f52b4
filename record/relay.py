"""The relay: every stored event, in notification order, onto okr.ledger (transactional outbox).

Order of a step, and why:
1. read a page of notifications after the last page sent (the store is the source of truth);
2. map each to its chained envelope and send it (key = aggregate id, so one aggregate's events
   stay ordered in one partition; headers repeat type and position);
3. while that page is on its way, wait until Kafka acknowledged every record of the page
   before (acks=all) — pages overlap, so the producer never drains between them…
4. …and only then write that page's watermark (position, chain head, count) next to the
   event store, and publish the signed checkpoints that fell inside it;
5. a flush that published events ends with a signed checkpoint over the chain head and the
   Merkle tree head, written to the relay's own file first, then to okr.checkpoints.
What is read again from the store, so that a write's publishing costs the same however long
the history is (docs/envelope.md, "What the relay re-reads"): before every publish, the event
at the watermark (`_checked_head`: StoreDiverged); when the relay starts, the events after its
last own checkpoint up to the watermark (`_tree_at`: HistoryContradiction); on a republish
from the start, every event, each signed count compared with the checkpoint signed there
before that event is sent (`_send_page`: HistoryContradiction, nothing signed). An edit further
back is left to `okr audit verify` and the next republish.
A crash anywhere re-sends from the last watermark: duplicates, which consumers drop by
(aggregate id, version). A topic found missing, or holding fewer records than the watermark
counts (wiped broker, recreated topic), is republished from the start of the store.
"""

import json
import os
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import PersistenceError

from okr.adapters import kafka_client
from okr.ledger.app import OkrLedger
from okr.record import checkpoints, watermark
from okr.record.checkpoints import HistoryContradiction
from okr.record.destination import remember as remember_destination
from okr.record.envelope import GENESIS_HASH, Envelope, Published, canonical_json, published
from okr.record.merkle import CompactRange, envelope_leaf
from okr.record.pages import PagesError, after, page_of, pages
from okr.record.running import relaying
from okr.record.watermark import START, Watermark
from okr.settings import Settings

Progress = Callable[[int, int], None]  # (published so far, position)
STORE_LOOK = 0.01  # seconds between two looks at a SQLite store's files while idle (Relay._idle)
# (inode, size, mtime) of a SQLite store's file and its WAL; None for another store
StoreState = tuple[tuple[int, int, int], ...] | None


class RelayError(RuntimeError):
    """Publishing failed; nothing after the last watermark is considered published."""


class StoreDiverged(RelayError):
    """The event store no longer holds what was published (a row deleted, replaced or its
    position reused): an alarm; nothing more is published until someone looks."""


@dataclass
class RelayResult:
    published: int = 0
    position: int = 0
    count: int = 0
    republished: bool = False
    # the topic held fewer records than published and had other partitions than configured:
    # deleted and created again before the republish
    recreated: bool = False
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"published": self.published, "position": self.position, "count": self.count,
                "republished": self.republished, "recreated": self.recreated,
                "checkpoints": self.checkpoints}

    def said(self) -> str:
        """What a person is told beyond the counts: a republish, and a topic created again."""
        if not self.republished:
            return ""
        if self.recreated:
            return ("the topic had lost what was published and had other partitions than "
                    "configured: created it again and republished the log")
        return "the topic had lost what was published: republished the log"


def pending(app: OkrLedger, position: int, cap: int = 100_000) -> int:
    """How many stored events lie after a position (capped, for messages to people)."""
    start = position or None
    return len(app.recorder.select_notifications(start, cap, inclusive_of_start=False))


class Relay:
    """Publishes the event store to Kafka; one instance per process, used from one thread."""

    def __init__(self, app: OkrLedger, servers: str, *, inline: bool = False,
                 progress: Progress | None = None) -> None:
        self.app = app
        self.settings = app.settings
        self.servers = servers
        self.topic = self.settings.topic_ledger
        self.progress = progress
        # Inline publishing after a CLI write must give up quickly when Kafka is away, and
        # leaves counting the topic's records to the relays that run for longer (below).
        self.inline = inline
        self.timeouts = (dict(max_block_ms=3000, request_timeout_ms=3000,
                              delivery_timeout_ms=6000, bootstrap_timeout_ms=3000)
                         if inline else {})
        self.producer: Any = None
        self.destination: str | None = None  # the cluster's id (record/watermark.py)
        self.mark: Watermark | None = None
        self.tree: CompactRange | None = None  # the Merkle tree's compact range at the mark
        self.signed: dict[int, dict[str, Any]] = {}  # own checkpoints by event count
        self.last_signed: dict[str, Any] | None = None
        self.republished = False
        self.recreated = False

    # ---- setup -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the topics, load the watermark, and detect a wiped or recreated topic.

        A topic this relay had to create lost everything (a restarted memory broker). One that
        exists but holds fewer records than the watermark counts, or not this chain up to its
        head, was recreated or truncated behind our back: counting costs a consumer and a
        poll, so inline publishing after a CLI write skips it, and `okr relay` / `okr up` do
        it when they start."""
        s = self.settings
        bootstrap_ms = self.timeouts.get("bootstrap_timeout_ms", kafka_client.BOOTSTRAP_MS)
        self.destination, created = kafka_client.destination(
            s, self.servers, [s.topic_ledger, s.topic_checkpoints, s.topic_dead_letter],
            bootstrap_ms=bootstrap_ms)
        with suppress(OSError):  # only a write's count when Kafka is away needs it
            remember_destination(s, self.topic, self.destination)
        own = checkpoints.load_own(s, self.topic)
        self.signed = {int(cp["count"]): cp for cp in own}
        self.last_signed = max(own, key=lambda cp: int(cp["count"]), default=None)
        found = watermark.load(s, self.topic, self.destination)
        # The one watermark per topic of an older version may be another destination's (data
        # directories sharing a store): it is taken only once this topic is found to hold what
        # it counts, inline too.
        adopted = found is None and (found := watermark.legacy(s, self.topic)) is not None
        mark = self._checked_head(found or START)
        lost = mark.position > 0 and self.topic in created
        if mark.position > 0 and not lost and (adopted or not self.inline):
            # Fewer records than published: the topic was wiped (a restarted memory broker)
            # and whatever created it again — a client's metadata request, with the broker's
            # default partitions (Tansu: 4) — may have let a producer that lived through the
            # restart put records there by its old count; republishing into a topic of
            # another count would split an aggregate across two partitions, so it is created
            # again first. A topic that merely fails the chain walk is never deleted.
            short = not kafka_client.holds_at_least(s, self.servers, self.topic, mark.count)
            lost = short or not self._chain_holds(mark)
            self.recreated = short and kafka_client.repartition_topic(
                s, self.servers, self.topic, bootstrap_ms=bootstrap_ms)
        if lost:
            mark = START  # the topic lost what we published: republish everything
            self.republished = True
        if lost or adopted:
            # Say so at once: a relay starting meanwhile (inline publishing does not count
            # the topic) must not resume after the old watermark, ahead of the republish.
            watermark.save(s, self.topic, self.destination, mark)
        self.tree = self._tree_at(mark)
        self.mark = mark
        if self.producer is None:
            self.producer = kafka_client.producer(s, self.servers, **self.timeouts)
        if own and (self.republished or s.topic_checkpoints in created):
            self._republish_checkpoints(own)

    def _tree_at(self, mark: Watermark) -> CompactRange:
        """The Merkle tree's compact range at the watermark: from the last own checkpoint at or
        before it, extended by the stored events after that checkpoint (a crash between a
        watermark and its checkpoint, a first run after an upgrade)."""
        base = max((cp for cp in self.signed.values() if int(cp["count"]) <= mark.count),
                   key=lambda cp: int(cp["count"]), default=None)
        if base is None:
            tree, head = CompactRange(), START
        else:
            checkpoints.check_signed(self.settings, base)
            tree = CompactRange(int(base["count"]),
                                [bytes.fromhex(n) for n in base[checkpoints.STATE]])
            head = Watermark(int(base["position"]), str(base["head_hash"]), int(base["count"]))
        while head.count < mark.count:
            page = page_of(self.app, head, min(5000, mark.count - head.count))
            if not page:
                break
            for rec in page:
                head = Watermark(rec.position, rec.hash, head.count + 1)
                self._check_signed(head)
                tree.append(envelope_leaf(rec.hash))
        if head[:3] != mark[:3]:  # position, head hash, count
            raise HistoryContradiction(
                f"the event store holds {head.count} events up to position {head.position} "
                f"(head {head.head_hash[:16]}…) where this relay published {mark.count} up to "
                f"position {mark.position} (head {mark.head_hash[:16]}…) — refusing to sign "
                "(was the store edited or an older copy restored?)")
        return tree

    def _check_signed(self, head: Watermark) -> None:
        cp = self.signed.get(head.count)
        if cp is not None:
            why = checkpoints.contradiction(cp, head.position, head.head_hash, head.count)
            if why is not None:
                raise HistoryContradiction(why)

    def _republish_checkpoints(self, own: list[dict[str, Any]]) -> None:
        """The checkpoints topic was wiped with the broker: send back what this relay signed."""
        futures = [(cp, self.producer.send(self.settings.topic_checkpoints, key=b"checkpoint",
                                           value=canonical_json(checkpoints.public(
                                               cp, self.topic))))
                   for cp in own]
        self._flush(futures)

    def _checked_head(self, mark: Watermark) -> Watermark:
        """The watermark, once the store was found to still hold the published head: the same
        event at its position (its hash recomputed from the stored bytes and the hash before
        it). A deleted last row makes the next write reuse its position: that event would
        never be published, so it is an alarm, never skipped."""
        if mark.position == 0:
            return mark
        notes = self.app.recorder.select_notifications(mark.position, 1, stop=mark.position)
        if not notes:
            raise StoreDiverged(f"the event store no longer holds position {mark.position}, "
                                f"published to {self.topic}; it was cut or rolled back — "
                                "nothing more is published (run okr audit verify)")
        rec = published(self.app.mapper, notes[0], mark.prev_hash or GENESIS_HASH)
        if mark.prev_hash and rec.hash != mark.head_hash:
            raise StoreDiverged(f"the event store's event at position {mark.position} is not "
                                f"the one published to {self.topic} (hash {rec.hash[:16]}…, "
                                f"published {mark.head_hash[:16]}…): the store diverged from "
                                "what was published — nothing more is published (run okr "
                                "audit verify)")
        return mark._replace(recorded_at=mark.recorded_at or rec.recorded_at)

    def _chain_holds(self, mark: Watermark) -> bool:
        """Whether the topic holds every event up to the watermark: valid records of this
        chain, walked back from its head to genesis. Junk records, forged ones and records of
        another chain do not count, so they cannot stop a republish."""
        s = self.settings
        links: dict[str, tuple[int, str]] = {}  # hash → (position, prev_hash) of sound records
        for m in kafka_client.read_topic(s, self.servers, self.topic, idle=3.0):
            link = chain_link(m.value or b"")
            if link is not None:
                links[link[1]] = (link[0], link[2])
        at, position, seen = mark.head_hash, mark.position + 1, 0
        while at != GENESIS_HASH:
            found = links.get(at)
            if found is None or found[0] >= position:
                return False
            position, at = found
            seen += 1
        return seen == mark.count

    def close(self) -> None:
        kafka_client.close_quietly(self.producer)
        self.producer = None
        self.mark = None
        self.tree = None

    # ---- publishing ------------------------------------------------------------------------

    def publish_pending(self, limit: int | None = None) -> RelayResult:
        """Publish everything after the watermark (or up to `limit` events)."""
        if self.mark is None or self.producer is None:
            self.prepare()
        assert self.mark is not None
        self.mark = self._checked_head(self.mark)
        result = RelayResult(republished=self.republished)
        result.recreated, self.recreated = self.recreated, False
        self.republished = False
        in_flight, signed = None, []
        try:
            for page in pages(self.app, self.mark, limit):
                sent = self._send_page(page, in_flight[1] if in_flight else self.mark)
                if in_flight is not None:
                    signed += self._settle(*in_flight, result)
                in_flight = sent
                result.published += len(page)
            if in_flight is not None:
                self._flush()
                signed += self._settle(*in_flight, result)
            if limit is None:
                self._check_not_shorter()
            if result.published and not any(cp["count"] == self.mark.count
                                             for cp, _ in signed):
                signed.append(self._send_checkpoint(self._head()))
            self._flush(signed)
        except BaseException:
            self.close()  # whatever was sent after the last watermark counts as unpublished
            raise
        result.checkpoints = [checkpoints.public(cp, self.topic) for cp, _ in signed]
        result.position, result.count = self.mark.position, self.mark.count
        return result

    def _send_page(self, page: list[Published], head: Watermark
                   ) -> tuple[list[Any], Watermark, list[dict[str, Any]]]:
        """Send a page without waiting; returns its futures, the head after it, and the
        chain heads where checkpoints are due."""
        count = head.count
        futures, due = [], []
        send, every = self.producer.send, self.settings.checkpoint_every
        tree, signed = self.tree, self.signed
        assert tree is not None and tree.size == count
        for rec in page:
            if len(rec.value) >= kafka_client.MAX_VALUE:
                raise RelayError(f"event at position {rec.position} is {len(rec.value)} bytes;"
                                 " Kafka takes under 1 MB")
            count += 1
            if count in signed:  # checked before the event leaves: nothing contradicting is sent
                self._check_signed(Watermark(rec.position, rec.hash, count))
            futures.append(send(self.topic, key=rec.aggregate_id.encode(), value=rec.value,
                                headers=[("type", rec.type.encode()),
                                         ("position", str(rec.position).encode())]))
            tree.append(envelope_leaf(rec.hash))
            if count % every == 0:
                due.append({"position": rec.position, "head_hash": rec.hash, "count": count,
                            "tree": tree.copy()})
        return futures, after(head, page), due

    def _settle(self, futures: list[Any], mark: Watermark, due: list[dict[str, Any]],
                result: RelayResult) -> list[tuple[dict[str, Any], Any]]:
        """Wait until Kafka acknowledged a sent page, then record its watermark and send the
        checkpoints inside it; returns (checkpoint, future) pairs."""
        deadline = time.monotonic() + self.timeouts.get("delivery_timeout_ms", 30_000) / 1000
        for f in futures:
            try:
                f.get(timeout=max(0.0, deadline - time.monotonic()))
            except kafka_client.KafkaError as exc:
                raise RelayError(f"Kafka did not acknowledge an event: {exc}") from exc
        self.mark = mark
        assert self.destination is not None
        watermark.save(self.settings, self.topic, self.destination, mark)
        if self.progress is not None:
            self.progress(result.published, mark.position)
        return [self._send_checkpoint(head) for head in due]

    def _flush(self, signed: Sequence[tuple[dict[str, Any], Any]] = ()) -> None:
        """Wait for everything sent; the given checkpoints must have been acknowledged."""
        try:
            self.producer.flush(timeout=self.timeouts.get("delivery_timeout_ms", 30_000) / 1000)
        except kafka_client.KafkaError as exc:
            raise RelayError(f"Kafka did not acknowledge what was sent: {exc}") from exc
        failed = [f.exception for _, f in signed if f.failed() or not f.is_done]
        if failed:
            raise RelayError(f"Kafka refused {len(failed)} checkpoints: "
                             f"{failed[0] or 'not acknowledged in time'}")

    def _head(self) -> dict[str, Any]:
        assert self.mark is not None and self.tree is not None
        return {"position": self.mark.position, "head_hash": self.mark.head_hash,
                "count": self.mark.count, "tree": self.tree.copy()}

    def _check_not_shorter(self) -> None:
        """After catching up: a store holding fewer events than this relay signed for was
        rolled back (or cut), unless a republish is still under way."""
        assert self.mark is not None
        last = self.last_signed
        if last is not None and self.mark.count < int(last["count"]):
            raise HistoryContradiction(
                f"the event store holds {self.mark.count} events, fewer than the "
                f"{last['count']} this relay signed at {last.get('time', '?')} (position "
                f"{last['position']}) — refusing to sign (was an older copy restored?)")

    def _send_checkpoint(self, head: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Sign a chain head and tree head, keep it in the relay's own file, then send it to
        the checkpoints topic (not waiting)."""
        tree: CompactRange = head["tree"]
        checkpoint = checkpoints.make(self.settings, head, tree.root(), tree.nodes)
        checkpoints.append_own(self.settings, self.topic, checkpoint)
        self.signed[int(checkpoint["count"])] = checkpoint
        self.last_signed = checkpoint
        future = self.producer.send(self.settings.topic_checkpoints, key=b"checkpoint",
                                    value=canonical_json(checkpoints.public(checkpoint,
                                                                            self.topic)))
        return checkpoint, future

    def checkpoint_now(self) -> dict[str, Any] | None:
        """Publish a signed checkpoint at the current head (after catching up)."""
        self.publish_pending()
        assert self.mark is not None
        if self.mark.position == 0:
            return None
        signed = self._send_checkpoint(self._head())
        self._flush([signed])
        return checkpoints.public(signed[0], self.topic)

    # ---- long-running ----------------------------------------------------------------------

    def run(self, stop: Callable[[], bool], on_result: Callable[[RelayResult], None],
            on_error: Callable[[Exception, float], None], idle: float = 0.1,
            health_every: float = 5.0) -> None:
        """Publish until `stop()`; back off on broker trouble and rebuild the producer (an
        idempotent producer is broken for good after a broker restart)."""
        with relaying(self.settings, self.topic):  # CLI writes leave publishing to this loop
            self._run(stop, on_result, on_error, idle, health_every)

    def _run(self, stop: Callable[[], bool], on_result: Callable[[RelayResult], None],
             on_error: Callable[[Exception, float], None], idle: float,
             health_every: float) -> None:
        backoff, last_health = 0.5, time.monotonic()
        last_checkpoint = time.monotonic()
        while not stop():
            try:
                if time.monotonic() - last_health > health_every:
                    last_health = time.monotonic()
                    if self.topic not in kafka_client.list_topics(self.settings, self.servers):
                        self.close()  # topic gone (broker restarted): prepare() republishes
                # the store's state before reading it: a commit from now on ends the idle wait
                before = _store_state(self.settings)
                result = self.publish_pending()
                backoff = 0.5
                if result.checkpoints:
                    last_checkpoint = time.monotonic()
                elif time.monotonic() - last_checkpoint > self.settings.checkpoint_seconds:
                    # quiet for a while: a fresh signed time over the same head
                    last_checkpoint = time.monotonic()
                    if (cp := self.checkpoint_now()) is not None:
                        result.checkpoints = [cp]
                if result.published or result.checkpoints:
                    on_result(result)
                else:
                    self._idle(idle, stop, before)
            except (kafka_client.KafkaError, RelayError, PagesError, OSError,
                    PersistenceError) as exc:
                # Kafka or the event store is away: back off, rebuild the producer, go on.
                self.close()
                on_error(exc, backoff)
                _sleep_unless(stop, backoff)
                backoff = min(backoff * 2, 10.0)

    def _idle(self, idle: float, stop: Callable[[], bool],
              before: StoreState) -> None:
        """Nothing to publish: wait `idle` seconds, or less when a SQLite store's files change
        (a commit grows or rewrites its WAL): a web check-in is published within STORE_LOOK
        instead of up to `idle` later, and its writer's next read waits that much less
        (web/own_writes.py). A look is two stat() calls; PostgreSQL stores wait `idle`."""
        if before is None:
            time.sleep(idle)
            return
        deadline = time.monotonic() + idle
        while time.monotonic() < deadline and not stop():
            time.sleep(STORE_LOOK)
            if _store_state(self.settings) != before:
                return


def _store_state(settings: Settings) -> StoreState:
    """(inode, size, mtime) of a SQLite store's file and its WAL, or None for another store."""
    if settings.store != "sqlite":
        return None
    out = []
    for path in (settings.event_store_path, settings.event_store_path.with_name(
            settings.event_store_path.name + "-wal")):
        try:
            st = os.stat(path)
        except OSError:
            out.append((0, 0, 0))
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def chain_link(raw: bytes) -> tuple[int, str, str] | None:
    """(position, hash, prev_hash) of a record whose hash matches its content, else None."""
    try:
        doc = json.loads(raw)
        position, digest, prev = doc["position"], doc["hash"], doc["prev_hash"]
    except (ValueError, TypeError, KeyError, RecursionError):  # junk: 100,000 nested arrays…
        return None
    if not (isinstance(position, int) and isinstance(digest, str) and isinstance(prev, str)
            and len(prev) == 64):
        return None
    try:
        ok = Envelope.from_bytes(raw).hash_ok(raw)
    except (ValueError, RecursionError):
        return None
    return (position, digest, prev) if ok else None


def _sleep_unless(stop: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop():
        time.sleep(0.05)
