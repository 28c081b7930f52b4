"""A cycle (quarter, half, year or custom window): planned, then committed, then closed."""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import LedgerAggregate, aggregate_id, check_reason
from okr.domain.errors import DomainError
from okr.domain.periods import Window, canonical_cycle_key, cycle_window, zone
from okr.domain.vocab import CycleStatus


class Cycle(LedgerAggregate):
    """The period OKRs are set for; committing it locks the plan."""

    @staticmethod
    def create_id(key: str, **_: object) -> UUID:
        return aggregate_id("cycle", key)

    @classmethod
    def add(cls, key: str, start: datetime | None, end: datetime | None, actor: str,
            timezone: str = "UTC", now: datetime | None = None) -> "Cycle":
        """Open a cycle in planning. A named period runs local midnight to local midnight in
        the organisation's zone `timezone`, recorded on the cycle (a later change of the
        setting never moves it). A cycle added after its start is in force from its start."""
        key = canonical_cycle_key(key)
        zone(timezone)
        window = cycle_window(key, start, end, timezone)
        late = now is not None and window.start < now
        return cls(key=key, start=window.start, end=window.end, actor=actor, timezone=timezone,
                   effective_at=window.start if late else None)

    class CycleAdded(LedgerAggregate.Created):
        """A cycle opened in planning. Version 2 added `timezone` (the organisation's zone its
        named period was computed in) and `effective_at` (in force from: its start when added
        late, else None = when recorded); cycles stored before it were computed in UTC."""

        class_version = 2
        key: str
        start: datetime
        end: datetime
        actor: str
        timezone: str
        effective_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["timezone"] = "UTC"
            state["effective_at"] = None

    @event(CycleAdded)
    def __init__(self, key: str, start: datetime, end: datetime, actor: str,
                 timezone: str = "UTC", effective_at: datetime | None = None) -> None:
        self.key = key
        self.start = start
        self.end = end
        self.timezone = timezone
        self.status = CycleStatus.PLANNING.value
        self.was_committed = False

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)

    @property
    def plan_committed(self) -> bool:
        return self.status != CycleStatus.PLANNING.value

    def commit(self, actor: str) -> None:
        """Lock the plan: later changes are recorded as revisions of it."""
        if self.status != CycleStatus.PLANNING.value:
            raise DomainError(f"cycle {self.key} is already {self.status}; only a cycle in "
                              "planning can be committed")
        self._commit(actor=actor)

    @event("PlanCommitted")
    def _commit(self, actor: str) -> None:
        self.status = CycleStatus.COMMITTED.value
        self.was_committed = True

    def close(self, actor: str, reason: str | None = None) -> None:
        """End the cycle; nothing more is checked in or revised until it is reopened."""
        if self.status == CycleStatus.CLOSED.value:
            raise DomainError(f"cycle {self.key} is already closed")
        self._close(actor=actor, reason=check_reason(reason))

    @event("CycleClosed")
    def _close(self, actor: str, reason: str | None) -> None:
        self.status = CycleStatus.CLOSED.value

    def reopen(self, actor: str, reason: str | None) -> None:
        """Reopen a closed cycle: an explicit act that needs a reason."""
        if self.status != CycleStatus.CLOSED.value:
            raise DomainError(f"cycle {self.key} is {self.status}, not closed; nothing to reopen")
        reason = check_reason(reason)
        if reason is None:
            raise DomainError(f"reopening cycle {self.key} needs a reason (--reason)")
        self._reopen(actor=actor, reason=reason)

    @event("CycleReopened")
    def _reopen(self, actor: str, reason: str) -> None:
        self.status = (CycleStatus.COMMITTED.value if self.was_committed
                       else CycleStatus.PLANNING.value)

    def check_open(self, what: str) -> None:
        """Raise unless the cycle accepts changes."""
        if self.status == CycleStatus.CLOSED.value:
            raise DomainError(f"cycle {self.key} is closed; {what} needs it reopened first "
                              "(okr cycle reopen --reason …)")
