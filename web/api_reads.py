"""The API's reads of the CLI: `okr list …`, `okr show`, `okr history`, `okr due`, `okr review`
and `okr retro` — each answering what the command's `--json` prints, built by the same
functions (cli/answers.py, the review model) from the same projection (or, for `show`, the
ledger). Every role reads; the audit bundle (`okr audit export`) is for auditors and admins.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header
from fastapi.responses import Response

from okr.web.answers import JsonAnswer
from okr.web.auth import Principal
from okr.web.site import Site

AS_OF = "Valid time (the server's zone; a date alone: the END of that day). Default now."
KNOWN_AT = "What the ledger knew then (as --known-at). Default now."


def read_routes(router: APIRouter, site: Site, caller: Callable[[str | None], Principal],
                guard: Callable[..., Any]) -> None:
    """Add the CLI's reads: `caller` reads the bearer token, `guard` turns okr's failures into
    problems."""

    def listing(kind: str, status: str | None, as_of: str | None, known_at: str | None,
                items: Callable[[Any, datetime, datetime], list[dict[str, Any]]]) -> Any:
        from okr.cli.answers import check_status

        guard(check_status, kind, status or None)
        a, k = guard(site.instants, as_of, known_at)
        found = guard(site.in_view, lambda: site.read(lambda p: items(p, a, k)), as_of,
                      known_at, a, k)
        return JsonAnswer({"kind": kind, "as_of": a, "known_at": k, "items": found})

    @router.get("/cycles", summary="Cycles: days, zone, status, objectives (okr list cycles).")
    def cycles(status: str | None = None, as_of: str | None = None,
               known_at: str | None = None, authorization: str | None = Header(None)) -> Any:
        from okr.cli.answers import cycle_items

        caller(authorization)
        return listing("cycles", status, as_of, known_at,
                       lambda p, a, k: cycle_items(p, a, k, status or None))

    def filtered(path: str, kind: str, summary: str,
                 items: Callable[..., list[dict[str, Any]]]) -> None:
        """A listing filtered by cycle, team, owner and status, at (as_of, known_at)."""
        def read(cycle: str | None = None, team: str | None = None, owner: str | None = None,
                 status: str | None = None, as_of: str | None = None,
                 known_at: str | None = None, authorization: str | None = Header(None)) -> Any:
            caller(authorization)
            return listing(kind, status, as_of, known_at, lambda p, a, k: items(
                p, a, k, cycle or None, team or None, owner or None, status or None))
        router.get(path, summary=summary)(read)

    from okr.cli.answers import initiative_items, kr_items, objective_items

    filtered("/objectives", "objectives", "Objectives with owner, team, type, status, score "
             "(okr list objectives).", objective_items)
    filtered("/key-results", "key results", "Key results with value, progress and status "
             "against the progress expected (okr list krs).", kr_items)
    filtered("/initiatives", "initiatives", "Initiatives with their key result, cycle, team, "
             "owner and status (okr list initiatives).", initiative_items)

    @router.get("/kpis", summary="KPIs with latest value, trend, health and staleness (okr list "
                                 "kpis; all=true includes retired ones).")
    def kpis(all: bool = False, owner: str | None = None, status: str | None = None,
             as_of: str | None = None, known_at: str | None = None,
             authorization: str | None = Header(None)) -> Any:
        from okr.cli.answers import kpi_items

        caller(authorization)
        return listing("kpis", status, as_of, known_at, lambda p, a, k: kpi_items(
            p, a, k, all, owner or None, status or None))

    @router.get("/items/{key}", summary="Anything by key, its state now, read from the ledger "
                                        "(okr show; kind= cycle, objective, kr, initiative, kpi "
                                        "when several kinds use the key).")
    def show(key: str, kind: str | None = None, authorization: str | None = Header(None)) -> Any:
        from okr.cli.answers import show_data

        caller(authorization)
        return JsonAnswer(guard(show_data, site.state.ledger, key, kind or None))

    @router.get("/key-results/{key}/history", summary="A key result's revisions and check-ins "
                                                      "over time (okr history).")
    def history(key: str, authorization: str | None = Header(None)) -> Any:
        from okr.domain.errors import NotFound

        caller(authorization)
        revisions, check_ins = guard(site.read, lambda p: p.key_result_history(key))
        if not revisions:
            guard(_raise, NotFound(f"key result {key!r} not found in the projection"))
        return JsonAnswer({"key": key, "revisions": revisions, "check_ins": check_ins})

    @router.get("/due", summary="What is due now: key results without a recent check-in, KPIs "
                                "red or stale (okr due).")
    def due(owner: str | None = None, team: str | None = None,
            authorization: str | None = Header(None)) -> Any:
        from okr.cli.answers import due_now

        caller(authorization)
        cadence = site.settings.checkin_cadence
        return JsonAnswer(guard(site.read, lambda p: due_now(
            p, site.now(), cadence, owner or None, team or None)))

    @router.get("/reviews/{cycle}", summary="Plan vs actual, revisions, progress, confidence "
                                            "and KPI guardrails of a cycle (okr review --json; "
                                            "compare_known_at lists restatements).")
    def review(cycle: str, as_of: str | None = None, known_at: str | None = None,
               compare_known_at: str | None = None,
               authorization: str | None = Header(None)) -> Any:
        from okr.cli.reviews import compare

        caller(authorization)
        a, k = guard(site.instants, as_of, known_at)
        data = guard(site.in_view, lambda: site.review(cycle, a, k), as_of, known_at, a, k)
        if compare_known_at:
            _, k0 = guard(site.instants, as_of, compare_known_at)
            guard(compare, data, lambda: site.review(cycle, a, k0), k0)
        return JsonAnswer(data)

    @router.get("/bundles/{cycle}", summary="A cycle's audit bundle as a .tar.gz, verifiable "
                                            "offline (okr audit export --cycle; auditors and "
                                            "admins).",
                response_class=Response,
                responses={200: {"content": {"application/gzip": {}}}})
    def bundle(cycle: str, authorization: str | None = Header(None)) -> Response:
        who = caller(authorization)
        name, data = guard(site.bundle, who, cycle)
        return Response(data, media_type="application/gzip", headers={
            "Content-Disposition": f'attachment; filename="{name}"'})

    @router.get("/retro", summary="Two cycles compared: scores, hit rates, revisions, "
                                  "calibration (okr retro A B [--team]).")
    def retro(a: str, b: str, team: str | None = None,
              authorization: str | None = Header(None)) -> Any:
        from okr.cli.report import retro_of

        caller(authorization)
        now, known = guard(site.instants, None, None)
        return JsonAnswer(retro_of(guard(site.zoned_review, a, now, known),
                                   guard(site.zoned_review, b, now, known), team or None))


def _raise(exc: Exception) -> None:
    raise exc
