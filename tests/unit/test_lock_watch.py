"""A projection open that another process's lock refuses waits by asking the kernel (its lock
table, no descriptor of the file opened), not by trying DuckDB again and again; asking never
drops this process's own DuckDB lock, and keeps no replaced file on disk."""

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from okr.projections import store
from okr.projections.lock_watch import RETRY_EVERY, conflicting_lock
from okr.projections.store import Projection, ProjectionLocked
from tests.support.holders import hold, let_go

# real_clock: these waits are timed on the monotonic clock (a writer letting go after a
# threading.Timer), which libfaketime cannot fake: make test-dates leaves them out.
pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="the lock table is Linux's"),
              pytest.mark.real_clock]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "p.duckdb"
    Projection(path).close()
    return path


def test_the_kernel_says_which_locks_refuse_which_open(db: Path) -> None:
    assert conflicting_lock(str(db), read_only=True) is False
    assert conflicting_lock(str(db), read_only=False) is False
    # a writer elsewhere refuses every open; a reader elsewhere only a writer's
    for mode, refuses_reading in (("w", True), ("r", False)):
        other = hold(db, mode)
        try:
            assert conflicting_lock(str(db), read_only=True) is refuses_reading
            assert conflicting_lock(str(db), read_only=False) is True
        finally:
            let_go(other)
    assert conflicting_lock(str(db), read_only=False) is False


class Opens:
    """Projection's DuckDB opens in this process, in order (True: opened, False: refused); the
    first refusal lets `writer` go `after` seconds later, so a read always waits for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[bool] = []
        self.writer: subprocess.Popen[str] | None = None
        self.after = 0.0
        self.ending: threading.Timer | None = None
        self.guard = threading.Lock()
        monkeypatch.setattr(store.engine, "connect", self.connect)

    def connect(self, *args: Any, real: Callable[..., duckdb.DuckDBPyConnection] = duckdb.connect,
                **kwargs: Any) -> duckdb.DuckDBPyConnection:
        try:
            con = real(*args, **kwargs)
        except duckdb.IOException:
            with self.guard:
                self.seen.append(False)
                if self.writer is not None and self.ending is None:
                    self.ending = threading.Timer(self.after, let_go, [self.writer])
                    self.ending.start()
            raise
        with self.guard:
            self.seen.append(True)
        return con

    def writer_holds(self, db: Path, after: float) -> None:
        self.seen, self.after, self.ending = [], after, None
        self.writer = hold(db, "w")

    def writer_gone(self) -> None:
        if self.ending is not None:
            self.ending.join()
        elif self.writer is not None:  # no open was refused: let go here
            let_go(self.writer)
        self.writer = None


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Opens:
    return Opens(monkeypatch)


def test_a_read_waiting_for_the_writer_opens_duckdb_once_more_when_it_lets_go(
        db: Path, opens: Opens) -> None:
    opens.writer_holds(db, after=0.5)  # the writer's batch: half a second after the refusal
    try:
        with Projection(db, read_only=True, wait=10) as reader:
            assert reader.con.execute("SELECT 1").fetchone() == (1,)
    finally:
        opens.writer_gone()
    # refused, then opened once the kernel no longer shows the lock: retrying DuckDB every
    # 20 ms through the half second made some 25 opens
    assert opens.seen[0] is False and opens.seen[-1] is True, opens.seen
    assert opens.seen.count(True) == 1 and len(opens.seen) <= 5, opens.seen


def test_waiting_keeps_no_descriptor_and_no_replaced_file(
        db: Path, tmp_path: Path, opens: Opens) -> None:
    # the snapshot's publish: a writer elsewhere holds it, two reads wait, the file is replaced
    def read() -> None:
        with Projection(db, read_only=True, wait=10) as reader:
            reader.con.execute("SELECT 1").fetchone()

    for _ in range(3):
        opens.writer_holds(db, after=0.1)
        readers = [threading.Thread(target=read) for _ in range(2)]
        try:
            for r in readers:
                r.start()
            for r in readers:
                r.join()
        finally:
            opens.writer_gone()
        assert False in opens.seen  # the reads did wait
        fresh = tmp_path / "fresh.duckdb"
        Projection(fresh).close()
        os.replace(fresh, db)
    # a descriptor kept for ever pinned each replaced file ("… (deleted)")
    assert descriptors_in(tmp_path) == []


def descriptors_in(folder: Path) -> list[str]:
    """What this process's open descriptors name inside `folder`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the listing's own descriptor, closed since
            continue
        if target.startswith(f"{folder}/"):
            found.append(target)
    return found


def test_a_refusal_the_kernel_does_not_show_is_retried_at_the_plain_pace(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tries: list[bool] = []

    def refused(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        tries.append(False)  # a lock the kernel's table cannot show (no lock on the file)
        raise duckdb.IOException(f'IO Error: Could not set lock on file "{db}": Conflicting '
                                 "lock is held in elsewhere (PID 1)")

    monkeypatch.setattr(store.engine, "connect", refused)
    with pytest.raises(ProjectionLocked):
        Projection(db, read_only=True, wait=0.3)
    # every retry waited RETRY_EVERY (a sleep never ends early), and none starts after the
    # deadline: at most 16 opens for 0.3 s; going straight back to DuckDB when the kernel
    # showed no lock made tens of thousands
    assert 2 <= len(tries) <= round(0.3 / RETRY_EVERY) + 1


def test_a_writer_that_never_lets_go_still_ends_the_wait(db: Path) -> None:
    writer = hold(db, "w")
    try:
        with pytest.raises(ProjectionLocked):
            Projection(db, read_only=True, wait=0.2)
    finally:
        let_go(writer)


def test_asking_never_drops_this_process_own_lock(db: Path) -> None:
    mine = duckdb.connect(str(db), read_only=True)
    try:
        for _ in range(3):
            assert conflicting_lock(str(db), read_only=True) is False
        # another process still cannot write: this process's read lock stands
        with pytest.raises(subprocess.CalledProcessError):
            subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])",
                            str(db)], check=True, capture_output=True, timeout=60)
    finally:
        mine.close()


def test_this_process_own_lock_is_no_conflict(db: Path) -> None:
    mine = duckdb.connect(str(db))  # read-write: a write lock, this process's
    try:
        assert conflicting_lock(str(db), read_only=False) is False
        other = subprocess.run([sys.executable, "-c", "import sys; from okr.projections."
                                "lock_watch import conflicting_lock as c; "
                                "print(c(sys.argv[1], True), c(sys.argv[1], False))", str(db)],
                               check=True, capture_output=True, text=True, timeout=60)
        assert other.stdout.split() == ["True", "True"]  # elsewhere, it refuses every open
    finally:
        mine.close()


def test_readers_waiting_at_once_share_a_look_at_the_table(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web app's readers wait in many threads at once: within half a look interval they
    share one reading of the kernel's table instead of each reading it every LOOK_EVERY (a
    clock held still makes it certain; after it moves on, the table is read again)."""
    from okr.projections import lock_watch

    reads: list[int] = []
    table = lock_watch._lock_table

    def counted() -> tuple[bytes, bytes]:
        reads.append(1)
        return table()

    now = [1000.0]
    monkeypatch.setattr(lock_watch, "_lock_table", counted)
    monkeypatch.setattr(lock_watch.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(lock_watch, "_answers", {})
    writer = hold(db, "w")
    try:
        answers: list[bool | None] = []
        threads = [threading.Thread(target=lambda: answers.extend(
            conflicting_lock(str(db), read_only=True) for _ in range(50))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert answers == [True] * 400 and len(reads) == 1
        now[0] += lock_watch.LOOK_EVERY
        assert conflicting_lock(str(db), read_only=True) is True and len(reads) == 2
        assert conflicting_lock(str(db), read_only=False) is True and len(reads) == 3
    finally:
        let_go(writer)
