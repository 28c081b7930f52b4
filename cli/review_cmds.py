"""`okr review CYCLE` and `okr retro A B`: retrospectives from the ledger's history."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from okr.cli.commands import choice
from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.output import (
    check_out,
    emit,
    format_option,
    table_format,
    to_json,
    visible,
    write_out,
)
from okr.cli.reviews import cycle_facts, zoned_review

if TYPE_CHECKING:
    from rich.text import Text


FORMATS = ("table", "terminal", "tsv", "json", "csv", "md", "html")
JSON = typer.Option(False, "--json", help="Print JSON.")


def build(st: State, cycle: str, as_of: str | None, known_at: str | None) -> dict[str, Any]:
    """The review of a cycle at (as_of, known_at)."""
    return build_zoned(st, cycle, as_of, known_at)[0]


def build_zoned(st: State, cycle: str, as_of: str | None, known_at: str | None
                ) -> tuple[dict[str, Any], str]:
    """The review of a cycle at (as_of, known_at), and the zone its days are said in."""
    from okr.cli.answers import in_view
    from okr.cli.times import view_instants

    zone = st.settings.timezone
    a, k = view_instants(as_of, known_at, zone)
    return in_view(lambda: zoned_review(lambda key, a_, k_: cycle_facts(st, key, a_, k_),
                                        cycle, a, k),
                   a, k, zone, past=bool(as_of or known_at))


def review_cmd(ctx: typer.Context, cycle: str = typer.Argument(..., help="e.g. 2026-Q3"),
               as_of: str | None = typer.Option(None, "--as-of", help="Valid time (local; "
                                                "default now). A date alone means the END of "
                                                "that day."),
               known_at: str | None = typer.Option(None, "--known-at", help="Transaction "
                                                   "time: what the ledger knew then. A date alone "
                                                   "means the END of that day."),
               compare_known_at: str | None = typer.Option(
                   None, "--compare-known-at", help="List restatements between this moment's "
                   "knowledge and --known-at."),
               fmt: str | None = choice(
                   None, "--format", "-f", values=[f for f in FORMATS if f != "terminal"],
                   help="How to print it; csv, md and html need --out (default: table on a "
                   "terminal, tsv when piped)."),
               out: Path | None = typer.Option(None, "--out", "-o", help="Write to FILE "
                                               "('-': stdout)."),
               every: bool = typer.Option(False, "--all", help="List every back-dated "
                                          "check-in, one a line (default: one line per batch "
                                          "— one actor, source and day recorded — with its "
                                          "count; --json holds both)."),
               as_json: bool = JSON) -> None:
    """Teams, plan vs actual, revisions, KPI guardrails, confidence, check-in habits and
    back-dated check-ins: the same sections in every format (html: with charts)."""
    st = state(ctx)
    fmt = table_format("table" if fmt == "terminal" else fmt, want_json(ctx, as_json), FORMATS)
    if fmt in ("csv", "md", "html") and out is None:
        raise UserError(f"--format {fmt} needs --out FILE (or --out - for stdout)")
    check_out(out)  # before the review is read: a folder that does not exist is not made
    data, zone = build_zoned(st, cycle, as_of, known_at)
    if compare_known_at:
        from okr.cli.reviews import compare
        from okr.cli.times import view_instants
        _, k0 = view_instants(as_of, compare_known_at, st.settings.timezone)
        # as of the very instant this review is (without --as-of: its now, not a later one)
        compare(data, lambda: build(st, cycle, data["as_of"].isoformat(), compare_known_at),
                k0)
    if fmt in ("table", "tsv"):
        if out is not None:
            raise UserError("--out needs --format csv, md, html or json")
        _print_review(st, data, fmt, zone, every)
        return
    if write_out(to_json(data) + "\n" if fmt == "json"
                 else _report(data, fmt, zone, st.settings.timezone, every), out):
        assert out is not None
        print(visible(f"review of {data['cycle']} written to {out.resolve()}"))


def _report(data: dict[str, Any], fmt: str, zone: str, person: str | None,
            every: bool = False) -> str:
    """The review as a csv, md or html report (cli/report.py: imported only for these), its
    days in the cycle's zone, its instants in the person's."""
    from okr.cli import report

    if fmt == "csv":
        return report.to_csv(data)
    return {"md": report.to_markdown, "html": report.to_html}[fmt](data, zone, person, every)


def retro_cmd(ctx: typer.Context, cycle_a: str, cycle_b: str,
              team: str | None = typer.Option(None, help="Only this team's objectives."),
              fmt: str | None = format_option(" (csv: plain data, rates as 0–1 fractions)"),
              as_json: bool = JSON) -> None:
    """Compare two cycles: their days and whether each is over, scores, hit rates, revisions,
    calibration, and the change (percentage points for rates); a running cycle's figures are
    said so far."""
    from okr.cli.report import retro_of

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    data = retro_of(build_zoned(st, cycle_a, None, None), build_zoned(st, cycle_b, None, None),
                    team)
    emit(data, fmt == "json", lambda: _print_retro(data, fmt, st.settings.timezone))


# ---- terminal rendering ------------------------------------------------------------------

def _print_review(st: State, r: dict[str, Any], fmt: str, zone: str,
                  every: bool = False) -> None:
    """The review's sections (cli/report.sections, as every format has them) as tables and
    lists; its days are the cycle's, in its zone (named), its instants the person's, with UTC
    beside them."""
    from okr.cli.output import console, print_table, styled
    from okr.cli.report import header, headline, sections

    c = console()
    person = st.settings.timezone

    def say(line: "Text") -> None:  # piped (tsv): a '# ' line between the tables
        if fmt == "tsv":
            sys.stdout.write(f"# {line.plain}\n")
        else:
            c.print(line)

    say(styled((f"Review of {r['cycle']}", "bold"), f"  {header(r, zone, person)}"))
    say(styled(headline(r, zone)))
    for sec in sections(r, zone, person, every):
        if sec.columns and sec.rows:  # a table's intro under it: its title comes with it
            print_table(list(sec.columns), [list(row) for row in sec.rows], fmt,
                        title=sec.title, heading=True)
            if sec.intro:
                say(styled(f"  {sec.intro}"))
            continue
        say(styled((sec.title, "bold")))
        if sec.intro:
            say(styled(f"  {sec.intro}"))
        for line in sec.lines:
            say(styled(f"  {line.text}", *((f"  {f}", "bold red"
                                             if f.startswith("goalpost moved") else "yellow")
                                            for f in line.flags)))
        if not sec.lines and not sec.rows:
            say(styled(f"  {sec.empty}"))


def _print_retro(d: dict[str, Any], fmt: str, person: str | None) -> None:
    from okr.cli.output import print_table
    from okr.cli.report import retro_csv_rows, retro_rows

    columns, rows = retro_csv_rows(d) if fmt == "csv" else retro_rows(d, person)
    print_table(columns, rows, fmt, title=f"Retro{' of team ' + d['team'] if d['team'] else ''}")


def register(app: typer.Typer) -> None:
    """Add `okr review` and `okr retro`."""
    app.command("review")(review_cmd)
    app.command("retro")(retro_cmd)
