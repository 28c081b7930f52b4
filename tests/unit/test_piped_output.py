"""Piped output (issue 21, "Shell conventions"): off a terminal, tables print whole — a header
line, then one row a line, cells tab-separated, nothing truncated or wrapped — so
`okr audit trail KR | grep …` sees whole times and reasons; `--format table|tsv|csv|json`
wherever a table is printed; NO_COLOR honoured; `--out -` means stdout. The in-process `okr`
writes to a pipe-like stream, not a terminal, as a shell pipe would."""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.fuzzing import Result, fresh_copy, okr
from tests.unit.test_hostile_text import project

LONG_REASON = "the market slowed down in " + ", ".join(f"region {i}" for i in range(40))
TABLE_VIEWS = [["scorecard"], ["show", "rev-2x"], ["show", "kr-conv"], ["show", "wau"],
               ["history", "kr-conv"], ["audit", "trail", "kr-conv"], ["kpi", "list"],
               ["sql", "SELECT key_result, note FROM check_ins"], ["review", "2026-Q4"]]


@pytest.fixture(scope="module")
def home(readme_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = fresh_copy(readme_home, tmp_path_factory.mktemp("piped"))
    assert okr(home, "kr", "revise", "kr-conv", "--target", "2.35", "--reason",
               LONG_REASON).code == 0
    project(home)
    return home


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    result = okr(home, *args, env=env)
    assert result.crash is None and result.code == 0, str(result)
    return result


def test_audit_trail_piped_to_grep_gets_whole_rows(home: Path) -> None:
    """`okr audit trail KR | grep …` got `2026-12-0…` and reasons wrapped at 80 columns."""
    out = ok(home, "audit", "trail", "kr-conv").stdout
    header, *rows = out.splitlines()
    assert header.split("\t") == ["pos", "recorded", "effective", "actor", "event", "changes",
                                  "reason"]
    assert all(len(r.split("\t")) == 7 for r in rows)
    (hit,) = [r for r in rows if "market slowed" in r]  # one line holds the whole row
    cells = hit.split("\t")
    assert cells[6] == LONG_REASON and cells[4] == "KeyResultRevised"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d "
                        r"\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", cells[1])
    assert "…" not in out


def _instants_out(line: str) -> str:
    # an instant in the person's zone, and the same in UTC beside it
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)", "<instant>", line)


@pytest.mark.parametrize("args", TABLE_VIEWS, ids=lambda a: "-".join(a)[:30])
def test_every_table_view_takes_every_format(home: Path, args: list[str]) -> None:
    tsv = ok(home, *args, "--format", "tsv").stdout
    piped = ok(home, *args).stdout
    # piped: tsv (a review's header says "as of" now, to the second: two runs may differ)
    assert _instants_out(piped.splitlines()[0]) == _instants_out(tsv.splitlines()[0])
    assert "┃" not in tsv and "\t" in tsv
    table = ok(home, *args, "--format", "table").stdout
    assert "┃" in table or "└──" in table  # drawn for a person on request
    as_format = json.loads(ok(home, *args, "--format", "json").stdout)
    as_flag = json.loads(ok(home, *args, "--json").stdout)
    assert type(as_format) is type(as_flag) and len(as_format) == len(as_flag)
    if "review" not in args:  # a review's csv is a file of its own (--out)
        rows = list(csv.reader(io.StringIO(ok(home, *args, "--format", "csv").stdout)))
        blocks: list[list[list[str]]] = [[]]  # tables, after their '# title' lines
        for r in rows:
            if r and r[0].startswith("# "):
                blocks.append([])
            else:
                blocks[-1].append(r)
        assert all(len({len(r) for r in b}) == 1 for b in blocks if b), rows
    wrong = okr(home, *args, "--format", "yaml")
    assert wrong.code == 2 and wrong.stderr.startswith("okr: error: --format 'yaml' is not")


def test_no_color_is_honoured(home: Path) -> None:
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")
    forced = ok(home, "kpi", "list", "--format", "table", env={"FORCE_COLOR": "1"}).stdout
    assert colour.search(forced)  # the check can see colour
    for view in (["kpi", "list"], ["scorecard"], ["review", "2026-Q4"]):
        plain = ok(home, *view, "--format", "table",
                   env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
        assert not colour.search(plain), view


def test_out_dash_means_stdout(home: Path, tmp_path: Path) -> None:
    md = ok(home, "review", "2026-Q4", "--format", "md", "--out", "-").stdout
    assert md.startswith("# Review of 2026-Q4") and "written to" not in md
    filed = ok(home, "review", "2026-Q4", "--format", "md", "--out", str(tmp_path / "r.md"))
    assert "written to" in filed.stdout
    assert (tmp_path / "r.md").read_text(encoding="utf-8").split("\n", 1)[0] == md.split(
        "\n", 1)[0]


def test_a_tree_piped_is_not_wrapped(home: Path) -> None:
    """The objective's line (over 80 columns) stays one line."""
    out = ok(home, "scorecard", "--format", "table").stdout
    (line,) = [x for x in out.splitlines() if "rev-2x" in x]
    assert len(line) > 80 and "Double revenue by year's end" in line and "expected" in line
