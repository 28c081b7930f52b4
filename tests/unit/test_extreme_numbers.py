"""Extreme numbers give the same answer everywhere or are refused at input (issue 18): the
DuckDB scorecard (`okr scorecard`) and the domain's replay (`okr show`, `okr audit replay`)
agree on every key result built from them."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.domain.base import MAX_MAGNITUDE
from okr.domain.errors import DomainError
from okr.domain.history import scorecard_at
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained
from okr.settings import load_settings
from tests.support.clock import recording_at
from tests.unit.test_projection_differential import same

# (kind, start, target, value): the magnitudes allowed at their edges, signed zeros, subnormals.
CASES = [
    ("increase", -MAX_MAGNITUDE, MAX_MAGNITUDE, MAX_MAGNITUDE),
    ("increase", -MAX_MAGNITUDE, MAX_MAGNITUDE, 0.0),
    ("decrease", MAX_MAGNITUDE, -MAX_MAGNITUDE, -MAX_MAGNITUDE / 2),
    ("increase", 0.0, 1e-320, 5e-321),
    ("increase", -0.0, 1.0, -0.0),
    ("increase", 0.0, 5e-324, 5e-324),
    ("stay-above", 0.0, -0.0, -5e-324),
    ("increase", 1e-300, 2e-300, 1.5e-300),
]


def test_the_projection_and_the_replay_agree_on_extreme_numbers(tmp_path: Path) -> None:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    at = datetime(2026, 11, 2, 12, tzinfo=UTC)
    with recording_at(lambda: datetime(2026, 10, 2, tzinfo=UTC)):
        app.add_cycle("2026-Q4")
        app.add_objective("o1", "Extremes", cycle="2026-Q4", owner="ana")
        for i, (kind, start, target, _) in enumerate(CASES):
            app.add_key_result(f"k{i}", f"case {i}", objective="o1", kind=kind, start=start,
                               target=target)
    with recording_at(lambda: at):
        for i, case in enumerate(CASES):
            app.check_in(f"k{i}", case[3], at=at)
    envelopes = list(chained(app))
    shown = [app.key_result(f"k{i}") for i in range(len(CASES))]
    app.close()
    with Projection(tmp_path / "p.duckdb") as proj:
        proj.apply("t", [ConsumedRecord(e.to_bytes(), 0, e.position) for e in envelopes],
                   {0: len(envelopes)})
        when = datetime(2026, 11, 3, tzinfo=UTC)
        got = proj.scorecard_at(when, when)
    want = scorecard_at([e.fact() for e in envelopes], when, when)
    assert same(got, want) == []
    progress = {kr["key"]: kr["progress"] for o in want for kr in o["key_results"]}
    assert progress["k0"] == 1.0 and progress["k1"] == 0.5  # not 0.0 nor nan
    assert len(shown) == len(CASES)


@pytest.mark.parametrize("start, target", [(-1e308, 1e308), (0.0, 1e301), (-1e301, 0.0)])
def test_numbers_beyond_the_limit_are_refused_at_input(tmp_path: Path, start: float,
                                                       target: float) -> None:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    app.add_cycle("2026-Q4")
    app.add_objective("o1", "Extremes", cycle="2026-Q4", owner="ana")
    with pytest.raises(DomainError, match="at most 1e"):
        app.add_key_result("k", "too big", objective="o1", start=start, target=target)
    app.add_key_result("k", "fine", objective="o1", start=0, target=10)
    with pytest.raises(DomainError, match="at most 1e"):
        app.check_in("k", 1e308)
    app.close()
