"""A running projection consumer across a restart of the memory broker: its own reader, at the
stored offsets, goes on fetching from a broker that lost every topic, which the relay refills
(the whole log again, and new events) — perhaps past those offsets within one poll, perhaps
into a topic a client's metadata request created first with the broker's default partitions.
The projection must end up holding every event once, and `okr audit verify` must pass."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from okr.adapters import kafka_client
from okr.consumers.projector import Progress, Projector
from okr.ledger.app import OkrLedger
from okr.projections.store import Projection
from tests.integration.conftest import (
    Broker,
    Env,
    audit_verifies,
    ledger_records,
    store_envelopes,
)
from tests.integration.test_audit import produce
from tests.integration.test_faults import (
    WORKLOAD,
    add_live_kpis,
    record_readings,
    relay_dies_after_its_flush,
)

pytestmark = pytest.mark.integration


def project_until_idle(projector: Projector, progress: Progress, idle: float = 3.0,
                       limit: float = 60.0) -> None:
    """Step a running projector (as its follow loop does, without the loop's idle reopen)
    until it did nothing for `idle` seconds."""
    quiet, deadline = time.monotonic(), time.monotonic() + limit
    while time.monotonic() - quiet < idle:
        assert time.monotonic() < deadline, progress.said()
        was = progress.as_dict()
        projector.after_step(projector.step(progress), progress)
        if progress.as_dict() != was:
            quiet = time.monotonic()


def projected(env: Env) -> int:
    with Projection(env.settings.projection_work_file, read_only=True) as reader:
        return int(reader.query("SELECT count(*) FROM events")[1][0][0])


def partitions(env: Env, topic: str) -> int:
    s = env.settings
    client = kafka_client.admin(s, s.kafka_bootstrap_servers or "")
    try:
        return len(client.describe_topics([topic])[0].get("partitions") or ())
    finally:
        client.close()


def with_partitions(env: Env, count: int) -> Env:
    return Env(env.home, {**env.environ, "OKR_PARTITIONS": str(count)})


def running_projector(env: Env) -> tuple[Projection, Projector]:
    """A projector that read the log to its end (every event applied, none waiting)."""
    s = env.settings
    proj = Projection(s.projection_work_file)
    projector = Projector(s, s.kafka_bootstrap_servers or "", proj)
    before = projector.new_progress()
    project_until_idle(projector, before, idle=1.0)
    assert (before.stored, before.waiting) == (len(store_envelopes(s)), 0)
    return proj, projector


@contextmanager
def across_a_restart(env: Env, broker: Broker, events: int) -> Iterator[Projector]:
    """A running projector (the log read to its end); the broker restarts; the block does what
    follows the restart; then the projector reads on until idle and must hold every event
    (`events` in the store) once, none waiting at the gate, and the audit pass."""
    s = env.settings
    proj, projector = running_projector(env)
    try:
        broker.restart()
        yield projector
        after = projector.new_progress()
        project_until_idle(projector, after)
    finally:
        projector.close()
        proj.close()
    assert projected(env) == len(store_envelopes(s)) == events, after.said()
    assert after.waiting == 0
    audit_verifies(env)


@pytest.mark.parametrize("log", ["once", "twice"])
def test_a_running_projector_holds_every_event_once_after_a_restart_refilled_past_its_offsets(
        log: str, private_env: Env, private_broker: Broker,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """(a) The broker restarts under a running projector; the relay republishes the log and 30
    new events before the projector's next fetch, which finds the refilled topic past its
    offsets. With `twice`, a relay that died between its flush and its watermark had put every
    event in the old log twice, so the old offsets name other records of the new topic. The
    partition count is the broker's default, so whoever creates the topic again, each key
    lands where it did."""
    env = with_partitions(private_env, 4)
    s = env.settings
    add_live_kpis(s, WORKLOAD)
    record_readings(s, range(12))
    if log == "twice":
        relay_dies_after_its_flush(s, monkeypatch)
    env.ok("relay", "--once")
    with across_a_restart(env, private_broker, 45):
        record_readings(s, range(12, 42))
        env.ok("relay", "--once")  # the topic lost everything: republishes all 45 events


def test_a_running_projector_recovers_when_its_own_request_created_the_topic_with_4_partitions(
        private_env: Env, private_broker: Broker) -> None:
    """(b) After the restart the running projector's next fetch asks for the ledger topic, and
    Tansu creates it with its default 4 partitions (allow_auto_create_topics=False is not
    honoured) before the relay, configured for 6, comes back. The relay must put the topic back
    to 6 partitions and say so, and the projector must read every event of it."""
    env = with_partitions(private_env, 6)
    s = env.settings
    add_live_kpis(s, WORKLOAD)
    record_readings(s, range(12))
    env.ok("relay", "--once")
    with across_a_restart(env, private_broker, 45) as projector:
        projector.step(projector.new_progress())  # its requests create the topic
        assert partitions(env, s.topic_ledger) == 4
        record_readings(s, range(12, 42))
        said = env.run("relay", "--once")
        assert said.returncode == 0, said.stderr
        assert "other partitions than configured" in said.stdout + said.stderr, said
        assert partitions(env, s.topic_ledger) == 6


def add_kpis(env: Env, keys: list[str]) -> None:
    """More aggregates, whose keys spread over every partition."""
    app = OkrLedger(env.settings)
    try:
        for key in keys:
            app.add_kpi(key, f"Spread {key}", unit="pts", green=70.0, red=50.0,
                        cadence="daily")
    finally:
        app.close()


def test_a_projector_opened_while_the_topic_had_4_partitions_reads_all_6_once_it_is_recreated(
        private_env: Env, private_broker: Broker) -> None:
    """(b) As above, but the projector opens its reader again (as its follow loop does when
    idle) while the topic has the 4 partitions its request made: it is assigned those 4. The
    relay then deletes the topic and creates it with the 6 configured; the events it puts in
    partitions 4 and 5 must be read too, and the projector must say that the topic it found
    had other partitions than configured."""
    env = with_partitions(private_env, 6)
    s = env.settings
    add_live_kpis(s, WORKLOAD)
    add_kpis(env, [f"spread-{i}" for i in range(12)])
    record_readings(s, range(12))
    env.ok("relay", "--once")
    with across_a_restart(env, private_broker, 69) as projector:
        projector.step(projector.new_progress())  # its reader's requests create the topic
        projector.close()  # the follow loop's reopen while idle
        first = projector.new_progress()
        projector.after_step(projector.step(first), first)
        assert partitions(env, s.topic_ledger) == 4
        add_kpis(env, [f"later-{i}" for i in range(12)])
        record_readings(s, range(12, 42))
        env.ok("relay", "--once")
        assert partitions(env, s.topic_ledger) == 6
        assert {m.partition for m in ledger_records(s)} >= {4, 5}
    assert "has 4 partitions where 6 are configured" in first.said(), first.said()


def test_a_running_projector_reads_the_checkpoints_again_after_a_restart(
        private_env: Env, private_broker: Broker) -> None:
    """(c) The checkpoints topic held records the relay did not write (anyone at the broker
    can write there; the gate ignores what does not verify), so the projector's checkpoint
    reader stood past what the relay republishes after a restart. Waiting there, it would never
    see the checkpoints that cover the new events: they would wait at the gate for good."""
    env = with_partitions(private_env, 4)
    s = env.settings
    add_live_kpis(s, WORKLOAD)
    record_readings(s, range(12))
    env.ok("relay", "--once")
    produce(env, s.topic_checkpoints, [(b"checkpoint", b"not a checkpoint")] * 20)
    with across_a_restart(env, private_broker, 45):
        record_readings(s, range(12, 42))
        env.ok("relay", "--once")


def test_a_reconnect_during_a_catch_up_reads_on_to_the_tail(
        private_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """`okr consume --once` whose reader reconnects half-way (fault injection: its connections
    change once, after its first records): it lets go of the reader, opens it again from the
    stored offsets and reads on to the tail — no crash, every event once."""
    env = with_partitions(private_env, 4)
    s = env.settings
    add_live_kpis(s, WORKLOAD)
    record_readings(s, range(40))
    env.ok("relay", "--once")
    connections = kafka_client.PartitionReader.connections
    calls = 0

    def reconnected(reader: kafka_client.PartitionReader) -> frozenset[object]:
        nonlocal calls
        calls += 1
        return frozenset({object()}) if calls == 3 else connections(reader)

    monkeypatch.setattr(kafka_client.PartitionReader, "connections", reconnected)
    proj = Projection(s.projection_work_file)
    projector = Projector(s, s.kafka_bootstrap_servers or "", proj, batch=10)
    try:
        progress = projector.catch_up()
    finally:
        projector.close()
        proj.close()
    assert progress.reread and calls > 3, progress.said()
    assert projected(env) == len(store_envelopes(s)) == 43, progress.said()
