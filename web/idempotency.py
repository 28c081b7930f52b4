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
"""

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
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

    def __init__(self, path: Path) -> None:
        self.path = path
        self._answers: dict[tuple[str, str], tuple[str, Stored]] = {}
        self._pending: dict[tuple[str, str], Pending] = {}
        # Writes of different users run at once: the maps change under this lock, and are
        # read under it (a pending key begun by one user while another's are listed).
        self._lock = threading.RLock()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except ValueError:  # a line cut short by a crash: its step never happened
                    continue
                self._load(r)

    def _load(self, r: dict[str, Any]) -> None:
        at = (r["user"], r["key"])
        state = r.get("state", "answered")
        if state == "pending":
            self._pending[at] = Pending(r["fingerprint"], r["head"], r["kind"], r["item"])
        elif state == "released":
            self._pending.pop(at, None)
        else:
            self._pending.pop(at, None)
            self._answers[at] = (r["fingerprint"], Stored(r["status"], r["body"]))

    def answered(self, user: str, key: str, fp: str) -> Stored | None:
        """The answer given to (user, key) before, or None; KeyReused when it was given to
        another request."""
        with self._lock:
            seen = self._answers.get((user, key))
            pending = self._pending.get((user, key))
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
            self._answers[(user, key)] = (fp, answer)

    def release(self, user: str, key: str) -> None:
        """The write recorded nothing: the key may be used again."""
        with self._lock:
            self._append({"user": user, "key": key, "state": "released"})
            self._pending.pop((user, key), None)

    def _append(self, record: dict[str, Any]) -> None:
        record["at"] = datetime.now(UTC).isoformat()
        line = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
