"""The relay against a real broker: every event exactly once per (aggregate, version) in the
topic, the chain valid, crashes and broker restarts survived, readable with kcat."""

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from okr.adapters import kafka_client
from okr.ledger.app import OkrLedger
from okr.record import signing
from okr.record.envelope import Envelope, chained
from okr.record.verify import Record, verify
from tests.integration.conftest import Env
from tests.support.generator import Shape, generate

pytestmark = pytest.mark.integration


def topic_records(env: Env) -> list[kafka_client.Message]:
    s = env.settings
    return list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "", s.topic_ledger,
                                        idle=3.0))


def checkpoints(env: Env) -> list[dict]:
    s = env.settings
    return [json.loads(m.value or b"{}") for m in kafka_client.read_topic(
        s, s.kafka_bootstrap_servers or "", s.topic_checkpoints, idle=2.0)]


def store(env: Env) -> list[Envelope]:
    app = OkrLedger(env.settings)
    try:
        return list(chained(app))
    finally:
        app.close()


def assert_log_complete(env: Env) -> list[kafka_client.Message]:
    """The topic holds every stored event (duplicates allowed), chain and store agree."""
    records = topic_records(env)
    envs = store(env)
    verdict = verify([Record(m.partition, m.offset, m.value or b"") for m in records], envs,
                     checkpoints(env),
                     signing.verifier(signing.public_key_pem(env.settings.signing_key_file)))
    assert verdict.ok, [f.line() for f in verdict.findings[:5]]
    assert verdict.events == len(envs)
    return records


def fill(env: Env, shape: Shape = Shape(seed=3, teams=2, quarters=1, kpis=3)) -> int:
    app = OkrLedger(env.settings)
    try:
        return generate(app, shape).events
    finally:
        app.close()


def test_relay_publishes_each_event_once_keyed_and_chained(env: Env) -> None:
    n = fill(env)
    out = json.loads(env.ok("relay", "--once", "--checkpoint", "--json"))
    assert out["published"] == n and out["position"] == n and out["checkpoint"]["count"] == n
    records = assert_log_complete(env)
    envs = [Envelope.from_bytes(m.value or b"") for m in records]
    assert Counter((e.aggregate_id, e.version) for e in envs).most_common(1)[0][1] == 1
    assert len(envs) == n
    for m, e in zip(records, envs, strict=True):
        assert m.key == e.aggregate_id.encode()
        assert dict(m.headers) == {"type": e.type.encode(), "position": str(e.position).encode()}
    by_partition: dict[int, list[int]] = {}
    for m, e in zip(records, envs, strict=True):
        by_partition.setdefault(m.partition, []).append(e.position)
    assert len(by_partition) > 1
    assert all(p == sorted(p) for p in by_partition.values())
    # Nothing new: a second run publishes nothing.
    assert json.loads(env.ok("relay", "--once", "--json"))["published"] == 0


def test_relay_killed_at_random_moments_resumes_without_loss(env: Env) -> None:
    n = fill(env, Shape(seed=4, teams=4, quarters=2, kpis=6, readings_per_day=3))
    assert n > 4000
    kills = env.kill_repeatedly(("relay", "--json"), 6, random.Random(9), (0.3, 2.5))
    assert kills >= 3
    env.ok("relay", "--once")
    records = assert_log_complete(env)
    assert len({(m.partition, m.offset) for m in records}) >= n


def test_broker_restart_republishes_and_outage_writes_wait(private_env: Env,
                                                           private_broker: object) -> None:
    env = private_env
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    assert len(topic_records(env)) == 2  # inline publishing after each write
    private_broker.stop()  # type: ignore[attr-defined]
    proc = env.run("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    assert proc.returncode == 0, proc.stderr
    assert "1 event waits to be published" in proc.stdout + proc.stderr
    private_broker.start()  # type: ignore[attr-defined]  # memory engine: topics are gone
    out = json.loads(env.ok("relay", "--once", "--json"))
    assert out["republished"] is True and out["published"] == 3
    records = assert_log_complete(env)
    assert len(records) == 3


@pytest.mark.real_clock  # librdkafka times its polls on the monotonic clock
def test_a_foreign_client_reads_envelopes_that_match_the_json_schema(env: Env) -> None:
    """confluent-kafka (librdkafka, not our client) reads the topic; the committed JSON Schema
    and docs/envelope.md are all it needs to understand a record. (Debian's kcat 1.7 with
    librdkafka 2.0 cannot talk to the Tansu build; librdkafka 2.16 can.)"""
    import jsonschema
    from confluent_kafka import Consumer, TopicPartition

    fill(env, Shape(seed=5, teams=1, quarters=1, kpis=1))
    env.ok("relay", "--once")
    s = env.settings
    n = len(store(env))
    c = Consumer({"bootstrap.servers": s.kafka_bootstrap_servers, "group.id": "foreign",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(s.topic_ledger, p, 0) for p in range(s.partitions)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
    finally:
        c.close()
    schema = json.loads((Path(__file__).parents[2] / "record" / "envelope.schema.json")
                        .read_text())
    validator = jsonschema.Draft202012Validator(schema,
                                                format_checker=jsonschema.FormatChecker())
    assert len(got) == n
    for m in got:
        doc = json.loads(m.value())
        validator.validate(doc)
        headers = dict(m.headers() or [])
        assert headers == {"type": doc["type"].encode(), "position": str(doc["position"]).encode()}
        assert m.key() == doc["aggregate_id"].encode()


def test_the_relay_knows_whether_a_topic_still_holds_what_it_published(env: Env) -> None:
    """The check behind republishing: a wiped or recreated topic holds fewer records than the
    watermark counts; a healthy one (duplicates included) at least as many."""
    n = fill(env, Shape(seed=6, teams=1, quarters=1, kpis=1))
    s = env.settings
    servers = s.kafka_bootstrap_servers or ""
    assert not kafka_client.holds_at_least(s, servers, s.topic_ledger, 1)  # no topic yet
    env.ok("relay", "--once")
    assert kafka_client.holds_at_least(s, servers, s.topic_ledger, n)
    assert not kafka_client.holds_at_least(s, servers, s.topic_ledger, n + 1)


def test_a_wiped_topic_recreated_with_other_partitions_is_replaced_before_a_republish(
        env: Env) -> None:
    """A restarted memory broker creates a topic on the first metadata request for it (Tansu:
    4 partitions, whatever was asked), and a producer that lived through the restart may have
    put a record there by its old partition count. Republishing into that topic would put an
    aggregate's events in two partitions, which verify rightly calls an insertion. A topic
    that lost what the relay published and has another partition count than configured is
    created again, empty, before the republish (one with the right count keeps its records:
    test_audit_integrity's junk test)."""
    from kafka.admin import NewTopic
    from kafka.partitioner.default import murmur2

    fill(env, Shape(seed=6, teams=1, quarters=1, kpis=1))
    env.ok("relay", "--once")
    s = env.settings
    servers = s.kafka_bootstrap_servers or ""
    last = max(topic_records(env), key=lambda m: json.loads(m.value or b"{}")["position"])
    assert last.key is not None
    # A count under which the last event's aggregate lands in another partition than before.
    count = next(c for c in range(s.partitions + 1, s.partitions + 9)
                 if (murmur2(last.key) & 0x7FFFFFFF) % c != last.partition)
    client = kafka_client.admin(s, servers)
    try:
        client.delete_topics([s.topic_ledger])
        for _ in range(100):  # deletion is asynchronous on Apache Kafka
            if s.topic_ledger not in client.list_topics():
                break
            time.sleep(0.1)
        client.create_topics([NewTopic(s.topic_ledger, count, 1)])
    finally:
        client.close()
    stray = kafka_client.producer(s, servers)
    stray.send(s.topic_ledger, key=last.key, value=last.value, partition=last.partition)
    stray.flush()
    stray.close()

    out = json.loads(env.ok("relay", "--once", "--json"))
    assert out["republished"] and out["recreated"]
    assert_log_complete(env)
    reader = kafka_client.consumer(s, servers)
    try:
        assert len(kafka_client.topic_partitions(reader, s.topic_ledger)) == s.partitions
    finally:
        reader.close()
