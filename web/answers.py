"""The API's JSON answers: written by json's C encoder, with FastAPI's `jsonable_encoder` asked
only about the values json cannot write itself (datetimes, dates, enums, …).

The bytes are those of `JSONResponse(jsonable_encoder(content))` (tests/unit/test_web_answers.py
holds them to it) but for times, spelled as `okr … --json` spells them (docs/web.md: the API
answers what `--json` prints) — at a fraction of the cost: jsonable_encoder walks every value
in Python holding the GIL — the whole organisation's scorecard (1,200 objectives at full scale) took
longer to encode that way than to read from DuckDB, and FastAPI walked it a second time when
a route returned the encoded dict instead of a response (docs/benchmarks.md, "Web").
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from okr.record.envelope import iso


def _spelled() -> Callable[[Any], Any]:
    """json's `default` for one answer: an aware datetime spelled as `okr … --json` and the
    envelope spell it (UTC, microseconds, `Z`: record/envelope.iso, the one spelling), each
    instant once per answer; everything else as FastAPI's jsonable_encoder has it."""
    spelled: dict[datetime, str] = {}

    def default(o: Any) -> Any:
        if isinstance(o, datetime) and o.tzinfo is UTC:  # nearly all: remembered
            text = spelled.get(o)
            if text is None:
                text = spelled[o] = iso(o)
            return text
        return jsonable_encoder(o, custom_encoder=TIMES)
    return default


def _time(t: datetime) -> str:
    # Only UTC is remembered above: two datetimes of one zone that differ in `fold` alone (the
    # repeated hour of a DST change) compare equal but are different instants.
    return iso(t) if t.utcoffset() is not None else t.isoformat()


TIMES: dict[Any, Callable[[Any], Any]] = {datetime: _time}


class JsonAnswer(JSONResponse):
    """A JSON answer, encoded once and in C."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, default=_spelled(), ensure_ascii=False,
                              allow_nan=False, indent=None, separators=(",", ":"))
        except TypeError:  # a key json cannot write (a datetime): jsonable_encoder can
            return super().render(jsonable_encoder(content, custom_encoder=TIMES))
        return text.encode("utf-8")
