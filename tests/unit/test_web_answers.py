"""The API's JSON answers (web/answers.py) are byte for byte what FastAPI's own encoding
(jsonable_encoder, then JSONResponse) writes, for every kind of value the answers hold — but
for times, spelled as `okr … --json` spells them (cli/output.py)."""

import enum
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from okr.cli.output import to_json
from okr.web.answers import JsonAnswer
from tests.support.hostile_text import CORPUS


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    TEAM = 2


@dataclass
class Point:
    at: datetime
    value: float


NOW = datetime(2026, 11, 2, 14, 30, 5, 123456, tzinfo=UTC)

VALUES = {
    "hostile text": dict(CORPUS),
    "hostile keys": {text: i for i, text in enumerate(CORPUS.values())},
    "times": {"utc": NOW, "offset": NOW.astimezone(timezone(timedelta(hours=-7, minutes=-30))),
              "naive": NOW.replace(tzinfo=None), "whole second": NOW.replace(microsecond=0),
              "date": date(2026, 11, 2), "time": time(23, 59, 59, 999999),
              "duration": timedelta(days=2, seconds=3)},
    "numbers": [0, -0.0, 1e300, 5e-324, 1 / 3, 2 ** 70, -1, True, False, None],
    "nested": {"objectives": [{"key": "o1", "score": 0.7, "key_results": [
        {"key": "k1", "progress": None, "phases": ({"at": NOW, "value": 3.0},),
         "tags": ("a", "b")}]}]},
    "other types": [Decimal("1.10"), uuid.UUID(int=7), Colour.RED, Level.TEAM,
                    Point(NOW, 2.5), frozenset()],
    "number keys": {1: "one", 2.5: "two and a half", None: "none", False: "no"},
    "datetime keys": {NOW: "a key json cannot write"},
    "empty": {},
}


def cli_time(t: datetime) -> str:
    return str(json.loads(to_json(t, pretty=False)))


def aware_as_the_cli(o: Any) -> Any:
    """What the CLI's --json writes for every aware datetime in `o` (keys too)."""
    if isinstance(o, datetime) and o.utcoffset() is not None:
        return cli_time(o)
    if isinstance(o, dict):
        return {aware_as_the_cli(k): aware_as_the_cli(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [aware_as_the_cli(v) for v in o]
    if isinstance(o, Point):
        return {"at": aware_as_the_cli(o.at), "value": o.value}
    return o


@pytest.mark.parametrize("name", VALUES)
def test_answer_bytes_are_fastapis_with_the_clis_times(name: str) -> None:
    value = VALUES[name]
    ours = JsonAnswer(value, 201, headers={"X-A": "b"}, media_type="application/problem+json")
    theirs = JSONResponse(jsonable_encoder(aware_as_the_cli(value)), 201, headers={"X-A": "b"},
                          media_type="application/problem+json")
    assert ours.body == theirs.body
    assert ours.status_code == 201
    assert ours.headers.items() == theirs.headers.items()


def test_not_a_number_is_refused_as_fastapi_refuses_it() -> None:
    for value in (math.nan, {"x": [math.inf]}):
        with pytest.raises(ValueError):
            JSONResponse(jsonable_encoder(value))
        with pytest.raises(ValueError):
            JsonAnswer(value)


@pytest.mark.parametrize("t", [NOW, NOW.replace(microsecond=0),
                               NOW.astimezone(timezone(timedelta(hours=5, minutes=45))),
                               datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
                               datetime(2026, 10, 25, 2, 30, fold=1,
                                        tzinfo=ZoneInfo("Europe/Berlin"))])
def test_a_time_is_spelled_as_the_cli_spells_it(t: datetime) -> None:
    assert json.loads(JsonAnswer({"at": t, "then": [t]}).body) == {
        "at": cli_time(t), "then": [cli_time(t)]}
    assert cli_time(t).endswith("Z")
