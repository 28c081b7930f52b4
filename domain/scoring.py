"""Scoring: 0–1 progress per key result kind, objective scores, expectations, status, health."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from okr.domain.periods import Window
from okr.domain.vocab import FINAL, Cadence, Direction, Health, KrKind, OkrType, Status

# How far progress may trail expectation before the status drops (in 0–1 progress units).
AT_RISK_GAP = 0.1
OFF_TRACK_GAP = 0.25
ASPIRATIONAL_SUCCESS = 0.7
COMMITTED_SUCCESS = 1.0
_EPS = 1e-9

# The words as plain strings: an enum member's `.value` is a Python-level property call, and a
# review asks for these some 10^5 times.
_ON_TRACK, _AT_RISK, _OFF_TRACK = (s.value for s in (Status.ON_TRACK, Status.AT_RISK,
                                                      Status.OFF_TRACK))
_GREEN, _AMBER, _RED = (h.value for h in (Health.GREEN, Health.AMBER, Health.RED))
_UP = Direction.UP.value

CADENCE_PERIOD = {
    Cadence.DAILY.value: timedelta(days=1),
    Cadence.WEEKLY.value: timedelta(days=7),
    Cadence.MONTHLY.value: timedelta(days=31),
    Cadence.QUARTERLY.value: timedelta(days=92),
}


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _toward(value: float, start: float, goal: float) -> float:
    """Share of the way from start to goal, clamped; 0 when start already is the goal's side."""
    if goal == start:
        return 1.0 if value == goal else 0.0
    return _clamp((value - start) / (goal - start))


def past_threshold(shortfall: float, tolerance: float | None) -> float:
    """Credit for a threshold kind whose value lies `shortfall` units on the wrong side of its
    threshold: 1 when met (shortfall 0 or less), else 0 — unless a tolerance band is given,
    over which credit falls linearly from 1 at the threshold to 0 at the band's outer edge."""
    if shortfall <= 0:
        return 1.0
    if tolerance is None:
        return 0.0
    return _clamp(1.0 - shortfall / tolerance)


def progress(kind: str, start: float, target: float, target_high: float | None,
             tolerance: float | None, value: float | None) -> float:
    """Normalised 0–1 progress of a key result; no value yet scores 0.

    Increase, decrease and milestone: the share of the way from start to target. Stay-above,
    stay-below and range are thresholds: met 1, breached 0 (start plays no part), with
    partial credit only inside a tolerance band (`past_threshold`).
    """
    if value is None:
        return 0.0
    if kind in (KrKind.INCREASE, KrKind.DECREASE, KrKind.MILESTONE):
        return _toward(value, start, target)
    if kind == KrKind.STAY_ABOVE:
        return past_threshold(target - value, tolerance)
    if kind == KrKind.STAY_BELOW:
        return past_threshold(value - target, tolerance)
    if kind == KrKind.RANGE:
        assert target_high is not None
        return past_threshold(max(target - value, value - target_high), tolerance)
    raise ValueError(f"unknown key result kind {kind!r}")


def value_along_plan(start: float, target: float, phases: Sequence[Mapping[str, Any]],
                     window: Window, t: datetime) -> float:
    """The planned value at t: piecewise linear from start through the phases to target."""
    points = [(window.start, start), *((p["at"], p["value"]) for p in phases),
              (window.end, target)]
    if t <= points[0][0]:
        return start
    for (t0, v0), (t1, v1) in pairwise(points):
        if t <= t1:
            span = (t1 - t0).total_seconds()
            share = 1.0 if span <= 0 else (t - t0).total_seconds() / span
            return float(v0 + (v1 - v0) * share)
    return target


def expected_progress(kind: str, start: float, target: float, target_high: float | None,
                      phases: Sequence[Mapping[str, Any]], window: Window, t: datetime) -> float:
    """Progress the plan expects at t: linear over the cycle unless phased targets say otherwise.

    Stay-above, stay-below and range key results are expected to hold all cycle long (1.0).
    """
    if kind in (KrKind.STAY_ABOVE, KrKind.STAY_BELOW, KrKind.RANGE):
        return 1.0
    if not phases:
        return window.fraction_elapsed(t)
    planned = value_along_plan(start, target, phases, window, t)
    return progress(kind, start, target, target_high, None, planned)


def over(window: Window, t: datetime) -> bool:
    """Whether the cycle of `window` is over at t (its end is not in it)."""
    return t >= window.end


def final(window: Window, t: datetime, closed: bool = False) -> bool:
    """Whether the grades of the cycle of `window` are final at t: it is over then, or
    `closed` then — even early; reopened, it is not (docs/scoring.md#grades)."""
    return closed or over(window, t)


def status(actual: float, expected: float, is_final: bool = False) -> str:
    """on-track / at-risk / off-track from how far actual trails expected; `final` once the
    cycle's grades are final at the instant viewed (`is_final`: over, or closed — see
    `final`): there is nothing left to predict."""
    if is_final:
        return FINAL
    gap = expected - actual
    if gap <= AT_RISK_GAP + _EPS:
        return _ON_TRACK
    if gap <= OFF_TRACK_GAP + _EPS:
        return _AT_RISK
    return _OFF_TRACK


def objective_score(krs: Sequence[tuple[float, float]]) -> float | None:
    """Weighted mean of (progress, weight) pairs; None when there is nothing to score.
    Summed left to right from 0, as `weighted_sums` sums: not by sum(), which from Python 3.12
    on compensates float rounding and so would give other last digits on another Python."""
    score: float = 0
    total: float = 0
    for p, w in krs:
        score += p * w
        total += w
    if total <= 0:
        return None
    return score / total


def weighted_sums(krs: Iterable[Mapping[str, Any]]) -> tuple[float, float, float]:
    """(Σ progress × weight, Σ expected × weight, Σ weight) over key-result cards, each summed
    in the cards' order from 0, as `objective_score` sums its pairs: a score is the first
    over the last, an expectation the second over the last (None when the last is not
    positive), digit for digit what `objective_score` gives — in one pass over the cards
    instead of two lists of pairs and four."""
    score = expected = total = 0
    for k in krs:
        weight = k["weight"]
        score += k["progress"] * weight
        expected += k["expected"] * weight
        total += weight
    return score, expected, total


def success_threshold(okr_type: str) -> float | None:
    """The score an objective of this type must reach to count as a success (None: ungraded)."""
    if okr_type == OkrType.COMMITTED:
        return COMMITTED_SUCCESS
    if okr_type == OkrType.ASPIRATIONAL:
        return ASPIRATIONAL_SUCCESS
    return None


def succeeded(okr_type: str, score: float | None) -> bool | None:
    """Committed must reach 1.0, aspirational 0.7; learning OKRs are not graded (None)."""
    threshold = success_threshold(okr_type)
    if threshold is None or score is None:
        return None
    return score >= threshold - _EPS


def kpi_health(direction: str, green: float, red: float, value: float | None) -> str | None:
    """red / amber / green for a reading; None without one.

    Up: below `red` is red, below `green` amber, else green. Down mirrors it.
    """
    if value is None:
        return None
    if direction == _UP:
        if value < red:
            return _RED
        return _AMBER if value < green else _GREEN
    if value > red:
        return _RED
    return _AMBER if value > green else _GREEN


def kpi_stale(cadence: str, last_observed: datetime | None, now: datetime) -> bool:
    """A KPI is stale when its latest reading is older than one cadence period."""
    if last_observed is None:
        return True
    return now - last_observed > CADENCE_PERIOD[cadence]
