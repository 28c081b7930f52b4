"""One review, several renderings; CSV a spreadsheet can check; a running cycle said as one
(the retrospective trial's F5–F8 and the time-zone trial's F5), on real SQLite and DuckDB files
through the real `okr` command.

- the review's headline and the retro called objectives of a running cycle "succeeded" (its
  rows: "reached so far" / "open"), and the retro put a running cycle beside a finished one
  without its days or whether it is over;
- the retro's change column was on the web page and in --json only;
- CSV exports lacked what a score is computed from (kind, start, tolerance, weight, unit),
  held progress bars and unit-suffixed text, two tables in one file, float noise;
- the review's formats showed different sections (check-in habits in Markdown only, the
  back-dated list without a heading in the terminal, no 'scored' column in HTML) and rounded
  differently;
- the commit and back-dated check-ins were said as bare days in the cycle's zone, unnamed.

Every date is explicit (2026-Q3 is over); the running cycle is the live one around today.
"""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.fuzzing import LIVE_CYCLE, live_cycle_commands
from tests.support.built import built_home, ok

TOKYO = {"OKR_ORG_TZ": "Europe/Berlin", "OKR_TZ": "Asia/Tokyo"}

BUILD = [
    ["cycle", "add", "2026-Q3"],
    ["objective", "add", "sales", "Sell more", "--cycle", "2026-Q3", "--team", "sales",
     "--owner", "ana"],
    ["kr", "add", "leads", "Qualified leads", "--objective", "sales", "--target", "80"],
    ["kr", "add", "cycle", "Sales cycle", "--objective", "sales", "--kind", "decrease",
     "--start", "90", "--target", "60", "--unit", "days", "--weight", "2"],
    ["objective", "add", "plat", "Reliable platform", "--cycle", "2026-Q3", "--team",
     "platform", "--owner", "bo"],
    ["kr", "add", "uptime", "Uptime", "--objective", "plat", "--kind", "stay-above",
     "--target", "99.5", "--tolerance", "0.5", "--unit", "%"],
    ["cycle", "commit", "2026-Q3"],
    ["checkin", "leads", "40", "--at", "2026-08-07", "--confidence", "0.8"],
    ["checkin", "leads", "74", "--at", "2026-09-29", "--confidence", "0.9"],
    ["checkin", "cycle", "72", "--at", "2026-09-29"],
    ["checkin", "uptime", "99.3", "--at", "2026-09-29"],
    *live_cycle_commands(),
    ["checkin", "kr-live", "10", "--confidence", "0.9"],
    ["checkin", "kr-live2", "2"],
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_home(tmp_path_factory, "formats", BUILD)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ---- F5: a running cycle is said as one ---------------------------------------------------

def test_the_headline_of_a_running_cycle_says_so_far_not_succeeded(home: Path) -> None:
    over = ok(home, "review", "2026-Q3", "--format", "tsv").stdout.splitlines()[1]
    assert "graded objectives succeeded" in over, over
    for fmt in ("tsv", "md", "html"):
        out = ok(home, "review", "2026-Q3", "--as-of", "2026-08-15", "--format", fmt,
                 *(["--out", "-"] if fmt != "tsv" else [])).stdout
        assert "succeeded" not in out, (fmt, [line for line in out.splitlines()
                                              if "succeeded" in line])
        assert "reached so far" in out and "runs until 2026-09-30" in out, fmt


def test_the_retro_says_each_cycles_days_and_whether_it_is_over(home: Path) -> None:
    out = ok(home, "retro", "2026-Q3", LIVE_CYCLE, "--format", "tsv").stdout
    lines = {line.split("\t")[0]: line.split("\t")[1:] for line in out.splitlines()}
    assert lines["days"][0] == "2026-07-01 – 2026-09-30 (Europe/Berlin)", lines.get("days")
    assert lines["over"][0] == "yes" and lines["over"][1].startswith("no: as of "), lines
    assert lines["succeeded"][1] == "1 so far", lines["succeeded"]
    data = json.loads(ok(home, "retro", "2026-Q3", LIVE_CYCLE, "--json").stdout)
    assert data["a"]["over"] is True and data["b"]["over"] is False
    assert data["a"]["first_day"] == "2026-07-01" and data["a"]["last_day"] == "2026-09-30"
    assert data["a"]["timezone"] == "Europe/Berlin"


# ---- F6: the change column everywhere -------------------------------------------------------

def test_the_retro_prints_the_change_in_every_format(home: Path) -> None:
    data = json.loads(ok(home, "retro", "2026-Q3", LIVE_CYCLE, "--json").stdout)
    tsv = ok(home, "retro", "2026-Q3", LIVE_CYCLE, "--format", "tsv").stdout.splitlines()
    header = tsv[0].split("\t") if not tsv[0].startswith("#") else tsv[1].split("\t")
    assert header[-1] == "change", header
    hit = next(line.split("\t") for line in tsv if line.startswith("hit rate"))
    points = round((data["change"]["hit_rate"]) * 100)
    assert hit[-1] == f"{points:+d} pp", hit
    table = rows_of(ok(home, "retro", "2026-Q3", LIVE_CYCLE, "--format", "csv").stdout)
    by = {r["measure"]: r for r in table}
    assert float(by["hit_rate"]["change"]) == pytest.approx(data["change"]["hit_rate"])
    assert float(by["mean_score"]["2026-Q3"]) == pytest.approx(data["a"]["mean_score"])


# ---- F7: CSV a spreadsheet can check --------------------------------------------------------

def test_the_review_csv_carries_what_each_score_is_computed_from(home: Path) -> None:
    rows = rows_of(ok(home, "review", "2026-Q3", "--format", "csv", "--out", "-").stdout)
    for column in ("kr_kind", "start", "final_target", "tolerance", "weight", "unit"):
        assert column in rows[0], column
    krs = {r["key_result"]: r for r in rows if r["row"] == "key result"}
    assert krs["uptime"]["progress"] == "0.6", krs["uptime"]["progress"]  # not 0.59999…43
    assert (krs["cycle"]["kr_kind"], krs["cycle"]["start"], krs["cycle"]["weight"],
            krs["cycle"]["unit"]) == ("decrease", "90", "2", "days")
    assert krs["uptime"]["tolerance"] == "0.5"
    # the weighted mean of the key results' progress is the objective's score
    for obj in {r["objective"] for r in rows}:
        mine = [r for r in krs.values() if r["objective"] == obj]
        score = sum(float(r["weight"]) * float(r["progress"]) for r in mine) / sum(
            float(r["weight"]) for r in mine)
        own = next(r for r in rows if r["row"] == "objective" and r["objective"] == obj)
        assert float(own["objective_score"]) == pytest.approx(score), obj


def test_the_scorecard_csv_carries_kind_start_tolerance_weight(home: Path) -> None:
    rows = rows_of(ok(home, "scorecard", "--cycle", "2026-Q3", "--as-of", "2026-09-30",
                      "--format", "csv").stdout)
    kr = next(r for r in rows if r["key"] == "cycle")
    assert (kr["kr_kind"], kr["start"], kr["weight"], kr["tolerance"], kr["unit"]) == (
        "decrease", "90", "2", "", "days")
    up = next(r for r in rows if r["key"] == "uptime")
    assert up["score_or_progress"] == "0.6" and up["tolerance"] == "0.5"


def numbers_only(rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    for r in rows:
        for c in columns:
            if r[c] != "":
                float(r[c])  # a number, not '60%', '60 days' or a bar


def test_show_and_list_csv_cells_are_plain_numbers(home: Path) -> None:
    out = ok(home, "show", "sales", "--format", "csv").stdout
    assert "█" not in out and "░" not in out, out
    rows = rows_of(out)
    numbers_only(rows, ("progress", "value", "target", "expected"))
    assert next(r for r in rows if r["key result"] == "cycle")["unit"] == "days"
    krs = rows_of(ok(home, "list", "krs", "--cycle", "2026-Q3", "--format", "csv").stdout)
    numbers_only(krs, ("progress", "expected", "target", "value"))
    objs = rows_of(ok(home, "list", "objectives", "--cycle", "2026-Q3", "--format",
                      "csv").stdout)
    numbers_only(objs, ("score",))
    readings = rows_of(ok(home, "show", "leads", "--format", "csv").stdout)
    numbers_only(readings, ("value", "confidence"))
    assert readings[0]["effective"] == "2026-08-06T22:00:00.000000Z", readings[0]


def test_history_csv_is_one_table(home: Path) -> None:
    out = ok(home, "history", "leads", "--format", "csv").stdout
    assert not any(line.startswith("#") for line in out.splitlines()), out
    rows = list(csv.reader(io.StringIO(out)))
    assert len({len(r) for r in rows}) == 1, rows
    table = rows_of(out)
    assert {r["record"] for r in table} == {"revision", "check-in"}
    values = [r["value"] for r in table if r["record"] == "check-in"]
    assert values == ["40", "74"], values


# ---- F8: one content, several renderings -----------------------------------------------------

SECTIONS = ("Teams", "Plan vs actual", "Revisions after commit", "KPI guardrails",
            "Confidence vs outcome", "Check-in habits", "Back-dated check-ins")


def headings(fmt: str, text: str) -> list[str]:
    if fmt == "tsv":
        return [line[2:] for line in text.splitlines() if line.startswith("# ")]
    if fmt == "md":
        return [line[3:] for line in text.splitlines() if line.startswith("## ")]
    return re.findall(r"<h2>(.*?)</h2>", text)


def test_every_format_shows_the_same_sections_with_the_same_rounding(home: Path) -> None:
    said = {}
    for fmt in ("tsv", "md", "html"):
        out = ok(home, "review", "2026-Q3", "--format", fmt,
                 *(["--out", "-"] if fmt != "tsv" else [])).stdout
        found = [h for h in headings(fmt, out) if h in SECTIONS]
        said[fmt] = found
        # leads 74/80 = 0.925: 92% and 0.92 alike, rounded down (92% beside 0.93 once, then
        # 93%: a score is never shown above what it is, so never on a bar it missed)
        assert "92%" in out and "0.92" in out and "93%" not in out, fmt
        assert "weeks without" in out, fmt
    assert said["tsv"] == said["md"] == said["html"] == list(SECTIONS), said
    html = ok(home, "review", "2026-Q3", "--format", "html", "--out", "-").stdout
    teams = re.search(r"<h2>Teams</h2>\s*<table>(.*?)</table>", html, re.S)
    assert teams and "<th>scored</th>" in teams.group(1)


# ---- tz F5: instants with offsets, days with their zone -------------------------------------

def test_instants_are_said_with_offsets_and_days_with_their_zone(home: Path) -> None:
    out = ok(home, "review", "2026-Q3", "--all", "--format", "md", "--out", "-",
             env=TOKYO).stdout
    header = out.splitlines()[1]
    committed = re.search(r"plan committed (\S+ \(\S+Z\))", header)
    assert committed and "+09:00" in committed.group(1), header
    assert "2026-07-01 – 2026-09-30 (Europe/Berlin)" in header
    late = [line for line in out.splitlines() if line.startswith("- back-dated: ")]
    assert late, out
    # typed as 2026-08-07 in Berlin: that day of the cycle, its zone named; recorded: now,
    # in Tokyo with UTC beside
    for line in late:
        assert re.search(r" for 2026-\d\d-\d\d \(Europe/Berlin\), recorded \S+\+09:00 "
                         r"\(\S+Z\) by ", line), line
    assert any("leads 40 for 2026-08-07 (Europe/Berlin)" in line for line in late), late
