"""`okr import`: the whole file is checked first; nothing is written unless it is all valid."""

import json
from pathlib import Path

from tests.unit.test_cli_writes import event_count, ok, run
from tests.unit.test_cli_writes import readme_home as readme_home
from tests.unit.test_cli_writes import scenario as scenario


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_checkins_file_is_recorded_in_order(scenario: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "c.csv", "kr,value,confidence,note,at\n"
              "kr-conv,2.21,0.6,week 1,2026-11-03\n"
              "kr-intl,1,0.5,signed,2026-11-04T10:00\n"
              "kr-conv,2.25,,late,2026-11-05T08:00Z\n")
    before = event_count(scenario)
    data = json.loads(ok(scenario, "import", "checkins", str(f), "--json"))
    assert data["recorded"] == 3 and data["invalid"] == [] and data["written"]
    assert event_count(scenario) == before + 3
    kr = json.loads(ok(scenario, "show", "kr-conv", "--json"))
    assert kr["value"] == 2.25
    assert kr["check_ins"][-1]["effective_at"] == "2026-11-05T08:00:00.000000Z"


def test_a_bad_line_anywhere_writes_nothing_and_every_bad_line_is_named(
        scenario: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "c.csv", "kr,value,confidence,at\n"
              "kr-conv,2.21,0.6,2026-11-03\n"
              "kr-nope,1,,2026-11-03\n"
              "kr-conv,abc,,2026-11-03\n"
              "kr-conv,2.3,9,2026-11-03\n"
              "kr-conv,2.3,,2999-01-01\n"
              "kr-conv,2.3,,2026-11-03\n")
    before = event_count(scenario)
    proc = run(scenario, "import", "checkins", str(f))
    assert proc.returncode == 2
    assert proc.stdout == ""  # refusals are diagnostics: stderr, the summary an error line
    lines = proc.stderr.splitlines()
    assert [ln.split(":")[1] for ln in lines[:4]] == ["3", "4", "5", "6"]
    assert "'kr-nope' not found" in lines[0] and "not a number" in lines[1]
    assert "between 0 and 1" in lines[2] and "in the future" in lines[3]
    assert lines[4].startswith("okr: error: 4 of ") and "nothing was written" in lines[4]
    assert event_count(scenario) == before


def test_skip_invalid_records_the_good_lines(scenario: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "c.csv", "kr,value,at\nkr-conv,2.21,2026-11-03\nkr-nope,1,2026-11-03\n"
              "kr-intl,2,2026-11-04\n")
    before = event_count(scenario)
    data = json.loads(ok(scenario, "import", "checkins", str(f), "--skip-invalid", "--json"))
    assert data["recorded"] == 2 and [b["line"] for b in data["invalid"]] == [3]
    assert event_count(scenario) == before + 2


def test_readings_with_ids_are_recorded_once_across_imports(scenario: Path,
                                                            tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", "kpi,value,at,source,id\n"
              "wau,13900,2026-11-09,analytics,w45\n"
              "wau,14050,2026-11-16,analytics,w46\n"
              "wau,14050,2026-11-16,analytics,w46\n")
    first = json.loads(ok(scenario, "import", "readings", str(f), "--json"))
    assert (first["recorded"], first["duplicates"]) == (2, 1)
    before = event_count(scenario)
    second = json.loads(ok(scenario, "import", "readings", str(f), "--json"))
    assert (second["recorded"], second["duplicates"], second["written"]) == (0, 3, False)
    assert event_count(scenario) == before


def test_wrong_header_is_one_line_and_exit_2(scenario: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "c.csv", "key,val\nkr-conv,1\n")
    proc = run(scenario, "import", "checkins", str(f))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "header must name kr, value" in proc.stderr
    proc = run(scenario, "import", "checkins", str(tmp_path / "missing.csv"))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_a_file_with_a_header_and_no_lines_is_refused(scenario: Path, tmp_path: Path) -> None:
    for kind, header in (("checkins", "kr,value\n"), ("readings", "kpi,value,at\n\n")):
        f = write(tmp_path / f"{kind}.csv", header)
        before = event_count(scenario)
        proc = run(scenario, "import", kind, str(f))
        assert proc.returncode == 2, proc.stdout
        assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("okr: error: ") and "nothing to import" in proc.stderr
        assert event_count(scenario) == before
