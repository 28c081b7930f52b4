"""Hostile messages on okr.kpi-readings: arbitrary bytes, arbitrary JSON documents and mutated
valid messages either become a reading or are `Rejected` with a one-line reason; nothing else
escapes (an escaping exception would stop `okr ingest` on the same message forever)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from okr.ledger.app import OkrLedger
from okr.ledger.readings import CLOCK_SKEW, MAX_MESSAGE, Rejected, parse_message, record
from okr.settings import load_settings
from tests.fuzzing import event_count, fuzz

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
GOOD = {"kpi": "wau", "value": 13250, "observed_at": "2026-11-20T09:00:00Z",
        "source": "analytics", "id": "evt-1"}
HOSTILE_VALUES: list[Any] = [
    10**400, -(10**400), 1e308, -0.0, 5e-324, True, None, "13250", [], {}, [13250],
    {"$numberDouble": "1"}, "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
    "2026-11-20T09:00:00", "2026-11-20", "2026-11-20T09:00:00+24:00", 1e300, 2**63,
    "2026-11-22T12:00:04Z", "2026-11-22T12:00:06Z", "\ud800", "\x00", "x" * 300, "", " ",
    "2026-W47-5T09:00Z", "20261120T090000Z", -1, 0, 1_700_000_000, "now",
]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["wau", "2026-11-20T09:00:00Z", "\ud800", "\udfff"]))
json_docs = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5),
    st.dictionaries(st.one_of(st.sampled_from(list(GOOD)), st.text(max_size=10)), inner,
                    max_size=7)), max_leaves=30)


def as_bytes(doc: Any) -> bytes:
    """JSON as an external producer might write it: NaN/Infinity and lone surrogates too."""
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message with fields replaced, dropped or added, or its bytes damaged."""
    doc: dict[str, Any] = dict(GOOD)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*GOOD, "extra"]))
        action = draw(st.sampled_from(["replace", "drop", "generated"]))
        if action == "drop":
            doc.pop(name, None)
        elif action == "replace":
            doc[name] = draw(st.sampled_from(HOSTILE_VALUES))
        else:
            doc[name] = draw(json_docs)
    raw = as_bytes(doc)
    if draw(st.integers(0, 4)) == 0 and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at + 1:]
    return raw


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


RAW = st.one_of(
    st.binary(max_size=600), json_docs.map(as_bytes), mutated(),
    st.sampled_from([deep(30_000), b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
                     b"x" * (MAX_MESSAGE + 1), b"\xef\xbb\xbf" + as_bytes(GOOD),
                     as_bytes(GOOD).decode().encode("utf-16"), b"", b"null", b"NaN",
                     b'{"kpi": "wau"} trailing', as_bytes([GOOD])]))


def check(raw: bytes | None) -> Any:
    """parse_message's contract for one message."""
    try:
        msg = parse_message(raw, NOW)
    except Rejected as exc:
        reason = str(exc)
        assert reason and "\n" not in reason and len(reason) < 2000, repr(reason)
        return None
    assert msg.value == msg.value and abs(msg.value) != float("inf")
    assert msg.observed_at.tzinfo is not None and msg.observed_at <= NOW + CLOCK_SKEW
    assert msg.kpi and msg.source and msg.id
    return msg


@fuzz(500)
@given(RAW)
@example(deep(30_000))
@example(as_bytes({**GOOD, "value": 10**400}))
@example(as_bytes({**GOOD, "observed_at": "9999-12-31T23:59:59-23:59"}))
@example(as_bytes({**GOOD, "observed_at": "0001-01-01T00:00:00+23:59"}))
@example(as_bytes({**GOOD, "kpi": "\ud800"}))
def test_any_bytes_parse_or_are_rejected_with_one_line(raw: bytes) -> None:
    check(raw)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> OkrLedger:
    home: Path = tmp_path_factory.mktemp("ingest")
    app = OkrLedger(load_settings({"home": home}))
    app.add_kpi("wau", "Weekly active users", direction="up", green=14000, red=12000)
    app.add_kpi("gone", "Retired KPI", direction="up", green=2, red=1)
    app.retire_kpi("gone", "replaced")
    return app


@fuzz(100)
@given(st.one_of(mutated(), st.builds(
    lambda kpi, value, days, rid: as_bytes({
        "kpi": kpi, "value": value, "source": "feed", "id": rid,
        "observed_at": (NOW - timedelta(days=days)).isoformat()}),
    st.sampled_from(["wau", "gone", "nope", "WAU", "wau "]),
    st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**18, 10**18)),
    st.integers(-2, 700_000), st.sampled_from(["r1", "r2", "r3", "  ", "x" * 201]))))
def test_a_parsed_message_is_recorded_or_rejected_never_crashes(ledger: OkrLedger,
                                                                raw: bytes) -> None:
    """The whole ingest decision without Kafka: parse, then record in a real event store."""
    msg = check(raw)
    if msg is None:
        return
    before = event_count(ledger.settings.home)
    try:
        new = record(ledger, msg, NOW)
    except Rejected as exc:
        assert str(exc) and "\n" not in str(exc)
        assert event_count(ledger.settings.home) == before
    else:
        assert event_count(ledger.settings.home) == before + int(new)
