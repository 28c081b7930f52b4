"""Projection evidence: recompute the DuckDB tables' content from the log and name the first
row that differs from a projection file (`okr audit verify --projection`).

Someone who can write okr.duckdb but not the log can change what scorecards and histories
show; the log (hash-chained, checked by verify) is the truth. The tables are rebuilt in memory
from the log's records with the consumer's own loading code, then compared table by table
with the file, as multisets of rows: a row the file has and the log does not make is named
first (an edit or an insert), then one the log makes and the file lacks (a deletion).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from okr.projections import engine
from okr.projections.store import ConsumedRecord, Projection, ProjectionLocked

# Columns that depend on the topic's incarnation (a republish gives other offsets), and tables
# that hold the consumer's bookkeeping rather than content.
RUN_COLUMNS = ("kafka_partition", "kafka_offset")
BOOKKEEPING = ("consumer_offsets", "consumer_dead_letters", "projection_meta")


@dataclass(frozen=True)
class Difference:
    """The first row of a table that differs between the file and the log's content."""

    table: str
    row: dict[str, Any]
    problem: str  # "not in the log" (edited or inserted) | "missing" (deleted or edited)

    def line(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.row.items() if v is not None)
        return f"table {self.table}: row {self.problem}: {shown}"[:600]


def recompute(records: Sequence[ConsumedRecord]) -> Projection:
    """The projection the log makes, in memory (the caller gives the log's valid records)."""
    fresh = Projection(":memory:")
    fresh.apply("evidence", list(records), {})  # the consumer's code: first copy wins
    return fresh


def first_difference(path: Path, fresh: Projection) -> Difference | None:
    """The first row that differs between the projection file and the recomputed one."""
    con = fresh.con
    try:
        con.execute(f"ATTACH '{_quote(path)}' AS claimed (READ_ONLY)")
    except engine.IOException as exc:
        raise ProjectionLocked(str(exc).splitlines()[0]) from None
    try:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory' AND "
            "schema_name = 'main' ORDER BY table_name").fetchall() if t not in BOOKKEEPING]
        for table in tables:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'memory' AND "
                "table_name = ? ORDER BY column_index", [table]).fetchall()
                if c not in RUN_COLUMNS]
            picked = ", ".join(f'"{c}"' for c in cols)
            for problem, a, b in (("not in the log", "claimed", "memory"),
                                  ("missing", "memory", "claimed")):
                try:
                    row = con.execute(
                        f"SELECT {picked} FROM {a}.main.{table} EXCEPT ALL "
                        f"SELECT {picked} FROM {b}.main.{table} ORDER BY ALL LIMIT 1").fetchone()
                except engine.CatalogException:  # a table or column dropped from the file
                    return Difference(table, {}, "missing (the table or a column is gone)")
                if row is not None:
                    return Difference(table, dict(zip(cols, row, strict=True)), problem)
        return None
    finally:
        con.execute("DETACH claimed")


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
