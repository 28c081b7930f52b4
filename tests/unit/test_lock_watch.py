"""A projection open that another process's lock refuses waits by asking the kernel (F_GETLK,
no lock taken), not by trying DuckDB again and again; asking never drops this process's own
DuckDB lock."""

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from okr.projections import store
from okr.projections.lock_watch import conflicting_lock
from okr.projections.store import Projection, ProjectionLocked
from tests.support.holders import hold, let_go

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="F_GETLK is asked on Linux")

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


def test_a_read_waiting_for_the_writer_opens_duckdb_once_more_when_it_lets_go(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opens: list[bool] = []
    real = duckdb.connect

    def counted(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        opens.append(True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store.duckdb, "connect", counted)
    writer = hold(db, "w")
    ending = threading.Timer(0.5, let_go, [writer])  # the writer's batch, half a second long
    ending.start()
    try:
        with Projection(db, read_only=True, wait=10) as reader:
            assert reader.con.execute("SELECT 1").fetchone() == (1,)
    finally:
        ending.join()
    # refused once, then opened (a third if the writer came back in between): retrying DuckDB
    # every 20 ms through the half second made a dozen or more
    assert 2 <= len(opens) <= 3


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
