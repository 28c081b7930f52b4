"""Messages from external KPI feeds: every bad shape is rejected with a reason, never a crash."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okr.ledger.readings import Rejected, parse_message
from tests.fuzzing import fuzz

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
GOOD = {"kpi": "wau", "value": 13250, "observed_at": "2026-11-20T09:00:00Z",
        "source": "analytics", "id": "evt-1"}


def raw(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_a_good_message_parses_to_utc() -> None:
    msg = parse_message(raw(observed_at="2026-11-20T10:00:00+01:00"), NOW)
    assert (msg.kpi, msg.value, msg.id) == ("wau", 13250.0, "evt-1")
    assert msg.observed_at == datetime(2026, 11, 20, 9, tzinfo=UTC)


@pytest.mark.parametrize("payload, reason", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (None, "tombstone"),
    (raw(value="12"), "value must be a JSON number"),
    (raw(value=True), "value must be a JSON number"),
    (b'{"kpi":"wau","value":NaN,"observed_at":"2026-11-20T09:00:00Z","source":"a","id":"1"}',
     "NaN is not a number"),
    (b'{"kpi":"wau","value":1e999,"observed_at":"2026-11-20T09:00:00Z","source":"a","id":"1"}',
     "finite"),
    (raw(observed_at="2026-11-20T09:00:00"), "needs a time zone"),
    (raw(observed_at="yesterday"), "observed_at"),
    (raw(observed_at="2027-01-01T00:00:00Z"), "in the future"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "id"}).encode(), "id: Field required"),
    (raw(kpi=""), "kpi"),
    (b"x" * 70_000, "exceeds"),
])
def test_bad_messages_are_rejected_with_a_reason(payload: bytes | None, reason: str) -> None:
    with pytest.raises(Rejected) as exc:
        parse_message(payload, NOW)
    assert reason in str(exc.value)
    assert "\n" not in str(exc.value)


@fuzz(300)
@given(st.one_of(st.binary(max_size=300), st.dictionaries(
    st.sampled_from(["kpi", "value", "observed_at", "source", "id", "x"]),
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
              st.text(max_size=30), st.lists(st.integers(), max_size=3)), max_size=6
).map(lambda d: json.dumps(d, allow_nan=True).encode())))
def test_fuzzed_messages_parse_or_are_rejected_never_crash(payload: bytes) -> None:
    try:
        msg = parse_message(payload, NOW)
    except Rejected as exc:
        assert str(exc)
    else:
        assert msg.observed_at <= NOW and msg.value == msg.value
