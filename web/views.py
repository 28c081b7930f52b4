"""Shapes the pages show: the scorecard as an indented tree, times said explicitly."""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

TREE_DEPTH = 8  # as the terminal scorecard: deeper chains start again at the left


def said(t: datetime, zone: str | None) -> str:
    """A time as the CLI says it: local ISO 8601 with offset, and UTC."""
    from okr.cli.times import say
    return say(t, zone)


def tree(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objectives in alignment order, each with its depth (parents first)."""
    by_key = {c["key"]: c for c in cards}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for c in cards:
        children.setdefault(c["parent"] if c["parent"] in by_key else None, []).append(c)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for top in [*children.get(None, []), *cards]:  # cards in a parent cycle hang off the top
        stack = [(top, 0)]
        while stack:
            card, depth = stack.pop()
            if card["key"] in seen:
                continue
            seen.add(card["key"])
            out.append({"card": card, "depth": depth % TREE_DEPTH})
            stack.extend((c, depth + 1) for c in reversed(children.get(card["key"], [])))
    return out


def kr_chart(review: dict[str, Any], key: str, check_ins: list[dict[str, Any]], zone: str
             ) -> str:
    """The key result's actual vs expected progress over its cycle, as the HTML review draws
    it (inline SVG: no script, no style attribute), with a dot at each check-in in force;
    days in `zone`, the cycle's."""
    from okr.cli.report import kr_chart as draw
    return draw(review, key, zone, frozenset(c["effective_at"] for c in check_ins))


KPI_CHART_DAYS = 90  # the KPI page charts at least this many days back from its as-of


def kpi_chart(kpi: dict[str, Any], readings: list[dict[str, Any]], as_of: datetime,
              zone: str | None) -> str:
    """A KPI's readings up to `as_of` on its green/amber/red bands, as the HTML review draws
    a guardrail (inline SVG); days in `zone`."""
    from datetime import timedelta

    from okr.cli.report import kpi_chart as draw

    start = min([as_of - timedelta(days=KPI_CHART_DAYS)]
                + [r["observed_at"] for r in readings])
    return draw({"start": start, "end": as_of, "evaluated_at": as_of},
                {"key": kpi["key"], "green": kpi["green"], "red": kpi["red"],
                 "direction": kpi["direction"],
                 "readings": [{"at": r["observed_at"], "value": r["value"]} for r in readings]},
                zone)


def guardrail_chart(review: dict[str, Any], g: dict[str, Any], zone: str) -> str:
    """A guardrail KPI over the reviewed cycle, as the HTML review draws it (days in `zone`,
    the cycle's)."""
    from okr.cli.report import kpi_chart as draw
    return draw(review, g, zone)


def _as_sent(text: str) -> str:
    """`text` as a browser sends it back from a form (HTML): its line breaks as CRLF, a NUL
    as U+FFFD."""
    return re.sub(r"\r\n|\r|\n", "\r\n", text).replace("\x00", "\ufffd")


def as_stored(chosen: str | None, stored: Sequence[str]) -> str | None:
    """The stored text a filter's choice names: `chosen` itself, else the one a browser sent
    as `chosen` (a team holding a lone LF or CR, or a NUL, came back as other text and chose
    nothing), else `chosen` (nothing has it)."""
    if chosen is None or chosen in stored:
        return chosen
    return next((s for s in stored if _as_sent(s) == chosen), chosen)
