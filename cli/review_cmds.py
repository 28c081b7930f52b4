"""`okr review CYCLE` and `okr retro A B`: retrospectives from the ledger's history."""

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.output import emit, to_json

if TYPE_CHECKING:
    from okr.domain.history import Fact

FORMATS = ("terminal", "json", "csv", "md", "html")
JSON = typer.Option(False, "--json", help="Print JSON.")


def cycle_facts(st: State, cycle: str, as_of: datetime, known_at: datetime) -> "list[Fact]":
    """The facts a review of the cycle at (as_of, known_at) reads, from the projection."""
    from okr.cli.reads import open_projection

    with open_projection(st) as proj:
        facts = proj.review_facts(cycle, as_of, known_at)
    if not facts:
        raise UserError(f"cycle {cycle!r} not found")
    return facts


def _point(st: State, as_of: str | None, known_at: str | None) -> tuple[datetime, datetime]:
    from okr.cli.times import parse_until
    from okr.domain.base import utc_now

    now = utc_now()
    zone = st.settings.timezone
    return (parse_until(as_of, zone) if as_of else now,
            parse_until(known_at, zone) if known_at else now)


def build(st: State, cycle: str, as_of: str | None, known_at: str | None) -> dict[str, Any]:
    """The review of a cycle at (as_of, known_at)."""
    from okr.domain.periods import canonical_cycle_key
    from okr.domain.review import ReviewPoint, UnknownCycle, review

    a, k = _point(st, as_of, known_at)
    try:
        key = canonical_cycle_key(cycle)
        return review(cycle_facts(st, key, a, k), key, ReviewPoint(a, k))
    except UnknownCycle as exc:
        raise UserError(str(exc)) from None


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
               fmt: str = typer.Option("terminal", "--format", "-f",
                                       help="terminal, json, csv, md or html."),
               out: Path | None = typer.Option(None, "--out", "-o", help="Write to FILE."),
               as_json: bool = JSON) -> None:
    """Plan vs actual, revisions, progress over time, confidence and KPI guardrails."""
    from okr.cli import report

    st = state(ctx)
    if want_json(ctx, as_json):
        fmt = "json"
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")
    if fmt in ("csv", "md", "html") and out is None:
        raise UserError(f"--format {fmt} needs --out FILE")
    data = build(st, cycle, as_of, known_at)
    if compare_known_at:
        from okr.domain.review import restatements
        earlier = build(st, cycle, as_of, compare_known_at)
        data["restatements"] = restatements(earlier, data)
        data["compared_known_at"] = earlier["known_at"]
    text = {"json": lambda: to_json(data) + "\n", "csv": lambda: report.to_csv(data),
            "md": lambda: report.to_markdown(data), "html": lambda: report.to_html(data)}
    if fmt == "terminal":
        if out is not None:
            raise UserError("--out needs --format csv, md, html or json")
        _print_review(st, data)
        return
    body = text[fmt]()
    if out is None:
        print(body, end="")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    print(f"review of {data['cycle']} written to {out.resolve()}")


def retro_cmd(ctx: typer.Context, cycle_a: str, cycle_b: str,
              team: str | None = typer.Option(None, help="Only this team's objectives."),
              as_json: bool = JSON) -> None:
    """Compare two cycles: scores, hit rates, revisions, calibration."""
    from okr.domain.review import retro

    st = state(ctx)
    data = retro(build(st, cycle_a, None, None), build(st, cycle_b, None, None), team)
    emit(data, want_json(ctx, as_json), lambda: _print_retro(data))


# ---- terminal rendering ------------------------------------------------------------------

def _print_review(st: State, r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from okr.cli.report import day, num, pct, revision_text, score_rows

    c = Console()
    s = r["summary"]
    c.print(f"[bold]Review of {r['cycle']}[/]  {day(r['start'])} – {day(r['end'])}, "
            f"{r['status']}, plan committed {day(r['committed_at'])}; as of {day(r['as_of'])}, "
            f"as known at {day(r['known_at'])}")
    c.print(f"{s['succeeded']} of {s['graded']} graded objectives succeeded · mean score "
            f"{pct(s['mean_score'])}")
    t = Table("objective", "key result", "planned", "final", "value", "progress", "expected",
              "status", "grade", title="Plan vs actual")
    for row in score_rows(r):
        t.add_row(row["objective"], (row["key_result"] or "-")
                  + (" [yellow](added)[/]" if row["added_after_commit"] else ""),
                  num(row["planned_target"]), num(row["final_target"]), num(row["value"]),
                  pct(row["progress"]), pct(row["expected"]), row["status"] or "-",
                  row["grade"])
    c.print(t)
    c.print("[bold]Revisions after commit[/]")
    for rev in r["revisions"] or [None]:
        if rev is None:
            c.print("  none: the plan stood as committed")
            continue
        flag = "  [bold red]goalpost moved[/]" if rev["goalpost_moved"] else ""
        if rev["backdated"]:
            flag += f"  [yellow]back-dated: in force from {day(rev['effective_at'])}[/]"
        c.print(f"  {day(rev['at'])} {rev['key']}: {revision_text(rev)} by {rev['actor']} — "
                f"{rev['reason'] or 'no reason'}{flag}")
    g = Table("KPI", "green", "amber", "red", "no data", "stale", "at end",
              title="KPI guardrails")
    for k in r["guardrails"]:
        sh = k["shares"]
        g.add_row(k["key"], pct(sh["green"]), pct(sh["amber"]), pct(sh["red"]),
                  pct(sh["none"]), pct(k["stale_share"]), k["health_at_end"] or "-")
    c.print(g)
    cal = Table("owner", "check-ins", "mean confidence", "hit rate", "Brier",
                title="Confidence vs outcome")
    for x in r["calibration"]:
        cal.add_row(x["owner"], str(x["check_ins"]), pct(x["mean_confidence"]),
                    pct(x["hit_rate"]), f"{x['brier']:.3f}")
    c.print(cal)
    for b in r["backdated"]:
        c.print(f"  back-dated: {b['key']} {num(b['value'])} for {day(b['effective_at'])}, "
                f"recorded {day(b['recorded_at'])} by {b['actor']}")
    for x in r.get("restatements", []):
        c.print(f"  restated: {x['key']} {x['field']} {x['before']} → {x['after']}")


def _print_retro(d: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from okr.cli.report import pct

    fields = [("objectives", str), ("graded", str), ("succeeded", str), ("hit_rate", pct),
              ("mean_score", pct), ("kr_done", str), ("revisions", str),
              ("goalposts_moved", str), ("brier", lambda x: "-" if x is None else f"{x:.3f}")]
    t = Table("", d["a"]["cycle"], d["b"]["cycle"],
              title=f"Retro{' of team ' + d['team'] if d['team'] else ''}")
    for name, fmt in fields:
        t.add_row(name.replace("_", " "), fmt(d["a"][name]), fmt(d["b"][name]))
    Console().print(t)


def register(app: typer.Typer) -> None:
    """Add `okr review` and `okr retro`."""
    app.command("review")(review_cmd)
    app.command("retro")(retro_cmd)
