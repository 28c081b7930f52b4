"""The scorecard in the terminal, shared by `okr scorecard` (the projection) and
`okr audit replay` (the log alone)."""

from typing import Any

from okr.cli.output import amount, bar


def print_scorecard(cards: list[dict[str, Any]], as_of: str, known_at: str) -> None:
    """The scorecard as a tree of aligned objectives, each with its key results' bars,
    scores, expected progress, status, confidence and linked KPI health."""
    from rich.console import Console
    from rich.tree import Tree

    console = Console()
    if not cards:
        console.print(f"no objectives as of {as_of} (known at {known_at})")
        return
    by_key = {c["key"]: c for c in cards}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for c in cards:
        parent = c["parent"] if c["parent"] in by_key else None
        children.setdefault(parent, []).append(c)
    root = Tree(f"[bold]Scorecard[/] as of {as_of}, known at {known_at}")
    colour = {"on-track": "green", "at-risk": "yellow", "off-track": "red"}

    def add(node: Tree, card: dict[str, Any]) -> None:
        score = "-" if card["score"] is None else f"{card['score']:.2f}"
        exp = "-" if card["expected"] is None else f"{card['expected']:.2f}"
        track = card["track"] or "-"
        branch = node.add(
            f"[bold]{card['key']}[/] {card['title']}  [dim]{card['cycle']} · {card['okr_type']}"
            f" · {card['owner']}{' · ' + card['team'] if card['team'] else ''}[/]  "
            f"score {score} / expected {exp} [{colour.get(track, 'white')}]{track}[/]"
            + ("" if card["status"] == "active" else f" [dim]({card['status']})[/]"))
        for kr in card["key_results"]:
            conf = "" if kr["confidence"] is None else f" conf {kr['confidence']:.2f}"
            kpi = "" if not kr["kpi"] else (
                f" · KPI {kr['kpi']} {kr['kpi_health'] or 'no reading'}"
                + (" (stale)" if kr["kpi_stale"] else ""))
            branch.add(f"{bar(kr['progress'])} {kr['progress']:.2f} (exp {kr['expected']:.2f})"
                       f" [{colour[kr['status']]}]{kr['status']}[/] {kr['key']}: "
                       f"{amount(kr['value'], kr['unit'])} → {amount(kr['target'], kr['unit'])}"
                       f"{conf}{kpi}")
        for child in children.get(card["key"], []):
            add(branch, child)

    for card in children.get(None, []):
        add(root, card)
    console.print(root)
