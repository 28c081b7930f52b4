"""`okr cycle carry FROM TO [--unfinished-only]` (issue 21, "Carry forward"): objectives and
(unfinished) key results copied into the next cycle, each new item's creation event naming
its origin (`carried_from`); carrying twice writes nothing; reviews, trails, `show` and
`okr list` show the lineage; bad input is one line, exit 2, nothing written. On real SQLite
and DuckDB files."""

import json
from pathlib import Path

import pytest

from okr.domain.carry import carried_key, carries_objective, check_carry, unfinished
from okr.domain.errors import DomainError
from okr.domain.periods import named_window
from tests.fuzzing import Result, event_count, fresh_copy, okr
from tests.unit.test_hostile_text import project


def ok(home: Path, *args: str) -> Result:
    result = okr(home, *args)
    assert result.crash is None and result.code == 0, str(result)
    return result


def carry(home: Path, *args: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(ok(home, "cycle", "carry", *args, "--json").stdout)
    return data


def pairs(data: dict[str, object], field: str = "carried") -> list[tuple[str, str, str]]:
    items = data[field]
    assert isinstance(items, list)
    return [(c["kind"], c["from"], c["to"]) for c in items]


@pytest.fixture(scope="module")
def q4(readme_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """README's 2026-Q4 (rev-2x: kr-conv at 2.2 of 2.3, kr-intl never checked in) plus, under
    rev-2x, a reached milestone and a key result its KPI's reading (wau 13250) has reached, an
    objective closed as achieved, an abandoned one, and cycle 2027-Q1 in planning. Tests copy
    it before writing."""
    home = fresh_copy(readme_home, tmp_path_factory.mktemp("q4"))
    for args in (
            ["kr", "add", "kr-site", "Launch the new site", "--objective", "rev-2x", "--kind",
             "milestone", "--effective", "2026-11-01", "--reason", "scope"],
            ["checkin", "kr-site", "1", "--at", "2026-11-20"],
            ["kr", "add", "kr-wau", "Weekly actives past 13k", "--objective", "rev-2x",
             "--start", "12000", "--target", "13000", "--kpi", "wau", "--effective",
             "2026-11-01", "--reason", "scope"],
            ["objective", "add", "won", "Open the Lisbon office", "--cycle", "2026-Q4",
             "--owner", "ben", "--team", "ops", "--reason", "late addition"],
            ["objective", "close", "won", "--status", "achieved"],
            ["objective", "add", "gone", "Rebrand", "--cycle", "2026-Q4", "--reason", "idea"],
            ["objective", "abandon", "gone", "--reason", "no budget"],
            ["cycle", "add", "2027-Q1"]):
        ok(home, *args)
    return home


@pytest.fixture
def home(q4: Path, tmp_path: Path) -> Path:
    return fresh_copy(q4, tmp_path)


def test_unfinished_only_carries_the_key_results_below_1_with_their_objective(home: Path
                                                                              ) -> None:
    data = carry(home, "2026-Q4", "2027-Q1", "--unfinished-only")
    assert pairs(data) == [("objective", "rev-2x", "rev-2x.2027-Q1"),
                           ("key_result", "kr-conv", "kr-conv.2027-Q1"),
                           ("key_result", "kr-intl", "kr-intl.2027-Q1")]
    assert (data["from"], data["to"], data["already_carried"]) == ("2026-Q4", "2027-Q1", [])
    obj = json.loads(ok(home, "show", "rev-2x.2027-Q1", "--json").stdout)
    assert (obj["cycle"], obj["owner"], obj["team"], obj["okr_type"], obj["carried_from"]) == (
        "2027-Q1", "ana", "sales", "committed", "rev-2x")
    kr = json.loads(ok(home, "show", "kr-conv.2027-Q1", "--json").stdout)
    # The plan as it stands (target revised to 2.3), none of the origin's check-ins.
    assert (kr["objective"], kr["start"], kr["target"], kr["unit"], kr["carried_from"],
            kr["check_ins"], kr["phases"]) == (
        "rev-2x.2027-Q1", 2.0, 2.3, "%", "kr-conv", [], [])
    origin = json.loads(ok(home, "show", "kr-conv", "--json").stdout)
    assert origin["carried_from"] is None and origin["cycle"] == "2026-Q4"


def test_carrying_twice_writes_nothing_and_says_so(home: Path) -> None:
    first = carry(home, "2026-Q4", "2027-Q1", "--unfinished-only")
    stored = event_count(home)
    again = ok(home, "cycle", "carry", "2026-Q4", "2027-Q1", "--unfinished-only")
    assert again.stdout.splitlines()[0] == ("nothing to carry: every unfinished item was "
                                            "carried from 2026-Q4 to 2027-Q1 before")
    assert event_count(home) == stored
    data = carry(home, "2026-Q4", "2027-Q1", "--unfinished-only")
    assert data["carried"] == [] and data["already_carried"] == first["carried"]
    assert event_count(home) == stored


def test_a_full_carry_after_an_unfinished_one_adds_only_the_rest(home: Path) -> None:
    carry(home, "2026-Q4", "2027-Q1", "--unfinished-only")
    data = carry(home, "2026-Q4", "2027-Q1")
    # Abandoned objectives are never carried; finished ones are without --unfinished-only.
    assert pairs(data) == [("key_result", "kr-site", "kr-site.2027-Q1"),
                           ("key_result", "kr-wau", "kr-wau.2027-Q1"),
                           ("objective", "won", "won.2027-Q1")]
    assert [c[1] for c in pairs(data, "already_carried")] == ["rev-2x", "kr-conv", "kr-intl"]
    site = json.loads(ok(home, "show", "kr-site.2027-Q1", "--json").stdout)
    assert (site["objective"], site["kr_kind"]) == ("rev-2x.2027-Q1", "milestone")
    wau = json.loads(ok(home, "show", "kr-wau.2027-Q1", "--json").stdout)
    assert (wau["kpi"], wau["target"], wau["carried_from"]) == ("wau", 13000.0, "kr-wau")


def test_an_item_carried_on_again_keeps_one_cycle_suffix(home: Path) -> None:
    carry(home, "2026-Q4", "2027-Q1", "--unfinished-only")
    ok(home, "cycle", "add", "2027-Q2")
    data = carry(home, "2027-Q1", "2027-Q2")
    assert pairs(data)[:2] == [("objective", "rev-2x.2027-Q1", "rev-2x.2027-Q2"),
                               ("key_result", "kr-conv.2027-Q1", "kr-conv.2027-Q2")]


def test_carrying_into_a_committed_cycle_is_a_plan_revision_that_needs_a_reason(home: Path
                                                                                ) -> None:
    ok(home, "cycle", "commit", "2027-Q1")
    stored = event_count(home)
    refused = okr(home, "cycle", "carry", "2026-Q4", "2027-Q1")
    assert refused.code == 2 and "needs a reason" in refused.stderr, str(refused)
    assert event_count(home) == stored
    carry(home, "2026-Q4", "2027-Q1", "--reason", "late carry-over")
    project(home)
    review = json.loads(ok(home, "review", "2027-Q1", "--json").stdout)
    added = [r for r in review["revisions"] if r["type"] == "KeyResultAdded"]
    assert {r["key"] for r in added} == {"kr-conv.2027-Q1", "kr-intl.2027-Q1",
                                         "kr-site.2027-Q1", "kr-wau.2027-Q1"}
    assert {r["reason"] for r in added} == {"late carry-over"}


@pytest.mark.parametrize("args", [
    ["2026-Q4", "2026-Q4"], ["2027-Q1", "2026-Q4"], ["2026-Q4", "2031-Q1"],
    ["2019-Q1", "2027-Q1"], ["2026-Q4"], ["2026-Q4", "2027-Q1", "--unfinished"]],
    ids=lambda a: "-".join(a))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(q4: Path, args: list[str]) -> None:
    stored = event_count(q4)
    result = okr(q4, "cycle", "carry", *args)
    assert result.crash is None and result.code == 2, str(result)
    assert result.stdout == "" and result.stderr.count("\n") == 1, str(result)
    assert event_count(q4) == stored


def test_a_closed_target_or_a_key_taken_by_another_item_carries_nothing(home: Path) -> None:
    ok(home, "objective", "add", "rev-2x.2027-Q1", "Someone else's", "--cycle", "2027-Q1")
    stored = event_count(home)
    taken = okr(home, "cycle", "carry", "2026-Q4", "2027-Q1")
    assert taken.code == 2 and "already exists and was not carried from rev-2x" in taken.stderr
    assert event_count(home) == stored
    ok(home, "cycle", "close", "2027-Q1")
    closed = okr(home, "cycle", "carry", "2026-Q4", "2027-Q1")
    assert closed.code == 2 and "closed" in closed.stderr, str(closed)


def test_reviews_trails_and_listings_show_the_lineage(home: Path) -> None:
    carry(home, "2026-Q4", "2027-Q1", "--unfinished-only")
    project(home)
    trail = json.loads(ok(home, "audit", "trail", "rev-2x.2027-Q1", "--json").stdout)
    assert trail[0]["event"] == "ObjectiveAdded"
    assert trail[0]["changes"]["carried_from"] == {"before": None, "after": "rev-2x"}
    assert "carried_from: ∅ → kr-intl" in ok(home, "audit", "trail", "kr-intl.2027-Q1").stdout
    review = json.loads(ok(home, "review", "2027-Q1", "--json").stdout)
    (card,) = review["objectives"]
    assert card["carried_from"] == "rev-2x"
    assert {kr["key"]: kr["carried_from"] for kr in card["key_results"]} == {
        "kr-conv.2027-Q1": "kr-conv", "kr-intl.2027-Q1": "kr-intl"}
    table = ok(home, "review", "2027-Q1", "--format", "table").stdout
    assert "(carried from rev-2x)" in table and "(carried from kr-intl)" in table
    md = ok(home, "review", "2027-Q1", "--format", "md", "--out", "-").stdout
    assert "(carried from kr-conv)" in md
    origin_review = json.loads(ok(home, "review", "2026-Q4", "--json").stdout)
    assert {c["carried_from"] for c in origin_review["objectives"]} == {None}
    (obj,) = json.loads(ok(home, "list", "objectives", "--cycle", "2027-Q1", "--json").stdout
                        )["items"]
    assert obj["carried_from"] == "rev-2x"
    krs = {r["key result"]: r["carried from"] for r in _tsv(ok(home, "list", "krs").stdout)}
    assert (krs["kr-intl.2027-Q1"], krs["kr-intl"]) == ("kr-intl", "")


def _tsv(text: str) -> list[dict[str, str]]:
    header, *lines = text.splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


# ---- the rules, pure ----------------------------------------------------------------------

def test_unfinished_means_below_1_or_never_scored() -> None:
    assert [unfinished(p) for p in (None, 0.0, 0.999, 1.0)] == [True, True, True, False]


def test_carried_keys_append_the_target_cycle_once() -> None:
    assert carried_key("rev-2x", None, "2026-Q4", "2027-Q1") == "rev-2x.2027-Q1"
    assert carried_key("rev-2x.2027-Q1", "rev-2x", "2027-Q1", "2027-Q2") == "rev-2x.2027-Q2"
    # Not carried itself: a key that merely ends like a cycle keeps it.
    assert carried_key("x.2027-Q1", None, "2027-Q1", "2027-Q2") == "x.2027-Q1.2027-Q2"
    with pytest.raises(DomainError, match="not a valid key"):
        carried_key("k" * 60, None, "2026-Q4", "2027-Q1")


def test_which_objectives_are_carried() -> None:
    assert not carries_objective("abandoned", False, [True])
    assert carries_objective("achieved", False, [False])
    assert not carries_objective("achieved", True, [True])
    assert not carries_objective("active", True, [False, False])
    assert carries_objective("missed", True, [False, True])
    assert carries_objective("active", True, [])  # nothing to finish yet


def test_the_target_must_start_and_end_after_the_source() -> None:
    q4, q1, y = (named_window(k) for k in ("2026-Q4", "2027-Q1", "2026"))
    assert q4 is not None and q1 is not None and y is not None
    check_carry("2026-Q4", q4, "2027-Q1", q1)
    for source, sw, target, tw in (("2026-Q4", q4, "2026-Q4", q4), ("2027-Q1", q1, "2026-Q4", q4),
                                   ("2026-Q4", q4, "2026", y)):
        with pytest.raises(DomainError):
            check_carry(source, sw, target, tw)


def test_snapshots_taken_before_carry_forward_load_as_carried_from_nothing(tmp_path: Path
                                                                           ) -> None:
    """Aggregates are snapshotted every SNAPSHOT_EVERY events; one taken by code that kept no
    `carried_from` (class version 1) loads through KeyResult/Objective.upcast_v1_v2."""
    import sqlite3
    from contextlib import closing
    from datetime import UTC, datetime, timedelta

    from okr.ledger.app import SNAPSHOT_EVERY, OkrLedger
    from okr.settings import load_settings

    settings = load_settings({"home": tmp_path / "home"}, environ={})
    app = OkrLedger(settings)
    app.add_cycle("2026-Q4")
    app.add_objective("o", "Grow", cycle="2026-Q4", owner="ana")
    app.add_key_result("k", "Deals", objective="o", target=1000)
    start = datetime(2026, 10, 2, tzinfo=UTC)
    for i in range(SNAPSHOT_EVERY):
        app.check_in("k", i, at=start + timedelta(minutes=i))
    app.close()
    with closing(sqlite3.connect(settings.event_store_path)) as db, db:
        rows = db.execute("SELECT originator_id, originator_version, state FROM "
                          "stored_snapshots").fetchall()
        assert rows, "no snapshot taken"
        for originator, version, state in rows:
            old = json.loads(state)
            kept = old["state"]  # the aggregate's attributes, as the snapshot holds them
            assert kept.pop("carried_from", "absent") is None and kept.pop("class_version") == 2
            db.execute("UPDATE stored_snapshots SET state = ? WHERE originator_id = ? AND "
                       "originator_version = ?", [json.dumps(old).encode(), originator, version])
    app = OkrLedger(settings)
    try:
        kr = app.key_result("k")
        assert (kr.carried_from, kr.latest_check_in()["value"]) == (None, SNAPSHOT_EVERY - 1)
    finally:
        app.close()


# ---- a carry into a quarter already committed and under way (the rollover trial) ----------

BERLIN = {"OKR_ORG_TZ": "Europe/Berlin"}  # typed times are Berlin's too (tests.fuzzing.okr)


def in_berlin(home: Path, *args: str) -> Result:
    return okr(home, *args, env=BERLIN)


@pytest.fixture
def rolled_over(tmp_path: Path) -> tuple[Path, str]:
    """An old cycle that ended three days ago (a key result at 4 of 10) and the new one that
    began then, its plan committed before its first morning; built relative to now, so the
    new cycle is always under way. Returns the home and the new cycle's first day."""
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    first, old_start, new_end = (str(today - timedelta(days=d)) for d in (3, 40, -40))
    home = tmp_path / "home"
    for args in (["cycle", "add", "old", "--start", old_start, "--end", first],
                 ["objective", "add", "o", "Grow", "--cycle", "old", "--owner", "ana"],
                 ["kr", "add", "k", "Deals", "--objective", "o", "--target", "10"],
                 ["checkin", "k", "4", "--at", old_start],
                 ["cycle", "add", "new", "--start", first, "--end", new_end],
                 ["cycle", "commit", "new"]):
        got = in_berlin(home, *args)
        assert got.crash is None and got.code == 0, str(got)
    return home, first


def test_a_carry_into_a_running_committed_cycle_can_say_when_it_took_effect(
        rolled_over: tuple[Path, str]) -> None:
    """Carried on the new quarter's second morning, the unfinished work counts from its first:
    `--effective` as every other plan command takes it, said back and in --json."""
    home, first = rolled_over
    got = in_berlin(home, "cycle", "carry", "old", "new", "--unfinished-only", "--reason",
                    "rollover", "--effective", first, "--json")
    assert got.crash is None and got.code == 0, str(got)
    data = json.loads(got.stdout)
    assert pairs(data) == [("objective", "o", "o.new"), ("key_result", "k", "k.new")]
    start = json.loads(in_berlin(home, "show", "new", "--json").stdout)["start"]
    assert data["effective_at"] == start
    # A check-in for the new quarter's first morning is taken, not refused as before the
    # copy was in force.
    morning = in_berlin(home, "checkin", "k.new", "5", "--at", f"{first}T09:00")
    assert morning.code == 0, str(morning)
    # The review lists the copies as revisions in force from the first day, flagged.
    project(home)
    review = json.loads(in_berlin(home, "review", "new", "--json").stdout)
    added = {r["key"]: r for r in review["revisions"]}
    assert set(added) == {"o.new", "k.new"}
    assert {(r["effective_at"], r["backdated"], r["reason"]) for r in added.values()} == {
        (start, True, "rollover")}
    said = in_berlin(home, "cycle", "carry", "old", "new", "--reason", "the rest", "--effective",
                     first)
    assert said.code == 0 and "nothing to carry" in said.stdout, str(said)
    assert "in force from" not in said.stdout  # nothing new took effect


def test_a_carry_into_a_running_committed_cycle_is_in_force_when_recorded_by_default(
        rolled_over: tuple[Path, str]) -> None:
    home, first = rolled_over
    ok_ = in_berlin(home, "cycle", "carry", "old", "new", "--reason", "rollover")
    assert ok_.code == 0 and "in force from" not in ok_.stdout, str(ok_)
    early = in_berlin(home, "checkin", "k.new", "5", "--at", f"{first}T09:00")
    assert early.code == 2 and "before key result k.new was in force" in early.stderr, str(early)


@pytest.mark.parametrize(("extra", "said"), [
    (["--reason", "r", "--effective", "2020-01-01"],
     "is before cycle new starts (LOCAL_START): items carried into it count from its start"),
    (["--reason", "r", "--effective", "2999-01-01"], "is in the future"),
    (["--reason", "r", "--effective", "yesterday-ish"], "cannot read time 'yesterday-ish'"),
    (["--effective", "FIRST"], "with --effective needs a reason"),
], ids=["before-start", "future", "bad", "no-reason"])
def test_a_carry_effective_out_of_bounds_is_one_line_exit_2_nothing_written(
        rolled_over: tuple[Path, str], extra: list[str], said: str) -> None:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    home, first = rolled_over
    local_start = datetime.combine(date.fromisoformat(first), datetime.min.time(),
                                   ZoneInfo("Europe/Berlin")).isoformat()
    stored = event_count(home)
    got = in_berlin(home, "cycle", "carry", "old", "new",
                    *[a.replace("FIRST", first) for a in extra])
    assert got.crash is None and got.code == 2, str(got)
    assert got.stdout == "" and got.stderr.count("\n") == 1, str(got)
    assert said.replace("LOCAL_START", local_start) in got.stderr, str(got)
    assert event_count(home) == stored
