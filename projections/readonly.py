"""Untrusted SQL on the projection (`okr sql`): read-only decided by DuckDB's own parser, then
run with a row cap and a time limit on a locked-down connection.

Three lines of defence, each tested alone:
1. DuckDB's parser (`extract_statements`) must see exactly one statement, of type SELECT
   (DESCRIBE, SUMMARIZE, SHOW, FROM-first, VALUES and WITH are SELECTs to it). Its tokenizer,
   not a keyword scan, finds function names and paths outside string literals and comments,
   however they are quoted (`$$…$$`, `E'…'`, `"read_csv"`).
2. The connection is read-only, external access off, no temporary directory, no extension
   loading, configuration locked (`Projection.lock_down`).
3. The query runs as a relation with LIMIT cap+1 (the result never holds more rows than
   shown) on a worker thread; past the time limit, or on Ctrl-C, the connection is
   interrupted.
"""

import re
import threading
from dataclasses import dataclass
from typing import Any

import duckdb

from okr.projections.errors import QueryFailed


class QueryRefused(ValueError):
    """The SQL is not a single read of the projection; the message says why, in one line."""


# Table and scalar functions that read files, the network or the environment, or run SQL
# given as text. DuckDB's lock-down refuses them too; this names them first.
_OUTSIDE = re.compile(
    r"read_\w+|\w+_scan|glob|sniff_csv|parquet_\w+|query|query_table|getenv|"
    r"load_extension|iceberg_\w+|delta_\w+|\w+_metadata", re.IGNORECASE)

SELECT_WORDS = "SELECT, WITH, FROM, VALUES, DESCRIBE, SUMMARIZE or SHOW"


def _tokens(sql: str) -> list[tuple[str, str]]:
    """(kind, text) of every token, comments left out, as DuckDB's tokenizer splits them."""
    spans = duckdb.tokenize(sql)
    out = []
    for i, (start, kind) in enumerate(spans):
        end = spans[i + 1][0] if i + 1 < len(spans) else len(sql)
        name = str(kind).rsplit(".", 1)[-1].lower()
        if name != "comment":
            out.append((name, sql[start:end].strip()))
    return out


def check_read_only(sql: str) -> str:
    """The statement, if it is a single read of the projection's own tables; else
    QueryRefused with a one-line reason."""
    text = sql.strip()
    try:
        tokens = _tokens(text)
        statements = duckdb.extract_statements(text) if tokens else []
    except duckdb.Error as exc:
        raise QueryRefused(f"SQL: {_first_line(exc)}") from None
    if not statements or all(t == ("operator", ";") for t in tokens):
        raise QueryRefused("no SQL given")
    if len(statements) > 1:
        raise QueryRefused("okr sql runs one statement at a time")
    kind = str(statements[0].type).rsplit(".", 1)[-1]
    if kind != "SELECT":
        raise QueryRefused(f"okr sql is read-only: {kind} statements are not allowed; "
                           f"use {SELECT_WORDS}")
    for i, (tkind, word) in enumerate(tokens):
        bare = word.strip('"')
        follows = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if tkind in ("identifier", "keyword") and follows.startswith("(") \
                and _OUTSIDE.fullmatch(bare):
            raise QueryRefused(f"okr sql is read-only, on the projection only: {bare!r} is not "
                               "allowed")
        if tkind == "string_const" and i and tokens[i - 1][1].upper() in ("FROM", "JOIN"):
            raise QueryRefused(f"okr sql is read-only, on the projection only: a file "
                               f"({word}) is not a table")
    return text.rstrip(";").rstrip()


@dataclass(frozen=True)
class Answer:
    """What a query returned: column names, at most `limit` rows, and whether it was cut."""

    names: list[str]
    rows: list[tuple[Any, ...]]
    cut: bool


def run_capped(con: duckdb.DuckDBPyConnection, sql: str, limit: int,
               timeout: float) -> Answer:
    """Run a checked read (see check_read_only) with at most `limit` rows kept and at most
    `timeout` seconds; QueryFailed when DuckDB refuses it or time runs out. A
    KeyboardInterrupt interrupts the connection before it propagates."""
    box: dict[str, Any] = {}
    done = threading.Event()  # waited on instead of join(): a join cut short by Ctrl-C
    # marks a running thread as stopped on Python 3.11 (the bpo-45274 clean-up)

    def work() -> None:
        try:
            rel = con.sql(sql)
            if rel is None:  # not a query after all: nothing to show
                box["answer"] = Answer([], [], False)
                return
            rows = rel.limit(limit + 1).fetchall()
            box["answer"] = Answer(list(rel.columns), rows[:limit], len(rows) > limit)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="okr-sql", daemon=True).start()
    try:
        finished = done.wait(timeout)
    except BaseException:  # Ctrl-C: stop DuckDB before the interrupt goes on
        _stop(con, done)
        raise
    if not finished:
        _stop(con, done)
        raise QueryFailed(f"the query ran longer than {timeout:g} s and was stopped "
                          "(--timeout SECONDS allows more)")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, duckdb.Error):
            raise QueryFailed(f"SQL: {_first_line(exc)}") from None
        raise exc
    answer: Answer = box["answer"]
    return answer


def _stop(con: duckdb.DuckDBPyConnection, done: threading.Event) -> None:
    """Interrupt until the query is over: an interrupt that comes before DuckDB starts
    executing (the relation is still being bound) is not kept, so it is repeated."""
    for _ in range(STOP_TRIES):
        con.interrupt()
        if done.wait(0.1):
            return


STOP_TRIES = 600  # × 0.1 s


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
