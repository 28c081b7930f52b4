"""The one module that imports kafka-python: clients, topics, and reading a topic to its end.

Settings follow shared/KAFKA-NOTES.md ("settings that work on both" Tansu and Apache Kafka):
idempotent producer with acks=all; consumers with manual commits and read_committed; topics
created explicitly with their final partition count and infinite retention; a partition's
tail found by poll + highwater (Tansu's end_offsets is wrong).
"""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import Any, NamedTuple

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from kafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2

from okr.settings import Settings

__all__ = ["BOOTSTRAP_MS", "PRODUCER", "KafkaError", "KeyPartitioner", "Message",
           "PartitionReader", "admin", "answering", "bootstrap", "close_quietly", "consumer",
           "dead_letter", "destination", "ensure_topics", "holds_at_least", "list_topics",
           "producer", "read_topic", "records_at", "repartition_topic", "security",
           "stop_orphaned_io", "topic_partitions"]

MAX_VALUE = 1_000_000  # Apache Kafka's default message.max.bytes is ~1 MB
# How long a new consumer or admin client looks for the cluster before giving up (kafka-python
# waits 30 s); long-running services retry with back-off anyway.
BOOTSTRAP_MS = 10_000
# The longest one call into kafka-python's poll may wait (PartitionReader.poll).
POLL_SLICE_MS = 10
# How old a PartitionReader's metadata may grow (kafka-python: 5 minutes): a topic deleted and
# created again under a running reader (the relay does so to a topic a client's request made
# with the broker's default partitions) shows as another topic id within this time.
READER_METADATA_MS = 2000


class Message(NamedTuple):
    """A record read from a topic (a tuple: made by the hundred thousand)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int | None = None  # the record's timestamp, ms since the epoch (Kafka's)


def bootstrap(settings: Settings, start_local: bool = True) -> str:
    """The cluster to talk to: KAFKA_BOOTSTRAP_SERVERS, else the local broker (started)."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    from okr.adapters import local_broker
    if start_local:
        state, _ = local_broker.start(settings.home, cache_dir=settings.cache_dir,
                                      announce=True)
        return state.bootstrap
    running = local_broker.status(settings.home)
    if running is None:
        raise local_broker.BrokerError("the local broker is not running (okr broker start)")
    return running.bootstrap


def answering(servers: str, timeout: float = 1.0) -> None:
    """Raise KafkaError at once when no bootstrap server can answer: each refused the
    connection or names a host that does not resolve. A client finds that out only when its
    bootstrap times out (seconds of backoff against a refusing port), which a person waiting
    on a read or a write's publishing should not sit through. A server that accepts, or only
    does not answer within `timeout`, is left to the client's own bootstrap."""
    import socket

    from kafka.cluster import collect_hosts

    why = []
    named = [s.strip() for s in servers.split(",") if s.strip()]
    try:  # read as kafka-python reads them: a SECURITY_PROTOCOL:// prefix is no part of a host
        hosts = collect_hosts(named, randomize=False)
    except Exception:  # a form the client will refuse in its own words
        return
    for server, (host, port, _) in zip(named, hosts, strict=True):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except ConnectionRefusedError:
            why.append(f"{server}: connection refused")
        except socket.gaierror as exc:
            if exc.errno not in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
                return  # the resolver could not answer now (EAI_AGAIN): left to the client
            why.append(f"{server}: unknown host")
        except OSError:  # unreachable for now, a timeout: left to the client's bootstrap
            return
    if why:
        raise KafkaError(f"no Kafka broker answers at {'; '.join(why)}")


def security(settings: Settings) -> dict[str, Any]:
    """SASL/TLS settings passed through to kafka-python (tested against Apache Kafka only)."""
    conf: dict[str, Any] = {}
    if settings.kafka_security_protocol:
        conf["security_protocol"] = settings.kafka_security_protocol
    if settings.kafka_sasl_mechanism:
        conf["sasl_mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        conf["sasl_plain_username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        conf["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    for name in ("cafile", "certfile", "keyfile"):
        value = getattr(settings, f"kafka_ssl_{name}")
        if value:
            conf[f"ssl_{name}"] = value
    return conf


class KeyPartitioner(DefaultPartitioner):  # type: ignore[misc]  # kafka-python is untyped
    """kafka-python's default partitioner (murmur2 of the key, as the Java client), with the
    answer remembered per key: the ledger's keys are aggregate ids, which repeat for every
    event, and the pure-Python murmur2 was a third of each send. Same partition, always — for
    the producer's life, by the partition count it first saw, even when its metadata later
    says another: after a memory broker's restart a client may make the topic again with the
    broker's default count, and a key sent by the old count and then by the new one would
    split an aggregate across two partitions (the relay makes such a topic again, empty, with a
    new producer: tests/unit/test_key_partitioner.py). A partition the topic lacks fails the
    send; the relay then starts over (record/relay.py, `prepare`)."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self.counts: dict[str, int] = {}  # topic → the partition count first seen
        self.memo: dict[tuple[str, bytes], int] = {}

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: Any, cluster: Any) -> int:
        if serialized_key is None:
            return int(super().partition(topic, key, None, value, serialized_value, cluster))
        memo_key = (topic, serialized_key)
        found = self.memo.get(memo_key)
        if found is None:
            count = self.counts.get(topic)
            if count is None:
                if topic not in cluster.topics():
                    raise ValueError(f"Topic {topic} not found in ClusterMetadata")
                count = self.counts[topic] = len(cluster.partitions_for_topic(topic))
            if len(self.memo) >= self.size:
                self.memo.clear()
            found = self.memo[memo_key] = (murmur2(serialized_key) & 0x7FFFFFFF) % count
        return found


# What KAFKA-NOTES measured to work on Tansu and Apache Kafka alike.
PRODUCER = dict(acks="all", enable_idempotence=True, linger_ms=20, batch_size=262_144,
                compression_type="lz4", max_request_size=1_048_576, delivery_timeout_ms=30_000,
                request_timeout_ms=10_000, max_block_ms=10_000)


def producer(settings: Settings, servers: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer, acks=all, batching and lz4 as measured in KAFKA-NOTES."""
    conf: dict[str, Any] = dict(
        bootstrap_servers=servers, **PRODUCER, partitioner=KeyPartitioner(),
        client_id="okr-relay", **security(settings))
    conf.update(overrides)
    return KafkaProducer(**conf)


def consumer(settings: Settings, servers: str, **overrides: Any) -> KafkaConsumer:
    """A consumer with manual commits; assign() partitions or pass group_id to join a group.
    (allow_auto_create_topics=False is sent, and ignored by Tansu 0.6.0, measured: a consumer
    assigned a missing topic creates it with 4 partitions; a listing of all topics does not.)"""
    conf: dict[str, Any] = dict(
        bootstrap_servers=servers, enable_auto_commit=False, auto_offset_reset="earliest",
        isolation_level="read_committed", session_timeout_ms=6000, heartbeat_interval_ms=1000,
        request_timeout_ms=10_000, client_id="okr-consumer", allow_auto_create_topics=False,
        bootstrap_timeout_ms=BOOTSTRAP_MS, **security(settings))
    conf.update(overrides)
    return KafkaConsumer(**conf)


def admin(settings: Settings, servers: str, bootstrap_ms: int = BOOTSTRAP_MS) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=10_000,
                            bootstrap_timeout_ms=bootstrap_ms, client_id="okr-admin",
                            **security(settings))


def list_topics(settings: Settings, servers: str) -> set[str]:
    """Names of the topics that exist (asking never creates one)."""
    client = admin(settings, servers)
    try:
        return set(client.list_topics())
    finally:
        client.close()


def ensure_topics(settings: Settings, servers: str, names: list[str],
                  bootstrap_ms: int = BOOTSTRAP_MS) -> list[str]:
    """Create the missing topics (final partition count, retention forever); return created."""
    return destination(settings, servers, names, bootstrap_ms)[1]


def destination(settings: Settings, servers: str, names: Sequence[str] = (),
                bootstrap_ms: int = BOOTSTRAP_MS) -> tuple[str, list[str]]:
    """Which cluster `servers` reach — its cluster id (`servers` themselves for a cluster too
    old to say) — after creating the missing topics of `names` (as ensure_topics); returns
    (cluster, created). The relay keeps a watermark per cluster: each local broker has an id
    of its own (adapters/local_broker.py), Apache Kafka one per cluster."""
    client = admin(settings, servers, bootstrap_ms)
    try:
        cluster = str(client.describe_cluster().get("cluster_id") or f"servers {servers}")
        existing = set(client.list_topics())
        wanted = [n for n in names if n not in existing]
        if not wanted:
            return cluster, []
        with suppress(TopicAlreadyExistsError):  # created by someone else meanwhile: fine
            client.create_topics([NewTopic(n, settings.partitions, 1,
                                           topic_configs={"retention.ms": "-1",
                                                          "cleanup.policy": "delete"})
                                  for n in wanted])
        return cluster, wanted
    finally:
        client.close()


def repartition_topic(settings: Settings, servers: str, name: str, attempts: int = 5,
                      bootstrap_ms: int = BOOTSTRAP_MS) -> bool:
    """Make a topic have the configured partitions, deleting and creating it again, empty,
    when it has another count; True when it did. Only for a topic that lost what the relay
    published.

    After a memory broker's restart the first metadata request for a topic creates it with
    the broker's default partitions (Tansu: 4), and a producer that lived through the restart
    may already have put records there by its old count: republishing into it would split an
    aggregate across two partitions. A client's metadata request can create it again between
    the delete and the create, so the count is checked again and the pair retried."""
    client = admin(settings, servers, bootstrap_ms)

    def count() -> int:
        described = client.describe_topics([name])
        return len(described[0].get("partitions") or ()) if described else 0

    try:
        if count() == settings.partitions:
            return False
        for _ in range(attempts):
            with suppress(UnknownTopicOrPartitionError):  # already gone: fine
                client.delete_topics([name])
            deadline = time.monotonic() + 10.0  # deletion is asynchronous on Apache Kafka
            while name in client.list_topics() and time.monotonic() < deadline:
                time.sleep(0.05)
            with suppress(TopicAlreadyExistsError):
                client.create_topics([NewTopic(name, settings.partitions, 1,
                                               topic_configs={"retention.ms": "-1",
                                                              "cleanup.policy": "delete"})])
            if count() == settings.partitions:
                return True
        raise KafkaError(f"{name} could not be created again with {settings.partitions} "
                         f"partitions in {attempts} attempts: a client keeps creating it "
                         "with the broker's default")
    finally:
        client.close()


def stop_orphaned_io() -> None:
    """Stop the IO threads of clients that failed to start.

    kafka-python 3.0 starts a client's IO thread before it bootstraps and leaves it running
    when bootstrapping fails; nothing else can reach it to stop it. A process exiting with
    such a thread alive makes the DuckDB bindings report leaks on stderr. Each such thread
    runs its selector's loop, so the running threads lead to the selectors: a walk of every
    object of the process (gc) found them too, at a cost that grows with the heap (seconds
    per refusal in a long-lived process such as the test runner)."""
    import threading

    from kafka.net.selector import NetworkSelector

    for thread in threading.enumerate():
        # Thread keeps the target it runs until it returns (CPython's threading.Thread)
        owner = getattr(getattr(thread, "_target", None), "__self__", None)
        if isinstance(owner, NetworkSelector) and thread is not threading.current_thread():
            with suppress(Exception):
                owner.stop(timeout_ms=1000)


def close_quietly(client: Any, timeout: float = 2.0) -> None:
    """Close a producer or consumer; one of a dead broker may raise, which must not stop us."""
    if client is None:
        return
    with suppress(Exception):
        client.close(timeout=timeout) if isinstance(client, KafkaProducer) else client.close()


def topic_partitions(client: KafkaConsumer, topic: str, timeout: float = 10.0) -> list[int]:
    """The partitions of an existing topic ([] if it does not exist)."""
    deadline = time.monotonic() + timeout
    while True:
        parts = client.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        if time.monotonic() > deadline:
            return []
        client.topics()  # refresh metadata
        time.sleep(0.05)


def read_topic(settings: Settings, servers: str, topic: str, idle: float = 1.0,
               progress: Callable[[int], None] | None = None) -> Iterator[Message]:
    """Every record of a topic, all partitions, from the start to the tail seen on arrival.

    The tail is the high watermark read after a poll (end_offsets is wrong on Tansu); reading
    stops when each partition's position reaches the watermark it had when first polled, or
    after `idle` seconds without a record.
    """
    if topic not in list_topics(settings, servers):
        return
    client = consumer(settings, servers, group_id=None, enable_auto_commit=False,
                      fetch_max_bytes=52_428_800, max_partition_fetch_bytes=10_485_760)
    try:
        parts = [TopicPartition(topic, p) for p in topic_partitions(client, topic,
                                                                     timeout=idle * 3)]
        if not parts:
            return
        client.assign(parts)
        client.seek_to_beginning(*parts)
        tails: dict[TopicPartition, int] = {}
        quiet_since = time.monotonic()
        seen = 0
        while True:
            batch = client.poll(timeout_ms=200, max_records=5000)
            for tp in parts:
                hw = client.highwater(tp)
                if hw is not None and tp not in tails:
                    tails[tp] = hw
            if batch:
                quiet_since = time.monotonic()
                for tp, records in batch.items():
                    for r in records:
                        seen += 1
                        yield Message(tp.topic, tp.partition, r.offset, r.key, r.value,
                                      tuple(r.headers or ()), r.timestamp)
                if progress is not None:
                    progress(seen)
            if len(tails) == len(parts) and all(client.position(tp) >= tails[tp]
                                                for tp in parts):
                return
            if time.monotonic() - quiet_since > idle:
                return
    finally:
        client.close()


def holds_at_least(settings: Settings, servers: str, topic: str, count: int,
                   timeout: float = 15.0) -> bool:
    """Whether the topic holds `count` records or more (False when it does not exist).

    The end offsets answer at once on Apache Kafka; Tansu's are low by up to a batch per
    partition, so when they fall short the high watermarks are read after a poll, every
    partition's, or KafkaTimeoutError says they could not be (never guess either way).
    """
    if topic not in list_topics(settings, servers):
        return False
    client = consumer(settings, servers, group_id=None, max_partition_fetch_bytes=65_536)
    try:
        parts = [TopicPartition(topic, p) for p in topic_partitions(client, topic)]
        if sum(client.end_offsets(parts).values()) >= count:
            return True
        client.assign(parts)
        client.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout
        marks: dict[TopicPartition, int] = {}
        while len(marks) < len(parts):
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"could not read the high watermarks of {topic} "
                                        f"({len(marks)} of {len(parts)} partitions answered)")
            client.poll(timeout_ms=100, max_records=1)
            for tp in parts:
                hw = client.highwater(tp)
                if hw is not None:
                    marks[tp] = hw
        return sum(marks.values()) >= count
    finally:
        client.close()


def records_at(settings: Settings, servers: str, topic: str, offsets: dict[int, int],
               timeout: float = 2.0) -> dict[int, Message | None]:
    """The record at each partition's given offset, None where the partition answered but
    does not reach it (its high watermark is at or below it); a partition that does not answer
    within `timeout` seconds is left out."""
    if not offsets:
        return {}
    client = consumer(settings, servers, group_id=None)
    try:
        parts = {p: TopicPartition(topic, p) for p in offsets}
        client.assign(list(parts.values()))
        for p, tp in parts.items():
            client.seek(tp, offsets[p])
        found: dict[int, Message | None] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tp, records in client.poll(timeout_ms=100).items():
                for r in records:
                    if r.offset == offsets[tp.partition]:
                        found[tp.partition] = Message(topic, tp.partition, r.offset, r.key,
                                                      r.value, tuple(r.headers or []),
                                                      r.timestamp)
            for p, tp in parts.items():
                if p not in found and (hw := client.highwater(tp)) is not None \
                        and hw <= offsets[p]:
                    found[p] = None
            if set(parts) <= set(found):
                break
        return found
    finally:
        client.close()


class PartitionReader:
    """Every partition of one topic, assigned (no consumer group, no join delay) and read from
    offsets the caller keeps. Used by the projection consumer and the KPI ingest."""

    def __init__(self, settings: Settings, servers: str, topic: str,
                 fetch_wait_ms: int = 100) -> None:
        self.topic = topic
        # Answers within fetch_wait_ms at the tail (the broker would hold an empty fetch
        # 500 ms), and fetches of 16 MB at most: a 10,000-record batch in a round trip or two.
        self.client = consumer(settings, servers, group_id=None,
                               fetch_max_wait_ms=fetch_wait_ms,
                               fetch_max_bytes=16_777_216,
                               max_partition_fetch_bytes=4_194_304,
                               metadata_max_age_ms=READER_METADATA_MS)
        self.partitions: list[int] = []

    def open(self, timeout: float = 5.0) -> bool:
        """Assign all partitions; False when the topic does not exist (yet)."""
        self.partitions = topic_partitions(self.client, self.topic, timeout=timeout)
        if not self.partitions:
            return False
        self.client.assign([TopicPartition(self.topic, p) for p in self.partitions])
        return True

    def seek(self, partition: int, offset: int) -> None:
        self.client.seek(TopicPartition(self.topic, partition), offset)

    def poll(self, timeout_ms: int = 200, max_records: int = 5000) -> list[Message]:
        """Records that have arrived, waiting up to timeout_ms for the first. While partitions
        are paused or parked, asked in slices of POLL_SLICE_MS with the parked records freed
        before each (`_unpark`): within one long poll, kafka-python can strand a resumed
        partition's records and, with nothing left it counts as fetchable, sleep out the rest
        of the timeout."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            _unpark(self.client)
            left = max(0, round((deadline - time.monotonic()) * 1000))
            # In slices only while records can be stranded (a partition paused or parked): an
            # idle reader at the tail waits in one call (a tenth of the CPU, measured).
            step = POLL_SLICE_MS if _strandable(self.client) else left
            polled = self.client.poll(timeout_ms=min(left, step), max_records=max_records)
            if polled or left <= step:
                break
        out: list[Message] = []
        for tp, records in polled.items():
            out.extend(Message(tp.topic, tp.partition, r.offset, r.key, r.value,
                               tuple(r.headers or ()), r.timestamp) for r in records)
        return out

    def highwater(self, partition: int) -> int | None:
        return self.client.highwater(TopicPartition(self.topic, partition))  # type: ignore[no-any-return]  # untyped

    def position(self, partition: int) -> int:
        return self.client.position(TopicPartition(self.topic, partition))  # type: ignore[no-any-return]  # untyped

    def at_tail(self, partition: int) -> bool:
        """The partition's position has reached its high watermark (known after a poll)."""
        hw = self.highwater(partition)
        return hw is not None and self.position(partition) >= hw

    def caught_up(self) -> bool:
        """Every partition's position has reached its high watermark (known after a poll)."""
        return all(self.at_tail(p) for p in self.partitions)

    def pause(self, partitions: set[int]) -> None:
        """Fetch only from the partitions not named; the named ones keep their position (what
        the client fetched of them already waits in it until they are resumed)."""
        now = {tp.partition for tp in self.client.paused()}
        if now - partitions:
            self.client.resume(*(TopicPartition(self.topic, p) for p in now - partitions))
        if partitions - now:
            self.client.pause(*(TopicPartition(self.topic, p) for p in partitions - now))

    def connections(self) -> frozenset[object]:
        """The client's broker connections now, to compare with an earlier answer by identity:
        a connection that closed (a broker restarted, the network dropped it) is replaced by a
        new object, so an answer that differs means the client may have reconnected since — to
        a broker that may hold another incarnation of the topic. kafka-python 3.0.12 keeps them
        in its connection manager's `_conns`; where its internals differ, every answer differs
        (a caller verifying on each change verifies on every call: slower, never wrong)."""
        conns = getattr(getattr(self.client, "_manager", None), "_conns", None)
        if not isinstance(conns, dict):
            return frozenset({object()})
        return frozenset(conns.values())

    def topic_id(self) -> object | None:
        """The topic's id in the client's metadata (None where the broker gives none): another
        id means the topic was deleted and created again since. The client learns it when it
        refreshes its metadata (every READER_METADATA_MS at least), so a reader may fetch from
        a new incarnation before it changes; `connections` tells a reconnect at once."""
        cluster = getattr(getattr(self.client, "_client", None), "cluster", None)
        get = getattr(cluster, "topic_id", None)
        return get(self.topic) if callable(get) else None

    def close(self) -> None:
        close_quietly(self.client)


def _strandable(client: KafkaConsumer) -> bool:
    """Whether a partition is paused or has fetched records parked (see `_unpark`)."""
    fetcher = getattr(client, "_fetcher", None)
    return bool(client.paused() or getattr(fetcher, "_paused_partition_records", None))


def _unpark(client: KafkaConsumer) -> None:
    """Let resumed partitions' parked records be handed out, and fetched again, by the next poll.

    kafka-python 3.0.12 parks the records it had fetched for a partition when the partition is
    paused. At the start of a poll (and only there) it gives one resumed partition's parked
    records back, and only when its in-line slot is None; a parked partition is not fetched
    again until then. Two states left resumed partitions parked for good, or until a later poll
    (measured, 2026-12-03: 104 stalls of 100 ms in a 300,000-record paced read, ~10 s of 35):
    - a drained in-line slot (handing out a partition's last records leaves a falsy object
      there, and every fetch that finds nothing puts a new empty one there): the parked
      records were never returned and reading stopped (the pacing test in
      tests/integration/test_projection.py caught it);
    - an in-line slot holding a partition paused since: the poll parks it and, the slot now
      empty, finds nothing else in line, returns nothing and, with every partition parked or
      paused, fetches nothing and sleeps out its timeout.
    So before each poll the slot is emptied (drained) or its paused partition's records are
    parked, as the library itself would, so that its restore step runs. Nothing is done where
    its internals differ."""
    fetcher = getattr(client, "_fetcher", None)
    parked = getattr(fetcher, "_paused_partition_records", None)
    subscriptions = getattr(fetcher, "_subscriptions", None)
    if not isinstance(parked, dict) or not parked or subscriptions is None:
        return
    slot = getattr(fetcher, "_next_partition_records", None)
    if slot is None:
        return
    if not slot:
        fetcher._next_partition_records = None  # type: ignore[union-attr]  # checked above
        return
    tp = getattr(slot, "topic_partition", None)
    if tp is not None and tp not in parked and subscriptions.is_paused(tp):
        parked[tp] = slot
        fetcher._next_partition_records = None  # type: ignore[union-attr]  # checked above


def dead_letter(prod: Any, settings: Settings, message: Message, reason: str,
                consumer_name: str) -> Any:
    """Send a rejected record to the dead-letter topic: original key and bytes, the reason and
    where it came from in headers. Returns the send future (flush before committing)."""
    headers = [("reason", reason.encode("utf-8")[:4000]),
               ("source.topic", message.topic.encode()),
               ("source.partition", str(message.partition).encode()),
               ("source.offset", str(message.offset).encode()),
               ("consumer", consumer_name.encode())]
    value = message.value if message.value is not None else b""
    if len(value) >= MAX_VALUE:
        value = value[:MAX_VALUE - 1024]
        headers.append(("truncated", b"true"))
    return prod.send(settings.topic_dead_letter, key=message.key, value=value,
                     headers=headers)
