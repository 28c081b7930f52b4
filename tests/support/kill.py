"""Fault injection for the web tests: a server process dying at a chosen point (a fake for
the fault only; everything else is the real server, ledger and file)."""

from typing import Any

import pytest


class Killed(BaseException):
    """The server process dying at this point: nothing after it runs (no except, no cleanup
    that catches Exception)."""


KILLS: list[str] = []


def dies(post: Any) -> None:
    """Run a request the fault kills (the ASGI stack turns the death into errors of its own)."""
    count = len(KILLS)
    with pytest.raises(BaseException):  # noqa: B017 — whatever the stack makes of it
        post()
    assert len(KILLS) == count + 1, "the fault did not fire"


def die_on_answer_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault: the process dies just before an answer's line reaches the file — after the
    ledger recorded the write."""
    from okr.web.idempotency import IdempotencyStore

    append = IdempotencyStore._append

    def dying(self: IdempotencyStore, record: dict[str, object]) -> None:
        if "status" in record:
            KILLS.append("answer line")
            raise Killed
        append(self, record)

    monkeypatch.setattr(IdempotencyStore, "_append", dying)
