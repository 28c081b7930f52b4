"""Reads of the history: the scorecard at any instant, and a quarter's review.

- point in time: `Projection.scorecard_at` (the objectives in force, then their key results
  scored, shaped into cards, as `okr scorecard --as-of … --known-at …` reads them) at random
  instants over the whole history, vs replaying the log in Python to the same instant
  (`domain.history.scorecard_at` over every fact, already in memory — the most generous
  baseline). Both answers must agree.
- quarter review: `okr review QUARTER --json` as a user runs it, end to end.
"""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from common import OKR, Result, Run, measure, median, percentile, say, timed

from okr.domain import history
from okr.projections.store import Projection

PIT_MEDIAN_MS, PIT_TEAM_MS, PIT_SPEEDUP, REVIEW_SECONDS = 60.0, 20.0, 100.0, 1.0


def _digest(cards: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What must agree between the two answers: every objective and key result, scored."""
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 9)
    return [(c["key"], r(c["score"]), c["status"],
             tuple((k["key"], r(k["value"]), r(k["progress"]), r(k["expected"]), k["status"])
                   for k in c["key_results"])) for c in cards]


def instants(run: Run, proj: Projection, n: int) -> list[tuple[datetime, datetime]]:
    """Seeded random (as_of, known_at) pairs over the history: half "as known then", half
    "as known at the end"."""
    _, rows = proj.query("SELECT min(recorded_at), max(recorded_at) FROM events")
    lo, hi = rows[0]
    rnd = random.Random(20261123)
    span = (hi - lo).total_seconds()
    out = []
    for i in range(n):
        t = lo + timedelta(seconds=rnd.uniform(0, span))
        out.append((t, t if i % 2 == 0 else hi))
    return out


def point_in_time(run: Run) -> list[Result]:
    n, n_base = (60, 8) if run.scale == "small" else (200, 5)
    with Projection(run.settings.duckdb_file, read_only=True) as proj:
        points = instants(run, proj, n)
        proj.scorecard_at(*points[0])  # warm the file cache once, as a running reader has it
        ours = []
        answers = []
        for a, k in points:
            cards, seconds = timed(lambda a=a, k=k: proj.scorecard_at(a, k))
            ours.append(seconds * 1000)
            answers.append(cards)
        say(f"point in time: {n} instants, median {median(ours):.1f} ms, "
            f"p99 {percentile(ours, 99):.1f} ms")
        # One team's scorecard (`okr scorecard --team`), a team picked at random per instant;
        # it must be the whole organisation's answer for that team.
        rnd = random.Random(20261203)
        team_ms = []
        for (a, k), cards in zip(points, answers, strict=True):
            teams = sorted({c["team"] for c in cards})
            if not teams:
                continue
            team = rnd.choice(teams)
            mine, seconds = timed(lambda a=a, k=k, team=team: proj.scorecard_at(a, k, team=team))
            team_ms.append(seconds * 1000)
            assert _digest(mine) == _digest([c for c in cards if c["team"] == team])
        say(f"point in time, one team: {len(team_ms)} instants, median "
            f"{median(team_ms):.1f} ms, p99 {percentile(team_ms, 99):.1f} ms")
        say("point in time baseline: loading every fact for the Python replay …")
        facts, load_s = timed(lambda: list(proj.facts()))
    base = []
    for (a, k), cards in zip(points[:n_base], answers[:n_base], strict=True):
        replayed, seconds = timed(lambda a=a, k=k: history.scorecard_at(facts, a, k))
        base.append(seconds * 1000)
        assert _digest(replayed) == _digest(cards), f"DuckDB and the replay disagree at {a}"
    say(f"point in time baseline: {n_base} replays of {len(facts):,} facts, median "
        f"{median(base):,.0f} ms (loading them took {load_s:.1f} s); answers agree")

    ours_median = median(ours)
    speedup = median(base) / ours_median
    return [
        Result("point in time: scorecard_at median", "ms", ours_median, median(base),
               f"<= {PIT_MEDIAN_MS:g} ms, >= {PIT_SPEEDUP:g}x replay",
               ours_median <= PIT_MEDIAN_MS and speedup >= PIT_SPEEDUP, lower_is_better=True,
               notes={"instants": n, "replayed_instants": n_base, "answers_agree": True,
                      "facts": run.events}),
        Result("point in time: scorecard_at p99", "ms", percentile(ours, 99), None, "-", None,
               lower_is_better=True, notes={"max_ms": round(max(ours), 1)}),
        Result("point in time: one team's scorecard median", "ms", median(team_ms),
               median(base), f"<= {PIT_TEAM_MS:g} ms", median(team_ms) <= PIT_TEAM_MS,
               lower_is_better=True, notes={"instants": len(team_ms),
                                            "p99_ms": round(percentile(team_ms, 99), 1)}),
    ]


def review(run: Run) -> list[Result]:
    """`okr review` on a closed quarter in the middle of the history, three times."""
    quarter = run.cycles[len(run.cycles) // 2]
    env = run.environ()
    # As an installed okr runs (cli_bench.py does the same): its modules compiled once, not
    # from source on every command as PYTHONDONTWRITEBYTECODE (set on some build machines)
    # would have it — that compiled okr's ~50 modules in each review, 50-90 ms. The first,
    # untimed, review writes the bytecode.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    warm = measure([OKR, "review", quarter, "--json"], env, timeout=600)
    assert warm.code == 0, warm.stderr
    times = []
    for _ in range(3):
        m = measure([OKR, "review", quarter, "--json"], env, timeout=600)
        assert m.code == 0, m.stderr
        times.append(m.seconds)
    took = median(times)
    say(f"review of {quarter}: {', '.join(f'{t:.2f}' for t in times)} s")
    return [Result(f"quarter review (okr review {quarter})", "s", took, None,
                   f"<= {REVIEW_SECONDS:g} s", took <= REVIEW_SECONDS, lower_is_better=True,
                   notes={"runs_s": [round(t, 2) for t in times],
                          "at": datetime.now(UTC).isoformat()})]
