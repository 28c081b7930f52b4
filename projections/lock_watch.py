"""Waiting for another process's DuckDB lock to go, without trying to open the file.

A DuckDB open that the file's lock refuses costs about 6 ms of CPU and 13 ms (full scale,
docs/benchmarks.md): a reader retrying every few ms while the consumer writes a batch burns
a third of a core beside it. The kernel's table of file locks (/proc/locks, Linux) says in
microseconds whether another process holds a conflicting lock, so a waiting open reads that
instead and tries DuckDB again only once the lock is gone.

The table is read rather than asked through a descriptor of the file (F_GETLK): POSIX record
locks belong to the process, and closing any descriptor of a file drops all of the process's
locks on it, DuckDB's own included — so such a descriptor could never be closed, and would
keep every file the snapshot's publish replaced (os.replace) on disk for the process's life.

Where the table cannot be read, or does not show the lock DuckDB was refused by (another pid
namespace's process, a file system whose device numbers stat() reports differently), the wait
is the plain retry of before: DuckDB again after RETRY_EVERY.
"""

import fcntl
import os
import sys
import threading
import time

LOOK_EVERY = 0.002  # seconds between two looks at the kernel's lock table
RETRY_EVERY = 0.02  # seconds between two DuckDB opens where the table does not show the lock
_table: dict[int, tuple[int, bytes]] = {}  # pid → (descriptor of /proc/locks, the pid in it)
_opening = threading.Lock()
# The last answer per (device, inode, read-only), and when it was given: the web app's readers
# wait in many threads at once, and each looking every LOOK_EVERY would read the table
# thousands of times a second; an answer younger than half a look is shared instead.
_answers: dict[tuple[int, int, bool], tuple[float, bool]] = {}
_answering = threading.Lock()


def _lock_table() -> tuple[bytes, bytes]:
    """The kernel's lock table, and this process's pid as the table gives it (the pid
    namespace of the /proc mounted). Re-read through one descriptor kept per process: about
    7 us instead of 19 for opening it each time."""
    pid = os.getpid()
    known = _table.get(pid)
    if known is None:
        with _opening:
            known = _table.get(pid)
            if known is None:
                fd = os.open("/proc/locks", os.O_RDONLY | os.O_CLOEXEC)
                known = _table[pid] = (fd, os.readlink("/proc/self").encode())
    table = b""
    while chunk := os.pread(known[0], 1 << 16, len(table)):  # from 0: read afresh
        table += chunk
    return table, known[1]


def conflicting_lock(path: str, read_only: bool) -> bool | None:
    """Whether another process holds a lock on `path` that refuses this open (a writer's, for
    a read-only open; anyone's, for a read-write one); None when it cannot be asked."""
    if sys.platform != "linux":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_dev, st.st_ino, read_only)
    now = time.monotonic()
    with _answering:
        recent = _answers.get(key)
        if recent is not None and now - recent[0] < LOOK_EVERY / 2:
            return recent[1]
        try:
            table, me = _lock_table()
        except OSError:
            return None
        held = _held(table, me, st, read_only)
        if len(_answers) > 64:  # files replaced since (the snapshot): forget the old answers
            _answers.clear()
        _answers[key] = (now, held)
        return held


def _held(table: bytes, me: bytes, st: os.stat_result, read_only: bool) -> bool:
    """Whether the table shows another process's lock on that file refusing the open."""
    # "1: POSIX  ADVISORY  WRITE 3785 fe:00:1474576 0 EOF": number, kind, advisory or
    # mandatory, mode, owner's pid, device (hex major:minor) and inode, range; a request
    # waiting for a lock has "->" after the number. DuckDB locks with fcntl (POSIX); an open
    # file description's lock (OFDLCK, pid -1) refuses this process's too.
    where = b"%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    if where not in table:
        return False
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[5] != where or fields[1] not in (b"POSIX", b"OFDLCK"):
            continue
        if fields[1] == b"POSIX" and fields[4] == me:  # this process's own: never refuses it
            continue
        if not read_only or fields[3] == b"WRITE":
            return True
    return False


def wait_for_lock(path: str, read_only: bool, deadline: float) -> None:
    """After DuckDB refused an open for a lock: return once no other process holds a lock
    refusing it (or at `deadline`), never sooner than LOOK_EVERY; where the kernel's table
    cannot say, or shows no such lock at the first look, after RETRY_EVERY."""
    seen = False
    while time.monotonic() < deadline:
        held = conflicting_lock(path, read_only)
        if not held and not seen:  # cannot be seen here: retry DuckDB at the plain pace
            time.sleep(RETRY_EVERY)
            return
        if not held:
            return
        seen = True
        time.sleep(LOOK_EVERY)


def waiting_flag(path: str) -> str:
    """The file a writer refused by readers holds an flock on while it retries: readers that
    keep the file open (projections/kept.py) let go when they see it held."""
    return f"{path}.waiting"


def raise_flag(path: str) -> int | None:
    """Hold the writer's waiting flag of `path`: the descriptor to close to lower it, or None
    when it cannot be taken this moment (a reader looking at it; try again on the next
    retry) or at all (a folder without write permission: readers then let go when idle)."""
    try:
        fd = os.open(waiting_flag(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd
