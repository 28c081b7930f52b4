"""Scoring worked out by hand from the rules in docs/scoring.md — never by running the code.

Every key-result kind and branch (inside/outside a band, a start on either side, met and
breached, with and without a tolerance, milestones), status exactly at and just past each gap,
staleness for every cadence (a KPI going stale included), KPI health, which check-in is the
latest, expected progress with and without phased targets, weighted objective scores and
grading per type.

tests/unit/test_scoring_table.py checks each row through the domain (domain/scoring.py and the
replay in domain/history.py), the DuckDB macros (projections/macros.sql) and `okr scorecard
--json`, over one ledger built from these rows (`build`).

The scenario's cycle is 2025-Q3: 1 July to 1 October 2025 UTC, 92 days. Unless a row says
otherwise, the scorecard is read at MID, day 46 — half the cycle elapsed, so a linear key
result is expected at 0.5 and a threshold at 1.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from okr.ledger.app import OkrLedger
from tests.support.clock import recording_at

CYCLE = "2025-Q3"
CYCLE_START = datetime(2025, 7, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MID = CYCLE_START + 46 * DAY  # 2025-08-16T00:00Z, half of 92 days
PLANNED = datetime(2025, 5, 1, tzinfo=UTC)  # everything is planned before any reading
CHECKED_IN = datetime(2025, 8, 1, tzinfo=UTC)  # every check-in's time (before MID)
KNOWN = datetime(2025, 9, 1, tzinfo=UTC)  # known_at of every read: all is recorded by then
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Progress:
    """A key result with one value (None: no check-in), its progress and its status at MID."""

    kind: str
    start: float
    target: float
    high: float | None
    tolerance: float | None
    value: float | None
    progress: float
    status: str  # at MID: expected 0.5 for increase/decrease/milestone, 1 for thresholds
    why: str


P = Progress
PROGRESS = [
    # increase: the share of the way from start to target, clamped
    P("increase", 0, 40, None, None, 10, 0.25, "at-risk", "a quarter of the way; gap 0.25"),
    P("increase", 0, 40, None, None, 0, 0.0, "off-track", "at the start"),
    P("increase", 0, 40, None, None, 40, 1.0, "on-track", "at the target"),
    P("increase", 0, 40, None, None, 50, 1.0, "on-track", "past the target: clamped"),
    P("increase", 10, 50, None, None, 5, 0.0, "off-track", "below the start: clamped"),
    P("increase", -20, 20, None, None, 0, 0.5, "on-track", "a negative start"),
    P("increase", 0, 40, None, None, None, 0.0, "off-track", "no check-in yet"),
    P("increase", 0, 40, None, None, 16, 0.4, "on-track", "gap 0.1 exactly"),
    # decrease: the same share, going down
    P("decrease", 100, 20, None, None, 40, 0.75, "on-track", "60 of 80 down"),
    P("decrease", 100, 20, None, None, 20, 1.0, "on-track", "at the target"),
    P("decrease", 100, 20, None, None, 10, 1.0, "on-track", "past the target"),
    P("decrease", 100, 20, None, None, 120, 0.0, "off-track", "the wrong way"),
    P("decrease", 100, 20, None, None, 70, 0.375, "at-risk", "30 of 80 down; gap 0.125"),
    # milestone: from 0 (not done) to 1 (done)
    P("milestone", 0, 1, None, None, 0, 0.0, "off-track", "not done"),
    P("milestone", 0, 1, None, None, 1, 1.0, "on-track", "done"),
    # values a milestone check-in refuses now, as an earlier version recorded them
    P("milestone", 0, 1, None, None, 2, 1.0, "on-track", "past done: clamped"),
    P("milestone", 0, 1, None, None, 0.5, 0.5, "on-track", "half: its share"),
    P("milestone", 0, 1, None, None, -1, 0.0, "off-track", "below: clamped"),
    # stay-above 70: met 1, breached 0, start irrelevant
    P("stay-above", 60, 70, None, None, 75, 1.0, "on-track", "start below, met"),
    P("stay-above", 60, 70, None, None, 70, 1.0, "on-track", "exactly at the threshold"),
    P("stay-above", 60, 70, None, None, 69, 0.0, "off-track", "start below, just breached"),
    P("stay-above", 60, 70, None, None, 55, 0.0, "off-track", "below the start too"),
    P("stay-above", 80, 70, None, None, 69, 0.0, "off-track", "start above, breached"),
    P("stay-above", 80, 70, None, None, 71, 1.0, "on-track", "start above, met"),
    P("stay-above", 0, 70, None, None, None, 0.0, "off-track", "no check-in yet"),
    # stay-above 70 with a band 4 wide: 1 - shortfall/4
    P("stay-above", 60, 70, None, 4, 70, 1.0, "on-track", "at the threshold"),
    P("stay-above", 60, 70, None, 4, 69, 0.75, "at-risk", "1 short; gap 0.25 exactly"),
    P("stay-above", 60, 70, None, 4, 67, 0.25, "off-track", "3 short"),
    P("stay-above", 60, 70, None, 4, 66, 0.0, "off-track", "at the band's edge"),
    P("stay-above", 60, 70, None, 4, 50, 0.0, "off-track", "far past the band"),
    P("stay-above", 60, 70, None, 4, 69.6, 0.9, "on-track", "0.4 short; gap 0.1"),
    # stay-below 30
    P("stay-below", 40, 30, None, None, 25, 1.0, "on-track", "start above, met"),
    P("stay-below", 40, 30, None, None, 30, 1.0, "on-track", "exactly at the threshold"),
    P("stay-below", 40, 30, None, None, 31, 0.0, "off-track", "start above, just breached"),
    P("stay-below", 20, 30, None, None, 31, 0.0, "off-track", "start below, breached"),
    P("stay-below", 20, 30, None, None, 10, 1.0, "on-track", "start below, met"),
    # stay-below 30 with a band 8 wide
    P("stay-below", 40, 30, None, 8, 32, 0.75, "at-risk", "2 over"),
    P("stay-below", 40, 30, None, 8, 36, 0.25, "off-track", "6 over"),
    P("stay-below", 40, 30, None, 8, 38, 0.0, "off-track", "at the band's edge"),
    P("stay-below", 40, 30, None, 8, 45, 0.0, "off-track", "past the band"),
    P("stay-below", 40, 30, None, 8, 29, 1.0, "on-track", "met"),
    # range 40–60, start inside, below and above the band
    P("range", 50, 40, 60, None, 50, 1.0, "on-track", "inside"),
    P("range", 50, 40, 60, None, 40, 1.0, "on-track", "on the low bound"),
    P("range", 50, 40, 60, None, 60, 1.0, "on-track", "on the high bound"),
    P("range", 50, 40, 60, None, 39, 0.0, "off-track", "just below"),
    P("range", 50, 40, 60, None, 61, 0.0, "off-track", "just above"),
    P("range", 30, 40, 60, None, 35, 0.0, "off-track", "start below, still below"),
    P("range", 30, 40, 60, None, 45, 1.0, "on-track", "start below, now inside"),
    P("range", 30, 40, 60, None, 65, 0.0, "off-track", "start below, overshot"),
    P("range", 70, 40, 60, None, 65, 0.0, "off-track", "start above, still above"),
    P("range", 70, 40, 60, None, 55, 1.0, "on-track", "start above, now inside"),
    P("range", 70, 40, 60, None, 35, 0.0, "off-track", "start above, undershot"),
    # range 40–60 with a band 10 wide on each side
    P("range", 50, 40, 60, 10, 38, 0.8, "at-risk", "2 below; gap 0.2"),
    P("range", 50, 40, 60, 10, 62, 0.8, "at-risk", "2 above"),
    P("range", 30, 40, 60, 10, 35, 0.5, "off-track", "5 below, start below"),
    P("range", 70, 40, 60, 10, 65, 0.5, "off-track", "5 above, start above"),
    P("range", 50, 40, 60, 10, 30, 0.0, "off-track", "at the low band's edge"),
    P("range", 50, 40, 60, 10, 75, 0.0, "off-track", "past the high band"),
    P("range", 50, 40, 60, 10, 45, 1.0, "on-track", "inside"),
]


# Start equal to target: the domain refuses such a plan (check_plan), but a record from
# Kafka need not come through the domain, and the rule must still not divide by zero: at the
# goal 1, anywhere else 0. Checked on the rules alone (a ledger cannot hold these).
DEGENERATE = [
    P("increase", 5, 5, None, None, 5, 1.0, "on-track", "at a goal it started at"),
    P("increase", 5, 5, None, None, 4, 0.0, "off-track", "off a goal it started at"),
    P("decrease", 5, 5, None, None, 6, 0.0, "off-track", "off a goal it started at"),
]


@dataclass(frozen=True)
class Status:
    actual: float
    expected: float
    status: str


STATUS = [
    Status(0.5, 0.5, "on-track"),
    Status(0.9, 0.5, "on-track"),  # ahead
    Status(0.4, 0.5, "on-track"),  # gap exactly 0.1
    Status(0.4 - 1e-6, 0.5, "at-risk"),  # just past 0.1
    Status(0.39, 0.5, "at-risk"),
    Status(0.25, 0.5, "at-risk"),  # gap exactly 0.25
    Status(0.25 - 1e-6, 0.5, "off-track"),  # just past 0.25
    Status(0.24, 0.5, "off-track"),
    Status(0.9, 1.0, "on-track"),  # gap 0.1 from 1
    Status(0.75, 1.0, "at-risk"),  # gap 0.25 from 1
    Status(0.74, 1.0, "off-track"),
    Status(0.0, 1.0, "off-track"),  # a breached threshold
    Status(0.0, 0.0, "on-track"),  # nothing expected yet
    # floating point: 0.8 - 0.7 is 0.10000000000000009 and 0.55 - 0.3 is 0.25000000000000006,
    # which are the gaps 0.1 and 0.25 as people count
    Status(0.7, 0.8, "on-track"),
    Status(0.3, 0.55, "at-risk"),
]


@dataclass(frozen=True)
class Stale:
    """A KPI whose only reading is `age` old at MID (None: never read)."""

    cadence: str
    age: timedelta | None
    stale: bool


STALE = [
    Stale("daily", timedelta(0), False),
    Stale("daily", DAY, False),  # exactly one period: not yet
    Stale("daily", DAY + SECOND, True),
    Stale("weekly", 7 * DAY, False),
    Stale("weekly", 7 * DAY + SECOND, True),
    Stale("weekly", 3 * DAY, False),
    Stale("monthly", 31 * DAY, False),
    Stale("monthly", 31 * DAY + SECOND, True),
    Stale("monthly", 30 * DAY, False),
    Stale("monthly", 45 * DAY, True),
    Stale("quarterly", 92 * DAY, False),
    Stale("quarterly", 92 * DAY + SECOND, True),
    Stale("weekly", None, True),  # no reading at all
]


@dataclass(frozen=True)
class Health:
    """A daily KPI read an hour before MID."""

    direction: str
    green: float
    red: float
    value: float
    health: str


HEALTH = [
    Health("up", 70, 50, 75, "green"),
    Health("up", 70, 50, 70, "green"),  # at green
    Health("up", 70, 50, 69, "amber"),
    Health("up", 70, 50, 50, "amber"),  # at red: not yet red
    Health("up", 70, 50, 49, "red"),
    Health("down", 30, 50, 25, "green"),
    Health("down", 30, 50, 30, "green"),
    Health("down", 30, 50, 31, "amber"),
    Health("down", 30, 50, 50, "amber"),
    Health("down", 30, 50, 51, "red"),
]


@dataclass(frozen=True)
class Expected:
    """A key result without check-ins; its expected progress `day` days into the cycle."""

    kind: str
    start: float
    target: float
    high: float | None
    phases: tuple[tuple[int, float], ...]  # (day of the cycle, planned value)
    day: float
    expected: float


E = Expected
EXPECTED = [
    E("increase", 0, 100, None, (), 0, 0.0),
    E("increase", 0, 100, None, (), 23, 0.25),
    E("increase", 0, 100, None, (), 46, 0.5),
    E("increase", 0, 100, None, (), 92, 1.0),  # the cycle's end
    E("increase", 0, 100, None, (), -5, 0.0),  # before the cycle: clamped
    E("increase", 0, 100, None, (), 100, 1.0),  # after it: clamped
    E("decrease", 80, 0, None, (), 69, 0.75),
    E("milestone", 0, 1, None, (), 46, 0.5),
    # phased: 0 → 20 on day 46 → 100 on day 92
    E("increase", 0, 100, None, ((46, 20.0),), 23, 0.1),
    E("increase", 0, 100, None, ((46, 20.0),), 46, 0.2),
    E("increase", 0, 100, None, ((46, 20.0),), 69, 0.6),
    E("increase", 0, 100, None, ((46, 20.0),), 92, 1.0),
    # two phases: 100 → 90 (day 23) → 80 (day 46) → 0; a decrease of 100
    E("decrease", 100, 0, None, ((23, 90.0), (46, 80.0)), 23, 0.1),
    E("decrease", 100, 0, None, ((23, 90.0), (46, 80.0)), 34.5, 0.15),
    E("decrease", 100, 0, None, ((23, 90.0), (46, 80.0)), 69, 0.6),
    # thresholds hold all cycle long
    E("stay-above", 0, 70, None, (), 0, 1.0),
    E("stay-below", 40, 30, None, (), 46, 1.0),
    E("range", 50, 40, 60, (), 92, 1.0),
]


@dataclass(frozen=True)
class Graded:
    """An objective whose increase key results (0 → 1) have these (value, weight) pairs."""

    okr_type: str
    krs: tuple[tuple[float, float], ...]
    score: float | None
    succeeded: bool | None


G = Graded
OBJECTIVES = [
    G("committed", ((1, 1), (1, 2)), 1.0, True),
    G("committed", ((1, 1), (0.5, 1)), 0.75, False),
    G("committed", ((0.25, 1), (1, 3)), 0.8125, False),  # (0.25 + 3) / 4
    G("committed", ((1, 19), (0, 1)), 0.95, False),  # just under 1
    G("committed", (), None, None),  # nothing to score
    G("aspirational", ((1, 7), (0, 3)), 0.7, True),  # exactly 0.7
    G("aspirational", ((1, 3), (0, 1)), 0.75, True),
    G("aspirational", ((1, 6), (0, 4)), 0.6, False),
    G("aspirational", ((0.68, 1),), 0.68, False),  # just under 0.7
    G("learning", ((1, 1),), 1.0, None),  # learning OKRs are not graded
    G("learning", ((0, 1),), 0.0, None),
]


@dataclass(frozen=True)
class Latest:
    """An increase key result 0 → 40 with these check-ins (effective day, recorded day,
    value): the one in force at MID is the latest by effective time, then by recording."""

    check_ins: tuple[tuple[float, float, float], ...]
    value: float
    progress: float


LATEST = [
    Latest(((14, 14, 10), (31, 31, 20)), 20, 0.5),  # the later one
    Latest(((31, 31, 20), (14, 35, 10)), 20, 0.5),  # recorded later, but effective earlier
    Latest(((31, 31, 20), (31, 35, 30)), 30, 0.75),  # same instant: the later recording
    Latest(((31, 31, 20), (50, 50, 40)), 20, 0.5),  # the other is after MID
]


def at_day(day: float) -> datetime:
    return CYCLE_START + timedelta(days=day)


def build(app: OkrLedger) -> None:
    """Write every row into the ledger: one objective per row (keys `p3`, `s0`, `h2`, `e5`,
    `g1`, …) with its key results (`p3-kr`, `g1-kr0`, …)."""
    ticks = iter(range(100_000))
    with recording_at(lambda: PLANNED + next(ticks) * SECOND):
        app.add_cycle(CYCLE)
        for i, p in enumerate(PROGRESS):
            app.add_objective(f"p{i}", p.why, cycle=CYCLE, owner="ana")
            app.add_key_result(f"p{i}-kr", p.why, objective=f"p{i}", kind=p.kind,
                               start=p.start, target=p.target, target_high=p.high,
                               tolerance=p.tolerance)
        for i, s in enumerate(STALE):
            app.add_kpi(f"stale-{i}", "stale?", green=70, red=50, cadence=s.cadence)
            app.add_objective(f"s{i}", "stale?", cycle=CYCLE, owner="ana")
            app.add_key_result(f"s{i}-kr", "stale?", objective=f"s{i}", target=100,
                               kpi=f"stale-{i}")
        for i, h in enumerate(HEALTH):
            app.add_kpi(f"health-{i}", "health", direction=h.direction, green=h.green,
                        red=h.red, cadence="daily")
            app.add_objective(f"h{i}", "health", cycle=CYCLE, owner="ana")
            app.add_key_result(f"h{i}-kr", "health", objective=f"h{i}", target=100,
                               kpi=f"health-{i}")
        for i, e in enumerate(EXPECTED):
            app.add_objective(f"e{i}", "expected", cycle=CYCLE, owner="ana")
            app.add_key_result(f"e{i}-kr", "expected", objective=f"e{i}", kind=e.kind,
                               start=e.start, target=e.target, target_high=e.high,
                               phases=[{"at": at_day(d), "value": v} for d, v in e.phases])
        for i in range(len(LATEST)):
            app.add_objective(f"l{i}", "latest", cycle=CYCLE, owner="ana")
            app.add_key_result(f"l{i}-kr", "latest", objective=f"l{i}", target=40)
        for i, g in enumerate(OBJECTIVES):
            app.add_objective(f"g{i}", "graded", cycle=CYCLE, owner="ana", okr_type=g.okr_type)
            for j, (_, weight) in enumerate(g.krs):
                app.add_key_result(f"g{i}-kr{j}", "graded", objective=f"g{i}", weight=weight)
    # Readings and check-ins, recorded when they happened, in time order.
    later: list[tuple[datetime, str, Callable[[], object]]] = []
    for i, s in enumerate(STALE):
        if s.age is not None:
            t = MID - s.age
            later.append((t, f"s{i}", partial(app.record_reading, f"stale-{i}", 60, at=t)))
    for i, h in enumerate(HEALTH):
        t = MID - timedelta(hours=1)
        later.append((t, f"h{i}", partial(app.record_reading, f"health-{i}", h.value, at=t)))
    for i, p in enumerate(PROGRESS):
        if p.value is not None:
            old = p.kind == "milestone" and p.value not in (p.start, p.target)
            later.append((CHECKED_IN, f"p{i}", partial(
                recorded_before_milestones_were_done_or_not if old else app.check_in,
                *((app,) if old else ()), f"p{i}-kr", p.value, at=CHECKED_IN)))
    for i, g in enumerate(OBJECTIVES):
        for j, (value, _) in enumerate(g.krs):
            later.append((CHECKED_IN, f"g{i}",
                          partial(app.check_in, f"g{i}-kr{j}", value, at=CHECKED_IN)))
    for i, lt in enumerate(LATEST):
        for n, (effective, recorded, value) in enumerate(lt.check_ins):
            later.append((at_day(recorded), f"l{i}-{n}", partial(
                app.check_in, f"l{i}-kr", value, at=at_day(effective))))
    for t, _, write in sorted(later, key=lambda w: (w[0], w[1])):
        with recording_at(lambda t=t: t):  # type: ignore[misc]
            write()


def recorded_before_milestones_were_done_or_not(app: OkrLedger, key: str, value: float,
                                                at: datetime) -> None:
    """A milestone check-in the command refuses today, recorded as its event (as an earlier
    version did): ledgers holding one must replay and score it."""
    kr = app.key_result(key)
    kr._check_in(value=float(value), confidence=None, note="", effective_at=at, actor="ana",
                 source="manual")
    app.save(kr)


def mismatches(cards: list[dict[str, Any]], read_at: float) -> list[str]:
    """How a scorecard read `read_at` days into the cycle (as known at KNOWN) differs from
    the rows that speak of that instant (MID: every row but most of EXPECTED)."""
    objectives = {c["key"]: c for c in cards}
    krs = {k["key"]: k for c in cards for k in c["key_results"]}
    out: list[str] = []

    def check(what: str, got: Any, want: Any) -> None:
        same = got == want if not isinstance(want, float) or got is None \
            else abs(got - want) <= 1e-9
        if not same:
            out.append(f"{what}: got {got!r}, want {want!r}")

    for i, e in enumerate(EXPECTED):
        if e.day == read_at:
            check(f"e{i} {e} expected", krs[f"e{i}-kr"]["expected"], e.expected)
    if at_day(read_at) != MID:
        return out
    for i, p in enumerate(PROGRESS):
        kr = krs[f"p{i}-kr"]
        check(f"p{i} {p} progress", kr["progress"], p.progress)
        check(f"p{i} {p} status", kr["status"], p.status)
        check(f"p{i} {p} tolerance", kr["tolerance"], p.tolerance)
        check(f"p{i} {p} score", objectives[f"p{i}"]["score"], p.progress)
    for i, s in enumerate(STALE):
        kr = krs[f"s{i}-kr"]
        check(f"s{i} {s} kpi_stale", kr["kpi_stale"], s.stale)
        check(f"s{i} {s} value", kr["value"], None if s.age is None else 60.0)
    for i, h in enumerate(HEALTH):
        kr = krs[f"h{i}-kr"]
        check(f"h{i} {h} kpi_health", kr["kpi_health"], h.health)
        check(f"h{i} {h} stale", kr["kpi_stale"], False)
    for i, lt in enumerate(LATEST):
        kr = krs[f"l{i}-kr"]
        check(f"l{i} {lt} value", kr["value"], float(lt.value))
        check(f"l{i} {lt} progress", kr["progress"], lt.progress)
    for i, g in enumerate(OBJECTIVES):
        card = objectives[f"g{i}"]
        check(f"g{i} {g} score", card["score"], g.score)
        check(f"g{i} {g} succeeded", card["succeeded"], g.succeeded)
        check(f"g{i} {g} key results", len(card["key_results"]), len(g.krs))
    return out


READ_DAYS = sorted({46.0, *(float(e.day) for e in EXPECTED)})
