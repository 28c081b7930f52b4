"""The API's JSON answers: written by json's C encoder, with FastAPI's `jsonable_encoder` asked
only about the values json cannot write itself (datetimes, dates, enums, …).

The bytes are those of `JSONResponse(jsonable_encoder(content))` (tests/unit/test_web_answers.py
holds them to it), at a fraction of the cost: jsonable_encoder walks every value in Python
holding the GIL — the whole organisation's scorecard (1,200 objectives at full scale) took
longer to encode that way than to read from DuckDB, and FastAPI walked it a second time when
a route returned the encoded dict instead of a response (docs/benchmarks.md, "Web").
"""

import json
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse


class JsonAnswer(JSONResponse):
    """A JSON answer, encoded once and in C."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, default=jsonable_encoder, ensure_ascii=False,
                              allow_nan=False, indent=None, separators=(",", ":"))
        except TypeError:  # a key json cannot write (a datetime): jsonable_encoder can
            return super().render(jsonable_encoder(content))
        return text.encode("utf-8")
