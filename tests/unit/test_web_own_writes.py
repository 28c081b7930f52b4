"""What a user's next read waits for (web/own_writes.py): per user, the last position each of
their writes recorded on each item, forgotten once the projection is seen to hold it."""

from types import SimpleNamespace
from typing import Any

from okr.web.own_writes import PAGE, OwnWrites, reader, reading_as


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
    import contextvars

    def inside() -> str | None:
        reading_as("mia")
        return reader()

    assert contextvars.copy_context().run(inside) == "mia"
    assert reader() is None  # a request's context ends with it
