"""Output: JSON for machines, rich tables for people, errors as one line on stderr."""

import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

_ZERO = timedelta(0)


def _default(o: Any) -> Any:
    if isinstance(o, datetime):
        if o.utcoffset() == _ZERO:  # already UTC (nearly always): spelled as envelope.iso does
            return o.isoformat(timespec="microseconds")[:26] + "Z"
        from okr.record.envelope import iso
        return iso(o)
    if isinstance(o, UUID):
        return str(o)
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(data: Any, pretty: bool | None = None) -> str:
    """JSON text: indented for a person at a terminal (default), compact for programs and
    files — Python's fast (C) encoder does not indent, and a review can be megabytes."""
    if pretty is None:
        pretty = sys.stdout.isatty()
    return json.dumps(data, default=_default, indent=2 if pretty else None,
                      ensure_ascii=False, allow_nan=False)


# What every JSON object this command prints carries besides its data (e.g. "stale": how far
# the projection lags the store); set by the read before it emits.
NOTES: dict[str, Any] = {}


def emit(data: Any, as_json: bool, human: Callable[[], None] | str | None = None) -> None:
    """Print `data` as JSON (an object with the NOTES added), or run/print the human
    rendering."""
    if as_json:
        if NOTES and isinstance(data, dict):
            data = {**data, **NOTES}
        sys.stdout.write(to_json(data) + "\n")
    elif callable(human):
        human()
    elif human is not None:
        print(human)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def bar(fraction: float | None, width: int = 20) -> str:
    """A text progress bar for 0–1."""
    if fraction is None:
        return "·" * width
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def amount(value: float | None, unit: str = "") -> str:
    """A value with its unit: '2.2%', '13250 users', '-' when there is none."""
    if value is None:
        return "-"
    if not unit:
        return f"{value:g}"
    return f"{value:g}{unit}" if unit in ("%", "‰", "€", "$", "£") else f"{value:g} {unit}"
