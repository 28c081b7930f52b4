"""What every aggregate shares: ids derived from keys, the recording clock, key rules."""

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

# The recording clock lives in domain/clock.py (reads need "now" without the event-sourcing
# library); re-exported here, where the aggregates and tests/support/clock.py find it.
from okr.domain.clock import _recording_clock as _recording_clock
from okr.domain.clock import utc_now as utc_now
from okr.domain.errors import DomainError

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_NAMESPACE = uuid5(NAMESPACE_URL, "https://okr-ledger.dev/keys")

@lru_cache(maxsize=65_536)
def aggregate_id(kind: str, key: str) -> UUID:
    """Deterministic aggregate id for a key, so creating a key twice collides on version 1."""
    return uuid5(_NAMESPACE, f"{kind}:{key}")


def check_key(key: str, what: str) -> str:
    """Return the key if it is well formed, else raise a DomainError."""
    if not _KEY.fullmatch(key):
        raise DomainError(f"{what} key {key!r} is not valid; use 1–64 letters, digits, "
                          "'.', '_', ':' or '-', starting with a letter or digit")
    return key


def check_text(value: str, what: str, *, max_len: int = 500, blank_ok: bool = False) -> str:
    """Return stripped text, refusing blank (unless allowed) or overlong values."""
    text = value.strip()
    if not text and not blank_ok:
        raise DomainError(f"{what} cannot be blank")
    if len(text) > max_len:
        raise DomainError(f"{what} is {len(text)} characters long; at most {max_len} allowed")
    return text


def check_reason(reason: str | None) -> str | None:
    """A reason is optional free text; blank means none."""
    if reason is None:
        return None
    text = check_text(reason, "reason", blank_ok=True, max_len=1000)
    return text or None


# The longest name a write may be recorded on behalf of (as long as an actor may be).
MAX_NAME = 100


def check_on_behalf_of(name: str | None) -> str | None:
    """Whom a write is recorded for (--on-behalf-of): None for nobody, else a name that is
    not blank and at most MAX_NAME characters long. Kept as typed: it is data, never markup."""
    if name is None:
        return None
    return check_text(name, "the --on-behalf-of name", max_len=MAX_NAME)


def revision_reason(plan_revision: bool, reason: str | None, what: str) -> str | None:
    """After a cycle's plan is committed, a change to the plan must say why."""
    reason = check_reason(reason)
    if plan_revision and reason is None:
        raise DomainError(f"the cycle's plan is committed: {what} is a plan revision and "
                          "needs a reason (--reason)")
    return reason


# The largest magnitude a value, start, target or reading may have. Far beyond any measure,
# and small enough that a difference of two (target − start) stays finite: at ±1e308 the
# scoring overflowed to inf/nan, and DuckDB and Python then disagreed (1.0 vs 0.0).
MAX_MAGNITUDE = 1e300


def check_finite(value: float, what: str) -> float:
    """Refuse NaN, infinities and magnitudes beyond MAX_MAGNITUDE."""
    if value != value or value in (float("inf"), float("-inf")):
        raise DomainError(f"{what} must be a finite number, not {value!r}")
    if abs(value) > MAX_MAGNITUDE:
        raise DomainError(f"{what} {value!r} is too large: numbers may be at most "
                          f"{MAX_MAGNITUDE:g} in size")
    return float(value)


def in_force(effective: datetime | None, reason: str | None, *, planning: bool,
             cycle_start: datetime | None, now: datetime, latest: datetime | None,
             what: str) -> datetime | None:
    """When a plan item or change takes effect (its valid time); None means when recorded.

    Recorded while its cycle is in planning, it is in force from the earlier of now and the
    cycle's start (a plan typed in week 2 is the quarter's plan). Otherwise from now, unless
    `effective` says when it took effect: that needs a reason, cannot lie in the future, nor
    before the item's own latest change took effect (an item's times never go backwards).
    """
    if effective is not None:
        if check_reason(reason) is None:
            raise DomainError(f"{what} with --effective needs a reason (--reason); a "
                              "back-dated change is flagged in reviews")
        if effective > now:
            raise DomainError("--effective {effective} is in the future (now is {now})",
                              effective=effective, now=now)
        if latest is not None and effective < latest:
            raise DomainError("--effective {effective} is before the item's latest change "
                              "took effect ({latest})", effective=effective, latest=latest)
        return effective
    if planning and cycle_start is not None and cycle_start < now:
        return cycle_start if latest is None else max(cycle_start, latest)
    return None


class LedgerAggregate(Aggregate):
    """Base aggregate: every event carries an actor; timestamps come from the recording clock.

    `in_force_since` is when the item came into force (valid time) and `in_force_from` when
    its latest change did: an event's `effective_at` when it has one, else its recording.
    """

    class Event(Aggregate.Event):
        # Whom the actor said they recorded the event for (--on-behalf-of): a claim, never
        # the actor. The ledger stamps it on the events of a write that names someone
        # (ledger/app.py), only then: events without it — all those stored before it
        # existed — read back with this default, None.
        on_behalf_of: ClassVar[str | None] = None

        @staticmethod
        def create_timestamp() -> datetime:
            return utc_now()

        def apply(self, aggregate: Any) -> None:
            # Runs after the decorated method; check-ins and readings override it (their
            # effective time is when the value was true, not when the item changed).
            t = getattr(self, "effective_at", None) or self.timestamp
            aggregate.in_force_from = t
            if self.originator_version == 1:
                aggregate.in_force_since = t

    class Created(Event, Aggregate.Created):
        pass

    key: str
    in_force_since: datetime
    in_force_from: datetime
