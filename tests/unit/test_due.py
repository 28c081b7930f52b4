"""Due and overdue (domain/due.py, docs/scoring.md "Due and overdue"): hand-worked cases for
key results and KPIs at a fixed instant, the reminder's identity over time, then the same rule
through a real ledger, its DuckDB projection and `okr due` (filters, --json, --format)."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from okr.domain.base import utc_now
from okr.domain.due import due_items, key_result_due, kpi_due, reminder_id
from okr.ledger.app import OkrLedger
from okr.settings import load_settings
from tests.fuzzing import LIVE_CYCLE, live_window, okr
from tests.unit.test_hostile_text import project

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
Q4 = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def kr(last: str | None = None, since: str = "2026-09-20T00:00", cadence_window: Any = Q4,
       **extra: Any) -> dict[str, Any]:
    row = {"key": "k", "title": "K", "owner": "ana", "team": "web", "cycle": "2026-Q4",
           "cycle_start": cadence_window[0], "cycle_end": cadence_window[1],
           "cycle_status": "committed", "objective_status": "active", "kpi": None,
           "since": t(since), "last_at": None if last is None else t(last), "value": 3.0}
    row.update(extra)
    return row


# (case, key result row, cadence, overdue seconds — None: not listed), worked by hand at
# NOW = 2026-11-15T12:00Z
KR_CASES = [
    ("a week late", kr("2026-11-01T12:00"), "weekly", 7 * 86400),
    ("exactly one period: not yet", kr("2026-11-08T12:00"), "weekly", None),
    ("one second past the period", kr("2026-11-08T11:59:59"), "weekly", 1),
    ("never checked in, planned before the start: due a week after the start",
     kr(None, since="2026-09-20T00:00"), "weekly", (38 * 86400) + 12 * 3600),
    ("never checked in, added 5 days ago", kr(None, since="2026-11-10T00:00"), "weekly", None),
    ("daily cadence, 36 h since", kr("2026-11-14T00:00"), "daily", 12 * 3600),
    ("monthly cadence, 31 days and 1 hour", kr("2026-10-15T11:00"), "monthly", 3600),
    ("KPI-linked: its KPI is listed instead", kr("2026-10-01T00:00", kpi="nps"), "weekly",
     None),
    ("objective abandoned", kr("2026-10-01T00:00", objective_status="abandoned"), "weekly",
     None),
    ("cycle closed", kr("2026-10-01T00:00", cycle_status="closed"), "weekly", None),
    ("cycle over", kr("2026-07-01T00:00", cadence_window=(t("2026-07-01T00:00"),
                                                          t("2026-10-01T00:00"))),
     "weekly", None),
    ("cycle not started", kr(None, cadence_window=(t("2027-01-01T00:00"),
                                                   t("2027-04-01T00:00"))), "weekly", None),
]


@pytest.mark.parametrize("case", KR_CASES, ids=lambda c: c[0])
def test_a_key_result_is_due_as_worked_by_hand(case: Any) -> None:
    _, row, cadence, overdue = case
    item = key_result_due(row, cadence, NOW)
    if overdue is None:
        assert item is None
        return
    assert item is not None
    assert item["overdue_seconds"] == overdue
    assert item["due_at"] == NOW - timedelta(seconds=overdue)
    assert (item["reasons"], item["owner"], item["teams"]) == (["no-check-in"], "ana", ["web"])


def kpi(value: float | None, observed: str | None, direction: str = "up", green: float = 40,
        red: float = 20, since: str = "2026-09-01T00:00", **extra: Any) -> dict[str, Any]:
    row = {"key": "nps", "name": "NPS", "owner": "bo", "direction": direction, "green": green,
           "red": red, "cadence": "weekly", "retired": False, "since": t(since),
           "value": value, "observed_at": None if observed is None else t(observed)}
    row.update(extra)
    return row


# (case, KPI row, reasons — [] not listed, overdue seconds), worked by hand at NOW
KPI_CASES = [
    ("green and fresh", kpi(45, "2026-11-14T00:00"), [], None),
    ("red and fresh: due since the red reading", kpi(10, "2026-11-14T00:00"), ["red"],
     36 * 3600),
    ("amber and fresh", kpi(30, "2026-11-14T00:00"), [], None),
    ("green but stale: due a week after the reading", kpi(45, "2026-11-01T12:00"), ["stale"],
     7 * 86400),
    ("red and stale", kpi(10, "2026-11-01T12:00"), ["red", "stale"], 7 * 86400),
    ("no reading at all: stale since in force", kpi(None, None, since="2026-11-15T11:00"),
     ["stale"], 3600),
    ("direction down: 6 is above red 5", kpi(6, "2026-11-15T00:00", "down", 2, 5), ["red"],
     12 * 3600),
]


@pytest.mark.parametrize("case", KPI_CASES, ids=lambda c: c[0])
def test_a_kpi_is_due_as_worked_by_hand(case: Any) -> None:
    _, row, reasons, overdue = case
    item = kpi_due(row, ["web", "", "app", "web"], NOW)
    if not reasons:
        assert item is None
        return
    assert item is not None
    assert (item["reasons"], item["overdue_seconds"]) == (reasons, overdue)
    assert (item["teams"], item["team"], item["owner"]) == (["app", "web"], "app, web", "bo")


def test_due_items_order_and_kpi_teams_come_from_running_key_results() -> None:
    krs = [kr("2026-11-01T12:00", key="k1", owner="bo", team="z"),
           kr("2026-10-20T12:00", key="k2", owner="ana", team="web"),
           kr("2026-10-01T00:00", key="k3", owner="ana", team="web", kpi="nps"),
           kr("2026-10-01T00:00", key="k4", owner="ana", team="gone", kpi="nps",
              objective_status="abandoned")]
    kpis = [kpi(10, "2026-11-14T00:00"), kpi(10, "2026-11-14T00:00", key="old", retired=True)]
    items = due_items(krs, kpis, "weekly", NOW)
    assert [(i["owner"], i["key"]) for i in items] == [("ana", "k2"), ("bo", "nps"),
                                                       ("bo", "k1")]
    assert items[1]["teams"] == ["web"]  # k4's objective was abandoned: not its team


def test_a_reminder_is_named_once_per_item_per_period() -> None:
    item = key_result_due(kr("2026-11-01T12:00"), "weekly", NOW)
    assert item is not None
    first = reminder_id(item, NOW)
    assert reminder_id(item, NOW + timedelta(days=6, hours=23)) == first  # same period
    assert reminder_id(item, NOW + timedelta(days=7)) != first  # a whole period more overdue
    later = key_result_due(kr("2026-11-02T12:00"), "weekly", NOW)  # a new check-in
    assert later is not None and reminder_id(later, NOW) != first


# ---- through a real ledger, its projection and the CLI ----------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A live cycle: k-late (checked in 10 days ago), k-fresh (2 days ago), k-never (none,
    planned for a cycle that began 60 days ago), k-kpi (linked to a red KPI), k-other (bo's
    team, 9 days ago); the KPI nps red, churn green and fresh, wau stale."""
    home = tmp_path_factory.mktemp("due") / "home"
    app = OkrLedger(load_settings({"home": home}, environ={}))
    now = utc_now()
    cycle = app.add_cycle(LIVE_CYCLE, *live_window(now))
    app.add_objective("o1", "Grow", cycle=cycle.key, owner="ana", team="web")
    app.add_objective("o2", "Keep", cycle=cycle.key, owner="bo", team="app")
    app.add_kpi("nps", "NPS", green=40, red=20, cadence="weekly", owner="cy")
    app.add_kpi("churn", "Churn", direction="down", green=2, red=5, cadence="daily", owner="cy")
    app.add_kpi("wau", "Weekly users", green=10, red=5, cadence="weekly", owner="bo")
    for key, objective in (("k-late", "o1"), ("k-fresh", "o1"), ("k-never", "o1"),
                           ("k-kpi", "o1"), ("k-other", "o2")):
        app.add_key_result(key, key.title(), objective=objective, start=0, target=10)
    app.link_kpi("k-kpi", "nps")
    app.check_in("k-late", 1, at=now - timedelta(days=10))
    app.check_in("k-fresh", 2, at=now - timedelta(days=2))
    app.check_in("k-other", 3, at=now - timedelta(days=9))
    app.record_reading("nps", 12, at=now - timedelta(hours=3))
    app.record_reading("churn", 1, at=now - timedelta(hours=3))
    app.record_reading("wau", 50, at=now - timedelta(days=8))
    app.close()
    project(home)  # the projection the CLI reads, as the consumer would write it
    return home


def run(home: Path, *args: str) -> Any:
    result = okr(home, "due", *args)
    assert result.crash is None and result.code == 0, str(result)
    return result


def test_okr_due_lists_what_is_overdue_per_owner_and_team(home: Path) -> None:
    data = json.loads(run(home, "--json").stdout)
    got = {(i["kind"], i["key"]): i for i in data["items"]}
    assert set(got) == {("key_result", "k-late"), ("key_result", "k-never"),
                        ("key_result", "k-other"), ("kpi", "nps"), ("kpi", "wau")}
    late = got[("key_result", "k-late")]
    # checked in 10 days ago, weekly: due 3 days ago (to the minute: the test runs in one)
    assert abs(late["overdue_seconds"] - 3 * 86400) < 120
    assert datetime.fromisoformat(late["due_at"]).utcoffset() == timedelta(0)
    assert (late["owner"], late["team"], late["cadence"]) == ("ana", "web", "weekly")
    assert got[("kpi", "nps")]["reasons"] == ["red"] and got[("kpi", "nps")]["teams"] == ["web"]
    assert got[("kpi", "wau")]["reasons"] == ["stale"]
    assert data["checkin_cadence"] == "weekly"
    assert [i["owner"] for i in data["items"]] == sorted(i["owner"] for i in data["items"])


def test_okr_due_filters_by_owner_and_team(home: Path) -> None:
    mine = json.loads(run(home, "--owner", "bo", "--json").stdout)["items"]
    assert {i["key"] for i in mine} == {"k-other", "wau"}
    web = json.loads(run(home, "--team", "web", "--json").stdout)["items"]
    assert {i["key"] for i in web} == {"k-late", "k-never", "nps"}
    none = json.loads(run(home, "--team", "nobody", "--json").stdout)["items"]
    assert none == []


def test_okr_due_prints_tables_for_people_and_pipes(home: Path) -> None:
    tsv = run(home, "--format", "tsv").stdout.splitlines()
    header = tsv[0].split("\t")
    assert header[:4] == ["owner", "team", "item", "title"]
    assert all(len(r.split("\t")) == len(header) for r in tsv[1:]) and len(tsv) == 6
    rows = list(csv.reader(io.StringIO(run(home, "--format", "csv").stdout)))
    assert rows[0] == header and len(rows) == 6
    assert "k-late" in run(home, "--format", "table").stdout
    assert run(home, "--owner", "nobody", "--format", "table").stdout.strip() \
        .startswith("nothing due")


def test_okr_due_refuses_a_bad_format_in_one_line(home: Path) -> None:
    result = okr(home, "due", "--format", "yaml")
    assert result.code == 2 and result.stderr.startswith("okr: error: ")
    assert len(result.stderr.splitlines()) == 1
