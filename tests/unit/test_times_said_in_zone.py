"""Times said back to a person in their zone (ARCHITECTURE decision 14): a review's days are
the cycle's own calendar days (the zone `okr list cycles` shows), a refusal names its times
in the person's zone with the offset, to the second, and `--effective` is said back on
success. On real SQLite and DuckDB files, as a person in Europe/Berlin runs `okr`."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fuzzing import Result, fresh_copy, okr
from tests.unit.test_hostile_text import project

BERLIN = {"OKR_ORG_TZ": "Europe/Berlin"}
Q3 = """\
cycles:      [{key: 2026-Q3, timezone: Europe/Berlin, committed: true, closed: true}]
objectives:  [{key: grow, title: Grow the funnel, cycle: 2026-Q3, team: sales}]
key_results: [{key: leads, title: Qualified leads, objective: grow, target: 100}]
checkins:    [{kr: leads, value: 70, at: 2026-08-31, confidence: 0.8}]
"""
MICROSECONDS = re.compile(r"T\d\d:\d\d:\d\d\.\d")


def ok(home: Path, *args: str) -> Result:
    result = okr(home, *args, env=BERLIN)
    assert result.crash is None and result.code == 0, str(result)
    return result


def refused(home: Path, *args: str) -> str:
    """The one line a refused command prints (exit 2, nothing written)."""
    result = okr(home, *args, env=BERLIN)
    assert result.crash is None and result.code == 2 and result.stdout == "", str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, str(result)
    return lines[0]


@pytest.fixture(scope="module")
def berlin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Berlin's 2026-Q3 imported (a check-in of 31 August) and a Berlin 2026-Q4 planned,
    committed, checked in on 2 November and revised in force from 1 November."""
    home = tmp_path_factory.mktemp("berlin") / "home"
    (home.parent / "q3.yaml").write_text(Q3, encoding="utf-8")
    for args in (["import", "plan", str(home.parent / "q3.yaml")],
                 ["cycle", "add", "2026-Q4"],
                 ["objective", "add", "rev", "Double revenue", "--cycle", "2026-Q4"],
                 ["kr", "add", "kr-conv", "Conversion", "--objective", "rev", "--start", "2",
                  "--target", "2.4"],
                 ["cycle", "commit", "2026-Q4"],
                 ["checkin", "kr-conv", "2.2", "--at", "2026-11-02"],
                 ["kr", "revise", "kr-conv", "--target", "2.3", "--reason", "slowdown",
                  "--effective", "2026-11-01"]):
        ok(home, *args)
    project(home)
    return home


def test_a_berlin_quarters_review_says_its_own_days_in_every_format(berlin: Path) -> None:
    """`okr list cycles` says 2026-Q3 runs 2026-07-01 to 2026-09-30 in Europe/Berlin; its
    review said 2026-06-30 – 2026-09-30 (UTC days) and a check-in of 31 August 'for
    2026-08-30'."""
    listed = ok(berlin, "list", "cycles").stdout
    assert "2026-Q3\t2026-07-01\t2026-09-30\tEurope/Berlin" in listed
    table = ok(berlin, "review", "2026-Q3").stdout
    assert "Review of 2026-Q3  2026-07-01 – 2026-09-30 (Europe/Berlin)" in table
    assert "back-dated: leads 70 for 2026-08-31" in table
    md = ok(berlin, "review", "2026-Q3", "--format", "md", "--out", "-").stdout
    assert "2026-07-01 – 2026-09-30 (Europe/Berlin)" in md
    assert "back-dated: leads 70 for 2026-08-31" in md
    page = ok(berlin, "review", "2026-Q3", "--format", "html", "--out", "-").stdout
    assert "2026-07-01 – 2026-09-30 (Europe/Berlin)" in page
    assert "2026-06-30" not in page and "2026-08-30" not in page  # nor in a chart's axis


def test_a_back_dated_check_in_and_revision_review_on_the_days_typed(berlin: Path) -> None:
    """`--at 2026-11-02` showed as 'for 2026-11-01', `--effective 2026-11-01` as 'in force
    from 2026-10-31'."""
    for fmt in ("tsv", "md", "html"):
        out = ok(berlin, "review", "2026-Q4", "--format", fmt,
                 *(["--out", "-"] if fmt != "tsv" else [])).stdout
        assert "2026-10-01 – 2026-12-31 (Europe/Berlin)" in out, fmt
        assert "kr-conv 2.2 for 2026-11-02 (Europe/Berlin)" in out, fmt  # the HTML too
        assert "in force from 2026-11-01" in out, fmt
        assert "2026-10-31" not in out and "2026-09-30" not in out, fmt


def test_the_review_json_keeps_its_utc_instants(berlin: Path) -> None:
    """The JSON is for programs: ISO 8601 instants in UTC, as before."""
    data = json.loads(ok(berlin, "review", "2026-Q3", "--json").stdout)
    assert (data["start"], data["end"]) == ("2026-06-30T22:00:00.000000Z",
                                            "2026-09-30T22:00:00.000000Z")
    assert data["backdated"][0]["effective_at"] == "2026-08-30T22:00:00.000000Z"


def test_a_key_results_chart_labels_its_check_ins_on_the_cycles_days(berlin: Path) -> None:
    """The web's key-result chart titled the check-in of 2 November '2026-11-01: 2.2'."""
    from okr.cli.reviews import zoned_review
    from okr.ledger.app import OkrLedger
    from okr.record.envelope import chained
    from okr.settings import load_settings
    from okr.web.views import kr_chart

    app = OkrLedger(load_settings({"home": berlin}))
    try:
        facts = [e.fact() for e in chained(app)]
    finally:
        app.close()
    now = datetime.now(UTC)
    at = datetime(2026, 11, 1, 23, tzinfo=UTC)
    review, zone = zoned_review(lambda *_: facts, "2026-Q4", now, now, [at])
    assert zone == "Europe/Berlin"
    svg = kr_chart(review, "kr-conv", [{"effective_at": at}], zone)
    assert "<title>2026-11-02: 2.2 " in svg and "2026-11-01: " not in svg


# ---- refusals: the person's zone, its offset, whole seconds -----------------------------

def said_in_berlin(line: str, *local: str) -> None:
    assert "+00:00" not in line and not MICROSECONDS.search(line), line
    for t in local:
        assert t in line, line


@pytest.fixture
def home(berlin: Path, tmp_path: Path) -> Path:
    return fresh_copy(berlin, tmp_path)


def test_an_effective_time_before_the_latest_change_is_refused_in_the_persons_zone(
        home: Path) -> None:
    line = refused(home, "kr", "revise", "kr-conv", "--target", "2.5", "--reason", "again",
                   "--effective", "2026-10-15")
    said_in_berlin(line, "--effective 2026-10-15T00:00:00+02:00 is before",
                   "took effect (2026-11-01T00:00:00+01:00)")


def test_future_times_are_refused_in_the_persons_zone(home: Path) -> None:
    later = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
    line = refused(home, "checkin", "kr-conv", "2.25", "--at", later)
    said_in_berlin(line, f"check-in time {later}T00:00:00+0", "is in the future (now is ")
    assert re.search(r"now is \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00\)", line), line
    ok(home, "kpi", "add", "wau", "Weekly actives", "--green", "10", "--red", "5")
    line = refused(home, "kpi", "record", "wau", "3", "--at", later)
    said_in_berlin(line, f"reading time {later}T00:00:00+0", "is in the future")
    line = refused(home, "objective", "update", "rev", "--title", "x", "--reason", "r",
                   "--effective", later)
    said_in_berlin(line, f"--effective {later}T00:00:00+0", "is in the future")


def test_check_in_and_phase_bounds_are_refused_in_the_persons_zone(home: Path) -> None:
    ok(home, "kr", "add", "kr-late", "Late one", "--objective", "rev", "--reason", "scope",
       "--effective", "2026-11-01")
    line = refused(home, "checkin", "kr-late", "1", "--at", "2026-10-20")
    said_in_berlin(line, "check-in time 2026-10-20T00:00:00+02:00 is before key result "
                   "kr-late was in force (2026-11-01T00:00:00+01:00)")
    line = refused(home, "checkin", "kr-conv", "1", "--at", "2026-09-20")
    said_in_berlin(line, "check-in time 2026-09-20T00:00:00+02:00 is outside the cycle "
                   "2026-Q4 of kr-conv (2026-10-01T00:00:00+02:00 – 2027-01-01T00:00:00+01:00)")
    line = refused(home, "kr", "revise", "kr-conv", "--phase", "2027-03-01=3", "--reason", "r")
    said_in_berlin(line, "phased target at 2027-03-01T00:00:00+01:00 lies outside the cycle")


def test_a_conflicting_duplicate_reading_is_said_in_the_persons_zone(home: Path) -> None:
    ok(home, "kpi", "add", "nps", "Net promoter score", "--green", "40", "--red", "20")
    ok(home, "kpi", "record", "nps", "3", "--at", "2026-10-05", "--id", "a")
    line = refused(home, "kpi", "record", "nps", "3", "--at", "2026-10-06", "--id", "a")
    said_in_berlin(line, "observed at 2026-10-05T00:00:00+02:00",
                   "this one says 3.0 at 2026-10-06T00:00:00+02:00")


# ---- --effective said back on success ---------------------------------------------------

@pytest.mark.parametrize("args", [
    ["objective", "add", "late-obj", "Late", "--cycle", "2026-Q4", "--reason", "r",
     "--effective", "2026-11-01"],
    ["kr", "add", "kr-new", "New", "--objective", "rev", "--reason", "r",
     "--effective", "2026-11-01"],
    ["kpi", "add", "wau", "Weekly actives", "--green", "10", "--red", "5", "--reason", "r",
     "--effective", "2026-11-01"],
], ids=["objective", "kr", "kpi"])
def test_an_effective_time_is_said_back_on_success(home: Path, args: list[str]) -> None:
    out = ok(home, *args).stdout.splitlines()[0]
    assert out.endswith(", in force from 2026-11-01T00:00:00+01:00 (2026-10-31T23:00:00Z)"), out
    data = json.loads(ok(home, *[a if a != args[2] else args[2] + "-2" for a in args],
                         "--json").stdout)
    assert data["effective_at"] == "2026-10-31T23:00:00.000000Z", data


def test_an_imports_refused_lines_say_their_times_in_the_persons_zone(home: Path) -> None:
    """A file's lines are refused with the same words as the commands, times included."""
    later = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
    f = home.parent / "late.csv"
    f.write_text(f"kr,value,at\nkr-conv,2.3,{later}\nkr-conv,2.3,2026-09-20\n", encoding="utf-8")
    result = okr(home, "import", "checkins", str(f), env=BERLIN)
    assert result.code == 2 and result.crash is None, str(result)
    lines = result.stderr.splitlines()
    said_in_berlin(lines[0], f"check-in time {later}T00:00:00+0", "is in the future")
    said_in_berlin(lines[1], "check-in time 2026-09-20T00:00:00+02:00 is outside the cycle")
    plan = home.parent / "late.yaml"
    plan.write_text(f"checkins: [{{kr: kr-conv, value: 2, at: '{later}'}}]\n", encoding="utf-8")
    result = okr(home, "import", "plan", str(plan), env=BERLIN)
    assert result.code == 2 and result.crash is None, str(result)
    said_in_berlin(result.stderr, f"check-in time {later}T00:00:00+0", "is in the future")


# ---- the person's zone and the cycle's are two zones --------------------------------------

NEW_YORK = {**BERLIN, "OKR_TZ": "America/New_York"}


def test_a_person_elsewhere_reads_the_cycles_days_and_is_refused_in_their_own_zone(
        berlin: Path, home: Path) -> None:
    """The tests above run as a person in Berlin on Berlin's cycles, so they could not tell
    the two zones apart (a reviewer's finding): here the person is in New York."""
    table = okr(berlin, "review", "2026-Q3", env=NEW_YORK)
    assert table.code == 0, str(table)
    assert "Review of 2026-Q3  2026-07-01 – 2026-09-30 (Europe/Berlin)" in table.stdout
    assert "back-dated: leads 70 for 2026-08-31" in table.stdout  # Berlin's day, not NY's 30th
    # the day typed in New York is said back as the exact instant (a reviewer's finding: the
    # header said "as of 2026-10-01" for a typed 2026-09-30), in the person's zone with UTC
    # beside it, as every answer says an instant: only the review's days are the cycle's
    typed = okr(berlin, "review", "2026-Q3", "--as-of", "2026-09-30", env=NEW_YORK)
    assert ("as of 2026-09-30T23:59:59-04:00 (2026-10-01T03:59:59Z), as known at "
            in typed.stdout), str(typed)
    result = okr(home, "checkin", "kr-conv", "1", "--at", "2026-09-20", env=NEW_YORK)
    assert result.code == 2, str(result)
    assert ("check-in time 2026-09-20T00:00:00-04:00 is outside the cycle 2026-Q4 of kr-conv "
            "(2026-09-30T18:00:00-04:00 – 2026-12-31T18:00:00-05:00)") in result.stderr, str(result)


@pytest.mark.parametrize("zone, args", [
    ("America/New_York", ["checkin", "kr-conv", "3", "--at", "0001-01-01T01:00Z"]),
    ("Asia/Tokyo", ["kr", "revise", "kr-conv", "--target", "2.5", "--reason", "r",
                    "--effective", "9999-12-31T23:00Z"]),
], ids=["year 1 in New York", "year 9999 in Tokyo"])
def test_a_time_the_persons_zone_cannot_write_is_refused_in_one_line(
        home: Path, zone: str, args: list[str]) -> None:
    """An instant valid in UTC can lie before year 1 or after 9999 in the person's zone:
    saying it there raised OverflowError, a traceback instead of the refusal (a reviewer's
    finding). Such a time is said in UTC."""
    result = okr(home, *args, env={**BERLIN, "OKR_TZ": zone})
    assert result.crash is None and result.code == 2, str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("okr: error: "), str(result)
    assert "+00:00" in lines[0], lines[0]  # the time that cannot be said locally, in UTC


def test_an_import_line_with_such_a_time_is_refused_by_number(home: Path) -> None:
    f = home.parent / "edge.csv"
    f.write_text("kr,value,at\nkr-conv,3,0001-01-01T01:00Z\n", encoding="utf-8")
    result = okr(home, "import", "checkins", str(f), env=NEW_YORK)
    assert result.crash is None and result.code == 2, str(result)
    assert ":2: " in result.stderr, str(result)


def test_the_python_apis_refusal_says_every_time_in_utc(tmp_path: Path) -> None:
    """The Python API knows no person's zone: a refusal says its times in UTC (DomainError's
    str), the caller's own `at` too — not a New York offset beside UTC bounds (the rollover
    trial: a check-in at New York midnight after a Berlin quarter)."""
    from zoneinfo import ZoneInfo

    from okr.domain.errors import DomainError
    from okr.ledger.app import OkrLedger
    from okr.settings import load_settings

    ledger = OkrLedger(load_settings({"home": tmp_path / "home", "org_timezone":
                                      "Europe/Berlin"}, environ={}))
    try:
        ledger.add_cycle("2026-Q3")
        ledger.add_objective("o", "Grow", cycle="2026-Q3", owner="ana")
        ledger.add_key_result("k", "Deals", objective="o", target=4)
        with pytest.raises(DomainError) as refusal:
            ledger.check_in("k", 3, at=datetime(2026, 9, 30, 20, 0,
                                                tzinfo=ZoneInfo("America/New_York")))
    finally:
        ledger.close()
    assert str(refusal.value) == (
        "check-in time 2026-10-01T00:00:00+00:00 is outside the cycle 2026-Q3 of k "
        "(2026-06-30T22:00:00+00:00 – 2026-09-30T22:00:00+00:00)")
