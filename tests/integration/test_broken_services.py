"""Services ride out faults (issue 18), with the local broker the CLI starts itself: one broker
per data directory however many start it at once, the same port after a restart, a start said
on stderr, the binary run in place; `okr up` keeps relay and ingest alive while the
consumer's file is not writable, and starts a killed broker again."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.privileges import drop_root_powers
from tests.unit.test_cli_writes import OKR

pytestmark = pytest.mark.integration


def environ(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "KAFKA_"))}
    return {**env, "OKR_HOME": str(home), "OKR_TZ": "UTC", **extra}


def run(home: Path, *args: str, prefix: list[str] | None = None, **extra: str
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), OKR, *args], text=True, capture_output=True,
                          env=environ(home, **extra), timeout=120)


def brokers_of(home: Path) -> list[int]:
    """Pids of Tansu processes whose log is this data directory's (their stdout)."""
    log = str((home / "broker.log").resolve())
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "tansu" in (proc / "cmdline").read_text() and os.readlink(proc / "fd" / "1") == log:
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    yield home
    for pid in brokers_of(home):  # whatever a test (or a bug) left running
        os.kill(pid, signal.SIGKILL)


def test_concurrent_first_starts_spawn_one_broker(home: Path) -> None:
    procs = [subprocess.Popen([OKR, "broker", "start", "--json"], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=environ(home)) for _ in range(4)]
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert {o["pid"] for o in outs} == {outs[0]["pid"]}, outs
    assert sum(o["started"] for o in outs) == 1, outs
    assert brokers_of(home) == [outs[0]["pid"]]
    assert run(home, "broker", "stop").returncode == 0
    assert brokers_of(home) == []


def test_a_broker_started_again_keeps_its_port(home: Path) -> None:
    first = json.loads(run(home, "broker", "start", "--json").stdout)
    os.kill(first["pid"], signal.SIGKILL)
    time.sleep(0.2)
    again = json.loads(run(home, "broker", "start", "--json").stdout)
    assert again["started"] and again["pid"] != first["pid"]
    assert again["port"] == first["port"]
    run(home, "broker", "stop")
    third = json.loads(run(home, "broker", "start", "--json").stdout)
    assert third["port"] == first["port"]  # after a clean stop too
    run(home, "broker", "stop")


def test_a_broker_started_implicitly_is_reported_and_runs_in_place(home: Path,
                                                                   tmp_path: Path) -> None:
    fake_home = tmp_path / "user"
    fake_home.mkdir()
    proc = run(home, "cycle", "add", "2026-Q4", HOME=str(fake_home))
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "local broker" in line]
    assert len(said) == 1 and said[0].startswith("okr: started the local broker on 127.0.0.1:")
    assert "okr broker stop" in said[0]
    assert not (fake_home / ".calfkit").exists()  # no 41 MB copy in the user's home
    (pid,) = brokers_of(home)
    exe = os.readlink(f"/proc/{pid}/exe")
    assert not exe.startswith(str(fake_home)) and Path(exe).name.startswith("tansu")
    again = run(home, "objective", "add", "o1", "One", "--cycle", "2026-Q4")
    assert again.returncode == 0 and "local broker" not in again.stderr  # said once
    run(home, "broker", "stop")



def _stored_and_shown(home: Path) -> tuple[int, int]:
    proc = run(home, "--strict", "scorecard", "--json", OKR_INLINE_PUBLISH="off")
    if proc.returncode == 3:
        return 1, 0
    assert proc.returncode == 0, proc.stderr
    return 0, len(json.loads(proc.stdout)["objectives"])


@pytest.mark.real_clock  # okr up watches its broker with threading.Event.wait(timeout)
def test_okr_up_rides_out_an_unwritable_work_file_and_a_killed_broker(home: Path) -> None:
    assert run(home, "cycle", "add", "2026-Q4").returncode == 0
    assert run(home, "scorecard").returncode == 0  # the projection's files exist
    up = subprocess.Popen([*drop_root_powers(), OKR, "up"], text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environ(home),
                          start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(up.stderr or []), daemon=True)
    reader.start()

    def wait_for(text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in lines):
            assert up.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, f"no {text!r} in:\n{''.join(lines)}"
            time.sleep(0.1)

    try:
        wait_for("[consume] projecting")
        work = home / "consumer" / "okr.work.duckdb"
        work.chmod(0o444)
        for n in range(3):
            assert run(home, "objective", "add", f"o{n}", f"Objective {n}", "--cycle",
                       "2026-Q4").returncode == 0
        wait_for("[consume] projection file not usable")
        time.sleep(3)
        assert up.poll() is None, "".join(lines)
        work.chmod(0o644)
        (pid,) = brokers_of(home)
        os.kill(pid, signal.SIGKILL)
        wait_for("[broker] the local broker was down; started again")
        assert run(home, "objective", "add", "o9", "After the restart", "--cycle",
                   "2026-Q4").returncode == 0
        deadline = time.monotonic() + 90
        while _stored_and_shown(home) != (0, 4):
            assert up.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(1)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGTERM)
        code = up.wait(timeout=60)
        reader.join(timeout=5)
    print("".join(lines), file=sys.stderr)
    assert code == 0, "".join(lines)
    assert not any("stopped by an error" in line for line in lines), "".join(lines)


def test_the_data_dir_is_private_whatever_the_umask(home: Path) -> None:
    def loose() -> None:
        os.umask(0)

    for args in (["cycle", "add", "2026-Q4"], ["scorecard"], ["keys", "export"]):
        proc = subprocess.run([OKR, *args], text=True, capture_output=True,
                              env=environ(home), timeout=120, preexec_fn=loose)
        assert proc.returncode == 0, proc.stderr
    run(home, "broker", "stop")
    made = sorted(home.rglob("*"))
    assert {p.name for p in made} >= {"events.sqlite", "okr.duckdb", "okr.work.duckdb",
                                      "broker.json", "broker.log", "projection.lock",
                                      "relay-destination.json"}
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    loose_ones = {str(p.relative_to(home)): oct(p.stat().st_mode & 0o777) for p in made
                  if p.stat().st_mode & 0o077}
    assert loose_ones == {}
