"""`okr import plan`: last quarter's plan and results from YAML or CSV, all or nothing; a
quarter imported today reviews as if entered on time as of inside it, and known-at views
show when it became known."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fuzzing import event_count
from tests.unit.test_cli_writes import ok, run

PLAN_YAML = """\
cycles:
  - key: 2026-Q3
    timezone: Europe/Berlin
    committed: true
    closed: true
kpis:
  - {key: nps, name: Net promoter score, green: 40, red: 20, tags: [guardrail]}
objectives:
  - key: grow
    title: Grow the funnel
    cycle: 2026-Q3
    owner: ana
    team: sales
  - {key: keep, title: Keep customers, cycle: 2026-Q3, type: aspirational}
key_results:
  - {key: leads, title: Qualified leads, objective: grow, target: 100}
  - {key: churn, title: Monthly churn, objective: keep, kind: decrease, start: 5, target: 3,
     unit: "%"}
  - {key: late, title: Partner deals, objective: grow, target: 4, effective: 2026-08-15}
initiatives:
  - {key: webinars, title: Monthly webinars, kr: leads, status: done}
checkins:
  - {kr: leads, value: 20, at: 2026-07-14, note: first month}
  - {kr: leads, value: 70, at: 2026-08-31}
  - {kr: leads, value: 95, at: 2026-09-29, confidence: 0.9}
  - {kr: churn, value: 4.1, at: 2026-08-01}
  - {kr: late, value: 2, at: 2026-09-10}
readings:
  - {kpi: nps, value: 35, at: 2026-07-20, id: nps-07}
  - {kpi: nps, value: 41, at: 2026-09-20, id: nps-09}
"""


def test_a_yaml_plan_imports_all_at_once_and_shows_in_every_view(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = tmp_path / "q3.yaml"
    plan.write_text(PLAN_YAML, encoding="utf-8")
    out = json.loads(ok(home, "import", "plan", str(plan), "--json"))
    assert out["written"] and out["invalid"] == []
    assert out["counts"] == {"cycles": 1, "kpis": 1, "objectives": 2, "key_results": 3,
                             "initiatives": 1, "checkins": 5, "readings": 2}
    cycle = json.loads(ok(home, "show", "2026-Q3", "--json"))
    assert (cycle["status"], cycle["start"]) == ("closed", "2026-06-30T22:00:00.000000Z")
    leads = json.loads(ok(home, "show", "leads", "--json"))
    assert leads["value"] == 95 and {c["source"] for c in leads["check_ins"]} == {
        "import:q3.yaml"}
    assert json.loads(ok(home, "show", "webinars", "--json"))["status"] == "done"


def test_a_plan_imported_today_reviews_as_of_inside_its_quarter(tmp_path: Path) -> None:
    from okr.domain.history import scorecard_at
    from okr.ledger.app import OkrLedger
    from okr.record.envelope import chained
    from okr.settings import load_settings

    home = tmp_path / "home"
    plan = tmp_path / "q3.yaml"
    plan.write_text(PLAN_YAML, encoding="utf-8")
    ok(home, "import", "plan", str(plan))
    app = OkrLedger(load_settings({"home": home}))
    facts = [e.fact() for e in chained(app)]
    imported_at = max(f.recorded_at for f in facts)
    aug = datetime(2026, 8, 20, tzinfo=UTC)
    cards = {c["key"]: c for c in scorecard_at(facts, aug, imported_at)}
    krs = {k["key"]: k for c in cards.values() for k in c["key_results"]}
    assert set(cards) == {"grow", "keep"} and krs["leads"]["value"] == 20
    assert krs["late"]["value"] is None  # in force from 15 August; checked in on 10 September
    assert "late" not in {k["key"] for k in scorecard_at(facts, datetime(
        2026, 8, 14, tzinfo=UTC), imported_at)[0]["key_results"]}
    # As known before the import, nothing of it existed.
    assert scorecard_at(facts, aug, datetime(2026, 9, 1, tzinfo=UTC)) == []


def test_a_kpi_of_an_imported_quarter_guards_its_review_as_of_inside_it(
        tmp_path: Path) -> None:
    """The file's KPI is in force from the start of the quarter it comes with (or from its
    first reading there, if earlier), so the quarter's review as of a day inside it shows the
    guardrail; recorded now, it was in force only from today and the guardrails were empty
    (a new user's trial of README's q3.yaml)."""
    from okr.domain.review import ReviewPoint, review
    from okr.ledger.app import OkrLedger
    from okr.record.envelope import chained
    from okr.settings import load_settings

    home = tmp_path / "home"
    plan = tmp_path / "q3.yaml"
    plan.write_text(PLAN_YAML, encoding="utf-8")
    ok(home, "import", "plan", str(plan))
    facts = [e.fact() for e in chained(OkrLedger(load_settings({"home": home})))]
    imported_at = max(f.recorded_at for f in facts)
    q3 = review(facts, "2026-Q3", ReviewPoint(datetime(2026, 9, 30, 12, tzinfo=UTC),
                                              imported_at))
    guard = {k["key"]: k for k in q3["guardrails"]}
    assert set(guard) == {"nps"}, q3["guardrails"]
    assert guard["nps"]["health_at_end"] == "green"  # 41 on 20 September; green from 40
    added = next(f for f in facts if f.type == "KpiAdded")
    assert added.effective_at == datetime(2026, 6, 30, 22, tzinfo=UTC)  # 1 July in Berlin


def test_a_kpi_is_back_dated_only_to_the_quarter_it_guarded_not_to_any_in_the_file(
        tmp_path: Path) -> None:
    """A file that also brings an old archive quarter (2024-Q1) must not put a KPI read only
    in 2026-Q3 in force from 2024 (a reviewer's finding): the quarters that count are the one
    its first reading falls in and those whose key results it measures."""
    from okr.ledger.app import OkrLedger
    from okr.record.envelope import chained
    from okr.settings import load_settings

    def since(text: str) -> datetime | None:
        """When the file's KPI is in force from; None: when recorded."""
        home = tmp_path / str(len(list(tmp_path.iterdir())))
        (home.parent / f"{home.name}.yaml").write_text(text, encoding="utf-8")
        ok(home, "import", "plan", str(home.parent / f"{home.name}.yaml"))
        facts = [e.fact() for e in chained(OkrLedger(load_settings({"home": home})))]
        added = next(f for f in facts if f.type == "KpiAdded")
        return None if added.effective_at == added.recorded_at else added.effective_at

    archive = PLAN_YAML.replace("cycles:\n",
                                "cycles:\n  - {key: 2024-Q1, timezone: Europe/Berlin}\n")
    assert since(archive) == datetime(2026, 6, 30, 22, tzinfo=UTC)  # Q3, where nps was read
    unread = archive[:archive.index("readings:")]  # the file without its readings
    linked = (unread.replace("objectives:\n",
                             "objectives:\n  - {key: old, title: Old, cycle: 2024-Q1}\n")
              .replace("key_results:\n", "key_results:\n  - {key: old-nps, title: NPS, "
                       "objective: old, kpi: nps}\n"))
    assert since(linked) == datetime(2023, 12, 31, 23, tzinfo=UTC)  # it measured 2024-Q1's
    assert since(unread) is None  # neither read nor used there: in force when recorded


def test_a_kpi_line_may_say_when_it_took_effect(tmp_path: Path) -> None:
    from okr.ledger.app import OkrLedger
    from okr.record.envelope import chained
    from okr.settings import load_settings

    home = tmp_path / "home"
    plan = tmp_path / "q3.yaml"
    plan.write_text(PLAN_YAML.replace("tags: [guardrail]}", "tags: [guardrail], "
                                      "effective: 2026-08-01}"), encoding="utf-8")
    ok(home, "import", "plan", str(plan))
    facts = [e.fact() for e in chained(OkrLedger(load_settings({"home": home})))]
    added = next(f for f in facts if f.type == "KpiAdded")
    assert added.effective_at == datetime(2026, 7, 31, 22, tzinfo=UTC)  # 1 August in Berlin
    plan.write_text(PLAN_YAML.replace("tags: [guardrail]}", "tags: [guardrail], "
                                      "effective: 2999-01-01}"), encoding="utf-8")
    proc = run(tmp_path / "other", "import", "plan", str(plan))
    assert proc.returncode == 2 and "future" in proc.stderr, proc.stderr


@pytest.mark.parametrize("text, line, message", [
    (PLAN_YAML.replace("target: 100}", "target: lots}"), 16, "target 'lots' is not a number"),
    (PLAN_YAML.replace("{kr: leads, value: 70", "{kr: nope, value: 70"), 24,
     "key result 'nope' not found"),
    (PLAN_YAML.replace("at: 2026-08-31", "at: 2026-10-31"), 24, "outside the cycle"),
    (PLAN_YAML.replace("  - {key: keep,", "  - {key: grow,"), 14, "already exists"),
    (PLAN_YAML + "surprises:\n  - {a: 1}\n", 0, "unknown section 'surprises'"),
    ("cycles: &a\n  - {key: 2026-Q3}\nobjectives: *a\n", 0, "aliases"),
    # nesting: PyYAML composes recursively (a traceback past ~1,000 levels) and parses it in
    # quadratic time (45 s for 50,000 levels, a 100 KB file); refused as it is read
    ("cycles:\n  - " + "[" * 50_000 + "]" * 50_000 + "\n", 2, "nested more than 16 deep"),
])
def test_one_bad_line_writes_nothing_and_is_named(tmp_path: Path, text: str, line: int,
                                                  message: str) -> None:
    home = tmp_path / "home"
    ok(home, "cycle", "add", "2026-Q4")
    before = event_count(home)
    plan = tmp_path / "q3.yaml"
    plan.write_text(text, encoding="utf-8")
    proc = run(home, "import", "plan", str(plan))
    assert proc.returncode == 2, proc.stdout
    said = proc.stdout + proc.stderr
    assert message in said
    if line:
        assert f"q3.yaml:{line}:" in said
    assert event_count(home) == before


def test_a_csv_plan_names_each_rows_section(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = tmp_path / "q3.csv"
    plan.write_text(
        "section,key,title,cycle,objective,kr,target,value,at,committed\n"
        "cycle,2026-Q3,,,,,,,,true\n"
        "objective,grow,Grow,2026-Q3,,,,,,\n"
        "key_result,leads,Leads,,grow,,100,,,\n"
        "checkin,,,,,leads,,40,2026-08-01,\n", encoding="utf-8")
    out = json.loads(ok(home, "import", "plan", str(plan), "--json"))
    assert out["counts"] == {"cycles": 1, "objectives": 1, "key_results": 1, "checkins": 1}
    bad = tmp_path / "bad.csv"
    bad.write_text(plan.read_text().replace("checkin,,,,,leads,,40", "checkin,,,,,leads,,x"),
                   encoding="utf-8")
    proc = run(tmp_path / "other", "import", "plan", str(bad))
    assert proc.returncode == 2 and "bad.csv:5: value 'x' is not a number" in proc.stderr


def test_past_check_ins_and_readings_imported_name_their_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = tmp_path / "q3.yaml"
    plan.write_text(PLAN_YAML.replace("    closed: true\n", ""), encoding="utf-8")
    ok(home, "import", "plan", str(plan))
    sheet = tmp_path / "september.csv"
    sheet.write_text("kr,value,at\nleads,99,2026-09-30\n", encoding="utf-8")
    ok(home, "import", "checkins", str(sheet))
    readings = tmp_path / "nps.csv"
    readings.write_text("kpi,value,at\nnps,44,2026-09-25\n", encoding="utf-8")
    ok(home, "import", "readings", str(readings))
    leads = json.loads(ok(home, "show", "leads", "--json"))
    assert leads["check_ins"][-1]["source"] == "import:september.csv"
    nps = json.loads(ok(home, "show", "nps", "--json"))
    assert nps["readings"][-1]["source"] == "import:nps.csv"


@pytest.mark.parametrize("name, text", [
    ("g.csv", "section,key\n"),
    ("g.csv", "section,key,title\n\n"),
    ("g.yaml", "{}\n"),
    ("g.yaml", "cycles: []\nobjectives: []\n"),
])
def test_a_plan_with_nothing_to_import_is_refused(tmp_path: Path, name: str,
                                                  text: str) -> None:
    home = tmp_path / "home"
    ok(home, "cycle", "add", "2026-Q4")
    before = event_count(home)
    plan = tmp_path / name
    plan.write_text(text, encoding="utf-8")
    proc = run(home, "import", "plan", str(plan))
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("okr: error: ") and "nothing to import" in proc.stderr
    assert event_count(home) == before
