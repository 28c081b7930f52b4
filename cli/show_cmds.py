"""`okr show`: anything by key, with its current state read from the ledger."""

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from okr.cli.commands import choice
from okr.cli.context import State, state, want_json
from okr.cli.output import (
    NONE,
    aim_text,
    amount,
    bar,
    console,
    datum,
    emit,
    format_option,
    print_table,
    styled,
    table_format,
    target_amount,
    visible,
)
from okr.cli.writes import JSON, phases_said, said
from okr.domain.actors import acting
from okr.domain.numbers import figure, percent

if TYPE_CHECKING:
    from rich.text import Text

SHOWN_KINDS = ("cycle", "objective", "kr", "initiative", "kpi")  # key-result: kr, longer


def show(ctx: typer.Context, key: str,
         kind: str | None = choice(None, "--kind", values=SHOWN_KINDS,
                                   help="What KEY names, when several kinds use it."),
         fmt: str | None = format_option(" (tsv: the summary as '# ' lines, then the "
                                         "table; csv: the table as plain data)"),
         as_json: bool = JSON) -> None:
    """Show anything by key, with its current state read from the ledger."""
    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    from okr.cli.answers import show_data

    data = show_data(st.ledger, key, kind)
    emit(data, fmt == "json", lambda: render(st, data, fmt))


def render(st: State, data: dict[str, Any], fmt: str = "table") -> None:
    """Human view of `show` output: summary lines, then a table (stored text shown as data:
    see output.visible)."""
    lines, columns, rows = card(st, data)
    if fmt == "tsv":
        sys.stdout.writelines(f"# {visible(line.plain)}\n" for line in lines)
    elif fmt == "table":
        out = console()
        for line in lines:
            out.print(line)
    if fmt == "csv":
        columns, rows = csv_card(data)
    if columns:
        print_table(columns, rows, fmt)


def card(st: State, data: dict[str, Any]) -> "tuple[list[Text], list[str], list[list[Any]]]":
    """What `show` prints: summary lines, and a table's columns and rows (none for kinds
    without one)."""
    pct = lambda x: NONE if x is None else percent(x)  # noqa: E731
    num = lambda x: NONE if x is None else figure(x)  # noqa: E731
    if data["kind"] == "objective":
        return ([styled((data["key"], "bold"), f" {data['title']}  ({data['cycle']}, "
                        f"{data['okr_type']}, owner {data['owner']}, {data['status']}"
                        f"{carried(data)})"),
                 styled(f"score {pct(data['score'])}  expected {pct(data['expected'])}  "
                        f"{data['track'] or ''}")],
                ["key result", "progress", "value", "target", "expected", "status",
                 "confidence"],
                [[kr["key"], f"{bar(kr['progress'], 10)} {pct(kr['progress'])}",
                  num(kr["value"]), target_amount(kr["target"], kr.get("target_high"), kr["unit"]),
                  pct(kr["expected"]),
                  kr["status"], pct(kr["confidence"])] for kr in data["key_results"]])
    if data["kind"] == "key_result":
        phased = ([styled(f"phased targets: {phases_said(data['phases'], st.settings.timezone)}")]
                  if data["phases"] else [])
        return ([styled((data["key"], "bold"), f" {data['title']}  (objective "
                        f"{data['objective']}, {plan_text(data)}{carried(data)})"),
                 styled(f"{bar(data['progress'])} {pct(data['progress'])}  expected "
                        f"{pct(data['expected'])}  {data['status']}  value "
                        f"{num(data['value'])}"), *phased],
                ["effective", "value", "confidence", "note", "by"],
                [[said(st, c["effective_at"]), figure(c['value']), pct(c["confidence"]),
                  c["note"], acting(c["actor"], c.get("on_behalf_of"))]
                 for c in data["check_ins"]])
    if data["kind"] == "kpi":
        return ([styled((data["key"], "bold"), f" {data['name']}  ({data['direction']}, "
                        f"green {figure(data['green'])}, red {figure(data['red'])}, "
                        f"{data['cadence']})"),
                 styled(f"latest {amount(data['value'], data['unit'])}  health "
                        f"{data['health'] or '-'}{'  STALE' if data['stale'] else ''}")],
                ["observed", "value", "source"],
                [[said(st, r["observed_at"]), figure(r['value']), r["source"]]
                 for r in data["readings"][-10:]])
    if data["kind"] == "cycle":
        return cycle_card(st, data)
    return [], ["field", "value"], [[k, cell(st, v)] for k, v in data.items()]


def cycle_card(st: State, c: dict[str, Any]
               ) -> "tuple[list[Text], list[str], list[list[Any]]]":
    """A cycle as `okr list cycles` says it — its days in its own zone, named — and its
    bounds as every answer says an instant: in the person's zone with UTC beside."""
    from okr.cli.times import local_day

    days = (f"{local_day(c['start'], c['timezone'])} – "
            f"{local_day(c['end'], c['timezone'], end=True)} ({c['timezone']})")
    rows = [["days", days], ["start", said(st, c["start"])],
            ["end (exclusive)", said(st, c["end"])], ["status", c["status"]],
            ["plan committed", NONE if c["committed_at"] is None
             else said(st, c["committed_at"])],
            ["elapsed", percent(c["elapsed"])],
            ["objectives", ", ".join(c["objectives"]) or NONE], ["version", str(c["version"])]]
    return [styled((c["key"], "bold"), f"  {days}, {c['status']}")], ["field", "value"], rows


def cell(st: State, value: Any) -> str:
    """A field's value as text: an instant said in the person's zone with UTC beside, a
    list as its items — never Python's spelling of either."""
    if value is None:
        return NONE
    if isinstance(value, datetime):
        return said(st, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return figure(value)
    if isinstance(value, list | tuple):
        return ", ".join(cell(st, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {cell(st, v)}" for k, v in value.items())
    return str(value)


def csv_card(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """What `show --format csv` writes: the table of `card` as plain data — numbers as
    numbers (`figure`: 12 significant digits; progress, expected and confidence as 0–1
    fractions), the unit in a column of its own, instants in ISO 8601 UTC; no bars, no units
    or percent signs in a cell."""
    def num(x: float | None) -> str:
        return "" if x is None else figure(x)
    if data["kind"] == "objective":
        return (["key result", "title", "kind", "progress", "value", "start", "target",
                 "target_high", "unit", "tolerance", "weight", "expected", "status",
                 "confidence"],
                [[kr["key"], kr.get("title", ""), kr.get("kr_kind") or "", num(kr["progress"]),
                  num(kr["value"]), num(kr.get("start")), num(kr["target"]),
                  num(kr.get("target_high")), kr["unit"], num(kr.get("tolerance")),
                  num(kr.get("weight")), num(kr["expected"]), kr["status"],
                  num(kr["confidence"])] for kr in data["key_results"]])
    if data["kind"] == "key_result":
        return (["effective", "recorded", "value", "confidence", "note", "by", "source"],
                [[datum(c["effective_at"]), datum(c["recorded_at"]) if c.get("recorded_at")
                  else "", num(c["value"]), num(c["confidence"]), c["note"] or "",
                  acting(c["actor"], c.get("on_behalf_of")), c.get("source") or ""]
                 for c in data["check_ins"]])
    if data["kind"] == "kpi":
        return (["observed", "value", "unit", "source"],
                [[datum(r["observed_at"]), num(r["value"]), data["unit"], r["source"]]
                 for r in data["readings"][-10:]])
    if data["kind"] == "cycle":
        from okr.cli.times import local_day
        data = {"key": data["key"], "first_day": local_day(data["start"], data["timezone"]),
                "last_day": local_day(data["end"], data["timezone"], end=True),
                **{k: v for k, v in data.items() if k not in ("kind", "key")}}
    return ["field", "value"], [[k, plain(v)] for k, v in data.items()]


def plain(value: Any) -> str:
    """A field's value as a CSV cell of plain data: an instant in ISO 8601 UTC, a number as
    figures, a list as its items — never Python's spelling of either."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return datum(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return figure(value)
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items())
    return str(value)


def carried(data: dict[str, Any]) -> str:
    """', carried from KEY' for an item carried forward from an earlier cycle, else ''."""
    return f", carried from {data['carried_from']}" if data.get("carried_from") else ""


def plan_text(kr: dict[str, Any]) -> str:
    """What a key result aims at, in its kind's terms: a climb from start to target, or a
    threshold to hold (with its tolerance band)."""
    return aim_text(kr["kr_kind"], kr["start"], kr["target"], kr["target_high"], kr["unit"],
                    kr["tolerance"])


def register(app: typer.Typer) -> None:
    """Add `show` to the root app."""
    app.command("show")(show)
