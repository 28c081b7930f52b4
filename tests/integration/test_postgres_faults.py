"""The PostgreSQL event store when its server crashes, restarts or cuts connections in the middle
of a workload: every write is recorded exactly once or not at all, as its caller was told.

Each test starts a PostgreSQL server of its own (tests/integration/private_postgres.py) and kills
it for real (`pg_ctl stop -m immediate`, `pg_terminate_backend`). A TCP link in front of the
server injects the one fault a restart hits too rarely to test: the reply to a COMMIT lost after
the server committed. Set OKR_SOAK=1 for the long version.
"""

import csv
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eventsourcing.persistence import PersistenceError

from okr.domain.errors import DomainError
from okr.ledger.app import OkrLedger
from okr.record import watermark
from okr.settings import Settings, load_settings
from tests.fuzzing import LIVE_CYCLE, live_window
from tests.integration.conftest import Broker
from tests.integration.ledger_facts import StoredEvent, stored_events, tag_counts, version_gaps
from tests.integration.private_postgres import LossyLink, PrivatePostgres, why_unavailable

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

OKR = str(Path(sys.executable).parent / "okr")
SOAK = os.environ.get("OKR_SOAK") == "1"

# ---- counts: (default run, OKR_SOAK=1) ---------------------------------------------------------
CLI_WORKERS = 8 if SOAK else 4       # threads running okr commands back to back
API_THREADS = 4 if SOAK else 2       # threads writing through ONE long-lived OkrLedger
FAULTS = 16 if SOAK else 4           # alternately a server crash+restart and a cut of connections
DOWN_FOR = (0.5, 6.0) if SOAK else (0.3, 1.0)   # seconds the crashed server stays down
LONG_OUTAGES = {6, 14} if SOAK else {2}          # crashes that keep it down LONG_OUTAGE s:
LONG_OUTAGE = 45.0 if SOAK else 8.0              # > 5 s a new okr waits for the server; in
                                                 # soak > ~37 s an in-flight write retries
FAULT_GAP = (1.0, 3.0) if SOAK else (0.5, 1.2)  # seconds of workload between faults
IMPORT_LINES = 2000 if SOAK else 200             # lines per `okr import checkins` file
LOST_REPLIES = 10 if SOAK else 1                 # lost COMMIT replies per kind of write
KEY_RESULTS = ("k1", "k2", "k3")     # check-ins and revisions
IMPORTED = ("i1", "i2")              # only imports write these (an import loses any race)


# ---- the server and a ledger on it ----------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


@dataclass
class Ledger:
    """A fresh database on the private server, with one cycle, objective, three KRs and a KPI."""

    server: PrivatePostgres
    dbname: str
    home: Path
    port: int  # where okr connects: the server, or a lossy link in front of it

    @contextmanager
    def through_lossy_link(self) -> Iterator[LossyLink]:
        """Connect through a LossyLink while the block runs."""
        link = LossyLink(self.server.port)
        self.port = link.port
        try:
            yield link
        finally:
            link.close()
            self.port = self.server.port

    @property
    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "POSTGRES_"))}
        return {**env, **self.server.environ(self.dbname), "POSTGRES_PORT": str(self.port),
                "OKR_HOME": str(self.home), "OKR_TZ": "UTC",
                "OKR_INLINE_PUBLISH": "off"}

    @property
    def settings(self) -> Settings:
        return load_settings(environ=self.environ)

    def okr(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([OKR, *args], text=True, capture_output=True,
                              env={**self.environ, **extra}, timeout=300)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([OKR, *args], text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.environ)




@pytest.fixture
def ledger(server: PrivatePostgres, tmp_path: Path) -> Ledger:
    name = f"okr_{uuid.uuid4().hex[:10]}"
    server.create_database(name)
    led = Ledger(server, name, tmp_path / "home", server.port)
    app = OkrLedger(led.settings)
    try:
        app.add_cycle(LIVE_CYCLE, *live_window())
        app.add_objective("o1", "Grow", cycle=LIVE_CYCLE, owner="ana")
        for kr in KEY_RESULTS + IMPORTED:
            app.add_key_result(kr, f"Key result {kr}", objective="o1", start=0, target=10)
        app.add_kpi("m1", "Weekly users", green=10, red=5)
        app.commit_cycle(LIVE_CYCLE)
    finally:
        app.close()
    return led


# ---- what callers were told ---------------------------------------------------------------

@dataclass
class Outcome:
    """One write as its caller saw it: the tags it should leave in the store, and the result."""

    kind: str  # "checkin", "import", "revise", "kpi", "api"
    tags: list[str]
    ok: bool
    started: float
    ended: float
    error: str = ""


@dataclass
class Fault:
    kind: str  # "crash" or "cut"
    started: float
    ended: float
    cut: int = 0  # connections cut


@dataclass
class Workload:
    """Writers running until told to stop, and what each was told."""

    ledger: Ledger
    tmp: Path
    outcomes: list[Outcome] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # answers that are neither clean nor ok
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def cli_worker(self, w: int) -> None:
        rnd = random.Random(w)
        kinds = ("checkin", "import", "revise", "kpi")
        n = 0
        while not self.stop.is_set():
            n += 1
            kind, tag, kr = kinds[(n + w) % len(kinds)], f"w{w}-{n}", rnd.choice(KEY_RESULTS)
            tags = [tag]
            if kind == "checkin":
                args = ["checkin", kr, f"{rnd.uniform(0, 10):.3f}", "--note", tag]
            elif kind == "revise":
                args = ["kr", "revise", kr, "--target", str(100 + w * 100_000 + n),
                        "--reason", tag]
            elif kind == "kpi":
                args = ["kpi", "record", "m1", str(n), "--source", tag]
            else:
                path = self.tmp / f"{tag}.csv"
                tags = [f"{tag}-{i}" for i in range(IMPORT_LINES)]
                with path.open("w", newline="") as f:
                    out = csv.writer(f)
                    out.writerow(["kr", "value", "note"])
                    out.writerows([rnd.choice(IMPORTED), i % 10, t]
                                  for i, t in enumerate(tags))
                args = ["import", "checkins", str(path)]
            started = time.monotonic()
            proc = self.ledger.okr(*args)
            ended = time.monotonic()
            lines = proc.stderr.strip().splitlines()
            # 2: refused (bad input); 4: the store was unavailable (okr/errors.py)
            clean_failure = (proc.returncode in (2, 4) and len(lines) == 1
                             and lines[0].startswith("okr: error: "))
            if proc.returncode != 0 and not clean_failure:
                with self.lock:
                    self.broken.append(f"okr {' '.join(args)} → exit {proc.returncode}: "
                                       f"{proc.stderr.strip()[-2000:]}")
            self.record(Outcome(kind, tags, proc.returncode == 0, started, ended,
                                lines[0] if lines and proc.returncode else ""))

    def api_worker(self, app: OkrLedger, t: int) -> None:
        rnd = random.Random(1000 + t)
        n = 0
        while not self.stop.is_set():
            n += 1
            tag = f"api{t}-{n}"
            started = time.monotonic()
            try:
                app.check_in(rnd.choice(KEY_RESULTS), rnd.uniform(0, 10), note=tag)
            except (PersistenceError, DomainError) as exc:  # the API's clean failures
                self.record(Outcome("api", [tag], False, started, time.monotonic(),
                                    f"{type(exc).__name__}: {exc}"))
            except Exception as exc:
                with self.lock:
                    self.broken.append(f"check_in raised {type(exc).__name__}: {exc}")
                self.record(Outcome("api", [tag], False, started, time.monotonic(), "?"))
            else:
                self.record(Outcome("api", [tag], True, started, time.monotonic()))
            time.sleep(0.05)  # leave the CPU to the okr processes


@dataclass
class WatermarkWriter:
    """Saves an ever higher relay watermark, like the relay after each flush; holds when asked
    (after finishing the save under way), so the test can read what a crash left."""

    settings: Settings
    last_ok: int = 0
    tried_after_last_ok: list[int] = field(default_factory=list)
    failures: int = 0
    hold: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)

    def run(self, stop: threading.Event) -> None:
        i = self.last_ok
        while not stop.is_set():
            if self.hold.is_set():
                self.holding.set()
                time.sleep(0.01)
                continue
            self.holding.clear()
            i += 1
            try:
                watermark.save(self.settings, "okr.ledger", DESTINATION, mark(i))
            except Exception:
                self.failures += 1
                self.tried_after_last_ok.append(i)
            else:
                self.last_ok, self.tried_after_last_ok = i, []
            time.sleep(0.01)

    def left_in_store(self) -> str | None:
        """None when the stored watermark is the last one saved or one tried after it."""
        found = watermark.load(self.settings, "okr.ledger", DESTINATION)
        stored = (found or watermark.START).position
        allowed = (self.last_ok, *self.tried_after_last_ok)
        return None if stored in allowed else f"watermark {stored}, expected one of {allowed}"


DESTINATION = "okr-test-cluster"  # the Kafka cluster a watermark is of (none runs here)


def mark(i: int) -> watermark.Watermark:
    return watermark.Watermark(i, f"{i:064x}", i)


def run_threads(targets: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    return threads


# ---- checks shared by the tests --------------------------------------------------------------

def assert_store_matches_callers(events: list[StoredEvent], outcomes: list[Outcome]) -> None:
    """Each reported success is stored exactly once, each failure not at all, nothing else."""
    counts: Counter[str] = Counter()
    for kind in ("CheckInRecorded", "KeyResultRevised", "KpiReadingRecorded"):
        counts.update(tag_counts(events, kind))
    doubled = {tag: n for tag, n in counts.items() if n > 1}
    assert not doubled, f"recorded more than once: {sorted(doubled)[:10]}"
    told_ok = {tag for o in outcomes if o.ok for tag in o.tags}
    told_failed = {tag for o in outcomes if not o.ok for tag in o.tags}
    missing = told_ok - set(counts)
    assert not missing, f"reported recorded but absent: {sorted(missing)[:10]}"
    ghosts = told_failed & set(counts)
    assert not ghosts, f"reported failed but recorded: {sorted(ghosts)[:10]}"
    stray = set(counts) - told_ok - told_failed
    assert not stray, f"recorded but never written by the test: {sorted(stray)[:10]}"
    for o in outcomes:
        if o.kind == "import":
            present = sum(t in counts for t in o.tags)
            assert present in (0, len(o.tags)), f"an import was stored in part: {present}"
    gaps = version_gaps(events)
    assert not gaps, f"aggregate versions not contiguous 1..n: {gaps}"


def summary(outcomes: list[Outcome]) -> str:
    by: dict[str, Counter[str]] = {}
    for o in outcomes:
        by.setdefault(o.kind, Counter())["ok" if o.ok else "failed"] += 1
    return ", ".join(f"{k}: {c['ok']} ok / {c['failed']} failed" for k, c in sorted(by.items()))


# ---- the tests ---------------------------------------------------------------------------------

def test_writes_during_crashes_and_cut_connections_are_all_or_nothing(
        ledger: Ledger, tmp_path: Path) -> None:
    began = time.monotonic()
    settings = ledger.settings
    # must come through every crash as is
    watermark.save(settings, "okr.checkpoints", DESTINATION, mark(7))
    app = OkrLedger(settings)  # long-lived: must recover by itself after each restart
    work = Workload(ledger, tmp_path)
    marks = WatermarkWriter(settings)
    threads = run_threads([lambda w=w: work.cli_worker(w) for w in range(CLI_WORKERS)]
                          + [lambda t=t: work.api_worker(app, t) for t in range(API_THREADS)]
                          + [lambda: marks.run(work.stop)])
    rnd = random.Random(9)
    faults: list[Fault] = []
    torn_marks: list[str | None] = []  # what each crash left of the relay watermark
    try:
        time.sleep(1.5)  # every worker is under way
        for i in range(FAULTS):
            started = time.monotonic()
            if i % 2 == 0:
                marks.hold.set()  # its save under way meets the crash; then it waits
                ledger.server.kill()
                time.sleep(LONG_OUTAGE if i in LONG_OUTAGES else rnd.uniform(*DOWN_FOR))
                ledger.server.start()
                faults.append(Fault("crash", started, time.monotonic()))
                marks.holding.wait(timeout=60)
                torn_marks.append(marks.left_in_store())
                marks.hold.clear()
            else:  # right after a crash, clients may still be reconnecting: cut some at least
                cut = ledger.server.terminate_backends(ledger.dbname)
                while not cut and time.monotonic() - started < 5:
                    time.sleep(0.02)
                    started, cut = time.monotonic(), ledger.server.terminate_backends(
                        ledger.dbname)
                faults.append(Fault("cut", started, time.monotonic(), cut))
            time.sleep(rnd.uniform(*FAULT_GAP))
    finally:
        work.stop.set()
        for t in threads:
            t.join(timeout=300)
    workload_s = time.monotonic() - began

    # The long-lived ledger, a new one and the CLI all work once the server is back.
    app.check_in("k1", 1.0, note="after-faults-api")
    app.close()
    assert ledger.okr("checkin", "k2", "2", "--note", "after-faults-cli").returncode == 0
    outcomes = [*work.outcomes, Outcome("api", ["after-faults-api"], True, 0, 0),
                Outcome("checkin", ["after-faults-cli"], True, 0, 0)]

    in_flight = [sum(o.started < f.started < o.ended for o in work.outcomes) for f in faults]
    failed = [o for o in work.outcomes if not o.ok]
    print(f"\n{len(faults)} faults ({sum(f.kind == 'crash' for f in faults)} crashes, "
          f"{sum(f.cut for f in faults)} connections cut) in {workload_s:.1f} s; writes in "
          f"flight at each fault: {in_flight}; {summary(work.outcomes)}; watermark saves "
          f"failed {marks.failures}, last saved {marks.last_ok}")
    for message, n in Counter(o.error for o in failed).most_common(5):
        print(f"  {n} × {message}")

    assert not work.broken, "answers that are neither success nor one clean line:\n" + \
        "\n".join(work.broken[:5])
    assert len(faults) == FAULTS and all(n >= 1 for n in in_flight), \
        f"each fault must hit writes in flight: {in_flight}"
    assert all(f.cut >= 1 for f in faults if f.kind == "cut"), "no connection was cut"
    assert sum(o.ok for o in work.outcomes) >= 5 * FAULTS, summary(work.outcomes)
    assert failed, "the long outage must have failed some writes (cleanly)"
    assert_store_matches_callers(stored_events(settings), outcomes)
    assert watermark.load(settings, "okr.checkpoints", DESTINATION) == mark(7)
    torn = [t for t in [*torn_marks, marks.left_in_store()] if t]
    assert marks.last_ok >= 1 and not torn, f"the relay watermark was torn: {torn}"


def test_a_lost_commit_reply_still_records_each_write_exactly_once(
        ledger: Ledger, tmp_path: Path) -> None:
    outcomes: list[Outcome] = []
    with ledger.through_lossy_link() as link:
        app = OkrLedger(ledger.settings)
        for i in range(LOST_REPLIES):
            link.lose_commit_replies(1)
            app.check_in("k1", 3.0, note=f"lost-api-{i}")  # raises if told it failed
            outcomes.append(Outcome("api", [f"lost-api-{i}"], True, 0, 0))
            link.lose_commit_replies(1)
            app.add_objective(f"o-lost-{i}", "Created once", cycle=LIVE_CYCLE,
                              owner="ana", reason="lost reply test")
        app.close()
        for i in range(LOST_REPLIES):
            path = tmp_path / f"lost-{i}.csv"
            tags = [f"lost-import-{i}-{n}" for n in range(IMPORT_LINES)]
            path.write_text("kr,value,note\n" + "".join(f"k2,{n % 10},{t}\n"
                                                         for n, t in enumerate(tags)))
            cases = [(["checkin", "k1", "4", "--note", f"lost-cli-{i}"], [f"lost-cli-{i}"]),
                     (["kr", "revise", "k1", "--target", str(50 + i), "--reason",
                       f"lost-revise-{i}"], [f"lost-revise-{i}"]),
                     (["kpi", "record", "m1", "3", "--source", f"lost-kpi-{i}"],
                      [f"lost-kpi-{i}"]),
                     (["import", "checkins", str(path)], tags)]
            for args, tags_ in cases:
                link.lose_commit_replies(1)
                proc = ledger.okr(*args)
                assert proc.returncode == 0, f"okr {' '.join(args)}: {proc.stderr}"
                outcomes.append(Outcome(" ".join(args[:2]), tags_, True, 0, 0))
    print(f"\n{link.lost} COMMIT replies lost; {summary(outcomes)}")
    assert link.lost == LOST_REPLIES * 6, "every write must have lost its COMMIT reply"
    events = stored_events(ledger.settings)
    assert_store_matches_callers(events, outcomes)
    created = sum(e.type == "ObjectiveAdded" for e in events)
    assert created == 1 + LOST_REPLIES  # o1 and each o-lost-i, once


def test_a_write_committed_just_before_the_server_went_away_is_reported_as_recorded(
        ledger: Ledger, broker: Broker) -> None:
    with ledger.through_lossy_link() as link:
        link.down_after_commit()  # publishing opens a connection for the relay watermark
        proc = ledger.okr("checkin", "k1", "5", "--note", "just-before",
                          OKR_INLINE_PUBLISH="on", KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
                          OKR_TOPIC_LEDGER=f"t{uuid.uuid4().hex[:10]}.ledger")
        went_down = link.is_down
    print(f"\n{proc.stdout.strip()}")
    assert went_down, "the server must have gone away after the write"
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("check-in on k1: 5")
    assert "not published now (event store unreachable" in proc.stdout
    assert tag_counts(stored_events(ledger.settings), "CheckInRecorded")["just-before"] == 1


@pytest.mark.skipif(not SOAK, reason="takes about three minutes: runs with OKR_SOAK=1")
@pytest.mark.parametrize("down_for", [50.0, None], ids=["back-in-50s", "gone-for-good"])
def test_a_lost_commit_reply_in_a_long_outage_is_never_reported_as_not_recorded(
        ledger: Ledger, down_for: float | None) -> None:
    with ledger.through_lossy_link() as link:
        link.lose_commit_replies(1, then_down=True)  # the write commits; then the server is gone
        proc = ledger.spawn("checkin", "k1", "6", "--note", "long-outage")
        while not link.is_down and proc.poll() is None:
            time.sleep(0.01)
        down_at = time.monotonic()
        while proc.poll() is None:
            if down_for is not None and time.monotonic() - down_at > down_for:
                link.up()
            time.sleep(0.05)
        took = time.monotonic() - down_at
        out, err = proc.communicate()
    print(f"\nlink down {down_for or 'for good'}: okr answered after {took:.0f} s, exit "
          f"{proc.returncode}: {(out or err).strip().splitlines()[0]}")
    assert tag_counts(stored_events(ledger.settings), "CheckInRecorded")["long-outage"] == 1
    if down_for is not None:  # asked the store once it was back: recorded, and said so
        assert proc.returncode == 0, err
    else:  # could not ask: says it may be recorded, never "nothing was written"
        assert proc.returncode == 4 and len(err.strip().splitlines()) == 1, err
        assert "cannot be asked whether the change was recorded" in err, err
