"""What a write records that no as-of view will show where a person expects it: said, never
refused (docs/scoring.md, "Valid time of the plan").

An as-of view shows a KPI's reading only once the KPI is in force (`Kpi.counts_at`), an
objective only while its cycle is in force too, and a key result only while its objective and
that objective's cycle are in force too (the scorecard
lists key results under the objectives in force, those under the cycles in force:
domain/history.py `scorecard`, projections/macros.sql `objectives_at`). Every edge that
records readings, objectives or key results — the CLI, the API, the imports, the ingest —
asks here and says the notice in its person's zone.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from okr.domain.cycle import Cycle
from okr.domain.errors import filled
from okr.domain.kpi import Kpi
from okr.domain.objective import Objective


def _utc(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Notice:
    """A warning about a recorded item; its times are data, said by the edge (`said`)."""

    template: str
    values: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None  # when the item first counts in an as-of view

    def said(self, when: Callable[[datetime], str] | None = None) -> str:
        """The warning with each time it names written by `when` (default: UTC)."""
        return filled(self.template, self.values, when or _utc)

    def __str__(self) -> str:
        return self.said()


def early_reading(kpi: Kpi, observed_at: datetime) -> Notice | None:
    """A notice when a reading observed then counts in no as-of view (before its KPI was in
    force), else None."""
    if kpi.counts_at(observed_at):
        return None
    return Notice("observed before KPI {kpi} was in force (since {since}): this reading "
                  "counts in no as-of view; a KPI that carries history is added with "
                  "--effective", {"kpi": kpi.key, "since": kpi.in_force_since},
                  kpi.in_force_since)


def early_objective(key: str, in_force_since: datetime, cycle: Cycle) -> Notice | None:
    """A notice when objective `key`, in force since then in `cycle`, shows in no as-of view
    until later (its cycle comes into force later: a quarter is in force from its start),
    else None."""
    since = max(in_force_since, cycle.in_force_since)
    if since == in_force_since:
        return None
    return Notice("objective {objective} counts from {since}, when its cycle {cycle} is in "
                  "force: no as-of view shows it before then",
                  {"objective": key, "since": since, "cycle": cycle.key}, since)


def key_result_counts_from(in_force_since: datetime, objective: Objective, cycle: Cycle
                           ) -> datetime:
    """When a key result in force since then first shows in an as-of view: once its objective
    and that objective's cycle are in force too."""
    return max(in_force_since, objective.in_force_since, cycle.in_force_since)


def early_key_result(key: str, in_force_since: datetime, objective: Objective, cycle: Cycle
                     ) -> Notice | None:
    """A notice when key result `key`, in force since then under `objective`, shows in no
    as-of view until later (its objective or their cycle comes into force later), else None."""
    since = key_result_counts_from(in_force_since, objective, cycle)
    if since == in_force_since:
        return None
    what = (f"objective {objective.key}" if since == objective.in_force_since
            else f"cycle {cycle.key}")
    return Notice("key result {kr} counts from {since}, when its {what} is in force: no "
                  "as-of view shows it before then", {"kr": key, "since": since, "what": what},
                  since)
