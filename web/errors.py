"""Failures as HTTP answers: okr's own classes (the CLI's one-line messages) → status codes.

The API answers them as RFC 9457 problem details (application/problem+json), the pages as an
error page; a failure okr does not know is a bug and answers 500 without details.
"""

from dataclasses import dataclass
from typing import Any

from okr.web.auth import Refused
from okr.web.turns import Busy


@dataclass(frozen=True)
class Problem:
    """One failure as the web tells it."""

    status: int
    title: str
    detail: str
    retry_after: int | None = None  # seconds, for a refusal of an overloaded server

    def as_json(self, instance: str) -> dict[str, object]:
        return {"type": "about:blank", "title": self.title, "status": self.status,
                "detail": self.detail, "instance": instance}


class ApiProblem(Exception):
    """A failure the API answers as problem+json."""

    def __init__(self, problem: Problem, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(problem.detail)
        self.problem, self.headers, self.extra = problem, headers or {}, extra or {}


def failure(exc: BaseException) -> Problem | None:
    """The Problem for `exc`, or None for a bug."""
    from okr.cli.failures import translate
    from okr.domain.errors import NotFound
    from okr.errors import Incomplete, ServiceUnavailable

    if isinstance(exc, Refused):
        return Problem(403, "Forbidden", str(exc))
    if isinstance(exc, NotFound):
        return Problem(404, "Not found", str(exc))
    if isinstance(exc, Busy):
        return Problem(503, "Service unavailable", str(exc), Busy.retry_after)
    known = translate(exc)
    if known is None:
        return None
    if isinstance(known, ServiceUnavailable):
        return Problem(503, "Service unavailable", str(known))
    if isinstance(known, Incomplete):
        return Problem(503, "Incomplete", str(known))
    return Problem(400, "Bad request", str(known))
