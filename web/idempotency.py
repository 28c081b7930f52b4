"""`Idempotency-Key` on the API's POSTs: a retried request is answered, not recorded again.

Keys are kept per user in a JSON-lines file in the data directory (`web-idempotency.jsonl`,
0600, every line fsynced), read back when the server starts. A key goes through two lines:

1. `pending` — written *before* the ledger is asked to record anything, with the position of
   the last event in the store then (`head`);
2. the answer (status and body), written after the write was recorded — or `released` when
   the write failed and recorded nothing.

A server killed between the two leaves a pending key. It is settled from the ledger itself
(web/writes.py): the events recorded after `head` under the user's actor are that request's
— the server writes for one user at a time, so no other write of theirs can be among them —
and the answer is rebuilt from them; none means nothing was recorded and the key is free.
So a retry after a crash at any point is recorded exactly once. A key sent again with a
different request is refused (422).

Answers are kept for `idempotency_days`: when the server starts it writes the file again with
only the keys still kept (one line each) and renames it over the old one, so the file does not
grow for ever and is read whole only once.
"""

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MAX_KEY = 200


class KeyReused(Exception):
    """The key was used before with another request."""


@dataclass(frozen=True)
class Stored:
    status: int
    body: Any


@dataclass(frozen=True)
class Pending:
    """A request that began to be recorded and has no answer on disk yet."""

    fingerprint: str
    head: int  # the store's last position before the write
    kind: str  # how its answer is built from the events it recorded (web/writes.py)
    key: str  # the item it was about


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests the same: method, path, the query's parameters in canonical
    (sorted) order — an import's name, skip_invalid and on_behalf_of are there — and body."""
    from urllib.parse import parse_qsl, urlencode

    canonical = urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
    # without a query, as keys recorded before the query counted were fingerprinted
    target = f"{path}?{canonical}" if canonical else path
    return hashlib.sha256(f"{method} {target}\n".encode() + body).hexdigest()


def check_key(key: str) -> str | None:
    """Why a header value is not a usable key, or None."""
    if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        return f"Idempotency-Key must be 1–{MAX_KEY} printable ASCII characters"
    return None


class IdempotencyStore:
    """Answers given and requests begun, by (user, key). Callers take turns per user
    (web/writes.py); the store only keeps what they tell it, in memory and on disk."""

    def __init__(self, path: Path, keep: timedelta) -> None:
        self.path = path
        self.keep = keep
        self._answers: dict[tuple[str, str], tuple[str, Stored, datetime]] = {}
        self._pending: dict[tuple[str, str], Pending] = {}
        # Writes of different users run at once: the maps change under this lock, and are
        # read under it (a pending key begun by one user while another's are listed).
        self._lock = threading.RLock()
        if path.exists():
            self._compact()

    def _compact(self) -> None:
        """Read the file back, and write it again with only the keys still kept: each one's
        last line (an answer younger than `keep`, or a pending key — settled from the ledger
        however old), to a new file, fsynced, then renamed over the old one."""
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except ValueError:  # a line cut short by a crash: its step never happened
                continue
            last[(r["user"], r["key"])] = r
        oldest = datetime.now(UTC) - self.keep
        kept = [r for r in last.values() if r.get("state") == "pending"
                or (r.get("state") != "released" and _when(r) >= oldest)]
        for r in kept:
            self._load(r)
        from okr.files import new_file
        with new_file(self.path) as new, new.open("wb") as f:  # private (0600)
            f.write("".join(_line(r) for r in kept).encode("utf-8"))  # all of it, however long
            f.flush()
            os.fsync(f.fileno())
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a crash
        finally:
            os.close(folder)

    def _load(self, r: dict[str, Any]) -> None:
        at = (r["user"], r["key"])
        if r.get("state") == "pending":
            self._pending[at] = Pending(r["fingerprint"], r["head"], r["kind"], r["item"])
        else:
            self._answers[at] = (r["fingerprint"], Stored(r["status"], r["body"]), _when(r))

    def answered(self, user: str, key: str, fp: str) -> Stored | None:
        """The answer given to (user, key) before, or None; KeyReused when it was given to
        another request."""
        with self._lock:
            seen = self._answers.get((user, key))
            pending = self._pending.get((user, key))
            if seen is not None and seen[2] < datetime.now(UTC) - self.keep:
                del self._answers[(user, key)]  # expired while the server ran
                seen = None
        if seen is None:
            if pending is not None and pending.fingerprint != fp:
                raise KeyReused(f"Idempotency-Key {key!r} was used before with a different "
                                "request; use a new key for a new request")
            return None
        if seen[0] != fp:
            raise KeyReused(f"Idempotency-Key {key!r} was used before with a different "
                            "request; use a new key for a new request")
        return seen[1]

    def pending_of(self, user: str) -> list[tuple[str, Pending]]:
        """The user's keys begun and not settled (after a crash, or a write of unknown outcome)."""
        with self._lock:
            return [(k, p) for (u, k), p in self._pending.items() if u == user]

    def users_pending(self) -> set[str]:
        with self._lock:
            return {u for u, _ in self._pending}

    def begin(self, user: str, key: str, pending: Pending) -> None:
        """On disk before the write is recorded: a crash from here on is settled from the
        ledger."""
        with self._lock:
            self._append({"user": user, "key": key, "state": "pending",
                          "fingerprint": pending.fingerprint, "head": pending.head,
                          "kind": pending.kind, "item": pending.key})
            self._pending[(user, key)] = pending

    def answer(self, user: str, key: str, fp: str, answer: Stored) -> None:
        with self._lock:
            self._append({"user": user, "key": key, "fingerprint": fp,
                          "status": answer.status, "body": answer.body})
            self._pending.pop((user, key), None)
            self._answers[(user, key)] = (fp, answer, datetime.now(UTC))

    def release(self, user: str, key: str) -> None:
        """The write recorded nothing: the key may be used again."""
        with self._lock:
            self._append({"user": user, "key": key, "state": "released"})
            self._pending.pop((user, key), None)

    def _append(self, record: dict[str, Any]) -> None:
        record["at"] = datetime.now(UTC).isoformat()
        line = _line(record).encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str, ensure_ascii=False) + "\n"


def _when(record: dict[str, Any]) -> datetime:
    """When the line was written (lines from before `at` was kept count as now)."""
    at = record.get("at")
    return datetime.fromisoformat(at) if isinstance(at, str) else datetime.now(UTC)
