"""What counts in no as-of view is said, wherever it arrives (domain: Kpi.counts_at,
notices.early_key_result). `okr kpi record` said a reading observed before its KPI was in
force; the CSV and plan imports recorded such readings without a word, and `okr kr add
--effective` before its objective was in force was accepted silently (the key result then
shows in no view until its objective does). Nothing is refused: it is a warning.

Dates are explicit and in the past of any run (2026-10/11), so no quarter boundary matters."""

import json
from pathlib import Path

from tests.fuzzing import okr


def _kpi(home: Path) -> None:
    add = okr(home, "kpi", "add", "mrr", "Monthly revenue", "--green", "900000", "--red",
              "700000", "--effective", "2026-10-15", "--reason", "tracked from mid-October")
    assert add.code == 0, add


def test_a_csv_import_says_how_many_readings_and_which_lines_are_before_their_kpi(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    _kpi(home)
    sheet = tmp_path / "readings.csv"
    sheet.write_text("kpi,value,at,id\nmrr,700000,2026-10-10,a\nmrr,710000,2026-10-20,b\n"
                     "mrr,705000,2026-10-12,c\n")
    out = okr(home, "import", "readings", str(sheet), "--json")
    assert out.code == 0, out
    got = json.loads(out.stdout)
    assert got["recorded"] == 3 and got["written"] is True  # recorded, not refused
    assert got["before_in_force"] == 2
    assert [w["line"] for w in got["before_in_force_lines"]] == [2, 4]
    assert got["before_in_force_lines"][0]["warning"].startswith(
        "observed before KPI mrr was in force (since 2026-10-15T00:00:00+02:00")
    said = okr(home, "import", "readings", str(sheet))  # again: all three already recorded
    assert said.code == 0 and "before" not in said.stderr, said
    again = tmp_path / "more.csv"
    again.write_text("kpi,value,at\nmrr,1,2026-10-01\n")
    human = okr(home, "import", "readings", str(again))
    assert human.code == 0, human
    lines = human.stderr.strip().splitlines()
    assert lines[0].startswith(f"{again}:2: warning: observed before KPI mrr was in force"), \
        human.stderr
    assert lines[-1].startswith("okr: warning: 1 reading was observed before its KPI was in "
                                "force"), human.stderr


def test_a_plan_import_says_readings_and_key_results_that_count_only_later(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    _kpi(home)
    plan = tmp_path / "q4.yaml"
    plan.write_text(
        "cycles: [{key: 2026-Q4}]\n"
        "objectives: [{key: late, title: Late goal, cycle: 2026-Q4, effective: 2026-11-01}]\n"
        "key_results: [{key: early-kr, title: Early result, objective: late,"
        " effective: 2026-10-20}]\n"
        "readings: [{kpi: mrr, value: 1, at: 2026-10-02}, {kpi: mrr, value: 2, at: 2026-10-22}]\n")
    out = okr(home, "import", "plan", str(plan), "--json")
    assert out.code == 0, out
    got = json.loads(out.stdout)
    assert got["written"] is True
    assert got["before_in_force"] == 2
    lines = {w["line"]: w["warning"] for w in got["before_in_force_lines"]}
    assert sorted(lines) == [3, 4], lines
    assert lines[3].startswith("key result early-kr counts from 2026-11-01T00:00:00+01:00"), \
        lines
    assert "when its objective late is in force" in lines[3]
    assert lines[4].startswith("observed before KPI mrr was in force"), lines


def test_a_key_result_effective_before_its_objective_is_recorded_and_says_when_it_counts(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args in (["cycle", "add", "2026-Q4"],
                 ["objective", "add", "late", "Late goal", "--cycle", "2026-Q4", "--owner",
                  "ana", "--effective", "2026-11-01", "--reason", "agreed in November"]):
        assert okr(home, *args).code == 0
    kr = okr(home, "kr", "add", "early-kr", "Early result", "--objective", "late",
             "--effective", "2026-10-20", "--reason", "measured since October", "--json")
    assert kr.code == 0, kr
    got = json.loads(kr.stdout)
    assert got["before_in_force"] is True
    assert got["counts_from"] == "2026-10-31T23:00:00.000000Z"
    assert kr.stderr.strip() == (
        "okr: warning: key result early-kr counts from 2026-11-01T00:00:00+01:00 "
        "(2026-10-31T23:00:00Z), when its objective late is in force: no as-of view shows "
        "it before then"), kr.stderr
    fine = okr(home, "kr", "add", "on-time", "On time", "--objective", "late",
               "--effective", "2026-11-02", "--reason", "from November", "--json")
    assert fine.code == 0 and fine.stderr == "", fine
    assert json.loads(fine.stdout)["before_in_force"] is False


def test_an_objective_effective_before_its_cycle_is_recorded_and_says_when_it_counts(
        tmp_path: Path) -> None:
    """An objective given --effective before its cycle is in force (a quarter is in force from
    its start) shows in no as-of view until the cycle is: said as for a key result, in the
    CLI and a plan import."""
    home = tmp_path / "home"
    assert okr(home, "cycle", "add", "2026-Q4").code == 0
    obj = okr(home, "objective", "add", "early", "Early goal", "--cycle", "2026-Q4",
              "--owner", "ana", "--effective", "2026-09-01", "--reason", "planned in Q3",
              "--json")
    assert obj.code == 0, obj
    got = json.loads(obj.stdout)
    assert got["before_in_force"] is True
    assert got["counts_from"] == "2026-10-01T00:00:00.000000Z"  # the quarter's start (UTC)
    assert obj.stderr.strip() == (
        "okr: warning: objective early counts from 2026-10-01T02:00:00+02:00 "
        "(2026-10-01T00:00:00Z), when its cycle 2026-Q4 is in force: no as-of view shows "
        "it before then"), obj.stderr
    fine = okr(home, "objective", "add", "on-time", "On time", "--cycle", "2026-Q4",
               "--owner", "ana", "--effective", "2026-10-02", "--reason", "in Q4", "--json")
    assert fine.code == 0 and fine.stderr == "", fine
    assert json.loads(fine.stdout)["before_in_force"] is False
    plan = tmp_path / "more.yaml"
    plan.write_text("objectives: [{key: early-too, title: Early too, cycle: 2026-Q4,"
                    " effective: 2026-09-15}]\n")
    out = okr(home, "import", "plan", str(plan), "--json")
    assert out.code == 0, out
    (line,) = json.loads(out.stdout)["before_in_force_lines"]
    assert line["line"] == 1 and line["warning"].startswith(
        "objective early-too counts from 2026-10-01T02:00:00+02:00"), line
