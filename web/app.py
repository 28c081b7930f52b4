"""The FastAPI application: server-rendered pages (Jinja2, autoescaped) and security headers.

Every page reads the projection as the CLI does and every form writes through the ledger
service as the CLI does; the actor of a write is the signed-in user (auth.Principal.actor),
never a field of the request.
"""

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from okr.cli.output import visible
from okr.domain.numbers import figure, fraction
from okr.settings import Settings
from okr.web import auth
from okr.web.api import api_router, bearer, invalid_request, problem_response
from okr.web.errors import ApiProblem, Problem, failure
from okr.web.idempotency import IdempotencyStore
from okr.web.limits import BodyTooLarge, BoundedBodies, unreadable_json
from okr.web.site import FEED_PAGE, Site
from okr.web.views import as_stored, guardrail_chart, kpi_chart, kr_chart, said, tree

HERE = Path(__file__).resolve().parent
SIGNIN_CHECKS = 2  # password checks at once (each holds 64 MiB for ~0.4 s)

# One refusal for a wrong token, a wrong password and an unknown name alike.
SIGNIN_REFUSED = ("that name and password, or that token, is not valid; ask an admin "
                  "(okr user password NAME, okr token create NAME)")

# No inline script or style anywhere: the page's own stylesheet is all it loads.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cross-Origin-Opener-Policy": "same-origin"}


def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["visible"] = visible  # controls, bidi and zero-width characters shown, not obeyed
    env.filters["num"] = lambda x: "–" if x is None else figure(x)
    env.filters["pct"] = lambda x: "–" if x is None else fraction(x)  # rounded down: shown
    return env


def create_app(settings: Settings) -> FastAPI:
    """The web app over the ledger in `settings`' data directory."""
    site = Site(settings)
    env = templates()
    app = FastAPI(title="okr-ledger", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/openapi.json",
                  description="The okr-ledger JSON API (docs/web.md). Authenticate with "
                              "'Authorization: Bearer NAME:SECRET' (okr token create NAME).")
    app.state.site = site
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    keys = IdempotencyStore(settings.home / "web-idempotency.jsonl",
                            timedelta(days=settings.idempotency_days))
    app.include_router(api_router(site, keys))

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.problem, request.url.path, exc.headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/api/"):  # the token first (docs/web.md: 401)
            try:
                await run_in_threadpool(bearer, site, request.headers.get("authorization"))
            except ApiProblem as refused:
                return problem_response(refused.problem, request.url.path, refused.headers)
        first = exc.errors()[0] if exc.errors() else {}
        return problem_response(Problem(400, "Bad request", visible(invalid_request(first))),
                                request.url.path)

    @app.exception_handler(HTTPException)
    async def refused_early(request: Request, exc: HTTPException) -> Response:
        """What the router or a body's reading refused before a route could: on the API a
        problem, after the token (docs/web.md: 401 first); a body too large on a page, the
        error page."""
        if request.url.path.startswith("/api/"):
            try:
                await run_in_threadpool(bearer, site, request.headers.get("authorization"))
            except ApiProblem as refused:
                return problem_response(refused.problem, request.url.path, refused.headers)
            detail = unreadable_json(exc.__cause__) if exc.status_code == 400 \
                and exc.__cause__ is not None else str(exc.detail)
            title = "Content too large" if exc.status_code == 413 else \
                HTTPStatus(exc.status_code).phrase.capitalize()  # as the API's other titles
            return problem_response(Problem(exc.status_code, title, visible(detail)),
                                    request.url.path, dict(exc.headers or {}))
        if isinstance(exc, BodyTooLarge):
            return page(request, "error.html", None, exc.status_code, title="Content too large",
                        message=exc.detail)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        """A failure okr does not know (a bug): 500 without details, with the security
        headers — this answer is made outside the middleware that adds them to every other.
        The exception still reaches the server's log."""
        if request.url.path.startswith("/api/"):
            shown: Response = problem_response(
                Problem(500, "Internal server error", "the server failed; it is logged"),
                request.url.path)
        else:
            shown = Response("Internal Server Error", 500, media_type="text/plain")
        shown.headers.update(HEADERS)
        shown.headers["Cache-Control"] = "no-store"
        return shown

    app.add_middleware(BoundedBodies)  # inside security_headers: its answers get them too

    @app.middleware("http")
    async def security_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        began = time.perf_counter()
        response = await call_next(request)
        response.headers.update(HEADERS)
        # Time spent in the server (bench/web_bench.py reads it: p95 server-side).
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1e3:.1f}"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    checking = PerLoop(SIGNIN_CHECKS)

    def signed_in(request: Request) -> auth.Principal | None:
        session = auth.session_of(site.secret, request.cookies.get(auth.SESSION_COOKIE))
        who = None if session is None else site.principal(session.name, session.issued)
        site.reading_as(who)
        return who

    def page(request: Request, name: str, who: auth.Principal | None, status: int = 200,
             **values: Any) -> HTMLResponse:
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        csrf = auth.csrf_token(site.secret, cookie) if cookie and who else ""
        html = env.get_template(name).render(who=who, csrf=csrf, zone=site.zone, **values)
        return HTMLResponse(html, status_code=status)

    def to_signin(request: Request) -> RedirectResponse:
        return RedirectResponse(f"/signin?next={quote(request.url.path, safe='/')}", 303)

    def problem(request: Request, who: auth.Principal | None, exc: Exception) -> HTMLResponse:
        known = failure(exc)
        if known is None:
            raise exc
        shown = page(request, "error.html", who, known.status, message=known.detail,
                     title=known.title)
        if known.retry_after is not None:
            shown.headers["Retry-After"] = str(known.retry_after)
        return shown

    # ---- sign-in ----------------------------------------------------------------------

    @app.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request, next: str = "/") -> HTMLResponse:
        return page(request, "signin.html", None, next=_local(next), error="")

    @app.post("/signin", response_model=None)
    async def signin(request: Request) -> Response:
        form = await request.form()
        address = request.client.host if request.client else "-"
        nxt = _local(str(form.get("next", "/")))
        if not auth.same_origin(request.headers.get("origin"),
                                request.headers.get("sec-fetch-site"),
                                request.headers.get("host")):
            # login CSRF: another site's form would sign the browser in as someone else
            return page(request, "signin.html", None, 403, next=nxt,
                        error="this sign-in form came from another site; sign in here")
        if not site.signin_admitted(address):
            return page(request, "signin.html", None, 429, next=nxt,
                        error="too many failed sign-ins from this address; wait a minute")
        password = str(form.get("password", ""))
        if password:  # argon2 (~0.4 s, 64 MiB) beside the event loop, a few at a time
            async with checking():
                who = await run_in_threadpool(site.authenticate_password,
                                              str(form.get("name", "")), password)
        else:
            who = site.authenticate(str(form.get("token", "")))
        if who is None:
            return page(request, "signin.html", None, 401, next=nxt, error=SIGNIN_REFUSED)
        site.signin_succeeded(address)
        response = RedirectResponse(nxt, 303)
        response.set_cookie(auth.SESSION_COOKIE, auth.new_session(site.secret, who.name),
                            max_age=auth.SESSION_SECONDS, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    @app.post("/signout", response_model=None)
    async def signout(request: Request) -> Response:
        form = await request.form()
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        if not auth.csrf_ok(site.secret, cookie, str(form.get("csrf", ""))):
            return page(request, "error.html", None, 403, title="Form refused",
                        message="the form expired or came from another site; reload the page")
        session = auth.session_of(site.secret, cookie)
        if session is not None:  # the session ends here, not only the browser's cookie
            await run_in_threadpool(site.sign_out, session.name)
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(auth.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # ---- pages ------------------------------------------------------------------------

    @app.get("/", response_model=None)
    def home() -> Response:
        return RedirectResponse("/scorecard", 303)

    @app.get("/docs", response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        """The API's reference, rendered here from its OpenAPI document (no script, no CDN)."""
        return page(request, "api_docs.html", signed_in(request),
                    operations=operations(app.openapi()))

    @app.get("/scorecard", response_model=None)
    def scorecard(request: Request, cycle: str = "", team: str = "", owner: str = "",
                  as_of: str = "", known_at: str = "") -> Response:
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        try:
            a, k = site.instants(as_of, known_at)
            shown, choices = site.scorecard_page(a, k, cycle or None, team or None,
                                                 owner or None)
        except Exception as exc:
            return problem(request, who, exc)
        return page(request, "scorecard.html", who, rows=tree(shown),
                    cycles=choices["cycles"], teams=choices["teams"], owners=choices["owners"],
                    chosen={"cycle": cycle, "team": as_stored(team, choices["teams"]),
                            "owner": as_stored(owner, choices["owners"])},
                    travel=travel(as_of, known_at, a, k, site.zone))

    @app.get("/kr/{key}", response_model=None)
    def key_result(request: Request, key: str, as_of: str = "",
                   known_at: str = "") -> Response:
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        return kr_page(request, who, key, as_of=as_of, known_at=known_at)

    def kr_page(request: Request, who: auth.Principal, key: str, status: int = 200,
                error: str = "", typed: dict[str, str] | None = None, as_of: str = "",
                known_at: str = "") -> HTMLResponse:
        try:
            a, k = site.instants(as_of, known_at)
            v = site.in_view(lambda: site.key_result_view(key, a, k), as_of, known_at, a, k)
            card, kr, revisions, check_ins = v.card, v.kr, v.revisions, v.check_ins
            may = site.may_check_in(who, key)
            assert v.review is not None  # asked for
            mine = next((x for c in v.review["objectives"] for x in c["key_results"]
                         if x["key"] == key), None)
            chart = Markup(kr_chart(v.review, key, check_ins, v.zone))
            initiatives = [] if mine is None else mine.get("initiatives", [])
            # Why a check-in would be refused, in the refusal's words: no form then.
            no_check_in = ({"closed": card["cycle"]} if v.review["status"] == "closed"
                           else {"kpi": kr["kpi"]} if kr.get("kpi") else None)
        except Exception as exc:
            return problem(request, who, exc)
        return page(request, "key_result.html", who, status, card=card, kr=kr,
                    chart=chart, initiatives=initiatives,
                    revisions=[{**r, "when": said(r["at"], site.zone)} for r in revisions],
                    check_ins=[{**c, "effective": said(c["effective_at"], site.zone),
                                "recorded": said(c["recorded_at"], site.zone)}
                               for c in reversed(check_ins)],
                    may_check_in=may, no_check_in=no_check_in, error=error,
                    typed=typed or {},
                    travel=travel(as_of, known_at, a, k, site.zone))

    @app.get("/restatement", response_model=None)
    def restatement(request: Request, at: str = "") -> Response:
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        rows: list[Any] = []
        objectives: list[Any] = []
        when = now = None
        try:
            if at.strip():
                when, now = site.instants(at, "")
                restated = site.restatement(when, now)
                rows, objectives = restated.key_results, restated.objectives
        except Exception as exc:
            return problem(request, who, exc)
        return page(request, "restatement.html", who, at=at, rows=rows,
                    objectives=objectives,
                    differ=sum(1 for r in rows if r.changed),
                    objectives_differ=sum(1 for o in objectives if o.changed),
                    when=said(when, site.zone) if when else "",
                    now=said(now, site.zone) if now else "")

    @app.get("/trail/{key}", response_model=None)
    def trail(request: Request, key: str) -> Response:
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        try:
            rows = site.trail(key)
        except Exception as exc:
            return problem(request, who, exc)
        return page(request, "trail.html", who, key=key,
                    rows=[shown_event(r, site.zone) for r in rows])

    @app.get("/verify", response_model=None)
    def verify(request: Request) -> Response:
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        try:
            auth.check_may_audit(who)
            verdict = site.verify()
        except Exception as exc:
            return problem(request, who, exc)
        return page(request, "verify.html", who, v=verdict)

    # ---- pages of objectives, KPIs, initiatives, reviews and the audit feed -------------

    def reading(request: Request, template: str,
                build: Callable[[auth.Principal], dict[str, Any]]) -> Response:
        """A read page: signed in, built (a known failure: its error page), rendered."""
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        try:
            values = build(who)
        except Exception as exc:
            return problem(request, who, exc)
        return page(request, template, who, **values)

    def reading_at(request: Request, template: str, as_of: str, known_at: str,
                   build: Callable[[Any, Any], dict[str, Any]]) -> Response:
        """A read page with the as-of / known-at control: `build` gets the instants read."""
        def built(who: auth.Principal) -> dict[str, Any]:
            a, k = site.instants(as_of, known_at)
            values = site.in_view(lambda: build(a, k), as_of, known_at, a, k)
            return {**values, "travel": travel(as_of, known_at, a, k, site.zone)}
        return reading(request, template, built)

    @app.get("/objective/{key}", response_model=None)
    def objective(request: Request, key: str, as_of: str = "", known_at: str = "") -> Response:
        return reading_at(request, "objective.html", as_of, known_at,
                          lambda a, k: site.objective(key, a, k))

    @app.get("/kpi/{key}", response_model=None)
    def kpi(request: Request, key: str, as_of: str = "", known_at: str = "") -> Response:
        def build(a: Any, k: Any) -> dict[str, Any]:
            got = site.kpi(key, a, k)
            return {**got, "chart": Markup(kpi_chart(got["kpi"], got["readings"], a,
                                                     site.zone)),
                    "observed": said(got["kpi"]["observed_at"], site.zone)
                    if got["kpi"]["observed_at"] else "",
                    "rows": [{**r, "observed": said(r["observed_at"], site.zone),
                              "recorded": said(r["recorded_at"], site.zone)}
                             for r in reversed(got["readings"])]}
        return reading_at(request, "kpi.html", as_of, known_at, build)

    @app.get("/initiative/{key}", response_model=None)
    def initiative(request: Request, key: str, as_of: str = "",
                   known_at: str = "") -> Response:
        return reading_at(request, "initiative.html", as_of, known_at,
                          lambda a, k: site.initiative(key, a, k))

    @app.get("/review", response_model=None)
    def reviews(request: Request) -> Response:
        def build(who: auth.Principal) -> dict[str, Any]:
            from okr.cli.times import local_day
            now = site.now()  # each cycle's days in its own zone, as `okr list cycles`
            return {"cycles": [{**c, "first_day": local_day(c["start"], c["timezone"]),
                                "last_day": local_day(c["end"], c["timezone"], end=True)}
                               for c in site.cycles(now, now)]}
        return reading(request, "reviews.html", build)

    @app.get("/review/{cycle}", response_model=None)
    def review(request: Request, cycle: str, as_of: str = "", known_at: str = "",
               every: str = Query("", alias="all")) -> Response:
        def build(a: Any, k: Any) -> dict[str, Any]:
            from okr.cli.report import (
                FINAL_GRADES,
                header,
                headline,
                revision_line,
                score_rows,
                sections,
            )
            r, zone = site.zoned_review(cycle, a, k)
            every_one = bool(every.strip())
            shown = sections(r, zone, site.zone, every_one)  # as `okr review` says them
            plan = next(sec for sec in shown if sec.key == "plan")
            revisions = []
            for x in r["revisions"]:
                line = revision_line(x, zone, site.zone)
                when, _, rest = line.text.partition(f" {x['key']}: ")
                revisions.append((when, x["key"], rest, line.flags))
            krs = [kr for c in r["objectives"] for kr in c["key_results"]]
            return {"r": r, "sections": shown, "final_grades": FINAL_GRADES,
                    "plan": list(zip(plan.rows, score_rows(r), strict=True)),
                    "said_header": header(r, zone, site.zone),
                    "said_headline": headline(r, zone), "late_every": every_one,
                    "revisions": revisions,
                    "charts": [(kr, Markup(kr_chart(r, kr["key"], [], zone))) for kr in krs],
                    "guardrails": [(g, Markup(guardrail_chart(r, g, zone)))
                                   for g in r["guardrails"]]}
        return reading_at(request, "review.html", as_of, known_at, build)

    @app.get("/retro", response_model=None)
    def retro(request: Request, a: str = "", b: str = "", team: str = "") -> Response:
        def build(who: auth.Principal) -> dict[str, Any]:
            from okr.cli.errors import UserError
            from okr.cli.report import retro_of, retro_rows
            if not a.strip() or not b.strip():
                raise UserError("a retro compares two cycles: give a= and b= "
                                "(e.g. /retro?a=2026-Q3&b=2026-Q4)")
            now = site.now()
            d = retro_of(site.zoned_review(a, now, now), site.zoned_review(b, now, now),
                         team or None)
            columns, rows = retro_rows(d, site.zone)  # as `okr retro` prints them
            return {"d": d, "columns": columns, "rows": rows}
        return reading(request, "retro.html", build)

    @app.get("/audit", response_model=None)
    def audit(request: Request, before: str = "", kind: str = "", actor: str = "",
              limit: str = "") -> Response:
        def build(who: auth.Principal) -> dict[str, Any]:
            from okr.cli.errors import UserError
            if before.strip() and not (before.isascii() and before.isdigit()):
                raise UserError(f"before={before!r} is not a position (a whole number, as the "
                                "feed's 'older' link gives)")
            if limit.strip() and not (limit.isascii() and limit.isdigit()
                                      and 1 <= int(limit) <= FEED_MAX):
                raise UserError(f"limit={limit!r}: give a number of events from 1 to "
                                f"{FEED_MAX}")
            if kind and kind not in FEED_KINDS:
                raise UserError(f"kind={kind!r} is not one of: {', '.join(FEED_KINDS)}")
            feed = site.audit_feed(int(before) if before.strip() else None, kind or None,
                                   actor or None, int(limit) if limit.strip() else FEED_PAGE)
            return {"rows": [shown_event(r, site.zone) for r in feed.rows],
                    "next_before": feed.next_before, "actors": feed.actors,
                    "kinds": FEED_KINDS,
                    "chosen": {"kind": kind, "actor": actor, "limit": limit.strip()},
                    "may_export": who.role in ("auditor", "admin"),
                    "cycles": [c["key"] for c in site.cycles(site.now(), site.now())]
                    if who.role in ("auditor", "admin") else []}
        return reading(request, "audit.html", build)

    @app.get("/audit/bundle", response_model=None)
    def bundle(request: Request, cycle: str = "") -> Response:
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        try:
            if not cycle.strip():
                from okr.cli.errors import UserError
                raise UserError("which cycle? /audit/bundle?cycle=2026-Q4")
            name, data = site.bundle(who, cycle)
        except Exception as exc:
            return problem(request, who, exc)
        return Response(data, media_type="application/gzip", headers={
            "Content-Disposition": f'attachment; filename="{name}"'})

    @app.post("/kr/{key}/checkin", response_model=None)
    async def check_in(request: Request, key: str) -> Response:
        who = signed_in(request)
        if who is None:
            return to_signin(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        # the write, and the page a refused one shows (a read that may wait for the user's
        # own writes), beside the event loop, as every other page runs
        return await run_in_threadpool(checked_in, request, who, key, form)

    def checked_in(request: Request, who: auth.Principal, key: str,
                   form: dict[str, str]) -> Response:
        if not auth.csrf_ok(site.secret, request.cookies.get(auth.SESSION_COOKIE),
                            form.get("csrf")):
            return page(request, "error.html", who, 403, title="Form refused",
                        message="the form expired or came from another site; reload the page")
        try:
            site.check_in(who, key, site.typed_check_in(form.get("value", ""),
                                                        form.get("confidence", ""),
                                                        form.get("note", ""),
                                                        form.get("at", ""),
                                                        form.get("on_behalf_of", "").strip()
                                                        or None))
        except auth.Refused as exc:
            return page(request, "error.html", who, 403, title="Not allowed", message=str(exc))
        except Exception as exc:
            known = failure(exc)
            if known is None or known.status >= 500 or known.status == 404:
                return problem(request, who, exc)
            return kr_page(request, who, key, 400, error=known.detail, typed=form)
        return RedirectResponse(f"/kr/{quote(key, safe='')}", 303)

    return app


def travel(as_of: str, known_at: str, a: Any, k: Any, zone: str | None) -> dict[str, Any]:
    """What the as-of / known-at control shows: the typed values, the instants read, and
    whether the view is in the past at all."""
    from urllib.parse import urlencode
    past = bool(as_of.strip() or known_at.strip())
    return {"as_of": as_of, "known_at": known_at, "as_of_said": said(a, zone),
            "known_at_said": said(k, zone), "past": past,
            # what a link from a past view carries, so the page it leads to is of then too
            "query": "?" + urlencode({"as_of": as_of, "known_at": known_at}) if past else ""}


FEED_MAX = 500  # events a page of the audit feed may ask for
FEED_KINDS = ("cycle", "objective", "key_result", "initiative", "kpi", "user")


def shown_event(r: dict[str, Any], zone: str | None) -> dict[str, Any]:
    """An event of a trail or the feed as the pages show it: times said, the effective time
    only where it differs, each changed field before → after as text."""
    return {**r, "recorded": said(r["recorded_at"], zone),
            "effective": "" if r["effective_at"] == r["recorded_at"]
            else said(r["effective_at"], zone),
            "diff": [(k, cell(v["before"], zone), cell(v["after"], zone))
                     for k, v in r["changes"].items()]}


def cell(v: Any, zone: str | None) -> str:
    """A changed field's value as text (times said as every time on the page is, lists and
    objects as compact JSON)."""
    import json
    from datetime import datetime
    if v is None:
        return ""
    if isinstance(v, datetime):
        return said(v, zone)
    if isinstance(v, dict | list):
        return json.dumps(v, default=str, ensure_ascii=False, separators=(",", ":"))
    return str(v)


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The API's operations from its OpenAPI document, for the /docs page."""
    out = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            out.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                        "parameters": [p["name"] for p in op.get("parameters", [])
                                       if p.get("in") in ("query", "path")],
                        "body": "requestBody" in op})
    return out


def _local(path: str) -> str:
    """Where to go after signing in: a path on this site only (no //host, no scheme, no
    backslash, no whitespace or control character: browsers drop tabs and line breaks from a
    URL, so `/\t/evil.example` is read as `//evil.example`, another host)."""
    on_site = path.startswith("/") and not path.startswith("//") and "\\" not in path \
        and all(c.isprintable() and not c.isspace() for c in path)
    return path if on_site else "/"


class PerLoop:
    """An asyncio.Semaphore for each running event loop: uvicorn runs one, but a semaphore
    used from a loop other than its own fails (a test client may run a loop per request)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._of: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    def __call__(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._of.get(loop)
        if gate is None:
            gate = self._of[loop] = asyncio.Semaphore(self.size)
        return gate
