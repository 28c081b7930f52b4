"""`okr import plan|checkins|readings FILE` as POSTs: the file is the request's body.

The body is written to a private temporary file named as the `name` parameter says (its
ending chooses YAML or CSV for a plan; `import:NAME` is the source recorded with it) and
handed to the CLI's importers, which check every line and record all of it in one transaction
or nothing. A file with bad lines is refused with one line — how many, and the first — and,
in the problem's `invalid` member, every line's error (400, nothing recorded), unless
`skip_invalid` (check-ins and readings) records the good ones. `on_behalf_of` is recorded
beside the actor, as `--on-behalf-of`. Bulk writes are for planners and admins.
"""

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Request

from okr.web import auth
from okr.web.auth import Principal
from okr.web.errors import ApiProblem, Problem
from okr.web.site import Site

DEFAULT_NAME = {"plan": "plan.yaml", "checkins": "checkins.csv", "readings": "readings.csv"}
SUMMARY = {
    "plan": "Import a plan and its results, all or nothing (okr import plan): the body is the "
            "YAML or CSV file; name= says which (plan.yaml, plan.csv).",
    "checkins": "Import check-ins (okr import checkins): the body is the CSV file "
                "(kr,value[,confidence,note,at]).",
    "readings": "Import KPI readings (okr import readings): the body is the CSV file "
                "(kpi,value[,at,source,id]).",
}


class InvalidLines(Exception):
    """The file has bad lines; nothing was recorded."""

    def __init__(self, message: str, invalid: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.invalid = invalid


def file_name(kind: str, name: str | None) -> str:
    """The name the file is imported under: the caller's, reduced to letters, digits and
    . _ - (it is recorded as the source), else the kind's default."""
    from okr.cli.errors import UserError

    if not name:
        return DEFAULT_NAME[kind]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name.strip())[:100].lstrip(".")
    if not safe:
        raise UserError(f"name {name!r} has no letters or digits to name the file by")
    return safe


def run_import(site: Site, ledger: Any, kind: str, name: str, body: bytes,
               skip_invalid: bool) -> None:
    """Import `body` as the file `name`, through the CLI's importers."""
    from okr.cli.times import parse_when, said_briefly
    from okr.domain.errors import DomainError
    from okr.ledger.imports import import_csv
    from okr.ledger.plan_import import import_plan

    zone = site.zone
    with tempfile.TemporaryDirectory(prefix="okr-import-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(body)

        def ours(text: str) -> str:  # the file as the caller named it, not our temporary path
            return text.replace(f"{tmp}/", "")

        try:
            if kind == "plan":
                report: Any = import_plan(ledger, path,
                                          lambda t, z=None: parse_when(t, z or zone),
                                          lambda t: said_briefly(t, zone))
                rows = None
            else:
                report = import_csv(ledger, path, kind, lambda t: parse_when(t, zone),
                                    skip_invalid, say_time=lambda t: said_briefly(t, zone))
                rows = report.rows
        except DomainError as exc:
            raise DomainError(ours(str(exc))) from None
    if report.invalid and (kind == "plan" or not skip_invalid):
        bad = [{"line": b["line"], "error": ours(b["error"])} for b in report.invalid]
        first = bad[0]
        where = f"line {first['line']}: " if first["line"] else ""
        of = f" of {rows} lines" if rows is not None else ""
        raise InvalidLines(f"{len(bad)}{of} invalid in {name}, nothing was written; first: "
                           f"{where}{first['error']}", bad)


async def capped_body(request: Request) -> bytes:
    """The request's body, refused (413) by its Content-Length before any of it is read, or
    as soon as more than the importers take has arrived — never read whole when too big."""
    from okr.ledger.plan_import import MAX_BYTES

    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiProblem(Problem(400, "Bad request",
                                     "Content-Length must be a number of bytes"))
        if int(declared) > MAX_BYTES:
            raise ApiProblem(Problem(413, "Content too large", f"the file has {declared} "
                                     f"bytes; at most {MAX_BYTES} — split it"))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise ApiProblem(Problem(413, "Content too large",
                                     f"the file has more than {MAX_BYTES} bytes; split it"))
        chunks.append(chunk)
    return b"".join(chunks)


def import_routes(router: APIRouter, site: Site, caller: Callable[[str | None], Principal],
                  guard: Callable[..., Any], post: Callable[..., Any]) -> None:
    """Add `okr import plan|checkins|readings` as POST /imports/KIND."""
    def route(kind: str) -> None:
        async def imp(request: Request, name: str | None = None, skip_invalid: bool = False,
                      on_behalf_of: str | None = None,
                      authorization: str | None = Header(None),
                      idempotency_key: str | None = Header(None)) -> Any:
            who = caller(authorization)
            guard(auth.check_may_plan, who)
            named = guard(file_name, kind, name)
            body = await capped_body(request)
            return await post(request, who, "import", named, lambda ledger: run_import(
                site, ledger, kind, named, body, skip_invalid), idempotency_key, on_behalf_of,
                body)

        router.post(f"/imports/{kind}", status_code=201, summary=SUMMARY[kind],
                    openapi_extra={"requestBody": {"required": True, "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/yaml": {"schema": {"type": "string"}}}}})(imp)

    for kind in ("plan", "checkins", "readings"):
        route(kind)
