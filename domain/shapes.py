"""The shapes that cross layers: what a phase, a check-in, a reading and a scorecard card hold.

The aggregates, the replay (history.py), the projection (its `scorecard_at` macro, columns
mapped in projections/queries.py) and the CLI all speak these; TypedDicts, so the JSON the CLI
prints and the rows the folds keep are the same plain dicts they always were.
"""

from datetime import datetime
from typing import NotRequired, TypedDict


class Phase(TypedDict):
    """A phased target: the value expected at an instant of the cycle."""

    at: datetime
    value: float


class CheckIn(TypedDict):
    """A key result's measured value at its effective (valid) time."""

    value: float
    confidence: float | None
    effective_at: datetime
    position: NotRequired[int]  # the replay's tie-break: the later-recorded wins
    note: NotRequired[str | None]
    actor: NotRequired[str]
    on_behalf_of: NotRequired[str | None]  # whom the actor checked in for (--on-behalf-of)
    source: NotRequired[str | None]
    recorded_at: NotRequired[datetime | None]


class Reading(TypedDict):
    """A KPI's value as observed at its observed (valid) time."""

    value: float
    observed_at: datetime
    position: NotRequired[int]
    source: NotRequired[str | None]
    recorded_at: NotRequired[datetime | None]


class KpiNow(TypedDict):
    """A KPI's latest value, its health against the thresholds and whether it is overdue."""

    value: float | None
    observed_at: datetime | None
    health: str | None
    stale: bool


class KeyResultMeasure(TypedDict):
    """What a key result's card measures at an instant (cards.measure_key_result)."""

    value: float | None
    progress: float
    expected: float
    status: str
    confidence: float | None
    kpi_health: str | None
    kpi_stale: bool | None


class ObjectiveMeasure(TypedDict):
    """An objective's weighted score, expectation, track and grade (cards.measure_objective)."""

    score: float | None
    expected: float | None
    track: str | None
    succeeded: bool | None
