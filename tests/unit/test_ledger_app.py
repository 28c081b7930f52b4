"""The ledger Application's write path: cached aggregates, failed commands, version conflicts."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.domain.cycle import Cycle
from okr.domain.errors import DomainError
from okr.domain.key_result import KeyResult
from okr.ledger import views
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from tests.support.clock import recording_at


def ledger(home: Path, principal: str | None = None) -> OkrLedger:
    return OkrLedger(load_settings({"home": home}), principal=principal)


@pytest.fixture
def app(tmp_path: Path) -> OkrLedger:
    a = ledger(tmp_path)
    with recording_at(lambda: datetime(2026, 7, 2, tzinfo=UTC)):  # before the tests' writes
        a.add_cycle("2026-Q3")
        a.add_objective("o1", "Grow", cycle="2026-Q3", owner="ana")
        a.add_key_result("k1", "Deals", objective="o1", start=0, target=40)
    return a


def test_a_command_failing_halfway_leaves_the_cached_aggregate_untouched(app: OkrLedger
                                                                         ) -> None:
    app.objective("o1")  # cached now
    with pytest.raises(DomainError):  # the retitle applies, then the type is refused
        app.update_objective("o1", title="Grow fast", okr_type="no-such-type")
    assert app.objective("o1").title == "Grow"
    assert app.objective("o1").version == 1
    app.update_objective("o1", title="Grow fast")
    assert (app.objective("o1").title, app.objective("o1").version) == ("Grow fast", 2)


def test_a_conflicting_writer_is_decided_again_on_fresh_state(app: OkrLedger,
                                                              tmp_path: Path) -> None:
    other = ledger(tmp_path, principal="ben")
    app.key_result("k1")  # cached at version 1 in this process
    real = app.cycle_of_kr
    raced: list[bool] = []

    # Fault injection: another process writes between this one's load and its save.
    def cycle_of_kr_with_a_race(kr: KeyResult) -> Cycle:
        if not raced:
            raced.append(True)
            other.check_in("k1", 5, at=None)
        return real(kr)

    app.cycle_of_kr = cycle_of_kr_with_a_race  # type: ignore[method-assign]
    with recording_at(lambda: datetime(2026, 8, 1, tzinfo=UTC)):
        app.check_in("k1", 7)
    for reader in (ledger(tmp_path), app):  # the store, and this process's cached copy
        kr = reader.key_result("k1")
        assert ([c["value"] for c in views.check_ins(reader, kr)], kr.version) == ([5.0, 7.0], 3)
