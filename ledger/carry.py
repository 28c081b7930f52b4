"""`okr cycle carry FROM TO`: copy a cycle's objectives and (unfinished) key results into the
next cycle, each new item recording the one it was carried from (domain/carry.py).

All or nothing: every new item is decided first, then all are saved in one transaction. An
item already carried into TO (a creation event there names it in `carried_from`) is not
carried again, so carrying twice writes nothing the second time.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from okr.domain.base import utc_now
from okr.domain.cards import kpi_now, measure_key_result
from okr.domain.carry import (
    carried_key,
    carries_objective,
    check_carry,
    check_carry_effective,
    unfinished,
)
from okr.domain.errors import DomainError
from okr.domain.key_result import KeyResult
from okr.domain.objective import Objective
from okr.domain.periods import Window
from okr.ledger.app import ConcurrencyError, OkrLedger
from okr.ledger.views import (
    check_ins,
    key_results_of,
    latest_until,
    objectives_of,
    readings,
    scan,
)


@dataclass(frozen=True)
class Carried:
    """One item of FROM and its copy in TO; `new` is False when an earlier carry made it.
    `parent_cycle` names the cycle of a new objective copy's parent when that is not TO (its
    parent was not carried): still aligned to it, it counts in no roll-up of that cycle."""

    kind: str  # objective or key_result
    origin: str
    key: str
    new: bool
    parent: str | None = None
    parent_cycle: str | None = None


def _progress_at(app: OkrLedger, kr: KeyResult, window: Window, at: datetime) -> float | None:
    """The key result's progress at `at`: its latest check-in then, or its KPI's reading."""
    plan = {"kind": kr.kind, "start": kr.start, "target": kr.target,
            "target_high": kr.target_high, "tolerance": kr.tolerance, "phases": kr.phases}
    kpi = None if kr.kpi is None else app.kpi(kr.kpi)
    return measure_key_result(
        plan, window, at, latest_until(check_ins(app, kr), "effective_at", at, window.end),
        None if kpi is None else kpi_now(
            kpi.definition(), latest_until(readings(app, kpi), "observed_at", at, window.end,
                                           kpi.in_force_since), at)
    )["progress"]


def _carried_before(app: OkrLedger, target: str) -> dict[tuple[str, str], str]:
    """(kind, origin key) → key of the item already carried from it into `target`."""
    found: dict[tuple[str, str], str] = {}
    for kind, cls in (("objective", Objective.ObjectiveAdded),
                      ("key_result", KeyResult.KeyResultAdded)):
        for e in scan(app, [cls]):
            if e.cycle == target and e.carried_from is not None:
                found[(kind, e.carried_from)] = e.key
    return found


def carry(app: OkrLedger, source: str, target: str, *, unfinished_only: bool = False,
          reason: str | None = None, effective: datetime | None = None) -> list[Carried]:
    """Carry `source`'s objectives (not abandoned ones) and their live key results into
    `target`; with `unfinished_only`, only the key results unfinished at the end of `source`
    (or now, if earlier) and the objectives holding one. Plan copied as it stands now (start,
    target, kind, unit, weight, tolerance, KPI link; phased targets belong to their cycle's
    dates and are not copied); initiatives and check-ins stay with the origin. The copies are
    in force as any new plan item of `target` (from its start while it is in planning), or from
    `effective` (with a reason; not before `target` starts, not in the future)."""
    who = app.principal
    src, dst = app.cycle(source), app.cycle(target)
    check_carry(src.key, src.window, dst.key, dst.window)
    dst.check_open("carrying items into it")
    check_carry_effective(effective, dst.key, dst.window)
    at = min(utc_now(), src.end)
    before = _carried_before(app, dst.key)
    plan: list[tuple[Carried, Any]] = []
    keys: dict[str, str] = {}  # origin objective → its key in TO (carried now or before)
    chosen: list[tuple[Objective, list[KeyResult]]] = []
    for obj in objectives_of(app, src.key):
        krs = key_results_of(app, obj.key)
        open_ = [unfinished(_progress_at(app, kr, src.window, at)) for kr in krs]
        if not carries_objective(obj.status, unfinished_only, open_):
            continue
        krs = [kr for kr, u in zip(krs, open_, strict=True) if u or not unfinished_only]
        keys[obj.key] = before.get(("objective", obj.key)) or carried_key(
            obj.key, obj.carried_from, src.key, dst.key)
        chosen.append((obj, krs))
    eff = app._in_force(dst, None, effective, reason, f"carrying {src.key} into {dst.key}")
    for obj, krs in chosen:
        new_key = keys[obj.key]
        if ("objective", obj.key) in before:
            plan.append((Carried("objective", obj.key, new_key, False), None))
        else:
            # Aligned to the parent's copy in TO when the parent is carried (now or before);
            # else still to the parent, in its own cycle, and the command says so.
            parent = (keys.get(obj.parent) or before.get(("objective", obj.parent))
                      or obj.parent) if obj.parent else None
            above = None if parent is None or parent in keys.values() \
                else app.objective(parent).cycle
            plan.append((Carried("objective", obj.key, new_key, True, parent,
                                 None if above == dst.key else above), Objective.add(
                new_key, obj.title, dst.key, obj.owner, obj.team, obj.level, obj.okr_type,
                obj.description, parent, who, plan_revision=dst.plan_committed, reason=reason,
                effective_at=eff, carried_from=obj.key)))
        for kr in krs:
            if ("key_result", kr.key) in before:
                plan.append((Carried("key_result", kr.key, before[("key_result", kr.key)],
                                     False), None))
                continue
            copy = KeyResult.add(
                carried_key(kr.key, kr.carried_from, src.key, dst.key), kr.title, new_key,
                dst.key, kr.kind, kr.start, kr.target, kr.target_high, kr.unit, kr.weight, [],
                dst.window, who, plan_revision=dst.plan_committed, reason=reason,
                tolerance=kr.tolerance, effective_at=eff, carried_from=kr.key)
            if kr.kpi is not None and not app.kpi(kr.kpi).retired:
                copy.link_kpi(kr.kpi, who, effective_at=eff)
            plan.append((Carried("key_result", kr.key, copy.key, True), copy))
    made = [agg for _, agg in plan if agg is not None]
    twice = {a.key for a in made if [b.key for b in made].count(a.key) > 1}
    if twice:
        raise DomainError(f"two items would be carried under the same key ({min(twice)}); "
                          "nothing was carried")
    for agg in made:
        kind = "objective" if isinstance(agg, Objective) else "key_result"
        if app.exists(kind, agg.key):
            raise DomainError(f"{kind.replace('_', ' ')} {agg.key!r} already exists and was "
                              f"not carried from {agg.carried_from} into {dst.key}; nothing "
                              "was carried")
    if made:
        try:
            app.save_once(*made)
        except IntegrityError as exc:  # another writer took one of the keys meanwhile
            app._forget(*(a.id for a in made))
            app._refuse_if_clock_behind(exc)
            raise ConcurrencyError(f"the ledger changed while {src.key} was being carried into "
                                   f"{dst.key}; nothing was carried — run it again") from None
    return [c for c, _ in plan]
