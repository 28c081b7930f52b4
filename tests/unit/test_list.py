"""`okr list cycles|objectives|krs|initiatives|kpis` (issue 21, "Browse"): every kind listed
from the projection, filtered by cycle, team, owner and status, at any (as_of, known_at), in
every table format; KPIs exactly as `okr kpi list` shows them. Bad input is one line, exit 2,
nothing written. The projection is built from the event store (as the consumer would), on
real SQLite and DuckDB files."""

import csv
import io
import json
import os
import pwd
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fuzzing import LIVE_CYCLE, Result, event_count, fresh_copy, okr
from tests.support.hostile_text import guarded, text_cells
from tests.unit.test_hostile_text import project


def ok(home: Path, *args: str) -> Result:
    result = okr(home, *args)
    assert result.crash is None and result.code == 0, str(result)
    return result


@pytest.fixture(scope="module")
def scene(readme_home: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, datetime]:
    """README's scenario, then (recorded after `before`) a planning cycle 2027-Q1 with team
    ops's objective, a key result and an initiative in progress, an abandoned objective in
    2026-Q4 and a red KPI owned by ben."""
    home = fresh_copy(readme_home, tmp_path_factory.mktemp("list"))
    before = datetime.now(UTC)
    for args in (
            ["cycle", "add", "2027-Q1"],
            ["objective", "add", "ops", "Calm operations", "--cycle", "2027-Q1", "--owner",
             "ben", "--team", "ops"],
            ["kr", "add", "kr-pages", "Pages per week", "--objective", "ops", "--kind",
             "decrease", "--start", "9", "--target", "2"],
            ["initiative", "add", "runbooks", "Write runbooks", "--kr", "kr-pages", "--owner",
             "ben"],
            ["initiative", "status", "runbooks", "in-progress"],
            ["objective", "add", "hire", "Hire two engineers", "--cycle", "2026-Q4",
             "--owner", "ben", "--team", "eng", "--reason", "new budget"],
            ["objective", "abandon", "hire", "--reason", "budget frozen"],
            ["kpi", "add", "nps", "Net promoter score", "--green", "40", "--red", "20",
             "--owner", "ben", "--cadence", "monthly"],
            ["kpi", "record", "nps", "12"]):
        ok(home, *args)
    project(home)
    return home, before


def rows(home: Path, *args: str) -> list[dict[str, str]]:
    """A listing piped (TSV): its rows by column name."""
    header, *lines = ok(home, "list", *args).stdout.splitlines()
    names = header.split("\t")
    return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]


def keys(home: Path, *args: str) -> list[str]:
    return [r[next(iter(r))] for r in rows(home, *args)]


def test_cycles_are_listed_with_their_days_status_and_objectives(scene: tuple[Path, datetime]
                                                                 ) -> None:
    home, _ = scene
    by_key = {r["cycle"]: r for r in rows(home, "cycles")}
    assert set(by_key) == {"2026-Q4", "2027-Q1", LIVE_CYCLE}
    assert by_key["2026-Q4"] == {"cycle": "2026-Q4", "first day": "2026-10-01",
                                 "last day": "2026-12-31", "zone": "UTC",
                                 "status": "committed", "objectives": "2"}
    assert by_key["2027-Q1"]["status"] == "planning"
    assert keys(home, "cycles", "--status", "planning") == ["2027-Q1"]


def test_objectives_filter_by_cycle_team_owner_and_status(scene: tuple[Path, datetime]) -> None:
    home, _ = scene
    assert keys(home, "objectives", "--cycle", "2026-Q4") == ["hire", "rev-2x"]
    assert keys(home, "objectives", "--team", "ops") == ["ops"]
    assert keys(home, "objectives", "--owner", "ben") == ["hire", "ops"]
    assert keys(home, "objectives", "--status", "abandoned") == ["hire"]
    assert keys(home, "objectives", "--owner", "ben", "--status", "active") == ["ops"]
    (rev,) = rows(home, "objectives", "--team", "sales")
    assert (rev["owner"], rev["type"], rev["key results"], rev["status"]) == (
        "ana", "committed", "2", "active")


def test_key_results_show_the_scorecards_value_progress_and_status(
        scene: tuple[Path, datetime]) -> None:
    home, _ = scene
    at = ("--as-of", "2026-11-15")  # one instant: expected progress grows with time
    cards = json.loads(ok(home, "scorecard", *at, "--json").stdout)["objectives"]
    scored = {kr["key"]: kr for c in cards for kr in c["key_results"]}
    listed = json.loads(ok(home, "list", "krs", *at, "--json").stdout)["items"]
    assert {r["key"] for r in listed} == set(scored)
    for r in listed:
        assert {k: r[k] for k in scored[r["key"]]} == scored[r["key"]]
    assert keys(home, "krs", "--cycle", "2027-Q1") == ["kr-pages"]
    assert keys(home, "krs", "--team", "sales") == ["kr-conv", "kr-intl"]
    off = [r["key"] for r in listed if r["status"] == "off-track"]
    assert off and keys(home, "krs", *at, "--status", "off-track") == off


def test_initiatives_filter_through_their_key_result_and_its_objective(
        scene: tuple[Path, datetime]) -> None:
    home, _ = scene
    assert keys(home, "initiatives") == ["live-chat", "runbooks"]
    (runbooks,) = rows(home, "initiatives", "--status", "in-progress")
    assert runbooks == {"initiative": "runbooks", "title": "Write runbooks",
                        "key result": "kr-pages", "cycle": "2027-Q1", "team": "ops",
                        "owner": "ben", "status": "in-progress"}
    assert keys(home, "initiatives", "--cycle", "2026-Q4") == ["live-chat"]
    assert keys(home, "initiatives", "--team", "ops") == ["runbooks"]
    # README adds live-chat without --owner: its owner is the account that ran it
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert keys(home, "initiatives", "--owner", me) == ["live-chat"]


def test_list_kpis_shows_what_kpi_list_shows(scene: tuple[Path, datetime]) -> None:
    home, _ = scene
    ledger = json.loads(ok(home, "kpi", "list", "--json").stdout)
    listed = json.loads(ok(home, "list", "kpis", "--json").stdout)["items"]
    assert [{k: v for k, v in r.items() if k != "version"} for r in ledger] == listed
    assert ok(home, "list", "kpis").stdout == ok(home, "kpi", "list").stdout
    assert keys(home, "kpis", "--status", "red") == ["nps"]
    # README adds wau without --owner: its owner is the account that ran it
    assert keys(home, "kpis", "--owner", pwd.getpwuid(os.geteuid()).pw_name) == ["wau"]
    assert keys(home, "kpis", "--status", "stale") == ["wau"]  # weekly, read on 5 Oct
    assert ok(home, "kpi", "list", "--status", "red").stdout == ok(
        home, "list", "kpis", "--status", "red").stdout


def test_as_of_and_known_at_list_what_was_in_force_and_known_then(
        scene: tuple[Path, datetime]) -> None:
    home, before = scene
    then = before.isoformat().replace("+00:00", "Z")
    assert keys(home, "objectives", "--known-at", then) == ["rev-2x", "live-obj"]
    assert keys(home, "cycles", "--known-at", then, "--status", "planning") == []
    assert keys(home, "kpis", "--known-at", then) == ["wau"]
    assert keys(home, "initiatives", "--known-at", then) == ["live-chat"]
    # 2026-Q4 was added after it began: in force from 1 October, so not on 30 September.
    assert "rev-2x" not in keys(home, "objectives", "--as-of", "2026-09-30")
    (conv,) = [r for r in rows(home, "krs", "--as-of", "2026-11-03") if r["key result"] ==
               "kr-conv"]
    # The target was revised to 2.3 now, in force from now: on 3 November it was still 2.4.
    assert (conv["value"], conv["target"]) == ("2.2%", "2.4%")
    # A KPI is in force from when it was defined, or from --effective: README's wau, added
    # with --effective 2026-10-01, is there on 4 October and not on 30 September.
    assert keys(home, "kpis", "--as-of", "2026-10-04") == ["wau"]
    assert keys(home, "kpis", "--as-of", "2026-09-30") == []


@pytest.mark.parametrize("kind", ["cycles", "objectives", "krs", "initiatives", "kpis"])
def test_every_listing_prints_every_format(scene: tuple[Path, datetime], kind: str) -> None:
    home, _ = scene

    # One instant (expected progress grows with time); KPIs now: README's was defined now.
    at = [] if kind == "kpis" else ["--as-of", "2026-11-15"]

    def out(*args: str) -> str:
        return ok(home, "list", kind, *at, *args).stdout

    tsv = out("--format", "tsv")
    assert out() == tsv  # piped: TSV, one row a line
    assert "┃" in out("--format", "table")
    csv_text = out("--format", "csv")
    parsed = list(csv.reader(io.StringIO(csv_text)))
    if kind in ("cycles", "initiatives"):  # text only: the CSV says what the table says
        assert parsed == [["" if c == "-" else guarded(c) for c in line.split("\t")]
                          for line in tsv.splitlines()]  # ('-': no value, an empty CSV cell)
    else:  # plain data: its text columns as the table's, its numbers numbers
        got, want = text_cells(csv_text, tsv)
        assert got == want
        for row in csv.DictReader(io.StringIO(csv_text)):
            for column in ("score", "progress", "expected", "target", "value", "latest"):
                if row.get(column):
                    float(row[column])
    data = json.loads(out("--format", "json"))
    assert data == json.loads(out("--json")) | {"as_of": data["as_of"],
                                                "known_at": data["known_at"]}
    if at:
        assert data["as_of"] == "2026-11-15T22:59:59.999999Z"  # the end of that day, Berlin
    assert len(data["items"]) == len(parsed) - 1


@pytest.mark.parametrize("args", [
    ["objectives", "--status", "done"], ["krs", "--status", "green"],
    ["initiatives", "--status", "active"], ["cycles", "--status", "open"],
    ["kpis", "--status", "on-track"], ["objectives", "--cycle", "2031-Q2"],
    ["cycles", "--team", "ops"], ["kpis", "--cycle", "2026-Q4"], ["krs", "--format", "xml"],
    ["objectives", "--as-of", "someday"], ["teams"]], ids=lambda a: "-".join(a))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(scene: tuple[Path, datetime],
                                                         args: list[str]) -> None:
    home, _ = scene
    stored = event_count(home)
    result = okr(home, "list", *args)
    assert result.crash is None and result.code == 2, str(result)
    assert result.stdout == "" and result.stderr.count("\n") == 1, str(result)
    assert event_count(home) == stored


def test_a_listing_where_there_is_no_ledger_says_so_and_creates_nothing(tmp_path: Path
                                                                        ) -> None:
    home = tmp_path / "nothing"
    result = okr(home, "list", "objectives")
    assert result.code == 2 and "no ledger" in result.stderr, str(result)
    assert not home.exists()


@pytest.mark.parametrize("args", [["scorecard", "--cycle", "NOPE"],
                                  ["list", "objectives", "--cycle", "NOPE"],
                                  ["review", "NOPE"]], ids=" ".join)
def test_an_unknown_cycle_is_refused_alike_by_every_read(readme_home: Path, tmp_path: Path,
                                                         args: list[str]) -> None:
    home = fresh_copy(readme_home, tmp_path)
    result = okr(home, *args)
    assert result.code == 2, str(result)
    assert result.stderr.strip().splitlines()[-1].startswith(
        "okr: error: cycle 'NOPE' not found"), result.stderr
    assert result.stdout == ""  # not an empty scorecard


def test_an_unknown_team_or_owner_is_an_empty_scorecard(readme_home: Path,
                                                        tmp_path: Path) -> None:
    """Teams and owners are free text on objectives, not recorded items: none matching is
    an empty answer, as in `okr list objectives --team`."""
    home = fresh_copy(readme_home, tmp_path)
    for flag in ("--team", "--owner"):
        result = okr(home, "--json", "scorecard", flag, "nobody")
        assert result.code == 0, str(result)
        assert json.loads(result.stdout)["objectives"] == []


def test_a_kpi_without_readings_has_no_trend_in_either_list(tmp_path: Path) -> None:
    """A trial: `okr list kpis` said '↘ worse' for a KPI with no reading (NULL < 2 is NULL in
    SQL, so the CASE fell through to 'worse'); `okr kpi list` said nothing, as it should."""
    home = tmp_path / "home"
    ok(home, "kpi", "add", "race", "Race", "--direction", "up", "--green", "10", "--red", "5")
    ok(home, "kpi", "add", "one", "One", "--direction", "up", "--green", "10", "--red", "5")
    ok(home, "kpi", "record", "one", "7")
    project(home)
    listed = json.loads(ok(home, "list", "kpis", "--json").stdout)["items"]
    assert {r["key"]: r["trend"] for r in listed} == {"race": None, "one": None}
    assert ok(home, "list", "kpis").stdout == ok(home, "kpi", "list").stdout
