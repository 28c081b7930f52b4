"""`okr due`: key results without a check-in within their cadence, KPIs red or stale."""

from datetime import datetime
from typing import Any

import typer

from okr.cli.context import state, want_json
from okr.cli.output import NONE, emit, format_option, print_table, table_format
from okr.domain.numbers import figure

JSON = typer.Option(False, "--json", help="Print JSON.")
COLUMNS = ["owner", "team", "item", "title", "why", "last", "due since", "overdue"]


def overdue_text(seconds: int) -> str:
    """'3 d 4 h', '5 h 2 min', '40 s'."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def why_text(item: dict[str, Any]) -> str:
    """Why an item is listed, in words."""
    parts = []
    for reason in item["reasons"]:
        if reason == "no-check-in":
            parts.append(f"no check-in within its cadence ({item['cadence']})")
        elif reason == "red":
            parts.append(f"red at {figure(item['value'])}")
        else:
            parts.append(f"stale (no reading within its cadence, {item['cadence']})")
    return "; ".join(parts)


def due_cmd(ctx: typer.Context,
            owner: str | None = typer.Option(None, "--owner",
                                             help="Only the items of this owner."),
            team: str | None = typer.Option(None, "--team",
                                            help="Only the items of this team (a KPI belongs to "
                                            "the teams whose key results link it)."),
            fmt: str | None = format_option(), as_json: bool = JSON) -> None:
    """What is due now: key results without a check-in within their cadence
    (setting checkin_cadence, default weekly) and KPIs that are red or stale, by owner and
    team, the longest overdue first."""
    from okr.cli.answers import due_now
    from okr.cli.reads import open_projection
    from okr.cli.times import say
    from okr.domain.base import utc_now

    st = state(ctx)
    fmt = table_format(fmt, want_json(ctx, as_json))
    with open_projection(st) as proj:
        data = due_now(proj, utc_now(), st.settings.checkin_cadence, owner, team)
    items, now = data["items"], data["now"]
    zone = st.settings.timezone

    def when(t: datetime | None) -> str:
        return NONE if t is None else say(t, zone)

    def human() -> None:
        if not items and fmt == "table":
            print(f"nothing due as of {say(now, zone)}")
            return
        print_table(COLUMNS, [[i["owner"] or NONE, i["team"] or NONE,
                               f"{'KR' if i['kind'] == 'key_result' else 'KPI'} {i['key']}",
                               i["title"], why_text(dict(i)), when(i["last_at"]),
                               when(i["due_at"]), overdue_text(i["overdue_seconds"])]
                              for i in items], fmt,
                    title=None if fmt != "table" else f"Due as of {say(now, zone)}")
    emit(data, fmt == "json", human)


def register(app: typer.Typer) -> None:
    """Add `okr due`."""
    app.command("due")(due_cmd)
