"""Threshold kinds are thresholds (issue 17, item 4): stay-above, stay-below and range score 1
when met and 0 when breached (off-track), with partial credit only inside a `--tolerance` band.
Driven through the CLI and the event store, the envelope and the DuckDB projection."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okr.domain.history import scorecard_at
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import Envelope, chained
from okr.settings import load_settings
from tests.fuzzing import Result, event_count, okr


def ok(home: Path, *args: str) -> Result:
    result = okr(home, *args)
    assert result.code == 0, str(result)
    return result


def show(home: Path, key: str) -> dict:
    return json.loads(ok(home, "show", key, "--json").stdout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A past quarter (no check-in is ever in the future) with one objective."""
    home = tmp_path / "home"
    ok(home, "cycle", "add", "2025-Q3")
    ok(home, "objective", "add", "up", "Stay up", "--cycle", "2025-Q3")
    return home


RUNNING = datetime(2025, 8, 15, tzinfo=UTC)  # after every check-in here, inside the quarter


def track(home: Path, kr: dict) -> str:
    """The track the key result had while its quarter ran (over now, its status says `final`):
    its status in the scorecard as of mid-quarter, replayed from the ledger's facts — compared
    with the track docs/scoring.md gives by hand, not with the status rule's own answer."""
    assert kr["status"] == "final"
    app = OkrLedger(load_settings({"home": home}))
    try:
        facts = [e.fact() for e in chained(app)]
    finally:
        app.close()
    (card,) = scorecard_at(facts, RUNNING, datetime.now(UTC))
    (running,) = [k for k in card["key_results"] if k["key"] == kr["key"]]
    assert running["progress"] == kr["progress"]  # a threshold's progress is its last value's
    return str(running["status"])


def add_and_check_in(home: Path, key: str, value: str, *kr_args: str) -> dict:
    ok(home, "kr", "add", key, f"KR {key}", "--objective", "up", *kr_args)
    ok(home, "checkin", key, value, "--at", "2025-08-01")
    return show(home, key)


def test_stay_above_just_below_its_threshold_is_a_breach_not_99_percent(home: Path) -> None:
    kr = add_and_check_in(home, "uptime", "99.1", "--kind", "stay-above", "--target", "99.5")
    assert (kr["progress"], track(home, kr)) == (0.0, "off-track")


def test_stay_below_and_range_breaches_score_zero_whatever_the_start(home: Path) -> None:
    below = add_and_check_in(home, "latency", "210", "--kind", "stay-below", "--start", "400",
                             "--target", "200")
    # start 30 lies below the band 40–60: 35 used to earn half the way up to it
    band = add_and_check_in(home, "band", "35", "--kind", "range", "--start", "30",
                            "--target", "40", "--target-high", "60")
    assert [(k["progress"], track(home, k)) for k in (below, band)] == [(0.0, "off-track")] * 2


def test_met_thresholds_score_one(home: Path) -> None:
    below = add_and_check_in(home, "latency", "200", "--kind", "stay-below", "--target", "200")
    band = add_and_check_in(home, "band", "60", "--kind", "range", "--target", "40",
                            "--target-high", "60")
    assert [(k["progress"], track(home, k)) for k in (below, band)] == [(1.0, "on-track")] * 2
    assert "(objective up, range 40–60)" in ok(home, "show", "band").stdout


def test_a_tolerance_band_gives_partial_credit_and_can_be_revised_and_cleared(
        home: Path) -> None:
    # 0.5 short of 100 inside a band 4 wide: 1 - 0.5/4 = 0.875, 0.125 behind: at-risk
    kr = add_and_check_in(home, "uptime", "99.5", "--kind", "stay-above", "--target", "100",
                          "--tolerance", "4")
    assert (kr["tolerance"], kr["progress"], track(home, kr)) == (4.0, 0.875, "at-risk")
    ok(home, "kr", "revise", "uptime", "--tolerance", "1")  # 1 - 0.5/1
    assert show(home, "uptime")["progress"] == 0.5
    assert "(objective up, stay-above 100, tolerance 1)" in ok(home, "show", "uptime").stdout
    out = json.loads(ok(home, "kr", "revise", "uptime", "--clear-tolerance", "--json").stdout)
    assert out["changes"] == {"tolerance": {"from": 1.0, "to": None}}
    kr = show(home, "uptime")
    assert (kr["tolerance"], kr["progress"], track(home, kr)) == (None, 0.0, "off-track")


@pytest.mark.parametrize("args, message", [
    (["kr", "add", "k", "K", "-o", "up", "--kind", "increase", "--target", "5",
      "--tolerance", "1"], "--tolerance is only for the threshold kinds"),
    (["kr", "add", "k", "K", "-o", "up", "--kind", "stay-above", "--target", "5",
      "--tolerance", "0"], "tolerance 0 must be above 0"),
    (["kr", "add", "k", "K", "-o", "up", "--kind", "stay-below", "--target", "5",
      "--tolerance", "-2"], "tolerance -2 must be above 0"),
    (["kr", "add", "k", "K", "-o", "up", "--kind", "range", "--target", "5",
      "--target-high", "6", "--tolerance", "inf"], "tolerance must be a finite number"),
    (["kr", "revise", "held", "--tolerance", "1", "--clear-tolerance"],
     "give --tolerance or --clear-tolerance, not both"),
    (["kr", "revise", "held", "--tolerance", "abc"], "tolerance 'abc' is not a number"),
    (["kr", "revise", "grow", "--tolerance", "1"], "--tolerance is only for the threshold"),
])
def test_a_bad_tolerance_is_one_line_and_writes_nothing(home: Path, args: list[str],
                                                        message: str) -> None:
    ok(home, "kr", "add", "held", "Held", "-o", "up", "--kind", "stay-above", "--target", "5")
    ok(home, "kr", "add", "grow", "Grow", "-o", "up", "--target", "5")
    before = event_count(home)
    result = okr(home, *args)
    assert result.code != 0 and result.crash is None, str(result)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, \
        str(result)
    assert event_count(home) == before


def test_the_projection_carries_the_tolerance_and_scores_it_as_the_domain_does(
        home: Path, tmp_path: Path) -> None:
    add_and_check_in(home, "uptime", "99.5", "--kind", "stay-above", "--target", "100",
                     "--tolerance", "4")
    ok(home, "kr", "revise", "uptime", "--tolerance", "2")
    ok(home, "kr", "revise", "uptime", "--target", "101")
    ok(home, "kr", "revise", "uptime", "--clear-tolerance")
    app = OkrLedger(load_settings({"home": home}))
    envelopes = list(chained(app))
    app.close()
    proj = Projection(tmp_path / "p.duckdb")
    proj.apply("t", [ConsumedRecord(e.to_bytes(), 0, e.position) for e in envelopes],
               {0: len(envelopes)})
    rows = proj.con.execute("SELECT change, target, tolerance FROM key_result_versions "
                            "WHERE key = 'uptime' ORDER BY version").fetchall()
    assert rows == [("KeyResultAdded", 100.0, 4.0), ("KeyResultRevised", 100.0, 2.0),
                    ("KeyResultRevised", 101.0, 2.0), ("KeyResultRevised", 101.0, None)]
    # as of each revision's recording: 0.5 short of 100 within 2 is 0.75; 1.5 short of 101
    # within 2 is 0.25; cleared, 0.
    for env, want in zip([e for e in envelopes if e.type == "KeyResultRevised"],
                         [0.75, 0.25, 0.0], strict=True):
        t = env.fact().recorded_at
        (card,) = proj.scorecard_at(t, t)
        assert (card["key_results"][0]["tolerance"], card["key_results"][0]["progress"]) == (
            env.data["tolerance"], want)


def _record(type_: str, data: dict) -> bytes:
    """A KeyResultAdded/Revised envelope of the domain's own making, with `data` changed."""
    base = {"schema": "okr.ledger/v1", "position": 1, "event_id": "x", "type": type_,
            "aggregate_type": "key_result", "aggregate_id": "a", "version": 1,
            "recorded_at": "2025-08-01T00:00:00.000000Z",
            "effective_at": "2025-08-01T00:00:00.000000Z", "actor": "ana", "reason": None,
            "data": data, "prev_hash": "0" * 64, "hash": "0" * 64}
    return json.dumps(base).encode()


REVISED = {"start": 0.0, "target": 5.0, "target_high": None, "weight": 1.0, "phases": [],
           "plan_revision": False}


@pytest.mark.parametrize("extra, error", [
    ({}, None),  # published before KeyResultRevised version 2: no tolerance field at all
    ({"tolerance": None}, None),
    ({"tolerance": 2.5}, None),
    ({"tolerance": 0}, "data.tolerance must be a finite number above 0, or null"),
    ({"tolerance": -1.0}, "data.tolerance must be a finite number above 0, or null"),
    ({"tolerance": "2"}, "data.tolerance must be a finite number above 0, or null"),
])
def test_the_envelope_takes_tolerance_as_an_optional_positive_number(
        extra: dict, error: str | None) -> None:
    raw = _record("KeyResultRevised", {**REVISED, **extra})
    if error is None:
        assert Envelope.from_bytes(raw).data.get("tolerance") == extra.get("tolerance")
    else:
        with pytest.raises(ValueError, match=error):
            Envelope.from_bytes(raw)
