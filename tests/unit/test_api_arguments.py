"""The Python API (OkrLedger, README "Python API") checks its arguments where they come in:
a wrong type or a datetime without a zone is a DomainError of one line naming the method and
the argument, and nothing is recorded — never a TypeError from deep inside."""

import inspect
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from okr.domain.errors import DomainError
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from tests.fuzzing import event_count
from tests.support.clock import recording_at

NAIVE = datetime(2026, 11, 3)
AT = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> OkrLedger:
    app = OkrLedger(load_settings({"home": tmp_path}))
    with recording_at(lambda: datetime(2026, 10, 1, tzinfo=UTC)):
        app.add_cycle("2026-Q4")
        app.add_objective("nps-up", "NPS", cycle="2026-Q4", owner="ana")
        app.add_key_result("kr-nps", "NPS", objective="nps-up", start=31, target=45)
        app.add_kpi("wau", "WAU", green=10, red=5)
    return app


BAD: list[tuple[str, Callable[[OkrLedger], Any], str]] = [
    ("value", lambda a: a.check_in("kr-nps", "abc"), "a number"),  # type: ignore[arg-type]
    ("value", lambda a: a.check_in("kr-nps", None), "a number"),  # type: ignore[arg-type]
    ("value", lambda a: a.check_in("kr-nps", True), "a number"),
    ("at", lambda a: a.check_in("kr-nps", 38, at=NAIVE), "time zone"),
    ("at", lambda a: a.check_in("kr-nps", 38, at="2026-11-03"), "datetime"),  # type: ignore
    ("at", lambda a: a.check_in("kr-nps", 38, at=date(2026, 11, 3)), "datetime"),  # type: ignore
    ("confidence", lambda a: a.check_in("kr-nps", 38, confidence="high"),  # type: ignore
     "a number or None"),
    ("note", lambda a: a.check_in("kr-nps", 38, note=5), "text"),  # type: ignore[arg-type]
    ("key", lambda a: a.check_in(7, 38), "text"),  # type: ignore[arg-type]
    ("key", lambda a: a.key_result(["kr-nps"]), "text"),  # type: ignore[arg-type]
    ("target", lambda a: a.add_key_result("k2", "K", "nps-up", target="45"),  # type: ignore
     "a number"),
    ("phases", lambda a: a.add_key_result("k2", "K", "nps-up", target=45,
                                          phases=[{"at": NAIVE, "value": 40}]), "time zone"),
    ("phases", lambda a: a.add_key_result("k2", "K", "nps-up", target=45,
                                          phases=[{"at": AT}]), "phases"),  # type: ignore
    ("effective", lambda a: a.add_objective("o2", "O", cycle="2026-Q4", owner="ana",
                                            reason="late", effective=NAIVE), "time zone"),
    ("start", lambda a: a.add_cycle("2026-Q1", start=NAIVE,
                                    end=datetime(2027, 1, 1, tzinfo=UTC)), "time zone"),
    ("value", lambda a: a.record_reading("wau", "12"), "a number"),  # type: ignore[arg-type]
    ("at", lambda a: a.record_reading("wau", 12, at=NAIVE), "time zone"),
    ("green", lambda a: a.add_kpi("k", "K", green="10", red=5), "a number"),  # type: ignore
    ("tags", lambda a: a.add_kpi("k", "K", green=10, red=5, tags="a,b"),  # type: ignore
     "a list of text"),
    ("changes", lambda a: a.update_kpi("wau", ["name"]), "a mapping"),  # type: ignore
    ("clear_tolerance", lambda a: a.revise_key_result("kr-nps", target=50,
                                                      clear_tolerance="no"), "True or False"),
]


@pytest.mark.parametrize("argument, call, expected", BAD,
                         ids=[f"{i}-{b[0]}" for i, b in enumerate(BAD)])
def test_a_wrong_argument_is_a_domain_error_and_records_nothing(
        ledger: OkrLedger, tmp_path: Path, argument: str, call: Callable[[OkrLedger], Any],
        expected: str) -> None:
    before = event_count(tmp_path)
    with pytest.raises(DomainError) as caught:
        call(ledger)
    message = str(caught.value)
    assert "\n" not in message and argument in message and expected in message, message
    assert event_count(tmp_path) == before


def test_opening_the_ledger_checks_its_arguments(tmp_path: Path, ledger: OkrLedger) -> None:
    settings = load_settings({"home": tmp_path})
    for kwargs, argument in (({"principal": 5}, "principal"),
                             ({"on_behalf_of": ["Dana"]}, "on_behalf_of")):
        with pytest.raises(DomainError, match=argument):
            OkrLedger(settings, **kwargs)
    with pytest.raises(DomainError, match="settings"):
        OkrLedger({"home": tmp_path})  # type: ignore[arg-type]
    with pytest.raises(DomainError, match="name must be text or None"), \
            ledger.acting_for(5):  # type: ignore[arg-type]
        pass


def test_aware_datetimes_and_whole_numbers_are_taken(ledger: OkrLedger) -> None:
    with recording_at(lambda: datetime(2026, 11, 5, tzinfo=UTC)):
        kr = ledger.check_in("kr-nps", 38, confidence=1, note="ok", at=AT)
        assert kr.latest_check_in()["value"] == 38.0  # type: ignore[index]
        assert ledger.record_reading("wau", 12, at=AT, reading_id=None)


def test_every_public_method_checks_its_arguments() -> None:
    """A method added later is checked too, or this fails."""
    mine = [name for name, f in vars(OkrLedger).items()
            if not name.startswith("_") and inspect.isfunction(f)
            and len(inspect.signature(f).parameters) > 1]
    unchecked = [n for n in mine if not getattr(getattr(OkrLedger, n), "__checked__", False)]
    assert mine and unchecked == [], unchecked


def test_any_sequence_and_mapping_is_taken_as_the_list_or_dict_it_holds(
        ledger: OkrLedger, tmp_path: Path) -> None:
    """A tuple where a list is hinted and any mapping where a dict is (os.environ, a
    MappingProxyType), as the ledger took them before it checked its arguments; what is
    recorded is the list or dict they hold."""
    import os
    from types import MappingProxyType
    OkrLedger(load_settings({"home": tmp_path}), os.environ).close()
    OkrLedger(load_settings({"home": tmp_path}), MappingProxyType({})).close()
    with recording_at(lambda: datetime(2026, 10, 1, tzinfo=UTC)):
        kpi = ledger.add_kpi("k", "K", green=10, red=5, tags=("guardrail", "sales"))
        kr = ledger.add_key_result("k2", "K", "nps-up", target=45,
                                   phases=({"at": AT, "value": 40.0},))
    assert kpi.tags == ["guardrail", "sales"]
    assert ledger.kpi("k").tags == ["guardrail", "sales"]
    assert kr.phases == [{"at": AT, "value": 40.0}]
    with pytest.raises(DomainError, match="time zone"):
        ledger.add_key_result("k3", "K", "nps-up", target=45,
                              phases=({"at": NAIVE, "value": 40.0},))


def test_a_time_given_with_another_offset_is_stored_in_utc(ledger: OkrLedger,
                                                          tmp_path: Path) -> None:
    """Times are UTC inside: the Python API took `at` in the caller's offset and stored it so
    (-04:00 in the event store), which only the readers' normalising hid. The same instant is
    stored in UTC, phases' times too; one beyond the year 9999 in UTC is refused in one line."""
    import json
    import sqlite3
    from datetime import timedelta, timezone

    new_york = timezone(timedelta(hours=-4))
    with recording_at(lambda: datetime(2026, 11, 5, tzinfo=UTC)):
        ledger.check_in("kr-nps", 38, at=datetime(2026, 11, 3, 20, 0, tzinfo=new_york))
        ledger.add_key_result("k2", "K", "nps-up", target=45,
                              phases=[{"at": datetime(2026, 11, 20, tzinfo=new_york),
                                       "value": 40.0}])
    with sqlite3.connect(tmp_path / "events.sqlite") as conn:
        states = [json.loads(s) for (s,) in conn.execute("SELECT state FROM stored_events")]
    times = [v["_data_"] for s in states for v in _datetimes(s)]
    assert "2026-11-04T00:00:00+00:00" in times and "2026-11-20T04:00:00+00:00" in times
    assert all(t.endswith("+00:00") for t in times), [t for t in times if "+00:00" not in t]
    before = event_count(tmp_path)
    far = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-23)))
    with pytest.raises(DomainError, match=r"at .* out of range") as caught:
        ledger.check_in("kr-nps", 38, at=far)
    assert "\n" not in str(caught.value)
    assert event_count(tmp_path) == before


def _datetimes(value: Any) -> list[dict[str, str]]:
    """Every stored datetime ({"_type_": "datetime_iso", "_data_": ...}) within a state."""
    if isinstance(value, dict):
        if value.get("_type_") == "datetime_iso":
            return [value]
        return [d for v in value.values() for d in _datetimes(v)]
    if isinstance(value, list):
        return [d for v in value for d in _datetimes(v)]
    return []
