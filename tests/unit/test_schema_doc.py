"""docs/schema.md against the projection it describes: every macro it writes out as a call
takes the arguments the page gives it, and the page's scalar calls run."""

import re
from pathlib import Path

import pytest

from okr.projections.store import ConsumedRecord, Projection

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


# Consumer bookkeeping: where the projection consumer is in one incarnation of okr.ledger, and
# which code set the file up. Nothing an analyst queries; the export leaves them out.
BOOKKEEPING = {"consumer_offsets", "consumer_dead_letters", "projection_meta"}


def test_schema_md_lists_every_table_of_the_file(tmp_path: Path) -> None:
    text = (ROOT / "docs/schema.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    with Projection(tmp_path / "p.duckdb") as proj:
        tables = {t for (t,) in proj.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND NOT temporary").fetchall()}
    assert tables - listed == set()


def test_the_parquet_export_writes_every_table_but_the_bookkeeping_schema_md_names(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from okr.domain.base import utc_now
    from okr.ledger.app import OkrLedger
    from okr.record.envelope import chained_records
    from okr.settings import load_settings
    from tests.fuzzing import LIVE_CYCLE, live_window

    app = OkrLedger(load_settings({"home": tmp_path / "home"}, environ={}))
    now = utc_now()
    cycle = app.add_cycle(LIVE_CYCLE, *live_window(now))
    app.add_objective("o1", "Grow", cycle=cycle.key, owner="ana")
    app.add_kpi("nps", "NPS", green=40, red=20)
    app.add_key_result("k1", "Deals", objective="o1", start=0, target=40)
    app.add_initiative("i1", "Call", key_result="k1")
    app.check_in("k1", 12, at=cycle.start + timedelta(days=1))
    app.record_reading("nps", 45.0, at=now - timedelta(hours=1))
    # A quarter that is over, read in its last week: kpi_readings_at_ends has a row.
    app.add_cycle("2026-Q3", timezone="UTC")
    app.record_reading("nps", 41.0, at=datetime(2026, 9, 28, tzinfo=UTC))
    app.add_user("ana", "member", team="sales")
    records = list(chained_records(app))
    app.close()
    with Projection(tmp_path / "p.duckdb") as proj:
        proj.apply("t", [ConsumedRecord(r.value, 0, i) for i, r in enumerate(records)],
                   {0: len(records)})
        tables = {t for (t,) in proj.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND NOT temporary").fetchall()}
        counts = proj.export_parquet(tmp_path / "out", now)
        empty = {t for t in tables - BOOKKEEPING
                 if proj.con.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)}
    written = {p.name.removesuffix(".parquet") for p in (tmp_path / "out").iterdir()}
    assert empty == set()  # every exported table has rows, so each is really written
    assert tables >= BOOKKEEPING
    assert written == set(counts) == tables - BOOKKEEPING | {"scorecard", "kr_weekly"}
    section = (ROOT / "docs/schema.md").read_text(encoding="utf-8").split("## Parquet export")[1]
    section = section.split("\n## ")[0]
    assert all(f"`{t}`" in section for t in BOOKKEEPING), "schema.md names what is left out"
