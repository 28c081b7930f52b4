"""After its cycle's end a key result's status is `final`, in every view, as the review says it
(docs/scoring.md, "Expected progress and status"): on-track / at-risk / off-track predict how
the cycle will end, and once it has ended there is nothing left to predict. Computed at the
instant viewed: as of a moment inside the cycle the same key results say their track.

Found in the last closing note: `okr list krs` and `okr scorecard` (and their --json) said
`off-track` for a key result of a finished quarter whose review said `final`. Explicit 2026
dates; 2026-Q3 is over whenever this runs.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from okr.domain.history import scorecard_at
from okr.projections.store import Projection
from okr.settings import load_settings
from tests.support.built import ok
from tests.support.clock import recording_at
from tests.unit.test_hostile_text import project

ZONE = {"OKR_ORG_TZ": "Europe/Berlin"}
Q3_END = datetime(2026, 9, 30, 22, tzinfo=UTC)  # Berlin midnight
INSIDE = "2026-08-15"
TRACKS = {"on-track", "at-risk", "off-track"}


def run(home: Path, *args: str) -> Any:
    return ok(home, *args, env=ZONE)  # which must succeed


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("final") / "home"
    for args in [
        ("cycle", "add", "2026-Q3"),
        ("objective", "add", "co", "Grow", "--cycle", "2026-Q3", "--team", "exec",
         "--level", "company"),
        ("kr", "add", "kr-ahead", "Ahead", "--objective", "co", "--target", "100"),
        ("objective", "add", "sales", "Pipeline", "--cycle", "2026-Q3", "--team", "sales",
         "--parent", "co"),
        ("kr", "add", "kr-behind", "Behind", "--objective", "sales", "--target", "100"),
        ("cycle", "commit", "2026-Q3"),
        ("checkin", "kr-ahead", "90", "--at", "2026-08-01"),
        ("checkin", "kr-behind", "5", "--at", "2026-08-01"),
    ]:
        run(home, *args)
    project(home)
    return home


def statuses(objectives: list[dict[str, Any]]) -> dict[str, Any]:
    """Every track a scorecard says: each key result's status, each objective's track and
    roll-up track."""
    out: dict[str, Any] = {}
    for o in objectives:
        out[o["key"]] = (o["track"], o["rollup_track"])
        for kr in o["key_results"]:
            out[kr["key"]] = kr["status"]
    return out


FINAL = {"co": ("final", "final"), "sales": ("final", "final"), "kr-ahead": "final",
         "kr-behind": "final"}


def test_scorecard_and_list_say_final_after_the_end_as_the_review_does(home: Path) -> None:
    for args in [("scorecard", "--json"), ("scorecard", "--cycle", "2026-Q3", "--json")]:
        card = json.loads(run(home, *args).stdout)
        assert statuses(card["objectives"]) == FINAL, args
        teams = {t["team"]: t["track"] for t in card["summaries"]["teams"]}
        assert teams == {"exec": "final", "sales": "final"}
    krs = json.loads(run(home, "list", "krs", "--json").stdout)
    assert {r["key"]: r["status"] for r in krs["items"]} == {"kr-ahead": "final",
                                                            "kr-behind": "final"}
    objs = json.loads(run(home, "list", "objectives", "--json").stdout)
    assert {r["key"]: r["track"] for r in objs["items"]} == {"co": "final", "sales": "final"}
    picked = json.loads(run(home, "list", "krs", "--status", "final", "--json").stdout)
    assert len(picked["items"]) == 2
    review = json.loads(run(home, "review", "2026-Q3", "--json").stdout)
    assert {kr["key"]: kr["status"] for o in review["objectives"]
            for kr in o["key_results"]} == {"kr-ahead": "final", "kr-behind": "final"}
    table = run(home, "scorecard", "--cycle", "2026-Q3").stdout
    assert "final" in table and not TRACKS & set(table.split())
    shown = json.loads(run(home, "show", "kr-behind", "--json").stdout)  # from the ledger
    assert shown["status"] == "final"
    shown = json.loads(run(home, "show", "sales", "--json").stdout)
    assert shown["track"] == "final"


def test_as_of_a_moment_inside_the_cycle_the_tracks_still_predict(home: Path) -> None:
    card = json.loads(run(home, "scorecard", "--as-of", INSIDE, "--json").stdout)
    got = statuses(card["objectives"])
    assert got["kr-ahead"] == "on-track" and got["kr-behind"] == "off-track"
    assert got["sales"][0] == "off-track"
    krs = json.loads(run(home, "list", "krs", "--as-of", INSIDE, "--json").stdout)
    assert {r["key"]: r["status"] for r in krs["items"]} == {"kr-ahead": "on-track",
                                                            "kr-behind": "off-track"}


def test_replay_projection_and_sql_agree_at_the_end_instant(home: Path) -> None:
    """The last microsecond of the cycle predicts; its end instant (the next quarter's first)
    is final — in the replay, the projection (whole and filtered) and the SQL macro."""
    now = datetime.now(UTC)
    settings = load_settings({"home": home}, environ={})
    with Projection(settings.duckdb_file, read_only=True) as proj:
        facts = list(proj.facts())
        for at, final in [(Q3_END - timedelta(microseconds=1), False), (Q3_END, True),
                          (now, True)]:
            replay = statuses(scorecard_at(facts, at, now))
            whole = statuses(proj.scorecard_at(at, now))
            picked = statuses(proj.scorecard_at(at, now, cycle="2026-Q3"))
            sql = proj.query("SELECT objective, key_result, objective_track, "
                             "objective_rollup_track, status FROM scorecard_at(?, ?)",
                             [at, now])[1]
            assert replay == whole == picked, at
            said = {kr: s for _, kr, _, _, s in sql} | {o: (t, r) for o, _, t, r, _ in sql}
            assert said == replay, at
            assert (replay == FINAL) is final, (at, replay)


def test_a_finished_teams_track_counts_are_blank_as_in_the_review(home: Path) -> None:
    """After the end no key result is on a track: the scorecard's Teams table said 0 on-track,
    0 at-risk, 0 off-track beside 'final' where the review's says '-'."""
    def drawn(text: str) -> dict[str, list[str]]:  # a terminal table's rows, by their team
        rows = [[c.strip() for c in line.strip("│").split("│")]
                for line in text.split("Teams", 1)[1].split("Departments", 1)[0].splitlines()
                if line.startswith("│")]
        return {r[0]: r[6:] for r in rows}

    block = run(home, "review", "2026-Q3", "--format", "tsv").stdout.split("# Teams\n", 1)[1]
    review = {r.split("\t")[0]: r.split("\t")[6:]
              for r in block.split("\n# ", 1)[0].splitlines()[1:]}
    card = drawn(run(home, "scorecard", "--format", "table").stdout)
    assert card == review == {"exec": ["final", "-", "-", "-"],
                              "sales": ["final", "-", "-", "-"]}, (card, review)
    running = drawn(run(home, "scorecard", "--as-of", INSIDE, "--format", "table").stdout)
    assert running["sales"] == ["off-track", "0", "0", "1"], running


# ---- closed early: final while closed, as the review's grades are -----------------------------
# (docs/scoring.md#grades). Recorded on a pinned clock, in time order: the close, the reopen
# and "now" are fixed 2026 instants, whatever day this runs.
CLOSE, REOPEN, NOW = "2026-08-20T12:00:00+00:00", "2026-09-01T12:00:00+00:00", \
    "2026-09-10T12:00:00+00:00"


def at(home: Path, when: str, *args: str) -> Any:
    """`okr ARGS` with the recording clock (and so every view's "now") pinned at `when`."""
    with recording_at(lambda: datetime.fromisoformat(when)):
        return run(home, *args)


@pytest.fixture(scope="module")
def closed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2026-Q3 closed on 20 August and left closed; `summer` closed then too and reopened on
    1 September."""
    home = tmp_path_factory.mktemp("closed") / "home"
    for when, args in [
        ("2026-06-20T09:00:00+00:00", ("cycle", "add", "2026-Q3")),
        ("2026-06-20T09:01:00+00:00", ("cycle", "add", "summer", "--start", "2026-07-01",
                                       "--end", "2026-09-30")),
        ("2026-06-20T09:02:00+00:00", ("objective", "add", "co", "Grow", "--cycle", "2026-Q3",
                                       "--team", "exec", "--level", "company")),
        ("2026-06-20T09:03:00+00:00", ("kr", "add", "kr-ahead", "Ahead", "--objective", "co",
                                       "--target", "100")),
        ("2026-06-20T09:04:00+00:00", ("objective", "add", "sales", "Pipeline", "--cycle",
                                       "2026-Q3", "--team", "sales", "--parent", "co")),
        ("2026-06-20T09:05:00+00:00", ("kr", "add", "kr-behind", "Behind", "--objective",
                                       "sales", "--target", "100")),
        ("2026-06-20T09:06:00+00:00", ("objective", "add", "ops", "Run", "--cycle", "summer",
                                       "--team", "ops")),
        ("2026-06-20T09:07:00+00:00", ("kr", "add", "kr-ops", "Ops", "--objective", "ops",
                                       "--target", "100")),
        ("2026-07-02T09:00:00+00:00", ("cycle", "commit", "2026-Q3")),
        ("2026-07-02T09:01:00+00:00", ("cycle", "commit", "summer")),
        ("2026-08-01T10:00:00+00:00", ("checkin", "kr-ahead", "90")),
        ("2026-08-01T10:01:00+00:00", ("checkin", "kr-behind", "5")),
        ("2026-08-01T10:02:00+00:00", ("checkin", "kr-ops", "5")),
        (CLOSE, ("cycle", "close", "2026-Q3")),
        (CLOSE, ("cycle", "close", "summer")),
        (REOPEN, ("cycle", "reopen", "summer", "--reason", "closed too soon")),
    ]:
        at(home, when, *args)
    project(home)
    return home


Q3 = {"co": ("final", "final"), "sales": ("final", "final"), "kr-ahead": "final",
      "kr-behind": "final"}
SUMMER_FINAL = {"ops": ("final", "final"), "kr-ops": "final"}


def split(got: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(2026-Q3's tracks, summer's)."""
    return ({k: v for k, v in got.items() if k not in SUMMER_FINAL},
            {k: v for k, v in got.items() if k in SUMMER_FINAL})


def test_a_cycle_closed_early_says_final_everywhere_while_closed(closed_home: Path) -> None:
    """Closed on 20 August: the review's grades are final, and so is every track of the
    scorecard, the lists and `okr show` (from the ledger); reopened, `summer` predicts again."""
    home = closed_home
    for args in [("scorecard", "--json"), ("scorecard", "--cycle", "2026-Q3", "--json")]:
        card = json.loads(at(home, NOW, *args).stdout)
        q3, summer = split(statuses(card["objectives"]))
        assert q3 == Q3, args
        assert summer in ({}, {"ops": ("off-track", "off-track"), "kr-ops": "off-track"}), args
        teams = {t["team"]: t["track"] for t in card["summaries"]["teams"]}
        assert {t: teams[t] for t in ("exec", "sales")} == {"exec": "final", "sales": "final"}
    krs = json.loads(at(home, NOW, "list", "krs", "--json").stdout)
    assert {r["key"]: r["status"] for r in krs["items"]} == {
        "kr-ahead": "final", "kr-behind": "final", "kr-ops": "off-track"}
    objs = json.loads(at(home, NOW, "list", "objectives", "--json").stdout)
    assert {r["key"]: r["track"] for r in objs["items"]} == {"co": "final", "sales": "final",
                                                            "ops": "off-track"}
    picked = json.loads(at(home, NOW, "list", "krs", "--status", "final", "--json").stdout)
    assert sorted(r["key"] for r in picked["items"]) == ["kr-ahead", "kr-behind"]
    table = at(home, NOW, "scorecard", "--cycle", "2026-Q3").stdout
    assert "final" in table and not TRACKS & set(table.split())
    assert json.loads(at(home, NOW, "show", "kr-behind", "--json").stdout)["status"] == "final"
    assert json.loads(at(home, NOW, "show", "sales", "--json").stdout)["track"] == "final"
    assert json.loads(at(home, NOW, "show", "kr-ops", "--json").stdout)["status"] == "off-track"
    assert json.loads(at(home, NOW, "show", "ops", "--json").stdout)["track"] == "off-track"


@pytest.mark.parametrize(("view", "q3_final", "summer_final"), [
    ((), True, False),  # now: 2026-Q3 still closed, summer reopened
    (("--as-of", "2026-08-19"), False, False),  # before the close took effect
    (("--as-of", "2026-08-25"), True, True),  # both closed then
    (("--as-of", "2026-08-25", "--known-at", "2026-08-19"), False, False),  # not yet known
    (("--as-of", "2026-08-25", "--known-at", "2026-08-21"), True, True),
    (("--as-of", "2026-09-05", "--known-at", "2026-08-25"), True, True),  # reopen not known
])
def test_final_while_closed_at_the_instant_viewed_in_valid_and_known_time(
        closed_home: Path, view: tuple[str, ...], q3_final: bool, summer_final: bool) -> None:
    """The scorecard and `okr list krs` say final exactly when the review's grades are final
    (the cycle closed at the instant viewed, as known then), and predict otherwise."""
    card = json.loads(at(closed_home, NOW, "scorecard", "--json", *view).stdout)
    q3, summer = split(statuses(card["objectives"]))
    assert (q3 == Q3) is q3_final and (summer == SUMMER_FINAL) is summer_final, (view, card)
    for final, said in ((q3_final, q3), (summer_final, summer)):
        tracks = {t for v in said.values() for t in (v if isinstance(v, tuple) else (v,))}
        assert tracks == {"final"} if final else "final" not in tracks, (view, said)
    krs = json.loads(at(closed_home, NOW, "list", "krs", "--json", *view).stdout)
    listed = {r["key"]: r["status"] for r in krs["items"]}
    assert listed == {k: v for k, v in {**q3, **summer}.items() if k.startswith("kr-")}
    for cycle, final, said in (("2026-Q3", q3_final, q3), ("summer", summer_final, summer)):
        review = json.loads(at(closed_home, NOW, "review", cycle, "--json", *view).stdout)
        assert {kr["key"]: kr["status"] for o in review["objectives"]
                for kr in o["key_results"]} == {k: v for k, v in said.items()
                                                if k.startswith("kr-")}, (cycle, view)
        # the review's own reason its grades are final: closed at its as-of (none is over)
        assert (review["status"] == "closed") is final, (cycle, view)
