"""The API's writes: one POST per CLI write, each checked as the CLI checks it and recorded
through the ledger service as the signed-in user (web/writes.py).

A body holds what the command's arguments and options hold, by the options' names (`--no-parent`
is `no_parent`); numbers are JSON numbers or text read as the CLI reads it, times are text as
`--effective`/`--at` take it (the server's zone, OKR_TZ). Input is read by the CLI's own
parsers (cli/writes.py) and checked by the same ledger commands, so a refusal is the CLI's line.
Who may: plans (cycles, objectives, key results, KPI definitions) planners and admins;
check-ins and initiatives members of the key result's team too; KPI readings members who own
the KPI too (docs/web.md).
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

from okr.web import auth
from okr.web.auth import Principal
from okr.web.site import Site

# A JSON number or text in ASCII decimal; not true/false (which pydantic would read as 1 and 0).
Num = StrictInt | StrictFloat | StrictStr
EFFECTIVE = Field(None, description="When it took effect, if not when recorded (needs a "
                                    "reason; flagged in reviews).")
REASON = Field(None, description="Why (required for plan revisions).")
ON_BEHALF_OF = Field(None, description="Whom the caller records it for (a person, a team; "
                                       "1–100 characters), as --on-behalf-of: kept beside the "
                                       "actor, who is always the caller. Left out: nobody.")


class _Body(BaseModel):
    """Unknown members (an `actor`, say) are ignored: the actor is the signed-in user."""

    on_behalf_of: str | None = ON_BEHALF_OF


class CycleAdd(_Body):
    key: str = Field(description="2026-Q4, 2026-H2, 2026 or a custom name.")
    start: str | None = Field(None, description="Custom start (organisation's zone).")
    end: str | None = Field(None, description="Custom end, exclusive.")


class Nothing(_Body):
    pass


class Reason(_Body):
    reason: str | None = REASON


class Carry(_Body):
    to: str = Field(description="A later cycle, already added.")
    unfinished_only: bool = False
    effective: str | None = Field(None, description="When the copies took effect, if not when "
                                  "recorded (not before the later cycle starts; needs a "
                                  "reason; flagged in reviews).")
    reason: str | None = REASON


class ObjectiveAdd(_Body):
    key: str
    title: str
    cycle: str
    owner: str | None = Field(None, description="Default: the signed-in user's actor.")
    team: str = ""
    level: str = "team"
    type: str = "committed"
    description: str = ""
    parent: str | None = None
    effective: str | None = EFFECTIVE
    reason: str | None = REASON


class ObjectiveUpdate(_Body):
    title: str | None = None
    description: str | None = None
    owner: str | None = None
    team: str | None = None
    parent: str | None = None
    no_parent: bool = False
    type: str | None = None
    effective: str | None = EFFECTIVE
    reason: str | None = REASON


class Dated(_Body):
    reason: str | None = REASON
    effective: str | None = EFFECTIVE


class ObjectiveClose(Dated):
    status: str = Field(description="achieved or missed.")


class KeyResultAdd(_Body):
    key: str
    title: str
    objective: str
    kind: str = "increase"
    start: Num = "0"
    target: Num = "1"
    target_high: Num | None = None
    unit: str = ""
    weight: Num = "1"
    phase: list[str] = Field([], description="Phased targets, DATE=VALUE.")
    kpi: str | None = None
    tolerance: Num | None = None
    effective: str | None = EFFECTIVE
    reason: str | None = REASON


class KeyResultRevise(_Body):
    start: Num | None = None
    target: Num | None = None
    target_high: Num | None = None
    weight: Num | None = None
    phase: list[str] = Field([], description="Phased targets, DATE=VALUE.")
    clear_phases: bool = False
    tolerance: Num | None = None
    clear_tolerance: bool = False
    effective: str | None = EFFECTIVE
    reason: str | None = REASON


class KeyResultMove(Dated):
    objective: str


class KpiLink(Dated):
    kpi: str


class InitiativeAdd(_Body):
    key: str
    title: str
    kr: str = Field(description="The key result it moves.")
    owner: str | None = None
    effective: str | None = EFFECTIVE
    reason: str | None = REASON


class InitiativeStatus(Dated):
    status: str = Field(description="planned, in-progress, done or dropped.")


class KpiAdd(_Body):
    key: str
    name: str
    unit: str = ""
    direction: str = "up"
    target: Num | None = None
    green: Num
    red: Num
    cadence: str = "weekly"
    tag: list[str] = []
    owner: str | None = None
    effective: str | None = EFFECTIVE
    reason: str | None = REASON


class KpiUpdate(_Body):
    name: str | None = None
    unit: str | None = None
    direction: str | None = None
    target: Num | None = None
    green: Num | None = None
    red: Num | None = None
    cadence: str | None = None
    tag: list[str] = Field([], description="Replace the tags.")
    owner: str | None = None
    reason: str | None = REASON


class KpiReading(_Body):
    value: Num
    at: str | None = Field(None, description="Observed at (default now).")
    source: str = "web"
    id: str | None = Field(None, description="Reading id: a reading with an id recorded "
                                             "before is not recorded again.")


# ---- reading input as the CLI does ------------------------------------------------------

def number_text(value: Num) -> str:
    """A number as the CLI's parser reads it back exactly (repr keeps every digit of a float,
    str every digit of an integer)."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int) else repr(value)


def num(value: Num, what: str) -> float:
    from okr.cli.writes import number
    return number(number_text(value), what)


def opt(value: Num | None, what: str) -> float | None:
    return None if value is None else num(value, what)


# A write: (the item it is about, the work given the user's ledger).
Work = tuple[str, Callable[[Any], object]]


def _plans(site: Site, who: Principal, key: str, body: Any) -> None:
    auth.check_may_plan(who)


def _kr_team(site: Site, who: Principal, key: str, body: Any) -> None:
    """Initiatives: planners, admins, and members of the key result's team."""
    ledger = site.state.ledger
    kr = body.kr if isinstance(body, InitiativeAdd) else ledger.initiative(key).key_result
    auth.check_may_work_on(who, kr, site.kr_team(kr), "work on initiatives of")


def _kpi_owner(site: Site, who: Principal, key: str, body: Any) -> None:
    auth.check_may_record_reading(who, key, site.state.ledger.kpi(key).owner)


def write_routes(router: APIRouter, site: Site, caller: Callable[[str | None], Principal],
                 guard: Callable[..., Any], post: Callable[..., Any]) -> None:
    """Add every write: `caller` reads the bearer token, `guard` turns okr's failures into
    problems, `post(request, who, kind, item, work, idempotency_key, on_behalf_of)` records
    one."""
    st = site.state

    def when(text: str | None) -> Any:
        from okr.cli.writes import when as parse
        return parse(st, text)

    def phases(items: list[str]) -> Any:
        from okr.cli.writes import phases as parse
        return parse(st, items)

    def route(path: str, model: type[_Body], summary: str,
              may: Callable[[Site, Principal, str, Any], None],
              prepare: Callable[[str, Any], Work], on_item: bool = True,
              kind: str = "events") -> None:
        """One POST: read the caller, the body (as the CLI reads it), check the role, record;
        `kind`: how its answer is built (web/writes.py ANSWERS)."""
        async def run(request: Request, key: str, body: Any, authorization: str | None,
                      idempotency_key: str | None) -> Any:
            who = caller(authorization)
            item, work = guard(prepare, key, body)
            guard(may, site, who, item, body)
            return await post(request, who, kind, item, work, idempotency_key,
                              body.on_behalf_of)

        if on_item:
            async def on(request: Request, key: str, body: model,  # type: ignore[valid-type]
                         authorization: str | None = Header(None),
                         idempotency_key: str | None = Header(None)) -> Any:
                return await run(request, key, body, authorization, idempotency_key)
            router.post(path, status_code=201, summary=summary)(on)
        else:
            async def new(request: Request, body: model,  # type: ignore[valid-type]
                          authorization: str | None = Header(None),
                          idempotency_key: str | None = Header(None)) -> Any:
                return await run(request, body.key, body, authorization,  # type: ignore[attr-defined]
                                 idempotency_key)
            router.post(path, status_code=201, summary=summary)(new)

    # ---- cycles -----------------------------------------------------------------------
    def cycle_add(key: str, b: CycleAdd) -> Work:
        from okr.cli.times import parse_when
        tz = st.settings.org_timezone
        start = None if b.start is None else parse_when(b.start, tz)
        end = None if b.end is None else parse_when(b.end, tz)
        return key, lambda L: L.add_cycle(key, start, end)

    route("/cycles", CycleAdd, "Add a cycle in planning (okr cycle add).", _plans, cycle_add,
          on_item=False)
    route("/cycles/{key}/commit", Nothing, "Commit a cycle's plan (okr cycle commit).", _plans,
          lambda key, b: (key, lambda L: L.commit_cycle(key)))
    route("/cycles/{key}/close", Reason, "Close a cycle (okr cycle close).", _plans,
          lambda key, b: (key, lambda L: L.close_cycle(key, b.reason)))
    route("/cycles/{key}/reopen", Reason, "Reopen a closed cycle (okr cycle reopen).", _plans,
          lambda key, b: (key, lambda L: L.reopen_cycle(key, b.reason)))

    def carry(key: str, b: Carry) -> Work:
        from okr.ledger.carry import carry as run
        eff = when(b.effective)
        return b.to, lambda L: run(L, key, b.to, unfinished_only=b.unfinished_only,
                                   reason=b.reason, effective=eff)

    route("/cycles/{key}/carry", Carry, "Carry a cycle's objectives and key results into a "
          "later cycle (okr cycle carry).", _plans, carry)

    # ---- objectives -------------------------------------------------------------------
    def objective_add(key: str, b: ObjectiveAdd) -> Work:
        eff = when(b.effective)
        return key, lambda L: L.add_objective(
            key, b.title, b.cycle, b.owner or L.principal, b.team, b.level, b.type,
            b.description, b.parent, b.reason, effective=eff)

    def objective_update(key: str, b: ObjectiveUpdate) -> Work:
        from okr.cli.writes import not_both
        not_both(b.parent is not None, b.no_parent, "--parent", "--no-parent")
        eff = when(b.effective)
        return key, lambda L: L.update_objective(
            key, title=b.title, description=b.description, owner=b.owner, team=b.team,
            parent=b.parent, clear_parent=b.no_parent, okr_type=b.type, reason=b.reason,
            effective=eff)

    def dated(do: Callable[..., object]) -> Callable[[str, Any], Work]:
        def prepare(key: str, b: Any) -> Work:
            eff = when(b.effective)
            return key, lambda L: do(L, key, b, eff)
        return prepare

    route("/objectives", ObjectiveAdd, "Add an objective (okr objective add); "
          "`before_in_force` and `warning` say when it counts only once its cycle is in force.",
          _plans, objective_add, on_item=False, kind="warned")
    route("/objectives/{key}/update", ObjectiveUpdate, "Retitle, change owner/team, re-align "
          "or change type (okr objective update).", _plans, objective_update)
    route("/objectives/{key}/abandon", Dated, "Abandon an objective (okr objective abandon).",
          _plans, dated(lambda L, k, b, e: L.abandon_objective(k, b.reason, effective=e)))
    route("/objectives/{key}/close", ObjectiveClose, "Close an objective as achieved or missed "
          "(okr objective close).", _plans, dated(
              lambda L, k, b, e: L.close_objective(k, b.status, b.reason, effective=e)))

    # ---- key results ------------------------------------------------------------------
    def kr_add(key: str, b: KeyResultAdd) -> Work:
        args = dict(start=num(b.start, "start"), target=num(b.target, "target"),
                    target_high=opt(b.target_high, "target-high"), unit=b.unit,
                    weight=num(b.weight, "weight"), phases=phases(b.phase), kpi=b.kpi,
                    reason=b.reason, effective=when(b.effective),
                    tolerance=opt(b.tolerance, "tolerance"))
        return key, lambda L: L.add_key_result(key, b.title, b.objective, b.kind, **args)

    def kr_revise(key: str, b: KeyResultRevise) -> Work:
        from okr.cli.writes import not_both
        not_both(bool(b.phase), b.clear_phases, "--phase", "--clear-phases")
        not_both(b.tolerance is not None, b.clear_tolerance, "--tolerance",
                 "--clear-tolerance")
        args = dict(start=opt(b.start, "start"), target=opt(b.target, "target"),
                    target_high=opt(b.target_high, "target-high"),
                    weight=opt(b.weight, "weight"),
                    phases=[] if b.clear_phases else (phases(b.phase) or None),
                    reason=b.reason, tolerance=opt(b.tolerance, "tolerance"),
                    clear_tolerance=b.clear_tolerance, effective=when(b.effective))
        return key, lambda L: L.revise_key_result(key, **args)

    route("/key-results", KeyResultAdd, "Add a key result (okr kr add); `before_in_force` and "
          "`warning` say when it counts only once its objective or cycle is in force.", _plans,
          kr_add, on_item=False, kind="warned")
    route("/key-results/{key}/revise", KeyResultRevise, "Revise start, target, weight, phased "
          "targets or tolerance (okr kr revise).", _plans, kr_revise)
    route("/key-results/{key}/move", KeyResultMove, "Move a key result to another objective "
          "(okr kr move).", _plans, dated(
              lambda L, k, b, e: L.move_key_result(k, b.objective, b.reason, effective=e)))
    route("/key-results/{key}/remove", Dated, "Remove a key result from the plan (okr kr "
          "remove).", _plans, dated(
              lambda L, k, b, e: L.remove_key_result(k, b.reason, effective=e)))
    route("/key-results/{key}/link", KpiLink, "Take the key result's value from a KPI (okr kr "
          "link).", _plans, dated(lambda L, k, b, e: L.link_kpi(k, b.kpi, b.reason,
                                                                 effective=e)))
    route("/key-results/{key}/unlink", Dated, "Go back to manual check-ins (okr kr unlink).",
          _plans, dated(lambda L, k, b, e: L.unlink_kpi(k, b.reason, effective=e)))

    # ---- initiatives ------------------------------------------------------------------
    def initiative_add(key: str, b: InitiativeAdd) -> Work:
        eff = when(b.effective)
        return key, lambda L: L.add_initiative(key, b.title, b.kr, b.owner, effective=eff,
                                               reason=b.reason)

    route("/initiatives", InitiativeAdd, "Add an initiative for a key result (okr initiative "
          "add).", _kr_team, initiative_add, on_item=False)
    route("/initiatives/{key}/status", InitiativeStatus, "Set an initiative's status (okr "
          "initiative status).", _kr_team, dated(
              lambda L, k, b, e: L.set_initiative_status(k, b.status, b.reason, effective=e)))

    # ---- KPIs -------------------------------------------------------------------------
    def kpi_add(key: str, b: KpiAdd) -> Work:
        args = dict(unit=b.unit, direction=b.direction, target=opt(b.target, "target"),
                    green=num(b.green, "green"), red=num(b.red, "red"), cadence=b.cadence,
                    tags=b.tag, owner=b.owner, effective=when(b.effective), reason=b.reason)
        return key, lambda L: L.add_kpi(key, b.name, **args)

    def kpi_update(key: str, b: KpiUpdate) -> Work:
        from okr.cli.writes import kpi_changes
        changes = kpi_changes(name=b.name, unit=b.unit, direction=b.direction,
                              cadence=b.cadence, owner=b.owner,
                              target=opt(b.target, "target"), green=opt(b.green, "green"),
                              red=opt(b.red, "red"), tags=b.tag)
        return key, lambda L: L.update_kpi(key, changes, b.reason)

    def kpi_record(key: str, b: KpiReading) -> Work:
        value, at = num(b.value, "value"), when(b.at)
        return key, lambda L: L.record_reading(key, value, at, b.source, b.id)

    route("/kpis", KpiAdd, "Define a KPI (okr kpi add).", _plans, kpi_add, on_item=False)
    route("/kpis/{key}/update", KpiUpdate, "Change a KPI's definition (okr kpi update).",
          _plans, kpi_update)
    route("/kpis/{key}/readings", KpiReading, "Record a KPI reading (okr kpi record); "
          "`before_in_force` and `warning` say when it was observed before its KPI was in "
          "force (it counts in no as-of view).", _kpi_owner, kpi_record, kind="warned")
    route("/kpis/{key}/retire", Reason, "Retire a KPI (okr kpi retire).", _plans,
          lambda key, b: (key, lambda L: L.retire_kpi(key, b.reason)))

