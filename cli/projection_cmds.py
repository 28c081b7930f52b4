"""Reads from the DuckDB projection: `okr consume`, `okr scorecard`, `okr history`,
`okr export parquet`, `okr sql`."""

import base64
import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.output import amount, emit

JSON = typer.Option(False, "--json", help="Print JSON.")
export_app = typer.Typer(help="Export the projection for analysts.", no_args_is_help=True)


def consume_cmd(ctx: typer.Context,
                once: bool = typer.Option(False, "--once", help="Catch up, then exit."),
                as_json: bool = JSON) -> None:
    """Project okr.ledger into DuckDB (follows new events unless --once)."""
    from rich.console import Console

    from okr.cli.reads import catch_up

    st = state(ctx)
    if not once:
        from okr.cli.services import run_services
        run_services(st, ["consume"], want_json(ctx, as_json))
        return
    err = Console(stderr=True)
    quiet = want_json(ctx, as_json) or not err.is_terminal
    show = None if quiet else (lambda p: err.print(
        f"\rprojected {p.read} records ({p.stored} new events)", end=""))
    progress = catch_up(st, publish_first=False, publish=True, on_progress=show)
    if progress is None:
        raise UserError("a projection consumer is already running (okr consume / okr up); "
                        "it keeps the projection current")
    data = {**progress.as_dict(), "duckdb": str(st.settings.duckdb_file)}
    emit(data, want_json(ctx, as_json),
         f"{'' if quiet else chr(10)}read {progress.read} records: {progress.stored} new "
         f"events, {progress.duplicates} duplicates, {progress.dead_letters} dead letters; "
         f"snapshot {st.settings.duckdb_file}")


def _instants(st: State, as_of: str | None, known_at: str | None) -> tuple[Any, Any]:
    from okr.cli.times import parse_until
    from okr.domain.base import utc_now
    now = utc_now()
    zone = st.settings.timezone
    return (parse_until(as_of, zone) if as_of else now,
            parse_until(known_at, zone) if known_at else now)


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
                  as_json: bool = JSON) -> None:
    """The scorecard now or at any past instant, as a tree of aligned objectives.

    Shows each key result's progress bar, score, expected vs actual, status, confidence and
    linked KPI health."""
    from okr.cli.reads import open_projection
    from okr.cli.scorecard import print_scorecard
    from okr.cli.times import say
    from okr.domain.periods import canonical_cycle_key

    st = state(ctx)
    a, k = _instants(st, as_of, known_at)
    with open_projection(st) as proj:
        cards = proj.scorecard_at(a, k)
    if cycle:
        key = canonical_cycle_key(cycle)
        cards = [c for c in cards if c["cycle"] == key]
    if team:
        cards = [c for c in cards if c["team"] == team]
    if owner:
        cards = [c for c in cards if c["owner"] == owner]
    data = {"as_of": a, "known_at": k, "objectives": cards}
    zone = st.settings.timezone
    emit(data, want_json(ctx, as_json), lambda: print_scorecard(cards, say(a, zone),
                                                                say(k, zone)))


def history_cmd(ctx: typer.Context, key: str = typer.Argument(..., help="Key result key."),
                as_json: bool = JSON) -> None:
    """The check-ins and revisions of one key result over time."""
    from okr.cli.reads import open_projection
    from okr.cli.times import say

    st = state(ctx)
    with open_projection(st) as proj:
        revisions, check_ins = proj.key_result_history(key)
    if not revisions:
        raise UserError(f"key result {key!r} not found in the projection")
    data = {"key": key, "revisions": revisions, "check_ins": check_ins}

    def human() -> None:
        from rich.console import Console
        from rich.table import Table
        zone = st.settings.timezone
        t = Table(title=f"Revisions of {key}")
        for col in ("at", "change", "target", "weight", "by", "reason"):
            t.add_column(col)
        for r in revisions:
            t.add_row(say(r["at"], zone), r["change"], amount(r["target"]), f"{r['weight']:g}",
                      r["actor"], r["reason"] or "")
        c = Table(title=f"Check-ins of {key}")
        for col in ("effective", "recorded", "value", "confidence", "by", "source", "note"):
            c.add_column(col)
        for r in check_ins:
            late = r["recorded_at"] - r["effective_at"]
            c.add_row(say(r["effective_at"], zone),
                      say(r["recorded_at"], zone) + (" (late)" if late.days >= 1 else ""),
                      amount(r["value"]), "-" if r["confidence"] is None
                      else f"{r['confidence']:.2f}", r["actor"], r["source"] or "-",
                      r["note"] or "")
        Console().print(t, c)
    emit(data, want_json(ctx, as_json), human)


@export_app.command("parquet")
def export_parquet(ctx: typer.Context, out: Path = typer.Argument(..., help="Directory."),
                   as_json: bool = JSON) -> None:
    """Every projection table as Parquet (check-ins and versions partitioned by cycle)."""
    from okr.cli.reads import open_projection
    st = state(ctx)
    with open_projection(st) as proj:
        counts = proj.export_parquet(out)
    emit({"out": str(out), "rows": counts}, want_json(ctx, as_json),
         f"wrote {sum(counts.values())} rows in {len(counts)} tables to {out}")


# Statements that could write, reach outside the snapshot or load code. DuckDB itself is the
# real guard (read-only connection, external access off, configuration locked); this check
# gives a clear message first.
_FORBIDDEN = re.compile(
    r"\b(attach|detach|copy|install|load|export|import|pragma|set|reset|call|checkpoint|"
    r"create|insert|update|delete|drop|alter|vacuum|use|truncate|"
    r"read_\w+|glob|\w+_scan|sniff_csv|parquet_\w+|query_table|query|getenv)\b",
    re.IGNORECASE)


def check_read_only(sql: str) -> str:
    """Refuse anything but a single read of the projection's own tables."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise UserError("no SQL given")
    bare = re.sub(r"'(?:[^']|'')*'", "''", text)  # string literals may say anything
    if ";" in bare:
        raise UserError("okr sql runs one statement at a time")
    if not re.match(r"(?is)^\s*(select|with|from|values|describe|summarize|show|explain)\b",
                    bare):
        raise UserError("okr sql is read-only: only SELECT / WITH / FROM / DESCRIBE / SHOW")
    m = _FORBIDDEN.search(bare)
    if m:
        raise UserError(f"okr sql is read-only: {m.group(0).strip()!r} is not allowed")
    return text


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
            as_json: bool = JSON) -> None:
    """Run a read-only SQL query on the projection (tables and macros in docs/schema.md)."""
    from okr.cli.reads import open_projection
    st = state(ctx)
    text = check_read_only(query)
    with open_projection(st) as proj:
        proj.lock_down()
        try:
            names, rows = proj.query(text)
        except Exception as exc:  # DuckDB's own errors are the user's to read
            if type(exc).__module__.startswith(("duckdb", "_duckdb")):
                raise UserError(f"SQL: {str(exc).splitlines()[0]}") from None
            raise
    data = [dict(zip(names, (plain(v) for v in r), strict=True)) for r in rows]

    def human() -> None:
        from rich.console import Console
        from rich.table import Table
        t = Table(*names)
        for r in rows:
            t.add_row(*("NULL" if v is None else str(v) for v in r))
        Console().print(t)
        print(f"{len(rows)} row{'s' * (len(rows) != 1)}")
    emit(data, want_json(ctx, as_json), human)


def register(app: typer.Typer) -> None:
    app.command("consume")(consume_cmd)
    app.command("scorecard")(scorecard_cmd)
    app.command("history")(history_cmd)
    app.add_typer(export_app, name="export")
    app.command("sql")(sql_cmd)
