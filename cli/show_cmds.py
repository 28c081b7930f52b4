"""`okr show`: anything by key, with its current state read from the ledger."""

from typing import Any

import typer

from okr.cli.context import State, state, want_json
from okr.cli.errors import UserError
from okr.cli.output import amount, bar, emit
from okr.cli.writes import JSON, said

KIND_NAMES = {"cycle": "cycle", "objective": "objective", "kr": "key_result",
              "key-result": "key_result", "initiative": "initiative", "kpi": "kpi"}


def show(ctx: typer.Context, key: str,
         kind: str | None = typer.Option(None, help="cycle, objective, kr, initiative or kpi "
                                         "(when a key is used by several kinds)."),
         as_json: bool = JSON) -> None:
    """Show anything by key, with its current state read from the ledger."""
    from okr.domain.base import utc_now
    from okr.ledger import views

    st = state(ctx)
    kinds = list(KIND_NAMES.values()) if kind is None else [KIND_NAMES.get(kind, "")]
    if "" in kinds:
        raise UserError(f"--kind {kind!r} is not one of: {', '.join(KIND_NAMES)}")
    if kinds[0] == "cycle":
        from okr.domain.periods import canonical_cycle_key
        key = canonical_cycle_key(key)
    found = st.ledger.find(key, dict.fromkeys(kinds))
    if not found and kind is None:
        from okr.domain.periods import canonical_cycle_key
        found = st.ledger.find(canonical_cycle_key(key), ["cycle"])
    if not found:
        raise UserError(f"nothing has the key {key!r}")
    if len(found) > 1:
        raise UserError(f"{key!r} is a key of several kinds ({', '.join(k for k, _ in found)}); "
                        "add --kind")
    found_kind, agg = found[0]
    data = views.view(st.ledger, found_kind, agg, utc_now())
    emit(data, want_json(ctx, as_json), lambda: render(st, data))


def render(st: State, data: dict[str, Any]) -> None:
    """Human view of `show` output."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    pct = lambda x: "-" if x is None else f"{x:.0%}"  # noqa: E731
    if data["kind"] == "objective":
        console.print(f"[bold]{data['key']}[/] {data['title']}  ({data['cycle']}, "
                      f"{data['okr_type']}, owner {data['owner']}, {data['status']})")
        console.print(f"score {pct(data['score'])}  expected {pct(data['expected'])}  "
                      f"{data['track'] or ''}")
        table = Table("key result", "progress", "value", "target", "expected", "status",
                      "confidence")
        for kr in data["key_results"]:
            table.add_row(kr["key"], f"{bar(kr['progress'], 10)} {pct(kr['progress'])}",
                          "-" if kr["value"] is None else f"{kr['value']:g}",
                          amount(kr["target"], kr["unit"]), pct(kr["expected"]), kr["status"],
                          pct(kr["confidence"]))
        console.print(table)
    elif data["kind"] == "key_result":
        console.print(f"[bold]{data['key']}[/] {data['title']}  (objective {data['objective']}, "
                      f"{data['kr_kind']} {data['start']:g} → "
                      f"{amount(data['target'], data['unit'])})")
        console.print(f"{bar(data['progress'])} {pct(data['progress'])}  expected "
                      f"{pct(data['expected'])}  {data['status']}  value "
                      f"{'-' if data['value'] is None else format(data['value'], 'g')}")
        for c in data["check_ins"]:
            console.print(f"  {said(st, c['effective_at'])}  {c['value']:g}  "
                          f"confidence {pct(c['confidence'])}  {c['note']}  ({c['actor']})")
    elif data["kind"] == "kpi":
        console.print(f"[bold]{data['key']}[/] {data['name']}  ({data['direction']}, green "
                      f"{data['green']:g}, red {data['red']:g}, {data['cadence']})")
        console.print(f"latest {amount(data['value'], data['unit'])}  "
                      f"health {data['health'] or '-'}"
                      f"{'  STALE' if data['stale'] else ''}")
        for r in data["readings"][-10:]:
            console.print(f"  {said(st, r['observed_at'])}  {r['value']:g}  {r['source']}")
    else:
        for k, v in data.items():
            console.print(f"{k}: {v}")


def register(app: typer.Typer) -> None:
    """Add `show` to the root app."""
    app.command("show")(show)
