"""The one card builder: what a key result and an objective measure at an instant.

`okr show` (ledger/views.py, from the aggregates), the replay (history.scorecard, from the
folded facts) and, in SQL, the projection's `scorecard_at` macro all answer "how is this key
result doing"; the first two build their cards here, and tests/unit/test_cards.py checks all
three against one ledger.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from okr.domain import scoring
from okr.domain.periods import Window
from okr.domain.shapes import KeyResultMeasure, KpiNow, ObjectiveMeasure


def kpi_now(kpi: Mapping[str, Any], reading: Mapping[str, Any] | None,
            as_of: datetime) -> KpiNow:
    """A KPI's latest `reading` (None: none yet), its health by the KPI's direction and
    thresholds, and whether it is overdue at `as_of` by the KPI's cadence."""
    value = None if reading is None else reading["value"]
    observed = None if reading is None else reading["observed_at"]
    return {"value": value, "observed_at": observed,
            "health": scoring.kpi_health(kpi["direction"], kpi["green"], kpi["red"], value),
            "stale": scoring.kpi_stale(kpi["cadence"], observed, as_of)}


def measure_key_result(kr: Mapping[str, Any], window: Window, as_of: datetime,
                       check_in: Mapping[str, Any] | None, kpi: KpiNow | None,
                       closed: bool = False) -> KeyResultMeasure:
    """A key result's value (its linked KPI's, else its latest check-in's), progress 0–1,
    the progress its plan expects at `as_of` in its cycle's `window`, status (`final` once the
    cycle is over at `as_of`, or `closed` then: scoring.final) and confidence
    (a KPI-linked key result has none). `kr` holds its plan: kind, start, target,
    target_high, tolerance, phases."""
    value = kpi["value"] if kpi is not None else (
        None if check_in is None else check_in["value"])
    progress = scoring.progress(kr["kind"], kr["start"], kr["target"], kr["target_high"],
                                kr["tolerance"], value)
    expected = scoring.expected_progress(kr["kind"], kr["start"], kr["target"],
                                         kr["target_high"], kr["phases"], window, as_of)
    return {"value": value, "progress": progress, "expected": expected,
            "status": scoring.status(progress, expected,
                                     scoring.final(window, as_of, closed)),
            "confidence": None if check_in is None or kpi is not None
            else check_in["confidence"],
            "kpi_health": None if kpi is None else kpi["health"],
            "kpi_stale": None if kpi is None else kpi["stale"]}


def measure_objective(okr_type: str, krs: Sequence[Mapping[str, Any]],
                      is_final: bool = False) -> ObjectiveMeasure:
    """An objective's score and expectation (its key results' weighted means), its track
    (`final` when its cycle's grades are final at the instant viewed — over or closed then:
    scoring.final) and whether it succeeded by its
    type's threshold."""
    sum_score, sum_expected, total = scoring.weighted_sums(krs)
    score, expected = (None, None) if total <= 0 else (sum_score / total, sum_expected / total)
    return {"score": score, "expected": expected,
            "track": None if score is None or expected is None
            else scoring.status(score, expected, is_final),
            "succeeded": scoring.succeeded(okr_type, score)}
