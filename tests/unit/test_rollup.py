"""Roll-ups (docs/scoring.md, "Roll-ups"): the worked example's table is a test — checked
through the domain rule (domain/rollup.py), the replay and the projection's `scorecard_at`
macro, each against the numbers worked out by hand in the doc — and the roll-up of a past
instant is the tree and the scores of that instant."""

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from okr.domain.base import utc_now
from okr.domain.history import scorecard_at
from okr.domain.rollup import department_summaries, roll_up, team_summaries
from okr.ledger.app import OkrLedger
from okr.projections.store import ConsumedRecord, Projection
from okr.record.envelope import chained_records
from okr.settings import load_settings
from tests.fuzzing import LIVE_CYCLE, live_window
from tests.unit.test_scoring_doc import table

EXAMPLE = table("| objective | parent | type | status | key results |")
HALF = 0.5  # the example's expected progress is half its progress everywhere (a linear rule)


def krs(text: str) -> list[tuple[float, float]]:
    """'1×2, 0.25×2' → [(1.0, 2.0), (0.25, 2.0)]"""
    return [(float(p), float(w)) for p, w in (x.strip().split("×") for x in text.split(",")
                                              if x.strip())]


def doc_cards() -> list[dict[str, Any]]:
    return [{"key": r["objective"], "parent": r["parent"] or None, "okr_type": r["type"],
             "status": r["status"],
             "key_results": [{"progress": p, "expected": p * HALF, "weight": w}
                             for p, w in krs(r["key results"])]} for r in EXAMPLE]


def want(row: dict[str, str]) -> float | None:
    return None if row["roll-up"] == "" else float(row["roll-up"])


def test_the_doc_example_covers_every_rule() -> None:
    assert {r["type"] for r in EXAMPLE} == {"committed", "aspirational", "learning"}
    assert {r["status"] for r in EXAMPLE} >= {"active", "abandoned"}
    assert any(r["roll-up"] == "" for r in EXAMPLE)
    assert any(r["key results"] == "" and r["roll-up"] for r in EXAMPLE)


@pytest.mark.parametrize("row", EXAMPLE, ids=lambda r: r["objective"])
def test_the_domain_rolls_up_as_worked_by_hand(row: dict[str, str]) -> None:
    got = roll_up(doc_cards())[row["objective"]]
    if want(row) is None:
        assert got == {"rollup": None, "rollup_expected": None, "rollup_track": None}
        return
    assert got["rollup"] == pytest.approx(want(row), abs=1e-12)
    assert got["rollup_expected"] == pytest.approx(want(row) * HALF, abs=1e-12)  # type: ignore[operator]


@pytest.mark.parametrize("case", [
    # (progress, expected) of one key result → track of the roll-up (status rule)
    ((0.5, 0.5), "on-track"), ((0.3, 0.5), "at-risk"), ((0.1, 0.5), "off-track")])
def test_the_rollup_track_follows_the_status_rule(case: Any) -> None:
    (p, e), track = case
    cards = [{"key": "a", "parent": None, "okr_type": "committed", "status": "active",
              "key_results": []},
             {"key": "b", "parent": "a", "okr_type": "committed", "status": "active",
              "key_results": [{"progress": p, "expected": e, "weight": 3}]}]
    assert roll_up(cards)["a"]["rollup_track"] == track


def test_an_alignment_cycle_from_an_old_ledger_is_cut_not_looped() -> None:
    cards = [{"key": k, "parent": p, "okr_type": "committed", "status": "active",
              "key_results": [{"progress": v, "expected": v, "weight": 1}]}
             for k, p, v in (("a", "b", 1.0), ("b", "a", 0.0))]
    got = roll_up(cards)
    assert set(got) == {"a", "b"} and all(0 <= g["rollup"] <= 1 for g in got.values())  # type: ignore[operator]


# ---- through a real ledger: replay and SQL ---------------------------------------------


def build(app: OkrLedger) -> None:
    """The doc's example as a ledger: increase key results 0 → 100 checked in at 100 ×
    progress; teams and levels for the summaries."""
    now = utc_now()
    cycle = app.add_cycle(LIVE_CYCLE, *live_window(now))
    teams = {"web": ("eng-web", "team"), "eng": ("eng", "department"),
             "emea": ("sales-emea", "team"), "sales": ("sales", "department"),
             "co": ("", "company")}
    order = ["co", "eng", "sales", "research", "legacy", "empty", "web", "emea"]
    rows = {r["objective"]: r for r in EXAMPLE}
    for key in order:
        r = rows[key]
        team, level = teams.get(key, ("lab", "team"))
        app.add_objective(key, key.title(), cycle=cycle.key, owner="ana", team=team,
                          level=level, okr_type=r["type"], parent=r["parent"] or None)
        for i, (p, w) in enumerate(krs(r["key results"])):
            app.add_key_result(f"{key}-{i}", f"KR {i}", objective=key, start=0, target=100,
                               weight=w)
            app.check_in(f"{key}-{i}", p * 100, at=now - timedelta(hours=1))
    app.abandon_objective("legacy", reason="dropped")


@pytest.fixture
def ledger(tmp_path: Path) -> OkrLedger:
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    build(app)
    return app


def project(app: OkrLedger, path: Path) -> Projection:
    proj = Projection(path)
    proj.apply("t", [ConsumedRecord(r.value, 0, i) for i, r in enumerate(chained_records(app))],
               {0: 1})
    return proj


def test_replay_and_sql_macro_roll_up_as_worked_by_hand(ledger: OkrLedger,
                                                        tmp_path: Path) -> None:
    now = utc_now()
    with project(ledger, tmp_path / "p.duckdb") as proj:
        sql = {c["key"]: c for c in proj.scorecard_at(now, now)}
        replay = {c["key"]: c for c in scorecard_at(list(proj.facts()), now, now)}
    for row in EXAMPLE:
        key = row["objective"]
        for cards in (sql, replay):
            if want(row) is None:
                assert cards[key]["rollup"] is None, key
            else:
                assert cards[key]["rollup"] == pytest.approx(want(row), abs=1e-9), key
        for field in ("rollup", "rollup_expected"):
            assert sql[key][field] == pytest.approx(replay[key][field], abs=1e-9), (key, field)
        assert sql[key]["rollup_track"] == replay[key]["rollup_track"], key


def test_the_rollup_as_of_an_instant_is_that_instants_tree(ledger: OkrLedger,
                                                            tmp_path: Path) -> None:
    before = utc_now()
    # web moves from eng to co, and eng's first key result falls to 0, after `before`
    ledger.update_objective("web", parent="co")
    ledger.check_in("eng-0", 0)
    now = utc_now()
    with project(ledger, tmp_path / "p.duckdb") as proj:
        for cards in ({c["key"]: c for c in proj.scorecard_at(before, before)},
                      {c["key"]: c for c in scorecard_at(list(proj.facts()), before, before)}):
            assert cards["eng"]["rollup"] == pytest.approx(0.66)
            assert cards["co"]["rollup"] == pytest.approx(0.52)
        for cards in ({c["key"]: c for c in proj.scorecard_at(now, now)},
                      {c["key"]: c for c in scorecard_at(list(proj.facts()), now, now)}):
            # by hand: eng (0·2 + 0.25·2) / 4 = 0.125; co (0.5 + 0.125 + 0.4 + 0.8) / 4
            assert cards["eng"]["rollup"] == pytest.approx(0.125)
            assert cards["co"]["rollup"] == pytest.approx(1.825 / 4)


def test_restatements_say_a_realignment_a_moved_key_result_and_the_rollups_it_moved(
        ledger: OkrLedger, tmp_path: Path) -> None:
    """A review compared with an earlier moment's knowledge lists what changed since: web
    re-aligned from eng to co and eng-1 moved to web change eng's roll-up (0.66 → 1.0, its
    one key result left) and co's (0.52 → (0.5 + 1 + 0.4 + (0.8 + 0.25·2) / 3) / 4), which the
    departments section says — the restatements said only web's score."""
    from okr.domain.review import ReviewPoint, restatements, review

    before = utc_now()
    ledger.update_objective("web", parent="co")
    ledger.move_key_result("eng-1", "web")
    now = utc_now()
    with project(ledger, tmp_path / "p.duckdb") as proj:
        facts = list(proj.facts())
    then, later = (review(facts, LIVE_CYCLE, ReviewPoint(now, known)) for known in (before, now))
    changed = {(x["key"], x["field"]): (x["before"], x["after"])
               for x in restatements(then, later)}
    assert changed[("web", "parent")] == ("eng", "co")
    assert changed[("eng-1", "objective")] == ("eng", "web")
    assert changed[("eng", "rollup")] == (pytest.approx(0.66), pytest.approx(1.0))
    assert changed[("co", "rollup")] == (pytest.approx(0.52),
                                         pytest.approx((0.5 + 1 + 0.4 + 1.3 / 3) / 4))
    assert changed[("web", "score")] == (pytest.approx(0.8), pytest.approx(1.3 / 3))
    assert ("sales", "rollup") not in changed  # emea's 0.4 below it, then and now
    assert ("web", "rollup") not in changed  # nothing below it: its score says it


def test_team_and_department_summaries_as_worked_by_hand(ledger: OkrLedger,
                                                        tmp_path: Path) -> None:
    now = utc_now()
    with project(ledger, tmp_path / "p.duckdb") as proj:
        cards = proj.scorecard_at(now, now)  # roll-ups from the SQL macro
    teams = {t["team"]: t for t in team_summaries(cards)}
    assert teams["eng"]["score"] == pytest.approx(0.625)  # (1·2 + 0.25·2) / 4, own only
    assert teams["eng-web"]["score"] == pytest.approx(0.8)
    # lab holds research (learning) and legacy (abandoned) and empty: none is scored
    assert (teams["lab"]["objectives"], teams["lab"]["scored_objectives"],
            teams["lab"]["score"]) == (3, 0, None)
    assert teams[""]["key_results"] == 1
    deps = department_summaries(cards)
    assert [d["key"] for d in deps] == ["co", "eng", "sales"]
    co = deps[0]
    assert co["rollup"] == pytest.approx(0.52) and co["objectives_below"] == 7
    assert co["teams"] == ["eng", "eng-web", "lab", "sales", "sales-emea"]
    assert (deps[1]["objectives_below"], deps[1]["teams"]) == (1, ["eng", "eng-web"])


def test_okr_scorecard_prints_rollups_and_summaries(ledger: OkrLedger) -> None:
    import csv
    import io
    import json

    from tests.fuzzing import okr
    from tests.unit.test_hostile_text import project as publish

    home = ledger.settings.home
    ledger.close()
    publish(home)
    shown = okr(home, "scorecard", "--json")
    assert shown.code == 0, str(shown)
    data = json.loads(shown.stdout)
    co = next(c for c in data["objectives"] if c["key"] == "co")
    assert co["rollup"] == pytest.approx(0.52) and co["score"] == pytest.approx(0.5)
    assert [d["key"] for d in data["summaries"]["departments"]] == ["co", "eng", "sales"]
    rows = list(csv.DictReader(io.StringIO(okr(home, "scorecard", "--format", "csv").stdout)))
    eng = next(r for r in rows if r["key"] == "eng")
    assert (float(eng["rollup"]), eng["rollup_track"]) == (pytest.approx(0.66), "on-track")
    table = okr(home, "scorecard", "--format", "table").stdout
    assert "roll-up 0.52" in table and "Departments (roll-ups)" in table and "Teams" in table


def test_a_filtered_scorecard_counts_a_departments_whole_subtree(ledger: OkrLedger) -> None:
    """`okr scorecard --team eng` shows eng's roll-up over eng-web below it: its department
    line says so (1 objective below, teams eng and eng-web), as the whole scorecard's does —
    not 0 below and only its own team beside a roll-up that counts eng-web."""
    import json

    from tests.fuzzing import okr
    from tests.unit.test_hostile_text import project as publish

    home = ledger.settings.home
    ledger.close()
    publish(home)
    now = utc_now().isoformat()

    def departments(*args: str) -> list[dict[str, Any]]:
        shown = okr(home, "scorecard", *args, "--as-of", now, "--known-at", now, "--json")
        assert shown.code == 0, str(shown)
        return list(json.loads(shown.stdout)["summaries"]["departments"])

    whole = departments()
    for args in (("--team", "eng"), ("--owner", "ana", "--team", "sales"),
                 ("--cycle", LIVE_CYCLE, "--team", "")):
        deps = departments(*args)
        assert deps and deps == [d for d in whole if d["key"] in {x["key"] for x in deps}]
    (eng,) = departments("--team", "eng")
    assert (eng["rollup"], eng["objectives_below"], eng["teams"]) == (
        pytest.approx(0.66), 1, ["eng", "eng-web"])
    # and its line in the tree says the roll-up, though eng-web is not shown below it
    table = okr(home, "scorecard", "--team", "eng", "--format", "table").stdout
    assert "score 0.62 / expected" in table and "roll-up 0.66 / expected" in table


def test_the_objective_page_says_what_each_aligned_objective_adds_to_its_rollup(
        ledger: OkrLedger) -> None:
    """The web page of co says its roll-up, 0.52, and lists what is aligned under it: each
    child with the roll-up co counts from it (eng 0.66, not its own 0.62; sales 0.40, with no
    key results of its own), and research (learning), legacy (abandoned) and empty (nothing
    to score) said not counted — (0.5 + 0.66 + 0.4) / 3 can be checked on the page. It
    listed their own scores, legacy's 1.00 among them, beside a roll-up they did not make."""
    import re

    from fastapi.testclient import TestClient

    from okr.web.app import create_app
    from okr.web.tokens import new_token
    from tests.unit.test_hostile_text import project as publish

    ledger.add_user("vic", "viewer", "")
    token = new_token("vic")
    ledger.issue_token("vic", token.token_id, token.token_hash)
    home = ledger.settings.home
    ledger.close()
    publish(home)
    site = create_app(load_settings({"home": home}, environ={}))
    web = TestClient(site, follow_redirects=False)
    try:
        assert web.post("/signin", data={"token": token.secret}).status_code == 303
        page = web.get("/objective/co").text
    finally:
        site.state.site.close()
    assert re.search(r'id="objective-rollup">0\.52 ', page), page
    children = re.search(r'<ul id="children">(.*?)</ul>', page, re.S)
    assert children, page
    lines = {re.search(r"/objective/([\w-]+)", li).group(1): re.sub(r"<[^>]+>", "", li)
             for li in re.findall(r"<li>(.*?)</li>", children.group(1), re.S)}
    assert set(lines) == {"eng", "sales", "research", "legacy", "empty"}, lines
    assert "score 0.62 · roll-up 0.66 counted" in lines["eng"], lines["eng"]
    assert "score – · roll-up 0.40 counted" in lines["sales"], lines["sales"]
    assert "not counted in its roll-up: learning" in lines["research"], lines["research"]
    assert "not counted in its roll-up: abandoned" in lines["legacy"], lines["legacy"]
    assert "not counted in its roll-up: no key results" in lines["empty"], lines["empty"]


def alike(a: object, b: object) -> bool:
    """Equal, floats to 12 significant digits: DuckDB may sum a roll-up's terms in another
    order for a filtered query (one run differed in the 17th digit)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(alike(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_a_filtered_scorecard_keeps_the_rollups_of_the_whole_tree(ledger: OkrLedger,
                                                                 tmp_path: Path) -> None:
    """`okr scorecard --team/--owner/--cycle` scores only the objectives asked for and those
    aligned below them: the roll-up of a department's objective still reads its teams'."""
    now = utc_now()
    with project(ledger, tmp_path / "p.duckdb") as proj:
        whole = proj.scorecard_at(now, now)
        teams = sorted({c["team"] for c in whole})
        assert {"eng", "sales", ""} <= set(teams)
        replay = scorecard_at(list(proj.facts()), now, now)
        for team in teams:
            mine = proj.scorecard_at(now, now, team=team)
            assert alike(mine, [c for c in whole if c["team"] == team]), team
            # scored by the domain's rules, rolled up in the replay's order: digit for digit
            assert mine == [c for c in replay if c["team"] == team], team
        assert alike(proj.scorecard_at(now, now, owner="ana", cycle=LIVE_CYCLE), whole)
        (eng,) = proj.scorecard_at(now, now, team="eng")
    assert eng["rollup"] == pytest.approx(0.66)  # own 0.625 with eng-web's 0.8 below


def test_a_rollup_sums_its_terms_in_the_replays_order(tmp_path: Path) -> None:
    """A float sum depends on its order ((0.1 + 0.2) + 0.3 is not 0.3 + (0.2 + 0.1)): the
    projection rolls the cards up in the replay's order, whatever order DuckDB hands the
    objectives over in, so a scorecard has the replay's digits, every time."""
    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    now = utc_now()
    cycle = app.add_cycle(LIVE_CYCLE, *live_window(now))
    app.add_objective("top", "Top", cycle=cycle.key, owner="ana", team="t", level="company")
    for key, progress in (("a", 0.1), ("b", 0.2), ("c", 0.3)):
        app.add_objective(key, key.title(), cycle=cycle.key, owner="ana", team="t",
                          parent="top")
        app.add_key_result(f"{key}-0", "KR", objective=key, start=0, target=100)
        app.check_in(f"{key}-0", progress * 100, at=now - timedelta(hours=1))
    now = utc_now()
    with project(app, tmp_path / "p.duckdb") as proj:
        replay = scorecard_at(list(proj.facts()), now, now)
        assert replay[-1]["key"] == "top" and replay[-1]["rollup"] != sum(
            c["rollup"] for c in reversed(replay[:-1])) / 3  # the order shows in the digits
        for _ in range(3):
            assert proj.scorecard_at(now, now, team="t") == replay
            assert proj.scorecard_at(now, now) == replay


@pytest.mark.parametrize("okr_type", ["committed", "aspirational", "learning"])
@pytest.mark.parametrize("status", ["active", "abandoned", "achieved"])
@pytest.mark.parametrize("rollup", [None, 0.5])
def test_left_out_says_why_exactly_when_a_child_moves_no_rollup(okr_type: str, status: str,
                                                                 rollup: float | None) -> None:
    """The objective page's reason (`left_out`) and the roll-up's rule (`counts_in_parent`,
    and a child with no roll-up adds nothing) are one rule: a reason iff it moves nothing."""
    from okr.domain.rollup import counts_in_parent, left_out

    card = {"okr_type": okr_type, "status": status, "rollup": rollup}
    assert (left_out(card) is None) == (counts_in_parent(card) and rollup is not None)
    moved = roll_up([{"key": "p", "cycle": "c", "parent": None, "okr_type": "committed",
                      "status": "active", "key_results": []},
                     {"key": "k", "cycle": "c", "parent": "p", "okr_type": okr_type,
                      "status": status, "key_results": [] if rollup is None else
                      [{"progress": rollup, "expected": rollup, "weight": 1.0}]}])["p"]
    assert (moved["rollup"] is not None) == (left_out(card) is None)
