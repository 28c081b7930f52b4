"""Bounds on what a request may send, whoever sends it.

A body over MAX_BODY is refused (413) as soon as it is known to be: by its Content-Length
before any of it is read, else once more than MAX_BODY has arrived — so the server never
holds more, not even for a caller without a token (the API checks the token when it answers
the refusal: 401 first, as for any body). A write's JSON and a page's form are far smaller (a
note has 2,000 characters at most; the largest event okr records is 256 KiB); imports take a
file and keep their own bound, the CLI's (web/api_imports.py).
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 2 * 1024 * 1024  # bytes; the largest event, every character a JSON \u escape, fits
OWN_BOUND = "/api/v1/imports/"  # an import's body is a file, bounded where it is read


class BodyTooLarge(HTTPException):
    """The request's body is over MAX_BODY; none of it beyond that was read."""

    def __init__(self, declared: int | None) -> None:
        sent = f"{declared:,} bytes" if declared is not None else f"more than {MAX_BODY:,} bytes"
        super().__init__(413, f"the request's body has {sent}; a request other than an import "
                              f"may send at most {MAX_BODY:,} bytes")


class BoundedBodies:
    """ASGI middleware: every request's body but an import's is read up to MAX_BODY at most;
    past it the app's read raises BodyTooLarge (answered by the app's handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OWN_BOUND):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        over = int(declared) if declared.isdigit() and int(declared) > MAX_BODY else None
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            if over is not None:
                raise BodyTooLarge(over)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise BodyTooLarge(None)
            return message

        await self.app(scope, bounded, send)


def unreadable_json(exc: BaseException | None) -> str:
    """Why FastAPI could not read a body as JSON, when it is not a syntax error (which
    RequestValidationError reports): nesting too deep, a number too long for Python."""
    why = "nested too deeply" if isinstance(exc, RecursionError) else \
        "a number of more than 4300 digits" if isinstance(exc, ValueError) \
        and "integer string conversion" in str(exc) else \
        (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"the body is not JSON okr can read: {why}"
