"""With KAFKA_BOOTSTRAP_SERVERS unset, `okr` starts and uses its embedded broker
(`okr broker start|stop|status`), and `okr up` runs relay, projection consumer and KPI ingest
against it until SIGTERM: a write reaches the scorecard through relay → Kafka → consumer
(inline publishing off, so nothing else could carry it), and a reading produced to the
readings topic is recorded by the ingest."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.adapters import kafka_client
from okr.errors import UNAVAILABLE
from okr.settings import load_settings
from tests.fuzzing import live_window
from tests.integration.conftest import OKR, pids_running

pytestmark = pytest.mark.integration


def embedded_env(home: Path) -> dict[str, str]:
    """okr settings with no Kafka configured: the embedded broker is the one used."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))}
    return {**base, "OKR_HOME": str(home), "OKR_TZ": "UTC",
            "OKR_INLINE_PUBLISH": "off"}


def okr(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OKR, *args], text=True, capture_output=True, env=environ,
                          timeout=120)


def ok(environ: dict[str, str], *args: str) -> str:
    proc = okr(environ, *args)
    assert proc.returncode == 0, f"okr {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def eventually(check: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


@contextmanager
def up_running(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`okr up --json` in a process group of its own, its log lines gathered as they come;
    SIGTERMed and waited for afterwards (its exit code is then `up.returncode`)."""
    up = subprocess.Popen([OKR, "up", "--json"], text=True, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(up.stdout or ()), daemon=True)
    reader.start()
    try:
        yield up, lines
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=60)
        reader.join(timeout=10)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    yield home
    okr(embedded_env(home), "broker", "stop")  # whatever a failed test left running


def test_broker_start_status_stop(home: Path) -> None:
    env = embedded_env(home)
    proc = okr(env, "broker", "status", "--json")
    assert proc.returncode == UNAVAILABLE and json.loads(proc.stdout)["running"] is False
    started = json.loads(ok(env, "broker", "start", "--json"))
    assert started["running"] and started["started"] and alive(started["pid"])
    again = json.loads(ok(env, "broker", "start", "--json"))
    assert (again["started"], again["pid"]) == (False, started["pid"])  # one broker per home
    status = json.loads(ok(env, "broker", "status", "--json"))
    assert (status["pid"], status["port"], status["external"]) == (
        started["pid"], started["port"], None)
    stopped = json.loads(ok(env, "broker", "stop", "--json"))
    assert stopped == {"stopped": True, "pid": started["pid"]}
    assert eventually(lambda: not alive(started["pid"]), 20)
    assert okr(env, "broker", "status").returncode == UNAVAILABLE
    assert json.loads(ok(env, "broker", "stop", "--json"))["stopped"] is False


def test_broker_start_on_a_port_another_program_holds_says_so_and_claims_no_broker(
        home: Path) -> None:
    """A port held by some other program is not a broker that started: one line, exit 4, no
    broker.json saying a broker runs there, and no broker process left behind."""
    env = embedded_env(home)
    listener = "tcp://127.0.0.1:{port}"
    with socket.create_server(("127.0.0.1", 0)) as taken:  # a plain program on the port
        port = taken.getsockname()[1]
        try:
            proc = okr(env, "broker", "start", "--port", str(port))
            status = okr(env, "broker", "status", "--json")
            left = pids_running("--listener-url", listener.format(port=port))
        finally:
            for pid in pids_running("--listener-url", listener.format(port=port)):
                os.kill(pid, signal.SIGKILL)
    assert (proc.returncode, proc.stdout) == (UNAVAILABLE, ""), proc
    assert proc.stderr.splitlines() == [
        f"okr: error: the local broker cannot be started: port {port} on 127.0.0.1 is in use "
        "by another program; choose another with --port"], proc.stderr
    assert not (home / "broker.json").exists()
    assert status.returncode == UNAVAILABLE and json.loads(status.stdout)["running"] is False
    assert left == [], "a broker that could not listen was left running"


def test_up_runs_relay_consumer_and_ingest_on_the_embedded_broker(home: Path) -> None:
    env = embedded_env(home)
    start, end = live_window()
    ok(env, "cycle", "add", "live", "--start", start.date().isoformat(),
       "--end", end.date().isoformat())
    ok(env, "objective", "add", "o1", "Grow", "--cycle", "live")
    ok(env, "kr", "add", "k1", "Signups", "--objective", "o1", "--start", "0", "--target", "10")
    ok(env, "kpi", "add", "wau", "Weekly active users", "--green", "140", "--red", "110")
    with up_running(env) as (up, lines):
        assert eventually(lambda: any("running" in line for line in lines)), lines
        broker = json.loads(ok(env, "broker", "status", "--json"))
        assert broker["running"] and broker["external"] is None
        ok(env, "checkin", "k1", "4")

        def scorecard_shows_it() -> bool:
            card = json.loads(ok(env, "scorecard", "--json"))
            return any(k["key"] == "k1" and k["value"] == 4.0
                       for o in card["objectives"] for k in o["key_results"])

        assert eventually(scorecard_shows_it), "the check-in never reached the scorecard"
        settings = load_settings(environ=env)
        producer = kafka_client.producer(settings, f"127.0.0.1:{broker['port']}")
        observed = datetime.now(UTC).isoformat()
        producer.send(settings.topic_kpi_readings, key=b"wau", value=json.dumps(
            {"kpi": "wau", "value": 131, "observed_at": observed, "source": "feed",
             "id": "r-1"}).encode())
        producer.flush()
        producer.close()

        def reading_recorded() -> bool:
            shown = json.loads(ok(env, "show", "wau", "--json"))
            return [r["value"] for r in shown["readings"]] == [131.0]

        assert eventually(reading_recorded), "the ingest never recorded the reading"
        assert up.poll() is None, lines
    assert up.returncode == 0, (lines, up.stderr.read() if up.stderr else "")
    assert any("stopped" in line for line in lines[-3:]), lines


def test_a_second_up_on_one_data_directory_is_refused_before_it_starts_anything(
        home: Path) -> None:
    """A trial: a second `okr up` beside a running one started a relay and the reminders
    (one reminder sent), then stopped with 'a projection consumer is running', exit 1. It is
    refused up front, in one line naming the running one's pid, with nothing started."""
    env = embedded_env(home)
    ok(env, "cycle", "add", "2026-Q4")
    with up_running(env) as (up, lines):
        assert eventually(lambda: any('"consume"' in line for line in lines)), lines
        second = okr(env, "up", "--json")
        assert up.poll() is None, lines
    assert second.returncode == 2, second
    assert second.stdout == "", second.stdout  # no service logged a line: none started
    assert second.stderr.startswith("okr: error: okr up or okr consume already runs for this "
                                    f"data directory (pid {up.pid})"), second.stderr
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr


def test_up_is_not_refused_while_a_read_holds_the_projection_for_a_moment(
        home: Path) -> None:
    """A review: the check above read the projection's lock, which every read that catches
    up (a cron `okr scorecard`, a web read) also takes for a moment — so `okr up` was refused
    at random, naming the reader. Only the long-running consumer's own lock refuses it."""
    from okr.projections.access import owning

    env = embedded_env(home)
    ok(env, "cycle", "add", "2026-Q4")
    with owning(load_settings(environ=env)), up_running(env) as (up, lines):
        assert eventually(lambda: any("running" in line for line in lines)
                          or up.poll() is not None), lines
        assert up.poll() is None, (lines, up.stderr.read() if up.stderr else "")


def test_broker_stop_while_up_watches_the_broker_is_refused(home: Path) -> None:
    """A trial: `okr broker stop` beside a running `okr up` said "local broker stopped"
    (exit 0), and `okr up` started it again within a second — the stop undone without a word
    (and, the broker being memory only, every topic emptied). It is refused in one line naming
    `okr up`'s pid, and the broker keeps running, the same process."""
    env = embedded_env(home)
    ok(env, "cycle", "add", "2026-Q4")
    with up_running(env) as (up, lines):
        assert eventually(lambda: any('"broker"' in line or "running" in line
                                      for line in lines)), lines
        before = json.loads(ok(env, "broker", "status", "--json"))
        stop = okr(env, "broker", "stop")
        after = json.loads(ok(env, "broker", "status", "--json"))
        assert up.poll() is None, lines
    assert stop.returncode == 2, stop
    assert stop.stdout == "", stop.stdout
    assert stop.stderr.startswith(f"okr: error: okr up (pid {up.pid}) watches this data "
                                  "directory's broker"), stop.stderr
    assert len(stop.stderr.strip().splitlines()) == 1, stop.stderr
    assert after["pid"] == before["pid"] and alive(before["pid"])
