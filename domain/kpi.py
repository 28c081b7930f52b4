"""A KPI: an ongoing measure with a direction, thresholds, a cadence and readings.

The aggregate keeps what its decisions and `okr show` / `okr kpi list` need — the definition,
the readings of the two latest observed times (value now, trend), how many there are, and the
idempotency ids it has seen (each with the version of the event that recorded it, packed in one
string: domain/reading_ids.py) — not every reading: those are its events (ledger/views.readings), so
with the ledger's snapshots a reading costs about the same after 20,000 earlier readings as
after 10 (docs/benchmarks.md).
"""

from collections.abc import Callable
from datetime import datetime, timedelta
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
)
from okr.domain.errors import DomainError
from okr.domain.numbers import figure
from okr.domain.reading_ids import ReadingIds
from okr.domain.shapes import Reading
from okr.domain.vocab import Cadence, Direction, parse_choice

# Two times of one reading closer than this are the same instant (the ingest takes a reading
# up to 5 s in the future as "now", so one message read twice may name two such times).
SAME_INSTANT = timedelta(seconds=5)

_TAG_MAX = 20


def check_definition(name: str, unit: str, direction: str, target: float | None,
                     green: float, red: float, cadence: str, tags: list[str],
                     owner: str) -> dict[str, Any]:
    """Validate a KPI definition and return it normalised."""
    d = parse_choice(Direction, direction, "direction").value
    check_finite(green, "green threshold")
    check_finite(red, "red threshold")
    if target is not None:
        check_finite(target, "target")
    if d == Direction.UP and green < red:
        raise DomainError(f"direction 'up' needs green ({figure(green)}) at or above red "
                          f"({figure(red)})")
    if d == Direction.DOWN and green > red:
        raise DomainError(f"direction 'down' needs green ({figure(green)}) at or below red "
                          f"({figure(red)})")
    clean_tags = sorted({check_text(t, "tag", max_len=40).lower() for t in tags})
    if len(clean_tags) > _TAG_MAX:
        raise DomainError(f"a KPI takes at most {_TAG_MAX} tags")
    return {"name": check_text(name, "KPI name", max_len=200),
            "unit": check_text(unit, "unit", max_len=20, blank_ok=True),
            "direction": d, "target": None if target is None else float(target),
            "green": float(green), "red": float(red),
            "cadence": parse_choice(Cadence, cadence, "cadence").value,
            "tags": clean_tags, "owner": check_text(owner, "owner", max_len=100)}


class Kpi(LedgerAggregate):
    """A key performance indicator; it outlives cycles and can be retired."""

    @staticmethod
    def create_id(key: str, **_: object) -> UUID:
        return aggregate_id("kpi", key)

    @classmethod
    def add(cls, key: str, name: str, unit: str, direction: str, target: float | None,
            green: float, red: float, cadence: str, tags: list[str], owner: str,
            actor: str, effective_at: datetime | None = None) -> "Kpi":
        """Define a KPI (in force when recorded, or from `effective_at`)."""
        definition = check_definition(name, unit, direction, target, green, red, cadence,
                                      tags, owner)
        return cls(key=check_key(key, "KPI"), actor=actor, effective_at=effective_at,
                   **definition)

    @event("KpiAdded")
    def __init__(self, key: str, name: str, unit: str, direction: str, target: float | None,
                 green: float, red: float, cadence: str, tags: list[str], owner: str,
                 actor: str, effective_at: datetime | None = None) -> None:
        self.key = key
        self._define(name, unit, direction, target, green, red, cadence, tags, owner)
        self.retired = False
        # The readings of the two latest observed times, oldest first: of one time, the later
        # recorded (a correction replaces the reading it corrects).
        self.last_readings: list[Reading] = []
        self.last_recorded: Reading | None = None
        self.reading_count = 0
        self.reading_ids = ReadingIds()  # idempotency id → version that recorded it

    def _define(self, name: str, unit: str, direction: str, target: float | None,
                green: float, red: float, cadence: str, tags: list[str], owner: str) -> None:
        self.name, self.unit, self.direction, self.target = name, unit, direction, target
        self.green, self.red, self.cadence, self.tags, self.owner = green, red, cadence, tags, owner

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "direction": self.direction,
                "target": self.target, "green": self.green, "red": self.red,
                "cadence": self.cadence, "tags": list(self.tags), "owner": self.owner}

    def update(self, changes: dict[str, Any], actor: str, reason: str | None = None) -> None:
        """Change any part of the definition; the event carries the whole new definition."""
        if self.retired:
            raise DomainError(f"KPI {self.key} is retired; cannot update it")
        unknown = set(changes) - set(self.definition())
        if unknown:
            raise DomainError(f"unknown KPI field(s): {', '.join(sorted(unknown))}")
        new = check_definition(**{**self.definition(), **changes})
        if new == self.definition():
            raise DomainError(f"KPI {self.key} already has those values; nothing to update")
        self._update(**new, actor=actor, reason=check_reason(reason))

    @event("KpiUpdated")
    def _update(self, name: str, unit: str, direction: str, target: float | None,
                green: float, red: float, cadence: str, tags: list[str], owner: str,
                actor: str, reason: str | None) -> None:
        self._define(name, unit, direction, target, green, red, cadence, tags, owner)

    def counts_at(self, observed_at: datetime) -> bool:
        """Whether a reading observed then counts in the views as of a time: only once the
        KPI was in force (docs/scoring.md); one before is recorded, and shown in none."""
        return observed_at >= self.in_force_since

    def record(self, value: float, observed_at: datetime, source: str, reading_id: str | None,
               now: datetime, actor: str, *, earlier: Callable[[int], Reading]) -> bool:
        """Record a reading; a reading id seen before records nothing and returns False.

        `earlier(version)` is the reading this KPI recorded at that version (the ledger reads
        it from the event store): only a repeated id needs it, to tell a re-sent reading from
        a conflicting one."""
        if self.retired:
            raise DomainError(f"KPI {self.key} is retired; it takes no more readings")
        check_finite(value, "value")
        if observed_at > now:
            raise DomainError("reading time {at} is in the future (now is {now})",
                              at=observed_at, now=now)
        if reading_id is not None:
            reading_id = check_text(reading_id, "reading id", max_len=200)
            if reading_id in self.reading_ids:
                was = earlier(self.reading_ids[reading_id])
                self._check_same_reading(reading_id, was, float(value), observed_at, source)
                return False
        self._record(value=float(value), observed_at=observed_at,
                     source=check_text(source, "source", max_len=200, blank_ok=True),
                     reading_id=reading_id, actor=actor)
        return True

    def _check_same_reading(self, reading_id: str, was: Reading, value: float,
                            observed_at: datetime, source: str) -> None:
        """A reading id seen before must carry the same reading (a re-sent or re-read one);
        different content under the same id is refused, never silently dropped or kept."""
        # A reading a few seconds in the future is recorded as of "now" (the sender's clock
        # drifts), so the same message read again later may name a slightly different time.
        moved = abs(was["observed_at"] - observed_at) > SAME_INSTANT
        if was["value"] != value or was["source"] != source.strip() or moved:
            raise DomainError(
                "conflicting duplicate: reading id {id!r} of KPI {kpi} was recorded as "
                "{was!r} observed at {was_at} from {was_source!r}; this one says {value!r} at "
                "{at} from {source!r}", id=reading_id, kpi=self.key, was=was["value"],
                was_at=was["observed_at"], was_source=was["source"], value=value,
                at=observed_at, source=source.strip())

    class KpiReadingRecorded(LedgerAggregate.Event):
        """A reading of the KPI."""

        value: float
        observed_at: datetime
        source: str
        reading_id: str | None
        actor: str

        def apply(self, aggregate: Any) -> None:
            # modified_on is set only after the decorated method ran: the reading takes its
            # recording time (and the id its version) from its own event.
            aggregate.last_recorded["recorded_at"] = self.timestamp
            if self.reading_id is not None:
                aggregate.reading_ids[self.reading_id] = self.originator_version

    @event(KpiReadingRecorded)
    def _record(self, value: float, observed_at: datetime, source: str, reading_id: str | None,
                actor: str) -> None:
        r: Reading = {"value": value, "observed_at": observed_at, "source": source,
                      "recorded_at": None}  # set by apply
        self.last_recorded = r
        self.reading_count += 1
        # Sorted by observed time; a reading of a time already there replaces that one.
        self.last_readings = sorted([*(x for x in self.last_readings
                                       if x["observed_at"] != observed_at), r],
                                    key=lambda x: x["observed_at"])[-2:]

    def latest_reading(self) -> Reading | None:
        """The reading with the latest observed time (of equal ones, the later recorded) — none
        if that was observed before the KPI was in force (then every one was: `counts_at`)."""
        last = self.last_readings[-1] if self.last_readings else None
        return last if last is not None and self.counts_at(last["observed_at"]) else None

    def retire(self, actor: str, reason: str | None = None) -> None:
        """Stop tracking the KPI; its history stays."""
        if self.retired:
            raise DomainError(f"KPI {self.key} is already retired")
        self._retire(actor=actor, reason=check_reason(reason))

    @event("KpiRetired")
    def _retire(self, actor: str, reason: str | None) -> None:
        self.retired = True
