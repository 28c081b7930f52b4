"""Advisory lock files: whether another process holds one (the projection's, a relay's),
holding one alone with its pid in it (the long-running consumer's, an ingest's), and taking
one in turn around a short read-modify-write of a small file (`waited`).

Imports nothing of okr's, so every layer may ask."""

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def held(path: Path) -> bool:
    """True when some process holds an exclusive flock on `path` now; False when the file is
    missing, unreadable or free (taken and let go at once, never kept)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # never created (nobody ever ran here) or not readable
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class Busy(RuntimeError):
    """Another process holds the lock; `holder` is its pid as it wrote it ('?' unknown)."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"held by pid {holder}")
        self.holder = holder


def holder(path: Path) -> str:
    """The pid the lock's holder wrote into it, or '?'."""
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


@contextmanager
def exclusive(path: Path, stop: Callable[[], bool] | None = None,
              waiting: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold an exclusive flock on `path` for the block, with this process's pid in it.
    Without `stop`, raise Busy when another process holds it; with `stop`, wait for it
    (telling `waiting` once, with the holder's pid) and yield False if stopped first. The
    lock ends with the process, however it ends."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                if stop is None:
                    raise Busy(who) from None
                if not told and waiting is not None:
                    waiting(who)
                    told = True
                if stop():
                    yield False
                    return
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield True
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def waited(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` for the block, waiting while another process (or
    another open of it here) holds it: for a read-modify-write of a few lines, which no holder
    keeps for long. The lock ends with the process, however it ends."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
