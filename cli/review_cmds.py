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
    from okr.cli.times import view_instants

    a, k = view_instants(as_of, known_at, st.settings.timezone)
    return zoned_review(lambda key, a_, k_: cycle_facts(st, key, a_, k_), cycle, a, k)


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
    """Plan vs actual, revisions, progress over time, confidence and KPI guardrails."""
    st = state(ctx)
    fmt = table_format("table" if fmt == "terminal" else fmt, want_json(ctx, as_json), FORMATS)
    if fmt in ("csv", "md", "html") and out is None:
        raise UserError(f"--format {fmt} needs --out FILE (or --out - for stdout)")
    check_out(out)  # before the review is read: a folder that does not exist is not made
    data, zone = build_zoned(st, cycle, as_of, known_at)
    if compare_known_at:
        from okr.domain.review import restatements
        earlier = build(st, cycle, as_of, compare_known_at)
        data["restatements"] = restatements(earlier, data)
        data["compared_known_at"] = earlier["known_at"]
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
              fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """Compare two cycles: scores, hit rates, revisions, calibration."""
    from okr.domain.review import retro

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    data = retro(build(st, cycle_a, None, None), build(st, cycle_b, None, None), team)
    emit(data, fmt == "json", lambda: _print_retro(data, fmt))


# ---- terminal rendering ------------------------------------------------------------------

def _print_review(st: State, r: dict[str, Any], fmt: str, zone: str,
                  every: bool = False) -> None:
    """The review as tables; its days are the cycle's, in its zone (`okr list cycles`), its
    instants the person's, with UTC beside them."""
    from okr.cli.output import NONE, console, print_table, styled
    from okr.cli.report import (
        backdated_lines,
        backdated_total,
        bounds,
        carried_text,
        commitment,
        day,
        kr_text,
        mean_score,
        moment,
        num,
        pct,
        revision_text,
        score_rows,
        span,
    )
    from okr.cli.scorecard import print_summaries
    from okr.domain.actors import acting

    c = console()
    person = st.settings.timezone

    def say(line: "Text") -> None:  # piped (tsv): a '# ' line between the tables
        if fmt == "tsv":
            sys.stdout.write(f"# {line.plain}\n")
        else:
            c.print(line)

    s = r["summary"]
    say(styled((f"Review of {r['cycle']}", "bold"),
        f"  {span(r, zone)}, {r['status']}, {commitment(r, zone)}; "
        f"as of {moment(r['as_of'], person)}, as known at {moment(r['known_at'], person)}"))
    say(styled(f"{s['succeeded']} of {s['graded']} graded objectives succeeded · "
               f"{mean_score(s)}"))
    print_table(["objective", "key result", "planned", "final", "value", "progress",
                 "expected", "status", "grade", "initiatives"],
                [[styled(f"{row['objective']} {row['objective_title']}",
                         (carried_text(row["objective_carried_from"]), "cyan")),
                  styled(kr_text(row),
                         *([(" (added)", "yellow")] if row["added_after_commit"] else []),
                         *([(" (removed)", "yellow")] if row["removed_after_commit"] else []),
                         (carried_text(row["carried_from"]), "cyan")),
                  bounds(row["planned_target"], row["planned_target_high"]),
                  bounds(row["final_target"], row["final_target_high"]), num(row["value"]),
                  pct(row["progress"]), pct(row["expected"]), row["status"] or NONE,
                  row["grade"], row["initiatives"]] for row in score_rows(r)],
                fmt, title="Plan vs actual", heading=True)
    print_summaries(r["summaries"], fmt)
    say(styled(("Revisions after commit", "bold")))
    for rev in r["revisions"] or [None]:
        if rev is None:
            say(styled("  none: the plan stood as committed"))
            continue
        say(styled(f"  {day(rev['at'], zone)} {rev['key']}: {revision_text(rev)} by "
               f"{acting(rev['actor'], rev['on_behalf_of'])} — {rev['reason'] or 'no reason'}",
               *([("  goalpost moved", "bold red")] if rev["goalpost_moved"] else []),
               *([(f"  back-dated: in force from {day(rev['effective_at'], zone)}", "yellow")]
                 if rev["backdated"] else [])))
    print_table(["KPI", "green", "amber", "red", "no data", "stale", "at end"],
                [[k["key"], pct(k["shares"]["green"]), pct(k["shares"]["amber"]),
                  pct(k["shares"]["red"]), pct(k["shares"]["none"]), pct(k["stale_share"]),
                  k["health_at_end"] or NONE] for k in r["guardrails"]], fmt,
                title="KPI guardrails", heading=True)
    print_table(["owner", "check-ins", "mean confidence", "hit rate", "Brier"],
                [[x["owner"], str(x["check_ins"]), pct(x["mean_confidence"]),
                  pct(x["hit_rate"]), f"{x['brier']:.3f}"] for x in r["calibration"]],
                fmt, title="Confidence vs outcome", heading=True)
    if r["backdated"]:
        say(styled((backdated_total(r), "bold")))
    for line in backdated_lines(r, zone, every):
        say(styled(f"  {line}"))
    for x in r.get("restatements", []):
        say(styled(f"  restated: {x['key']} {x['field']} {x['before']} → {x['after']}"))


def _print_retro(d: dict[str, Any], fmt: str) -> None:
    from okr.cli.output import NONE, print_table
    from okr.cli.report import pct

    fields = [("objectives", str), ("graded", str), ("succeeded", str), ("hit_rate", pct),
              ("mean_score", pct), ("kr_done", str), ("revisions", str),
              ("goalposts_moved", str), ("calls_disagreeing", str),
              ("brier", lambda x: NONE if x is None else f"{x:.3f}")]
    print_table(["", d["a"]["cycle"], d["b"]["cycle"]],
                [[name.replace("_", " "), show(d["a"][name]), show(d["b"][name])]
                 for name, show in fields], fmt,
                title=f"Retro{' of team ' + d['team'] if d['team'] else ''}")


def register(app: typer.Typer) -> None:
    """Add `okr review` and `okr retro`."""
    app.command("review")(review_cmd)
    app.command("retro")(retro_cmd)
