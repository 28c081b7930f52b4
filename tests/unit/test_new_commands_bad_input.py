"""Bad input to this release's new commands and options, as a hostile user gives it: each
refusal is one line on stderr with exit code 2 (okr/errors.py), no traceback, nothing written;
stored text the new displays echo stays data. (The audit commands that need a broker are in
tests/integration/test_checkpoints.py.)"""

import shutil
from pathlib import Path

import pytest

from tests.fuzzing import Result, event_count, fresh_copy, okr
from tests.support.hostile_text import raw_controls
from tests.unit.test_hostile_text import project

HOSTILE = "\x1b]8;;https://evil.example/\x1b\\[bold]x[/]\u202eq"


def refused(result: Result, *said: str) -> None:
    """One line on stderr, exit 2, no traceback, nothing on stdout, no raw control bytes."""
    assert result.crash is None and result.code == 2, str(result)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("okr: error: "), str(result)
    assert raw_controls(result.stderr.rstrip("\n")) == [], str(result)
    assert result.stdout == "", str(result)
    for text in said:
        assert text in result.stderr, str(result)


@pytest.fixture
def home(readme_home: Path, workdir: Path) -> Path:
    return fresh_copy(readme_home, workdir)


@pytest.fixture(scope="module")
def projected(readme_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README scenario with its projection built (reads run without a broker)."""
    home = tmp_path_factory.mktemp("projected") / "home"
    shutil.copytree(readme_home, home)
    project(home)
    return home


@pytest.mark.parametrize("timeout", ["inf", "1e400", "-inf", "nan", "0", "-1", "abc"])
def test_sql_refuses_a_timeout_that_is_not_a_sensible_number(projected: Path,
                                                             timeout: str) -> None:
    """--timeout inf (or 1e400, which reads as inf) escaped as an OverflowError traceback."""
    refused(okr(projected, "sql", "select 1", "--timeout", timeout), "--timeout")


@pytest.mark.parametrize("limit", ["0", "-5", "1.5", "x"])
def test_sql_refuses_a_limit_below_one(projected: Path, limit: str) -> None:
    refused(okr(projected, "sql", "select 1", "--limit", limit), "--limit")


def test_review_out_to_a_directory_is_bad_input_naming_the_out_path(projected: Path,
                                                                    tmp_path: Path) -> None:
    """An --out the user chose that cannot be written was 'data directory not usable' with
    exit 4, pointing at --home and OKR_HOME, which have nothing to do with it."""
    result = okr(projected, "review", "2026-Q4", "--format", "md", "--out", str(tmp_path))
    refused(result, "--out", str(tmp_path))
    assert "OKR_HOME" not in result.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("kept", encoding="utf-8")
    result = okr(projected, "review", "2026-Q4", "--format", "html",
                 "--out", str(blocked / "r.html"))
    refused(result, "--out")
    assert blocked.read_text(encoding="utf-8") == "kept"


def test_review_out_into_a_missing_folder_is_refused_and_makes_no_folder(
        projected: Path, tmp_path: Path) -> None:
    """It made the missing folders (a typo in the path went unnoticed)."""
    out = tmp_path / "no-such" / "dir" / "r.html"
    result = okr(projected, "review", "2026-Q4", "--format", "html", "--out", str(out))
    refused(result, "--out", str(out.parent), "does not exist")
    assert not (tmp_path / "no-such").exists()


def test_export_parquet_to_a_file_is_bad_input_naming_the_output_path(
        projected: Path, tmp_path: Path) -> None:
    """It was 'data directory not usable (File exists: afile); check … (--home, OKR_HOME)',
    exit 4: blaming the data directory for the output path."""
    afile = tmp_path / "afile"
    afile.write_text("kept", encoding="utf-8")
    result = okr(projected, "export", "parquet", str(afile))
    refused(result, str(afile), "not a directory")
    assert "OKR_HOME" not in result.stderr and "data directory" not in result.stderr
    assert afile.read_text(encoding="utf-8") == "kept"
    missing = tmp_path / "no-such" / "out"
    refused(okr(projected, "export", "parquet", str(missing)), str(missing.parent),
            "does not exist")
    assert not (tmp_path / "no-such").exists()
    made = okr(projected, "export", "parquet", str(tmp_path / "out"))
    assert made.code == 0 and (tmp_path / "out" / "scorecard.parquet").is_file(), str(made)
    # refused for want of a ledger (a mistyped --home): OUT is not made either (a reviewer's
    # finding: it was made before the ledger was looked for)
    nowhere = okr(tmp_path / "mistyped", "export", "parquet", str(tmp_path / "out2"))
    assert nowhere.code == 2 and "no ledger in" in nowhere.stderr, str(nowhere)
    assert not (tmp_path / "out2").exists()


def test_import_plan_problems_go_to_stderr_with_echoed_text_as_data(home: Path,
                                                                     tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("objectives:\n  - key: oy\n    title: T\n    owner: ana\n"
                    f"    cycle: {HOSTILE!r}\n".replace("'", '"').replace("\\x1b", "\\e"),
                    encoding="utf-8")
    before = event_count(home)
    result = okr(home, "import", "plan", str(plan))
    assert result.crash is None and result.code == 2, str(result)
    assert result.stdout == "", str(result)
    assert "plan.yaml:2:" in result.stderr and "nothing was written" in result.stderr
    assert raw_controls(result.stderr.replace("\n", "")) == [], str(result)
    assert event_count(home) == before


@pytest.mark.parametrize("name,text,said", [
    ("unreadable.yaml", None, "plan"),
    ("tabs.yaml", "objectives:\n\t- key: x\n", "not valid YAML"),
    ("bad.csv", 'section,key\n"unterminated\n', "not valid CSV"),
    ("nul.csv", "section,key\ncycles,a\x00b\n", "nul.csv"),
])
def test_import_plan_refuses_files_it_cannot_read(home: Path, tmp_path: Path, name: str,
                                                  text: str | None, said: str) -> None:
    path = tmp_path / name
    if text is None:
        path.mkdir()
    else:
        path.write_text(text, encoding="utf-8")
    before = event_count(home)
    result = okr(home, "import", "plan", str(path))
    assert result.crash is None and result.code == 2, str(result)
    assert said in result.stdout + result.stderr
    assert event_count(home) == before


def test_show_threshold_text_keeps_the_unit_as_data(home: Path) -> None:
    ok = okr(home, "kr", "add", "--objective=live-obj", "--kind=stay-above", "--start=0",
             "--target=5", "--tolerance=1", "--unit=\x1b]8;;x\x1b\\[b]u[/]\u202e",
             "--reason=more", "--", "k-thr", "T[/]")
    assert ok.code == 0, str(ok)
    project(home)
    shown = okr(home, "show", "k-thr", "--format", "table")
    assert shown.crash is None and shown.code == 0, str(shown)
    assert raw_controls(shown.stdout) == [], str(shown)
    assert "[b]u[/]" in shown.stdout and "tolerance 1" in shown.stdout


@pytest.mark.parametrize("args,said", [
    (["kr", "revise", "kr-live", "--target", "20", "--effective", "2999-01-01",
      "--reason", "x"], "future"),
    (["kr", "revise", "kr-live", "--target", "20", "--effective", "tomorrow-ish",
      "--reason", "x"], "cannot read time"),
    (["kr", "add", "k77", "X", "--objective", "live-obj", "--kind", "stay-above", "--start",
      "0", "--target", "5", "--tolerance", "0"], "tolerance"),
    (["kr", "add", "k77", "X", "--objective", "live-obj", "--kind", "stay-above", "--start",
      "0", "--target", "5", "--tolerance", "-1"], "tolerance"),
    (["kr", "add", "k77", "X", "--objective", "live-obj", "--kind", "stay-above", "--start",
      "0", "--target", "5", "--tolerance", "inf"], "tolerance"),
    (["kr", "revise", "kr-live", "--tolerance", "1", "--clear-tolerance"], "not both"),
    (["scorecard", "--format", "xml"], "--format"),
    (["sql", "select 1", "--format", "yaml"], "--format"),
])
def test_new_options_refuse_bad_values_writing_nothing(home: Path, args: list[str],
                                                       said: str) -> None:
    before = event_count(home)
    refused(okr(home, *args), said)
    assert event_count(home) == before
