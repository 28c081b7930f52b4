"""A deterministic synthetic organisation: several teams, several quarters, history with
back-dated check-ins, mid-quarter target revisions, KPI links and daily readings.

Used by the tests (the differential test of the projection), the benchmarks and the demo.
Events are recorded with the simulated time as their recording time (`recording_at`), in time
order, and saved through the ledger's batched path (one transaction per `batch` events).
"""

import heapq
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from okr.domain.cycle import Cycle
from okr.domain.key_result import KeyResult
from okr.domain.kpi import Kpi
from okr.domain.objective import Objective
from okr.domain.periods import named_window
from okr.ledger.app import OkrLedger
from tests.support.clock import recording_at

KINDS = ("increase", "increase", "decrease", "stay-above", "stay-below", "range", "milestone")
THRESHOLDS = ("stay-above", "stay-below", "range")
DAY = timedelta(days=1)
Action = tuple[datetime, int, Callable[[], list[Aggregate]]]


@dataclass(frozen=True)
class Shape:
    """How big the organisation is. The defaults make a small, quick history."""

    seed: int = 7
    teams: int = 3
    quarters: int = 2
    first_quarter: str = "2025-Q3"
    objectives_per_team: int = 2
    krs_per_objective: int = 3
    kpis: int = 4
    readings_per_day: int = 1
    backdated_share: float = 0.15
    revised_share: float = 0.2
    # Close each quarter early, mid-quarter (docs/scoring.md#grades: its tracks say `final`
    # from then on): the first, third … reopened a fortnight later (and closed after the end
    # as usual), the others left closed.
    close_early: bool = False

    @classmethod
    def scaled(cls, scale: str | float) -> "Shape":
        """`small` for quick runs, `full` for the benchmark history (50 teams, 8 quarters,
        6,008 key results with weekly check-ins, 1,200 KPIs read daily: about a million
        events), or a factor of `full` (teams and KPIs scale, the eight quarters stay)."""
        if scale == "small":
            return cls(teams=10, quarters=4, objectives_per_team=3, krs_per_objective=3,
                       kpis=20, readings_per_day=4, first_quarter="2025-Q4")
        f = 1.0 if scale == "full" else float(scale)
        return cls(teams=max(1, round(50 * f)), quarters=8, objectives_per_team=3,
                   krs_per_objective=5, kpis=max(2, round(1200 * f)), readings_per_day=1,
                   first_quarter="2024-Q4")


@dataclass
class Generated:
    events: int = 0
    cycles: list[str] = field(default_factory=list)
    key_results: int = 0
    kpis: int = 0
    last_recorded: datetime | None = None


def _quarters(first: str, n: int) -> list[str]:
    year, q = int(first[:4]), int(first[-1])
    out = []
    for _ in range(n):
        out.append(f"{year}-Q{q}")
        q += 1
        if q == 5:
            year, q = year + 1, 1
    return out


class _World:
    """Aggregates kept in memory while the history is written; saved in batches."""

    def __init__(self, app: OkrLedger, batch: int, progress: Callable[[int], None] | None):
        self.app, self.batch, self.progress = app, batch, progress
        self.dirty: dict[Any, Aggregate] = {}
        self.pending = 0
        self.saved = 0

    def touch(self, *aggs: Aggregate) -> list[Aggregate]:
        for a in aggs:
            self.dirty[a.id] = a
        return list(aggs)

    def flush(self, force: bool = False) -> None:
        pending = sum(len(a.pending_events) for a in self.dirty.values())
        if not pending or (pending < self.batch and not force):
            return
        self.app.save(*self.dirty.values())
        self.saved += pending
        self.dirty.clear()
        if self.progress is not None:
            self.progress(self.saved)


def generate(app: OkrLedger, shape: Shape = Shape(), *, batch: int = 2000,
             progress: Callable[[int], None] | None = None,
             until: datetime | None = None) -> Generated:
    """Write the synthetic history into the ledger; returns what was written.

    `until` stops the history at that simulated instant (default: end of the last quarter
    plus a week).
    """
    rnd = random.Random(shape.seed)
    quarters = _quarters(shape.first_quarter, shape.quarters)
    windows = {q: named_window(q) for q in quarters}
    first_start = windows[quarters[0]].start  # type: ignore[union-attr]
    last_end = windows[quarters[-1]].end  # type: ignore[union-attr]
    until = until or last_end + 7 * DAY
    world = _World(app, batch, progress)
    out = Generated(cycles=quarters)
    seq = iter(range(10**12))
    kpis: dict[str, Kpi] = {}
    actions: list[Iterable[Action]] = []

    def at(t: datetime, fn: Callable[[], list[Aggregate]]) -> Action:
        return (t, next(seq), fn)

    # KPIs exist before the first cycle and outlive them.
    kpi_setup: list[Action] = []
    for i in range(shape.kpis):
        key = f"kpi-{i:03d}"
        up = i % 3 != 2
        tags = ["guardrail" if i % 5 == 0 else "operational",
                "leading" if i % 2 else "lagging"]

        def add_kpi(key: str = key, up: bool = up, tags: list[str] = tags) -> list[Aggregate]:
            k = Kpi.add(key, f"KPI {key}", "pts", "up" if up else "down", None,
                        green=70.0 if up else 30.0, red=50.0,
                        cadence="daily", tags=tags, owner="data-team", actor="gen")
            kpis[key] = k
            return world.touch(k)
        kpi_setup.append(at(first_start - 14 * DAY + i * timedelta(seconds=1), add_kpi))
    actions.append(kpi_setup)

    variants: dict[str, int] = {}  # key results of each kind so far
    for qi, q in enumerate(quarters):
        actions.append(sorted(_quarter(rnd, world, q, windows[q], kpis, shape, at,
                                       out, qi, variants)))
    actions.append(_readings(rnd, world, kpis, shape, first_start - 13 * DAY, until, at))

    for t, _, fn in heapq.merge(*actions, key=lambda a: (a[0], a[1])):
        if t > until:
            break
        with recording_at(lambda t=t: t):  # type: ignore[misc]
            fn()
        out.last_recorded = t
        world.flush()
    world.flush(force=True)
    out.events = world.saved
    out.kpis = len(kpis)
    return out


def _quarter(rnd: random.Random, world: _World, q: str, window: Any, kpis: dict[str, Kpi],
             shape: Shape, at: Callable[..., Action], out: Generated, qi: int,
             variants: dict[str, int]) -> list[Action]:
    s, e = window.start, window.end
    acts: list[Action] = []
    cycle: dict[str, Cycle] = {}
    objectives: dict[str, Objective] = {}
    krs: dict[str, KeyResult] = {}
    kpi_keys = sorted(f"kpi-{i:03d}" for i in range(shape.kpis))

    def add_cycle() -> list[Aggregate]:
        cycle["c"] = Cycle.add(q, None, None, actor="planner")
        return world.touch(cycle["c"])
    acts.append(at(s - 10 * DAY, add_cycle))

    plan_t = s - 9 * DAY
    for team_i in range(shape.teams):
        team = f"team-{team_i:02d}"
        for oi in range(shape.objectives_per_team):
            okey = f"{q}-{team}-o{oi}"
            typ = ("committed", "aspirational", "learning")[(team_i + oi) % 3]

            def add_obj(okey: str = okey, team: str = team, typ: str = typ, oi: int = oi
                        ) -> list[Aggregate]:
                o = Objective.add(okey, f"Objective {oi} of {team}", q, f"{team}-lead", team,
                                  "team", typ, "", None, actor=f"{team}-lead")
                objectives[okey] = o
                return world.touch(o)
            plan_t += timedelta(minutes=1)
            acts.append(at(plan_t, add_obj))
            for ki in range(shape.krs_per_objective):
                kkey = f"{okey}-kr{ki}"
                kind = KINDS[rnd.randrange(len(KINDS))]
                n = variants[kind] = variants.get(kind, -1) + 1
                start, target, high, tolerance = _plan(rnd, kind, n)
                phased = kind in ("increase", "decrease") and rnd.random() < 0.3
                link = kpi_keys[rnd.randrange(len(kpi_keys))] if kpi_keys and \
                    rnd.random() < 0.15 else None
                if kind == "milestone":
                    link = None  # done or not: a KPI cannot measure one (same draws as before)

                def add_kr(kkey: str = kkey, okey: str = okey, kind: str = kind,
                           start: float = start, target: float = target,
                           high: float | None = high, phased: bool = phased,
                           link: str | None = link,
                           tolerance: float | None = tolerance) -> list[Aggregate]:
                    phases = [{"at": s + timedelta(days=30 * (i + 1)),
                               "value": start + (target - start) * (0.2 + 0.25 * i)}
                              for i in range(2)] if phased else []
                    kr = KeyResult.add(kkey, f"Key result {kkey}", okey, q, kind, start, target,
                                       high, "pts", float(1 + rnd.randrange(3)), phases,
                                       window, actor="planner", tolerance=tolerance)
                    if link:
                        kr.link_kpi(link, "planner")
                    krs[kkey] = kr
                    return world.touch(kr)
                plan_t += timedelta(seconds=10)
                acts.append(at(plan_t, add_kr))
                out.key_results += 1
                acts += _kr_life(rnd, world, kkey, krs, window, shape, at, start, target, high,
                                 kind, n)

    def commit() -> list[Aggregate]:
        cycle["c"].commit("planner")
        return world.touch(cycle["c"])
    acts.append(at(s + DAY, commit))

    # A key result added after commit (a recorded revision of the plan), and a move.
    def late_add() -> list[Aggregate]:
        okey = sorted(objectives)[0]
        kr = KeyResult.add(f"{q}-late", "Added mid-quarter", okey, q, "increase", 0.0, 10.0,
                           None, "pts", 1.0, [], window, actor="planner", plan_revision=True,
                           reason="new priority from the board")
        krs[f"{q}-late"] = kr
        return world.touch(kr)
    acts.append(at(s + 20 * DAY, late_add))
    out.key_results += 1

    def move_and_retitle() -> list[Aggregate]:
        keys = sorted(krs)
        if len(objectives) < 2 or not keys:
            return []
        kr = krs[keys[-2]]
        targets = [o for o in sorted(objectives) if o != kr.objective]
        kr.move(targets[0], "planner", plan_revision=True, reason="belongs to the other goal")
        o = objectives[sorted(objectives)[-1]]
        o.retitle(o.title + " (sharpened)", None, "planner")
        return world.touch(kr, o)
    acts.append(at(s + 33 * DAY, move_and_retitle))

    def remove_one() -> list[Aggregate]:
        keys = [k for k in sorted(krs) if not krs[k].removed]
        if len(keys) < 3:
            return []
        kr = krs[keys[len(keys) // 2]]
        kr.remove("planner", plan_revision=True, reason="no longer measurable")
        return world.touch(kr)
    acts.append(at(s + 50 * DAY, remove_one))

    def tune_kpi_and_unlink() -> list[Aggregate]:
        touched: list[Aggregate] = []
        if kpi_keys:
            k = kpis[kpi_keys[qi % len(kpi_keys)]]
            if k.direction == "up":
                k.update({"green": 75.0, "red": 45.0 + qi}, "data-team", "recalibrated")
            else:
                k.update({"green": 25.0, "red": 55.0 - qi}, "data-team", "recalibrated")
            touched.append(k)
        linked = [kr for _, kr in sorted(krs.items()) if kr.kpi and not kr.removed]
        if linked:
            linked[0].unlink_kpi("planner", "measured by check-ins from now on")
            touched.append(linked[0])
        return world.touch(*touched)
    acts.append(at(s + 40 * DAY, tune_kpi_and_unlink))

    def close() -> list[Aggregate]:
        cycle["c"].close("planner")
        return world.touch(cycle["c"])

    def reopen() -> list[Aggregate]:
        cycle["c"].reopen("planner", "closed too soon")
        return world.touch(cycle["c"])
    if shape.close_early:
        acts.append(at(s + 45 * DAY, close))
        if qi % 2 == 0:
            acts += [at(s + 59 * DAY, reopen), at(e + 6 * DAY, close)]
    else:
        acts.append(at(e + 6 * DAY, close))
    return acts


def _plan(rnd: random.Random, kind: str, n: int
          ) -> tuple[float, float, float | None, float | None]:
    """Start, target, high bound and tolerance of the n-th key result of its kind. Thresholds
    take turns through every start side (a range below, inside and above its band) and
    tolerance (none, 5, 10), so every branch of their rule is there to compare."""
    if kind == "increase":
        return 0.0, float(rnd.choice((10, 50, 100, 250))), None, None
    if kind == "decrease":
        return float(rnd.choice((100, 80, 40))), float(rnd.choice((20, 10, 5))), None, None
    if kind == "milestone":
        return 0.0, 1.0, None, None
    starts = {"stay-above": (60.0, 80.0), "stay-below": (20.0, 40.0),
              "range": (50.0, 30.0, 70.0)}[kind]
    start, tolerance = starts[n % len(starts)], (None, 5.0, 10.0)[n // len(starts) % 3]
    if kind == "range":
        return start, 40.0, 60.0, tolerance
    return start, 70.0 if kind == "stay-above" else 30.0, None, tolerance


def _kr_life(rnd: random.Random, world: _World, key: str, krs: dict[str, KeyResult],
             window: Any, shape: Shape, at: Callable[..., Action], start: float,
             target: float, high: float | None, kind: str, n: int) -> list[Action]:
    """Weekly check-ins (some back-dated), perhaps a mid-quarter target revision; every third
    key result of a kind (the n-th) overachieves, so some are met."""
    acts: list[Action] = []
    s, e = window.start, window.end
    skill = 1.3 if n % 3 == 0 else rnd.uniform(0.3, 1.2)
    week = 0
    while True:
        eff = s + timedelta(days=7 * week + 2, hours=rnd.randrange(8, 18))
        week += 1
        if eff >= e:
            break
        if rnd.random() < 0.1:
            continue  # a week without a check-in
        # up to 10% past the target: some key results are met, and overshoot
        frac = min(1.1, (eff - s) / (e - s) * skill + rnd.uniform(-0.05, 0.05))
        if kind == "range":
            value = round(rnd.uniform(28, 72), 2)
        elif kind == "stay-above":
            value = round(rnd.uniform(55, 80), 2)
        elif kind == "stay-below":
            value = round(rnd.uniform(20, 45), 2)
        elif kind == "milestone":
            value = 1.0 if frac > 0.8 else 0.0
        else:
            value = round(start + (target - start) * frac, 2)
        late = rnd.random() < shape.backdated_share
        rec = eff + (timedelta(days=rnd.randrange(2, 9), hours=1) if late else timedelta())
        rec = min(rec, e + 4 * DAY)
        # About one check-in in five says no confidence (a person skipped it): the latest
        # check-in's missing confidence must not be filled from an older one. Taken from the
        # same draw, so the rest of the history stays as it was.
        drawn = round(rnd.uniform(0.2, 0.95), 2)
        conf = None if drawn < 0.35 else drawn

        def check(key: str = key, value: float = value, conf: float | None = conf,
                  eff: datetime = eff, rec: datetime = rec) -> list[Aggregate]:
            kr = krs.get(key)
            if kr is None or kr.removed or kr.kpi is not None:
                return []  # a KPI-linked key result takes readings, not check-ins
            kr.check_in(value, conf, "", eff, rec, window, "owner")
            return world.touch(kr)
        acts.append(at(rec, check))
    if kind in ("increase", "decrease") and rnd.random() < shape.revised_share:
        cut = round(start + (target - start) * rnd.uniform(0.5, 0.8), 2)

        def revise(key: str = key, cut: float = cut) -> list[Aggregate]:
            kr = krs.get(key)
            if kr is None or kr.removed:
                return []
            kr.revise(start=None, target=cut, target_high=None, weight=None, phases=[],
                      window=window, actor="owner", plan_revision=True,
                      reason="target cut: the market shrank")
            return world.touch(kr)
        acts.append(at(s + timedelta(days=rnd.randrange(35, 60), hours=3), revise))
    if kind in THRESHOLDS and rnd.random() < 2 * shape.revised_share:
        band = rnd.choice((None, 2.5, 10.0))  # clear the band, narrow or widen it

        def retolerate(key: str = key, band: float | None = band) -> list[Aggregate]:
            kr = krs.get(key)
            if kr is None or kr.removed or kr.tolerance == band:
                return []
            kr.revise(start=None, target=None, target_high=None, weight=None, phases=None,
                      window=window, actor="owner", plan_revision=True,
                      reason="tolerance reconsidered", tolerance=band,
                      clear_tolerance=band is None)
            return world.touch(kr)
        acts.append(at(s + timedelta(days=rnd.randrange(30, 70), hours=5), retolerate))
    return acts


def _readings(rnd: random.Random, world: _World, kpis: dict[str, Kpi], shape: Shape,
              start: datetime, until: datetime, at: Callable[..., Action]) -> Iterator[Action]:
    """KPI readings, `readings_per_day` per KPI per day, a few recorded late; lazily."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC)
    step = timedelta(hours=24 / shape.readings_per_day)
    level = {f"kpi-{i:03d}": rnd.uniform(40, 80) for i in range(shape.kpis)}
    n = 0
    heap: list[Action] = []
    while day < until:
        for r in range(shape.readings_per_day):
            for key in sorted(level):
                level[key] = min(100.0, max(0.0, level[key] + rnd.gauss(0, 2)))
                obs = day + r * step + timedelta(minutes=rnd.randrange(0, 30))
                rec = obs + (timedelta(hours=rnd.randrange(6, 48)) if rnd.random() < 0.02
                             else timedelta(seconds=5))
                n += 1
                value, rid = round(level[key], 2), f"{key}-{n}"

                def read(key: str = key, value: float = value, obs: datetime = obs,
                         rec: datetime = rec, rid: str = rid) -> list[Aggregate]:
                    k = kpis.get(key)
                    if k is None:
                        return []
                    k.record(value, obs, "metrics-pipeline", rid, rec, "ingest",
                             earlier=world.app.reading_of(k))
                    return world.touch(k)
                heapq.heappush(heap, at(rec, read))
        day += DAY
        while heap and heap[0][0] < day:  # later days record nothing earlier than this
            yield heapq.heappop(heap)
    while heap:
        yield heapq.heappop(heap)
