"""A KPI's trend compares its latest reading with the previous one by observation time, as of
the view instant, counting only the readings that count (docs/scoring.md, "KPIs: health and
staleness"): not the order they were recorded in, not a reading observed before the KPI was in
force (it counts in no view), and not the reading a correction of the same observation
replaced. `okr kpi list` (the ledger, now) and `okr list kpis` (the projection, any as-of) say
the same.

Found in the last closing note: the trend could use an early reading. Explicit 2026 dates, all
in the past whenever this runs.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fuzzing import okr
from tests.unit.test_hostile_text import project


def run(home: Path, *args: str) -> Any:
    got = okr(home, *args)
    assert got.crash is None and got.code == 0, str(got)
    return got


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("trend") / "home"
    for args in [
        # Back-dated readings recorded out of order: by observation time 10, 60, 50.
        ("kpi", "add", "late", "Recorded late", "--green", "50", "--red", "20",
         "--effective", "2026-10-01", "--reason", "history"),
        ("kpi", "record", "late", "50", "--at", "2026-11-05"),
        ("kpi", "record", "late", "10", "--at", "2026-11-01"),
        ("kpi", "record", "late", "60", "--at", "2026-11-03"),
        # A reading observed before the KPI was in force, then one after: one counts.
        ("kpi", "add", "early", "Read early", "--green", "50", "--red", "20",
         "--effective", "2026-11-01", "--reason", "defined then"),
        ("kpi", "record", "early", "90", "--at", "2026-10-20"),
        ("kpi", "record", "early", "40", "--at", "2026-11-02"),
        # The 2 November reading corrected (same observation, recorded later): 10 → 20.
        ("kpi", "add", "fixed", "Corrected", "--green", "50", "--red", "20",
         "--effective", "2026-10-01", "--reason", "history"),
        ("kpi", "record", "fixed", "10", "--at", "2026-11-01"),
        ("kpi", "record", "fixed", "30", "--at", "2026-11-02"),
        ("kpi", "record", "fixed", "20", "--at", "2026-11-02"),
    ]:
        run(home, *args)
    project(home)
    return home


def trends(home: Path, *args: str) -> dict[str, Any]:
    items = json.loads(run(home, *args, "--json").stdout)
    rows = items["items"] if isinstance(items, dict) else items
    return {r["key"]: (r["value"], r["trend"]) for r in rows}


NOW = {"late": (50.0, "worse"),  # 50 after 60 (observed 3 Nov), not after 10 (recorded last)
       "early": (40.0, None),  # 20 October's 90 counts in no view: one reading
       "fixed": (20.0, "better")}  # 20 after 1 November's 10, not after the 30 it replaced


def test_the_ledgers_kpi_list_takes_the_previous_reading_by_observation(home: Path) -> None:
    assert trends(home, "kpi", "list") == NOW


def test_the_projections_list_says_the_same_now_and_as_of_a_time_between(home: Path) -> None:
    assert trends(home, "list", "kpis") == NOW
    assert trends(home, "list", "kpis", "--as-of", "2026-11-04") == {
        "late": (60.0, "better"), "early": (40.0, None), "fixed": (20.0, "better")}
    assert trends(home, "list", "kpis", "--as-of", "2026-11-01T12:00") == {
        "late": (10.0, None), "early": (None, None), "fixed": (10.0, None)}
