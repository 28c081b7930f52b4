"""KPI readings from systems we do not control: the message contract and its validation.

A message on the readings topic is JSON `{kpi, value, observed_at, source, id}`. Anything
else — bad JSON, missing fields, unknown KPI, a value that is not a finite number, a time
without a zone or in the future — is rejected with a reason for the dead-letter topic.
"""

import json
import math
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from okr.domain.errors import DomainError
from okr.ledger.app import ConcurrencyError, OkrLedger
from okr.ledger.principal import NoPrincipal

# Clocks of other systems drift; a reading this little in the future is taken as "now".
CLOCK_SKEW = timedelta(seconds=5)
MAX_MESSAGE = 64 * 1024


class Rejected(ValueError):
    """The message cannot become a reading; `str(exc)` is the reason for the dead letter."""


class ReadingMessage(BaseModel):
    """One KPI reading as an external producer sends it."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)

    kpi: str = Field(min_length=1, max_length=64)
    value: float
    observed_at: datetime
    source: str = Field(min_length=1, max_length=200)
    id: str = Field(min_length=1, max_length=200)

    @field_validator("value", mode="before")
    @classmethod
    def _numeric(cls, v: object) -> object:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError("value must be a JSON number")
        try:
            finite = math.isfinite(v)
        except OverflowError:  # an integer literal beyond the range of a float
            finite = False
        if not finite:
            raise ValueError("value must be finite")
        return v

    @field_validator("observed_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("observed_at needs a time zone (e.g. 2026-11-02T10:00:00Z)")
        try:
            return v.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is in the year 10000 in UTC
            raise ValueError("observed_at is out of range: in UTC it must fall in the years "
                             "1 to 9999") from None


def parse_message(raw: bytes | None, now: datetime) -> ReadingMessage:
    """Decode and validate one message, or raise Rejected with a one-line reason."""
    if raw is None:
        raise Rejected("empty message (tombstone)")
    if len(raw) > MAX_MESSAGE:
        raise Rejected(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE}")
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise Rejected(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise Rejected("not valid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise Rejected(f"expected a JSON object, got {type(obj).__name__}")
    try:
        msg = ReadingMessage.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "message"
        raise Rejected(f"{where}: {err['msg']}") from None
    if msg.observed_at > now + CLOCK_SKEW:
        raise Rejected(f"observed_at {msg.observed_at.isoformat()} is in the future")
    return msg


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def record(app: OkrLedger, msg: ReadingMessage, now: datetime) -> bool:
    """Record the reading (idempotent on its id); False when it was recorded before."""
    try:
        return app.record_reading(msg.kpi, msg.value, min(msg.observed_at, now),
                                  source=msg.source, reading_id=msg.id)
    except ConcurrencyError:
        raise  # transient: the caller retries, the message is not bad
    except NoPrincipal:
        raise  # the installation's fault (no actor to record), not the message's
    except DomainError as exc:
        raise Rejected(str(exc)) from None
