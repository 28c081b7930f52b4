"""KPI ingest against a real broker: good, bad and duplicate messages; a killed consumer."""

import hashlib
import json
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from okr.adapters import kafka_client
from okr.consumers import offsets as ingest_offsets
from okr.consumers.ingest import Ingest, IngestProgress, feed_ledger
from okr.ledger import views
from okr.ledger.app import OkrLedger
from okr.record.envelope import chained
from okr.settings import Settings
from tests.integration.conftest import Broker, Env, readings_progress, wait_for_change
from tests.integration.test_audit import produce

pytestmark = pytest.mark.integration


def readings(env: Env, kpi: str) -> list[dict]:
    app = OkrLedger(env.settings)
    try:
        return views.readings(app, app.kpi(kpi))
    finally:
        app.close()


def add_wau(env: Env) -> None:
    """The feed's KPI, in force before the messages' times (2025-10), so their readings count
    (one observed before its KPI was in force is recorded with a warning line: tested below)."""
    env.ok("kpi", "add", "wau", "Weekly active users", "--green", "140", "--red", "110",
           "--effective", "2025-09-01T00:00:00Z", "--reason", "the feed's history")


def message(i: int, **over: object) -> bytes:
    t = datetime(2025, 10, 1, tzinfo=UTC) + timedelta(minutes=i)
    return json.dumps({"kpi": "wau", "value": 100 + i, "observed_at": t.isoformat(),
                       "source": "pipeline", "id": f"m{i}", **over}).encode()


BAD = [b"{not json", b"[]", message(1, kpi="nope"), message(2, value="12"),
       message(3, value=None), b'{"kpi":"wau","value":NaN,"observed_at":"2026-10-01T00:00:00Z",'
       b'"source":"s","id":"x"}', message(4, observed_at="2099-01-01T00:00:00Z"),
       json.dumps({"kpi": "wau", "value": 1}).encode(), message(5, observed_at="2026-10-01T00:00")]


def test_mixed_stream_records_exactly_the_good_ones(env: Env) -> None:
    add_wau(env)
    good = [message(i) for i in range(10, 40)]
    stream = good + BAD + good[:10]  # the last ten are duplicates by id
    random.Random(1).shuffle(stream)
    produce(env, env.settings.topic_kpi_readings, [(b"wau", v) for v in stream])
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["recorded"], out["duplicates"], out["dead_letters"]) == (30, 10, len(BAD))
    got = readings(env, "wau")
    assert sorted(r["value"] for r in got) == [100.0 + i for i in range(10, 40)]
    # recorded under the feed's principal, not the account that ran the ingest
    app = OkrLedger(env.settings)
    try:
        actors = {e.actor for e in chained(app) if e.type == "KpiReadingRecorded"}
    finally:
        app.close()
    assert actors == {f"ingest:{env.settings.topic_kpi_readings}"}
    s = env.settings
    letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                           s.topic_dead_letter, idle=2.0))
    assert sorted(m.value for m in letters) == sorted(BAD)
    assert all(dict(m.headers)["reason"] for m in letters)
    assert {dict(m.headers)["consumer"] for m in letters} == {b"ingest"}
    # Readings show with both times, and a second run records nothing new.
    assert json.loads(env.ok("ingest", "--once", "--json"))["read"] == 0
    shown = json.loads(env.ok("show", "wau", "--json"))
    assert len(shown["readings"]) == 30
    assert {"value", "observed_at", "recorded_at", "source"} <= set(shown["readings"][0])


def test_killed_ingest_loses_and_duplicates_nothing(env: Env) -> None:
    """SIGKILLed right after it recorded a reading (a progress probe on the event store), so
    every kill lands mid-stream; then a last run catches up."""
    add_wau(env)
    n = 1500
    produce(env, env.settings.topic_kpi_readings,
            [(b"wau", message(i)) for i in range(n)])
    probe = readings_progress(env.settings, ["wau"])  # events of the KPI: 1 + readings
    rnd, recorded_at_kill = random.Random(2), []
    for _ in range(4):
        before = probe()
        proc = env.spawn("ingest", "--json")
        moved = wait_for_change(probe, timeout=60, before=before)
        time.sleep(rnd.uniform(0, 0.05))
        alive = proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert moved and alive, "the ingest recorded nothing, or finished, before the kill"
        (count,) = probe()  # type: ignore[misc]  # the probe's row: (count(*),)
        recorded_at_kill.append(count - 1)
    # The kills landed mid-stream: each after progress, none after the end.
    assert all(0 < r < n for r in recorded_at_kill), recorded_at_kill
    assert recorded_at_kill == sorted(recorded_at_kill), recorded_at_kill
    env.ok("ingest", "--once")
    values = sorted(r["value"] for r in readings(env, "wau"))
    assert values == [100.0 + i for i in range(n)]


def test_a_conflicting_duplicate_reading_goes_to_the_dead_letter_topic(env: Env) -> None:
    add_wau(env)
    first, same, other = message(7), message(7), message(7, value=999)
    moved, elsewhere = message(7, observed_at="2025-09-01T00:00:00Z"), message(7, source="x")
    produce(env, env.settings.topic_kpi_readings,
            [(b"wau", v) for v in (first, same, other, moved, elsewhere)])
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["recorded"], out["duplicates"], out["dead_letters"]) == (1, 1, 3)
    assert [r["value"] for r in readings(env, "wau")] == [107.0]
    s = env.settings
    letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                           s.topic_dead_letter, idle=2.0))
    assert sorted(m.value for m in letters) == sorted([other, moved, elsewhere])
    for m in letters:
        reason = dict(m.headers)["reason"].decode()
        assert reason.startswith("conflicting duplicate: reading id 'm7'"), reason


def test_a_broker_restart_while_no_ingest_runs_loses_no_reading_of_the_refilled_topic(
        private_env: Env, private_broker: Broker) -> None:
    """The memory broker restarts, and the feed refills the readings topic past the offsets
    the ingest stored before: those offsets name records of the old topic, so the ingest
    must read the new one from its start, not skip what the feed sent first."""
    env = private_env
    add_wau(env)
    topic = env.settings.topic_kpi_readings
    produce(env, topic, [(b"wau", message(i)) for i in range(20)])
    assert json.loads(env.ok("ingest", "--once", "--json"))["recorded"] == 20
    private_broker.restart()
    produce(env, topic, [(b"wau", message(i)) for i in range(100, 140)])  # past offset 20
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["read"], out["recorded"]) == (40, 40)
    values = sorted(r["value"] for r in readings(env, "wau"))
    assert values == [100.0 + i for i in [*range(20), *range(100, 140)]]


def test_two_ingests_at_once_record_and_dead_letter_each_message_once(env: Env) -> None:
    """Two `okr ingest` started together (a second terminal, a second `okr up`): one reads,
    the other waits for it, so no bad message is dead-lettered twice; `--once` beside a
    running ingest is refused in one line and reads nothing."""
    add_wau(env)
    s = env.settings
    produce(env, s.topic_kpi_readings,
            [(b"wau", v) for v in [message(i) for i in range(300)] + BAD])
    procs = [env.spawn("ingest", "--no-relay", "--json") for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while len(readings(env, "wau")) < 300 and time.monotonic() < deadline:
            time.sleep(0.2)
        refused = env.run("ingest", "--once", "--json")
        letters = list(kafka_client.read_topic(s, s.kafka_bootstrap_servers or "",
                                               s.topic_dead_letter, idle=3.0))
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        outs = [proc.communicate(timeout=30) for proc in procs]
    assert len(readings(env, "wau")) == 300
    assert sorted(m.value for m in letters) == sorted(BAD)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("okr: error: another ingest is reading "), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not refused.stdout
    waited = [out for out, _ in outs if "waiting for it" in out]
    assert len(waited) == 1, outs


def ingest_until_idle(ingest: Ingest, progress: IngestProgress, idle: float = 3.0,
                      limit: float = 60.0) -> None:
    """Step a running ingest (as its follow loop does) until it read nothing for `idle` s."""
    quiet, deadline = time.monotonic(), time.monotonic() + limit
    while time.monotonic() - quiet < idle and time.monotonic() < deadline:
        if ingest.step(progress):
            quiet = time.monotonic()


def test_a_running_ingest_skips_no_reading_when_the_broker_restarts_and_refills_in_one_poll(
        private_env: Env, private_broker: Broker) -> None:
    """The follow loop's own reader, at the stored offset, goes on fetching after the restart:
    its next fetch finds the refilled topic past that offset (no error, no idle reopen in
    between), so its partitions were checked only when they were assigned. It must read the
    refilled topic from its start, not skip the readings the feed sent first."""
    # Tansu's 4 partitions: the running reader's metadata request after the restart may
    # auto-create the topic before the feed's owner does (KAFKA-NOTES), and the readings must
    # land in the same partition in both incarnations (a flaky [2] != [0] once with 6).
    env = Env(private_env.home, {**private_env.environ, "OKR_PARTITIONS": "4"})
    s = env.settings
    add_wau(env)
    kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
    produce(env, s.topic_kpi_readings, [(b"wau", message(i)) for i in range(20)])
    app = feed_ledger(s)
    ingest = Ingest(app, private_broker.bootstrap)
    try:
        before = ingest.new_progress()
        ingest_until_idle(ingest, before, idle=1.0)
        assert before.recorded == 20
        private_broker.restart()
        kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
        produce(env, s.topic_kpi_readings, [(b"wau", message(i)) for i in range(100, 140)])
        after = ingest.new_progress()
        ingest_until_idle(ingest, after)
    finally:
        ingest.close()
        app.close()
    values = sorted(r["value"] for r in readings(env, "wau"))
    assert values == [100.0 + i for i in [*range(20), *range(100, 140)]]
    assert (after.recorded, after.wiped) == (40, [kafka_partition(s, private_broker)])


def kafka_partition(s: Settings, broker: Broker) -> int:
    """The partition of the readings topic that holds the test's readings (key b"wau")."""
    (m, *_) = kafka_client.read_topic(s, broker.bootstrap, s.topic_kpi_readings, idle=1.0)
    return m.partition


def test_a_mark_that_cannot_be_checked_is_not_trusted_the_partition_is_read_from_0(
        private_env: Env, private_broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record before the stored offset does not answer in time (fault injection: the
    ingest waits 0 s for it) after a restart refilled the topic past that offset: the stored
    offset must not be used unchecked; the partition is read from 0 and the ingest says so."""
    env, s = private_env, private_env.settings
    add_wau(env)
    kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
    produce(env, s.topic_kpi_readings, [(b"wau", message(i)) for i in range(20)])
    assert json.loads(env.ok("ingest", "--once", "--json"))["recorded"] == 20
    private_broker.restart()
    kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
    produce(env, s.topic_kpi_readings, [(b"wau", message(i)) for i in range(100, 140)])
    found = kafka_client.records_at

    def unanswered(*args: object, **kwargs: object) -> object:
        return found(*args, **{**kwargs, "timeout": 0.0})  # type: ignore[arg-type]

    monkeypatch.setattr(kafka_client, "records_at", unanswered)
    app = feed_ledger(s)
    ingest = Ingest(app, private_broker.bootstrap)
    try:
        progress = ingest.catch_up()
    finally:
        ingest.close()
        app.close()
    values = sorted(r["value"] for r in readings(env, "wau"))
    assert values == [100.0 + i for i in [*range(20), *range(100, 140)]]
    p = kafka_partition(s, private_broker)
    assert progress.as_dict()["unchecked_partitions"] == [p]
    assert f"partitions {p} could not be checked" in progress.said(), progress.said()


def send(env: Env, records: list[tuple[bytes, bytes, int | None]]) -> None:
    """(key, value, timestamp ms or None for now) records, in order, to partition 0."""
    s = env.settings
    prod = kafka_client.producer(s, s.kafka_bootstrap_servers or "")
    for key, value, at in records:
        prod.send(s.topic_kpi_readings, key=key, value=value, partition=0, timestamp_ms=at)
    prod.flush()
    prod.close()


T0 = 1_790_000_000_000  # a fixed CreateTime (ms) a feed may give its records


@pytest.mark.parametrize("again", ["re-sent later", "same time, another key"])
def test_a_refill_whose_record_before_the_offset_has_the_same_value_is_read_from_0(
        again: str, private_env: Env, private_broker: Broker) -> None:
    """After a restart the feed sends new readings first, then re-sends an old one, which
    lands just before the stored offset: its value bytes are the ones the mark was taken of,
    but it is another record (sent later, or under another key): the partition is another
    one and is read from 0, not from the stored offset past the new readings."""
    env, s = private_env, private_env.settings
    add_wau(env)
    kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
    send(env, [(b"wau", message(i), T0 + i) for i in range(20)])
    assert json.loads(env.ok("ingest", "--once", "--json"))["recorded"] == 20
    private_broker.restart()
    kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
    resent = ((b"wau", message(19), None) if again == "re-sent later"
              else (b"wau-2", message(19), T0 + 19))
    send(env, [*[(b"wau", message(i), None) for i in range(100, 119)], resent,
               *[(b"wau", message(i), None) for i in range(120, 140)]])
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["read"], out["recorded"], out["wiped_partitions"]) == (40, 39, [0])
    values = sorted(r["value"] for r in readings(env, "wau"))
    assert values == [100.0 + i for i in [*range(20), *range(100, 119), *range(120, 140)]]


def test_a_mark_kept_before_marks_named_the_key_is_still_compared_by_its_value(
        private_env: Env, private_broker: Broker) -> None:
    """Marks stored by an earlier version hold the SHA-256 of the value only: an unchanged
    topic is not read again, a refilled one is."""
    env, s = private_env, private_env.settings
    add_wau(env)
    kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
    send(env, [(b"wau", message(i), T0 + i) for i in range(20)])
    assert json.loads(env.ok("ingest", "--once", "--json"))["recorded"] == 20
    old = hashlib.sha256(message(19)).hexdigest()
    cluster = kafka_client.destination(s, private_broker.bootstrap)[0]
    ingest_offsets.save(s, s.topic_kpi_readings, cluster, {0: ingest_offsets.Stored(20, old)})
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["read"], out["wiped_partitions"]) == (0, [])
    other = hashlib.sha256(message(18)).hexdigest()
    ingest_offsets.save(s, s.topic_kpi_readings, cluster,
                        {0: ingest_offsets.Stored(20, other)})
    out = json.loads(env.ok("ingest", "--once", "--json"))
    assert (out["read"], out["duplicates"], out["wiped_partitions"]) == (20, 20, [0])


def test_a_partition_found_refilled_is_said_once_not_at_every_reopen(
        private_env: Env, private_broker: Broker) -> None:
    """After a restart the topic stays empty for a while: the running ingest says once that
    the partition is read from 0, not again at each idle reopen (every few seconds)."""
    env, s = private_env, private_env.settings
    add_wau(env)
    kafka_client.ensure_topics(s, private_broker.bootstrap, [s.topic_kpi_readings])
    send(env, [(b"wau", message(i), None) for i in range(20)])
    app = feed_ledger(s)
    ingest = Ingest(app, private_broker.bootstrap)
    try:
        ingest_until_idle(ingest, ingest.new_progress(), idle=1.0)
        private_broker.restart()
        said = []
        for _ in range(3):
            progress = ingest.new_progress()
            ingest_until_idle(ingest, progress, idle=1.0)
            said.append(progress.wiped)
            ingest.close()  # what the follow loop does while idle
    finally:
        ingest.close()
        app.close()
    assert said == [[0], [], []]


def test_a_reading_observed_before_its_kpi_was_in_force_is_recorded_with_a_warning(
        env: Env) -> None:
    """Before: recorded silently (the CLI warned, the feed did not); a warning line per such
    reading, counted in the summary. Nothing goes to dead letters: it is a warning."""
    env.ok("kpi", "add", "wau", "Weekly active users", "--green", "140", "--red", "110",
           "--effective", "2026-10-15T00:00:00Z", "--reason", "tracked since mid-October")
    early = message(1, observed_at="2026-10-10T00:00:00Z")
    fine = message(2, observed_at="2026-10-20T00:00:00Z")
    produce(env, env.settings.topic_kpi_readings, [(b"wau", early), (b"wau", fine)])
    proc = env.run("ingest", "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["recorded"], out["dead_letters"], out["before_in_force"]) == (2, 0, 1)
    warned = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warned) == 1, proc.stderr
    assert "observed before KPI wau was in force" in warned[0]
    assert "m1" in warned[0]  # which message: its reading id
    said = env.run("ingest", "--once")  # nothing new: no warning again
    assert said.returncode == 0 and "warning" not in said.stderr, said.stderr
