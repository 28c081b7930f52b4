"""Current state read straight from the event store, for `okr show` and the Python API."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from okr.domain import scoring
from okr.domain.cards import kpi_now, measure_key_result, measure_objective
from okr.domain.cycle import Cycle
from okr.domain.initiative import Initiative
from okr.domain.key_result import KeyResult
from okr.domain.kpi import Kpi
from okr.domain.objective import Objective
from okr.domain.shapes import CheckIn, KpiNow, Reading
from okr.domain.vocab import CycleStatus
from okr.ledger.app import OkrLedger

_PAGE = 10_000


def scan(app: OkrLedger, event_classes: list[type]) -> list[Any]:
    """Every stored event of these classes, in position order (the store filters by topic)."""
    topics = [get_topic(c) for c in event_classes]
    found: list[Any] = []
    start: int | None = None
    while True:
        page = app.recorder.select_notifications(start, _PAGE, topics=topics,
                                                 inclusive_of_start=False)
        found.extend(app.mapper.to_domain_event(n) for n in page)
        if len(page) < _PAGE:
            return found
        start = page[-1].id


def check_ins(app: OkrLedger, kr: KeyResult) -> list[CheckIn]:
    """Every check-in of a key result, read from its events (the aggregate keeps only the
    latest), by effective time (of equal ones, the earlier recorded first)."""
    found: list[CheckIn] = [
        {"value": e.value, "confidence": e.confidence, "note": e.note,
         "effective_at": e.effective_at, "actor": e.actor, "on_behalf_of": e.on_behalf_of,
         "source": e.source, "recorded_at": e.timestamp}
        for e in app.events.get(kr.id, lte=kr.version)
        if isinstance(e, KeyResult.CheckInRecorded)]
    return sorted(found, key=lambda c: c["effective_at"])


def readings(app: OkrLedger, kpi: Kpi) -> list[Reading]:
    """Every reading of a KPI, read from its events (the aggregate keeps only the latest
    two), by observed time (of equal ones, the earlier recorded first)."""
    found: list[Reading] = [
        {"value": e.value, "observed_at": e.observed_at, "source": e.source,
         "recorded_at": e.timestamp}
        for e in app.events.get(kpi.id, lte=kpi.version)
        if isinstance(e, Kpi.KpiReadingRecorded)]
    return sorted(found, key=lambda r: r["observed_at"])


def key_results_of(app: OkrLedger, objective: str) -> list[KeyResult]:
    """The live key results currently under an objective."""
    candidates = {e.originator_id for e in scan(
        app, [KeyResult.KeyResultAdded, KeyResult.KeyResultMoved])  # type: ignore[attr-defined]  # @event classes: made at runtime
        if e.objective == objective}
    krs: list[KeyResult] = [app.repository.get(i) for i in candidates]
    return sorted((kr for kr in krs if kr.objective == objective and not kr.removed),
                  key=lambda kr: kr.key)


def objectives_of(app: OkrLedger, cycle: str) -> list[Objective]:
    """The objectives of a cycle."""
    ids = [e.originator_id for e in scan(app, [Objective.ObjectiveAdded])
           if e.cycle == cycle]
    return sorted((app.repository.get(i) for i in ids), key=lambda o: o.key)


def all_of(app: OkrLedger, created: type) -> list[Any]:
    """Every aggregate created by this event class, by key."""
    return sorted((app.repository.get(e.originator_id) for e in scan(app, [created])),
                  key=lambda a: a.key)


def committed_at(app: OkrLedger, cycle: Cycle) -> datetime | None:
    """When the cycle's plan was committed (recorded), or None while it never was."""
    committed = Cycle.PlanCommitted  # type: ignore[attr-defined]  # @event classes: made at runtime
    return next((e.timestamp for e in app.events.get(cycle.id, lte=cycle.version)
                 if isinstance(e, committed)), None)


def cycle_view(app: OkrLedger, cycle: Cycle, now: datetime) -> dict[str, Any]:
    """A cycle: window, the zone its days are in, status, when its plan was committed,
    elapsed share, and its objectives' keys (as `okr list cycles --json` names them)."""
    return {"kind": "cycle", "key": cycle.key, "start": cycle.start, "end": cycle.end,
            "timezone": cycle.timezone, "status": cycle.status,
            "committed_at": committed_at(app, cycle),
            "elapsed": cycle.window.fraction_elapsed(now),
            "objectives": [o.key for o in objectives_of(app, cycle.key)],
            "version": cycle.version}


def _kpi_now(kpi: Kpi, now: datetime) -> KpiNow:
    """The KPI's latest value, health and staleness at `now` (its definition holds the
    direction, thresholds and cadence these are judged by)."""
    return kpi_now(kpi.definition(), kpi.latest_reading(), now)


def kpi_view(kpi: Kpi, now: datetime, app: OkrLedger | None = None) -> dict[str, Any]:
    """A KPI: definition, latest value, health and staleness (and, given the ledger to read
    them from, its readings)."""
    latest = _kpi_now(kpi, now)
    view: dict[str, Any] = {
        "kind": "kpi", "key": kpi.key, **kpi.definition(), "retired": kpi.retired,
        "value": latest["value"], "observed_at": latest["observed_at"],
        "health": latest["health"], "stale": latest["stale"], "version": kpi.version}
    if app is not None:
        view["readings"] = readings(app, kpi)
    return view


def latest_until(items: Sequence[Mapping[str, Any]], field: str, at: datetime,
                 end: datetime | None = None, since: datetime | None = None) -> Any:
    """The last of `items` (sorted by `field`, of equal times the later recorded last) at or
    before `at` and before `end` (a cycle's end is not in it); none if that one is before
    `since` (a KPI's reading observed before the KPI was in force counts in no view)."""
    last = next((i for i in reversed(items)
                 if i[field] <= at and (end is None or i[field] < end)), None)
    return None if last is None or (since is not None and last[field] < since) else last


def is_closed(cycle: Cycle) -> bool:
    """Whether the cycle is closed now (its tracks say `final`, even before its end)."""
    return cycle.status == CycleStatus.CLOSED


def kr_view(app: OkrLedger, kr: KeyResult, now: datetime,
            with_check_ins: bool = True) -> dict[str, Any]:
    """A key result: plan, current value, progress 0–1, expected progress, status (and its
    check-ins). Its value is the one it had at the earlier of `now` and its cycle's end: a
    finished cycle's key result keeps the value it ended the cycle with."""
    cycle = app.cycle_of_kr(kr)
    kpi = app.kpi(kr.kpi) if kr.kpi else None
    plan = {"kind": kr.kind, "start": kr.start, "target": kr.target,
            "target_high": kr.target_high, "tolerance": kr.tolerance, "phases": kr.phases}
    end = cycle.window.end
    until = min(now, end)
    if end <= now:  # the aggregates keep the latest only: read the events
        check_in = latest_until(check_ins(app, kr), "effective_at", now, end)
        kpi_then = None if kpi is None else kpi_now(
            kpi.definition(), latest_until(readings(app, kpi), "observed_at", now, end,
                                           kpi.in_force_since), until)
    else:
        check_in, kpi_then = kr.latest_check_in(), None if kpi is None else _kpi_now(kpi, now)
    m = measure_key_result(plan, cycle.window, now, check_in, kpi_then, is_closed(cycle))
    view: dict[str, Any] = {
        "kind": "key_result", "key": kr.key, "title": kr.title, "objective": kr.objective,
        "cycle": cycle.key, "kr_kind": kr.kind, "start": kr.start, "target": kr.target,
        "target_high": kr.target_high, "tolerance": kr.tolerance, "unit": kr.unit,
        "weight": kr.weight,
        "phases": kr.phases, "kpi": kr.kpi, "removed": kr.removed,
        "carried_from": kr.carried_from,
        "value": m["value"], "progress": m["progress"], "expected": m["expected"],
        "status": m["status"], "confidence": m["confidence"], "kpi_health": m["kpi_health"],
        "version": kr.version}
    if with_check_ins:
        view["check_ins"] = check_ins(app, kr)
    return view


def objective_view(app: OkrLedger, obj: Objective, now: datetime) -> dict[str, Any]:
    """An objective with its key results, weighted score, expectation and grade."""
    krs = [kr_view(app, kr, now, with_check_ins=False) for kr in key_results_of(app, obj.key)]
    cycle = app.cycle(obj.cycle)
    return {
        "kind": "objective", "key": obj.key, "title": obj.title,
        "description": obj.description, "cycle": obj.cycle, "owner": obj.owner,
        "team": obj.team, "level": obj.level, "okr_type": obj.okr_type, "parent": obj.parent,
        "status": obj.status, "carried_from": obj.carried_from,
        **measure_objective(obj.okr_type, krs,
                            scoring.final(cycle.window, now, is_closed(cycle))),
        "success_threshold": scoring.success_threshold(obj.okr_type),
        "key_results": krs, "version": obj.version}


def initiative_view(initiative: Initiative) -> dict[str, Any]:
    """An initiative and its status."""
    return {"kind": "initiative", "key": initiative.key, "title": initiative.title,
            "key_result": initiative.key_result, "owner": initiative.owner,
            "status": initiative.status, "version": initiative.version}


def view(app: OkrLedger, kind: str, agg: Any, now: datetime) -> dict[str, Any]:
    """The view of any aggregate, by kind."""
    if kind == "cycle":
        return cycle_view(app, agg, now)
    if kind == "objective":
        return objective_view(app, agg, now)
    if kind == "key_result":
        return kr_view(app, agg, now)
    if kind == "kpi":
        return kpi_view(agg, now, app)
    return initiative_view(agg)


def trend(kpi: Kpi) -> str | None:
    """'better', 'worse' or 'flat' from the previous observation's reading to the latest's (by
    observed time, whatever order they were recorded in; of one time, the correction); none
    unless both count (one observed before the KPI was in force counts in no view)."""
    last = [r for r in kpi.last_readings if kpi.counts_at(r["observed_at"])]
    if len(last) < 2 or last[0]["observed_at"] == last[1]["observed_at"]:
        return None
    delta = last[1]["value"] - last[0]["value"]
    if delta == 0:
        return "flat"
    return "better" if (delta > 0) == (kpi.direction == "up") else "worse"


def kpi_list(app: OkrLedger, now: datetime) -> list[dict[str, Any]]:
    """Every KPI with its latest value, trend, health and staleness."""
    return [{**kpi_view(k, now), "trend": trend(k), "readings": k.reading_count}
            for k in all_of(app, Kpi.KpiAdded)]  # type: ignore[attr-defined]  # @event classes: made at runtime
