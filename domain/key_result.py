"""A key result: the measurable outcome of an objective, with its check-ins.

The aggregate keeps what its decisions and `okr show` need — the plan, the check-in in force
and the last one recorded — not every check-in ever made: those are its events (read them
with ledger/views.check_ins), so loading it costs the same after 20,000 check-ins as after 10
(with the ledger's snapshots, docs/benchmarks.md).
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import (
    LedgerAggregate,
    aggregate_id,
    check_finite,
    check_key,
    check_reason,
    check_text,
    revision_reason,
)
from okr.domain.errors import DomainError
from okr.domain.numbers import figure
from okr.domain.periods import Window
from okr.domain.shapes import CheckIn, Phase
from okr.domain.vocab import KrKind, parse_choice

# Phased targets per key result: enough for one a day over a long cycle, few enough that the
# event recording them stays far below the size Kafka carries (22,000 made a 1.14 MB event).
MAX_PHASES = 1000


THRESHOLD_KINDS = (KrKind.STAY_ABOVE, KrKind.STAY_BELOW, KrKind.RANGE)


def check_plan(kind: str, start: float, target: float, target_high: float | None,
               weight: float, phases: list[Phase], window: Window | None,
               tolerance: float | None = None) -> None:
    """Raise unless the numbers make sense for the kind (the scoring laws depend on it)."""
    check_finite(start, "start")
    check_finite(target, "target")
    check_finite(weight, "weight")
    if not 0 < weight <= 100:
        raise DomainError(f"weight {figure(weight)} must be above 0 and at most 100")
    if kind == KrKind.INCREASE and target <= start:
        raise DomainError(f"an 'increase' key result needs target above start "
                          f"(start {figure(start)}, target {figure(target)}); use --kind decrease?")
    if kind == KrKind.DECREASE and target >= start:
        raise DomainError(f"a 'decrease' key result needs target below start "
                          f"(start {figure(start)}, target {figure(target)}); use --kind increase?")
    if kind == KrKind.MILESTONE and target <= start:
        raise DomainError("a milestone goes from start (default 0) up to target (default 1)")
    if kind == KrKind.RANGE:
        if target_high is None:
            raise DomainError("a 'range' key result needs both bounds: "
                              "--target LOW --target-high HIGH")
        check_finite(target_high, "target-high")
        if target_high <= target:
            raise DomainError(f"range bounds are reversed: low {figure(target)} must be below "
                              f"high {figure(target_high)}")
    elif target_high is not None:
        raise DomainError("--target-high is only for the 'range' kind")
    if len(phases) > MAX_PHASES:
        raise DomainError(f"{len(phases)} phased targets given; a key result takes at most "
                          f"{MAX_PHASES} (one a day for a year and more)")
    if tolerance is not None:
        if kind not in THRESHOLD_KINDS:
            raise DomainError("--tolerance is only for the threshold kinds (stay-above, "
                              f"stay-below, range), not {kind!r}")
        check_finite(tolerance, "tolerance")
        if tolerance <= 0:
            raise DomainError(f"tolerance {figure(tolerance)} must be above 0 (the width of the "
                              "partial-credit band past the threshold, in the key result's "
                              "unit); leave it out for none")
    last: datetime | None = None
    for phase in phases:
        check_finite(phase["value"], "phased target")
        if window is not None and not window.contains(phase["at"]):
            raise DomainError("phased target at {at} lies outside the cycle", at=phase["at"])
        if last is not None and phase["at"] <= last:
            raise DomainError("phased targets must be in time order, one per instant")
        last = phase["at"]


class KeyResult(LedgerAggregate):
    """A measurable result under an objective, scored 0–1 from start, target and check-ins."""

    # Version 2 keeps `carried_from` (okr cycle carry): snapshots taken before it lack it.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["carried_from"] = None

    @staticmethod
    def create_id(key: str, **_: object) -> UUID:
        return aggregate_id("key_result", key)

    @classmethod
    def add(cls, key: str, title: str, objective: str, cycle: str, kind: str, start: float,
            target: float, target_high: float | None, unit: str, weight: float,
            phases: list[Phase], window: Window, actor: str, plan_revision: bool = False,
            reason: str | None = None, tolerance: float | None = None,
            effective_at: datetime | None = None,
            carried_from: str | None = None) -> "KeyResult":
        """Create a key result under an objective (`carried_from`: the key result of an
        earlier cycle it continues, okr cycle carry)."""
        kind = parse_choice(KrKind, kind, "kind").value
        if carried_from is not None:
            check_key(carried_from, "key result")
        check_plan(kind, start, target, target_high, weight, phases, window, tolerance)
        reason = revision_reason(plan_revision, reason, f"adding key result {key}")
        return cls(key=check_key(key, "key result"),
                   title=check_text(title, "key result title", max_len=200),
                   objective=objective, cycle=cycle, kind=kind, start=float(start),
                   target=float(target),
                   target_high=None if target_high is None else float(target_high),
                   unit=check_text(unit, "unit", max_len=20, blank_ok=True),
                   weight=float(weight), phases=phases,
                   tolerance=None if tolerance is None else float(tolerance), actor=actor,
                   plan_revision=plan_revision, reason=reason, effective_at=effective_at,
                   carried_from=carried_from)

    class KeyResultAdded(LedgerAggregate.Created):
        """A key result planned. Version 2 added `tolerance` (the partial-credit band of a
        threshold kind); key results stored before it had none. Version 3 added
        `carried_from` (the key result of an earlier cycle it was carried forward from);
        key results stored before it were carried from none."""

        class_version = 3
        key: str
        title: str
        objective: str
        cycle: str
        kind: str
        start: float
        target: float
        target_high: float | None
        unit: str
        weight: float
        phases: list[Phase]
        tolerance: float | None
        actor: str
        plan_revision: bool
        reason: str | None
        effective_at: datetime | None = None
        carried_from: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["tolerance"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["carried_from"] = None

    @event(KeyResultAdded)
    def __init__(self, key: str, title: str, objective: str, cycle: str, kind: str,
                 start: float, target: float, target_high: float | None, unit: str,
                 weight: float, phases: list[Phase], tolerance: float | None, actor: str,
                 plan_revision: bool, reason: str | None,
                 effective_at: datetime | None = None,
                 carried_from: str | None = None) -> None:
        self.key = key
        self.title = title
        self.objective = objective
        self.cycle = cycle  # fixed: a key result moves only between objectives of its cycle
        self.kind = kind
        self.start = start
        self.target = target
        self.target_high = target_high
        self.unit = unit
        self.weight = weight
        self.phases = phases
        self.tolerance = tolerance
        self.kpi: str | None = None
        self.removed = False
        self.current: CheckIn | None = None  # the latest by effective time (ties: recorded later)
        self.last_check_in: CheckIn | None = None  # the latest recorded
        self.check_in_count = 0
        self.carried_from = carried_from

    def _check_live(self, what: str) -> None:
        if self.removed:
            raise DomainError(f"key result {self.key} was removed; cannot {what}")

    def revise(self, *, start: float | None, target: float | None, target_high: float | None,
               weight: float | None, phases: list[Phase] | None, window: Window, actor: str,
               plan_revision: bool, reason: str | None, tolerance: float | None = None,
               clear_tolerance: bool = False, effective_at: datetime | None = None) -> None:
        """Change start, target, weight, phased targets or the tolerance band (set it, or
        clear it with `clear_tolerance`); after commit it needs a reason."""
        if clear_tolerance and tolerance is not None:
            raise DomainError("give --tolerance or --clear-tolerance, not both")
        self._check_live("revise it")
        new: dict[str, Any] = {
            "start": self.start if start is None else float(start),
            "target": self.target if target is None else float(target),
            "target_high": self.target_high if target_high is None else float(target_high),
            "weight": self.weight if weight is None else float(weight),
            "phases": self.phases if phases is None else phases,
            "tolerance": None if clear_tolerance else (
                self.tolerance if tolerance is None else float(tolerance)),
        }
        old = {k: getattr(self, k) for k in new}
        if new == old:
            raise DomainError(f"key result {self.key} already has those values; nothing to revise")
        check_plan(self.kind, new["start"], new["target"], new["target_high"], new["weight"],
                   new["phases"], window, new["tolerance"])
        reason = revision_reason(plan_revision, reason, f"revising key result {self.key}")
        self._revise(**new, actor=actor, plan_revision=plan_revision, reason=reason,
                     effective_at=effective_at)

    class KeyResultRevised(LedgerAggregate.Event):
        """The plan of a key result changed. Version 2 added `tolerance`; revisions stored
        before it left the key result without one."""

        class_version = 2
        start: float
        target: float
        target_high: float | None
        weight: float
        phases: list[Phase]
        tolerance: float | None
        actor: str
        plan_revision: bool
        reason: str | None
        effective_at: datetime | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["tolerance"] = None

    @event(KeyResultRevised)
    def _revise(self, start: float, target: float, target_high: float | None, weight: float,
                phases: list[Phase], tolerance: float | None, actor: str, plan_revision: bool,
                reason: str | None, effective_at: datetime | None = None) -> None:
        self.start = start
        self.target = target
        self.target_high = target_high
        self.weight = weight
        self.phases = phases
        self.tolerance = tolerance

    def move(self, objective: str, actor: str, plan_revision: bool,
             reason: str | None = None, effective_at: datetime | None = None) -> None:
        """Put the key result under another objective."""
        self._check_live("move it")
        if objective == self.objective:
            raise DomainError(f"key result {self.key} is already under objective {objective}")
        reason = revision_reason(plan_revision, reason, f"moving key result {self.key}")
        self._move(objective=objective, actor=actor, plan_revision=plan_revision, reason=reason,
                   effective_at=effective_at)

    @event("KeyResultMoved")
    def _move(self, objective: str, actor: str, plan_revision: bool, reason: str | None,
              effective_at: datetime | None = None) -> None:
        self.objective = objective

    def remove(self, actor: str, plan_revision: bool, reason: str | None = None,
               effective_at: datetime | None = None) -> None:
        """Take the key result out of the plan (its history stays)."""
        self._check_live("remove it again")
        reason = revision_reason(plan_revision, reason, f"removing key result {self.key}")
        self._remove(actor=actor, plan_revision=plan_revision, reason=reason,
                     effective_at=effective_at)

    @event("KeyResultRemoved")
    def _remove(self, actor: str, plan_revision: bool, reason: str | None,
                effective_at: datetime | None = None) -> None:
        self.removed = True

    def link_kpi(self, kpi: str, actor: str, reason: str | None = None,
                 effective_at: datetime | None = None) -> None:
        """Take the current value from a KPI's readings from now on."""
        self._check_live("link it")
        if self.kind == KrKind.MILESTONE:
            # done or not (check_in): a KPI's readings would give partial credit. Only the
            # command refuses; a link recorded before this rule still replays (docs/scoring.md).
            raise DomainError(f"{self.key} is a milestone, done or not: check in "
                              f"{figure(self.start)} or {figure(self.target)}; a KPI cannot "
                              "measure it")
        if self.kpi == kpi:
            raise DomainError(f"key result {self.key} is already linked to KPI {kpi}")
        self._link_kpi(kpi=kpi, actor=actor, reason=check_reason(reason),
                       effective_at=effective_at)

    @event("KpiLinked")
    def _link_kpi(self, kpi: str, actor: str, reason: str | None,
                  effective_at: datetime | None = None) -> None:
        self.kpi = kpi

    def unlink_kpi(self, actor: str, reason: str | None = None,
                   effective_at: datetime | None = None) -> None:
        """Go back to manual check-ins."""
        if self.kpi is None:
            raise DomainError(f"key result {self.key} is not linked to a KPI")
        self._unlink_kpi(kpi=self.kpi, actor=actor, reason=check_reason(reason),
                         effective_at=effective_at)

    @event("KpiUnlinked")
    def _unlink_kpi(self, kpi: str, actor: str, reason: str | None,
                    effective_at: datetime | None = None) -> None:
        self.kpi = None

    def check_in(self, value: float, confidence: float | None, note: str,
                 effective_at: datetime, now: datetime, window: Window, actor: str,
                 source: str = "manual") -> None:
        """Record the value at an instant (back-dated inside the cycle, never in the future);
        `source` says how it reached the ledger (typed by hand, an import, a feed)."""
        self._check_live("check in on it")
        if self.kpi is not None:
            raise DomainError(f"{self.key} is measured by KPI {self.kpi}; record a reading "
                              f"(okr kpi record {self.kpi} …)")
        check_finite(value, "value")
        if self.kind == KrKind.MILESTONE and value not in (self.start, self.target):
            # done or not: no partial credit. Only the command refuses; a value recorded
            # before this rule still replays and scores its share (docs/scoring.md).
            raise DomainError(f"a milestone is done or not: check in {figure(self.start)} "
                              "(not done) "
                              f"or {figure(self.target)} (done), not {figure(value)}")
        if confidence is not None:
            check_finite(confidence, "confidence")
            if not 0.0 <= confidence <= 1.0:
                raise DomainError(f"confidence {figure(confidence)} must be between 0 and 1")
        if effective_at > now:
            raise DomainError("check-in time {at} is in the future (now is {now})",
                              at=effective_at, now=now)
        if not window.contains(effective_at):
            raise DomainError("check-in time {at} is outside the cycle {cycle} of {key} "
                              "({start} – {end})", at=effective_at, cycle=self.cycle,
                              key=self.key, start=window.start, end=window.end)
        if effective_at < self.in_force_since:
            raise DomainError("check-in time {at} is before key result {key} was in force "
                              "({since})", at=effective_at, key=self.key,
                              since=self.in_force_since)
        self._check_in(value=float(value), confidence=confidence,
                       note=check_text(note, "note", max_len=2000, blank_ok=True),
                       effective_at=effective_at, actor=actor,
                       source=check_text(source, "source", max_len=200))

    class CheckInRecorded(LedgerAggregate.Event):
        """A value on the key result. Version 2 added `source`; check-ins stored before it
        say nothing about theirs, so they read back with source None."""

        class_version = 2
        value: float
        confidence: float | None
        note: str
        effective_at: datetime
        actor: str
        source: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["source"] = None

        def apply(self, aggregate: Any) -> None:
            # The library sets modified_on only after the decorated method ran: the check-in
            # takes its recording time from its own event.
            aggregate.last_check_in["recorded_at"] = self.timestamp

    @event(CheckInRecorded)
    def _check_in(self, value: float, confidence: float | None, note: str,
                  effective_at: datetime, actor: str, source: str | None) -> None:
        c: CheckIn = {"value": value, "confidence": confidence, "note": note,
                      "effective_at": effective_at, "actor": actor, "source": source,
                      "recorded_at": None}  # set by apply
        self.last_check_in = c
        self.check_in_count += 1
        if self.current is None or effective_at >= self.current["effective_at"]:
            self.current = c  # later recordings win ties

    def latest_check_in(self) -> CheckIn | None:
        """The check-in with the latest effective time (of equal ones, the later recorded):
        the key result's value now (a check-in is never effective in the future)."""
        return self.current
