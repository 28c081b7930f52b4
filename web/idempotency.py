"""`Idempotency-Key` on the API's POSTs: a retried request is answered, not recorded again.

Keys are kept per user in a JSON-lines file in the data directory (`web-idempotency.jsonl`,
0600), each line written and fsynced after the write it answers was recorded, and read back
when the server starts, so a retry after a restart is answered too. A key sent again with a
different request is refused (422). One request per key at a time: a second one waits for
the first and gets its answer.

The window left: a server that dies after the ledger recorded the write and before the key's
line is on disk answers a retry by recording again. That window is one fsync long.
"""

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def check_key(key: str) -> str | None:
    """Why a header value is not a usable key, or None."""
    if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        return f"Idempotency-Key must be 1–{MAX_KEY} printable ASCII characters"
    return None


class IdempotencyStore:
    """Answers already given, by (user, key)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._answers: dict[tuple[str, str], tuple[str, Stored]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except ValueError:  # a line cut short by a crash: that write had no answer
                    continue
                self._answers[(r["user"], r["key"])] = (r["fingerprint"],
                                                        Stored(r["status"], r["body"]))

    @contextmanager
    def _holding(self, user: str, key: str) -> Iterator[None]:
        with self._lock:
            lock = self._key_locks.setdefault((user, key), threading.Lock())
        with lock:
            yield

    def run(self, user: str, key: str, fp: str, work: Callable[[], Stored]) -> Stored:
        """The stored answer for (user, key), or `work`'s, stored when it succeeded
        (status below 400); KeyReused when the key came with another request before."""
        with self._holding(user, key):
            seen = self._answers.get((user, key))
            if seen is not None:
                if seen[0] != fp:
                    raise KeyReused(f"Idempotency-Key {key!r} was used before with a different "
                                    "request; use a new key for a new request")
                return seen[1]
            answer = work()
            if answer.status < 400:
                self._append({"user": user, "key": key, "fingerprint": fp,
                              "status": answer.status, "body": answer.body,
                              "at": datetime.now(UTC).isoformat()})
                self._answers[(user, key)] = (fp, answer)
            return answer

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
