"""The JSON API under /api/v1: the reads of the pages and every write of the CLI, for programs.

Authentication is a bearer token (`Authorization: Bearer NAME:SECRET`, from `okr token
create`); no cookie is read here, so no cross-site request can ride on a browser's session
and the API needs no CSRF token. Failures are RFC 9457 problem details
(application/problem+json) carrying the CLI's one-line message. A POST with an
`Idempotency-Key` header is recorded once however often it is sent (web/idempotency.py).
"""

import asyncio
import functools
import weakref
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from okr.domain.base import check_on_behalf_of
from okr.web.answers import JsonAnswer
from okr.web.api_imports import InvalidLines, import_routes
from okr.web.api_reads import read_routes
from okr.web.api_writes import ON_BEHALF_OF, Num, number_text, write_routes
from okr.web.auth import Principal, check_may_audit, check_may_check_in
from okr.web.errors import ApiProblem, Problem, failure
from okr.web.idempotency import IdempotencyStore, KeyReused, check_key, fingerprint
from okr.web.site import Site
from okr.web.writes import Writes

PROBLEM = "application/problem+json"


def problem_response(problem: Problem, instance: str,
                     headers: dict[str, str] | None = None,
                     extra: dict[str, Any] | None = None) -> JSONResponse:
    """The problem as RFC 9457 JSON; `extra` members (such as an import's `invalid` lines)
    beside the standard ones."""
    if problem.retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(problem.retry_after)}
    return JsonAnswer({**(extra or {}), **problem.as_json(instance)}, problem.status,
                      headers=headers, media_type=PROBLEM)


class CheckInBody(BaseModel):
    """A check-in, as `okr checkin` takes it."""

    value: Num = Field(description="The value now (or at `at`): a JSON number, or "
                                           "text in ASCII decimal as the CLI reads it.")
    confidence: Num | None = Field(None, description="0–1: how sure the target will "
                                                             "be hit.")
    note: str = Field("", description="What happened.")
    at: str | None = Field(None, description="Effective time, if not now: 2026-11-02, "
                                             "2026-11-02T14:30 (the server's zone, OKR_TZ) "
                                             "or with an offset/Z.")
    on_behalf_of: str | None = ON_BEHALF_OF


def _guard(fn: Any, *args: Any) -> Any:
    """Run a read or write; okr's failures become problems, anything else is a bug (500)."""
    try:
        return fn(*args)
    except ApiProblem:
        raise
    except InvalidLines as exc:
        raise ApiProblem(Problem(400, "Bad request", str(exc)),
                         extra={"invalid": exc.invalid}) from None
    except Exception as exc:
        known = failure(exc)
        if known is None:
            raise
        raise ApiProblem(known) from None


def bearer(site: Site, authorization: str | None) -> Principal:
    """Who the `Authorization: Bearer NAME:SECRET` header names, or a 401 problem."""
    scheme, _, token = (authorization or "").partition(" ")
    who = site.authenticate(token) if scheme.lower() == "bearer" and token else None
    if who is None:
        raise ApiProblem(Problem(401, "Unauthorized",
                                 "a valid token is required: send 'Authorization: Bearer "
                                 "NAME:SECRET' (okr token create NAME)"),
                         {"WWW-Authenticate": 'Bearer realm="okr"'})
    return who


def invalid_request(first: dict[str, Any]) -> str:
    """The first thing wrong with a request FastAPI refused before the route ran."""
    if first.get("type") == "json_invalid":
        why, at = first.get("ctx", {}).get("error", "not JSON"), first.get("loc", ("", ""))[-1]
        return f"the body is not JSON: {why} at character {at}"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{where}: {first.get('msg', 'invalid')}" if where else \
        str(first.get("msg", "the request is not valid"))


def api_router(site: Site, idempotency: IdempotencyStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["api v1"])
    writes = Writes(site, idempotency)

    def caller(authorization: str | None) -> Principal:
        who = bearer(site, authorization)
        site.reading_as(who)
        return who

    @router.get("/me", summary="The signed-in user: name, role, team, and the actor their "
                               "writes record.")
    def me(authorization: str | None = Header(None)) -> dict[str, Any]:
        who = caller(authorization)
        return {"name": who.name, "role": who.role, "team": who.team, "actor": who.actor}

    @router.get("/scorecard", summary="The scorecard (objectives with their key results) as of "
                                      "a valid time, as known at a transaction time.")
    def scorecard(cycle: str = "", team: str = "", owner: str = "",
                  as_of: str | None = None, known_at: str | None = None,
                  authorization: str | None = Header(None)) -> Any:
        caller(authorization)
        a, k = _guard(site.instants, as_of, known_at)
        shown = _guard(site.in_view, lambda: site.scorecard(
            a, k, cycle or None, team or None, owner or None), as_of, known_at, a, k)
        return JsonAnswer({"as_of": a, "known_at": k, "objectives": shown})

    @router.get("/key-results/{key}", summary="One key result: its card, objective, "
                                              "revisions and check-ins.")
    def key_result(key: str, as_of: str | None = None, known_at: str | None = None,
                   authorization: str | None = Header(None)) -> Any:
        caller(authorization)
        a, k = _guard(site.instants, as_of, known_at)
        card, kr, revisions, check_ins = _guard(site.in_view, lambda: site.key_result(
            key, a, k), as_of, known_at, a, k)
        objective = {n: v for n, v in card.items() if n != "key_results"}
        return JsonAnswer({"as_of": a, "known_at": k, "key_result": kr,
                                 "objective": objective, "revisions": revisions,
                                 "check_ins": check_ins})

    @router.get("/restatement", summary="Each key result and objective as believed at a past "
                                        "instant `at` vs as known now about that instant, "
                                        "and the restatements (okr review "
                                        "--compare-known-at's).")
    def restatement(at: str, authorization: str | None = Header(None)) -> Any:
        caller(authorization)
        when, now = _guard(site.instants, at, None)
        said = _guard(site.restatement, when, now)
        return JsonAnswer({"at": when, "known_now": now, "key_results": [
            {"objective": r.objective, "key": r.key, "title": r.title, "then": r.then,
             "now": r.now, "changed": sorted(r.changed)} for r in said.key_results],
            "objectives": [{"key": o.key, "title": o.title, "then": o.then, "now": o.now,
                            "changed": sorted(o.changed)} for o in said.objectives],
            "restatements": said.changes})

    @router.get("/trail/{key}", summary="Every event of an item: recorded and effective time, "
                                        "actor, reason, the fields it changed (okr audit trail; "
                                        "since/until bound the recording time).")
    def trail(key: str, since: str | None = None, until: str | None = None,
              authorization: str | None = Header(None)) -> Any:
        from okr.cli.times import parse_until, parse_when

        caller(authorization)
        lo = _guard(parse_when, since, site.zone) if since else None
        hi = _guard(parse_until, until, site.zone) if until else None
        return JsonAnswer([r for r in _guard(site.trail, key)
                                 if (lo is None or r["recorded_at"] >= lo)
                                 and (hi is None or r["recorded_at"] <= hi)])

    @router.get("/verify", summary="The verify verdict of the record (auditors and admins).")
    def verify(authorization: str | None = Header(None)) -> Any:
        who = caller(authorization)
        _guard(check_may_audit, who)
        return JsonAnswer(_guard(site.verify))

    async def post(request: Request, who: Principal, kind: str, item: str, work: Any,
                   idempotency_key: str | None, on_behalf_of: str | None = None,
                   body: bytes | None = None) -> JSONResponse:
        """Record `work` as `who` — once per Idempotency-Key — and answer what it recorded;
        `on_behalf_of` (the body's, checked like --on-behalf-of) is recorded beside them;
        `body`, when the caller read it already (an import's, read with a cap)."""
        named = _guard(check_on_behalf_of, on_behalf_of)

        def for_whom(ledger: Any) -> object:
            with ledger.acting_for(named):
                return work(ledger)

        if idempotency_key is not None:
            why = check_key(idempotency_key)
            if why is not None:
                raise ApiProblem(Problem(400, "Bad request", why))
        if body is None:
            body = await request.body()
        fp = fingerprint("POST", request.url.path, request.url.query, body)
        try:
            answer = await _in_thread(_guard, writes.run, who, idempotency_key, fp, kind, item,
                                      for_whom)
        except KeyReused as exc:
            raise ApiProblem(Problem(422, "Idempotency-Key reused", str(exc))) from None
        return JsonAnswer(answer.body, answer.status)

    @router.post("/key-results/{key}/check-ins", status_code=201,
                 summary="Check in on a key result, as the caller (members: their own "
                         "team's key results; planners and admins: any).")
    async def check_in(key: str, body: CheckInBody, request: Request,
                       authorization: str | None = Header(None),
                       idempotency_key: str | None = Header(None)) -> Any:
        who = caller(authorization)
        typed = _guard(site.typed_check_in, number_text(body.value),
                       "" if body.confidence is None else number_text(body.confidence),
                       body.note, body.at or "")
        _guard(lambda: check_may_check_in(who, key, site.kr_team(key)))
        return await post(request, who, "check-in", key, lambda ledger: ledger.check_in(
            key, typed.value, typed.confidence, typed.note, typed.at, source="web"),
            idempotency_key, body.on_behalf_of)

    read_routes(router, site, caller, _guard)
    write_routes(router, site, caller, _guard, post)
    import_routes(router, site, caller, _guard, post)
    return router


WRITE_THREADS = 16  # API writes at once, each in a thread of the writes' own
_write_threads: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = \
    weakref.WeakKeyDictionary()


async def _in_thread(fn: Any, *args: Any) -> Any:
    """Blocking ledger work off the event loop, in threads of the writes' own: FastAPI runs
    the sync routes (every read) in anyio's shared 40, and under load those are all reads
    waiting for their turn (web/turns.py) — a write must not queue behind them."""
    import anyio
    import anyio.to_thread

    loop = asyncio.get_running_loop()
    limiter = _write_threads.get(loop)
    if limiter is None:
        limiter = _write_threads[loop] = anyio.CapacityLimiter(WRITE_THREADS)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)
