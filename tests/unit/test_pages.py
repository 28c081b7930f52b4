"""The relay's pages of envelopes: the same whether made in-process or by a worker process,
and a worker that dies or outlives its relay is noticed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from okr.ledger.app import OkrLedger
from okr.record import pages
from okr.record.envelope import chained_records
from okr.record.watermark import START, Watermark
from okr.settings import load_settings
from tests.support.generator import Shape, generate


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> OkrLedger:
    home = tmp_path_factory.mktemp("pages")
    ledger = OkrLedger(load_settings({"home": home}))
    generate(ledger, Shape(seed=13, teams=2, quarters=2, kpis=6, readings_per_day=12))
    return ledger


def flat(made: list[list[pages.Published]]) -> list[bytes]:
    return [rec.value for page in made for rec in page]


def test_a_worker_makes_the_same_chain_as_the_relay_itself(app: OkrLedger,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    here = list(pages.pages(app, START, None))
    monkeypatch.setattr(pages, "WORKER_FROM", 1)  # any backlog goes to a worker now
    there = list(pages.pages(app, START, None))
    assert flat(here) == flat(there) == [r.value for r in chained_records(app)]
    assert len(here) > 1 and max(len(p) for p in there) == pages.PAGE
    # From a head in the middle, with a limit.
    middle = here[0][-1]
    head = Watermark(middle.position, middle.hash, len(here[0]))
    assert flat(list(pages.pages(app, head, 1234))) == flat(here)[len(here[0]):][:1234]


def workers_of(parent: int) -> list[int]:
    """Pids of the envelope workers a process started."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and b"okr.record.pages" in cmd and stat[0] != "Z":
            found.append(int(proc.name))
    return found


def test_a_worker_that_dies_is_reported(app: OkrLedger, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setattr(pages, "WORKER_FROM", 1)
    made = pages.pages(app, START, None)
    next(made)
    (worker,) = workers_of(os.getpid())
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(pages.PagesError, match="stopped"):
        for _ in made:
            pass


WAITING_RELAY = """
import sys, time
from okr.record import pages
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from okr.record.watermark import START
pages.WORKER_FROM = 1
made = pages.pages(OkrLedger(load_settings({"home": sys.argv[1]})), START, None)
next(made)  # the worker now waits on a full pipe, a page ahead
print("ready", flush=True)
time.sleep(60)
"""


def test_a_worker_does_not_outlive_its_relay(app: OkrLedger) -> None:
    relay = subprocess.Popen([sys.executable, "-P", "-c", WAITING_RELAY,
                              str(app.settings.home)], stdout=subprocess.PIPE, text=True)
    assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
    (worker,) = workers_of(relay.pid)
    relay.kill()  # SIGKILL: no chance to stop the worker itself
    relay.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(worker):
        time.sleep(0.1)
    assert not alive(worker)


def alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                not in ("Z", "X"))
    except OSError:
        return False


def test_an_unreadable_stored_event_is_the_same_alarm_from_a_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored event edited outside okr so it cannot be read: the worker hands the relay the
    same one-line StoredEventUnreadable as pages made here, not a worker failure (which the
    relay would report as Kafka being unavailable)."""
    import sqlite3

    from okr.ledger.unreadable import StoredEventUnreadable

    ledger = OkrLedger(load_settings({"home": tmp_path}))
    generate(ledger, Shape(seed=3, teams=1, quarters=1, kpis=1, readings_per_day=1))
    with sqlite3.connect(tmp_path / "events.sqlite") as conn:
        conn.execute("UPDATE stored_events SET state=replace(state, 'a', 'b') WHERE rowid=5")
    with pytest.raises(StoredEventUnreadable, match="position 5"):
        list(pages.pages(ledger, START, None))
    monkeypatch.setattr(pages, "WORKER_FROM", 1)
    with pytest.raises(StoredEventUnreadable, match="position 5"):
        list(pages.pages(ledger, START, None))
