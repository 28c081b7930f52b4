"""One event vocabulary (domain/events.py): every other list of events agrees with it."""

from okr.domain.events import BY_TYPE, CREATED, EVENTS, MEASUREMENTS, VALID_TIME_FIELD
from okr.domain.history import APPLY
from okr.ledger.app import KINDS
from okr.projections.tables import VERSIONED
from okr.record.envelope import (
    AGGREGATE_TYPE,
    DATA_FIELDS,
    EVENT_TYPES,
    KNOWN_TYPES,
    json_schema,
)


def test_each_event_is_named_once() -> None:
    assert len(BY_TYPE) == len(EVENTS)


def test_the_folds_know_exactly_the_vocabulary() -> None:
    assert set(APPLY) == set(BY_TYPE)


def test_each_word_is_a_class_of_its_aggregate_and_every_event_class_has_a_word() -> None:
    for cls, (name, aggregate_type) in EVENT_TYPES.items():
        assert cls.__name__ == name
        assert cls.__qualname__ == f"{KINDS[aggregate_type].__name__}.{name}"
    declared = {f"{agg.__name__}.{attr}" for agg in KINDS.values() for attr, value in
                vars(agg).items() if isinstance(value, type)
                and issubclass(value, agg.Event) and attr not in ("Event", "Created")}
    assert declared == {f"{KINDS[w.aggregate_type].__name__}.{w.type}" for w in EVENTS}


def test_the_envelope_contract_is_the_vocabulary() -> None:
    assert set(BY_TYPE) == KNOWN_TYPES
    assert {w.type: w.aggregate_type for w in EVENTS} == AGGREGATE_TYPE
    assert {w.type: w.data for w in EVENTS} == DATA_FIELDS
    schema = json_schema()
    assert set(schema["properties"]["type"]["enum"]) == set(BY_TYPE)


def test_measurements_carry_their_own_valid_time_and_start_nothing() -> None:
    assert set(MEASUREMENTS) == set(VALID_TIME_FIELD) == {"CheckInRecorded",
                                                          "KpiReadingRecorded"}
    assert not CREATED & set(MEASUREMENTS)
    assert {BY_TYPE[t].aggregate_type for t in CREATED} == set(KINDS)


def test_every_item_kind_has_a_version_table() -> None:
    assert {v.aggregate_type for v in VERSIONED} == set(KINDS)
