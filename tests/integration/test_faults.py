"""Fault injection (issue #9): kill anything at any moment, lose nothing.

A workload — a seeded history written into the event store in paced transactions, plus KPI
readings produced onto the live feed — runs while the relay, the projection consumer and the
ingest are SIGKILLed and restarted, while `okr` write commands are SIGKILLed mid-write, while
the network to the broker is cut under the relay, and while the broker is stopped and started
(memory engine: it forgets everything). Afterwards the event store, the Kafka log and the
DuckDB tables must hash equal to a clean run of the same workload: nothing lost, nothing
doubled.

`make test` runs the short version; `OKR_SOAK=1` the soak version (counts below).
"""

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from okr.adapters import kafka_client
from okr.ledger.app import OkrLedger
from okr.record import watermark
from okr.record.envelope import Envelope
from okr.record.relay import Relay
from okr.settings import Settings
from tests.integration.conftest import (
    LIVE_SOURCE,
    Broker,
    Content,
    Env,
    Kills,
    Probe,
    Proxy,
    Service,
    audit_verifies,
    duckdb_digests,
    kafka_digest,
    kill_repeatedly,
    ledger_content,
    ledger_records,
    okr_environ,
    projection_progress,
    readings_progress,
    relay_progress,
    store_envelopes,
    store_progress,
    wait_for_change,
)
from tests.support.clock import recording_at
from tests.support.generator import Shape, generate

pytestmark = pytest.mark.integration

# ---- how hard: every count in one place ------------------------------------------------------

SOAK = os.environ.get("OKR_SOAK") == "1"
KILLS_PER_SERVICE = 25 if SOAK else 5
KILL_DELAY = (0.3, 2.5)  # seconds from start to SIGKILL, when not waiting for progress
MIN_LANDED = 0.8  # share of the planned SIGKILLs that must hit a running process
SECONDS_PER_KILL = 1.6  # the workload is paced to last about this long per planned kill

CLI_KILLS = 60 if SOAK else 12  # write commands SIGKILLed, a quarter of each kind
IMPORT_LINES = 150  # lines of each imported CSV file, spread over every key result
KEY_RESULTS = 30
SNAPSHOT_KILLS = 10 if SOAK else 2  # consumers killed right after a commit

NETWORK_CUTS = 15 if SOAK else 3  # the relay cut off from the broker, then killed
CUT_FOR = (0.3, 1.2)  # seconds the network stays cut before the SIGKILL
BACKLOG_CUTS = 5 if SOAK else 3  # each needs pages left: the backlog is about 7.5 pages
CUT_FOR_BACKLOG = (1.0, 2.0)  # long enough for the relay to send a page or two into the void

BROKER_RESTARTS = 6 if SOAK else 2
BROKER_UP = (1.5, 4.0)  # seconds the broker runs before the next stop
OUTAGE = (0.3, 2.0)  # seconds it stays down

SERVICES = ("relay", "consume", "ingest")
# What runs undisturbed while a victim is killed. Not `okr ingest` next to a killed relay: it
# runs a relay of its own, which would re-publish whatever the killed one lost and hide it.
STEADY = {"relay": ("consume",), "consume": ("relay", "ingest"), "ingest": ("relay", "consume")}
# When a victim counts as having just made progress (for the kills right after it).
PROBES: dict[str, Callable[[Settings], Probe]] = {
    "relay": relay_progress, "consume": projection_progress,
    "ingest": lambda settings: readings_progress(settings, WORKLOAD.kpis())}


# ---- the workload ------------------------------------------------------------------------------

LIVE_KPIS_ADDED_AT = datetime(2025, 5, 1, tzinfo=UTC)
FEED_STARTS_AT = datetime(2025, 6, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Workload:
    """A seeded history for the event store and the readings of a live feed. The feed's KPIs
    are not the generator's, so every aggregate's versions are the same in every run."""

    shape: Shape
    batch: int = 60  # events per store transaction
    live_kpis: int = 3
    readings: int = 600
    chunk: int = 20  # feed messages per produce-and-flush

    def kpis(self) -> list[str]:
        return [f"live-{i}" for i in range(self.live_kpis)]

    def feed(self) -> list[tuple[bytes, bytes]]:
        """(key, value) messages; every tenth repeats an earlier one (same id: recorded once)."""
        rnd = random.Random(self.shape.seed)
        out: list[tuple[bytes, bytes]] = []
        for i in range(self.readings):
            kpi = f"live-{i % self.live_kpis}"
            at = FEED_STARTS_AT + timedelta(minutes=7 * i)
            out.append((kpi.encode(), json.dumps({
                "kpi": kpi, "value": round(rnd.uniform(0, 100), 2), "observed_at": at.isoformat(),
                "source": LIVE_SOURCE, "id": f"reading-{i}"}).encode()))
            if i % 10 == 9:
                out.append(out[-4])
        return out


WORKLOAD = Workload(Shape(seed=41, teams=4, quarters=2, kpis=6, readings_per_day=3))
# Several of the relay's pages (5000 events), written before the relay starts.
BACKLOG = Workload(Shape(seed=43, teams=6, quarters=2, kpis=18, readings_per_day=10), batch=5000)


def add_live_kpis(settings: Settings, workload: Workload) -> None:
    """The feed's KPIs, recorded at a fixed time (before the feed starts)."""
    app = OkrLedger(settings)
    try:
        with recording_at(lambda: LIVE_KPIS_ADDED_AT):
            for key in workload.kpis():
                app.add_kpi(key, f"Live {key}", unit="pts", green=70.0, red=50.0,
                            cadence="daily")
    finally:
        app.close()


class Pace:
    """Spreads steps over the part `begin`..`end` of `seconds` (the faults happen meanwhile)
    until `release()`, after which the rest runs at full speed. Zero seconds: no pacing.
    Paces that share `released` are released together."""

    def __init__(self, seconds: float = 0, begin: float = 0.0, end: float = 1.0,
                 released: threading.Event | None = None) -> None:
        self.seconds, self.start = seconds, time.monotonic()
        self.begin, self.end = begin, end
        self.released = released or threading.Event()

    def wait(self, done: int, total: int) -> None:
        """Sleep until step `done` of `total` is due."""
        share = self.begin + (self.end - self.begin) * done / max(total, 1)
        due = self.start + self.seconds * share
        if self.seconds and not self.released.is_set():
            self.released.wait(max(0.0, due - time.monotonic()))

    def release(self) -> None:
        self.released.set()


def write_history(settings: Settings, workload: Workload, pace: Pace | None = None,
                  total: int = 1) -> int:
    """Write the seeded history in transactions of `batch` events, paced."""
    app = OkrLedger(settings)
    try:
        return generate(app, workload.shape, batch=workload.batch, progress=None if pace is None
                        else lambda done: pace.wait(done, total)).events
    finally:
        app.close()


class Feed:
    """The live feed: the workload's readings in chunks, each produced and flushed, paced;
    `rewind()` makes it send everything again (a broker that forgot the topic)."""

    def __init__(self, settings: Settings, workload: Workload, pace: Pace | None = None
                 ) -> None:
        self.settings, self.workload, self.pace = settings, workload, pace or Pace()
        self.messages = workload.feed()
        self.lock = threading.Lock()
        self.sent = 0
        self.producer: object = None

    def run(self) -> None:
        """Send what is not sent yet."""
        try:
            while True:
                with self.lock:
                    if self.sent >= len(self.messages):
                        return
                    batch = self.messages[self.sent:self.sent + self.workload.chunk]
                    self._produce(batch)
                    self.sent += len(batch)
                self.pace.wait(self.sent, len(self.messages))
        finally:
            self._close()

    def rewind(self) -> None:
        """Send every message again from the first (call holding `lock`)."""
        self.sent = 0
        self._close()  # an idempotent producer does not survive a broker restart

    def _produce(self, batch: list[tuple[bytes, bytes]]) -> None:
        s = self.settings
        servers = s.kafka_bootstrap_servers or ""
        if self.producer is None:
            kafka_client.ensure_topics(s, servers, [s.topic_kpi_readings])
            self.producer = kafka_client.producer(s, servers, client_id="live-feed")
        prod: Any = self.producer
        futures = [prod.send(s.topic_kpi_readings, key=k, value=v) for k, v in batch]
        prod.flush(timeout=30)
        assert all(f.succeeded() for f in futures), "the live feed could not produce"

    def _close(self) -> None:
        kafka_client.close_quietly(self.producer)
        self.producer = None


@dataclass
class Running:
    """A workload in progress: the history writer and the live feed, in threads."""

    feed: Feed
    pace: Pace
    threads: list[threading.Thread]

    def busy(self) -> bool:
        return any(t.is_alive() for t in self.threads)


@contextmanager
def workload_running(env: Env, workload: Workload, seconds: float, total: int
                     ) -> Iterator[Running]:
    """Write the history, then produce the feed, in background threads spread over at most
    `seconds`: the faults are injected inside the block, and on leaving it the workload
    finishes at full speed (failures in the threads are raised here).

    The history is recorded at its simulated (past) times and the ingest records the feed's
    readings now; the store refuses a recording time earlier than the last one it holds, so
    the history takes the first half of the time and the feed the second."""
    errors: list[BaseException] = []
    pace = Pace(seconds, end=0.5)
    feed = Feed(env.settings, workload, Pace(seconds, begin=0.5, released=pace.released))

    def guarded(fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
        return run

    history = threading.Thread(target=guarded(lambda: write_history(
        env.settings, workload, pace, total)), name="history", daemon=True)

    def feed_after_history() -> None:
        history.join()
        feed.run()

    running = Running(feed, pace, [
        history, threading.Thread(target=guarded(feed_after_history), name="feed", daemon=True)])
    for t in running.threads:
        t.start()
    try:
        yield running
    finally:
        pace.release()
        for t in running.threads:
            t.join(timeout=120)
    assert not running.busy(), "the workload did not finish in time"
    if errors:
        raise errors[0]
    feed.run()  # a rewind after the feed had finished: send everything again


def catch_up(env: Env) -> None:
    """Let everything catch up once, in dependency order: feed → ledger → Kafka → DuckDB."""
    env.ok("ingest", "--once")
    env.ok("relay", "--once")
    env.ok("consume", "--once")


@dataclass(frozen=True)
class CleanRun:
    content: Content
    generated: int  # events the history wrote (paces the workload of the other runs)


@pytest.fixture(scope="module")
def clean(broker: object, tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    """The workload run once without faults: the reference every faulty run must equal."""
    home = tmp_path_factory.mktemp("clean") / "home"
    env = Env(home, okr_environ(home, broker.bootstrap))  # type: ignore[attr-defined]
    add_live_kpis(env.settings, WORKLOAD)
    generated = write_history(env.settings, WORKLOAD)
    Feed(env.settings, WORKLOAD).run()
    catch_up(env)
    return CleanRun(ledger_content(env.settings), generated)


def assert_same_as_clean(env: Env, clean: CleanRun) -> Content:
    """Nothing lost, nothing doubled: store, Kafka and DuckDB hash equal to the clean run, and
    the chain verifies."""
    content = ledger_content(env.settings)
    assert content.differences(clean.content) == []
    assert content == clean.content
    audit_verifies(env)
    return content


def report(what: str, line: str) -> None:
    print(f"\n[faults] {what}: {line}", flush=True)


# ---- 1. services SIGKILLed during the workload ------------------------------------------------

@pytest.mark.parametrize("victim", SERVICES)
def test_service_killed_repeatedly_during_the_workload_loses_and_doubles_nothing(
        victim: str, env: Env, clean: CleanRun, tmp_path: Path) -> None:
    """The victim is SIGKILLed and restarted while the others run and the workload writes."""
    started = time.monotonic()
    services = {n: Service(env, n, "--json", log=tmp_path / f"{n}.log") for n in SERVICES}
    add_live_kpis(env.settings, WORKLOAD)
    steady = [services[n] for n in STEADY[victim]]
    for s in steady:
        s.start()
    seconds = KILLS_PER_SERVICE * SECONDS_PER_KILL
    with workload_running(env, WORKLOAD, seconds, clean.generated) as running:
        kills = kill_repeatedly(services[victim], KILLS_PER_SERVICE, random.Random(victim),
                                KILL_DELAY, PROBES[victim](env.settings), running.busy,
                                writes_while_starting=victim == "consume")
    for s in steady:
        assert s.stop() == 0, f"okr {s.name} did not stop cleanly: see {s.log}"
    catch_up(env)
    content = assert_same_as_clean(env, clean)
    report(f"{victim} killed", f"{kills.line()}; {content.store.rows} events, "
           f"{content.kafka_records} Kafka records; {time.monotonic() - started:.1f} s")
    assert_enough(kills)


def assert_enough(kills: Kills) -> None:
    """The test must not pass vacuously: most SIGKILLs hit a running service loop."""
    need = int(kills.planned * MIN_LANDED)
    assert kills.landed >= need and kills.in_loop >= need // 2, kills.line()


def test_relay_cut_off_from_the_broker_then_killed_loses_nothing(
        proxied_broker: tuple[Broker, Proxy], clean: CleanRun, tmp_path: Path) -> None:
    """The network to the broker is cut while the relay publishes (what it sends is lost on
    the way), then the relay is SIGKILLed: whatever Kafka did not acknowledge must be sent
    again by the next relay, so its watermark may never run ahead of the acknowledgements."""
    started = time.monotonic()
    broker, proxy = proxied_broker
    home = tmp_path / "home"
    env = Env(home, okr_environ(home, broker.bootstrap))
    add_live_kpis(env.settings, WORKLOAD)
    consume = Service(env, "consume", "--json", log=tmp_path / "consume.log")
    relay = Service(env, "relay", "--json", log=tmp_path / "relay.log")
    consume.start()
    probe, rnd, cuts = relay_progress(env.settings), random.Random("cut"), 0
    with workload_running(env, WORKLOAD, NETWORK_CUTS * 8.0, clean.generated) as running:
        for _ in range(NETWORK_CUTS):
            before = probe()
            relay.start()
            publishing = wait_for_change(probe, timeout=15, before=before)
            with running.feed.lock:  # the feed waits for the network too
                proxy.cut()
                time.sleep(rnd.uniform(*CUT_FOR))
                cuts += relay.kill() and publishing and running.busy()
                proxy.heal()
    assert consume.stop() == 0, f"okr consume did not stop cleanly: see {consume.log}"
    catch_up(env)
    content = assert_same_as_clean(env, clean)
    report("network cut, then relay killed", f"{cuts}/{NETWORK_CUTS} SIGKILLs landed on a "
           f"publishing relay cut off from the broker; {content.store.rows} events, "
           f"{content.kafka_records} Kafka records; {time.monotonic() - started:.1f} s")
    assert cuts == NETWORK_CUTS


def test_relay_cut_off_while_catching_up_a_backlog_then_killed_loses_nothing(
        proxied_broker: tuple[Broker, Proxy], tmp_path: Path) -> None:
    """The same while the relay catches up a backlog of several pages, each page sent while
    the one before waits for its acknowledgements: the log must hold every stored event."""
    started, (broker, proxy) = time.monotonic(), proxied_broker
    home = tmp_path / "home"
    env = Env(home, okr_environ(home, broker.bootstrap))
    stored = write_history(env.settings, BACKLOG)
    relay = Service(env, "relay", "--json", log=tmp_path / "relay.log")
    probe, rnd, cuts = relay_progress(env.settings), random.Random("backlog"), 0
    for _ in range(BACKLOG_CUTS):
        before = probe()
        relay.start()
        publishing = wait_for_change(probe, timeout=30, before=before)  # a page acknowledged
        proxy.cut()
        time.sleep(rnd.uniform(*CUT_FOR_BACKLOG))
        cuts += relay.kill() and publishing
        proxy.heal()
    env.ok("relay", "--once")
    audit_verifies(env)  # the store's events, each in the log, chained
    assert kafka_digest(ledger_records(env.settings))[0].rows == stored
    report("network cut during a backlog, then relay killed", f"{cuts}/{BACKLOG_CUTS} SIGKILLs "
           f"landed on a relay publishing {stored} events cut off from the broker; "
           f"{time.monotonic() - started:.1f} s")
    assert cuts == BACKLOG_CUTS


def test_consumer_killed_right_after_a_commit_leaves_readers_every_event(
        env: Env, tmp_path: Path) -> None:
    """A consumer killed between committing a batch and whatever it does after (publishing
    the readers' snapshot, letting go of the work file): the next read shows every event."""
    settings = env.settings
    add_live_kpis(settings, WORKLOAD)
    env.ok("relay", "--once")
    env.ok("consume", "--once")  # readers have a projection
    consume = Service(env, "consume", "--json", log=tmp_path / "consume.log")
    probe = projection_progress(settings)
    landed = 0
    for round_ in range(SNAPSHOT_KILLS):
        env.ok("kpi", "record", "live-0", str(round_), "--at", "2025-06-01")
        consume.start()
        assert consume.ready.wait(timeout=30)
        committed = wait_for_change(probe, timeout=30)
        landed += consume.kill() and committed
        seen = json.loads(env.ok("sql", "SELECT count(*) AS n FROM events", "--json"))
        assert seen == [{"n": len(store_envelopes(settings))}], f"round {round_}"
    report("consumer killed after a commit", f"{landed}/{SNAPSHOT_KILLS} SIGKILLs landed "
           "right after the consumer committed a batch")
    assert landed == SNAPSHOT_KILLS


# ---- 2. `okr` write commands SIGKILLed mid-write ----------------------------------------------

WRITES = ("checkin", "revise", "import-checkins", "import-readings")


@dataclass(frozen=True)
class Write:
    """One `okr` write command; every event it records carries its tag."""

    tag: str
    args: tuple[str, ...]
    events: int  # events it records
    idempotent: bool = False  # a re-run records nothing new

    @property
    def kind(self) -> str:
        return self.tag.split("-", 1)[1]


def tag_of(e: Envelope) -> str | None:
    """The tag of the command that recorded an event (in a note, reading id or reason)."""
    mark = {"CheckInRecorded": e.data.get("note"), "KpiReadingRecorded": e.data.get(
        "reading_id"), "KeyResultRevised": e.reason}.get(e.type)
    return mark.split("/")[0] if isinstance(mark, str) and mark.startswith("w") else None


def write_command(kind: str, i: int, rnd: random.Random, folder: Path) -> Write:
    """The i-th write command of a kind, with its own tag."""
    tag = f"w{i:03d}-{kind}"
    kr = f"kr-{rnd.randrange(KEY_RESULTS):02d}"
    if kind == "checkin":
        return Write(tag, ("checkin", kr, str(rnd.randrange(100)), "--note", tag), 1)
    if kind == "revise":
        return Write(tag, ("kr", "revise", kr, "--target", f"{200 + i}.5", "--reason", tag), 1)
    path = folder / f"{tag}.csv"
    if kind == "import-checkins":
        path.write_text("kr,value,note\n" + "".join(
            f"kr-{j % KEY_RESULTS:02d},{rnd.randrange(100)},{tag}/{j}\n"
            for j in range(IMPORT_LINES)))
        return Write(tag, ("import", "checkins", str(path)), IMPORT_LINES)
    at = FEED_STARTS_AT
    path.write_text("kpi,value,at,source,id\n" + "".join(
        f"cli-kpi,{rnd.randrange(100)},{(at + timedelta(minutes=j)).isoformat()},csv,{tag}/{j}\n"
        for j in range(IMPORT_LINES)))
    return Write(tag, ("import", "readings", str(path)), IMPORT_LINES, idempotent=True)


def plan_for_writes(settings: Settings) -> None:
    """A cycle around now, one objective, its key results and a KPI (through the API)."""
    now = datetime.now(UTC)
    app = OkrLedger(settings)
    try:
        app.add_cycle("faults", start=now - timedelta(days=30), end=now + timedelta(days=60))
        app.add_objective("o-faults", "Survive SIGKILL", cycle="faults", owner="tester")
        for k in range(KEY_RESULTS):
            app.add_key_result(f"kr-{k:02d}", f"Key result {k}", objective="o-faults",
                               target=100.0)
        app.add_kpi("cli-kpi", "KPI fed by CSV", green=70.0, red=50.0)
    finally:
        app.close()


def recorded(settings: Settings) -> Counter[str | None]:
    """Events in the store per command tag."""
    return Counter(tag_of(e) for e in store_envelopes(settings))


def timeline(env: Env, write: Write, probe: Probe) -> tuple[float, float]:
    """Seconds until an unkilled run's transaction landed in the store, and until it exited."""
    before, started = probe(), time.monotonic()
    proc = env.spawn(*write.args)
    wrote = None
    while proc.poll() is None and time.monotonic() - started < 60:
        if wrote is None and probe() != before:
            wrote = time.monotonic() - started
        time.sleep(0.001)
    assert proc.wait(timeout=60) == 0 and wrote is not None, proc.stderr and proc.stderr.read()
    return wrote, time.monotonic() - started


def test_write_commands_killed_mid_write_record_all_or_nothing_and_rerun_cleanly(
        env: Env, tmp_path: Path) -> None:
    """Each killed command is in the store completely or not at all (an import of N lines
    too), the chain verifies, and re-running the killed ones completes them exactly once."""
    started = time.monotonic()
    settings = env.settings
    plan_for_writes(settings)
    env.ok("relay", "--once")  # topics and signing key exist: commands run as usual
    rnd = random.Random("writes")
    probe = store_progress(settings)
    # One unkilled run per kind: when its transaction lands, and when it is done.
    calibration = [write_command(kind, i, rnd, tmp_path) for i, kind in enumerate(WRITES)]
    took = {w.kind: timeline(env, w, probe) for w in calibration}
    killed: list[Write] = []
    landed = at_write = 0
    for i in range(len(WRITES), len(WRITES) + CLI_KILLS):
        write = write_command(WRITES[i % len(WRITES)], i, rnd, tmp_path)
        wrote, exited = took[write.kind]
        proc = env.spawn(*write.args)
        if (i // len(WRITES)) % 2:  # the moment its transaction lands in the store
            at_write += wait_for_change(probe, timeout=3 * exited)
        else:  # around the moment it writes, before or after
            time.sleep(rnd.uniform(0.25 * wrote, min(exited, 1.5 * wrote)))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            landed += 1
        proc.wait(timeout=10)
        killed.append(write)
    counts = recorded(settings)
    partial = {w.tag: counts[w.tag] for w in killed if counts[w.tag] not in (0, w.events)}
    assert partial == {}, "commands recorded in part"
    done = [w for w in killed if counts[w.tag]]
    env.ok("relay", "--once")
    audit_verifies(env)
    for w in killed:
        if not counts[w.tag] or w.idempotent:
            env.ok(*w.args)
    env.ok("relay", "--once")
    counts = recorded(settings)
    assert {w.tag: counts[w.tag] for w in calibration + killed} == \
        {w.tag: w.events for w in calibration + killed}
    audit_verifies(env)
    report("write commands killed", f"{landed}/{CLI_KILLS} SIGKILLs landed on a running "
           f"command ({at_write} the moment its transaction landed); {len(done)} had "
           f"recorded everything, {CLI_KILLS - len(done)} nothing, none in part; "
           f"{time.monotonic() - started:.1f} s")
    assert landed >= int(CLI_KILLS * MIN_LANDED)
    assert done and len(done) < CLI_KILLS, "kills must land both before and after the commit"


# ---- 3. the broker stopped and started during the workload --------------------------------------

def test_broker_restarted_during_the_workload_republishes_and_loses_and_doubles_nothing(
        private_env: Env, private_broker: Broker, clean: CleanRun, tmp_path: Path) -> None:
    """Memory engine: after each restart every topic, record and offset is gone; the relay
    republishes from the event store, the consumer re-reads, and the live feed sends again."""
    started, env = time.monotonic(), private_env
    add_live_kpis(env.settings, WORKLOAD)
    services = [Service(env, n, "--json", log=tmp_path / f"{n}.log") for n in SERVICES]
    for s in services:
        s.start()
    rnd = random.Random("broker")
    restarts = 0
    seconds = BROKER_RESTARTS * (BROKER_UP[1] + OUTAGE[1] + 6)  # at most; released after
    with workload_running(env, WORKLOAD, seconds, clean.generated) as running:
        for i in range(BROKER_RESTARTS):
            time.sleep(rnd.uniform(*BROKER_UP))
            with running.feed.lock:
                restarts += running.busy()
                if i % 2:
                    private_broker.crash()  # every other time SIGKILL, not SIGTERM
                else:
                    private_broker.stop()
                time.sleep(rnd.uniform(*OUTAGE))
                private_broker.start()
                running.feed.rewind()
    for s in services:
        assert s.stop() == 0, f"okr {s.name} did not stop cleanly: see {s.log}"
    catch_up(env)
    content = assert_same_as_clean(env, clean)
    report("broker restarted", f"{restarts}/{BROKER_RESTARTS} restarts while the workload "
           f"wrote ({(BROKER_RESTARTS + 1) // 2} stopped, {BROKER_RESTARTS // 2} crashed); "
           f"{content.store.rows} events, {content.kafka_records} Kafka records after the "
           f"last restart; {time.monotonic() - started:.1f} s")
    assert restarts == BROKER_RESTARTS


def test_broker_restarted_while_no_consumer_runs_skips_no_event_of_the_refilled_topic(
        private_env: Env, private_broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay that died between its flush and its watermark left every event twice in the
    log; the broker restarts while no consumer runs, and the republished topic, with new
    events, grows past the offsets the consumer stored: it must not skip the new events."""
    env, settings = private_env, private_env.settings
    add_live_kpis(settings, WORKLOAD)
    record_readings(settings, range(12))
    relay_dies_after_its_flush(settings, monkeypatch)
    env.ok("relay", "--once")  # sends the 15 events again
    assert len(ledger_records(settings)) == 2 * 15
    env.ok("consume", "--once")
    private_broker.stop()
    private_broker.start()
    record_readings(settings, range(12, 42))
    env.ok("relay", "--once")  # the topic is empty: republishes all 45 events
    env.ok("consume", "--once")
    projected = dict(duckdb_digests(settings.projection_work_file))["events"]
    assert projected.rows == len(store_envelopes(settings)) == 45
    audit_verifies(env)


def relay_dies_after_its_flush(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: a relay publishes everything and dies before writing its watermark."""
    class Died(Exception):
        pass

    def die(*_: object) -> None:
        raise Died

    app = OkrLedger(settings)
    relay = Relay(app, settings.kafka_bootstrap_servers or "")
    try:
        with monkeypatch.context() as m:
            m.setattr(watermark, "save", die)
            with pytest.raises(Died):
                relay.publish_pending()
    finally:
        relay.close()
        app.close()


def record_readings(settings: Settings, numbers: range) -> None:
    """Readings on the live KPIs through the API, one transaction each."""
    app = OkrLedger(settings)
    try:
        for i in numbers:
            app.record_reading(f"live-{i % 3}", float(i), FEED_STARTS_AT + timedelta(hours=i),
                               source="api", reading_id=f"api-{i}")
    finally:
        app.close()


SECOND_RELAY = {"relay": ("relay", "--once"),
                "inline": ("kpi", "record", "live-1", "5", "--at", "2025-06-02")}


@pytest.mark.parametrize("second", SECOND_RELAY)
def test_two_relays_after_a_broker_restart_keep_every_aggregate_in_order(
        second: str, private_env: Env, private_broker: Broker,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After a restart one relay republishes from the start; a second one (the relay inside
    `okr ingest`, or a CLI write publishing inline) that starts while the first one's page is
    under way must not resume from the old watermark and put later versions of an aggregate
    before earlier ones (`okr audit verify` would call the log reordered)."""
    env, settings = private_env, private_env.settings
    add_live_kpis(settings, WORKLOAD)
    record_readings(settings, range(60))
    env.ok("relay", "--once")
    private_broker.stop()
    private_broker.start()
    flushed, go_on = slow_watermark(monkeypatch)
    app = OkrLedger(settings)
    first = Relay(app, settings.kafka_bootstrap_servers or "")
    republish = threading.Thread(target=first.publish_pending, kwargs={"limit": 10})
    try:
        republish.start()
        assert flushed.wait(timeout=30)  # its first page is in Kafka, its watermark not yet
        record_readings(settings, range(60, 70))
        env.ok(*SECOND_RELAY[second])  # okr relay, or a CLI write publishing inline
        go_on.set()
        republish.join(timeout=30)
        first.publish_pending()
    finally:
        go_on.set()
        first.close()
        app.close()
    audit_verifies(env)


def slow_watermark(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Fault injection: a relay in this process stops between its flush and its watermark
    until `go_on` is set; `flushed` says it got there."""
    flushed, go_on = threading.Event(), threading.Event()
    save = watermark.save

    def slow(settings: Settings, topic: str, destination: str,
             mark: watermark.Watermark) -> None:
        if mark.position:  # a page's watermark, after its flush
            flushed.set()
            go_on.wait(timeout=60)
        save(settings, topic, destination, mark)
    monkeypatch.setattr(watermark, "save", slow)
    return flushed, go_on
