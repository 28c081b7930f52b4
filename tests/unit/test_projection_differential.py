"""The DuckDB `scorecard_at` macro against the pure domain replay, at many random instants.

Envelopes go straight from the event store into the projection here (no broker), so this runs
in the unit suite; tests/integration/test_projection.py repeats it through Kafka.
"""

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okr.domain.base import recording_at
from okr.domain.history import scorecard_at
from okr.domain.periods import named_window
from okr.domain.review import ReviewPoint, UnknownCycle, review
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.support.generator import Shape, generate


def same(a: object, b: object, path: str = "") -> list[str]:
    """Differences between two scorecards (floats compared to 1e-9)."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):  # type: ignore[arg-type]
            return [f"{path}: {a!r} != {b!r}"]
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in same(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Projection, object]:
    home: Path = tmp_path_factory.mktemp("diff")
    app = OkrLedger(load_settings({"home": home, "actor": "test"}))
    gen = generate(app, Shape(seed=11, teams=3, quarters=2, kpis=4))
    # A guardrail KPI read rarely: the reading in force when 2025-Q4 starts is months old, and
    # one for early September arrives late, in October.
    for observed, recorded, value in [("2025-06-02", "2025-06-02", 20.0),
                                      ("2025-09-01", "2025-10-20", 80.0),
                                      ("2025-10-15", "2025-10-15", 40.0)]:
        with recording_at(lambda t=recorded: datetime.fromisoformat(t + "T12:00:00+00:00")):
            if not app.exists("kpi", "sparse"):
                app.add_kpi("sparse", "Rare guardrail", green=70, red=30, tags=["guardrail"])
            app.record_reading("sparse", value,
                               at=datetime.fromisoformat(observed + "T09:00:00+00:00"))
    # A 2025-Q4 key result measured by it, whose target is cut on 1 November: a review as of
    # early October still scores that revision as of the day it was made. (Written on the
    # aggregate, as the generator writes, since the ledger's cycle is closed by now.)
    kr = next(k for k in (app.key_result(f"2025-Q4-team-0{t}-o{o}-kr{i}")
                          for t in range(3) for o in range(2) for i in range(3))
              if k.kind == "increase" and not k.removed and k.kpi is None)
    window = app.cycle_of_kr(kr).window
    with recording_at(lambda: datetime(2025, 10, 2, 12, tzinfo=UTC)):
        kr.link_kpi("sparse", "test")
    with recording_at(lambda: datetime(2025, 11, 1, 12, tzinfo=UTC)):
        kr.revise(start=None, target=kr.target * 0.9, target_high=None, weight=None,
                  phases=None, window=window, actor="test", plan_revision=True, reason="cut")
    app.save(kr)
    envelopes = list(chained(app))
    app.close()
    proj = Projection(home / "p.duckdb")
    # In uneven batches and with duplicates, as a consumer would see them.
    rnd = random.Random(3)
    i = 0
    while i < len(envelopes):
        n = rnd.randrange(1, 400)
        chunk = [ConsumedRecord(e.to_bytes(), 0, e.position) for e in envelopes[i:i + n]]
        if chunk and rnd.random() < 0.3:
            chunk += chunk[: rnd.randrange(1, len(chunk) + 1)]
        proj.apply("t", chunk, {0: i + n})
        i += n
    return [e.fact() for e in envelopes], proj, gen


def test_projection_holds_every_event_once(history: tuple) -> None:
    facts, proj, gen = history
    assert gen.events + 6 == len(facts) > 1000  # the generated history and the sparse KPI
    assert proj.event_count() == len(facts)
    assert [f.position for f in proj.facts()] == [f.position for f in facts]


def test_scorecard_at_matches_domain_replay_at_random_instants(history: tuple) -> None:
    facts, proj, _ = history
    first, last = facts[0].recorded_at, facts[-1].recorded_at
    span = (last - first).total_seconds()
    rnd = random.Random(5)
    instants = [(first + timedelta(seconds=rnd.uniform(-86400, span + 86400)),
                 first + timedelta(seconds=rnd.uniform(0, span + 86400))) for _ in range(150)]
    # Exact event times, where off-by-one errors live.
    for f in rnd.sample(facts, 30):
        instants += [(f.effective_at, f.recorded_at), (f.recorded_at, f.recorded_at)]
    mismatches = []
    nonempty = 0
    for as_of, known_at in instants:
        want = scorecard_at(facts, as_of, known_at)
        got = proj.scorecard_at(as_of, known_at)
        nonempty += bool(want)
        diff = same(got, want)
        if diff:
            mismatches.append((as_of, known_at, diff[:3]))
    assert mismatches == []
    assert nonempty > 100


def test_a_review_from_the_facts_duckdb_selects_equals_one_from_the_whole_log(
        history: tuple) -> None:
    """`okr review` loads only what a review reads (its items; the readings that can be the
    latest at an instant it scores): the review must not change."""
    facts, proj, gen = history
    rnd = random.Random(8)
    checked = 0
    for cycle in gen.cycles:
        window = named_window(cycle)
        assert window is not None
        fixed = [(window.end + timedelta(days=30), facts[-1].recorded_at),
                 (window.end, window.start + timedelta(days=10)),
                 (window.start + timedelta(days=40), window.start + timedelta(days=25)),
                 (window.start + timedelta(days=20), window.end + timedelta(days=30)),
                 (window.start + timedelta(days=9), window.end + timedelta(days=30)),
                 # as of before the cycle was planned: refused alike (UnknownCycle)
                 (window.start - timedelta(days=20), facts[-1].recorded_at),
                 (window.start - timedelta(days=40), window.end)]
        for as_of, known_at in fixed + [
                (window.start + timedelta(days=rnd.uniform(-5, 100)),
                 window.start + timedelta(days=rnd.uniform(0, 110))) for _ in range(6)]:
            point = ReviewPoint(as_of, known_at)
            try:
                want = review(facts, cycle, point)
            except UnknownCycle:
                with pytest.raises(UnknownCycle):
                    review(proj.review_facts(cycle, as_of, known_at), cycle, point)
                continue
            selected = proj.review_facts(cycle, as_of, known_at)
            assert len(selected) < len(facts)
            assert same(review(selected, cycle, point), want) == []
            checked += 1
    assert checked >= 8
