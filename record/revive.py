"""Envelope values back into domain values, with the standard library only: readers of the
projection (reviews, the audit trail) revive facts without importing pydantic or the
aggregates (`envelope.py` re-exports both functions)."""

from datetime import UTC, datetime
from typing import Any


def parse_time(value: str) -> datetime:
    """Read a timestamp from the envelope (ISO 8601 with a zone) as aware UTC."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    try:
        return t.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp {value!r} is out of range") from None


def revive_data(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON data back into domain values (times in phases and cycle bounds)."""
    out = dict(data)
    for name in ("start", "end") if type_ == "CycleAdded" else ():
        out[name] = parse_time(out[name])
    if "phases" in out:
        out["phases"] = [{"at": parse_time(p["at"]), "value": p["value"]}
                         for p in out["phases"]]
    return out
