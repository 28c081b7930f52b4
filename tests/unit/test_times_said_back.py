"""What okr says about times (ARCHITECTURE decision 14, README "Times"), as the time-zone
trial found it wrong (notes trial-tz F6–F9): a plan file's cycle dates mean local midnight in
the cycle's zone whoever imports it, `okr show CYCLE` says its bounds as every other answer
does, phased targets are said back, and a past view's refusal names the instants it read.
The organisation is in Berlin; its people type in Tokyo, Kolkata, New York and São Paulo.
On real SQLite and DuckDB files; every date explicit (2026), none relative to today."""

import json
from pathlib import Path

import pytest

from tests.fuzzing import Result, fresh_copy, okr
from tests.unit.test_hostile_text import project

ORG = {"OKR_ORG_TZ": "Europe/Berlin"}
TOKYO = {**ORG, "OKR_TZ": "Asia/Tokyo"}
KOLKATA = {**ORG, "OKR_TZ": "Asia/Kolkata"}
NEW_YORK = {**ORG, "OKR_TZ": "America/New_York"}
SAO_PAULO = {**ORG, "OKR_TZ": "America/Sao_Paulo"}
# A day before anything here was recorded (the clock is past 2026-12-04), after none of it.
BEFORE_ALL = "2026-01-02"
BEFORE_ALL_SAID_NY = "2026-01-02T23:59:59-05:00 (2026-01-03T04:59:59Z)"


def ok(home: Path, env: dict[str, str], *args: str) -> Result:
    result = okr(home, *args, env=env)
    assert result.crash is None and result.code == 0, str(result)
    return result


def refused(home: Path, env: dict[str, str], *args: str) -> str:
    """The one line a refused command prints (exit 2, nothing on stdout)."""
    result = okr(home, *args, env=env)
    assert result.crash is None and result.code == 2 and result.stdout == "", str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, str(result)
    return lines[0]


@pytest.fixture(scope="module")
def berlin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Berlin's 2026-Q4: an objective, a key result with a phased target, an initiative and
    a KPI, committed, a check-in of 20 November; projected."""
    home = tmp_path_factory.mktemp("said-back") / "home"
    for args in (["cycle", "add", "2026-Q4"],
                 ["objective", "add", "o4", "Grow", "--cycle", "2026-Q4", "--team", "sales"],
                 ["kr", "add", "k4", "Leads", "--objective", "o4", "--target", "100",
                  "--phase", "2026-11-15=50"],
                 ["initiative", "add", "i4", "Webinars", "--kr", "k4"],
                 ["kpi", "add", "nps", "Net promoter score", "--green", "40", "--red", "20",
                  "--tag", "guardrail", "--tag", "customers"],
                 ["cycle", "commit", "2026-Q4"],
                 ["checkin", "k4", "40", "--at", "2026-11-20"]):
        ok(home, ORG, *args)
    project(home)
    return home


@pytest.fixture
def home(berlin: Path, tmp_path: Path) -> Path:
    return fresh_copy(berlin, tmp_path)


def shown(home: Path, env: dict[str, str], key: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(ok(home, env, "show", key, "--json").stdout)
    return data


# ---- F7: a plan file's cycle dates are the cycle's days, whoever imports it -------------

PLAN = """\
cycles:
  - {key: sprint-org, start: 2026-10-01, end: 2026-10-15}
  - {key: sprint-berlin, start: 2026-10-01, end: 2026-10-15, timezone: Europe/Berlin}
  - {key: sprint-ny, start: 2026-10-01, end: 2026-10-15, timezone: America/New_York}
  - {key: sprint-offset, start: "2026-10-01T00:00:00+05:30", end: 2026-10-15}
"""


def test_a_plan_files_cycle_dates_mean_the_cycles_midnight_whoever_imports_it(
        home: Path) -> None:
    """Imported in Tokyo, 2026-10-01 began 2026-09-30T15:00Z (Tokyo's midnight) on a cycle
    labelled Europe/Berlin; `okr cycle add` reads the same dates as Berlin's midnight."""
    ok(home, TOKYO, "cycle", "add", "sprint-cli", "--start", "2026-10-01", "--end", "2026-10-15")
    typed = shown(home, TOKYO, "sprint-cli")
    assert (typed["start"], typed["end"]) == ("2026-09-30T22:00:00.000000Z",
                                              "2026-10-14T22:00:00.000000Z")
    plan = home.parent / "sprints.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    ok(home, TOKYO, "import", "plan", str(plan))
    for key in ("sprint-org", "sprint-berlin"):
        got = shown(home, TOKYO, key)
        assert (got["start"], got["end"]) == (typed["start"], typed["end"]), (key, got)
        assert got["timezone"] == "Europe/Berlin", got
    ny = shown(home, TOKYO, "sprint-ny")
    assert (ny["start"], ny["end"], ny["timezone"]) == (
        "2026-10-01T04:00:00.000000Z", "2026-10-15T04:00:00.000000Z", "America/New_York")
    # a date-time with its offset is the instant typed, wherever it is imported
    assert shown(home, TOKYO, "sprint-offset")["start"] == "2026-09-30T18:30:00.000000Z"


def test_a_csv_plans_cycle_dates_mean_the_organisations_midnight(home: Path) -> None:
    """Imported in São Paulo, 1 November began at 04:00 in Berlin (03:00Z)."""
    plan = home.parent / "sprints.csv"
    plan.write_text("section,key,start,end\ncycles,csv-sprint,2026-11-01,2026-11-15\n",
                    encoding="utf-8")
    ok(home, SAO_PAULO, "import", "plan", str(plan))
    got = shown(home, SAO_PAULO, "csv-sprint")
    assert (got["start"], got["end"]) == ("2026-10-31T23:00:00.000000Z",
                                          "2026-11-14T23:00:00.000000Z"), got


def test_a_plan_imported_through_the_api_reads_its_cycle_dates_as_the_cli_does(
        tmp_path: Path) -> None:
    """POST /api/v1/imports/plan of a server in Tokyo read the dates in Tokyo."""
    from fastapi.testclient import TestClient

    from okr.ledger.app import OkrLedger
    from okr.settings import load_settings
    from okr.web.app import create_app
    from okr.web.tokens import new_token

    environ = {"OKR_HOME": str(tmp_path / "home"), "OKR_TZ": "Asia/Tokyo",
               "OKR_ORG_TZ": "Europe/Berlin", "OKR_INLINE_PUBLISH": "off"}
    settings = load_settings(environ=environ)
    ledger = OkrLedger(settings)
    ledger.add_user("ana", "admin")
    token = new_token("ana")
    ledger.issue_token("ana", token.token_id, token.token_hash)
    web = create_app(settings)
    try:
        r = TestClient(web).post("/api/v1/imports/plan", params={"name": "p.yaml"},
                                 content=PLAN.encode(),
                                 headers={"Authorization": f"Bearer {token.secret}"})
        assert r.status_code == 201, r.text
    finally:
        web.state.site.close()
    for key in ("sprint-org", "sprint-berlin"):
        cycle = ledger.cycle(key)
        assert cycle.start.isoformat() == "2026-09-30T22:00:00+00:00", (key, cycle.start)
    ledger.close()


# ---- F6: okr show says a cycle's bounds as every other answer ---------------------------

def test_show_cycle_says_its_days_in_its_zone_and_its_bounds_local_with_utc(
        berlin: Path) -> None:
    """A Kolkata reader saw `start 2026-09-30 22:00:00+00:00` (Python's str, UTC) and
    `objectives ['o4']`; the JSON lacked the cycle's zone and commit."""
    for fmt in ("table", "tsv"):
        out = ok(berlin, KOLKATA, "show", "2026-Q4", "--format", fmt).stdout
        assert "2026-10-01 – 2026-12-31 (Europe/Berlin)" in out, (fmt, out)
        assert "2026-10-01T03:30:00+05:30 (2026-09-30T22:00:00Z)" in out, (fmt, out)
        assert "2027-01-01T04:30:00+05:30 (2026-12-31T23:00:00Z)" in out, (fmt, out)
        assert "22:00:00+00:00" not in out and "['" not in out, (fmt, out)
        assert "o4" in out and "committed" in out, (fmt, out)
    # CSV is plain data (as every CSV export): the days and zone in fields, instants in UTC
    out = ok(berlin, KOLKATA, "show", "2026-Q4", "--format", "csv").stdout
    for line in ("first_day,2026-10-01", "last_day,2026-12-31", "timezone,Europe/Berlin",
                 "start,2026-09-30T22:00:00.000000Z", "end,2026-12-31T23:00:00.000000Z",
                 "objectives,o4", "status,committed"):
        assert line in out.splitlines() or f"{line}\r" in out.splitlines(), (line, out)
    assert "22:00:00+00:00" not in out and "['" not in out, out
    data = shown(berlin, KOLKATA, "2026-Q4")
    assert data["timezone"] == "Europe/Berlin", data
    assert isinstance(data["committed_at"], str) and data["committed_at"].endswith("Z"), data
    assert data["start"] == "2026-09-30T22:00:00.000000Z", data


@pytest.mark.parametrize("key", ["o4", "k4", "i4", "nps"])
def test_show_of_any_kind_says_no_python_reprs(berlin: Path, key: str) -> None:
    for fmt in ("table", "tsv", "csv"):
        out = ok(berlin, KOLKATA, "show", key, "--format", fmt).stdout
        assert "['" not in out and "{'" not in out and "+00:00" not in out, (key, fmt, out)
        assert " 00:00:00" not in out and "datetime" not in out, (key, fmt, out)


# ---- F8: phased targets said back, shown, and readable in the trail ---------------------

def test_phased_targets_are_said_back_shown_and_readable_in_the_trail(home: Path) -> None:
    """`--phase 2026-11-15=50` typed in Tokyo is 2026-11-14T15:00Z: never said back, not in
    `okr show`, raw UTC JSON in the trail's table."""
    added = ok(home, TOKYO, "kr", "add", "kph", "Phased", "--objective", "o4", "--target",
               "100", "--phase", "2026-11-15=50", "--phase", "2026-11-20T12:00=60",
               "--reason", "phase test").stdout
    assert "50 by 2026-11-15T00:00:00+09:00 (2026-11-14T15:00:00Z)" in added, added
    assert "60 by 2026-11-20T12:00:00+09:00 (2026-11-20T03:00:00Z)" in added, added
    data = json.loads(ok(home, TOKYO, "kr", "add", "kph2", "Phased", "--objective", "o4",
                         "--phase", "2026-11-15=0.5", "--reason", "r", "--json").stdout)
    assert data["phases"] == [{"at": "2026-11-14T15:00:00.000000Z", "value": 0.5}], data
    revised = ok(home, TOKYO, "kr", "revise", "kph", "--phase", "2026-12-01=80",
                 "--reason", "more").stdout
    assert "80 by 2026-12-01T00:00:00+09:00 (2026-11-30T15:00:00Z)" in revised, revised
    card = ok(home, TOKYO, "show", "kph").stdout
    assert "80 by 2026-12-01T00:00:00+09:00 (2026-11-30T15:00:00Z)" in card, card
    project(home)
    trail = ok(home, TOKYO, "audit", "trail", "kph", "--format", "tsv").stdout
    assert "50 by 2026-11-15T00:00:00+09:00 (2026-11-14T15:00:00Z)" in trail, trail
    assert "80 by 2026-12-01T00:00:00+09:00 (2026-11-30T15:00:00Z)" in trail, trail
    assert "2026-11-14T15:00:00.000000Z" not in trail and '"at"' not in trail, trail
    rows = json.loads(ok(home, TOKYO, "audit", "trail", "kph", "--json").stdout)
    assert any(r["changes"].get("phases", {}).get("after") ==
               [{"at": "2026-11-14T15:00:00.000000Z", "value": 50.0},
                {"at": "2026-11-20T03:00:00.000000Z", "value": 60.0}] for r in rows), rows


# ---- F9: a past view's refusal names the instants it read -------------------------------

@pytest.mark.parametrize("args", [
    ["review", "2026-Q4", "--known-at", BEFORE_ALL],
    ["scorecard", "--cycle", "2026-Q4", "--known-at", BEFORE_ALL],
    ["list", "krs", "--cycle", "2026-Q4", "--known-at", BEFORE_ALL],
    ["list", "initiatives", "--cycle", "2026-Q4", "--known-at", BEFORE_ALL],
], ids=["review", "scorecard", "list krs", "list initiatives"])
def test_a_past_views_refusal_names_the_instants_it_read(berlin: Path,
                                                         args: list[str]) -> None:
    """`okr review 2026-Q4 --known-at 2026-12-03` said "cycle '2026-Q4' not found"."""
    line = refused(berlin, NEW_YORK, *args)
    assert line.startswith("okr: error: cycle '2026-Q4' not found as of "), line
    assert f", as known at {BEFORE_ALL_SAID_NY}" in line, line


def test_a_refusal_as_of_before_the_cycle_names_that_instant(berlin: Path) -> None:
    line = refused(berlin, TOKYO, "list", "krs", "--cycle", "2026-Q4", "--as-of", "2026-09-30")
    assert ("cycle '2026-Q4' not found as of 2026-09-30T23:59:59+09:00 "
            "(2026-09-30T14:59:59Z), as known at ") in line, line


def test_the_apis_review_refusal_names_the_instants_it_read(berlin: Path) -> None:
    from fastapi.testclient import TestClient

    from okr.ledger.app import OkrLedger
    from okr.settings import load_settings
    from okr.web.app import create_app
    from okr.web.tokens import new_token

    settings = load_settings(environ={"OKR_HOME": str(berlin), "OKR_TZ": "America/New_York",
                                      "OKR_INLINE_PUBLISH": "off"})
    ledger = OkrLedger(settings)
    try:
        if not ledger.exists("user", "ana"):
            ledger.add_user("ana", "admin")
        token = new_token("ana")
        ledger.issue_token("ana", token.token_id, token.token_hash)
    finally:
        ledger.close()
    web = create_app(settings)
    try:
        client = TestClient(web)
        auth = {"Authorization": f"Bearer {token.secret}"}
        r = client.get("/api/v1/reviews/2026-Q4", params={"known_at": BEFORE_ALL},
                       headers=auth)
        assert r.status_code == 404, r.text
        assert r.json()["detail"].startswith("cycle '2026-Q4' not found as of "), r.text
        assert f", as known at {BEFORE_ALL_SAID_NY}" in r.json()["detail"], r.text
        compared = client.get("/api/v1/reviews/2026-Q4",
                              params={"compare_known_at": BEFORE_ALL}, headers=auth)
        assert compared.status_code == 200, compared.text
        assert compared.json()["compared_cycle_known"] is False, compared.text
        assert compared.json()["restatements"], compared.text
    finally:
        web.state.site.close()


def test_comparing_with_a_moment_before_the_cycle_was_known_restates_everything(
        berlin: Path) -> None:
    """`okr review --compare-known-at` before the cycle was recorded refused the whole
    review ("cycle not found"): what was known then is nothing, so all of it is restated."""
    out = ok(berlin, NEW_YORK, "review", "2026-Q4", "--compare-known-at", BEFORE_ALL,
             "--format", "tsv").stdout
    assert f"2026-Q4 was not yet known at {BEFORE_ALL_SAID_NY}" in out, out
    assert "k4 value not yet known → 40" in out, out
    data = json.loads(ok(berlin, NEW_YORK, "review", "2026-Q4", "--compare-known-at",
                         BEFORE_ALL, "--json").stdout)
    assert data["compared_known_at"] == "2026-01-03T04:59:59.999999Z", data
    assert data["compared_cycle_known"] is False
    assert {"kind": "key_result", "key": "k4", "field": "value", "before": None,
            "after": 40.0} in \
        data["restatements"], data["restatements"]
    # a moment the cycle was known at: compared as before, and said to be known
    known = json.loads(ok(berlin, NEW_YORK, "review", "2026-Q4", "--compare-known-at",
                          "now", "--json").stdout)
    assert known["compared_cycle_known"] is True and known["restatements"] == [], known
