"""A reader that keeps the work file open across reads (projections/kept.py) lets a writer in
as soon as the writer says it waits, and every read after the write sees what it wrote — never
the file as it was before."""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from okr.projections import kept
from okr.projections.kept import KeptReader
from okr.projections.store import Projection

pytestmark = pytest.mark.real_clock  # a writer in another process, waits on the clock

WRITER = """
import sys, time
from okr.projections.store import Projection
began = time.monotonic()
with Projection(sys.argv[1], wait=float(sys.argv[2])) as p:
    p.con.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")
    p.con.execute("INSERT INTO marks VALUES (?)", [int(sys.argv[3])])
print(round(time.monotonic() - began, 3))
"""

# The writer loses the race for its flag once (a reader was looking at the flag file that
# very moment: raise_flag gives None), as fault injection.
UNLUCKY_WRITER = """
import sys
from okr.projections import store
first = [True]
real = store.raise_flag
def unlucky(path):
    if first[0]:
        first[0] = False
        return None
    return real(path)
store.raise_flag = unlucky
""" + WRITER

BARE_WRITER = """
import sys, time, duckdb
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        con = duckdb.connect(sys.argv[1])
        break
    except duckdb.IOException:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.01)
con.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")
con.execute("INSERT INTO marks VALUES (?)", [int(sys.argv[3])])
con.close()
"""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "okr.work.duckdb"
    with Projection(path) as p:  # set up by this code, as the consumer does
        p.con.execute("CREATE TABLE marks (n INTEGER)")
    return path


def write(script: str, path: Path, wait: float, mark: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, str(path), str(wait), str(mark)],
                          capture_output=True, text=True, timeout=60)


@contextmanager
def kept_open(work: Path, monkeypatch: pytest.MonkeyPatch, idle: float = 600.0
              ) -> Iterator[KeptReader]:
    """A reader of `work` that let go after `idle` seconds without a read (by default only a
    writer's flag or a replaced file let it go), having read it once: kept open from here."""
    monkeypatch.setattr(kept, "KEEP_IDLE", idle)
    reader = KeptReader(work)
    try:
        assert marks(reader) == []
        yield reader
    finally:
        reader.close()


def marks(reader: KeptReader) -> list[int]:
    with reader.reading() as p:
        assert p is not None
        return [n for (n,) in p.query("SELECT n FROM marks ORDER BY n")[1]]


def test_a_waiting_writer_gets_in_and_the_next_read_sees_what_it_wrote(
        work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with kept_open(work, monkeypatch) as reader:  # only the writer's flag may let it in
        for n in (1, 2, 3):
            done = write(WRITER, work, 5.0, n)
            assert done.returncode == 0, done.stderr
            assert float(done.stdout) < 4.0  # let in once it said it waits, not at its limit
            assert marks(reader) == list(range(1, n + 1))


def test_a_writer_that_lost_the_race_for_its_flag_raises_it_again_and_gets_in(
        work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """raise_flag gives None when a reader looks at the flag that moment; the writer must
    take it again on a later retry, not wait at the readers' lock to its limit (a reader
    that keeps reading never lets go on its own)."""
    with kept_open(work, monkeypatch) as reader:
        done = write(UNLUCKY_WRITER, work, 5.0, 9)
        assert done.returncode == 0, done.stderr
        assert float(done.stdout) < 4.0
        assert marks(reader) == [9]


def test_a_writer_waits_for_the_reads_in_progress_and_later_reads_see_its_rows(
        work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reading, seen = threading.Event(), []
    with kept_open(work, monkeypatch) as reader:

        def long_read() -> None:
            with reader.reading() as p:
                assert p is not None
                reading.set()
                while not kept.writer_waiting(work):  # the writer came and was refused
                    time.sleep(0.005)
                time.sleep(0.3)
                seen.append(p.query("SELECT count(*) FROM marks")[1][0][0])

        t = threading.Thread(target=long_read)
        t.start()
        reading.wait()
        done = write(WRITER, work, 5.0, 7)
        t.join(10)
        assert done.returncode == 0, done.stderr
        assert 0.3 <= float(done.stdout) < 4.5  # it waited for the read, then went in
        assert seen == [0]  # the read in progress saw the file as it was while it ran
        assert marks(reader) == [7]


def test_a_writer_that_does_not_say_it_waits_gets_in_once_the_reader_is_idle(
        work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with kept_open(work, monkeypatch, idle=0.2) as reader:
        done = write(BARE_WRITER, work, 5.0, 4)
        assert done.returncode == 0, done.stderr
        assert marks(reader) == [4]


def test_a_file_replaced_under_the_reader_is_let_go_and_the_new_one_read(
        work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.duckdb"
    with Projection(other) as p:  # another file set up by this code, with a mark in it
        p.con.execute("CREATE TABLE marks (n INTEGER)")
        p.con.execute("INSERT INTO marks VALUES (9)")
    with kept_open(work, monkeypatch) as reader:
        other.replace(work)  # a new inode at the path (no writer waited for the old one)
        deadline = time.monotonic() + 5
        while marks(reader) != [9]:
            assert time.monotonic() < deadline, "the replaced file was kept and read on"
            time.sleep(0.01)


def test_the_read_right_after_a_replace_reads_the_new_file(
        work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read checks the file at the path is the one kept open, not only the watcher: with
    the watcher asleep, the very next read after the replace reads the new file."""
    other = tmp_path / "other.duckdb"
    with Projection(other) as p:
        p.con.execute("CREATE TABLE marks (n INTEGER)")
        p.con.execute("INSERT INTO marks VALUES (9)")
    monkeypatch.setattr(kept, "LOOK_EVERY", 60.0)  # the watcher does not look again here
    with kept_open(work, monkeypatch) as reader:
        other.replace(work)
        assert marks(reader) == [9]
