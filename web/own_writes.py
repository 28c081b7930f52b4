"""Read your own writes beside a consumer: a user's read waits until the projection holds the
events their writes through this server recorded.

Beside a consumer (`okr up --web`) a write reaches the projection through the relay, Kafka and
the consumer's next batch — a fifth of a second or more after its 201. A read in between
would show the user the projection from before their own check-in. So each write remembers,
per user, the position of the last event it recorded on each item it touched (the relay
keeps one item's events in order on one partition, so the last one held means all of them
are); that user's next read waits until the projection holds those positions, looking every
LOOK_EVERY seconds, and is served only by a projection that holds them (not by a snapshot from
before them). A read served by the work file forgets them for the work file, which only grows,
but keeps them for snapshots until one is seen to hold them: while the consumer's writer holds
the work file a read falls back to the last snapshot, which may be from before the write.
Other users' reads do not wait for them.

Which user is reading is said once per request (`reading_as`, from the signed-in session or
the API token) into a context variable: FastAPI runs each request in a context of its own,
copied into the thread that runs its route.
"""

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from okr.ledger.app import OkrLedger

LOOK_EVERY = 0.005  # seconds between two looks at the projection while a read waits
WAIT = 10.0  # seconds a read waits for its user's writes at most, then 503 (Busy)
PAGE = 500  # notifications read at once after a write

_reader: ContextVar[str | None] = ContextVar("okr_web_reader", default=None)


def reading_as(name: str | None) -> None:
    """The user this request reads for (None: nobody signed in)."""
    _reader.set(name)


def reader() -> str | None:
    """The user this request reads for, if said."""
    return _reader.get()


class OwnWrites:
    """Per user: item → the position of the last event their writes recorded on it that the
    projection was not yet seen to hold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._awaited: dict[str, dict[str, int]] = {}
        # seen held by the work file, not yet by a snapshot: a snapshot serves only if it does
        self._unsnapped: dict[str, dict[str, int]] = {}

    def recorded(self, user: str, ledger: "OkrLedger", after: int) -> None:
        """Remember the events stored after position `after` (the store's head before the
        user's write) — the write's own, and any other written meanwhile, which the
        projection will hold as well."""
        last: dict[str, int] = {}
        start = after
        while True:
            notes = ledger.recorder.select_notifications(start, PAGE, inclusive_of_start=False)
            for n in notes:
                last[str(n.originator_id)] = n.id
            if len(notes) < PAGE:
                break
            start = notes[-1].id
        if last:
            with self._lock:
                self._awaited.setdefault(user, {}).update(last)

    def awaited(self, user: str) -> list[int]:
        """The positions the user's next read waits for."""
        with self._lock:
            return sorted(self._awaited.get(user, {}).values())

    def for_snapshot(self, user: str) -> list[int]:
        """The positions a snapshot must hold to serve the user's read: those awaited, and
        those the work file was seen to hold that no snapshot was yet."""
        with self._lock:
            return sorted({*self._awaited.get(user, {}).values(),
                           *self._unsnapped.get(user, {}).values()})

    def seen(self, user: str, positions: "set[int]", snapshot: bool = False) -> None:
        """A read was served by a projection holding these positions: reads no longer wait
        for them — a snapshot's reads, only once a snapshot held them (`snapshot`)."""
        with self._lock:
            mine = self._awaited.get(user, {})
            unsnapped = self._unsnapped.setdefault(user, {})
            for item in [i for i, p in mine.items() if p in positions]:
                position = mine.pop(item)
                if not snapshot:
                    unsnapped[item] = position  # later than any it had on the item
            if snapshot:
                for item in [i for i, p in unsnapped.items() if p in positions]:
                    del unsnapped[item]
            if not mine:
                self._awaited.pop(user, None)
            if not unsnapped:
                del self._unsnapped[user]
