"""The projection consumer against a real broker: agreement with the pure replay of the Kafka
log, SIGKILL at random points, readers never locked out, poison records dead-lettered."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from okr.adapters import kafka_client
from okr.consumers.projector import Projector
from okr.domain.history import scorecard_at
from okr.projections.store import Projection, ProjectionLocked
from okr.record import signing
from okr.record.envelope import Envelope
from tests.integration.conftest import Env, Service
from tests.integration.test_relay import fill, topic_records
from tests.support.generator import Shape
from tests.support.holders import hold, let_go
from tests.unit.test_projection_differential import same

pytestmark = pytest.mark.integration

TABLES = ("events", "check_ins", "kpi_readings", "cycle_versions", "objective_versions",
          "key_result_versions", "initiative_versions", "kpi_versions", "aggregates")


def content_hash(path: Path) -> dict[str, str]:
    """A hash of each table's sorted content (Kafka coordinates excluded: they differ
    legitimately when a wiped topic is republished)."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:
        out = {}
        for t in TABLES:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                "AND column_name NOT IN ('kafka_partition', 'kafka_offset')", [t]).fetchall()]
            rows = con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} "
                               f"FROM {t} ORDER BY ALL").fetchall()
            out[t] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return out
    finally:
        con.close()


def test_scorecard_at_from_duckdb_equals_replay_of_the_kafka_log(env: Env) -> None:
    fill(env, Shape(seed=21, teams=3, quarters=3, kpis=5))
    env.ok("relay", "--once")
    out = json.loads(env.ok("consume", "--once", "--json"))
    assert out["stored"] > 1000 and out["dead_letters"] == 0
    facts = sorted({e.position: e.fact() for e in (Envelope.from_bytes(m.value or b"")
                    for m in topic_records(env))}.values(), key=lambda f: f.position)
    proj = Projection(env.settings.duckdb_file, read_only=True)
    rnd = random.Random(8)
    first, last = facts[0].recorded_at, facts[-1].recorded_at
    span = (last - first).total_seconds()
    instants = [(first + timedelta(seconds=rnd.uniform(0, span)),
                 first + timedelta(seconds=rnd.uniform(0, span * 1.05))) for _ in range(200)]
    instants += [(f.effective_at, f.recorded_at) for f in rnd.sample(facts, 40)]
    mismatches = [(a, k, d[:2]) for a, k in instants
                  if (d := same(proj.scorecard_at(a, k), scorecard_at(facts, a, k)))]
    proj.close()
    assert mismatches == []


def test_consumer_killed_at_random_points_ends_equal_to_a_clean_rebuild(env: Env,
                                                                        tmp_path: Path) -> None:
    fill(env, Shape(seed=22, teams=4, quarters=2, kpis=6, readings_per_day=3))
    env.ok("relay", "--once")
    kills = env.kill_repeatedly(("consume", "--json"), 6, random.Random(4), (0.5, 3.0))
    assert kills >= 3
    env.ok("consume", "--once")
    # same topic, empty projection, the relay's public key: a clean rebuild elsewhere
    (tmp_path / "relay.pem").write_text(signing.public_key_pem(env.settings.signing_key_file))
    clean = Env(tmp_path / "clean", {**env.environ, "OKR_HOME": str(tmp_path / "clean"),
                                     "OKR_PUBLIC_KEY": str(tmp_path / "relay.pem")})
    clean.ok("consume", "--once")
    assert content_hash(env.settings.projection_work_file) == \
        content_hash(clean.settings.projection_work_file)


def test_readers_and_analysts_are_never_locked_out_by_a_running_consumer(env: Env) -> None:
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    proc = env.spawn("consume", "--json")
    try:
        deadline = time.monotonic() + 20
        while not env.settings.duckdb_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        analyst = duckdb.connect(str(env.settings.duckdb_file), read_only=True)
        assert analyst.execute("SELECT count(*) FROM events").fetchone()[0] >= 3
        env.ok("checkin", "k1", "12", "--at", "2026-11-02")  # inside 2026-Q4 on any date
        # The running consumer picks the check-in up; CLI readers open the snapshot meanwhile.
        value = None
        while time.monotonic() < deadline:
            card = json.loads(env.ok("scorecard", "--json"))
            value = card["objectives"][0]["key_results"][0]["value"]
            if value == 12.0:
                break
            time.sleep(0.2)
        assert value == 12.0
        sql = json.loads(env.ok("sql", "SELECT count(*) AS n FROM check_ins", "--json"))
        assert sql == [{"n": 1}]
        assert analyst.execute("SELECT count(*) FROM events").fetchone()[0] >= 3
        analyst.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_a_reader_holding_the_work_file_holds_the_consumer_back_but_never_stops_it(
        env: Env) -> None:
    """An analyst (or a long export) with the work file open read-only: the following
    consumer cannot write; it logs, backs off and writes everything once the file is free."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("consume", "--once")
    s = env.settings
    proj = Projection(s.projection_work_file, wait=0.5)
    projector = Projector(s, s.kafka_bootstrap_servers or "", proj)
    proj.release()
    analyst = hold(s.projection_work_file)
    # published inline: the consumer has work it cannot write
    env.ok("checkin", "k1", "12", "--at", "2026-11-02")
    errors: list[Exception] = []
    stored: list[int] = []
    stop = threading.Event()
    follower = threading.Thread(target=projector.run, args=(
        stop.is_set, lambda p: stored.append(p.stored), lambda exc, _: errors.append(exc)))
    follower.start()
    try:
        deadline = time.monotonic() + 30
        while not any(isinstance(e, ProjectionLocked) for e in errors):
            assert time.monotonic() < deadline, f"no lock reported: {errors}"
            time.sleep(0.1)
        assert follower.is_alive() and not stored
        let_go(analyst)
        while sum(stored) < 1:
            assert time.monotonic() < deadline, f"never written: {errors}"
            time.sleep(0.1)
    finally:
        stop.set()
        follower.join(timeout=30)
        projector.close()
        proj.close()
        let_go(analyst)
    assert not follower.is_alive()
    with Projection(s.projection_work_file, read_only=True) as reader:
        assert reader.query("SELECT value FROM check_ins")[1] == [(12.0,)]


def opens_elsewhere(path: Path) -> bool:
    """Whether a reader in another process opens the file read-only at once (no waiting)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from okr.projections.store import Projection, "
         "ProjectionLocked\ntry:\n    Projection(sys.argv[1], read_only=True, wait=0).close()"
         "\nexcept ProjectionLocked:\n    sys.exit(3)", str(path)], capture_output=True,
        text=True)
    assert proc.returncode in (0, 3), proc.stderr
    return proc.returncode == 0


def test_at_the_tail_the_consumer_lets_go_of_the_work_file_before_it_asks_kafka(
        env: Env, tmp_path: Path) -> None:
    """Records waiting at the gate make the consumer read the checkpoints topic after every
    step; at the tail it does so with the work file closed, so readers never wait on Kafka.
    (Checkpoints here verify with no key the consumer trusts: the records wait throughout.)"""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    s = env.settings.model_copy(update={"public_key": tmp_path / "other.pem"})
    (tmp_path / "other.pem").write_text(signing.public_key_pem(tmp_path / "other.key"))
    proj = Projection(s.projection_work_file)
    projector = Projector(s, s.kafka_bootstrap_servers or "", proj)
    free_while_asking: list[bool] = []
    ask = projector._read_checkpoints

    def spied() -> None:
        free_while_asking.append(opens_elsewhere(s.projection_work_file))
        ask()

    try:
        progress = projector.new_progress()
        read = 0
        deadline = time.monotonic() + 30
        while not read:  # the two events, in one step or more
            assert time.monotonic() < deadline
            read = projector.step(progress, wait_ms=500)
        assert progress.waiting >= 1 and progress.stored == 0
        projector._read_checkpoints = spied  # type: ignore[method-assign]
        projector.after_step(read)
        assert free_while_asking == [True]
        assert opens_elsewhere(s.projection_work_file)
    finally:
        projector.close()
        proj.close()


def test_a_cli_read_shows_the_snapshot_when_a_reader_holds_the_work_file(env: Env) -> None:
    """No consumer runs, so the read would refresh the work file first; a reader holds it:
    after a few seconds the read says so and shows the last snapshot."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    env.ok("consume", "--once")
    analyst = hold(env.settings.projection_work_file)
    try:
        env.ok("objective", "add", "o2", "Keep customers", "--cycle", "2026-Q4")
        started = time.monotonic()
        proc = env.run("scorecard", "--json")
        took = time.monotonic() - started
    finally:
        let_go(analyst)
    assert proc.returncode == 0, proc.stderr
    assert "okr: warning: could not refresh the projection" in proc.stderr, proc.stderr
    assert [o["key"] for o in json.loads(proc.stdout)["objectives"]] == ["o1"]
    assert took < 30
    card = json.loads(env.ok("scorecard", "--json"))  # free again: refreshed
    assert [o["key"] for o in card["objectives"]] == ["o1", "o2"]


def test_a_read_refreshes_only_when_the_store_holds_events_the_projection_lacks(
        env: Env) -> None:
    """A read whose work file already holds every stored event needs no Kafka at all (with
    the broker unreachable it says nothing); one event more in the store and it refreshes
    (or, with Kafka away, warns and shows what it has)."""
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    env.ok("consume", "--once")
    away = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    quiet = env.run("scorecard", "--json", **away)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert [o["key"] for o in json.loads(quiet.stdout)["objectives"]] == ["o1"]
    env.ok("objective", "add", "o2", "Keep customers", "--cycle", "2026-Q4",
           OKR_INLINE_PUBLISH="off")  # in the store only
    stale = env.run("scorecard", "--json", **away)
    assert stale.returncode == 0 and "could not refresh the projection" in stale.stderr
    assert [o["key"] for o in json.loads(stale.stdout)["objectives"]] == ["o1"]
    fresh = json.loads(env.ok("scorecard", "--json"))  # publishes o2, consumes it, shows it
    assert [o["key"] for o in fresh["objectives"]] == ["o1", "o2"]


def test_poison_records_go_to_the_dead_letter_topic_and_the_consumer_carries_on(
        env: Env) -> None:
    env.ok("cycle", "add", "2026-Q4")
    s = env.settings
    servers = s.kafka_bootstrap_servers or ""
    good = topic_records(env)[0]
    forged = json.loads(good.value or b"")
    forged["data"]["key"] = "2099-Q1"  # altered after hashing
    prod = kafka_client.producer(s, servers)
    for value in (b"not json", b"{}", json.dumps(forged).encode(), None):
        prod.send(s.topic_ledger, key=good.key, value=value)
    prod.flush()
    prod.close()
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    out = json.loads(env.ok("consume", "--once", "--json"))
    assert out["dead_letters"] == 4 and out["stored"] == 2
    letters = list(kafka_client.read_topic(s, servers, s.topic_dead_letter, idle=2.0))
    reasons = sorted(dict(m.headers)["reason"].decode() for m in letters)
    assert len(reasons) == 4
    assert any("hash mismatch" in r for r in reasons)
    assert any("empty record" in r for r in reasons)
    assert {m.value for m in letters} >= {b"not json", b"{}"}
    card = json.loads(env.ok("scorecard", "--json"))
    assert [o["key"] for o in card["objectives"]] == ["o1"]


def test_history_export_and_read_only_sql(env: Env, tmp_path: Path) -> None:
    env.ok("cycle", "add", "2026-Q4")
    env.ok("objective", "add", "o1", "Grow revenue", "--cycle", "2026-Q4")
    env.ok("kr", "add", "k1", "Signups", "--objective", "o1", "--target", "40")
    env.ok("checkin", "k1", "5", "--at", "2026-11-02")
    env.ok("cycle", "commit", "2026-Q4")
    env.ok("kr", "revise", "k1", "--target", "30", "--reason", "hiring freeze")
    hist = json.loads(env.ok("history", "k1", "--json"))
    assert [r["change"] for r in hist["revisions"]] == ["KeyResultAdded", "KeyResultRevised"]
    assert hist["revisions"][1]["reason"] == "hiring freeze"
    assert [c["value"] for c in hist["check_ins"]] == [5.0]
    out = json.loads(env.ok("export", "parquet", str(tmp_path / "pq"), "--json"))
    assert out["rows"]["events"] == 6
    assert list((tmp_path / "pq" / "check_ins").glob("cycle=2026-Q4/*.parquet"))
    for bad in ("DELETE FROM events", "SELECT 1; DROP TABLE events",
                "SELECT * FROM read_csv('/etc/passwd')", "ATTACH '/tmp/x.db'",
                "COPY events TO '/tmp/x.csv'", "INSTALL httpfs", "SET threads = 1"):
        proc = env.run("sql", bad)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert "read-only" in proc.stderr or "one statement" in proc.stderr, (bad, proc.stderr)
    # A forbidden word inside a string literal is just data.
    assert env.ok("sql", "SELECT count(*) FROM check_ins WHERE note <> 'delete me'")
    rows = json.loads(env.ok("sql", "SELECT key_result, target FROM kr_progress('2026-Q4')",
                             "--json"))
    assert rows == [{"key_result": "k1", "target": 40.0}]


def test_what_waits_at_the_gate_stays_a_window_however_unevenly_partitions_arrive(
        env: Env) -> None:
    """The gate holds each record until a signed checkpoint covers it, and a checkpoint covers
    a record only once every record before it was read, from every partition. The client
    hands out one partition's fetched records before the next one's, so without pacing the
    gate held most of the history while the slowest partition caught up (593 MB at 97,086
    events). A partition more than `window` positions ahead of the slowest one is not
    fetched until the others caught up: what waits stays within a window, a batch and a
    checkpoint's span, and every event is still applied."""
    n = fill(env, Shape(seed=3, teams=2, quarters=1, kpis=12))
    env.ok("relay", "--once", OKR_CHECKPOINT_EVERY="20")
    s = env.settings
    proj = Projection(s.projection_work_file)
    batch, window = 40, 60
    projector = Projector(s, s.kafka_bootstrap_servers or "", proj, batch=batch, window=window)
    waiting: list[int] = []
    try:
        progress = projector.catch_up(lambda p: waiting.append(p.waiting))
        assert progress.stored == n == proj.event_count() and progress.forged == 0
    finally:
        projector.close()
        proj.close()
    assert n > 10 * (window + batch + 20)
    assert max(waiting) <= window + batch + 20, max(waiting)


def test_a_paced_read_never_sleeps_while_a_partition_it_may_read_is_behind(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-python sleeps out a poll's timeout when it finds nothing to hand out and nothing
    to fetch. Pausing and resuming partitions left resumed partitions' fetched records parked
    where its next poll did not look, and those partitions unfetched: the poll slept while
    they had records to read (~10 s of a 35 s read of 300,000 records, docs/benchmarks.md).
    Spied here: no such sleep while a partition not paused is behind its high watermark."""
    import kafka.consumer.group as kafka_group

    n = fill(env, Shape(seed=3, teams=2, quarters=1, kpis=12))
    env.ok("relay", "--once", OKR_CHECKPOINT_EVERY="20")
    s = env.settings
    proj = Projection(s.projection_work_file)
    projector = Projector(s, s.kafka_bootstrap_servers or "", proj, batch=40, window=60)
    stalls: list[list[int]] = []
    real_time = kafka_group.time

    class SpiedTime:
        def __getattr__(self, name: str) -> object:
            return getattr(real_time, name)

        def sleep(self, seconds: float) -> None:
            reader = projector.reader
            if reader is not None:
                paused = {tp.partition for tp in reader.client.paused()}
                behind = [p for p in reader.partitions if p not in paused
                          and not reader.at_tail(p)]
                if behind:
                    stalls.append(behind)
            real_time.sleep(seconds)

    monkeypatch.setattr(kafka_group, "time", SpiedTime())
    try:
        progress = projector.catch_up()
        assert progress.stored == n == proj.event_count()
    finally:
        projector.close()
        proj.close()
    assert stalls == [], f"{len(stalls)} polls slept while partitions were behind: {stalls[:5]}"


# ---- what the consumer says it did ----------------------------------------------------------

def _withhold_checkpoints(env: Env) -> int:
    """A ledger published to its topic while its signed checkpoint went elsewhere: every
    record waits at the consumer's gate until `okr relay --checkpoint` signs it onto the
    consumer's topic (the relay's checkpoint arriving later than its records, for as long as
    the test likes). Returns the events."""
    n = fill(env, Shape(seed=5, teams=1, quarters=1, kpis=2))
    s = env.settings
    env.ok("relay", "--once", OKR_TOPIC_CHECKPOINTS=f"{s.topic_checkpoints}.elsewhere")
    kafka_client.ensure_topics(s, s.kafka_bootstrap_servers or "", [s.topic_checkpoints])
    return n


def _projected(env: Env) -> int:
    rows = json.loads(env.ok("sql", "SELECT count(*) AS n FROM events", "--json"))
    return int(rows[0]["n"])


def test_consume_once_says_how_many_records_wait_for_a_signed_checkpoint(env: Env) -> None:
    """`okr consume --once` that applied nothing because no signed checkpoint covers the
    records yet says so, and once one does, how many it applied: the counts are what the
    projection holds."""
    n = _withhold_checkpoints(env)
    proc = env.run("consume", "--once")
    assert proc.returncode == 0, proc.stderr
    assert f"read {n} records; 0 applied" in proc.stdout, proc.stdout
    assert f"{n} waiting for a signed checkpoint" in proc.stdout, proc.stdout
    out = json.loads(env.ok("consume", "--once", "--json"))  # read again: they still wait
    assert (out["read"], out["stored"], out["applied"], out["waiting"]) == (n, 0, 0, n)
    env.ok("relay", "--once", "--checkpoint")
    out = json.loads(env.ok("consume", "--once", "--json"))
    assert (out["stored"], out["applied"], out["waiting"], out["dead_letters"]) == (n, n, 0, 0)
    assert _projected(env) == n


def test_the_running_consumers_log_counts_every_event_it_applies(env: Env,
                                                                  tmp_path: Path) -> None:
    """Records read before their checkpoint arrives are applied in a later step, when it
    does. The log must count them there: it said "projected N records (0 new events)" for
    the step that read them and nothing for the one that applied them, so the applied events
    it reported fell short of what the projection holds."""
    n = _withhold_checkpoints(env)
    consume = Service(env, "consume", "--json", log=tmp_path / "consume.log")
    consume.start()

    def said() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in list(consume.lines)]
        return [d for d in lines if d["service"] == "consume" and "read" in d]
    try:
        deadline = time.monotonic() + 60
        while sum(int(d["read"]) for d in said()) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sum(int(d["read"]) for d in said()) == n, consume.lines
        assert said()[-1]["waiting"] == n and not any(d["stored"] for d in said())
        env.ok("relay", "--once", "--checkpoint")  # the checkpoint arrives: all are applied
        deadline = time.monotonic() + 60
        while _projected(env) < n and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        assert consume.stop() == 0, (tmp_path / "consume.log").read_text()
    lines = said()
    assert _projected(env) == n
    assert sum(int(d["stored"]) for d in lines) == n, [d["message"] for d in lines]
    assert sum(int(d["applied"]) for d in lines) == n
    assert lines[-1]["waiting"] == 0
    # (the first step may have read only part of them: the last one before the checkpoint
    # holds them all)
    assert any(f"{n} waiting for a signed checkpoint" in str(d["message"]) for d in lines)
    assert any(f"; {n} applied" in str(d["message"]) for d in lines), lines
