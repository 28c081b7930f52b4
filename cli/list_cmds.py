"""`okr list cycles|objectives|krs|initiatives|kpis`: browse what the ledger holds.

Read from the DuckDB projection like the scorecard (brought up to date first when no consumer
runs), at any (as_of, known_at): objectives and key results as `scorecard_at` scores them,
cycles, initiatives and KPIs from the version tables (projections/queries.py). KPIs print as
`okr kpi list` prints them (cli/kpis.py).
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import typer

from okr.cli.answers import (
    CYCLE_STATUSES,
    INITIATIVE_STATUSES,
    KR_STATUSES,
    OBJECTIVE_STATUSES,
    check_status,
    cycle_items,
    initiative_items,
    kpi_items,
    kr_items,
    objective_items,
)
from okr.cli.commands import Typer, choice
from okr.cli.context import State, state, want_json
from okr.cli.kpis import KPI_STATUSES
from okr.cli.kpis import STATUS_HELP as KPI_STATUS_HELP
from okr.cli.output import (
    NONE,
    amount,
    emit,
    format_option,
    print_table,
    table_format,
    target_amount,
)
from okr.cli.writes import JSON
from okr.domain.numbers import figure, percent

list_app = Typer(help="Browse cycles, objectives, key results, initiatives and KPIs "
                 "(filters, --as-of/--known-at, --format table|tsv|csv|json).",
                 no_args_is_help=True)

AS_OF = typer.Option(None, "--as-of", help="Valid time (local; default now). A date alone "
                     "means the END of that day.")
KNOWN_AT = typer.Option(None, "--known-at", help="What the ledger knew then (default now). A "
                        "date alone means the END of that day.")
CYCLE = typer.Option(None, "--cycle", "-c", help="Only this cycle's.")
TEAM = typer.Option(None, "--team", help="Only this team's.")
OWNER = typer.Option(None, "--owner", help="Only this owner's.")


def _status(words: tuple[str, ...], kind: str) -> Any:
    return choice(None, "--status", values=words, help=f"Only {kind} in this status.")


def _read(st: State, as_of: str | None, known_at: str | None,
          read: "Callable[[Any, datetime, datetime], Any]") -> tuple[datetime, datetime, Any]:
    """(as_of, known_at) as typed, and what `read(projection, as_of, known_at)` returns (a
    past view's refusal naming its instants)."""
    from okr.cli.answers import in_view
    from okr.cli.reads import open_projection
    from okr.cli.times import view_instants

    zone = st.settings.timezone
    a, k = view_instants(as_of, known_at, zone)
    with open_projection(st) as proj:
        return a, k, in_view(lambda: read(proj, a, k), a, k, zone,
                             past=bool(as_of or known_at))


def _emit(ctx: typer.Context, st: State, kind: str, a: datetime, k: datetime,
          items: list[dict[str, Any]], fmt: str, table: Callable[[], None]) -> None:
    from okr.cli.times import say

    zone = st.settings.timezone
    if fmt == "table" and not items:
        print(f"no {kind} as of {say(a, zone)} (known at {say(k, zone)})")
        return
    emit({"kind": kind, "as_of": a, "known_at": k, "items": items}, fmt == "json", table)


def _pct(x: float | None) -> str:
    return NONE if x is None else percent(x)


def _number(x: float | None) -> str:
    """A number in a CSV cell (`figure`: 12 significant digits; a 0–1 fraction stays one)."""
    return NONE if x is None else figure(x)


# ---- the commands -----------------------------------------------------------------------

@list_app.command("cycles")
def list_cycles(ctx: typer.Context,
                status: str | None = _status(CYCLE_STATUSES, "cycles"),
                as_of: str | None = AS_OF, known_at: str | None = KNOWN_AT,
                fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """Cycles: their days (in the zone each was added in), status and objectives."""
    from okr.cli.times import local_day

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    check_status("cycles", status)
    a, k, items = _read(st, as_of, known_at, lambda p, a, k: cycle_items(p, a, k, status))
    _emit(ctx, st, "cycles", a, k, items, fmt, lambda: print_table(
        ["cycle", "first day", "last day", "zone", "status", "objectives"],
        [[r["key"], local_day(r["start"], r["timezone"]),
          local_day(r["end"], r["timezone"], end=True),
          r["timezone"], r["status"], str(r["objectives"])] for r in items], fmt))


@list_app.command("objectives")
def list_objectives(ctx: typer.Context, cycle: str | None = CYCLE, team: str | None = TEAM,
                    owner: str | None = OWNER,
                    status: str | None = _status(OBJECTIVE_STATUSES, "objectives"),
                    as_of: str | None = AS_OF, known_at: str | None = KNOWN_AT,
                    fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """Objectives with their owner, team, type, status, score and, for one carried forward,
    the objective it was carried from."""
    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    check_status("objectives", status)
    a, k, items = _read(st, as_of, known_at, lambda p, a, k: objective_items(
        p, a, k, cycle, team, owner, status))
    score = _number if fmt == "csv" else _pct
    _emit(ctx, st, "objectives", a, k, items, fmt, lambda: print_table(
        ["objective", "title", "cycle", "owner", "team", "type", "status", "key results",
         "score", "track", "carried from"],
        [[r["key"], r["title"], r["cycle"], r["owner"], r["team"], r["okr_type"], r["status"],
          str(r["key_results"]), score(r["score"]), r["track"] or NONE,
          r["carried_from"] or ""] for r in items], fmt))


@list_app.command("krs")
def list_krs(ctx: typer.Context, cycle: str | None = CYCLE,
             team: str | None = typer.Option(None, "--team", help="Only key results of this "
                                             "team's objectives."),
             owner: str | None = typer.Option(None, "--owner", help="Only key results of this "
                                              "owner's objectives."),
             status: str | None = _status(KR_STATUSES, "key results"),
             as_of: str | None = AS_OF, known_at: str | None = KNOWN_AT,
             fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """Key results (not removed ones) with their value, progress and status against the
    progress expected by then, and the key result each carried one was carried from."""
    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    check_status("key results", status)
    a, k, items = _read(st, as_of, known_at, lambda p, a, k: kr_items(
        p, a, k, cycle, team, owner, status))
    if fmt == "csv":  # plain data: numbers as numbers, the unit in a column of its own
        _emit(ctx, st, "key results", a, k, items, fmt, lambda: print_table(
            ["key result", "title", "objective", "cycle", "kind", "start", "target",
             "target_high", "tolerance", "weight", "unit", "value", "progress", "expected",
             "status", "carried from"],
            [[r["key"], r["title"], r["objective"], r["cycle"], r["kind"],
              _number(r.get("start")), _number(r["target"]), _number(r.get("target_high")),
              _number(r.get("tolerance")), _number(r.get("weight")), r["unit"],
              _number(r["value"]), _number(r["progress"]), _number(r["expected"]),
              r["status"], r["carried_from"] or ""] for r in items], fmt))
        return
    _emit(ctx, st, "key results", a, k, items, fmt, lambda: print_table(
        ["key result", "title", "objective", "cycle", "kind", "target", "value", "progress",
         "expected", "status", "carried from"],
        [[r["key"], r["title"], r["objective"], r["cycle"], r["kind"],
          target_amount(r["target"], r.get("target_high"), r["unit"]),
          amount(r["value"], r["unit"]), _pct(r["progress"]),
          _pct(r["expected"]), r["status"], r["carried_from"] or ""] for r in items], fmt))


@list_app.command("initiatives")
def list_initiatives(ctx: typer.Context, cycle: str | None = CYCLE,
                     team: str | None = typer.Option(None, "--team", help="Only initiatives "
                                                     "under this team's objectives."),
                     owner: str | None = OWNER,
                     status: str | None = _status(INITIATIVE_STATUSES, "initiatives"),
                     as_of: str | None = AS_OF, known_at: str | None = KNOWN_AT,
                     fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """Initiatives with the key result they move, its cycle and team, owner and status."""
    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    check_status("initiatives", status)
    a, k, items = _read(st, as_of, known_at, lambda p, a, k: initiative_items(
        p, a, k, cycle, team, owner, status))
    _emit(ctx, st, "initiatives", a, k, items, fmt, lambda: print_table(
        ["initiative", "title", "key result", "cycle", "team", "owner", "status"],
        [[r["key"], r["title"], r["key_result"], r["cycle"] or NONE, r["team"] or "",
          r["owner"], r["status"]] for r in items], fmt))


@list_app.command("kpis")
def list_kpis(ctx: typer.Context,
              all_: bool = typer.Option(False, "--all", help="Include retired KPIs."),
              owner: str | None = OWNER,
              status: str | None = choice(None, "--status", values=KPI_STATUSES,
                                          help=KPI_STATUS_HELP),
              as_of: str | None = AS_OF, known_at: str | None = KNOWN_AT,
              fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """KPIs with their latest value, trend, health and staleness (as `okr kpi list`)."""
    from okr.cli.kpis import kpi_table

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    check_status("kpis", status)
    a, k, items = _read(st, as_of, known_at, lambda p, a, k: kpi_items(p, a, k, all_, owner,
                                                                       status))
    _emit(ctx, st, "kpis", a, k, items, fmt, lambda: kpi_table(st, items, fmt))


def register(app: typer.Typer) -> None:
    """Add `okr list …`."""
    app.add_typer(list_app, name="list")
