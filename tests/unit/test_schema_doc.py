"""docs/schema.md against the projection it describes: every macro it writes out as a call
takes the arguments the page gives it, and the page's scalar calls run."""

import re
from pathlib import Path

import pytest

from okr.projections.store import Projection

ROOT = Path(__file__).resolve().parents[2]
CALL = re.compile(r"`([a-z_]+)\(([^`]*)\)`")


@pytest.fixture(scope="module")
def macros(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], str]]:
    with Projection(tmp_path_factory.mktemp("schema") / "p.duckdb") as proj:
        rows = proj.con.execute(
            "SELECT function_name, parameters, function_type FROM duckdb_functions() "
            "WHERE function_type IN ('macro', 'table_macro') AND NOT internal").fetchall()
    return {name: (list(params), kind) for name, params, kind in rows}


def documented_calls() -> list[tuple[str, list[str], list[str]]]:
    """Each macro call the page writes out: its name, positional and named arguments."""
    calls = []
    for name, args in CALL.findall((ROOT / "docs/schema.md").read_text(encoding="utf-8")):
        named = re.findall(r"([a-z_]+) :=", args)
        positional = [a.strip() for a in re.sub(r"\[.*\]", "", args).split(",") if a.strip()]
        calls.append((name, positional, named))
    return calls


def test_every_macro_schema_md_writes_out_takes_the_arguments_it_gives(macros: dict) -> None:
    calls = [c for c in documented_calls() if c[0] in macros]
    assert {"kr_progress_of", "scorecard_at", "okr_in_force"} <= {c[0] for c in calls}
    for name, positional, named in calls:
        params, _ = macros[name]
        assert len(positional) + len(named) == len(params), (name, positional, named, params)
        assert named == params[len(positional):], (name, named, params)


def test_the_scalar_examples_of_schema_md_run_and_give_what_it_says(tmp_path: Path) -> None:
    """Calls written with values (not parameter names) are examples: they run."""
    examples = [(name, args) for name, args in CALL.findall(
                    (ROOT / "docs/schema.md").read_text(encoding="utf-8"))
                if re.search(r"['0-9]", args) and ":=" not in args]
    with Projection(tmp_path / "p.duckdb") as proj:
        got = {f"{name}({' '.join(args.split())})":
               proj.con.execute(f"SELECT {name}({args})").fetchone()[0]  # type: ignore[index]
               for name, args in examples}
    assert got["kr_progress_of('increase', 0, 10, NULL, NULL, 5)"] == 0.5
