"""Quarter reviews: plan as committed vs actual, revisions, progress over time, calibration,
KPI guardrails — all computed from the facts with the reference semantics of history.py.
"""

import bisect
import operator
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from okr.domain import scoring
from okr.domain.events import MEASUREMENTS
from okr.domain.history import (
    Fact,
    World,
    position_of,
    scorecard,
    world_at,
    worlds_at,
)
from okr.domain.periods import Window, local_weeks, week_starts, zone
from okr.domain.rollup import summaries
from okr.domain.trail import changes
from okr.domain.vocab import Health, KrKind, ObjectiveStatus

_INSTANT = timedelta(microseconds=1)
BACKDATED_AFTER = timedelta(days=1)  # recorded more than a day after it was effective
GUARDRAIL_TAG = "guardrail"
_EPS = 1e-9
_OBSERVED = operator.itemgetter("observed_at")
_OBJECTIVE_KEY = operator.itemgetter("objective", "key")
_RECORDED_FROM = operator.itemgetter("recorded_from")
_KEY = operator.itemgetter("key")
_effective_at = operator.attrgetter("effective_at")


class UnknownCycle(LookupError):
    """The cycle did not exist at the review's moment."""


@dataclass(frozen=True)
class ReviewPoint:
    """The moment a review is taken: valid time and transaction time."""

    as_of: datetime
    known_at: datetime


def easing(kind: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """True when a revision makes the key result easier to achieve (moves the goalposts in)."""
    if kind in (KrKind.INCREASE, KrKind.MILESTONE, KrKind.STAY_ABOVE):
        return bool(after["target"] < before["target"])
    if kind in (KrKind.DECREASE, KrKind.STAY_BELOW):
        return bool(after["target"] > before["target"])
    if kind == KrKind.RANGE:
        return bool(after["target"] < before["target"]
                    or (after["target_high"] or 0) > (before["target_high"] or 0))
    return False


def _cycle_keys(world: World, cycle: str) -> tuple[set[str], set[str]]:
    objectives = {k for k, o in world.objectives.items() if o["cycle"] == cycle}
    krs = {k for k, kr in world.key_results.items() if kr["objective"] in objectives}
    return objectives, krs


def plan_vs_actual(facts: Sequence[Fact], cycle: str, committed_at: datetime | None,
                   final: World, t_eval: datetime,
                   removals: Mapping[str, dict[str, Any]] | None = None,
                   calls: Mapping[str, dict[str, Any]] | None = None,
                   abandoned: Mapping[str, dict[str, Any]] | None = None
                   ) -> list[dict[str, Any]]:
    """Per objective: the plan as committed (its type too: `planned_type`), the final plan
    (`final`, the world at t_eval), values, scores and grades — none for an objective
    abandoned by then, which says when, who and why (`abandoned`, by objective:
    `abandonments`); the key results of the plan removed since, each with its plan
    and, from its removal's revision (`removals`, by key result: `revisions`), its value,
    progress and expectation when the removal took effect; and the team's recorded close of
    the objective (`calls`, by objective: `team_calls`) beside its computed grade."""
    removals = removals or {}
    calls = calls or {}
    # The plan is targets and structure: measurements play no part in it.
    plan = world_at((f for f in facts if f.type not in MEASUREMENTS), committed_at,
                    committed_at) if committed_at else World()
    plan_objs, plan_krs = _cycle_keys(plan, cycle)
    cards = [c for c in scorecard(final, t_eval) if c["cycle"] == cycle]
    final_krs = {kr["key"] for c in cards for kr in c["key_results"]}
    initiatives: dict[str, list[dict[str, Any]]] = {}  # by key result, each list by key
    for i in sorted(final.initiatives.values(), key=lambda i: i["key"]):
        initiatives.setdefault(i["key_result"], []).append(
            {"key": i["key"], "title": i["title"], "status": i["status"]})
    planned_under: dict[str, list[str]] = {}  # the plan's key results, by objective
    for k in plan_krs:
        planned_under.setdefault(plan.key_results[k]["objective"], []).append(k)
    abandoned = abandoned or {}
    out = []
    for card in cards:
        if card["status"] == ObjectiveStatus.ABANDONED:
            # No longer pursued: its score is said, never graded (as the team summaries and
            # roll-ups leave it out).
            card = {**card, "succeeded": None}
        krs = []
        for kr in card["key_results"]:
            planned = plan.key_results.get(kr["key"]) if kr["key"] in plan_krs else None
            krs.append({**kr,
                        "initiatives": list(initiatives.get(kr["key"], [])),
                        "planned_target": None if planned is None else planned["target"],
                        "planned_target_high": None if planned is None
                        else planned["target_high"],
                        "planned_weight": None if planned is None else planned["weight"],
                        "added_after_commit": committed_at is not None and planned is None,
                        # the objective the plan put it under, when it was moved since
                        "moved_from": None if planned is None
                        or planned["objective"] == card["key"] else planned["objective"],
                        "carried_from": final.key_results[kr["key"]]["carried_from"],
                        "target_changed": planned is not None
                        and (planned["target"], planned["target_high"])
                        != (kr["target"], kr["target_high"])})
        removed = sorted(k for k in planned_under.get(card["key"], ()) if k not in final_krs)
        call = calls.get(card["key"])
        planned_type = (plan.objectives[card["key"]]["okr_type"] if card["key"] in plan_objs
                        else None)
        out.append({**card, "key_results": krs, "in_plan": card["key"] in plan_objs,
                    "planned_type": planned_type,
                    "type_changed": planned_type is not None
                    and planned_type != card["okr_type"],
                    "abandoned": abandoned.get(card["key"]),
                    "added_after_commit": committed_at is not None
                    and card["key"] not in plan_objs,
                    "carried_from": final.objectives[card["key"]]["carried_from"],
                    "removed_after_commit": removed,
                    "removed_key_results": [_removed(plan.key_results[k], final.key_results[k],
                                                     removals.get(k)) for k in removed],
                    "closed": None if call is None else {
                        **call, "disagrees": None if card["succeeded"] is None
                        else (call["status"] == ObjectiveStatus.ACHIEVED) != card["succeeded"]},
                    "success_threshold": scoring.success_threshold(card["okr_type"])})
    return out


def _removed(planned: dict[str, Any], last: dict[str, Any], removal: dict[str, Any] | None
             ) -> dict[str, Any]:
    """A key result of the plan removed after commit: its plan, the targets it was removed
    with, and its value, progress and expectation when the removal took effect (`removal`:
    its revision, None if the review does not list it)."""
    def then(name: str) -> Any:
        return None if removal is None else removal[name]
    return {"key": last["key"], "title": last["title"], "kind": last["kind"],
            "unit": last["unit"], "start": last["start"],
            "planned_target": planned["target"], "planned_target_high": planned["target_high"],
            "planned_weight": planned["weight"], "target": last["target"],
            "target_high": last["target_high"], "weight": last["weight"], "kpi": last["kpi"],
            "removed_at": then("effective_at"), "removal_recorded_at": then("at"),
            "actor": then("actor"), "on_behalf_of": then("on_behalf_of"),
            "reason": then("reason"), "value": then("value_then"),
            "progress": then("progress_then"), "expected": then("expected_then")}


def team_calls(facts: Sequence[Fact], final: World, cycle: str, point: ReviewPoint,
               end: datetime) -> dict[str, dict[str, Any]]:
    """The team's recorded call on each objective of the cycle: its close as achieved or
    missed (`okr objective close`), as known at the review's known_at. A close in force by
    the review's as_of counts; so does, in a review of the whole cycle (as of its end or
    later), a close that took effect after the end — the call a team types at its retro
    speaks for the quarter it judges. The call is shown beside the computed grade, never
    instead of it."""
    mine = {agg: key for agg, (table, key) in final.keys.items()
            if table == "objectives" and final.objectives[key]["cycle"] == cycle}
    whole = point.as_of >= end
    out: dict[str, dict[str, Any]] = {}
    for f in facts:
        if (f.type != "ObjectiveStatusChanged" or f.aggregate_id not in mine
                or f.recorded_at > point.known_at
                or f.data["status"] not in (ObjectiveStatus.ACHIEVED, ObjectiveStatus.MISSED)
                or (f.effective_at > point.as_of and not whole)):
            continue
        out[mine[f.aggregate_id]] = {
            "status": f.data["status"], "recorded_at": f.recorded_at,
            "effective_at": f.effective_at, "after_end": f.effective_at > end,
            "actor": f.actor, "on_behalf_of": f.on_behalf_of, "reason": f.reason}
    return out


def abandonments(facts: Sequence[Fact], final: World, cycle: str, t_eval: datetime,
                 known_at: datetime) -> dict[str, dict[str, Any]]:
    """Each objective of the cycle abandoned in `final` (the world at t_eval, as known at
    known_at): when its abandonment took effect and was recorded, who, for whom and why."""
    mine = {agg: key for agg, (table, key) in final.keys.items()
            if table == "objectives" and final.objectives[key]["cycle"] == cycle
            and final.objectives[key]["status"] == ObjectiveStatus.ABANDONED}
    out: dict[str, dict[str, Any]] = {}
    for f in facts:
        if (f.type == "ObjectiveStatusChanged" and f.aggregate_id in mine
                and f.data["status"] == ObjectiveStatus.ABANDONED
                and f.recorded_at <= known_at and f.effective_at <= t_eval):
            out[mine[f.aggregate_id]] = {
                "effective_at": f.effective_at, "recorded_at": f.recorded_at,
                "actor": f.actor, "on_behalf_of": f.on_behalf_of, "reason": f.reason}
    return out


def _bar(okr_type: str) -> float:
    """How high an objective of this type must score to succeed (learning: not at all)."""
    threshold = scoring.success_threshold(okr_type)
    return -1.0 if threshold is None else threshold


def _is_revision(f: Fact) -> bool:
    """A change the review lists among the revisions, if made after commit: a plan revision
    (so marked when recorded) or an objective's abandonment."""
    return bool(f.data.get("plan_revision")) or (
        f.type == "ObjectiveStatusChanged" and f.data["status"] == ObjectiveStatus.ABANDONED)


REMOVED_BEHIND = "removed while behind"  # a goalpost move: a lagging key result removed


def revisions(facts: Sequence[Fact], cycle: str, known_at: datetime) -> list[dict[str, Any]]:
    """Every recorded change to the committed plan — an objective's abandonment too — with
    from → to, who, why, the objective it belongs to, and whether it moved the goalposts
    (`goalpost` says how): a target eased while the key result was behind expectation
    (`target eased`), a weight change that raised its objective's score as it stood then
    (`weight shifted`: `score_then` → `score_revised`), or an objective's type changed to one
    with a lower bar — committed to aspirational or learning, aspirational to learning
    (`type lowered`), or a key result removed while behind expectation after the cycle began
    (`removed while behind`: its `progress_then` against `expected_then` at `judged_at`) —
    one of the committed plan, or measured (a check-in, a linked KPI's reading) before then.

    A change is judged when it took effect — its valid time, `effective_at`, or the cycle's
    end if it took effect after it — as known at `known_at`: the key result (and its
    objective's other key results) as they stood just before the change, their latest
    check-ins (or linked KPIs' readings) by then, as every as-of view reads them. A target cut
    typed at the retro for a week-6 agreement is judged at week 6, not at the retro."""
    out = []
    visible = [f for f in facts if f.recorded_at <= known_at]
    last = max((f.position for f in visible if _is_revision(f)), default=None)
    if last is None:
        return []
    # The structure before each revision: an item's in-force times never go backwards, so
    # the item as its earlier facts (by position) left it is the item just before the change
    # took effect. Measurements play no part in it: they are read at the change's time below.
    walked = (f for f in visible if f.position <= last and f.type not in MEASUREMENTS)
    judged = _Measured(visible)
    planned = _committed_key_results(visible, cycle)
    for world, change in changes(walked, only=_is_revision):
        fact = change.fact
        if change.kind == "objective":
            objective = change.key
            belongs = (fact.data.get("cycle") if fact.type == "ObjectiveAdded"
                       else world.objectives.get(change.key, {}).get("cycle")) == cycle
        else:
            objective = world.key_results.get(change.key, {}).get(
                "objective", fact.data.get("objective", ""))
            belongs = world.objectives.get(objective, {}).get("cycle") == cycle
        if not belongs:
            continue
        if not fact.data.get("plan_revision") and world.cycles[cycle]["status"] == "planning":
            continue  # abandoned while the plan was still being made: no change to it
        entry: dict[str, Any] = {
            "at": fact.recorded_at, "actor": fact.actor, "on_behalf_of": fact.on_behalf_of,
            "reason": fact.reason,
            # A change given --effective: in force before it was recorded, flagged like a
            # back-dated check-in.
            "effective_at": fact.effective_at,
            "backdated": fact.effective_at < fact.recorded_at,
            "type": fact.type, "kind": change.kind, "key": change.key, "objective": objective,
            "changes": {k: {"from": a, "to": b} for k, (a, b) in change.diff.items()},
            "goalpost_moved": False, "goalpost": None, "judged_at": None, "value_then": None,
            "progress_then": None, "expected_then": None, "score_then": None,
            "score_revised": None}
        cyc = world.cycles[cycle]
        window = Window(cyc["start"], cyc["end"])
        at = min(fact.effective_at, window.end)
        moved = []
        if fact.type in ("KeyResultRevised", "KeyResultRemoved"):
            kr = world.key_results[change.key]
            value = judged.value(kr, at, window.end)
            entry["judged_at"], entry["value_then"] = at, value
            entry["progress_then"] = scoring.progress(
                kr["kind"], kr["start"], kr["target"], kr["target_high"], kr["tolerance"], value)
            entry["expected_then"] = scoring.expected_progress(
                kr["kind"], kr["start"], kr["target"], kr["target_high"], kr["phases"], window,
                at)
            if fact.type == "KeyResultRevised":
                behind = entry["progress_then"] < entry["expected_then"] - _EPS
                if behind and easing(kr["kind"], kr, dict(fact.data)):
                    moved.append("target eased")
                if fact.data["weight"] != kr["weight"]:
                    entry["score_then"] = _score_then(world, objective, judged, at,
                                                      window.end)
                    entry["score_revised"] = _score_then(world, objective, judged, at,
                                                         window.end,
                                                         (change.key, fact.data["weight"]))
                    if (entry["score_then"] is not None and entry["score_revised"] is not None
                            and entry["score_revised"] > entry["score_then"] + _EPS):
                        moved.append("weight shifted")
            elif (at > window.start and entry["progress_then"] < entry["expected_then"] - _EPS
                  and (change.key in planned or value is not None)):
                # Removed while behind, once the cycle was under way (before it began, a
                # removal is planning): what it was failing at no longer counts — if the team
                # was held to it: of the committed plan, or measured before its removal (one
                # added by mistake and removed unmeasured was never a goalpost).
                moved.append(REMOVED_BEHIND)
        elif fact.type == "ObjectiveTypeChanged":
            entry["judged_at"] = at
            entry["score_then"] = _score_then(world, objective, judged, at, window.end)
            if _bar(fact.data["okr_type"]) < _bar(world.objectives[objective]["okr_type"]):
                moved.append("type lowered")
        entry["goalpost_moved"] = bool(moved)
        entry["goalpost"] = "; ".join(moved) or None
        out.append(entry)
    return out


def _committed_key_results(facts: Sequence[Fact], cycle: str) -> set[str]:
    """The key results of `cycle`'s plan when it was first committed (as `review` reads the
    plan: the structure in force at the commit's recording), none before a commit."""
    ids = {f.aggregate_id for f in facts if f.type == "CycleAdded" and f.data["key"] == cycle}
    committed_at = next((f.recorded_at for f in facts
                         if f.type == "PlanCommitted" and f.aggregate_id in ids), None)
    if committed_at is None:
        return set()
    plan = world_at((f for f in facts if f.type not in MEASUREMENTS), committed_at,
                    committed_at)
    return _cycle_keys(plan, cycle)[1]


def _score_then(world: World, objective: str, judged: "_Measured", at: datetime,
                end: datetime, reweighted: tuple[str, float] | None = None) -> float | None:
    """The objective's score at `at`: its key results in `world` (the plan just before a
    change) each scored by its value then, weighted by its weight — or, for the key result
    `reweighted` names, by the weight given there."""
    pairs = []
    for kr in sorted(world.key_results.values(), key=_KEY):
        if kr["objective"] != objective or kr["removed"]:
            continue
        weight = (reweighted[1] if reweighted is not None and reweighted[0] == kr["key"]
                  else kr["weight"])
        pairs.append((scoring.progress(kr["kind"], kr["start"], kr["target"],
                                       kr["target_high"], kr["tolerance"],
                                       judged.value(kr, at, end)), weight))
    return scoring.objective_score(pairs)


class _Measured:
    """The check-ins and KPI readings among `facts`, each item's by effective time: what a
    key result's value was at an instant, as `world_at` folds them (the latest by effective
    time, then position; a KPI's only once the KPI was in force)."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        ordered = sorted((f for f in facts if f.type in MEASUREMENTS), key=_effective_at)
        self.series: dict[str, list[Fact]] = defaultdict(list)
        for f in ordered:  # stable: by position among equal times
            self.series[f.aggregate_id].append(f)
        self.times = {agg: [f.effective_at for f in items] for agg, items in self.series.items()}
        self.kr_ids = {f.data["key"]: f.aggregate_id for f in facts
                       if f.type == "KeyResultAdded"}
        self.kpis = {f.data["key"]: (f.aggregate_id, f.effective_at) for f in facts
                     if f.type == "KpiAdded"}

    def latest(self, aggregate: str | None, at: datetime, end: datetime,
               since: datetime | None = None) -> float | None:
        """The latest value at or before `at` and before `end` (a cycle's end is not in it),
        none if that was observed before `since`."""
        if aggregate is None or aggregate not in self.series:
            return None
        times = self.times[aggregate]
        i = bisect.bisect_right(times, at) if at < end else bisect.bisect_left(times, end)
        if not i or (since is not None and times[i - 1] < since):
            return None
        value: float = self.series[aggregate][i - 1].data["value"]
        return value

    def value(self, kr: dict[str, Any], at: datetime, end: datetime) -> float | None:
        """`kr`'s value at `at` in a cycle ending at `end`: its linked KPI's latest reading
        observed once the KPI was in force, if it was in force then, else its latest
        check-in."""
        kpi = self.kpis.get(kr["kpi"]) if kr["kpi"] else None
        if kpi is not None and kpi[1] <= at:
            return self.latest(kpi[0], at, end, since=kpi[1])
        return self.latest(self.kr_ids.get(kr["key"]), at, end)


def _scored_by_key_results(facts: Sequence[Fact]) -> list[Fact]:
    """The facts without the readings of KPIs that no key result ever links (guardrails
    alone: most of a cycle's readings), which no key result's score reads."""
    linked = {f.data["kpi"] for f in facts if f.type == "KpiLinked"}
    linked_ids = {f.aggregate_id for f in facts if f.type == "KpiAdded"
                  and f.data["key"] in linked}
    return [f for f in facts if f.type != "KpiReadingRecorded" or f.aggregate_id in linked_ids]


def weekly_progress(facts: Sequence[Fact], cycle: str, window: Window, t_eval: datetime,
                    known_at: datetime, also: Sequence[datetime] = (), tz: str = "UTC"
                    ) -> dict[str, list[dict[str, Any]]]:
    """Per key result: actual vs expected progress at each week boundary — local midnight in
    the cycle's zone `tz`, week by week from the cycle's start — and at t_eval (and at the
    instants `also` names inside the cycle, such as check-ins' effective times), as known at
    known_at."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    instants = [*week_starts(window.start, t_eval, tz), t_eval]
    instants = sorted(set(instants) | {a for a in also if window.start <= a <= t_eval})
    # Its instants lie in the cycle, whose key results alone it reads: none is past its end,
    # t_eval may be at it (then read before it: the end is not in the cycle).
    for at, world in worlds_at(_scored_by_key_results(facts), instants, known_at,
                               frozen=t_eval >= window.end):
        # The cycle's key results as `scorecard` lists them (by objective, then key), each
        # scored alone: the series reads no objective score or roll-up.
        cyc = world.cycles.get(cycle)
        if cyc is None:
            continue
        shown = {k for k, o in world.objectives.items() if o["cycle"] == cycle}
        krs = sorted((kr for kr in world.key_results.values()
                      if kr["objective"] in shown and not kr["removed"]),
                     key=_OBJECTIVE_KEY)
        window = Window(cyc["start"], cyc["end"])
        for kr in krs:
            series[kr["key"]].append(_series_point(world, kr, window, at))
    return dict(series)


def _series_point(world: World, kr: dict[str, Any], window: Window, at: datetime
                  ) -> dict[str, Any]:
    """A key result's value, progress and expectation at `at` as `kr_card` scores them (its
    linked KPI's latest reading, else its latest check-in), without the status, confidence
    and KPI health the series does not show. `world` keeps the latest measurement only
    (`worlds_at`)."""
    kpi = world.kpis.get(kr["kpi"]) if kr["kpi"] else None
    latest, field = ((kr["check_ins"], "effective_at") if kpi is None
                     else (kpi["readings"], "observed_at"))
    before = [m for m in latest if m[field] < window.end]  # the end is not in the cycle
    value = before[-1]["value"] if before else None
    return {"at": at,
            "progress": scoring.progress(kr["kind"], kr["start"], kr["target"],
                                         kr["target_high"], kr["tolerance"], value),
            "expected": scoring.expected_progress(kr["kind"], kr["start"], kr["target"],
                                                  kr["target_high"], kr["phases"], window, at),
            "value": value, "target": kr["target"]}


def in_force_spans(facts: Sequence[Fact], final: World, krs: set[str], window: Window,
                   t_eval: datetime, known_at: datetime,
                   stopped: Mapping[str, datetime] | None = None
                   ) -> dict[str, tuple[datetime, datetime]]:
    """Per key result of `krs`: the part of the cycle so far (window start to t_eval) it was
    in force — from its addition's valid time until its removal's, if removed by t_eval, or
    until its objective's abandonment took effect (`stopped`: key → that time, by t_eval), as
    known at known_at; those never in force in it are left out."""
    added: dict[str, datetime] = {}
    removed: dict[str, datetime] = {}
    for f in facts:
        if f.recorded_at > known_at or f.effective_at > t_eval:
            continue
        if f.type == "KeyResultAdded":
            added[f.aggregate_id] = f.effective_at
        elif f.type == "KeyResultRemoved":
            removed[f.aggregate_id] = f.effective_at
    out = {}
    for agg, (table, key) in final.keys.items():
        if table != "key_results" or key not in krs or agg not in added:
            continue
        since = max(window.start, added[agg])
        until = min(t_eval, removed.get(agg, t_eval), (stopped or {}).get(key, t_eval))
        if until > since:
            out[key] = (since, until)
    return out


def check_in_habits(final: World, spans: Mapping[str, tuple[datetime, datetime]],
                    tz: str = "UTC", end: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per key result, over the weeks it was in force (`spans`: `in_force_spans`; weeks
    counted on the calendar of the cycle's zone `tz` from local midnight of the day it came
    into force): its check-ins and, for one linked to a KPI (which takes readings, not
    check-ins), that KPI's readings, and the weeks with neither — before the cycle's `end`
    (not in it: a reading at that instant is the next cycle's)."""
    out = {}
    for key in sorted(spans):
        since, until = spans[key]
        kr = final.key_results[key]
        # the weeks `until` reaches into: the one it falls in, unless it starts it
        weeks = max(1, local_weeks(since, until - _INSTANT, tz) + 1)
        last = until if end is None or until < end else end - _INSTANT
        check_ins = [c["effective_at"] for c in kr["check_ins"]
                     if since <= c["effective_at"] <= last]
        kpi = final.kpis.get(kr["kpi"]) if kr["kpi"] else None
        readings = None if kpi is None else [r["observed_at"] for r in kpi["readings"]
                                             if since <= r["observed_at"] <= last]
        seen = {local_weeks(since, t, tz) for t in [*check_ins, *(readings or [])]
                if t < until}
        out[key] = {"since": since, "until": until, "weeks": weeks,
                    "check_ins": len(check_ins), "kpi": None if kpi is None else kr["kpi"],
                    "readings": None if readings is None else len(readings),
                    "weeks_without": weeks - len(seen)}
    return out


def backdated(facts: Sequence[Fact], krs: set[str], world: World, known_at: datetime
              ) -> list[dict[str, Any]]:
    """Check-ins recorded long after the moment they speak for, every one, in position
    order."""
    out = []
    day = timedelta(days=1)
    for f in facts:
        if f.type != "CheckInRecorded" or f.recorded_at > known_at:
            continue
        key = world.keys.get(f.aggregate_id, ("", ""))[1]
        if key in krs and f.recorded_at - f.effective_at > BACKDATED_AFTER:
            out.append({"key": key, "value": f.data["value"], "effective_at": f.effective_at,
                        "recorded_at": f.recorded_at, "actor": f.actor,
                        "on_behalf_of": f.on_behalf_of, "source": f.data.get("source"),
                        "late_by_days": round((f.recorded_at - f.effective_at) / day, 1)})
    return out


def backdated_batches(items: Sequence[dict[str, Any]], tz: str) -> list[dict[str, Any]]:
    """The back-dated check-ins (`backdated`) counted in batches: those one actor (for one
    `on_behalf_of`) recorded from one source (an import's file, `manual`, a feed) on one day
    of the cycle's zone `tz` are one batch — an import of a quarter's history is one, however
    many lines it had. Each says how many, on which key results, the span of the times they
    speak for and of their recording, and how late; the counts add up to the list. One pass,
    in order of first recording."""
    where = zone(tz)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for b in items:
        on = b["recorded_at"].astimezone(where).date().isoformat()
        groups.setdefault((b["actor"], b["on_behalf_of"], b["source"], on), []).append(b)
    out = []
    for (actor, on_behalf_of, source, on), batch in groups.items():
        effective = [b["effective_at"] for b in batch]
        recorded = [b["recorded_at"] for b in batch]
        late = [b["late_by_days"] for b in batch]
        out.append({"actor": actor, "on_behalf_of": on_behalf_of, "source": source,
                    "recorded_on": on, "check_ins": len(batch),
                    "key_results": sorted({b["key"] for b in batch}),
                    "effective_from": min(effective), "effective_until": max(effective),
                    "recorded_from": min(recorded), "recorded_until": max(recorded),
                    "late_by_days_min": min(late), "late_by_days_max": max(late),
                    # A batch of one is that check-in: its value said as the list says it.
                    "value": batch[0]["value"] if len(batch) == 1 else None})
    return sorted(out, key=_RECORDED_FROM)


def calibration(final: World, plan_cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per owner: stated confidence vs outcome (Brier score: 0 perfect, 0.25 coin-flip)."""
    per_owner: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for card in plan_cards:
        for kr in card["key_results"]:
            hit = 1.0 if kr["progress"] >= 1.0 - _EPS else 0.0
            for c in final.key_results[kr["key"]]["check_ins"]:
                if c["confidence"] is not None:
                    per_owner[card["owner"]].append((c["confidence"], hit))
    return [{"owner": owner, "check_ins": len(pairs),
             "mean_confidence": sum(c for c, _ in pairs) / len(pairs),
             "hit_rate": sum(h for _, h in pairs) / len(pairs),
             "brier": sum((c - h) ** 2 for c, h in pairs) / len(pairs)}
            for owner, pairs in sorted(per_owner.items())]


def guardrails(final: World, kpi_keys: set[str], window: Window, t_eval: datetime
               ) -> list[dict[str, Any]]:
    """Per KPI: share of the cycle (so far) spent green/amber/red/no data, and staleness."""
    out = []
    span = (t_eval - window.start).total_seconds()
    for key in sorted(kpi_keys):
        kpi = final.kpis.get(key)
        if kpi is None:  # linked by a key result in force then, but added to the ledger later
            continue
        # By observed time, then position: a world's readings are in position order (the
        # order of the fold), and a stable sort keeps that order among equal times.
        # as of t_eval, and before the cycle's end (not in it); the fold left out those
        # observed before the KPI was in force
        readings = sorted((r for r in kpi["readings"]
                           if r["observed_at"] <= t_eval and r["observed_at"] < window.end),
                          key=_OBSERVED)
        times = [r["observed_at"] for r in readings]
        # The cycle's readings: the one in force when it started, and every one after it.
        first = max(0, bisect.bisect_right(times, window.start) - 1)
        readings, times = readings[first:], times[first:]
        shares = dict.fromkeys([h.value for h in Health] + ["none"], 0.0)
        stale = 0.0
        period = scoring.CADENCE_PERIOD[kpi["cadence"]]
        direction, green, red = kpi["direction"], kpi["green"], kpi["red"]
        # A reading holds until the next one; before the first there is no data. Each span
        # runs from its reading's time (the cycle's start for the first, "no data") to the
        # next reading's, clipped to the cycle so far; it is stale from its reading's time
        # plus the cadence on. (Tens of thousands of spans: comparisons written out rather
        # than min/max calls, and a span fresh to its end adds nothing.)
        start = window.start
        for t0, t1, r in zip([start, *times], [*times, t_eval], [None, *readings],
                             strict=True):
            lo = t0 if t0 > start else start
            hi = t1 if t1 < t_eval else t_eval
            if hi <= lo:
                continue
            if r is None:  # no data: not fresh either
                shares["none"] += (hi - lo).total_seconds()
                stale += (hi - lo).total_seconds()
                continue
            health = scoring.kpi_health(direction, green, red, r["value"])
            shares[health or "none"] += (hi - lo).total_seconds()
            fresh_until = t0 + period
            if fresh_until < lo:
                fresh_until = lo
            if hi > fresh_until:
                stale += (hi - fresh_until).total_seconds()
        last = readings[-1] if readings else None
        out.append({"key": key, "name": kpi["name"], "tags": kpi["tags"],
                    "shares": {k: (v / span if span > 0 else 0.0) for k, v in shares.items()},
                    "stale_share": stale / span if span > 0 else 0.0,
                    "stale_at_end": scoring.kpi_stale(kpi["cadence"], None if last is None
                                                      else last["observed_at"], t_eval),
                    "health_at_end": None if last is None else scoring.kpi_health(
                        direction, green, red, last["value"]),
                    "readings": [{"at": r["observed_at"], "value": r["value"]}
                                 for r in readings],
                    "green": kpi["green"], "red": kpi["red"], "direction": kpi["direction"]})
    return out


def review(facts: Sequence[Fact], cycle: str, point: ReviewPoint,
           also: Sequence[datetime] = ()) -> dict[str, Any]:
    """The whole review of one cycle as it looked at `point` (its progress series also at
    the instants `also` names)."""
    facts = sorted(facts, key=position_of)
    # What exists at the point (cycles, items, statuses): measurements play no part in it.
    known = world_at((f for f in facts if f.type not in MEASUREMENTS), point.as_of,
                     point.known_at)
    if cycle not in known.cycles:
        raise UnknownCycle(f"cycle {cycle} not known at {point.known_at.isoformat()}")
    cyc = known.cycles[cycle]
    tz = cyc.get("timezone") or "UTC"
    window = Window(cyc["start"], cyc["end"])
    t_eval = min(point.as_of, window.end)
    # The plan as first committed — if that was in force at as_of (as known at known_at),
    # as the cycle's status is: a review as of a day before the commit says nothing of it.
    committed_at = next((f.recorded_at for f in facts if f.type == "PlanCommitted"
                         and f.recorded_at <= point.known_at
                         and f.effective_at <= point.as_of
                         and known.keys.get(f.aggregate_id) == ("cycles", cycle)), None)
    final = world_at(facts, t_eval, point.known_at)
    revised = revisions(facts, cycle, point.known_at)
    removals = {r["key"]: r for r in revised if r["type"] == "KeyResultRemoved"}
    abandoned = abandonments(facts, final, cycle, t_eval, point.known_at)
    cards = plan_vs_actual(facts, cycle, committed_at, final, t_eval, removals,
                           team_calls(facts, final, cycle, point, window.end), abandoned)
    _, krs = _cycle_keys(final, cycle)
    live_krs = {kr["key"] for c in cards for kr in c["key_results"]}
    kpis = {final.key_results[k]["kpi"] for k in live_krs if final.key_results[k]["kpi"]}
    kpis |= {k for k, kpi in final.kpis.items() if GUARDRAIL_TAG in kpi["tags"]}
    graded = [c for c in cards if c["succeeded"] is not None]
    scores = graded_scores(graded)
    late = backdated(facts, krs, final, point.known_at)
    return {
        "cycle": cycle, "start": window.start, "end": window.end, "status": cyc["status"],
        "committed_at": committed_at, "as_of": point.as_of, "known_at": point.known_at,
        "evaluated_at": t_eval,
        "summary": {"objectives": len(cards), "graded": len(graded),
                    "succeeded": sum(1 for c in graded if c["succeeded"]),
                    # no longer pursued, so not graded
                    "abandoned": sum(1 for c in cards if c["abandoned"] is not None),
                    "key_results": len(live_krs),
                    # of the graded objectives (learning ones are not graded); None when
                    # none has a score: not a score of 0
                    "mean_score": sum(scores) / len(scores) if scores else None,
                    # objectives the team closed as achieved / missed against their grade
                    "calls_disagreeing": sum(1 for c in cards
                                             if c["closed"] and c["closed"]["disagrees"])},
        "objectives": cards,
        "summaries": summaries(cards),
        "revisions": revised,
        "progress": weekly_progress(facts, cycle, window, t_eval, point.known_at, also, tz),
        "habits": check_in_habits(final, in_force_spans(
            facts, final, krs, window, t_eval, point.known_at,
            {key: abandoned[kr["objective"]]["effective_at"]
             for key, kr in final.key_results.items() if kr["objective"] in abandoned}),
            tz, window.end),
        "backdated": late,
        "backdated_batches": backdated_batches(late, tz),
        "calibration": calibration(final, cards),
        "guardrails": guardrails(final, kpis, window, t_eval),
    }


def graded_scores(graded: list[dict[str, Any]]) -> list[float]:
    """The scores a mean score averages: the graded objectives' (a learning objective is not
    graded, so its score is no measure of success), as the team summaries count them."""
    return [c["score"] for c in graded if c["score"] is not None]


RESTATED_FIELDS = {
    # where it is aligned and its roll-up too: a re-alignment, or a key result moved,
    # recorded later moves the roll-ups the departments section says
    "objective": ("parent", "rollup", "score", "succeeded"),
    # and the objective it is under: a key result moved
    "key_result": ("confidence", "expected", "objective", "progress", "status", "target",
                   "value"),
}


def restated_items(cards: Sequence[Mapping[str, Any]]
                   ) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, key) → the fields a restatement compares, of each objective of `cards` (a
    review's, or a scorecard's) and each of its key results. An objective and a key result
    may share a key: they are two items. An abandoned objective is not graded (`succeeded`
    none), as the review says it."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for card in cards:
        out["objective", card["key"]] = {
            "parent": card["parent"], "rollup": card["rollup"], "score": card["score"],
            "succeeded": None if card["status"] == ObjectiveStatus.ABANDONED
            else card["succeeded"]}
        for kr in card["key_results"]:
            out["key_result", kr["key"]] = {**{f: kr.get(f) for f in RESTATED_FIELDS[
                "key_result"]}, "objective": card["key"]}
    return out


def restatements(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed between two reviews of one cycle (e.g. as known then vs known now), or
    two scorecards of one instant (`{"objectives": cards}`): an objective's score, success,
    parent and roll-up; a key result's value, progress, target, expected progress, status,
    confidence and objective — each {kind, key, field, before, after}, by key, kind and
    field. Numbers equal but for float rounding are not restated. The web's restatement page
    and API list these too."""
    def own_only(item: dict[str, Any]) -> bool:  # a roll-up that says no more than the score
        return item.get("rollup") == item.get("score")

    a, b = restated_items(before["objectives"]), restated_items(after["objectives"])
    out = []
    for kind, key in sorted(set(a) | set(b), key=lambda item: (item[1], item[0])):
        x_item, y_item = a.get((kind, key), {}), b.get((kind, key), {})
        for name in RESTATED_FIELDS[kind]:
            if name == "rollup" and own_only(x_item) and own_only(y_item):
                continue  # nothing aligned below it counts, then or now: its score says it
            x, y = x_item.get(name), y_item.get(name)
            if not _same(x, y):
                out.append({"kind": kind, "key": key, "field": name, "before": x,
                            "after": y})
    return out


def _same(x: Any, y: Any) -> bool:
    """Equal, or numbers equal but for float rounding (a score summed in another order)."""
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)
    return bool(x == y or (number(x) and number(y) and abs(x - y) < _EPS))


def team_summary(review: dict[str, Any], team: str | None = None) -> dict[str, Any]:
    """Headline figures of a review, optionally for one team: for retrospectives across cycles."""
    cards = [c for c in review["objectives"] if team is None or c["team"] == team]
    keys = {c["key"] for c in cards}
    graded = [c for c in cards if c["succeeded"] is not None]
    scores = graded_scores(graded)
    krs = [kr for c in cards for kr in c["key_results"]]
    owners = {c["owner"] for c in cards}
    calib = [c for c in review["calibration"] if c["owner"] in owners]
    # Every revision the review lists, by the objective it belongs to: a key result removed
    # (or added and removed) after commit counts, as the review lists it.
    revs = [r for r in review["revisions"] if r["objective"] in keys]
    n_conf = sum(c["check_ins"] for c in calib)
    return {
        "cycle": review["cycle"], "team": team, "objectives": len(cards),
        "key_results": len(krs), "graded": len(graded),
        "succeeded": sum(1 for c in graded if c["succeeded"]),
        "hit_rate": (sum(1 for c in graded if c["succeeded"]) / len(graded)) if graded else None,
        "mean_score": sum(scores) / len(scores) if scores else None,
        "kr_done": sum(1 for kr in krs if kr["progress"] >= 1.0 - _EPS),
        "revisions": len(revs), "goalposts_moved": sum(1 for r in revs if r["goalpost_moved"]),
        "calls_disagreeing": sum(1 for c in cards if c.get("closed")
                                 and c["closed"]["disagrees"]),
        "brier": (sum(c["brier"] * c["check_ins"] for c in calib) / n_conf) if n_conf else None,
    }


def retro(a: dict[str, Any], b: dict[str, Any], team: str | None = None) -> dict[str, Any]:
    """Two cycles side by side (scores, hit rates, revisions, calibration) and the change."""
    sa, sb = team_summary(a, team), team_summary(b, team)
    delta = {k: (sb[k] - sa[k]) for k in sa
             if isinstance(sa[k], int | float) and isinstance(sb[k], int | float)
             and not isinstance(sa[k], bool)}
    return {"team": team, "a": sa, "b": sb, "change": delta}
