"""Point-in-time state from the ledger's facts: the reference semantics of every as-of query.

A fact is one published event. State "as of T, as known at K" folds the facts recorded at or
before K whose effective time is at or before T, in position order. Structural events take
effect when they are in force (see docs/scoring.md): a plan item typed while its cycle was in
planning from the earlier of its recording and the cycle's start, a change after commit from
its recording or its `--effective` time — an item's in-force times never go backwards, so the
fold keeps each item's versions in order. Check-ins and KPI readings take effect at their own
effective time, so a late check-in for last Friday changes last Friday's value — but only as
known after it was recorded. An item's events count only while the item exists at T (a
check-in back-dated before its key result was in force is refused now; older ones are part
of no earlier state). The DuckDB projection must agree with `scorecard` here; a differential
test holds it to that.
"""

import bisect
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from okr.domain import scoring
from okr.domain.cards import kpi_now, measure_key_result, measure_objective
from okr.domain.events import CREATED, MEASUREMENTS
from okr.domain.periods import Window
from okr.domain.rollup import with_rollups
from okr.domain.vocab import CycleStatus


class Fact(NamedTuple):
    """One event as the log publishes it (the envelope without transport details); a tuple,
    because a replay makes them by the hundred thousand."""

    position: int
    aggregate_id: str
    version: int
    type: str
    recorded_at: datetime
    effective_at: datetime
    actor: str
    reason: str | None
    data: Mapping[str, Any]
    on_behalf_of: str | None = None  # whom the actor recorded it for (--on-behalf-of)


# A fact's position, as a sort key: a review sorts tens of thousands of facts several times,
# and a lambda reading `.position` costs a Python call per fact.
position_of = operator.itemgetter(0)


@dataclass
class World:
    """Everything known about the ledger at one (as_of, known_at) point.

    With `latest_only`, an item keeps only the check-ins or readings that scoring reads
    instead of all of them: the latest (by effective time, then position), and the latest
    before each cycle's end (`cuts`; the end is not in the cycle), which a key result of a
    finished cycle is scored from. Memory then grows with the number of items and cycles,
    not with the length of the history. A cycle met after measurements it cuts were let go (a
    log read out of position order) sets `incomplete`: fold again with `cuts` given from the
    start.
    """

    cycles: dict[str, dict[str, Any]] = field(default_factory=dict)
    objectives: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_results: dict[str, dict[str, Any]] = field(default_factory=dict)
    initiatives: dict[str, dict[str, Any]] = field(default_factory=dict)
    kpis: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # aggregate id → (table, key)
    latest_only: bool = False
    cuts: list[datetime] = field(default_factory=list)  # cycle ends, sorted (latest_only)
    incomplete: bool = False
    # per item (its table and key): the earliest and latest time let go (latest_only)
    let_go: dict[tuple[str, str], tuple[datetime, datetime]] = field(default_factory=dict)
    # per KPI (aggregate id): when it came into force; a reading observed before counts in
    # no as-of view (Kpi.counts_at, docs/scoring.md), so the fold leaves it out
    kpi_since: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tables: dict[str, dict[str, dict[str, Any]]] = {
            "cycles": self.cycles, "objectives": self.objectives,
            "key_results": self.key_results, "initiatives": self.initiatives,
            "kpis": self.kpis, "users": self.users}

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self._tables[name]


def _created(table: str) -> Callable[[World, Fact], None]:
    def apply(world: World, fact: Fact) -> None:
        row = dict(fact.data)
        row["created_at"] = fact.recorded_at
        if table in ("objectives", "key_results"):
            # `carried_from` arrived with ObjectiveAdded v2 and KeyResultAdded v3: records
            # published before lack it, and were carried from nothing.
            row["carried_from"] = fact.data.get("carried_from")
        if table == "objectives":
            row["status"] = "active"
        elif table == "key_results":
            # `tolerance` arrived with KeyResultAdded version 2: published records from before
            # it lack the field, and mean no tolerance band.
            row.update(kpi=None, removed=False, check_ins=[],
                       tolerance=fact.data.get("tolerance"))
        elif table == "initiatives":
            row["status"] = "planned"
        elif table == "kpis":
            row.update(retired=False, readings=[])
            world.kpi_since[fact.aggregate_id] = fact.effective_at
        elif table == "cycles":
            row.update(status="planning", committed_at=None)
            if world.latest_only:
                _add_cut(world, row["end"])
        elif table == "users":
            row.update(tokens=[], revoked_tokens=[], disabled=False)
        world.table(table)[row["key"]] = row
        world.keys[fact.aggregate_id] = (table, row["key"])
    return apply


def _copy(*fields: str) -> Callable[[World, Fact], None]:
    """Copy these data fields onto the row."""
    def apply(world: World, fact: Fact) -> None:
        row = _row(world, fact)
        for name in fields:
            row[name] = fact.data[name]
    return apply


def _mark(**values: Any) -> Callable[[World, Fact], None]:
    """Set these literal values on the row."""
    def apply(world: World, fact: Fact) -> None:
        _row(world, fact).update(values)
    return apply


def _row(world: World, fact: Fact) -> dict[str, Any]:
    table, key = world.keys[fact.aggregate_id]
    return world.table(table)[key]


def _revise_kr(world: World, fact: Fact) -> None:
    row = _row(world, fact)
    for name in ("start", "target", "target_high", "weight", "phases"):
        row[name] = fact.data[name]
    if "tolerance" in fact.data:  # absent from records published before KeyResultRevised v2
        row["tolerance"] = fact.data["tolerance"]


def _commit(world: World, fact: Fact) -> None:
    row = _row(world, fact)
    row["status"] = "committed"
    row["committed_at"] = fact.recorded_at


def _reopen(world: World, fact: Fact) -> None:
    row = _row(world, fact)
    row["status"] = "committed" if row["committed_at"] is not None else "planning"


def _add_cut(world: World, end: datetime) -> None:
    """A cycle's end, from which on its key results keep their values: keep the measurements
    it needs from now on; if some were let go already, the world is `incomplete`."""
    i = bisect.bisect_left(world.cuts, end)
    if i < len(world.cuts) and world.cuts[i] == end:
        return
    world.cuts.insert(i, end)
    for (table, key), (first, last) in world.let_go.items():
        if first >= end:
            continue
        name, time_field = _SERIES[table]
        kept = [m[time_field] for m in world.table(table)[key][name] if m[time_field] < end]
        if not kept or last > max(kept):
            world.incomplete = True
            return


_SERIES = {"key_results": ("check_ins", "effective_at"), "kpis": ("readings", "observed_at")}


def _measure(world: World, fact: Fact, item: dict[str, Any]) -> None:
    table, key = world.keys[fact.aggregate_id]
    name, time_field = _SERIES[table]
    items: list[dict[str, Any]] = world.table(table)[key][name]
    if not world.latest_only:
        items.append(item)
        return
    # Sorted by (time, position); an item stays while it is the last, or the latest before
    # some cut (a cycle's end is not in it: the next one is at or after that cut).
    order = [(m[time_field], m["position"]) for m in items]
    at = (item[time_field], item["position"])
    j = bisect.bisect_left(order, at)
    if j < len(order) and order[j] == at:
        return  # folded before
    items.insert(j, item)
    for i in (j, j - 1):
        if 0 <= i < len(items) - 1:
            t, later = items[i][time_field], items[i + 1][time_field]
            c = bisect.bisect_right(world.cuts, t)
            if c == len(world.cuts) or world.cuts[c] > later:
                gone = world.let_go.get((table, key), (t, t))
                world.let_go[(table, key)] = (min(gone[0], t), max(gone[1], t))
                del items[i]


def _check_in(world: World, fact: Fact) -> None:
    _measure(world, fact, {"value": fact.data["value"], "confidence": fact.data["confidence"],
                           "effective_at": fact.effective_at, "position": fact.position})


def _reading(world: World, fact: Fact) -> None:
    if fact.effective_at < world.kpi_since[fact.aggregate_id]:
        return  # observed before its KPI was in force: counts in no as-of view
    _measure(world, fact, {"value": fact.data["value"], "observed_at": fact.effective_at,
                           "position": fact.position})


def _token(world: World, fact: Fact) -> None:
    """A user's new token, by its id (its hash is for the sign-in check only)."""
    row = _row(world, fact)
    row["tokens"] = [*row["tokens"], fact.data["token_id"]]


def _revoked(world: World, fact: Fact) -> None:
    """Tokens of a user revoked, by id (they stay listed under `tokens`: issued once)."""
    row = _row(world, fact)
    row["revoked_tokens"] = sorted({*row.get("revoked_tokens", ()), *fact.data["token_ids"]})


KPI_FIELDS = ("name", "unit", "direction", "target", "green", "red", "cadence", "tags",
              "owner")

# Event type → how it changes the world. The whole event vocabulary fits on this screen.
APPLY: dict[str, Callable[[World, Fact], None]] = {
    "CycleAdded": _created("cycles"),
    "PlanCommitted": _commit,
    "CycleClosed": _mark(status="closed"),
    "CycleReopened": _reopen,
    "ObjectiveAdded": _created("objectives"),
    "ObjectiveRetitled": _copy("title", "description"),
    "ObjectiveOwnerChanged": _copy("owner", "team"),
    "ObjectiveRealigned": _copy("parent"),
    "ObjectiveTypeChanged": _copy("okr_type"),
    "ObjectiveStatusChanged": _copy("status"),
    "KeyResultAdded": _created("key_results"),
    "KeyResultRevised": _revise_kr,
    "KeyResultMoved": _copy("objective"),
    "KeyResultRemoved": _mark(removed=True),
    "KpiLinked": _copy("kpi"),
    "KpiUnlinked": _mark(kpi=None),
    "CheckInRecorded": _check_in,
    "InitiativeAdded": _created("initiatives"),
    "InitiativeStatusChanged": _copy("status"),
    "KpiAdded": _created("kpis"),
    "KpiUpdated": _copy(*KPI_FIELDS),
    "KpiReadingRecorded": _reading,
    "KpiRetired": _mark(retired=True),
    "UserAdded": _created("users"),
    "UserTokenIssued": _token,
    "UserPasswordSet": _mark(password="set"),  # the hash is for the sign-in check only
    "UserTokensRevoked": _revoked,
    "UserDisabled": _mark(disabled=True),
    "UserEnabled": _mark(disabled=False),
}


def _apply(world: World, fact: Fact, as_of: datetime, known_at: datetime) -> None:
    """Fold one fact into the world, if it is known at known_at and in force at as_of."""
    if fact.recorded_at > known_at or fact.effective_at > as_of:
        return
    if fact.aggregate_id not in world.keys and fact.type not in CREATED:
        return  # back-dated before its item existed at as_of: the item is not there yet
    APPLY[fact.type](world, fact)


def world_at(facts: Iterable[Fact], as_of: datetime, known_at: datetime) -> World:
    """Fold the facts into the world as of `as_of` (valid time), as known at `known_at`."""
    world = World()
    for fact in sorted(facts, key=position_of):
        _apply(world, fact, as_of, known_at)
    return world


class Replay:
    """`world_at` one fact at a time, for a log too long to hold: facts may come in any
    order that keeps each item's versions in order (a Kafka partition does), a version seen
    before is a duplicate, and only what scoring reads is kept (`latest_only`).

    Only the item's own earlier facts decide whether a fact counts, so interleaving the
    items differently cannot change the result — but a cycle met after the measurements it
    cuts were let go leaves `world.incomplete`: replay again with the ends of the cycles
    found (`cuts`, e.g. `world.cuts`), which keeps what each needs from the start.
    """

    def __init__(self, as_of: datetime, known_at: datetime, cuts: Iterable[datetime] = ()
                 ) -> None:
        self.as_of, self.known_at = as_of, known_at
        self.world = World(latest_only=True, cuts=sorted(set(cuts)))
        self.versions: dict[str, int] = {}
        self.facts = 0

    def add(self, fact: Fact) -> None:
        if fact.version <= self.versions.get(fact.aggregate_id, 0):
            return
        self.versions[fact.aggregate_id] = fact.version
        self.facts += 1
        _apply(self.world, fact, self.as_of, self.known_at)


_effective_at = operator.attrgetter("effective_at")


def worlds_at(facts: Iterable[Fact], instants: Sequence[datetime], known_at: datetime,
              frozen: bool = True) -> Iterator[tuple[datetime, World]]:
    """The world at each instant (as known at known_at), with the latest check-in and reading
    of each item only, and the latest at each cycle's end before the instant (`frozen`; a
    caller that reads no key result of a cycle ended by then may leave them out) — what
    `scorecard` reads — for series of many instants: measurements
    found by bisection, the structural facts folded once and the world carried forward from
    one instant to the next, later one (read each world before asking for the next: it is
    the same object, advanced).

    Carrying forward folds the facts that came into force since the last instant after the
    ones folded before; that is the fold in position order as long as no item gains a fact
    earlier (by position) than one of its own already folded — only an item's own earlier
    facts decide what a fact does (see Replay). When one does (a creation or change in force
    later than a later-recorded change of that item), the world is folded afresh."""
    known = sorted((f for f in facts if f.recorded_at <= known_at), key=position_of)
    structural = [f for f in known if f.type not in MEASUREMENTS]
    by_effect = sorted(structural, key=_effective_at)  # stable: by position among equals
    in_force = [f.effective_at for f in by_effect]
    series: dict[str, list[Fact]] = {}
    # `known` is in position order and sorting is stable: by effective time, then position.
    for f in sorted((f for f in known if f.type in MEASUREMENTS), key=_effective_at):
        series.setdefault(f.aggregate_id, []).append(f)
    times = {agg: [f.effective_at for f in items] for agg, items in series.items()}
    world, folded, last = World(latest_only=True), 0, None
    reached: dict[str, int] = {}  # per item: the highest position of its facts folded so far
    for at in instants:
        upto = bisect.bisect_right(in_force, at)
        new = sorted(by_effect[folded:upto], key=position_of)
        if last is None or at < last or any(reached.get(f.aggregate_id, 0) > f.position
                                            for f in new):
            world, reached = World(latest_only=True), {}
            new = [f for f in structural if f.effective_at <= at]
        for fact in new:
            _apply(world, fact, at, known_at)
            reached[fact.aggregate_id] = max(reached.get(fact.aggregate_id, 0), fact.position)
        folded, last = upto, at
        # the cycles ended by `at` (at their end instant too), each read before its end
        cuts = world.cuts[:bisect.bisect_right(world.cuts, at)] if frozen else []
        for agg, items in series.items():
            if agg not in world.keys:
                continue
            for i in (*(bisect.bisect_left(times[agg], cut) for cut in cuts),
                      bisect.bisect_right(times[agg], at)):
                if i:
                    APPLY[items[i - 1].type](world, items[i - 1])
        yield at, world


def _latest(items: list[dict[str, Any]], time_field: str, as_of: datetime | None = None,
            end: datetime | None = None) -> dict[str, Any] | None:
    """Latest by valid time (at or before `as_of` and before `end` — a cycle's end is not in
    it — if given); among equal times the later-recorded (higher position) wins."""
    if as_of is not None:
        items = [i for i in items if i[time_field] <= as_of]
    if end is not None:
        items = [i for i in items if i[time_field] < end]
    return max(items, key=operator.itemgetter(time_field, "position"), default=None)


def kpi_card(kpi: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    """A KPI's latest value and health at as_of."""
    return {"key": kpi["key"], **kpi_now(kpi, _latest(kpi["readings"], "observed_at"), as_of)}


def kr_card(world: World, kr: dict[str, Any], window: Window,
            as_of: datetime, closed: bool = False) -> dict[str, Any]:
    """One key result's value, progress, expectation, status and confidence at as_of — its
    value (check-in or KPI reading, and the KPI's health and staleness) as it stood at the
    earlier of as_of and its cycle's end: a finished cycle's key results stand still. Its
    status is `final` once the cycle is over, or while it is `closed` (scoring.final)."""
    kpi = world.kpis.get(kr["kpi"]) if kr["kpi"] else None
    until = min(as_of, window.end)
    m = measure_key_result(kr, window, as_of,
                           _latest(kr["check_ins"], "effective_at", as_of, window.end),
                           None if kpi is None else kpi_now(
                               kpi, _latest(kpi["readings"], "observed_at", as_of, window.end),
                               until), closed)
    return {"key": kr["key"], "objective": kr["objective"], "title": kr["title"],
            "kind": kr["kind"], "start": kr["start"], "target": kr["target"],
            "target_high": kr["target_high"], "tolerance": kr["tolerance"], "unit": kr["unit"],
            "weight": kr["weight"], "value": m["value"], "progress": m["progress"],
            "expected": m["expected"],
            "status": m["status"], "confidence": m["confidence"], "kpi": kr["kpi"],
            "kpi_health": m["kpi_health"], "kpi_stale": m["kpi_stale"]}


def scorecard(world: World, as_of: datetime) -> list[dict[str, Any]]:
    """Every objective with its key results, scored at as_of, ordered by cycle and key."""
    cards = []
    under: dict[str, list[dict[str, Any]]] = {}
    for kr in sorted(world.key_results.values(), key=lambda k: k["key"]):
        if not kr["removed"]:
            under.setdefault(kr["objective"], []).append(kr)
    for obj in sorted(world.objectives.values(), key=lambda o: (o["cycle"], o["key"])):
        cycle = world.cycles.get(obj["cycle"])
        if cycle is None:
            continue
        window = Window(cycle["start"], cycle["end"])
        closed = _closed(cycle)
        krs = [kr_card(world, kr, window, as_of, closed) for kr in under.get(obj["key"], [])]
        cards.append({
            "key": obj["key"], "title": obj["title"], "cycle": obj["cycle"],
            "owner": obj["owner"], "team": obj["team"], "level": obj["level"],
            "okr_type": obj["okr_type"], "parent": obj["parent"], "status": obj["status"],
            **measure_objective(obj["okr_type"], krs,
                                scoring.final(window, as_of, closed)),
            "key_results": krs})
    return with_rollups(cards, {key for key, c in world.cycles.items()
                                if scoring.final(Window(c["start"], c["end"]), as_of,
                                                 _closed(c))})


def _closed(cycle: Mapping[str, Any]) -> bool:
    """Whether a cycle of the world is closed (at the world's instant: closed in force and
    known then, not reopened since)."""
    return bool(cycle["status"] == CycleStatus.CLOSED)


def scorecard_at(facts: Iterable[Fact], as_of: datetime, known_at: datetime
                 ) -> list[dict[str, Any]]:
    """The scorecard as of `as_of`, as known at `known_at`, straight from the facts."""
    return scorecard(world_at(facts, as_of, known_at), as_of)


def cycle_dependencies(facts: Iterable[Fact], cycle: str) -> set[str]:
    """Aggregate ids a cycle's review depends on: the cycle, its objectives, every key result
    that was ever under them and the initiatives on those, and every KPI ever linked to those
    key results or tagged 'guardrail'."""
    facts = list(facts)
    ids: set[str] = set()
    objectives: set[str] = set()
    for f in facts:
        if f.type == "CycleAdded" and f.data["key"] == cycle:
            ids.add(f.aggregate_id)
        elif f.type == "ObjectiveAdded" and f.data["cycle"] == cycle:
            ids.add(f.aggregate_id)
            objectives.add(f.data["key"])
    krs = {f.aggregate_id for f in facts
           if f.type in ("KeyResultAdded", "KeyResultMoved") and f.data["objective"] in objectives}
    kr_keys = {f.data["key"] for f in facts if f.type == "KeyResultAdded" and f.aggregate_id in krs}
    initiatives = {f.aggregate_id for f in facts
                   if f.type == "InitiativeAdded" and f.data["key_result"] in kr_keys}
    kpi_ids = {f.data["key"]: f.aggregate_id for f in facts if f.type == "KpiAdded"}
    linked = {f.data["kpi"] for f in facts if f.type == "KpiLinked" and f.aggregate_id in krs}
    guardrails = {f.aggregate_id for f in facts
                  if f.type in ("KpiAdded", "KpiUpdated") and "guardrail" in f.data["tags"]}
    return ids | krs | initiatives | {kpi_ids[k] for k in linked if k in kpi_ids} | guardrails


def cycle_facts(facts: Iterable[Fact], cycle: str) -> list[Fact]:
    """The facts a review of `cycle` reads, whatever its as_of and known_at (a cycle's audit
    bundle holds these): every event of the items in `cycle_dependencies`, except the KPI
    readings that no instant the review scores can see.

    A review scores instants from the earliest moment the cycle existed or started (`carry`)
    up to its end or its last target revision, if later (`until`): a guardrail's share of
    the cycle, a linked key result's value at a week's end, its progress when its target was
    revised; and it is known only from the cycle's recording on. Of a KPI's readings it sees
    those observed in that span and, of the ones observed before it, the latest as known at
    some moment from then on: the latest recorded before the cycle, and each recorded after
    it that was later than every one recorded before. A reading observed after `until`, or
    before `carry` behind one of those, is in no review. (Only readings pile up over the
    years; every other event of the items is kept.)
    """
    facts = sorted(facts, key=position_of)
    added = next((f for f in facts if f.type == "CycleAdded" and f.data["key"] == cycle), None)
    if added is None:
        return []
    wanted = cycle_dependencies(facts, cycle)
    carry = min(added.data["start"], added.recorded_at, added.effective_at)
    revised = [f.recorded_at for f in facts
               if f.type == "KeyResultRevised" and f.aggregate_id in wanted]
    until = max([added.data["end"], *revised])

    def carried_in(f: Fact) -> bool:
        return (f.aggregate_id in wanted and f.type == "KpiReadingRecorded"
                and f.effective_at < carry)

    latest: dict[str, tuple[datetime, int]] = {}  # per KPI: the latest carried in, so far
    for f in facts:  # ... as known when the cycle was recorded
        if f.position < added.position and carried_in(f):
            latest[f.aggregate_id] = max(latest.get(f.aggregate_id, (f.effective_at, 0)),
                                         (f.effective_at, f.position))
    out = []
    for f in facts:
        if f.aggregate_id not in wanted:
            continue
        if f.type == "KpiReadingRecorded" and f.effective_at > until:
            continue
        if carried_in(f):
            at = (f.effective_at, f.position)
            if f.position < added.position:
                if latest[f.aggregate_id] != at:
                    continue
            elif f.aggregate_id in latest and latest[f.aggregate_id] > at:
                continue
            else:
                latest[f.aggregate_id] = at
        out.append(f)
    return out
