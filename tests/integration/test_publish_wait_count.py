"""How many events a write says wait to be published when its Kafka is unreachable.

The relay keeps a watermark per destination (the Kafka cluster it published to,
record/watermark.py); several data directories may share one PostgreSQL store, each with a
broker of its own. A write whose Kafka cannot be asked counted from the watermark written
last for the topic, whoever's it was: a data directory whose broker was away said what
another directory's broker lacked ("1 event waits" where its own lacked three). Now the data
directory records the destination it last reached (record/destination.py) and counts from
that one's watermark; one that reached none says it does not know how many wait.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from okr.adapters import local_broker
from tests.integration.conftest import Broker, Env, okr_environ
from tests.pg import private_schema

pytestmark = [pytest.mark.integration]

SAID = re.compile(r"(\d+) events? waits? to be published")


@pytest.fixture
def pg() -> Iterator[dict[str, str]]:
    """A private PostgreSQL schema, dropped afterwards."""
    with private_schema("okr_pubwm") as env:
        yield env


@pytest.fixture
def other_broker(tmp_path: Path) -> Iterator[Broker]:
    """A second broker of the test's own: another cluster (an id of its own)."""
    b = Broker(local_broker.free_port(), tmp_path / "other-broker.log")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def home(path: Path, bootstrap: str, pg: dict[str, str]) -> Env:
    """A data directory on `pg` publishing to `bootstrap`; every one of them on the same
    topics, as data directories sharing a store are."""
    return Env(path, {**okr_environ(path, bootstrap, tag="pubwm"), **pg})


def waiting(out: str) -> int | None:
    found = SAID.search(out)
    return None if found is None else int(found.group(1))


@pytest.mark.postgres
def test_a_write_with_its_broker_away_counts_what_its_own_broker_lacks(
        tmp_path: Path, pg: dict[str, str], private_broker: Broker,
        other_broker: Broker) -> None:
    """Given two data directories on one PostgreSQL schema, each publishing to a broker of
    its own, when A's broker is away after B published more recently, then A's write says how
    many events A's broker lacks (3), not what B's lacks (1)."""
    a = home(tmp_path / "a", private_broker.bootstrap, pg)
    b = home(tmp_path / "b", other_broker.bootstrap, pg)
    assert private_broker.cluster_id != other_broker.cluster_id
    a.ok("cycle", "add", "2026-Q4")  # A's broker holds 1
    b.ok("objective", "add", "o-b1", "Through B", "--cycle", "2026-Q4")  # B's holds 2
    b.ok("objective", "add", "o-b2", "Through B again", "--cycle", "2026-Q4")  # B's: 3
    private_broker.stop()

    proc = a.run("objective", "add", "o-a", "Through A", "--cycle", "2026-Q4")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert waiting(out) == 3, out  # events 2, 3 and 4 are not on A's broker

    private_broker.start()  # memory engine: empty; A's relay republishes the four
    proc = a.run("objective", "add", "o-a2", "Through A again", "--cycle", "2026-Q4")
    assert proc.returncode == 0 and "published 5 events" in proc.stdout + proc.stderr, (
        proc.stdout + proc.stderr)


@pytest.mark.postgres
def test_a_directory_that_reached_no_broker_yet_does_not_say_anothers_count(
        tmp_path: Path, pg: dict[str, str], broker: Broker) -> None:
    """Given a data directory B that published to its broker, when a new data directory C on
    the same schema writes with its Kafka unreachable from the start, then C does not say B's
    count: it says that how many events wait is not known (its Kafka was never reached)."""
    b = home(tmp_path / "b", broker.bootstrap, pg)
    b.ok("cycle", "add", "2026-Q4")
    b.ok("objective", "add", "o-b", "Through B", "--cycle", "2026-Q4")
    nowhere = f"127.0.0.1:{local_broker.free_port()}"  # nothing listens there
    c = home(tmp_path / "c", nowhere, pg)

    proc = c.run("objective", "add", "o-c", "Through C", "--cycle", "2026-Q4")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert waiting(out) is None, out  # B's watermark said "1 event waits"
    assert "Kafka unreachable" in out and "how many is not known" in out, out


def test_a_first_write_with_kafka_unreachable_counts_every_event(tmp_path: Path) -> None:
    """Given a new data directory (nothing published from its store anywhere), when it writes
    with its Kafka unreachable, then it says every stored event waits."""
    nowhere = f"127.0.0.1:{local_broker.free_port()}"
    env = Env(tmp_path / "home", okr_environ(tmp_path / "home", nowhere))
    proc = env.run("cycle", "add", "2026-Q4")
    assert proc.returncode == 0, proc.stderr
    assert waiting(proc.stdout + proc.stderr) == 1, proc.stdout + proc.stderr
    proc = env.run("objective", "add", "o1", "First", "--cycle", "2026-Q4")
    assert waiting(proc.stdout + proc.stderr) == 2, proc.stdout + proc.stderr


def test_a_sqlite_home_from_before_the_destination_record_still_counts(
        tmp_path: Path, private_broker: Broker) -> None:
    """A data directory upgraded from before relay-destination.json existed has published
    (its store holds that broker's watermark) but recorded no destination: with its Kafka
    away its write said "how many is not known". A SQLite store is this directory's alone, so
    its one destination is its own: the count is said."""
    a = Env(tmp_path / "a", okr_environ(tmp_path / "a", private_broker.bootstrap))
    a.ok("cycle", "add", "2026-Q4")
    a.ok("objective", "add", "o1", "Published", "--cycle", "2026-Q4")  # the broker holds 2
    (a.home / "relay-destination.json").unlink()  # as a directory from before it kept one
    private_broker.stop()
    proc = a.run("objective", "add", "o2", "Waits", "--cycle", "2026-Q4")
    assert proc.returncode == 0, proc.stderr
    assert waiting(proc.stdout) == 1, proc.stdout
