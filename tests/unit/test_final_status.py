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
from tests.fuzzing import okr
from tests.unit.test_hostile_text import project

ZONE = {"OKR_ORG_TZ": "Europe/Berlin"}
Q3_END = datetime(2026, 9, 30, 22, tzinfo=UTC)  # Berlin midnight
INSIDE = "2026-08-15"
TRACKS = {"on-track", "at-risk", "off-track"}


def run(home: Path, *args: str) -> Any:
    got = okr(home, *args, env=ZONE)
    assert got.crash is None and got.code == 0, str(got)
    return got


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
