"""`okr import plan|checkins|readings FILE`: all-or-nothing bulk writes with a progress bar."""

import sys
from pathlib import Path
from typing import Any

import typer

from okr.cli.commands import Typer
from okr.cli.context import state, want_json
from okr.cli.output import emit, visible

import_app = Typer(help="Import a plan (YAML or CSV), check-ins or KPI readings.",
                   no_args_is_help=True)

SKIP = typer.Option(False, "--skip-invalid", help="Record the valid lines and report the rest "
                    "(default: write nothing unless every line is valid).")
JSON = typer.Option(False, "--json", help="Print JSON.")


def _run(ctx: typer.Context, kind: str, path: Path, skip_invalid: bool, as_json: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress

    from okr.cli.times import parse_when, said_briefly
    from okr.ledger.imports import import_csv

    st = state(ctx)
    zone = st.settings.timezone
    err = Console(stderr=True)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        # the progress line reads markup in its description: the file's name is data
        task = bar.add_task(f"checking {escape(visible(path.name))}", total=None)
        report = import_csv(st.ledger, path, kind, lambda t: parse_when(t, zone), skip_invalid,
                            lambda done, total: bar.update(task, completed=done, total=total),
                            lambda t: said_briefly(t, zone))
    data = report.as_dict()
    if report.written and st.settings.inline_publish:
        from okr.cli.publish import after_write_unless_relaying
        data["published"] = after_write_unless_relaying(st)
    emit(data, want_json(ctx, as_json), lambda: _say(report.as_dict(), path, data,
                                                     skip_invalid))
    if report.invalid and not skip_invalid:
        raise typer.Exit(2)


def _noted(path: Path, lines: list[dict[str, Any]], count: int, summary: str) -> None:
    """Warnings of recorded lines (what counts in no as-of view): each listed one on stderr
    as `FILE:LINE: warning: …`, then one line saying how many."""
    from okr.ledger.imports import MAX_NOTED

    for noted in lines:
        print(visible(f"{path}:{noted['line']}: warning: {noted['warning']}"), file=sys.stderr)
    if count:
        listed = (f" (the first {MAX_NOTED} are listed above)" if count > len(lines)
                  else "")
        print(visible(f"okr: warning: {summary}{listed}"), file=sys.stderr)


def _say(d: dict[str, Any], path: Path, data: dict[str, object], skip: bool) -> None:
    invalid = d["invalid"]
    assert isinstance(invalid, list)
    for bad in invalid:  # refusals: on stderr, the file's text echoed as data
        print(visible(f"{path}:{bad['line']}: {bad['error']}"), file=sys.stderr)
    n = d["before_in_force"]
    _noted(path, d["before_in_force_lines"], n,
           f"{n} reading was observed before its KPI was in force: it counts in no as-of view"
           if n == 1 else f"{n} readings were observed before their KPI was in force: they "
           "count in no as-of view")
    # With --skip-invalid the invalid lines are skipped, also when no other line is left.
    if d["written"] or (invalid and skip):
        print(visible(f"recorded {d['recorded']} of {d['rows']} lines from {path}"
              + (f" ({d['duplicates']} already recorded)" if d["duplicates"] else "")
              + (f"; skipped {len(invalid)} invalid" if invalid else "")))
    elif invalid:
        print(f"okr: error: {len(invalid)} of {d['rows']} lines are invalid; nothing was "
              "written (fix them, or use --skip-invalid)", file=sys.stderr)
    else:
        print(visible(f"nothing new to record from {path}"))
    if data.get("published"):
        print(data["published"])


@import_app.write("plan", starts_ledger=True)
def import_plan(ctx: typer.Context, path: Path = typer.Argument(..., help="YAML (sections "
                "cycles, kpis, objectives, key_results, initiatives, checkins, readings) or CSV "
                "(a 'section' column names each row's)."),
                as_json: bool = JSON) -> None:
    """Import a quarter's plan and results, all or nothing: recorded now with source
    import:FILE; plan items of a new cycle are in force from its start (or their `effective`
    date), check-ins and readings keep their times. Times without a zone are local, but a
    cycle's start and end are read in the cycle's zone (its `timezone`, else OKR_ORG_TZ), as
    `okr cycle add` reads them; a date alone is the start of that day. A file with no
    entries is refused (nothing to import)."""
    from okr.cli.times import parse_when, said_briefly
    from okr.ledger.plan_import import MAX_ERRORS
    from okr.ledger.plan_import import import_plan as run_import

    st = state(ctx)
    zone = st.settings.timezone
    report = run_import(st.ledger, path, lambda t, z=None: parse_when(t, z or zone),
                        lambda t: said_briefly(t, zone))
    data = report.as_dict()
    if report.written and st.settings.inline_publish:
        from okr.cli.publish import after_write_unless_relaying
        data["published"] = after_write_unless_relaying(st)

    def human() -> None:
        for bad in report.invalid:  # refusals: on stderr, the file's text echoed as data
            print(visible(f"{path}:{bad['line']}: {bad['error']}" if bad["line"] else
                          f"{path}: {bad['error']}"), file=sys.stderr)
        if report.invalid:
            stopped = (f" (it stopped looking after the first {MAX_ERRORS})"
                       if report.stopped else "")
            print(visible(f"okr: error: {len(report.invalid)} problem(s) in {path}{stopped}; "
                          "nothing was written"), file=sys.stderr)
        else:
            print(visible(f"imported {path}: " + ", ".join(
                f"{n} {k.replace('_', ' ')}" for k, n in report.counts.items())))
            n = report.before_in_force
            _noted(path, report.before_in_force_lines, n,
                   f"{n} {'line records what counts' if n == 1 else 'lines record what count'}"
                   " in no as-of view at its own time (readings before their KPI was in "
                   "force, key results before their objective or cycle)")
        if data.get("published"):
            print(data["published"])

    emit(data, want_json(ctx, as_json), human)
    if report.invalid:
        raise typer.Exit(2)


@import_app.write("checkins")
def import_checkins(ctx: typer.Context, path: Path = typer.Argument(..., help="CSV with "
                    "columns kr,value[,confidence,note,at]."),
                    skip_invalid: bool = SKIP, as_json: bool = JSON) -> None:
    """Import check-ins (times without a zone are local); a file with a header and no lines
    is refused (nothing to import)."""
    _run(ctx, "checkins", path, skip_invalid, as_json)


@import_app.write("readings")
def import_readings(ctx: typer.Context, path: Path = typer.Argument(..., help="CSV with "
                    "columns kpi,value[,at,source,id]."),
                    skip_invalid: bool = SKIP, as_json: bool = JSON) -> None:
    """Import KPI readings; an `id` already recorded is skipped, not doubled; a file with a
    header and no lines is refused (nothing to import). A reading observed before its KPI was
    in force is recorded with a warning naming its line (it counts in no as-of view)."""
    _run(ctx, "readings", path, skip_invalid, as_json)


def register(app: typer.Typer) -> None:
    """Add `okr import` to the root app."""
    app.add_typer(import_app, name="import")
