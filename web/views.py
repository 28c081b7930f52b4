"""Shapes the pages show: the scorecard as an indented tree, times said explicitly."""

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
