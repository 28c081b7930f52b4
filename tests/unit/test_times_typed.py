"""Times a person types, read unambiguously (ARCHITECTURE decision 14; the time-zone trial's
F1–F3): with no zone set the system's IANA zone is used, so a summer date is read with the
summer offset; a wall time that does not exist (spring forward) or happens twice (fall back)
is refused in one line asking for an offset; a date is written one way (2026-09-30), so that
a date alone always means the start — or for a view the end — of that day. On real SQLite
files, through `okr` as a person runs it, and `parse_when` itself."""

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okr.cli import times
from okr.cli.errors import UserError
from okr.cli.times import local_zone, parse_until, parse_when
from tests.fuzzing import Result, event_count, fresh_copy, okr
from tests.unit.test_hostile_text import project

ZONEINFO = Path("/usr/share/zoneinfo")
BERLIN = {"OKR_ORG_TZ": "Europe/Berlin", "OKR_TZ": "Europe/Berlin"}
SYSTEM = {"OKR_ORG_TZ": "Europe/Berlin", "OKR_TZ": ""}  # no zone of okr's own: the system's
US = timedelta(microseconds=1)

pytestmark = pytest.mark.skipif(not (ZONEINFO / "Europe/Berlin").is_file(),
                                reason="the system's zoneinfo files are not installed")


def ok(home: Path, *args: str, env: dict[str, str] = BERLIN) -> Result:
    result = okr(home, *args, env=env)
    assert result.crash is None and result.code == 0, str(result)
    return result


def refused(home: Path, *args: str, env: dict[str, str] = BERLIN) -> str:
    """The one line a refused command prints (exit 2, nothing printed, nothing written)."""
    before = event_count(home)
    result = okr(home, *args, env=env)
    assert result.crash is None and result.code == 2 and result.stdout == "", str(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, str(result)
    assert event_count(home) == before, str(result)
    return lines[0]


@pytest.fixture(scope="module")
def quarters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Berlin's four quarters of 2026, committed, a key result k1..k4 in each."""
    home = tmp_path_factory.mktemp("quarters") / "home"
    for q in "1234":
        for args in (["cycle", "add", f"2026-Q{q}"],
                     ["objective", "add", f"o{q}", f"Obj Q{q}", "--cycle", f"2026-Q{q}"],
                     ["kr", "add", f"k{q}", f"KR Q{q}", "--objective", f"o{q}",
                      "--start", "0", "--target", "100"],
                     ["cycle", "commit", f"2026-Q{q}"]):
            ok(home, *args)
    project(home)  # the views read the projection
    return home


@pytest.fixture
def home(quarters: Path, tmp_path: Path) -> Path:
    return fresh_copy(quarters, tmp_path)


# ---- F1: no OKR_TZ, no TZ: the system's zone, with the offset of the instant in question ----

UseZone = Callable[..., None]


@pytest.fixture
def system_zone(monkeypatch: pytest.MonkeyPatch) -> UseZone:
    """Point okr's /etc/localtime (and /etc/timezone) elsewhere: fault injection, the
    machine is not touched."""
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.delenv("OKR_TZ", raising=False)

    def use(path: Path, timezone_file: Path | None = None) -> None:
        monkeypatch.setattr(times, "LOCALTIME", str(path), raising=False)
        monkeypatch.setattr(times, "TIMEZONE_FILE", str(timezone_file or "/nonexistent"),
                            raising=False)
    return use


def test_with_no_zone_set_a_summer_time_is_read_in_the_systems_summer_offset(
        home: Path, system_zone: UseZone) -> None:
    """The trial's F1: the system zone Europe/Berlin was taken as today's fixed +01:00, so
    30 June 23:30 (Q2 in Berlin, 21:30Z) landed in 2026-Q3 as 22:30Z."""
    system_zone(ZONEINFO / "Europe/Berlin")
    line = refused(home, "checkin", "k3", "12", "--at", "2026-06-30T23:30", env=SYSTEM)
    assert "check-in time 2026-06-30T23:30:00+02:00 is outside the cycle" in line, line
    assert "(2026-07-01T00:00:00+02:00 – 2026-10-01T00:00:00+02:00)" in line, line
    out = ok(home, "checkin", "k2", "12", "--at", "2026-06-30T23:30", env=SYSTEM).stdout
    assert "effective 2026-06-30T23:30:00+02:00 (2026-06-30T21:30:00Z)" in out, out
    out = ok(home, "checkin", "k4", "40", "--at", "2026-12-01T10:00", env=SYSTEM).stdout
    assert "effective 2026-12-01T10:00:00+01:00 (2026-12-01T09:00:00Z)" in out, out


def test_with_no_zone_set_new_yorks_summer_is_eastern_daylight_time(
        home: Path, system_zone: UseZone) -> None:
    system_zone(ZONEINFO / "America/New_York")
    out = ok(home, "checkin", "k3", "12", "--at", "2026-08-01T12:00", env=SYSTEM).stdout
    assert "effective 2026-08-01T12:00:00-04:00 (2026-08-01T16:00:00Z)" in out, out
    assert parse_until("2026-09-30") == datetime(2026, 10, 1, 4, tzinfo=UTC) - US


def test_the_system_zone_is_named_by_its_link_into_zoneinfo(
        tmp_path: Path, system_zone: UseZone) -> None:
    link = tmp_path / "localtime"
    link.symlink_to(ZONEINFO / "Asia/Kolkata")
    system_zone(link)
    assert str(local_zone()) == "Asia/Kolkata"


def test_a_copied_zone_file_is_read_as_it_is_and_named_by_etc_timezone(
        tmp_path: Path, system_zone: UseZone) -> None:
    copy = tmp_path / "localtime"
    shutil.copyfile(ZONEINFO / "Europe/Berlin", copy)
    system_zone(copy)
    zone = local_zone()
    assert datetime(2026, 7, 1, tzinfo=zone).utcoffset() == timedelta(hours=2)
    assert datetime(2026, 12, 1, tzinfo=zone).utcoffset() == timedelta(hours=1)
    named = tmp_path / "timezone"
    named.write_text("Europe/Berlin\n", encoding="utf-8")
    system_zone(copy, named)
    assert str(local_zone()) == "Europe/Berlin"
    named.write_text("Asia/Tokyo\n", encoding="utf-8")  # a stale name: the file wins
    system_zone(copy, named)
    assert datetime(2026, 7, 1, tzinfo=local_zone()).utcoffset() == timedelta(hours=2)
    assert str(local_zone()) != "Asia/Tokyo"


def test_tz_may_name_a_zone_file_as_the_c_library_takes_it(
        monkeypatch: pytest.MonkeyPatch, system_zone: UseZone) -> None:
    """`TZ=:/etc/localtime` (containers, systemd units) was refused as an unknown zone by
    every command that says a time (the trial's F10)."""
    monkeypatch.setenv("TZ", f":{ZONEINFO / 'Europe/Berlin'}")
    assert str(local_zone()) == "Europe/Berlin"
    monkeypatch.setenv("TZ", str(ZONEINFO / "Asia/Kolkata"))
    assert str(local_zone()) == "Asia/Kolkata"


def test_without_a_system_zone_file_times_are_utc(
        tmp_path: Path, system_zone: UseZone) -> None:
    system_zone(tmp_path / "missing")
    assert parse_when("2026-07-01T12:00") == datetime(2026, 7, 1, 12, tzinfo=UTC)


# ---- F2: a wall time that does not exist, or happens twice, is refused ---------------------

@pytest.mark.parametrize("zone, text, says", [
    ("Europe/Berlin", "2026-03-29T02:30",
     "2026-03-29T02:30 does not exist in Europe/Berlin (clocks jump from 02:00 to 03:00); give "
     "an offset, e.g. 2026-03-29T03:30+02:00"),
    ("America/New_York", "2026-03-08T02:30:15",
     "2026-03-08T02:30:15 does not exist in America/New_York (clocks jump from 02:00 to 03:00); "
     "give an offset, e.g. 2026-03-08T03:30:15-04:00"),
])
def test_a_time_in_the_spring_forward_gap_is_refused(zone: str, text: str, says: str) -> None:
    for read in (parse_when, parse_until):
        with pytest.raises(UserError) as exc:
            read(text, zone)
        assert str(exc.value) == says


@pytest.mark.parametrize("zone, text, first, second", [
    ("Europe/Berlin", "2026-10-25T02:30", "2026-10-25T02:30+02:00 (2026-10-25T00:30Z)",
     "2026-10-25T02:30+01:00 (2026-10-25T01:30Z)"),
    ("America/New_York", "2026-11-01T01:30", "2026-11-01T01:30-04:00 (2026-11-01T05:30Z)",
     "2026-11-01T01:30-05:00 (2026-11-01T06:30Z)"),
])
def test_a_time_in_the_fall_back_hour_is_refused_naming_both(
        zone: str, text: str, first: str, second: str) -> None:
    with pytest.raises(UserError) as exc:
        parse_when(text, zone)
    said = str(exc.value)
    assert said.startswith(f"{text} happens twice in {zone}"), said
    assert f"give an offset: {first} or {second}" in said, said


def test_an_offset_or_z_makes_such_a_time_exact() -> None:
    assert parse_when("2026-10-25T02:30+01:00", "Europe/Berlin") == \
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert parse_when("2026-10-25T02:30+02:00", "Europe/Berlin") == \
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert parse_when("2026-03-29T02:30Z", "Europe/Berlin") == \
        datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    # the hours either side are read as ever
    assert parse_when("2026-03-29T01:59", "Europe/Berlin") == \
        datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert parse_when("2026-03-29T03:00", "Europe/Berlin") == \
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert parse_when("2026-10-25T03:00", "Europe/Berlin") == \
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC)


def test_a_day_whose_midnight_does_not_exist_starts_when_its_clock_does() -> None:
    """Havana moves its clocks at midnight (00:00 → 01:00): 8 March 2026 starts at 01:00."""
    start = parse_when("2026-03-08", "America/Havana")
    assert start == datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00-05:00 = 01:00-04:00
    assert parse_until("2026-03-07", "America/Havana") == start - US


@pytest.mark.parametrize("args", [
    ["checkin", "k1", "5", "--at", "2026-03-29T02:30"],
    ["checkin", "k4", "40", "--at", "2026-10-25T02:30"],
    ["kr", "revise", "k1", "--target", "90", "--effective", "2026-03-29T02:30",
     "--reason", "x"],
    ["kr", "revise", "k4", "--phase", "2026-10-25T02:30=50", "--reason", "x"],
    ["audit", "trail", "k1", "--until", "2026-03-29T02:30"],
    ["cycle", "add", "l2", "--start", "2026-10-25T02:30", "--end", "2026-12-15"],
], ids=["checkin gap", "checkin twice", "effective", "phase", "until", "cycle start"])
def test_every_option_refuses_such_a_time_in_one_line(home: Path, args: list[str]) -> None:
    line = refused(home, *args)
    assert ("does not exist in Europe/Berlin" in line
            or "happens twice in Europe/Berlin" in line), line
    assert "give an offset" in line, line


def test_a_view_refuses_such_a_time_in_one_line(home: Path) -> None:
    for option in ("--as-of", "--known-at"):
        line = refused(home, "scorecard", "--cycle", "2026-Q1", option, "2026-03-29T02:30")
        assert "2026-03-29T02:30 does not exist in Europe/Berlin" in line, line


def test_a_cycles_bounds_are_read_in_the_organisations_zone_and_refused_there(
        home: Path) -> None:
    line = refused(home, "cycle", "add", "l2", "--start", "2026-10-25T02:30", "--end",
                   "2026-12-15", env={**BERLIN, "OKR_TZ": "Asia/Tokyo"})
    assert "2026-10-25T02:30 happens twice in Europe/Berlin" in line, line


def test_an_import_refuses_such_a_line_by_its_number(home: Path) -> None:
    csv = home.parent / "gap.csv"
    csv.write_text("kr,value,at\nk4,3,2026-10-20T10:00\nk1,3,2026-03-29T02:30\n"
                   "k4,4,2026-10-25T02:30\n", encoding="utf-8")
    before = event_count(home)
    result = okr(home, "import", "checkins", str(csv), env=BERLIN)
    assert result.crash is None and result.code == 2, str(result)
    assert ":3: " in result.stderr and "does not exist in Europe/Berlin" in result.stderr, \
        str(result)
    assert ":4: " in result.stderr and "happens twice in Europe/Berlin" in result.stderr, \
        str(result)
    plan = home.parent / "gap.yaml"
    plan.write_text("checkins:\n  - {kr: k4, value: 2, at: '2026-10-20'}\n"
                    "  - {kr: k1, value: 2, at: 2026-03-29 02:30:00}\n", encoding="utf-8")
    result = okr(home, "import", "plan", str(plan), env=BERLIN)
    assert result.crash is None and result.code == 2, str(result)
    assert ":3: " in result.stderr and "does not exist in Europe/Berlin" in result.stderr, \
        str(result)
    assert event_count(home) == before


# ---- F3: a date is written one way, so a date alone always means that day -----------------

@pytest.mark.parametrize("text", ["20260930", "2026W403", "2026-W40-3", "2026-W40", "2026W40",
                                  "20260930T1200", "2026-273"])
def test_basic_and_week_dates_are_refused_naming_the_accepted_forms(text: str) -> None:
    """`--as-of 20260930` was read as the START of 30 September, `2026-09-30` as its end; a
    week (2026-W40) was read as its Monday's midnight."""
    for read in (parse_when, parse_until):
        with pytest.raises(UserError) as exc:
            read(text, "Asia/Tokyo")
        said = str(exc.value)
        assert said.startswith(f"cannot read time {text!r}"), said
        assert "2026-11-02" in said and "2026-11-02T14:30" in said, said


def test_a_basic_date_is_refused_by_the_cli_and_an_import(home: Path) -> None:
    line = refused(home, "scorecard", "--cycle", "2026-Q3", "--as-of", "20260930")
    assert "cannot read time '20260930'" in line, line
    csv = home.parent / "basic.csv"
    csv.write_text("kr,value,at\nk4,3,20261004\n", encoding="utf-8")
    result = okr(home, "import", "checkins", str(csv), env=BERLIN)
    assert result.code == 2 and ":2: " in result.stderr, str(result)
    assert "cannot read time '20261004'" in result.stderr, str(result)


def test_the_extended_spellings_are_read_as_before() -> None:
    zone = "Asia/Tokyo"
    assert parse_until("2026-09-30", zone) == datetime(2026, 9, 30, 15, tzinfo=UTC) - US
    assert parse_when("2026-09-30", zone) == datetime(2026, 9, 29, 15, tzinfo=UTC)
    for text in ("2026-09-30T14:30", "2026-09-30 14:30", "2026-09-30t14:30",
                 "2026-09-30T14:30:00.000", "2026-09-30T05:30Z", "2026-09-30T05:30:00+00:00"):
        assert parse_when(text, zone) == datetime(2026, 9, 30, 5, 30, tzinfo=UTC), text


# ---- the JSON API reads typed times with the same function ---------------------------------

def test_the_api_refuses_such_times_with_the_clis_line(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from okr.settings import load_settings
    from okr.web.app import create_app
    from tests.support.web import seed

    for name in ("OKR_TZ", "TZ"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(environ={"OKR_HOME": str(tmp_path / "home"),
                                      "OKR_INLINE_PUBLISH": "off", "OKR_TZ": "Europe/Berlin"})
    ledger, tokens = seed(settings)
    ledger.close()
    app = create_app(settings)
    try:
        client = TestClient(app)
        auth = {"Authorization": f"Bearer {tokens['ana']}"}
        for at, says in (("2026-10-25T02:30", "2026-10-25T02:30 happens twice in Europe/Berlin"),
                         ("2026-03-29T02:30", "2026-03-29T02:30 does not exist in Europe/Berlin"),
                         ("20261004", "cannot read time '20261004'")):
            answer = client.post("/api/v1/key-results/k-sales/check-ins",
                                 json={"value": "3", "at": at}, headers=auth)
            assert answer.status_code == 400 and says in answer.json()["detail"], answer.text
        answer = client.get("/api/v1/trail/k-sales?until=20261001", headers=auth)
        assert answer.status_code == 400, answer.text
        assert "cannot read time '20261001'" in answer.json()["detail"], answer.text
    finally:
        app.state.site.close()
