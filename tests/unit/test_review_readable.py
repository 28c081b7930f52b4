"""A review a retrospective can read and an auditor can count (the trial's three findings), on
real SQLite and DuckDB files through the real `okr` command, as a person in Europe/Berlin runs
it:

- a bulk import of historic check-ins (back-dated: recorded long after the days they speak
  for) printed one line per check-in — 16,010 lines in one trial. Now one line per actor,
  source and day recorded, with the exact count, the days they speak for and how late; every
  one of them stays in `--json` and behind `--all`;
- the grade column repeated the objective's grade ('missed') on every key result's line, a
  key result at 1.0 included. Now a key result's line grades it 0–1 (its own score) and the
  objective's grade — the weighted mean of its key results, and reached or missed — is said
  once, on the objective's own line;
- a review as of a day before the plan was committed said 'planning, plan committed
  <a later day>'. As of an instant, it says only what was in force then.
"""

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.fuzzing import Result, okr
from tests.unit.test_hostile_text import project

BERLIN = {"OKR_ORG_TZ": "Europe/Berlin"}
Q3 = """\
cycles:      [{key: 2026-Q3, timezone: Europe/Berlin, committed: true}]
objectives:  [{key: grow, title: Grow the funnel, cycle: 2026-Q3, team: sales}]
key_results: [{key: leads, title: Qualified leads, objective: grow, target: 100},
              {key: deals, title: Partner deals, objective: grow, target: 4}]
"""
DAYS = 60  # two key results checked in daily from 1 July: 120 back-dated check-ins
FIRST = date(2026, 7, 1)


def ok(home: Path, *args: str) -> Result:
    result = okr(home, *args, env=BERLIN)
    assert result.crash is None and result.code == 0, str(result)
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2026-Q3 imported (committed on import, today), then its history of daily check-ins
    imported from a CSV file, then one check-in typed by hand for 31 August."""
    home = tmp_path_factory.mktemp("readable") / "home"
    (home.parent / "q3.yaml").write_text(Q3, encoding="utf-8")
    rows = ["kr,value,at"]
    for i in range(DAYS):
        rows += [f"leads,{i},{FIRST + timedelta(days=i)}",
                 f"deals,{min(4, i // 10)},{FIRST + timedelta(days=i)}"]
    (home.parent / "history.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ok(home, "import", "plan", str(home.parent / "q3.yaml"))
    ok(home, "import", "checkins", str(home.parent / "history.csv"))
    ok(home, "checkin", "leads", "70", "--at", "2026-08-31")
    project(home)
    return home


def backdated_lines(text: str) -> list[str]:
    """The lines that say 'back-dated' (an HTML list item or paragraph is a line)."""
    for tag in ("<li>", "</li>", "<p>", "</p>"):
        text = text.replace(tag, "\n")
    return [line for line in text.splitlines() if "back-dated" in line]


def test_a_bulk_import_of_back_dated_check_ins_reads_as_one_line_with_its_count(
        home: Path) -> None:
    """The trial's review listed every imported check-in, one line each."""
    last = (FIRST + timedelta(days=DAYS - 1)).isoformat()
    for fmt in ("tsv", "md", "html"):
        out = ok(home, "review", "2026-Q3", "--format", fmt,
                 *(["--out", "-"] if fmt != "tsv" else [])).stdout
        lines = backdated_lines(out)
        assert len(lines) <= 4, (fmt, len(lines))
        text = "\n".join(lines)
        # Nothing hidden: the exact total, each batch's count, source, days and recording.
        assert "121 back-dated check-ins" in text, (fmt, text)
        batch = next(line for line in lines if "120 check-ins" in line)
        assert "2 key results" in batch and "import:history.csv" in batch, (fmt, batch)
        assert f"for 2026-07-01 – {last}" in batch, (fmt, batch)
        assert re.search(r", recorded \d{4}-\d\d-\d\d \(Europe/Berlin\) by \S+ "
                         r"\(source import:history\.csv\), [\d.]+–[\d.]+ days late$", batch), (
            fmt, batch)
        assert "back-dated: leads 70 for 2026-08-31" in text, (fmt, text)  # alone: as before


def test_every_back_dated_check_in_stays_reachable(home: Path) -> None:
    """`--all` lists them one a line; `--json` holds each one and the batches that count
    them, the counts adding up to the list."""
    lines = backdated_lines(ok(home, "review", "2026-Q3", "--all", "--format", "tsv").stdout)
    assert sum(1 for line in lines if " for 20" in line and "check-ins" not in line) == 121
    md = ok(home, "review", "2026-Q3", "--all", "--format", "md", "--out", "-").stdout
    assert len([line for line in backdated_lines(md) if line.startswith("- back-dated: ")
                and "check-ins" not in line]) == 121
    data = json.loads(ok(home, "review", "2026-Q3", "--json").stdout)
    assert len(data["backdated"]) == 121
    batches = data["backdated_batches"]
    assert sum(b["check_ins"] for b in batches) == 121
    imported = next(b for b in batches if b["source"] == "import:history.csv")
    assert imported["check_ins"] == 120 and imported["key_results"] == ["deals", "leads"]
    assert imported["effective_from"] == "2026-06-30T22:00:00.000000Z"
    assert imported["effective_until"] == "2026-08-28T22:00:00.000000Z"
    assert imported["recorded_from"] <= imported["recorded_until"]


def test_the_grade_column_grades_each_key_result_and_the_objective_once(
        home: Path) -> None:
    """deals reached 4 of 4 (1.0), leads 70 of 100 (0.7): each line said 'missed', the
    objective's grade."""
    out = ok(home, "review", "2026-Q3", "--format", "tsv").stdout
    table = [line.split("\t") for line in out.splitlines() if not line.startswith("#")]
    table = table[next(i for i, row in enumerate(table) if "grade" in row):]  # Plan vs actual
    header = table[0]
    grade, kr = header.index("grade"), header.index("key result")
    rows = {row[kr]: row[grade] for row in table[1:] if row[0].startswith("grow")}
    assert rows["deals Partner deals"] == "1.00"
    assert rows["leads Qualified leads"] == "0.70"
    objective = [g for k, g in rows.items() if not k.startswith(("deals", "leads"))]
    assert objective == ["0.85 missed"], rows  # the mean of 1.0 and 0.7, once
    md = ok(home, "review", "2026-Q3", "--format", "md", "--out", "-").stdout
    assert md.count("missed") == 1, md
    page = ok(home, "review", "2026-Q3", "--format", "html", "--out", "-").stdout
    assert page.count(">0.85 missed<") == 1 and ">1.00<" in page and ">0.70<" in page
    reader = csv.DictReader(io.StringIO(ok(home, "review", "2026-Q3", "--format", "csv",
                                          "--out", "-").stdout))
    graded = {r["key_result"] or "(objective)": (r["grade"], r["row"]) for r in reader}
    assert graded == {"deals": ("1.00", "key result"), "leads": ("0.70", "key result"),
                      "(objective)": ("0.85 missed", "objective")}


def test_a_review_as_of_a_day_before_the_commit_says_nothing_of_it(home: Path) -> None:
    """As of 1 August the imported plan (committed on import, today) was in planning; the
    review said 'planning, plan committed <today>'."""
    for fmt in ("tsv", "md", "html"):
        out = ok(home, "review", "2026-Q3", "--as-of", "2026-08-01", "--format", fmt,
                 *(["--out", "-"] if fmt != "tsv" else [])).stdout
        assert "plan committed" not in out, (fmt, out[:600])
        assert "plan not committed yet" in out, (fmt, out[:600])
    data = json.loads(ok(home, "review", "2026-Q3", "--as-of", "2026-08-01", "--json").stdout)
    assert (data["status"], data["committed_at"]) == ("planning", None)
    now = ok(home, "review", "2026-Q3", "--format", "tsv").stdout
    assert "status committed; plan committed " in now.splitlines()[0]
