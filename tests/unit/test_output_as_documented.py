"""The CLI's output says what README.md's output sections promise (defects from new-user
trials): CSV shows control, bidi and zero-width characters as tables do; an empty value is an
empty CSV cell; times are ISO 8601 in every format; a range's high bound is said back, listed
and in the scorecard CSV; a review says its instants in the person's zone with UTC beside; a
cycle with nothing to score says so. On real SQLite and DuckDB files; the person is in
Europe/Berlin (tests/fuzzing.okr), the organisation in Asia/Tokyo."""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.fuzzing import Result, okr
from tests.support.hostile_text import raw_controls
from tests.unit.test_hostile_text import project

TOKYO = {"OKR_ORG_TZ": "Asia/Tokyo"}
TITLE = "t \x1b[31mred\u200b"
NOTE = "\x1b[2J \u202edone"


def ok(home: Path, *args: str) -> Result:
    result = okr(home, *args, env=TOKYO)
    assert result.crash is None and result.code == 0, str(result)
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("documented") / "home"
    for args in (["cycle", "add", "2026-Q4"], ["cycle", "add", "2027-Q1"],
                 ["objective", "add", "o", "O", "--cycle", "2026-Q4"],
                 ["kr", "add", "k1", TITLE, "--objective", "o"],
                 ["kr", "add", "f", "=1+1", "--objective", "o"],
                 ["kr", "add", "r", "R", "--objective", "o", "--kind", "range", "--start", "50",
                  "--target", "40", "--target-high", "60"],
                 ["checkin", "k1", "0.5", "--note", NOTE, "--at", "2026-11-02"],
                 ["kr", "revise", "k1", "--target", "2", "--reason", "x", "--effective",
                  "2026-11-20"]):
        ok(home, *args)
    project(home)
    return home


def csv_outputs(home: Path, tmp_path: Path) -> dict[str, str]:
    ok(home, "review", "2026-Q4", "--format", "csv", "--out", str(tmp_path / "r.csv"))
    return {"history": ok(home, "history", "k1", "--format", "csv").stdout,
            "list krs": ok(home, "list", "krs", "--format", "csv").stdout,
            "scorecard": ok(home, "scorecard", "--format", "csv").stdout,
            "audit trail": ok(home, "audit", "trail", "k1", "--format", "csv").stdout,
            "review": (tmp_path / "r.csv").read_text(encoding="utf-8")}


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def test_csv_shows_control_bidi_and_zero_width_characters_as_tables_do(
        home: Path, tmp_path: Path) -> None:
    """`okr history k1 --format csv | cat -A` showed a raw ESC and a raw U+202E."""
    for name, text in csv_outputs(home, tmp_path).items():
        assert raw_controls(text.replace("\r\n", "\n")) == [], name  # (CRLF: a record's end)
        if name != "history":  # (which shows no title)
            assert "t ␛[31mred\\u200b" in cells(text), name
        if name in ("history", "audit trail"):
            assert "␛[2J \\u202edone" in cells(text), name


def test_the_formula_guard_still_holds_in_every_csv(home: Path, tmp_path: Path) -> None:
    outputs = csv_outputs(home, tmp_path)
    outputs["audit trail"] = ok(home, "audit", "trail", "f", "--format", "csv").stdout
    for name, text in outputs.items():
        if name != "history":
            assert "'=1+1" in cells(text) and "=1+1" not in cells(text), name


def test_an_empty_value_is_an_empty_csv_cell_not_a_guarded_dash(
        home: Path, tmp_path: Path) -> None:
    """The '-' placeholder came out as '- in the review, list and history CSVs."""
    outputs = csv_outputs(home, tmp_path)
    for name, text in outputs.items():
        assert "'-" not in cells(text) and "-" not in cells(text), name
    rows = list(csv.DictReader(io.StringIO(outputs["list krs"])))
    assert next(r for r in rows if r["key result"] == "r")["value"] == ""
    review = list(csv.DictReader(io.StringIO(outputs["review"])))
    assert {r["initiatives"] for r in review} == {""}


ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z"


def test_sql_says_its_times_in_iso_8601_in_every_format(home: Path) -> None:
    """`okr sql "SELECT now()"` printed '2026-11-19 23:00:00+00:00' (no T)."""
    query = ("SELECT TIMESTAMPTZ '2026-11-19 23:00:00+00' AS t, "
             "TIMESTAMP '2026-11-19 23:00:00' AS naive, DATE '2026-11-19' AS d")
    tsv = ok(home, "sql", query, "--format", "tsv").stdout.splitlines()
    assert tsv[1].split("\t") == ["2026-11-19T23:00:00.000000Z", "2026-11-19T23:00:00",
                                  "2026-11-19"]
    assert cells(ok(home, "sql", query, "--format", "csv").stdout)[3:] == tsv[1].split("\t")
    assert json.loads(ok(home, "sql", query, "--json").stdout)[0]["t"] == \
        "2026-11-19T23:00:00.000000Z"


def test_the_audit_trails_changed_times_are_iso_8601(home: Path) -> None:
    """A check-in's effective_at in 'changes' read '2026-11-01 23:00:00+00:00'."""
    table = ok(home, "audit", "trail", "k1").stdout
    assert "effective_at: ∅ → 2026-11-02T00:00:00+01:00 (2026-11-01T23:00:00Z)" in table
    assert not re.search(r"\d \d\d:\d\d", table)
    rows = list(csv.DictReader(io.StringIO(ok(home, "audit", "trail", "k1", "--format",
                                              "csv").stdout)))
    (eff,) = [r for r in rows if r["field"] == "effective_at"]
    assert eff["after"] == "2026-11-01T23:00:00.000000Z"


def test_a_ranges_high_bound_is_said_back_listed_and_in_the_scorecard_csv(
        home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "home"  # (a write here would leave the module's projection stale)
    for args in (["cycle", "add", "2026-Q4"], ["objective", "add", "o", "O", "--cycle",
                                                  "2026-Q4"]):
        ok(elsewhere, *args)
    said = ok(elsewhere, "kr", "add", "r2", "R2", "--objective", "o", "--kind", "range",
              "--start", "50", "--target", "40", "--target-high", "60", "--unit", "%").stdout
    # its two bounds; a start plays no part in a range's score, so none is said
    assert "range 40–60%" in said and "→" not in said.splitlines()[0]
    listed = ok(home, "list", "krs").stdout
    (row,) = [line.split("\t") for line in listed.splitlines() if line.startswith("r\t")]
    assert row[5] == "40–60"
    rows = list(csv.DictReader(io.StringIO(ok(home, "scorecard", "--format", "csv").stdout)))
    (r,) = [x for x in rows if x["key"] == "r"]
    assert (r["target"], r["target_high"]) == ("40", "60")
    assert next(x for x in rows if x["key"] == "k1")["target_high"] == ""


def test_a_review_says_its_instants_in_the_persons_zone_with_utc_beside(
        home: Path) -> None:
    """With the organisation in Tokyo and the person in Berlin, the review said 'as of
    2026-11-16T13:59:59+09:00' and the HTML '+00:00'; its days stay Tokyo's, and say so."""
    # known at: now, in Berlin (+01:00 in winter, +02:00 in summer), UTC beside
    said = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00 \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)"
    for fmt in ("tsv", "md", "html"):
        out = ok(home, "review", "2026-Q4", "--as-of", "2026-11-15", "--format", fmt,
                 *(["--out", "-"] if fmt != "tsv" else [])).stdout
        assert re.search(r"as of 2026-11-15T23:59:59\+01:00 \(2026-11-15T22:59:59Z\), as "
                         rf"known at {said}", out.replace("\n", " ")), fmt
        assert "2026-10-01 – 2026-12-31 (Asia/Tokyo)" in out, fmt
        assert "+09:00" not in out and "+00:00" not in out, fmt


def test_a_review_of_a_cycle_with_no_objectives_says_there_is_nothing_to_score(
        home: Path) -> None:
    for fmt in ("tsv", "md", "html"):
        out = ok(home, "review", "2027-Q1", "--format", fmt,
                 *(["--out", "-"] if fmt != "tsv" else [])).stdout
        assert "mean score" not in out and "nothing to score" in out, fmt
    assert json.loads(ok(home, "review", "2027-Q1", "--json").stdout)["summary"][
        "mean_score"] is None
