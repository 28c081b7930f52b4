"""The faster folds of domain/history.py give exactly the reference `world_at` answers."""

import copy
import random
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from okr.domain.history import Fact, Replay, scorecard, scorecard_at, world_at, worlds_at
from okr.ledger.app import OkrLedger
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.support.generator import Shape, generate


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> list[Fact]:
    home: Path = tmp_path_factory.mktemp("folds")
    app = OkrLedger(load_settings({"home": home}))
    generate(app, Shape(seed=17, teams=2, quarters=2, kpis=3, readings_per_day=3))
    return [e.fact() for e in chained(app)]


def instants(facts: list[Fact], n: int, seed: int) -> list[tuple[datetime, datetime]]:
    rnd = random.Random(seed)
    first, last = facts[0].recorded_at, facts[-1].recorded_at
    span = (last - first).total_seconds()
    out = [(first + timedelta(seconds=rnd.uniform(0, span)),
            first + timedelta(seconds=rnd.uniform(0, span))) for _ in range(n)]
    out += [(f.effective_at, f.recorded_at) for f in rnd.sample(facts, 10)]
    return out


def as_a_partitioned_log(facts: list[Fact], rnd: random.Random) -> list[Fact]:
    """The facts as a consumer of three partitions meets them: each aggregate's events in
    order in its partition, the partitions interleaved at random, and re-sent stretches."""
    partitions: list[list[Fact]] = [[], [], []]
    for f in facts:
        p = partitions[zlib.crc32(f.aggregate_id.encode()) % 3]
        p.append(f)
        if rnd.random() < 0.01:  # a relay crash: the last few events again
            p.extend(p[-5:])
    out: list[Fact] = []
    cursors = [0, 0, 0]
    while any(c < len(p) for c, p in zip(cursors, partitions, strict=True)):
        i = rnd.choice([i for i in range(3) if cursors[i] < len(partitions[i])])
        take = rnd.randrange(1, 50)
        out += partitions[i][cursors[i]:cursors[i] + take]
        cursors[i] += take
    return out


def test_replaying_a_partitioned_log_with_duplicates_equals_the_reference(facts: list[Fact]
                                                                         ) -> None:
    rnd = random.Random(1)
    log = as_a_partitioned_log(facts, rnd)
    assert len(log) > len(facts)
    # The same, with the cycles' partition read last: every reading is met before the cycle
    # whose end freezes its key results' values.
    cycles = {f.aggregate_id for f in facts if f.type == "CycleAdded"}
    late = [f for f in log if f.aggregate_id not in cycles] + [
        f for f in log if f.aggregate_id in cycles]
    check_replays(facts, log, instants(facts, 25, seed=2), must_redo=False)
    end = facts[-1].recorded_at  # after 2025-Q4's end, with a KPI read on past it
    check_replays(facts, late, [*instants(facts, 8, seed=4), (end, end)], must_redo=True)


def check_replays(facts: list[Fact], log: list[Fact],
                  points: list[tuple[datetime, datetime]], must_redo: bool) -> None:
    again = 0
    for as_of, known_at in points:
        replay = Replay(as_of, known_at)
        for fact in log:
            replay.add(fact)
        assert replay.facts == len(facts)
        if replay.world.incomplete:
            # a cycle came after readings its end needs had been let go: again, with its end
            again += 1
            replay = Replay(as_of, known_at, replay.world.cuts)
            for fact in log:
                replay.add(fact)
            assert not replay.world.incomplete
        assert scorecard(replay.world, as_of) == scorecard_at(facts, as_of, known_at)
    assert again > 0 if must_redo else True


def test_replay_keeps_one_check_in_and_one_reading_per_item(facts: list[Fact]) -> None:
    end = facts[-1].recorded_at
    replay = Replay(end, end)
    for fact in facts:
        replay.add(fact)
    rows = [*replay.world.key_results.values(), *replay.world.kpis.values()]
    # the latest, and the latest at each cycle's end (a finished cycle's key results keep it)
    assert max(len(r.get("check_ins", r.get("readings", []))) for r in rows) <= 1 + len(
        replay.world.cycles)
    assert sum(f.type == "KpiReadingRecorded" for f in facts) > 1000


def test_worlds_at_many_instants_score_as_the_reference(facts: list[Fact]) -> None:
    points = instants(facts, 30, seed=3)
    for known_at in {k for _, k in points[:6]}:
        at = sorted(a for a, _ in points)
        for t, world in worlds_at(facts, at, known_at):
            assert scorecard(world, t) == scorecard_at(facts, t, known_at)


def test_worlds_at_items_whose_changes_come_into_force_out_of_order(facts: list[Fact]) -> None:
    """A world carried from one instant to the next must still be the fold in position
    order when an item's changes do not come into force in the order they were recorded (a
    hostile or hand-written log: a revision in force before its key result, a creation in
    force after the item's next change): then it is folded afresh."""
    rnd = random.Random(5)
    created: dict[str, datetime] = {}
    hostile = []
    for f in facts:
        created.setdefault(f.aggregate_id, f.effective_at)
        if f.type in ("KeyResultRevised", "ObjectiveRetitled", "KpiLinked") and rnd.random() < 0.5:
            f = f._replace(effective_at=created[f.aggregate_id] - timedelta(days=rnd.uniform(0, 9)))
        elif f.type == "KeyResultAdded" and rnd.random() < 0.3:
            f = f._replace(effective_at=f.effective_at + timedelta(days=rnd.uniform(1, 40)))
        hostile.append(f)
    assert hostile != facts
    known_at = facts[-1].recorded_at
    at = sorted(a for a, _ in instants(hostile, 40, seed=6))
    for t, world in worlds_at(hostile, at, known_at):
        assert scorecard(world, t) == scorecard_at(hostile, t, known_at), t


def test_a_changes_copy_of_a_row_is_a_deep_copy(facts: list[Fact]) -> None:
    """domain/trail copies rows with `_copied` instead of copy.deepcopy: the same value, and
    no list or dict shared with the row (the fold changes some in place)."""
    from okr.domain.trail import _copied

    def containers(x: object) -> list[int]:
        if isinstance(x, dict):
            return [id(x), *(i for v in x.values() for i in containers(v))]
        if isinstance(x, list):
            return [id(x), *(i for v in x for i in containers(v))]
        return []

    end = facts[-1].recorded_at
    world = world_at(facts, end, end)
    rows = [row for name in ("cycles", "objectives", "key_results", "initiatives", "kpis")
            for row in world.table(name).values()]
    assert sum(bool(r.get("phases")) for r in rows) > 0 and sum(
        len(r.get("check_ins", ())) for r in rows) > 100
    for row in rows:
        copied = _copied(row)
        assert copied == copy.deepcopy(row)
        assert not set(containers(copied)) & set(containers(row))
