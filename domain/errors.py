"""Errors the domain raises when a command is not allowed; each message speaks to a person."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def _utc(t: datetime) -> str:
    # A caller's own time (the Python API's `at`) may carry its zone: said in UTC like the rest.
    return (t.astimezone(UTC) if t.tzinfo is not None else t).isoformat(timespec="seconds")


class DomainError(ValueError):
    """A command was rejected; the message says what was wrong and what would be right.

    A message that names times keeps them as data, and then every value it names (a key a
    person typed stays out of the template): `DomainError("check-in time {at} is in the
    future", at=t)`. The domain knows no person's zone, so `str()` says the times in UTC; the
    CLI and the web say them in the person's (`said`)."""

    def __init__(self, message: str, /, **values: Any) -> None:
        self.template, self.values = message, values
        super().__init__(self.said(_utc))

    def said(self, when: Callable[[datetime], str]) -> str:
        """The message with each time it names written by `when`."""
        return filled(self.template, self.values, when)


def filled(template: str, values: dict[str, Any], when: Callable[[datetime], str]) -> str:
    """`template` with its values, each time among them written by `when`."""
    if not values:
        return template
    return template.format(**{k: when(v) if isinstance(v, datetime) else v
                              for k, v in values.items()})


def said(exc: Exception, when: Callable[[datetime], str] | None = None) -> str:
    """An error's message, a DomainError's times written by `when` (default: UTC)."""
    return exc.said(when or _utc) if isinstance(exc, DomainError) else str(exc)


class NotFound(DomainError):
    """The key names nothing of that kind."""


class AlreadyExists(DomainError):
    """A thing of that kind already has this key."""
