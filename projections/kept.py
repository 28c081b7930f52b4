"""One read-only connection to the consumer's work file, kept open across reads and let go as
soon as a writer wants the file.

Opening the full-scale file read-only and closing it again cost about a third of a key-result
page (docs/benchmarks.md, "Web"). A long-running reader (the web app) keeps one connection and
gives each read a cursor of it. What it reads is never older than the file: while any
read-only connection of a process is open, DuckDB lets no other process open the file for
writing — so the file cannot change under it.

The writer therefore must be let in. A writer refused by the readers' lock says so: it holds
an flock on `FILE.waiting` while it retries (`Projection.connect`, `writer_waiting`). A
watcher thread looks at that flag every LOOK_EVERY seconds; once it is up, no new read takes a
cursor, the connection is closed when the reads in progress are done, and reads wait (at most
`wait` seconds, as any read waits for a writer) until the writer has had its turn. A writer
that does not say so (an older okr) still gets in once the reader has been idle for
KEEP_IDLE seconds. A file replaced under it (another inode at the path) is let go as soon as
seen: each read compares the file at the path with the one kept before taking a cursor, so no
read begins on a file that nobody writes any more (a read already in progress finishes on it).
"""

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from okr.locks import held
from okr.projections.access import set_up_here
from okr.projections.errors import ProjectionLocked
from okr.projections.lock_watch import waiting_flag
from okr.projections.store import Projection

LOOK_EVERY = 0.002  # seconds between two looks at the writer's flag
KEEP_IDLE = 2.0  # seconds without a read after which the connection is let go anyway


def writer_waiting(path: Path | str) -> bool:
    """Whether a writer waits for the readers of `path` to let go (lock_watch.raise_flag)."""
    return held(Path(waiting_flag(str(path))))


class KeptReader:
    """Reads of one DuckDB file through one kept read-only connection (see the module)."""

    def __init__(self, path: Path | str, wait: float = 2.0) -> None:
        self.path = Path(path)
        self.wait = wait
        self._cond = threading.Condition()
        self._kept: Projection | None = None
        self._opening = False
        self._users = 0
        self._yielding = False  # a writer waits: no new cursors, close when the last is done
        self._last_use = 0.0
        self._watcher: threading.Thread | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file kept open

    @contextmanager
    def reading(self) -> Iterator[Projection | None]:
        """A projection over a cursor of the kept connection, opened if need be; None when
        the file cannot be opened read-only within `wait` seconds (a writer holds it: read
        the snapshot instead)."""
        kept = self._enter()
        if kept is None:
            yield None
            return
        try:
            with kept.cursor() as proj:
                yield proj
        finally:
            with self._cond:
                self._users -= 1
                self._last_use = time.monotonic()
                if self._yielding and not self._users:
                    self._let_go()
                self._cond.notify_all()

    def _enter(self) -> Projection | None:
        deadline = time.monotonic() + self.wait
        with self._cond:
            while True:
                if self._kept is not None and not self._yielding:
                    if _identity(self.path) == self._identity:
                        self._users += 1
                        return self._kept
                    # Replaced under it (the watcher has not looked yet): no read takes a cursor
                    # of the old file from now on; it is let go once the reads on it are done.
                    self._yielding = bool(self._users)
                    if not self._users:
                        self._let_go()
                    continue
                if not self._yielding and not self._opening:
                    self._opening = True
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, LOOK_EVERY * 5))
                if self._yielding and self._kept is None and not writer_waiting(self.path):
                    self._yielding = False  # the writer has had its turn
        kept = None
        try:  # one thread opens; the others wait for it above
            identity = _identity(self.path)
            kept = set_up_here(Projection(self.path, read_only=True,
                                          wait=max(0.0, deadline - time.monotonic())))
        except ProjectionLocked:
            pass
        finally:
            with self._cond:
                self._opening = False
                if kept is not None:
                    self._kept, self._users = kept, self._users + 1
                    self._identity = identity
                    self._last_use = time.monotonic()
                    self._watch()
                self._cond.notify_all()
        return kept

    def _watch(self) -> None:
        """Start the watcher unless one runs (hold the condition)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watching, name="okr-kept-reader",
                                             daemon=True)
            self._watcher.start()

    def _watching(self) -> None:
        """Until the connection is let go: let it go when a writer waits or the file was
        replaced (once the reads in progress are done), or after KEEP_IDLE seconds without a
        read."""
        while True:
            time.sleep(LOOK_EVERY)
            wants = writer_waiting(self.path)
            replaced = _identity(self.path) != self._identity
            with self._cond:
                if self._kept is None:
                    self._yielding = self._yielding and wants
                    self._cond.notify_all()
                    if not self._yielding:
                        self._watcher = None  # decided under the condition: the next open
                        return  # starts another
                    continue
                idle = not self._users and time.monotonic() - self._last_use > KEEP_IDLE
                if wants or idle or replaced:  # replaced: the next read opens the new file
                    self._yielding = wants or replaced
                    if not self._users:
                        self._let_go()
                    self._cond.notify_all()

    def _let_go(self) -> None:
        """Close the kept connection (hold the condition; no cursor in use)."""
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def close(self) -> None:
        """Let go of the file now (waits for the reads in progress)."""
        with self._cond:
            self._yielding = True
            while self._users:
                self._cond.wait()
            self._let_go()
            self._yielding = False
            self._cond.notify_all()


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path` now, or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
