"""The scorecard in the terminal, shared by `okr scorecard` (the projection) and
`okr audit replay` (the log alone): a tree for people, flat rows for pipes and files."""

from collections.abc import Collection
from typing import Any

from okr.cli.output import NONE, amount, bar, console, styled, target_amount
from okr.domain.numbers import figure, fraction

SCORECARD_COLUMNS = ["kind", "key", "parent", "title", "cycle", "type", "owner", "team",
                     "status", "score_or_progress", "expected", "track", "value", "target",
                     "target_high", "unit", "confidence", "kpi", "kpi_health", "rollup",
                     "rollup_expected", "rollup_track", "kr_kind", "start", "tolerance",
                     "weight"]


def scorecard_rows(cards: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The scorecard flat: a row per objective (with its roll-up), then a row per key result
    under it with what its progress is computed from (kind, start, target(s), tolerance,
    weight, unit: docs/scoring.md). Numbers as `figure` says them (12 significant digits)."""
    def num(x: float | None) -> str:
        return "" if x is None else figure(x)
    rows: list[list[Any]] = []
    for c in cards:
        rows.append(["objective", c["key"], c["parent"] or "", c["title"], c["cycle"],
                     c["okr_type"], c["owner"], c["team"], c["status"], num(c["score"]),
                     num(c["expected"]), c["track"] or "", "", "", "", "", "", "", "",
                     num(c.get("rollup")), num(c.get("rollup_expected")),
                     c.get("rollup_track") or "", "", "", "", ""])
        rows.extend(["key_result", kr["key"], c["key"], kr.get("title", ""), c["cycle"],
                     c["okr_type"], c["owner"], c["team"], kr["status"], num(kr["progress"]),
                     num(kr["expected"]), kr["status"], num(kr["value"]), num(kr["target"]),
                     num(kr.get("target_high")), kr["unit"], num(kr["confidence"]), kr["kpi"] or "",
                     kr["kpi_health"] or "", "", "", "", kr.get("kind") or "",
                     num(kr.get("start")), num(kr.get("tolerance")), num(kr.get("weight"))]
                    for kr in c["key_results"])
    return SCORECARD_COLUMNS, rows


TREE_DEPTH = 8  # levels of alignment the scorecard indents before it starts again at the left


def target_text(kr: dict[str, Any]) -> str:
    """The target, or a range's two bounds (the upper one was dropped before)."""
    return target_amount(kr["target"], kr.get("target_high"), kr["unit"])


def print_scorecard(cards: list[dict[str, Any]], as_of: str, known_at: str,
                    parents: Collection[str] = ()) -> None:
    """The scorecard as a tree of aligned objectives, each with its key results' bars,
    scores, expected progress, status, confidence and linked KPI health (stored text shown
    as data); a parent's roll-up beside its score — also one of `parents`, whose children a
    filter left out (its roll-up still reads them)."""
    from rich.tree import Tree

    out = console()
    if not cards:
        out.print(styled(f"no objectives as of {as_of} (known at {known_at})"))
        return
    by_key = {c["key"]: c for c in cards}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for c in cards:
        parent = c["parent"] if c["parent"] in by_key else None
        children.setdefault(parent, []).append(c)
    root = Tree(styled(("Scorecard", "bold"), f" as of {as_of}, known at {known_at}"))
    colour = {"on-track": "green", "at-risk": "yellow", "off-track": "red", "final": "blue"}

    def add(node: Tree, card: dict[str, Any], under: str = "") -> Tree:
        score = _score(card["score"])
        exp = _score(card["expected"])
        track = card["track"] or "-"
        rolled = (card["key"] in children or card["key"] in parents) \
            and card.get("rollup") is not None
        rollup = (() if not rolled else (
            f"  roll-up {_score(card['rollup'])} / expected {_score(card['rollup_expected'])} ",
            (card["rollup_track"], colour.get(card["rollup_track"], "white"))))
        branch = node.add(styled(
            (f"… under {under}: " if under else "", "dim"),
            (card["key"], "bold"), f" {card['title']}  ",
            (f"{card['cycle']} · {card['okr_type']} · {card['owner']}"
             f"{' · ' + card['team'] if card['team'] else ''}", "dim"),
            f"  score {score} / expected {exp} ", (track, colour.get(track, "white")),
            *rollup,
            *(() if card["status"] == "active" else ((f" ({card['status']})", "dim"),))))
        for kr in card["key_results"]:
            conf = "" if kr["confidence"] is None else f" conf {fraction(kr['confidence'])}"
            kpi = "" if not kr["kpi"] else (
                f" · KPI {kr['kpi']} {kr['kpi_health'] or 'no reading'}"
                + (" (stale)" if kr["kpi_stale"] else ""))
            branch.add(styled(
                f"{bar(kr['progress'])} {_score(kr['progress'])} (exp {_score(kr['expected'])}) ",
                (kr["status"], colour[kr["status"]]),
                f" {kr['key']}: {amount(kr['value'], kr['unit'])} → "
                f"{target_text(kr)}{conf}{kpi}"))
        return branch

    # Depth first without recursion, each card once. Cards in a parent cycle (refused at
    # input now, possible in older ledgers) hang off the root; so does a chain that goes on
    # below TREE_DEPTH levels (the indentation would leave no room), marked "… under PARENT".
    seen: set[str] = set()
    for top in [*children.get(None, []), *cards]:
        stack = [(root, top, 1)]
        while stack:
            node, card, depth = stack.pop()
            if card["key"] in seen:
                continue
            seen.add(card["key"])
            if depth > TREE_DEPTH:
                node, depth = root, 1
                branch = add(root, card, under=card["parent"])
            else:
                branch = add(node, card)
            stack.extend((branch, c, depth + 1)
                         for c in reversed(children.get(card["key"], [])))
    out.print(root)


def _score(x: float | None) -> str:
    """A 0–1 score to two decimals, rounded down (domain/numbers.shown)."""
    return NONE if x is None else fraction(x)


def print_summaries(summary: dict[str, list[dict[str, Any]]], fmt: str | None = None) -> None:
    """The team and department summaries (domain/rollup.py) as two tables."""
    from okr.cli.output import print_table

    def tracked(t: dict[str, Any], track: str) -> str:  # none is on a track once final
        return NONE if t["track"] == "final" else str(t[track])

    print_table(["team", "objectives", "scored", "key results", "score", "expected", "track",
                 "on-track", "at-risk", "off-track"],
                [[t["team"] or NONE, str(t["objectives"]), str(t["scored_objectives"]),
                  str(t["key_results"]), _score(t["score"]), _score(t["expected"]),
                  t["track"] or NONE, tracked(t, "on-track"), tracked(t, "at-risk"),
                  tracked(t, "off-track")] for t in summary["teams"]],
                fmt, title="Teams", heading=True)
    if summary["departments"]:
        print_table(["objective", "level", "team", "own score", "roll-up", "expected", "track",
                     "objectives below", "teams"],
                    [[f"{d['key']} {d['title']}", d["level"], d["team"] or NONE,
                      _score(d["score"]), _score(d["rollup"]), _score(d["rollup_expected"]),
                      d["rollup_track"] or NONE, str(d["objectives_below"]),
                      ", ".join(d["teams"]) or NONE] for d in summary["departments"]],
                    fmt, title="Departments (roll-ups)", heading=True)
