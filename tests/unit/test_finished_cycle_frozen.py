"""A finished cycle's scorecard is its review, and stays so (docs/scoring.md, "A finished
cycle stands still"): a key result's value as of any instant is taken at the earlier of that
instant and its cycle's end — check-ins and KPI readings alike — and a roll-up counts the
objectives of its own cycle only, so a later cycle's carried copies still aligned to an
objective of 2026-Q3 do not move 2026-Q3's roll-up.

Found by the retrospective trial (F1): after `okr cycle carry 2026-Q3 2026-Q4 --unfinished-only`
and KPI readings in November, `okr scorecard --cycle 2026-Q3` rolled three 2026-Q4 objectives
into the company objective (0.889 instead of the review's 0.835) and scored the KPI-linked
key results from November's readings. Explicit 2026 dates; 2026-Q3 is over whenever this runs.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from okr.domain.history import scorecard_at
from okr.ledger.app import OkrLedger
from okr.projections.store import Projection
from okr.settings import load_settings
from tests.fuzzing import okr
from tests.unit.test_hostile_text import project

ZONE = {"OKR_ORG_TZ": "Europe/Berlin"}
Q3_END = datetime(2026, 9, 30, 22, tzinfo=UTC)  # Berlin midnight


def run(home: Path, *args: str) -> Any:
    got = okr(home, *args, env=ZONE)
    assert got.crash is None and got.code == 0, str(got)
    return got


def q3(home: Path) -> None:
    """2026-Q3 as in the trial, in small: a company objective with its own key result and
    three team objectives aligned to it, two of them measured by KPIs."""
    for args in [
        ("cycle", "add", "2026-Q3"),
        ("kpi", "add", "uptime", "Uptime", "--green", "99.5", "--red", "99", "--cadence",
         "weekly", "--effective", "2026-07-01", "--reason", "defined at planning"),
        ("kpi", "add", "nps", "NPS", "--green", "40", "--red", "30", "--cadence", "monthly",
         "--effective", "2026-07-01", "--reason", "defined at planning"),
        ("objective", "add", "co-grow", "Grow", "--cycle", "2026-Q3", "--team", "exec",
         "--level", "company"),
        ("kr", "add", "kr-co", "Company", "--objective", "co-grow", "--target", "1",
         "--kind", "milestone"),
        ("objective", "add", "sales-pipe", "Pipeline", "--cycle", "2026-Q3", "--team", "sales",
         "--parent", "co-grow"),
        ("kr", "add", "kr-leads", "Leads", "--objective", "sales-pipe", "--target", "80"),
        ("objective", "add", "plat-rel", "Reliable", "--cycle", "2026-Q3", "--team", "platform",
         "--parent", "co-grow"),
        ("kr", "add", "kr-uptime", "Uptime", "--objective", "plat-rel", "--kind", "stay-above",
         "--target", "99.5", "--tolerance", "0.5", "--kpi", "uptime"),
        ("objective", "add", "sup-csat", "Happy", "--cycle", "2026-Q3", "--team", "support",
         "--parent", "co-grow"),
        ("kr", "add", "kr-nps", "NPS", "--objective", "sup-csat", "--start", "31", "--target",
         "45", "--kpi", "nps"),
        ("cycle", "commit", "2026-Q3"),
        ("checkin", "kr-co", "1", "--at", "2026-09-20"),
        ("checkin", "kr-leads", "40", "--at", "2026-08-07"),
        ("checkin", "kr-leads", "74", "--at", "2026-09-29"),
        ("kpi", "record", "uptime", "99.8", "--at", "2026-07-07"),
        ("kpi", "record", "uptime", "99.3", "--at", "2026-09-29"),
        ("kpi", "record", "nps", "38", "--at", "2026-08-31"),
        ("kpi", "record", "nps", "41", "--at", "2026-09-30"),
    ]:
        run(home, *args)


def then_q4(home: Path) -> None:
    """2026-Q4 carries the unfinished work (co-grow is finished: not carried), and the KPIs
    read on in November."""
    for args in [
        ("cycle", "add", "2026-Q4"),
        ("kpi", "record", "uptime", "99.6", "--at", "2026-11-30"),
        ("kpi", "record", "nps", "44", "--at", "2026-11-30"),
    ]:
        run(home, *args)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("frozen") / "home"
    q3(home)
    then_q4(home)
    carried = json.loads(run(home, "cycle", "carry", "2026-Q3", "2026-Q4", "--unfinished-only",
                             "--json").stdout)
    assert {c["from"] for c in carried["carried"] if c["kind"] == "objective"} == {
        "sales-pipe", "plat-rel", "sup-csat"}
    run(home, "checkin", "kr-leads.2026-Q4", "70", "--at", "2026-11-20")
    project(home)
    return home


# By hand (2026-Q3 at its end): kr-leads 74/80 = 0.925; kr-uptime 99.3 is 0.2 below 99.5 in a
# band 0.5 wide: 1 - 0.2/0.5 = 0.6; kr-nps (41 - 31) / 14 = 0.714…; kr-co done: 1.
# co-grow's roll-up: (1 + 0.925 + 0.6 + 0.714…) / 4.
HAND = {"kr-leads": 0.925, "kr-uptime": 0.6, "kr-nps": 10 / 14, "kr-co": 1.0}
CO_GROW = (1 + 0.925 + 0.6 + 10 / 14) / 4


def scores(objectives: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for o in objectives:
        out[o["key"]] = (round(o["score"], 9), round(o["rollup"], 9),
                         round(o["rollup_expected"], 9))
        for kr in o["key_results"]:
            out[kr["key"]] = (kr["value"], round(kr["progress"], 9), round(kr["expected"], 9),
                              kr["status"])
    return out


def test_a_finished_quarters_scorecard_is_its_review_after_later_readings_and_a_carry(
        home: Path) -> None:
    card = json.loads(run(home, "scorecard", "--cycle", "2026-Q3", "--json").stdout)
    rev = json.loads(run(home, "review", "2026-Q3", "--json").stdout)
    assert scores(card["objectives"]) == scores(rev["objectives"])
    got = {kr["key"]: kr["progress"] for o in card["objectives"] for kr in o["key_results"]}
    assert got == pytest.approx(HAND)
    co = next(o for o in card["objectives"] if o["key"] == "co-grow")
    assert co["rollup"] == pytest.approx(CO_GROW)
    assert co["rollup_expected"] == pytest.approx(1.0)  # the quarter is over
    uptime = next(kr for o in card["objectives"] for kr in o["key_results"]
                  if kr["key"] == "kr-uptime")
    assert uptime["value"] == 99.3  # 30 September's reading, not 30 November's 99.6


def test_every_way_of_reading_the_finished_quarter_agrees(home: Path) -> None:
    """The projection (whole organisation, and filtered to the cycle), the replay of the
    facts, `okr list krs/objectives` and the CSV scorecard say the same as the review."""
    now = datetime.now(UTC)
    settings = load_settings({"home": home}, environ={})
    with Projection(settings.duckdb_file, read_only=True) as proj:
        whole = [c for c in proj.scorecard_at(now, now) if c["cycle"] == "2026-Q3"]
        picked = proj.scorecard_at(now, now, cycle="2026-Q3")
        replay = [c for c in scorecard_at(list(proj.facts()), now, now)
                  if c["cycle"] == "2026-Q3"]
        sql = proj.query("SELECT key_result, value, progress FROM scorecard_at(?, ?) "
                         "WHERE cycle = '2026-Q3' AND key_result IS NOT NULL", [now, now])[1]
        rolled = proj.query("SELECT DISTINCT objective_rollup FROM scorecard_at(?, ?) "
                            "WHERE objective = 'co-grow'", [now, now])[1]
        # The readings of the 8 days before each cycle's end, where scorecard_at finds them
        # (this file was projected in one batch: every reading came with its cycles).
        near = proj.query("SELECT k.key, e.cycle_end, e.value FROM kpi_readings_at_ends e "
                          "JOIN aggregates k USING (aggregate_id) ORDER BY ALL")[1]
    assert scores(whole) == scores(picked) == scores(replay)
    assert {k: p for k, _, p in sql} == pytest.approx(HAND)
    assert rolled[0][0] == pytest.approx(CO_GROW)
    assert near == [("nps", Q3_END, 41.0), ("uptime", Q3_END, 99.3)]  # none in Q4's last 8 days
    krs = json.loads(run(home, "list", "krs", "--cycle", "2026-Q3", "--json").stdout)
    assert {r["key"]: r["progress"] for r in krs["items"]} == pytest.approx(HAND)
    shown = json.loads(run(home, "show", "kr-uptime", "--json").stdout)  # from the ledger
    assert (shown["value"], shown["progress"]) == (99.3, pytest.approx(0.6))
    plat = json.loads(run(home, "show", "plat-rel", "--json").stdout)
    assert plat["score"] == pytest.approx(0.6)
    objs = json.loads(run(home, "list", "objectives", "--cycle", "2026-Q3", "--json").stdout)
    assert {o["key"]: o["score"] for o in objs["items"]} == pytest.approx(
        {k: v[0] for k, v in scores(replay).items() if not k.startswith("kr-")})


def test_the_q4_copies_stay_aligned_but_count_in_their_own_cycle_only(home: Path) -> None:
    shown = json.loads(run(home, "show", "sales-pipe.2026-Q4", "--json").stdout)
    assert shown["parent"] == "co-grow"  # still aligned to it: shown as such
    card = json.loads(run(home, "scorecard", "--json").stdout)
    by_key = {o["key"]: o for o in card["objectives"]}
    # co-grow's roll-up reads its own cycle's children only
    assert by_key["co-grow"]["rollup"] == pytest.approx(CO_GROW)
    deps = {d["key"]: d for d in card["summaries"]["departments"]}
    assert deps["co-grow"]["objectives_below"] == 3


def test_carry_says_which_copies_keep_a_parent_in_the_earlier_cycle(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    q3(home)
    run(home, "cycle", "add", "2026-Q4")
    out = run(home, "cycle", "carry", "2026-Q3", "2026-Q4", "--unfinished-only")
    # A line of its own, not glued to the carried list with a visible ␊ (the rollover trial).
    assert ("kept aligned to co-grow of 2026-Q3 (another cycle: its roll-up does not count "
            "them): plat-rel.2026-Q4, sales-pipe.2026-Q4, sup-csat.2026-Q4"
            ) in out.stdout.splitlines()
    assert "␊" not in out.stdout and out.stdout.startswith("carried "), out.stdout
    # All carried: the copies align to co-grow's copy, and nothing is said.
    other = tmp_path / "other"
    q3(other)
    run(other, "cycle", "add", "2026-Q4")
    data = json.loads(run(other, "cycle", "carry", "2026-Q3", "2026-Q4", "--json").stdout)
    assert data["kept_parent"] == []
    again = tmp_path / "again"
    q3(again)
    run(again, "cycle", "add", "2026-Q4")
    data = json.loads(run(again, "cycle", "carry", "2026-Q3", "2026-Q4", "--unfinished-only",
                          "--json").stdout)
    assert data["kept_parent"][0] == {"objective": "plat-rel.2026-Q4", "parent": "co-grow",
                                      "parent_cycle": "2026-Q3"}
    app = OkrLedger(load_settings({"home": other}, environ={}))
    try:
        assert app.objective("sales-pipe.2026-Q4").parent == "co-grow.2026-Q4"
    finally:
        app.close()


def test_a_roll_up_counts_its_own_cycles_children_in_the_domain() -> None:
    from okr.domain.rollup import department_summaries, roll_up

    def card(key: str, cycle: str, parent: str | None, progress: float) -> dict[str, Any]:
        return {"key": key, "cycle": cycle, "parent": parent, "okr_type": "committed",
                "status": "active", "level": "company" if parent is None else "team",
                "team": key, "title": key, "owner": "ana", "score": progress,
                "key_results": [{"progress": progress, "expected": 1.0, "weight": 1.0}]}

    cards = [card("co", "2026-Q3", None, 1.0), card("a", "2026-Q3", "co", 0.5),
             card("a.2026-Q4", "2026-Q4", "co", 0.0)]
    rolled = roll_up(cards)
    assert rolled["co"]["rollup"] == pytest.approx(0.75)
    for c in cards:
        c.update(rolled[c["key"]])
    assert department_summaries(cards)[0]["objectives_below"] == 1


def test_the_web_objective_page_lists_other_cycles_copies_apart_from_its_roll_up(
        home: Path) -> None:
    from okr.web.site import Site

    now = datetime.now(UTC)
    site = Site(load_settings({"home": home}, environ={"OKR_INLINE_PUBLISH": "off"}))
    page = site.objective("co-grow", now, now)
    assert page["card"]["rollup"] == pytest.approx(CO_GROW)
    assert [c["key"] for c in page["children"]] == ["plat-rel", "sales-pipe", "sup-csat"]
    assert [c["key"] for c in page["elsewhere"]] == [
        "plat-rel.2026-Q4", "sales-pipe.2026-Q4", "sup-csat.2026-Q4"]
