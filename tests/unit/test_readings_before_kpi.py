"""A reading observed before its KPI was in force counts in no as-of view (docs/scoring.md),
yet it was recorded without a word, and a PostgreSQL trial saw the scorecard and `okr list
kpis --as-of` without it while the quarter's guardrail table counted it. It is still recorded
(README's own walkthrough and feeds back-fill this way), and said: one warning line, and
`before_in_force` in --json. A KPI that carries history is added with `--effective`."""

import json
from pathlib import Path

from tests.fuzzing import okr


def test_a_reading_before_its_kpi_was_in_force_is_said_to_count_in_no_view(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    add = okr(home, "kpi", "add", "mrr", "Monthly revenue", "--green", "900000", "--red",
              "700000")
    assert add.code == 0, add
    early = okr(home, "kpi", "record", "mrr", "700000", "--at", "2026-10-10", "--json")
    assert early.code == 0, early
    assert json.loads(early.stdout)["before_in_force"] is True
    assert early.stderr.startswith("okr: warning: observed before KPI mrr was in force ("), \
        early.stderr
    assert "counts in no as-of view" in early.stderr
    assert len(early.stderr.strip().splitlines()) == 1, early.stderr
    now = okr(home, "kpi", "record", "mrr", "800000", "--json")
    assert now.code == 0 and now.stderr == "", now
    assert json.loads(now.stdout)["before_in_force"] is False


def test_a_kpi_added_with_an_earlier_effective_time_takes_its_history_quietly(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    add = okr(home, "kpi", "add", "mrr", "Monthly revenue", "--green", "900000", "--red",
              "700000", "--effective", "2026-10-01", "--reason", "history from the books")
    assert add.code == 0, add
    back = okr(home, "kpi", "record", "mrr", "700000", "--at", "2026-10-10")
    assert back.code == 0 and back.stderr == "", back
