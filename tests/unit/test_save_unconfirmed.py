"""What a write says when the event store's connection breaks while saving (`save_once`):
recorded → "recorded"; not recorded → "nothing was written"; and when the store cannot be
asked afterwards → "may or may not be recorded" (SaveUnconfirmed), never "nothing was
written" — whichever of the two really happened.

Fault injection on the real SQLite store: the save and the question that follows fail as a
dropped PostgreSQL connection makes them fail. The real outage (about 74 s of the library's
retries) is the soak-only test in tests/integration/test_postgres_faults.py.
"""

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteApplicationRecorder

from okr.errors import UNAVAILABLE
from okr.ledger.app import OkrLedger
from tests.fuzzing import LIVE_KRS, event_count, fresh_copy, okr


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not-committed"])
@pytest.mark.parametrize("askable", [True, False], ids=["store-answers", "store-gone"])
def test_a_broken_save_is_reported_as_what_the_store_can_confirm(
        readme_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch, committed: bool,
        askable: bool) -> None:
    home = fresh_copy(readme_home, workdir)
    before = event_count(home)
    save = OkrLedger.save

    def save_then_lose_the_reply(self: OkrLedger, *objs: Any, **kwargs: Any) -> Any:
        if committed:
            save(self, *objs, **kwargs)
        if not askable:  # from now on the store cannot be reached to ask
            monkeypatch.setattr(SQLiteApplicationRecorder, "select_events", cannot_ask)
        raise OperationalError("server closed the connection unexpectedly")

    def cannot_ask(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(OkrLedger, "save", save_then_lose_the_reply)
    result = okr(home, "checkin", LIVE_KRS[0], "4", "--note", "lost reply")
    monkeypatch.undo()

    assert event_count(home) == before + committed
    assert result.crash is None, result.crash
    if askable and committed:  # asked the store: it holds the check-in
        assert result.code == 0, str(result)
        assert result.stdout.startswith(f"check-in on {LIVE_KRS[0]}: 4"), str(result)
        return
    assert result.code == UNAVAILABLE, str(result)  # a service unavailable (exit 4)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
    if askable:  # asked the store: it does not hold it
        assert "nothing was written" in lines[0], str(result)
    else:  # could not ask: the truth is "maybe", in both worlds
        assert "cannot be asked whether the change was recorded" in lines[0], str(result)
        assert "nothing was written" not in lines[0], str(result)
