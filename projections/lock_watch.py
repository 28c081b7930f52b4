"""Waiting for another process's DuckDB lock to go, without trying to open the file.

A DuckDB open that the file's lock refuses costs about 6 ms of CPU and 13 ms (full scale,
docs/benchmarks.md): a reader retrying every few ms while the consumer writes a batch burns
a third of a core beside it. Asking the kernel whether a conflicting lock is held (F_GETLK,
which takes no lock) costs microseconds, so a waiting open asks that instead and tries DuckDB
again only once the lock is gone.

POSIX record locks belong to the process, and closing any descriptor of a file drops all of
the process's locks on it — DuckDB's own included. So the descriptor asked through is opened
once per file and never closed.
"""

import fcntl
import os
import struct
import sys
import time

# struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid (and padding).
_FLOCK = "hhqqi4x"
_fds: dict[str, tuple[int, int]] = {}  # path → (descriptor, inode); never closed, see above
LOOK_EVERY = 0.002  # seconds between two questions to the kernel
RETRY_EVERY = 0.02  # seconds between two DuckDB opens where the kernel cannot be asked


def conflicting_lock(path: str, read_only: bool) -> bool | None:
    """Whether another process holds a lock on `path` that refuses this open (a writer's, for
    a read-only open; anyone's, for a read-write one); None when it cannot be asked."""
    if sys.platform != "linux":
        return None
    try:
        inode = os.stat(path).st_ino
        known = _fds.get(path)
        if known is None or known[1] != inode:  # new, or replaced: the old one stays open
            known = _fds[path] = (os.open(path, os.O_RDONLY | os.O_CLOEXEC), inode)
        want = fcntl.F_RDLCK if read_only else fcntl.F_WRLCK
        answer = fcntl.fcntl(known[0], fcntl.F_GETLK, struct.pack(_FLOCK, want, 0, 0, 0, 0))
    except OSError:
        return None
    return bool(struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK)


def wait_for_lock(path: str, read_only: bool, deadline: float) -> None:
    """Return once no other process holds a lock refusing this open (or at `deadline`); where
    that cannot be asked, after RETRY_EVERY."""
    while time.monotonic() < deadline:
        held = conflicting_lock(path, read_only)
        if held is None:
            time.sleep(RETRY_EVERY)
            return
        if not held:
            return
        time.sleep(LOOK_EVERY)
