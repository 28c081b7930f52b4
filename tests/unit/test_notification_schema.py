"""The okr.notifications message (docs/notifications.md) matches its committed JSON Schema
(consumers/notification.schema.json) for every kind of reminder, and the schema bites."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from okr.consumers.notify import message, schema
from okr.domain.due import key_result_due, kpi_due
from tests.unit.test_due import KPI_CASES, KR_CASES, NOW

COMMITTED = Path(__file__).resolve().parents[2] / "consumers" / "notification.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(COMMITTED.read_text()),
                                           format_checker=jsonschema.FormatChecker())


def messages() -> list[dict[str, Any]]:
    items = [key_result_due(row, cadence, NOW) for _, row, cadence, _ in KR_CASES]
    items += [kpi_due(row, ["web"], NOW) for _, row, _, _ in KPI_CASES]
    # through JSON, as a bridge reads them
    return [json.loads(json.dumps(message(i, NOW))) for i in items if i is not None]


def test_the_packaged_schema_is_the_committed_file() -> None:
    assert schema() == json.loads(COMMITTED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema())


def test_every_kind_of_reminder_matches_the_schema() -> None:
    got = messages()
    assert {m["kind"] for m in got} == {"key_result", "kpi"}
    assert {r for m in got for r in m["reasons"]} == {"no-check-in", "red", "stale"}
    for m in got:
        validator().validate(m)
        assert m["due_at"].endswith("Z") and m["sent_at"] == "2026-11-15T12:00:00Z"
    late = next(m for m in got if m["overdue_seconds"] == 7 * 86400 and m["kind"] == "key_result")
    assert late["due_at"] == "2026-11-08T12:00:00Z" and late["last_at"] == "2026-11-01T12:00:00Z"
    assert "k (K) of ana, team web: no check-in within its cadence (weekly)" in late["text"]


@pytest.mark.parametrize("change", [
    {"kind": "objective"}, {"reasons": []}, {"reasons": ["late"]}, {"id": "x"},
    {"overdue_seconds": -1}, {"due_at": "yesterday"}, {"extra": 1}, {"schema": "okr/2"}])
def test_the_schema_refuses_a_wrong_message(change: dict[str, Any]) -> None:
    m = {**messages()[0], **change}
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(m)
