"""Due and overdue: key results without a check-in within their cadence, KPIs red or stale.

The rule (docs/scoring.md, "Due and overdue"): a key result of an active objective in a cycle
that is under way (started, not ended, not closed) is **overdue** when its latest check-in —
or, without one, the moment it came into force (never before its cycle's start) — is more
than one check-in cadence period old. A key result linked to a KPI takes its value from the
KPI's readings, so it is not listed: its KPI is. A KPI not retired is listed when its latest
reading is **red** or it is **stale** (scoring.kpi_stale). `okr due` and the reminders `okr up`
publishes on okr.notifications both come from here.
"""

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

from okr.domain import scoring
from okr.domain.cards import kpi_now
from okr.domain.vocab import CycleStatus, Health, ObjectiveStatus

NO_CHECK_IN = "no-check-in"
STALE = "stale"
RED = "red"


class DueItem(TypedDict):
    """One reminder: what is due, whose, why, and since when."""

    kind: str  # "key_result" or "kpi"
    key: str
    title: str
    owner: str
    team: str  # a key result's objective's team; a KPI's: its linked objectives' teams, joined
    teams: list[str]
    cycle: str | None
    reasons: list[str]  # no-check-in, stale, red
    cadence: str
    last_at: datetime | None  # the latest check-in's effective time, or reading's observation
    due_at: datetime  # when it became due: last_at (or in force since) + one cadence period
    overdue_seconds: int
    value: float | None
    health: str | None


def key_result_due(kr: Mapping[str, Any], cadence: str, now: datetime) -> DueItem | None:
    """A key result's reminder at `now`, or None. `kr` holds key, title, owner, team, cycle,
    cycle_start, cycle_end, cycle_status, objective_status, kpi, since (in force from),
    last_at (latest check-in's effective time, None without one) and value."""
    if kr["kpi"] or not running(kr, now):
        return None
    base = kr["last_at"] or max(kr["since"], kr["cycle_start"])
    due_at = base + scoring.CADENCE_PERIOD[cadence]
    if now <= due_at:  # exactly one period old is not yet overdue, as for a KPI's staleness
        return None
    teams = [kr["team"]] if kr["team"] else []
    return {"kind": "key_result", "key": kr["key"], "title": kr["title"], "owner": kr["owner"],
            "team": kr["team"], "teams": teams, "cycle": kr["cycle"],
            "reasons": [NO_CHECK_IN], "cadence": cadence, "last_at": kr["last_at"],
            "due_at": due_at, "overdue_seconds": _seconds(now - due_at), "value": kr["value"],
            "health": None}


def kpi_due(kpi: Mapping[str, Any], teams: Iterable[str], now: datetime) -> DueItem | None:
    """A KPI's reminder at `now` (red, stale or both), or None. `kpi` holds key, name, owner,
    direction, green, red, cadence, since (in force from), value and observed_at (None
    without a reading); `teams` are the teams of the objectives whose key results link it."""
    reading = (None if kpi["observed_at"] is None
               else {"value": kpi["value"], "observed_at": kpi["observed_at"]})
    state = kpi_now(kpi, reading, now)
    reasons = [r for r, hit in ((RED, state["health"] == Health.RED), (STALE, state["stale"]))
               if hit]
    if not reasons:
        return None
    last = kpi["observed_at"]
    # Stale: due one period after the latest reading (without one: since it was in force).
    # Red but fresh: due since the red reading.
    due_at = (kpi["since"] if last is None
              else last + scoring.CADENCE_PERIOD[kpi["cadence"]] if state["stale"] else last)
    names = sorted({t for t in teams if t})
    return {"kind": "kpi", "key": kpi["key"], "title": kpi["name"], "owner": kpi["owner"],
            "team": ", ".join(names), "teams": names, "cycle": None, "reasons": reasons,
            "cadence": kpi["cadence"], "last_at": last, "due_at": due_at,
            "overdue_seconds": _seconds(now - due_at), "value": kpi["value"],
            "health": state["health"]}


def running(kr: Mapping[str, Any], now: datetime) -> bool:
    """Whether a key result is being worked on at `now`: its objective active, its cycle
    started, not ended and not closed."""
    return bool(kr["objective_status"] == ObjectiveStatus.ACTIVE
                and kr["cycle_status"] != CycleStatus.CLOSED
                and kr["cycle_start"] <= now < kr["cycle_end"])


def due_items(krs: Iterable[Mapping[str, Any]], kpis: Iterable[Mapping[str, Any]],
              cadence: str, now: datetime) -> list[DueItem]:
    """Every reminder at `now`, by owner, team, then the longest overdue first. A KPI's
    teams are those of the running key results that link it."""
    krs = list(krs)
    kpi_teams: dict[str, set[str]] = {}
    for kr in krs:
        if kr["kpi"] and running(kr, now):
            kpi_teams.setdefault(kr["kpi"], set()).add(kr["team"])
    items = [i for i in (key_result_due(kr, cadence, now) for kr in krs) if i is not None]
    items += [i for i in (kpi_due(k, kpi_teams.get(k["key"], set()), now) for k in kpis
                          if not k["retired"]) if i is not None]
    return sorted(items, key=lambda i: (i["owner"], i["team"], -i["overdue_seconds"],
                                        i["kind"], i["key"]))


def _seconds(d: timedelta) -> int:
    return max(0, int(d.total_seconds()))


def reminder_id(item: DueItem, now: datetime) -> str:
    """Names one reminder: the item, why, since when, and which cadence period of being
    overdue `now` falls in — so a reminder is sent once per item per period, again only
    after another whole period overdue (or when the item changes: a new check-in, reading
    or reason is a new reminder)."""
    period = scoring.CADENCE_PERIOD[item["cadence"]]
    n = int((now - item["due_at"]) / period) if now > item["due_at"] else 0
    text = "|".join([item["kind"], item["key"], ",".join(item["reasons"]),
                     item["due_at"].isoformat(), str(n)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]
