"""Reviews and confirmations said plainly (the retrospective trial's F13 and F14, the time-zone
trial's F10), on real SQLite files through the real `okr` command:

- a score shown rounded onto the bar it missed: 0.697 of an aspirational objective (bar 0.7)
  said "70%" and "0.70 missed", 0.996 of a committed one "100%" and "1.00 missed";
- a removal said `removed False → True`; restatements said as raw floats and `None`;
- a threshold key result described with a start that plays no part (`stay-above 0 → 99.5%`);
- a second `--unfinished-only` carry said every item was carried before, finished ones too;
- "1 check-ins";
- a finished quarter's key results still "on-track"/"off-track" beside their final grade;
- a key result moved to another objective after commit, and an objective added after commit,
  shown without a marker;
- a POSIX TZ rule in $TZ (`IST-5:30`) refused as an "unknown time zone", $TZ unnamed.

Every date is explicit: 2026-Q3 is over.
"""

import csv
import io
import json
from pathlib import Path

import pytest

from tests.fuzzing import okr
from tests.support.built import built_home, ok

BUILD = [
    ["cycle", "add", "2026-Q3"],
    ["objective", "add", "asp", "Aspire", "--cycle", "2026-Q3", "--team", "t3", "--type",
     "aspirational"],
    ["kr", "add", "asp1", "Almost", "--objective", "asp", "--target", "1000", "--unit", "deals"],
    ["objective", "add", "com", "Commit", "--cycle", "2026-Q3", "--team", "t4"],
    ["kr", "add", "com1", "Nearly", "--objective", "com", "--target", "1000"],
    ["objective", "add", "thr", "Thresholds", "--cycle", "2026-Q3", "--team", "t4"],
    ["kr", "add", "up", "Uptime", "--objective", "thr", "--kind", "stay-above", "--target",
     "99.5", "--tolerance", "0.5", "--unit", "%"],
    ["kr", "add", "rg", "CSAT", "--objective", "thr", "--kind", "range", "--target", "80",
     "--target-high", "90", "--unit", "%"],
    ["kr", "add", "gone", "Dropped", "--objective", "thr", "--target", "4", "--unit", "deals"],
    ["kr", "add", "mover", "Moved", "--objective", "asp", "--target", "10"],
    ["cycle", "commit", "2026-Q3"],
    ["kr", "remove", "gone", "--effective", "2026-08-20", "--reason", "dropped"],
    ["objective", "add", "late", "Late one", "--cycle", "2026-Q3", "--team", "t5",
     "--effective", "2026-08-01", "--reason", "new priority"],
    ["kr", "add", "late1", "Late KR", "--objective", "late", "--target", "10",
     "--effective", "2026-08-01", "--reason", "new priority"],
    ["kr", "move", "mover", "--objective", "thr", "--effective", "2026-08-05", "--reason",
     "reorg"],
    ["checkin", "asp1", "697", "--at", "2026-09-20"],
    ["checkin", "com1", "996", "--at", "2026-09-20"],
    ["checkin", "mover", "10", "--at", "2026-09-20"],
    ["checkin", "up", "99.6", "--at", "2026-09-20"],
    ["checkin", "rg", "85", "--at", "2026-09-20"],
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_home(tmp_path_factory, "plainly", BUILD)


def review(home: Path, fmt: str, *more: str) -> str:
    return ok(home, "review", "2026-Q3", "--format", fmt,
              *(["--out", "-"] if fmt in ("md", "html", "csv") else []), *more).stdout


def plan_rows(home: Path) -> dict[str, list[str]]:
    """The TSV plan-vs-actual rows by their key result (an objective's row by its key)."""
    out = review(home, "tsv").split("# Plan vs actual\n", 1)[1].split("\n# ", 1)[0]
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    return {(r[2].split()[0] if r[2] != "all key results" else r[0].split()[0]): r
            for r in rows}


# ---- F13: a score never shown on a bar it missed ----------------------------------------------

@pytest.mark.parametrize("fmt", ["tsv", "md", "html"])
def test_a_score_is_never_shown_rounded_onto_the_bar_it_missed(home: Path, fmt: str) -> None:
    out = review(home, fmt)
    # asp 0.697 (aspirational: bar 0.7), com 0.996 (committed: bar 1.0), both missed
    assert "69%" in out and "0.69 missed" in out, fmt
    assert "99%" in out and "0.99 missed" in out, fmt
    assert "70%" not in out and "0.70" not in out, fmt
    assert "1.00 missed" not in out, fmt


def test_the_rounding_rule_holds_in_every_view_and_csv_keeps_the_numbers(home: Path) -> None:
    rows = plan_rows(home)
    assert rows["asp1"][6] == "69%" and rows["com1"][6] == "99%", rows
    assert rows["asp"][9] == "0.69 missed" and rows["com"][9] == "0.99 missed", rows
    card = ok(home, "scorecard", "--cycle", "2026-Q3", "--as-of", "2026-09-30").stdout
    assert "0.70" not in card and "1.00" not in card.split("com1", 1)[1].splitlines()[0], card
    assert "0.69" in card and "0.99" in card, card
    shown = ok(home, "show", "asp").stdout
    assert "69%" in shown and "70%" not in shown, shown
    listed = ok(home, "list", "krs", "--cycle", "2026-Q3", "--as-of", "2026-09-30",
                "--format", "tsv").stdout
    progress = {r["key result"]: r["progress"]
                for r in csv.DictReader(io.StringIO(listed), delimiter="\t")}
    assert (progress["asp1"], progress["com1"]) == ("69%", "99%"), progress
    table = list(csv.DictReader(io.StringIO(review(home, "csv"))))
    asp1 = next(r for r in table if r["key_result"] == "asp1")
    assert float(asp1["progress"]) == pytest.approx(0.697), asp1


def test_the_web_pages_show_scores_by_the_same_rule() -> None:
    from okr.web.app import templates

    pct = templates().filters["pct"]
    assert (pct(0.697), pct(0.996), pct(0.925), pct(0.6999999999999999)) == (
        "0.69", "0.99", "0.92", "0.70")


def test_float_noise_is_taken_off_before_rounding_down() -> None:
    from okr.cli.report import pct, score_text

    assert pct(0.6999999999999999) == "70%" and score_text(0.6999999999999999) == "0.70"
    assert pct(0.925) == "92%" and score_text(0.925) == "0.92"
    assert pct(1.0) == "100%" and pct(0.0) == "0%" and pct(None) == "-"


# ---- F14 (1): revisions and restatements in plain words ---------------------------------------

def test_a_removal_is_said_as_removed_not_a_boolean_diff(home: Path) -> None:
    for fmt in ("tsv", "md", "html"):
        out = review(home, fmt)
        assert "False" not in out and "True" not in out, fmt
        assert "gone: removed by " in out, fmt


def test_restatements_say_numbers_by_the_display_rule_and_none_in_words(home: Path) -> None:
    data = json.loads(ok(home, "review", "2026-Q3", "--json").stdout)
    committed = data["committed_at"]
    out = review(home, "tsv", "--compare-known-at", committed)
    said = out.split("# Restatements\n", 1)[1]
    assert "None" not in said and "False" not in said, said
    assert "asp1 progress 0% → 69%" in said, said
    assert "asp1 value - → 697" in said, said
    assert "asp score 0.00 → 0.69" in said, said


# ---- F14 (2): a threshold key result is described without a start ------------------------------

def test_a_threshold_key_result_is_confirmed_without_a_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(home, "cycle", "add", "2026-Q3")
    ok(home, "objective", "add", "o", "O", "--cycle", "2026-Q3")
    above = ok(home, "kr", "add", "a", "A", "--objective", "o", "--kind", "stay-above",
               "--target", "99.5", "--unit", "%", "--tolerance", "0.5").stdout
    assert "key result a added to o: stay-above 99.5%, tolerance 0.5" in above, above
    ranged = ok(home, "kr", "add", "r", "R", "--objective", "o", "--kind", "range",
                "--target", "80", "--target-high", "90", "--unit", "%").stdout
    assert "key result r added to o: range 80–90%" in ranged and "0 →" not in ranged, ranged
    climb = ok(home, "kr", "add", "c", "C", "--objective", "o", "--start", "5",
               "--target", "9").stdout
    assert "key result c added to o: increase 5 → 9" in climb, climb


# ---- F14 (4): a second --unfinished-only carry says what is true -------------------------------

def test_an_unfinished_only_carry_again_says_the_unfinished_items_were_carried(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args in (["cycle", "add", "2026-Q3"], ["cycle", "add", "2026-Q4"],
                 ["objective", "add", "o", "O", "--cycle", "2026-Q3"],
                 ["kr", "add", "done", "Done", "--objective", "o", "--target", "1"],
                 ["kr", "add", "open", "Open", "--objective", "o", "--target", "1"],
                 ["checkin", "done", "1", "--at", "2026-09-01"]):
        ok(home, *args)
    first = ok(home, "cycle", "carry", "2026-Q3", "2026-Q4", "--unfinished-only").stdout
    assert first.startswith("carried 1 objective and 1 key result from 2026-Q3 to 2026-Q4"), \
        first
    again = ok(home, "cycle", "carry", "2026-Q3", "2026-Q4", "--unfinished-only").stdout
    line = again.splitlines()[0]
    assert "every item" not in line, line
    assert line == ("nothing to carry: every unfinished item was carried from 2026-Q3 to "
                    "2026-Q4 before"), line


# ---- F14 (5): counts said in the singular where there is one -----------------------------------

def test_one_check_in_is_said_in_the_singular(home: Path) -> None:
    for fmt in ("tsv", "md", "html"):
        out = review(home, fmt)
        assert "1 check-ins" not in out and "1 check-in, " in out, fmt


def test_one_objective_and_one_key_result_are_said_in_the_singular() -> None:
    """The review's headline of a quarter with one objective of one key result (the rollover
    trial's first days of a new quarter): not "1 objectives, 1 key results"."""
    from okr.cli.report import headline

    summary = {"succeeded": 0, "graded": 1, "objectives": 1, "key_results": 1,
               "mean_score": 0.1}
    said = headline({"summary": summary, "evaluated_at": "2026-12-31T23:00:00.000000Z",
                     "end": "2026-12-31T23:00:00.000000Z", "status": "committed",
                     "cycle": "2026-Q4"}, "Europe/Berlin")
    assert said.endswith("· 1 objective, 1 key result"), said
    summary.update(objectives=2, key_results=3)
    said = headline({"summary": summary, "evaluated_at": "2026-12-31T23:00:00.000000Z",
                     "end": "2026-12-31T23:00:00.000000Z", "status": "committed",
                     "cycle": "2026-Q4"}, "Europe/Berlin")
    assert said.endswith("· 2 objectives, 3 key results"), said


# ---- F14 (6): after the end, no on-track/at-risk beside a final grade ------------------------

def test_a_finished_quarter_says_final_not_a_track(home: Path) -> None:
    rows = plan_rows(home)
    for key in ("asp1", "com1", "up", "rg", "mover", "late1", "asp", "com", "thr", "late"):
        assert rows[key][8] == "final", (key, rows[key])
    assert rows["gone"][8] == "removed", rows["gone"]
    running = review(home, "tsv", "--as-of", "2026-08-15")
    assert "on-track" in running or "off-track" in running  # while it runs: the track
    for fmt in ("md", "html"):
        out = review(home, fmt).split("Plan vs actual", 1)[1].split("Revisions", 1)[0]
        for word in ("on-track", "at-risk", "off-track"):
            assert word not in out, (fmt, word)


# ---- F14 (8): moved and added after commit, marked in every format ----------------------------

def test_moved_key_results_and_added_objectives_are_marked(home: Path) -> None:
    rows = plan_rows(home)
    assert "(moved from asp after commit)" in rows["mover"][2], rows["mover"]
    assert "(added after commit)" in rows["late"][0], rows["late"]
    assert "(added after commit)" not in rows["asp"][0], rows["asp"]
    for fmt in ("md", "html", "csv"):
        out = review(home, fmt)
        assert "moved from asp after commit" in out or "moved_from" in out, fmt
    table = list(csv.DictReader(io.StringIO(review(home, "csv"))))
    mover = next(r for r in table if r["key_result"] == "mover")
    late = next(r for r in table if r["objective"] == "late" and r["row"] == "objective")
    assert mover["moved_from"] == "asp" and late["objective_added_after_commit"] == "True"


# ---- tz F10: a POSIX TZ rule in $TZ ----------------------------------------------------------

@pytest.mark.parametrize("rule, offset", [("IST-5:30", "+05:30"),
                                          ("EST5EDT,M3.2.0,M11.1.0", "-04:00"),
                                          ("<+0530>-5:30", "+05:30")])
def test_a_posix_tz_rule_is_read_as_the_c_library_reads_it(home: Path, rule: str,
                                                          offset: str) -> None:
    env = {"OKR_ORG_TZ": "Europe/Berlin", "OKR_TZ": "", "TZ": rule}
    out = ok(home, "history", "asp1", env=env).stdout
    # the check-in typed for 2026-09-20 in Berlin, said in the rule's zone, UTC beside
    assert f"{offset} (2026-09-19T22:00:00Z)" in out, out
    data = json.loads(ok(home, "scorecard", "--as-of", "2026-07-15T12:00", "--json",
                         env=env).stdout)
    assert data is not None


def test_a_tz_okr_cannot_read_is_refused_naming_tz_and_okr_tz(home: Path) -> None:
    for bad in ("CET-1CEST", "Nowhere/Bogus"):
        result = okr(home, "history", "asp1",
                     env={"OKR_ORG_TZ": "Europe/Berlin", "OKR_TZ": "", "TZ": bad})
        lines = result.stderr.strip().splitlines()
        assert result.code == 2 and result.stdout == "" and len(lines) == 1, str(result)
        assert f"TZ={bad!r}" in lines[0] or f"TZ='{bad}'" in lines[0], lines
        assert "OKR_TZ=" in lines[0], lines


# ---- the rollover trial: confidence against outcomes reached so far, said so ------------------

def test_confidence_vs_outcome_of_a_running_cycle_says_so_far(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """`okr retro` says a running cycle's Brier 'so far'; the review's own confidence table
    judged confidences against the outcome reached so far without saying it."""
    home = built_home(tmp_path_factory, "calibration", [
        ["cycle", "add", "2026-Q3"],
        ["objective", "add", "o", "Grow", "--cycle", "2026-Q3"],
        ["kr", "add", "k", "Deals", "--objective", "o", "--target", "10"],
        ["checkin", "k", "4", "--confidence", "0.8", "--at", "2026-08-10"]])
    for fmt in ("tsv", "md", "html"):
        running = review(home, fmt, "--as-of", "2026-08-20")
        table = running.split("Confidence vs outcome", 1)[1].split("Check-in habits", 1)[0]
        assert "so far" in table, (fmt, table)
        final = review(home, fmt).split("Confidence vs outcome", 1)[1]
        assert "so far" not in final.split("Check-in habits", 1)[0], fmt
