"""The projector's gate: a record is applied only once a verified signed checkpoint covers it.

Anyone who can reach the broker can produce a well-formed envelope with a correct hash: the
hash proves nothing about who wrote it. A signed checkpoint does: it names the chain head
(position, hash, count) that the relay published. Records wait here, indexed by their hash;
when a checkpoint whose signature verifies arrives, the chain is walked back from its head
through `prev_hash` to the head already applied. If every link is here, exactly those records
are released, in position order — the true history — and every other waiting record at or
below the checkpoint's position is a forgery (or a stale copy of another history): an alarm.
Records beyond the newest checkpoint keep waiting; nothing unverified is ever applied, so a
forged record can neither win nor displace the real one.

A waiting record is kept as its chain link (position, hash, previous hash) and the caller's
item, not as a decoded envelope: a consumer may hold thousands of them.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from okr.record.envelope import GENESIS_HASH

T = TypeVar("T")


class Head(NamedTuple):
    """The last applied record: its position, hash and how many records up to it."""

    position: int
    hash: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, which nothing here uses


START = Head(0, GENESIS_HASH, 0)


class Linked(Protocol):
    """What the gate reads of a record (an Envelope has it)."""

    @property
    def position(self) -> int: ...
    @property
    def hash(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...


class Waiting(NamedTuple, Generic[T]):
    """A held record: its link in the chain and what the caller needs to apply or
    dead-letter it."""

    position: int
    hash: str
    prev_hash: str
    item: T


def _no_details(_: Any) -> str:
    return ""


@dataclass
class Gate(Generic[T]):
    """Waiting records and verified checkpoints of one log. Use from one thread."""

    head: Head = START
    signature_ok: Callable[[dict[str, Any]], bool] | None = None
    topic: str | None = None
    waiting: dict[str, list[Waiting[T]]] = field(default_factory=dict)  # by hash
    checkpoints: dict[int, dict[str, Any]] = field(default_factory=dict)  # verified, by count
    # What a conflict's reason says about the record besides position and hash (its type,
    # aggregate, actor), worked out only for a conflict.
    describe: Callable[[T], str] = _no_details

    def hold(self, env: Linked, item: T) -> None:
        self.keep(Waiting(env.position, env.hash, env.prev_hash, item))

    def keep(self, w: Waiting[T]) -> None:
        self.waiting.setdefault(w.hash, []).append(w)

    def held(self) -> list[Waiting[T]]:
        return [w for ws in self.waiting.values() for w in ws]

    def held_count(self) -> int:
        return sum(len(ws) for ws in self.waiting.values())

    def offer(self, checkpoint: dict[str, Any]) -> bool:
        """Keep a checkpoint if its signature verifies and it lies beyond the head."""
        if self.signature_ok is None or not isinstance(checkpoint, dict):
            return False
        if self.topic is not None and checkpoint.get("topic", self.topic) != self.topic:
            return False
        try:
            count = int(checkpoint["count"])
            int(checkpoint["position"])
            str(checkpoint["head_hash"])
        except (KeyError, TypeError, ValueError):
            return False
        if count <= self.head.count or not self.signature_ok(checkpoint):
            return False
        self.checkpoints[count] = checkpoint
        return True

    def release(self) -> tuple[list[Waiting[T]], list[tuple[Waiting[T], str]]]:
        """Records a verified checkpoint now covers (position order), and the waiting records
        that conflict with them (each with the reason)."""
        released: list[Waiting[T]] = []
        conflicts: list[tuple[Waiting[T], str]] = []
        while True:
            for count in sorted(self.checkpoints, reverse=True):  # the furthest first
                path = self._path(self.checkpoints[count])
                if path is not None:
                    break
            else:
                return released, conflicts
            cp = self.checkpoints[count]
            for w in path:
                rest = [x for x in self.waiting[w.hash] if x is not w]
                # identical copies of a released record are duplicates, not conflicts
                if rest:
                    self.waiting[w.hash] = rest
                else:
                    del self.waiting[w.hash]
            self.head = Head(int(cp["position"]), str(cp["head_hash"]), count)
            self.checkpoints = {c: v for c, v in self.checkpoints.items() if c > count}
            released += path
            on_path = {r.hash for r in path}
            for h, ws in list(self.waiting.items()):
                stale = [w for w in ws if w.position <= self.head.position]
                if not stale:
                    continue
                if h not in on_path:  # copies of a released record are duplicates
                    conflicts += [(w, self._why(w, cp)) for w in stale]
                rest = [w for w in ws if w.position > self.head.position]
                if rest:
                    self.waiting[h] = rest
                else:
                    del self.waiting[h]

    def _path(self, cp: dict[str, Any]) -> list[Waiting[T]] | None:
        """The waiting records from the head to this checkpoint, if every link is here."""
        want = int(cp["count"]) - self.head.count
        path: list[Waiting[T]] = []
        h = str(cp["head_hash"])
        while h != self.head.hash:
            ws = self.waiting.get(h)
            if not ws or len(path) >= want:
                return None
            path.append(ws[0])
            h = ws[0].prev_hash
        if len(path) != want or (path and path[0].position != int(cp["position"])):
            return None
        path.reverse()
        return path

    def _why(self, w: Waiting[T], cp: dict[str, Any]) -> str:
        return (f"forged or conflicting record: position {w.position} ({self.describe(w.item)}"
                f"hash {w.hash[:16]}…) is not on the chain of the signed checkpoint at "
                f"position {cp['position']} (head {str(cp['head_hash'])[:16]}…)")
