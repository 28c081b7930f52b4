"""Who may write the projection's files and what a reader opens, without Kafka.

One process owns the work file (an exclusive lock file says which: `owning`); readers open
it read-only whenever that owner is not writing, else the published snapshot
(`open_for_reading`). A CLI read that finds the work file already holding every event of
the store needs no refresh at all (`complete_for_reading`): it then starts no Kafka client
(what that saves: docs/benchmarks.md, "Quarter review").
"""

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from okr.adapters.event_store import sqlite_head
from okr.errors import ProjectionUnavailable
from okr.locks import held
from okr.projections.store import Projection, ProjectionLocked
from okr.settings import Settings

# The snapshot for analysts is copied at most this often (seconds) while events arrive; the
# CLI reads the work file itself whenever the consumer is not writing it.
SNAPSHOT_EVERY = 15.0


class ProjectionBusy(RuntimeError):
    """Another process owns the projection's work file."""


@contextmanager
def owning(settings: Settings, wait: bool = False) -> Iterator[None]:
    """Hold the projection's writer lock (raises ProjectionBusy unless `wait`)."""
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(settings.projection_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ProjectionBusy("a projection consumer is running (okr consume / okr up)"
                                 ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        moved = move_legacy_work_file(settings)
        if moved is not None:
            print(f"okr: moved the consumer's work file {moved} to "
                  f"{settings.projection_work_file}; analysts open {settings.duckdb_file}",
                  file=sys.stderr)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def consumer_running(settings: Settings) -> bool:
    """Whether a consumer owns the work file now (`okr consume`, `okr up`): it keeps the file
    and the snapshot current, so a read needs neither to refresh nor to publish."""
    return held(settings.projection_lock)


def move_legacy_work_file(settings: Settings) -> Path | None:
    """Move a work file of the old layout (beside the snapshot) into the consumer's folder,
    with its WAL; call holding the writer lock. Returns where it was, or None."""
    old, new = settings.legacy_work_file, settings.projection_work_file
    if not old.exists() or new.exists():
        return None
    new.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for suffix in (".wal", ""):  # the WAL first: a crash between leaves the file to move again
        src = old.with_name(old.name + suffix)
        if src.exists():
            os.replace(src, new.with_name(new.name + suffix))
    stale = settings.duckdb_file.with_name(settings.duckdb_file.name + ".tmp")
    stale.unlink(missing_ok=True)  # a half-made snapshot copy of the old layout
    return old


def settle_layout(settings: Settings) -> None:
    """Move an old layout's work file before a read looks for it (unless a consumer runs: it
    moves the file itself when it starts)."""
    if settings.legacy_work_file.exists() and not settings.projection_work_file.exists():
        try:
            with owning(settings):
                pass
        except ProjectionBusy:
            pass


def open_for_reading(settings: Settings, wait: float = 2.0) -> Projection | None:
    """The projection, read-only: the work file, unless its writer holds it for longer than
    `wait` seconds (a long batch), then the published snapshot; None when neither exists;
    ProjectionUnavailable (one line) when the file was set up by another version of okr (its
    tables and macros are not this code's: a reader cannot set it up)."""
    work, snapshot = settings.projection_work_file, settings.duckdb_file
    proj = None
    if work.exists():
        with suppress(ProjectionLocked):
            proj = Projection(work, read_only=True, wait=wait)
    if proj is None and snapshot.exists():
        proj = Projection(snapshot, read_only=True)
    return None if proj is None else set_up_here(proj)


def set_up_here(proj: Projection) -> Projection:
    """`proj`, if this code set its file up; else closed, and ProjectionUnavailable (one
    line: its tables and macros are not this code's, and a reader cannot set it up)."""
    if not proj.set_up_by_this_code():
        proj.close()  # a reader cannot set a file up: its writer, this version, does
        raise ProjectionUnavailable(
            f"the projection {proj.path} was set up by another version of okr (a consumer "
            "started before an upgrade?): restart okr up / okr consume so that this version "
            "sets it up, then read again")
    return proj


def snapshot_due(settings: Settings, every: float) -> bool:
    """The snapshot is missing, or older than the work file by `every` seconds."""
    snap = settings.duckdb_file
    if not snap.exists():
        return True
    work = settings.projection_work_file
    changed = max((p.stat().st_mtime for p in (work, work.with_name(work.name + ".wal"))
                   if p.exists()), default=0.0)
    published = snap.stat().st_mtime
    return changed > published and time.time() - published >= every


def complete_for_reading(settings: Settings, snapshot_every: float) -> Projection | None:
    """The work file, read-only, if it already holds every event of the event store, was set
    up by this very code and the analysts' snapshot is not due (or a running consumer will
    publish it); else None (the read must refresh first: that also sets up or rebuilds a file
    an older version of okr wrote).

    Only for the SQLite store, whose positions run 1, 2, 3, … without gaps: a work file that
    holds N events, the highest at position N, where the store's highest position is N,
    holds all of them. (A PostgreSQL sequence can skip numbers; reads there always refresh.)
    """
    work, store = settings.projection_work_file, settings.event_store_path
    if settings.store != "sqlite" or not work.exists() or not store.exists():
        return None
    if snapshot_due(settings, snapshot_every) and not consumer_running(settings):
        return None
    head = sqlite_head(settings)  # None: no events yet, or busy: let the refresh decide
    if head is None:
        return None
    try:
        proj = Projection(work, read_only=True, wait=0.5)
    except ProjectionLocked:
        return None
    try:
        current = proj.set_up_by_this_code()
        count, highest = proj.event_positions()
    except Exception:
        proj.close()
        raise
    if current and count == highest == head:
        return proj
    proj.close()
    return None

