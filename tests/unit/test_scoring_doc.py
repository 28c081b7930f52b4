"""docs/scoring.md's worked examples are a test: every row of its tables, checked against the
Python rules (domain/scoring.py) and the DuckDB macros (projections/macros.sql)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from okr.domain import scoring
from okr.projections.store import Projection

DOC = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"


def table(header: str) -> list[dict[str, str]]:
    """The rows of the doc's table whose header line starts with `header`."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    names = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(names, [c.strip() for c in line.strip("|").split("|")],
                             strict=True)))
    return rows


def num(text: str) -> float | None:
    return None if text == "" else float(text)


PROGRESS = table("| kind | start | target |")
STATUS = table("| actual | expected | status |")


def test_the_doc_has_examples_of_every_kind_and_status() -> None:
    assert {r["kind"] for r in PROGRESS} == {"increase", "decrease", "milestone", "stay-above",
                                             "stay-below", "range"}
    assert {r["status"] for r in STATUS} == {"on-track", "at-risk", "off-track"}
    assert len(PROGRESS) >= 19 and len(STATUS) >= 8


@pytest.fixture(scope="module")
def sql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Projection]:
    proj = Projection(tmp_path_factory.mktemp("doc") / "p.duckdb")
    yield proj
    proj.close()


@pytest.mark.parametrize("row", PROGRESS, ids=lambda r: f"{r['kind']}-{r['value']}")
def test_each_worked_example_scores_as_the_doc_says(row: dict[str, str],
                                                    sql: Projection) -> None:
    args = (row["kind"], num(row["start"]), num(row["target"]), num(row["high"]),
            num(row["tolerance"]), num(row["value"]))
    want = float(row["progress"])
    assert scoring.progress(*args) == pytest.approx(want, abs=1e-12)  # type: ignore[arg-type]
    (got,) = sql.con.execute("SELECT kr_progress_of(?, ?::DOUBLE, ?::DOUBLE, ?::DOUBLE, "
                             "?::DOUBLE, ?::DOUBLE)", list(args)).fetchone()  # type: ignore[misc]
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("row", STATUS, ids=lambda r: f"{r['actual']}-{r['expected']}")
def test_each_status_example_is_as_the_doc_says(row: dict[str, str], sql: Projection) -> None:
    actual, expected = float(row["actual"]), float(row["expected"])
    assert scoring.status(actual, expected) == row["status"]
    (got,) = sql.con.execute("SELECT okr_status(?::DOUBLE, ?::DOUBLE)",
                             [actual, expected]).fetchone()  # type: ignore[misc]
    assert got == row["status"]
