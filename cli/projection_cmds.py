"""Reads from the DuckDB projection: `okr consume`, `okr scorecard`, `okr history`,
`okr export parquet`, `okr sql`."""

import base64
import math
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from okr.cli.commands import Typer
from okr.cli.context import state, want_json
from okr.cli.errors import UserError
from okr.cli.output import (
    NONE,
    amount,
    datum,
    emit,
    format_option,
    print_table,
    table_format,
)
from okr.domain.numbers import figure

JSON = typer.Option(False, "--json", help="Print JSON.")
export_app = Typer(help="Export the projection for analysts.", no_args_is_help=True)


def consume_cmd(ctx: typer.Context,
                once: bool = typer.Option(False, "--once", help="Catch up, then exit."),
                as_json: bool = JSON) -> None:
    """Project okr.ledger into DuckDB (follows new events unless --once)."""
    from rich.console import Console

    from okr.cli.reads import catch_up

    st = state(ctx)
    st.check_home_when_reachable()  # a data directory serving another ledger: refused
    if not once:
        from okr.cli.services import run_services
        run_services(st, ["consume"], want_json(ctx, as_json))
        return
    err = Console(stderr=True)
    quiet = want_json(ctx, as_json) or not err.is_terminal
    show = None if quiet else (lambda p: err.print(
        f"\rread {p.read} records, {p.stored} applied so far", end=""))
    progress = catch_up(st, publish_first=False, publish=True, on_progress=show)
    if progress is None:
        raise UserError("a projection consumer is already running (okr consume / okr up); "
                        "it keeps the projection current")
    data = {**progress.as_dict(), "duckdb": str(st.settings.duckdb_file)}
    emit(data, want_json(ctx, as_json),
         f"{'' if quiet else chr(10)}{progress.said()}; snapshot {st.settings.duckdb_file}")


def scorecard_cmd(ctx: typer.Context,
                  cycle: str | None = typer.Option(None, "--cycle", help="Only this cycle."),
                  team: str | None = typer.Option(None, "--team"),
                  owner: str | None = typer.Option(None, "--owner"),
                  as_of: str | None = typer.Option(None, "--as-of", help="Valid time (local; "
                                                   "default now). A date alone means the END of "
                                                   "that day."),
                  known_at: str | None = typer.Option(None, "--known-at", help="What the "
                                                      "ledger knew then (default now). A date "
                                                      "alone means the END of that day."),
                  fmt: str | None = format_option(" (tsv and csv: one row per objective "
                                                  "and key result)"),
                  as_json: bool = JSON) -> None:
    """The scorecard now or at any past instant, as a tree of aligned objectives.

    Shows each key result's progress bar, score, expected vs actual, status, confidence and
    linked KPI health; each parent objective's roll-up over the objectives aligned below it;
    then team and department summaries (docs/scoring.md)."""
    from okr.cli.answers import in_view, known_cycle_key
    from okr.cli.reads import open_projection
    from okr.cli.scorecard import print_scorecard, print_summaries, scorecard_rows
    from okr.cli.times import say, view_instants
    from okr.domain.rollup import children_of, summaries

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    a, k = view_instants(as_of, known_at, st.settings.timezone)
    with open_projection(st) as proj:
        # an unknown --cycle is refused as `okr list` and `okr review` refuse it (a past
        # view's refusal naming its instants); an unknown team or owner (free text on
        # objectives) is an empty scorecard
        cards = in_view(lambda: proj.scorecard_at(
            a, k, cycle=known_cycle_key(proj, cycle or None, a, k), team=team or None,
            owner=owner or None), a, k, st.settings.timezone, past=bool(as_of or known_at))
        # filtered, a department's roll-up still reads its whole subtree: so does its summary
        tree = proj.alignment_at(a, k) if cycle or team or owner else None
    sums = summaries(cards, tree)
    data = {"as_of": a, "known_at": k, "objectives": cards, "summaries": sums}
    zone = st.settings.timezone
    if fmt in ("tsv", "csv"):
        print_table(*scorecard_rows(cards), fmt)
        return

    def human() -> None:
        print_scorecard(cards, say(a, zone), say(k, zone), children_of(tree or []))
        if cards:
            print_summaries(sums, fmt)
    emit(data, fmt == "json", human)


def history_cmd(ctx: typer.Context, key: str = typer.Argument(..., help="Key result key."),
                fmt: str | None = format_option(" (csv: one table, a record column saying "
                                                "revision or check-in)"),
                as_json: bool = JSON) -> None:
    """The check-ins and revisions of one key result over time."""
    from okr.cli.reads import open_projection
    from okr.cli.times import say
    from okr.domain.actors import acting

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    with open_projection(st) as proj:
        revisions, check_ins = proj.key_result_history(key)
    if not revisions:
        raise UserError(f"key result {key!r} not found in the projection")
    data = {"key": key, "revisions": revisions, "check_ins": check_ins}

    if fmt == "csv":  # one table: a spreadsheet imports one sheet a file
        print_table(*history_csv(revisions, check_ins), fmt)
        return

    def human() -> None:
        zone = st.settings.timezone
        print_table(["at", "change", "target", "weight", "by", "reason"],
                    [[say(r["at"], zone), r["change"], amount(r["target"]), figure(r['weight']),
                      acting(r["actor"], r["on_behalf_of"]), r["reason"] or ""]
                     for r in revisions],
                    fmt, title=f"Revisions of {key}", heading=True)
        print_table(["effective", "recorded", "value", "confidence", "by", "source", "note"],
                    [[say(r["effective_at"], zone),
                      say(r["recorded_at"], zone)
                      + (" (late)" if (r["recorded_at"] - r["effective_at"]).days >= 1 else ""),
                      amount(r["value"]),
                      NONE if r["confidence"] is None else f"{r['confidence']:.2f}",
                      acting(r["actor"], r["on_behalf_of"]), r["source"] or NONE,
                      r["note"] or ""] for r in check_ins],
                    fmt, title=f"Check-ins of {key}", heading=True)
    emit(data, fmt == "json", human)


HISTORY_CSV_COLUMNS = ["record", "effective", "recorded", "change", "target", "target_high",
                       "weight", "value", "confidence", "by", "source", "reason", "note"]


def history_csv(revisions: list[dict[str, Any]], check_ins: list[dict[str, Any]]
                ) -> tuple[list[str], list[list[Any]]]:
    """`okr history --format csv`: the revisions, then the check-ins, as ONE table told apart
    by its `record` column ('revision', 'check-in'), the fields one kind lacks empty; times in
    ISO 8601 UTC, numbers as numbers (`figure`), confidence a 0–1 fraction."""
    from okr.domain.actors import acting

    def num(x: float | None) -> str:
        return "" if x is None else figure(x)
    rows: list[list[Any]] = [
        ["revision", datum(r["at"]), "", r["change"], num(r["target"]),
         num(r.get("target_high")), num(r["weight"]), "", "",
         acting(r["actor"], r["on_behalf_of"]), "", r["reason"] or "", ""] for r in revisions]
    rows += [["check-in", datum(c["effective_at"]), datum(c["recorded_at"]), "", "", "", "",
              num(c["value"]), num(c["confidence"]), acting(c["actor"], c["on_behalf_of"]),
              c["source"] or "", "", c["note"] or ""] for c in check_ins]
    return HISTORY_CSV_COLUMNS, rows


@export_app.command("parquet")
def export_parquet(ctx: typer.Context, out: Path = typer.Argument(..., help="Directory."),
                   as_json: bool = JSON) -> None:
    """Every projection table as Parquet but the consumer's bookkeeping (check-ins and versions
    partitioned by cycle), with the scorecard now and each key result's weekly scores
    (scorecard.parquet, kr_weekly.parquet)."""
    from okr.cli.output import check_out_dir, writing_out
    from okr.cli.reads import open_projection
    from okr.domain.base import utc_now
    from okr.files import new_folder
    check_out_dir(out, "OUT")  # before anything is read: an output path that cannot be one
    st = state(ctx)
    # A missing ledger refuses before anything is made; then all or nothing: the export is
    # written beside OUT and moved into it at the end (okr/files.py).
    with open_projection(st) as proj, writing_out(out, "OUT"), new_folder(out) as folder:
        counts = proj.export_parquet(folder, utc_now())
    emit({"out": str(out), "rows": counts}, want_json(ctx, as_json),
         f"wrote {sum(counts.values())} rows in {len(counts)} tables to {out}")


def check_read_only(sql: str) -> str:
    """The statement if DuckDB's parser sees a single read of the projection; else a one-line
    UserError (projections/readonly.py decides)."""
    from okr.projections.readonly import QueryRefused
    from okr.projections.readonly import check_read_only as check
    try:
        return check(sql)
    except QueryRefused as exc:
        raise UserError(str(exc)) from None


def plain(value: Any) -> Any:
    """A DuckDB value as JSON can carry it: DECIMAL as a number, DATE/TIME as ISO 8601, an
    INTERVAL in seconds, a BLOB in base64, NaN and infinities as null (JSON has none)."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.isoformat()  # aware ones print as UTC
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def sql_cmd(ctx: typer.Context, query: str = typer.Argument(..., help="A SELECT statement."),
            limit: int = typer.Option(10_000, "--limit", min=1, help="Rows to show at most "
                                      "(says so when it cuts)."),
            timeout: float = typer.Option(30.0, "--timeout", min=0.1, max=3600.0,
                                          help="Seconds before the query is stopped "
                                          "(at most an hour)."),
            fmt: str | None = format_option(),
            as_json: bool = JSON) -> None:
    """Run a read-only SQL query on the projection (tables and macros in docs/schema.md)."""
    from okr.cli.reads import open_projection
    from okr.projections.readonly import QueryFailed
    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    text = check_read_only(query)
    with open_projection(st) as proj:
        proj.lock_down()
        try:
            answer = proj.read_capped(text, limit, timeout)
        except QueryFailed as exc:
            raise UserError(str(exc)) from None
    names, rows = answer.names, answer.rows
    cut = (f"showing the first {limit:,} rows; there are more (--limit N shows more)"
           if answer.cut else None)
    if fmt == "json":
        data = [dict(zip(names, (plain(v) for v in r), strict=True)) for r in rows]
        emit(data, True)
    else:
        print_table(names, [["NULL" if v is None else datum(v) for v in r] for r in rows], fmt)
        if fmt == "table":
            print(f"{len(rows)} row{'s' * (len(rows) != 1)}")
    if cut:
        print(f"okr: {cut}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("consume")(consume_cmd)
    app.command("scorecard")(scorecard_cmd)
    app.command("history")(history_cmd)
    app.add_typer(export_app, name="export")
    app.command("sql")(sql_cmd)
