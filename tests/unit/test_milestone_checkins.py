"""A milestone is done or not: a check-in other than its start (0, not done) or its target
(1, done) is refused at the command; a value an earlier version accepted still replays and
scores as docs/scoring.md says (the share from start to target, clamped)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.domain.errors import DomainError
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from tests.fuzzing import event_count
from tests.support.clock import recording_at
from tests.unit.test_cli_writes import ok, run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ok(home, "cycle", "add", "2026-Q4")
    ok(home, "objective", "add", "o", "O", "--cycle", "2026-Q4")
    ok(home, "kr", "add", "m", "M", "--objective", "o", "--kind", "milestone")
    return home


@pytest.mark.parametrize("value", ["0.5", "2", "-1", "0.999"])
def test_a_milestone_check_in_other_than_done_or_not_is_refused(home: Path, value: str
                                                                ) -> None:
    before = event_count(home)
    proc = run(home, "checkin", "m", value, "--at", "2026-11-03")
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("okr: error: "), proc.stderr
    assert "milestone" in proc.stderr and "0 (not done) or 1 (done)" in proc.stderr
    assert event_count(home) == before


def test_a_milestone_takes_done_and_not_done(home: Path) -> None:
    ok(home, "checkin", "m", "0", "--at", "2026-11-03")
    assert json.loads(ok(home, "show", "m", "--json"))["progress"] == 0
    ok(home, "checkin", "m", "1", "--at", "2026-11-04")
    assert json.loads(ok(home, "show", "m", "--json"))["progress"] == 1


def test_a_milestone_with_its_own_start_and_target_takes_exactly_those(tmp_path: Path) -> None:
    app = OkrLedger(load_settings({"home": tmp_path}))
    with recording_at(lambda: datetime(2026, 10, 1, tzinfo=UTC)):
        app.add_cycle("2026-Q4")
        app.add_objective("o", "O", cycle="2026-Q4", owner="ana")
        app.add_key_result("m", "M", objective="o", kind="milestone", start=2, target=5)
    with recording_at(lambda: datetime(2026, 11, 5, tzinfo=UTC)):
        with pytest.raises(DomainError, match=r"2 \(not done\) or 5 \(done\)"):
            app.check_in("m", 1, at=datetime(2026, 11, 3, tzinfo=UTC))
        app.check_in("m", 5, at=datetime(2026, 11, 3, tzinfo=UTC))
    app.close()


def test_a_partial_milestone_value_recorded_earlier_still_replays_and_scores_its_share(
        home: Path) -> None:
    app = OkrLedger(load_settings({"home": home}))
    kr = app.key_result("m")
    # as an earlier version recorded it: the event itself, past today's command check
    kr._check_in(value=0.5, confidence=None, note="", actor="ana", source="manual",
                 effective_at=datetime(2026, 11, 3, tzinfo=UTC))
    app.save(kr)
    app.close()
    shown = json.loads(ok(home, "show", "m", "--json"))
    assert (shown["value"], shown["progress"]) == (0.5, 0.5)
    ok(home, "checkin", "m", "1", "--at", "2026-11-04")  # and the key result takes new ones
    assert json.loads(ok(home, "show", "m", "--json"))["progress"] == 1


def test_a_kpi_cannot_measure_a_milestone(home: Path) -> None:
    """A KPI's readings would give a milestone partial credit (a reading of 0.5 scored 50 %):
    linking one is refused, with nothing written."""
    ok(home, "kpi", "add", "done-flag", "Done flag", "--green", "1", "--red", "0")
    before = event_count(home)
    proc = run(home, "kr", "link", "m", "done-flag")
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("okr: error: "), proc.stderr
    assert "milestone" in proc.stderr and "KPI cannot measure it" in proc.stderr
    assert event_count(home) == before
