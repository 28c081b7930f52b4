"""What a user's next read waits for (web/own_writes.py): per user, the last position each of
their writes recorded on each item, forgotten once the projection is seen to hold it."""

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from okr.web import own_writes
from okr.web.own_writes import PAGE, OwnWrites, reader, reading_as
from okr.web.turns import Busy


class _Recorder:
    def __init__(self, notes: list[tuple[int, str]]) -> None:
        self.notes = [SimpleNamespace(id=i, originator_id=item) for i, item in notes]

    def select_notifications(self, start: int, limit: int,
                             inclusive_of_start: bool = True) -> list[Any]:
        return [n for n in self.notes if n.id > start][:limit]


def _ledger(notes: list[tuple[int, str]]) -> Any:
    return SimpleNamespace(recorder=_Recorder(notes))


def test_a_write_is_awaited_by_its_users_reads_only_until_seen() -> None:
    own = OwnWrites()
    ledger = _ledger([(1, "a"), (2, "kr"), (3, "kr"), (4, "obj")])
    own.recorded("mia", ledger, after=1)
    assert own.awaited("mia") == [3, 4]  # the item's last event: the earlier ones come first
    assert own.awaited("ben") == []  # another user's reads do not wait for it
    own.seen("mia", {3})
    assert own.awaited("mia") == [4]
    own.seen("mia", {4, 99})
    assert own.awaited("mia") == []


def test_a_newer_write_on_the_item_is_not_forgotten_for_an_older_one_seen() -> None:
    own = OwnWrites()
    own.recorded("mia", _ledger([(5, "kr")]), after=0)
    own.recorded("mia", _ledger([(5, "kr"), (6, "kr")]), after=5)
    own.seen("mia", {5})
    assert own.awaited("mia") == [6]


def test_every_page_of_a_large_write_is_read() -> None:
    own = OwnWrites()
    notes = [(i, f"item-{i % 3}") for i in range(1, 2 * PAGE + 10)]
    own.recorded("pat", _ledger(notes), after=0)
    assert own.awaited("pat") == [2 * PAGE + 7, 2 * PAGE + 8, 2 * PAGE + 9]


def test_the_reader_is_said_per_context() -> None:
    def inside() -> str | None:
        reading_as("mia")
        return reader()

    assert contextvars.copy_context().run(inside) == "mia"
    assert reader() is None  # a request's context ends with it


class _Proj:
    """A projection that holds events at `holds`; its file is the snapshot unless it is the
    work file (the name says which)."""

    def __init__(self, name: str, holds: set[int], path: Path | None = None) -> None:
        self.name, self.holds = name, holds
        self.path = str(path or (WORK if name.startswith("work") else SNAPSHOT))

    def positions_held(self, positions: Any) -> set[int]:
        return {p for p in positions if p in self.holds}

    def __enter__(self) -> "_Proj":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Kept:
    """The kept reader of the work file (which holds the write): open for the first look, then
    its writer holds the file past the reader's wait for `held_for` looks."""

    def __init__(self, held_for: int) -> None:
        self.held_for, self.looks = held_for, 0

    @contextmanager
    def reading(self) -> Iterator[_Proj | None]:
        self.looks += 1
        yield None if 1 < self.looks <= 1 + self.held_for else _Proj("work file", {7})


WORK, SNAPSHOT = Path("/data/okr.work.duckdb"), Path("/data/okr.duckdb")


def _site_beside_a_consumer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: _Kept) -> Any:
    """A Site beside a consumer whose snapshot is from before mia's write at position 7."""
    import okr.projections.access as access
    from okr.web.site import SharedLock, Site
    from okr.web.turns import Turns

    work = tmp_path / "work.duckdb"
    work.touch()
    s = object.__new__(Site)
    s.state = SimpleNamespace(settings=SimpleNamespace(projection_work_file=work,
                                                       duckdb_file=SNAPSHOT))
    s._lock, s.turns, s._kept, s.own_writes = SharedLock(), Turns(2, 1.0), kept, OwnWrites()
    s._consumer_elsewhere = lambda: True
    s._probe = threading.Lock()
    monkeypatch.setattr(access, "open_for_reading",
                        lambda settings, wait=2.0: _Proj("snapshot", set()))
    s.own_writes.recorded("mia", _ledger([(6, "obj"), (7, "kr")]), after=6)
    return s


def test_a_read_after_ones_write_is_not_served_by_a_snapshot_without_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the wait sees the work file hold the write; when the read comes, its writer holds the
    # file (a long batch), and then lets go
    s = _site_beside_a_consumer(tmp_path, monkeypatch, _Kept(held_for=1))

    def as_mia() -> tuple[str, set[int]]:
        reading_as("mia")
        return s.read(lambda p: (p.name, p.positions_held([7])))

    assert contextvars.copy_context().run(as_mia) == ("work file", {7})
    assert s.own_writes.awaited("mia") == []  # forgotten once a read was served with it


def test_a_read_whose_write_no_projection_at_hand_holds_is_busy_and_still_waits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from okr.web import own_writes
    from okr.web.turns import Busy

    monkeypatch.setattr(own_writes, "WAIT", 0.2)
    s = _site_beside_a_consumer(tmp_path, monkeypatch, _Kept(held_for=10**9))

    def as_mia() -> object:
        reading_as("mia")
        return s.read(lambda p: p.name)

    with pytest.raises(Busy):
        contextvars.copy_context().run(as_mia)
    assert s.own_writes.awaited("mia") == [7]  # mia's next read still waits for it


class _KeptOnSchedule(_Kept):
    """The kept reader of the work file (which holds the write), open or held by its writer
    past the reader's wait (None) look by look as `schedule` says; open after it."""

    def __init__(self, schedule: list[bool]) -> None:
        super().__init__(held_for=0)
        self.schedule = schedule

    @contextmanager
    def reading(self) -> Iterator[_Proj | None]:
        self.looks += 1
        is_open = self.schedule[self.looks - 1] if self.looks <= len(self.schedule) else True
        yield _Proj("work file", {7}) if is_open else None


def test_a_later_read_is_not_served_by_a_snapshot_from_before_ones_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # mia's first read after her write is served by the work file; her next one comes while
    # the consumer's writer holds that file (a long batch): the snapshot at hand is from
    # before her write, so it must not serve her — she waits until the work file is free
    kept = _KeptOnSchedule([True, True, False, False, True])
    s = _site_beside_a_consumer(tmp_path, monkeypatch, kept)

    def as_mia() -> str:
        reading_as("mia")
        return s.read(lambda p: p.name)

    assert contextvars.copy_context().run(as_mia) == "work file"
    assert contextvars.copy_context().run(as_mia) == "work file"
    assert kept.looks == 5  # the second read looked again until the writer let go


def test_a_write_seen_in_the_work_file_is_forgotten_once_a_snapshot_holds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import okr.projections.access as access

    kept = _KeptOnSchedule([True, True, False])
    s = _site_beside_a_consumer(tmp_path, monkeypatch, kept)
    monkeypatch.setattr(access, "open_for_reading",
                        lambda settings, wait=2.0: _Proj("snapshot", {6, 7}))

    def as_mia() -> str:
        reading_as("mia")
        return s.read(lambda p: p.name)

    assert contextvars.copy_context().run(as_mia) == "work file"
    assert s.own_writes.awaited("mia") == [] and s.own_writes.for_snapshot("mia") == [7]
    assert contextvars.copy_context().run(as_mia) == "snapshot"  # a newer snapshot holds it
    assert s.own_writes.for_snapshot("mia") == []


def test_a_work_file_opened_in_the_fallback_does_not_stand_in_for_a_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback (`open_for_reading`) opens the work file when its writer has just let go,
    else the snapshot: a read it served from the work file must not count as a snapshot's
    (the write was forgotten for snapshots, and the next fallback served a stale one — a
    reviewer's finding)."""
    import okr.projections.access as access

    kept = _KeptOnSchedule([True, True] + [False] * 10**6)  # then the writer holds it on
    s = _site_beside_a_consumer(tmp_path, monkeypatch, kept)
    opened = iter([_Proj("work file", {7}), _Proj("stale snapshot", set())])
    monkeypatch.setattr(access, "open_for_reading",
                        lambda settings, wait=2.0: next(opened, _Proj("stale snapshot", set())))
    monkeypatch.setattr(own_writes, "WAIT", 0.2)

    def as_mia() -> str:
        reading_as("mia")
        return s.read(lambda p: p.name)

    assert contextvars.copy_context().run(as_mia) == "work file"  # the kept reader
    assert contextvars.copy_context().run(as_mia) == "work file"  # the fallback's
    with pytest.raises(Busy):  # never the stale snapshot
        contextvars.copy_context().run(as_mia)
    assert s.own_writes.for_snapshot("mia") == [7]
