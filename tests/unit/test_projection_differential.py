"""The DuckDB `scorecard_at` macro against the pure domain replay, at many random instants.

Envelopes go straight from the event store into the projection here (no broker), so this runs
in the unit suite; tests/integration/test_projection.py repeats it through Kafka.
"""

import math
import random
from datetime import timedelta
from pathlib import Path

import pytest

from okr.domain.history import scorecard_at
from okr.ledger.app import OkrLedger
from okr.ledger.envelope import chained
from okr.ledger.generator import Shape, generate
from okr.ledger.settings import load_settings
from okr.projections.store import Located, Projection


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
    envelopes = list(chained(app))
    app.close()
    proj = Projection(home / "p.duckdb")
    # In uneven batches and with duplicates, as a consumer would see them.
    rnd = random.Random(3)
    i = 0
    while i < len(envelopes):
        n = rnd.randrange(1, 400)
        chunk = [Located(e, 0, e.position) for e in envelopes[i:i + n]]
        if chunk and rnd.random() < 0.3:
            chunk += chunk[: rnd.randrange(1, len(chunk) + 1)]
        proj.apply("t", chunk, {0: i + n})
        i += n
    return [e.fact() for e in envelopes], proj, gen


def test_projection_holds_every_event_once(history: tuple) -> None:
    facts, proj, gen = history
    assert gen.events == len(facts) > 1000
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
