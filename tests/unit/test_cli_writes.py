"""The `okr` entry point, driven as a user drives it, against a temporary data directory."""

import json
import os
import pwd
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fuzzing import event_count, readme_commands

ROOT = Path(__file__).resolve().parents[2]
OKR = str(Path(sys.executable).parent / "okr")


def run(home: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run okr with a private data directory and no inline publishing (no broker needed)."""
    full_env = {**os.environ, "OKR_HOME": str(home),
                "OKR_INLINE_PUBLISH": "off", "OKR_TZ": "Europe/Berlin", **(env or {})}
    return subprocess.run([OKR, *args], text=True, capture_output=True, env=full_env,
                          timeout=60)


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = run(home, *args, env=env)
    assert proc.returncode == 0, f"okr {shlex.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def readme_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the README scenario, built once."""
    home = tmp_path_factory.mktemp("readme")
    for args in readme_commands():
        ok(home, *args)
    return home


@pytest.fixture
def scenario(readme_home: Path, tmp_path: Path) -> Path:
    """A private copy of the README scenario's data directory."""
    home = tmp_path / "home"
    shutil.copytree(readme_home, home)
    return home


def test_readme_quick_start_runs_and_shows_what_it_promises(scenario: Path) -> None:
    end = datetime.fromisoformat(json.loads(ok(scenario, "show", "2026-Q4", "--json"))["end"])
    before = datetime.now(UTC)
    kr = json.loads(ok(scenario, "show", "kr-conv", "--json"))
    after = datetime.now(UTC)
    assert kr["key"] == "kr-conv"
    assert kr["target"] == 2.3
    assert kr["value"] == 2.2
    assert kr["progress"] == pytest.approx((2.2 - 2.0) / (2.3 - 2.0))
    # a track while README's quarter runs, 'final' from its end (make test-dates runs past it)
    tracks = {"on-track", "at-risk", "off-track"}
    said = ({"final"} if before >= end else set()) | (tracks if after < end else set())
    assert kr["status"] in (said or tracks | {"final"}), (kr["status"], before, after, end)
    obj = json.loads(ok(scenario, "show", "rev-2x", "--json"))
    assert obj["key"] == "rev-2x"
    assert [k["key"] for k in obj["key_results"]] == ["kr-conv", "kr-intl"]
    assert obj["score"] == pytest.approx(((2.2 - 2.0) / 0.3 + 0.0) / 2)


def test_revision_after_commit_is_marked_with_actor_and_reason(scenario: Path) -> None:
    with sqlite3.connect(scenario / "events.sqlite") as conn:
        rows = conn.execute("SELECT topic, state FROM stored_events "
                            "WHERE topic LIKE '%KeyResultRevised'").fetchall()
    assert len(rows) == 1
    state = json.loads(rows[0][1])
    assert state["plan_revision"] is True
    assert state["reason"] == "market slowdown"
    assert state["actor"] == pwd.getpwuid(os.geteuid()).pw_name  # who ran it, not a setting


@pytest.mark.parametrize("args, message", [
    (["checkin", "NOPE", "5"], "key result 'NOPE' not found"),
    (["checkin", "kr-conv", "abc"], "value 'abc' is not a number"),
    (["checkin", "kr-conv", "nan"], "finite"),
    (["checkin", "kr-conv", "5", "--confidence", "7"], "between 0 and 1"),
    (["checkin", "kr-conv", "5", "--at", "2999-01-01"], "in the future"),
    (["checkin", "kr-conv", "5", "--at", "2026-07-01"], "outside the cycle"),
    (["checkin", "kr-conv", "5", "--at", "last tuesday"], "cannot read time"),
    (["kr", "revise", "kr-conv", "--target", "2.35"], "needs a reason"),
    (["kr", "add", "kr-x", "X", "--objective", "rev-2x", "--start", "0", "--target", "1"],
     "needs a reason"),
    (["kr", "add", "kr-x", "X", "--objective", "rev-2x", "--start", "5", "--target", "1",
      "--reason", "r"], "target above start"),
    (["kr", "add", "kr-conv", "X", "--objective", "rev-2x", "--reason", "r"],
     "already exists"),
    (["objective", "add", "o2", "T", "--cycle", "2031-Q1"], "cycle '2031-Q1' not found"),
    (["objective", "add", "bad key", "T", "--cycle", "2026-Q4"], "not valid"),
    (["cycle", "add", "2026-Q9"], "quarters are Q1–Q4"),
    (["cycle", "reopen", "2026-Q4"], "not closed"),
    (["kpi", "add", "k2", "K", "--green", "1", "--red", "5"], "green (1) at or above red"),
    (["kpi", "record", "wau", "1e999"], "finite"),
    (["initiative", "status", "live-chat", "someday"], "is not one of"),
    (["objective", "abandon", "rev-2x"], "needs a reason"),
    (["checkin", "kr-conv"], "Missing argument"),
    (["checkin", "kr-conv", "5", "--bogus"], "No such option"),
    (["--actor", " ", "checkin", "kr-conv", "2.25"], "--actor is not accepted"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(scenario: Path, args: list[str],
                                                         message: str) -> None:
    before = event_count(scenario)
    proc = run(scenario, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("okr: error: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert event_count(scenario) == before


def test_typed_dates_are_read_in_the_local_zone_and_said_back(scenario: Path) -> None:
    out = ok(scenario, "checkin", "kr-intl", "1", "--at", "2026-11-03")
    # Europe/Berlin is UTC+1 in November: local midnight is 23:00 UTC the day before.
    assert "2026-11-03T00:00:00+01:00 (2026-11-02T23:00:00Z)" in out
    kr = json.loads(ok(scenario, "show", "kr-intl", "--json"))
    assert kr["check_ins"][-1]["effective_at"] == "2026-11-02T23:00:00.000000Z"


def test_every_write_prints_json_on_request(scenario: Path) -> None:
    data = json.loads(ok(scenario, "checkin", "kr-intl", "1", "--at", "2026-11-03", "--json"))
    assert data["key"] == "kr-intl" and data["value"] == 1.0
    data = json.loads(ok(scenario, "--json", "kpi", "record", "wau", "14100"))
    assert data["recorded"] is True


def test_kpi_reading_id_records_once(scenario: Path) -> None:
    # The retry names the same observation time: left to "now", two calls more than the
    # domain's 5 s apart (a loaded machine) would be a conflicting duplicate, not a retry.
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    args = ("kpi", "record", "wau", "14000", "--id", "r-1", "--at", at, "--json")
    first = json.loads(ok(scenario, *args))
    before = event_count(scenario)
    second = json.loads(ok(scenario, *args))
    assert first["recorded"] is True and second["recorded"] is False
    assert event_count(scenario) == before


def test_show_asks_for_kind_when_a_key_is_shared(scenario: Path) -> None:
    ok(scenario, "kpi", "add", "kr-conv", "Same key as a KR", "--green", "5", "--red", "1")
    proc = run(scenario, "show", "kr-conv")
    assert proc.returncode == 2 and "--kind" in proc.stderr
    assert json.loads(ok(scenario, "show", "kr-conv", "--kind", "kpi", "--json"))["kind"] == "kpi"


def test_help_loads_no_heavy_library(tmp_path: Path) -> None:
    """What keeps `okr --help` snappy; how fast it is belongs in bench/, not here."""
    code = ("import sys; sys.argv=['okr','--help']\n"
            "from okr.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('kafka', 'duckdb', 'eventsourcing', 'pyarrow', 'fastapi', "
            "'uvicorn', 'jinja2', 'starlette') "
            "if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-P", "-c", code], text=True, capture_output=True,
                          timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_cycle_lifecycle_and_reopen_needs_a_reason(scenario: Path) -> None:
    ok(scenario, "cycle", "close", "2026-Q4")
    proc = run(scenario, "checkin", "kr-conv", "2.25")
    assert proc.returncode == 2 and "closed" in proc.stderr
    proc = run(scenario, "cycle", "reopen", "2026-Q4")
    assert proc.returncode == 2 and "needs a reason" in proc.stderr
    out = ok(scenario, "cycle", "reopen", "2026-Q4", "--reason", "late numbers from finance")
    assert re.search(r"reopened \(committed\)", out)


def test_kpi_list_shows_latest_value_trend_and_health(scenario: Path) -> None:
    ok(scenario, "kpi", "record", "wau", "11900", "--at", "2026-11-20")
    rows = json.loads(ok(scenario, "kpi", "list", "--json"))
    wau = next(r for r in rows if r["key"] == "wau")
    assert (wau["value"], wau["trend"], wau["health"]) == (11900.0, "worse", "red")
    assert wau["readings"] == 2
    ok(scenario, "kpi", "retire", "wau", "--reason", "replaced by DAU")
    assert [r["key"] for r in json.loads(ok(scenario, "kpi", "list", "--json"))] == []
    assert [r["key"] for r in json.loads(ok(scenario, "kpi", "list", "--all", "--json"))] == ["wau"]


def test_a_manual_check_in_on_a_kpi_linked_key_result_is_refused(scenario: Path) -> None:
    ok(scenario, "kr", "link", "kr-intl", "wau")
    before = event_count(scenario)
    proc = run(scenario, "checkin", "kr-intl", "1", "--at", "2026-11-03")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "okr: error: kr-intl is measured by KPI wau; record a reading (okr kpi record wau …)"]
    assert event_count(scenario) == before
    ok(scenario, "kr", "unlink", "kr-intl")
    ok(scenario, "checkin", "kr-intl", "1", "--at", "2026-11-03")
