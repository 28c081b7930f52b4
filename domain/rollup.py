"""Roll-ups: an objective's score over its alignment subtree, and team / department summaries.

The reference rule (docs/scoring.md, "Roll-ups"): an objective's roll-up is the weighted mean
of its own key results' progress (their weights) and its aligned child objectives' roll-ups
(CHILD_WEIGHT each). A child counts when it is of its parent's cycle, has a roll-up and is
neither a learning objective (not graded, so it does not move its parent) nor abandoned: an
objective aligned to a parent in another cycle (a copy carried into the next quarter) is shown
as aligned to it but moves no roll-up of that cycle. The projection's `scorecard_at`
macro computes the same columns in SQL; tests/unit/test_rollup.py holds the two equal.
"""

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypedDict

from okr.domain import scoring
from okr.domain.vocab import FINAL, ObjectiveStatus, OkrType, Status

CHILD_WEIGHT = 1.0  # an aligned child objective counts as much as a key result of weight 1
SUMMARY_LEVELS = ("company", "department")  # the levels the summaries list roll-ups for


class RollUp(TypedDict):
    """An objective's roll-up score and expectation over its subtree, and their track."""

    rollup: float | None
    rollup_expected: float | None
    rollup_track: str | None


def _not_counted(card: Mapping[str, Any]) -> str | None:
    """Why an objective's roll-up never counts in its parent's, whatever its key results
    (`learning`: not graded; `abandoned`: no longer pursued), or None."""
    if card["okr_type"] == OkrType.LEARNING:
        return "learning"
    if card["status"] == ObjectiveStatus.ABANDONED:
        return "abandoned"
    return None


def counts_in_parent(card: Mapping[str, Any]) -> bool:
    """Whether an objective's roll-up counts in its parent's: not learning, not abandoned."""
    return _not_counted(card) is None


def left_out(card: Mapping[str, Any]) -> str | None:
    """Why an objective aligned in its parent's cycle counts in no roll-up of its parent
    (`learning`, `abandoned`, `no key results` below it), or None when it counts with its
    roll-up (the cards must carry roll-ups): `counts_in_parent`'s reasons, and no roll-up."""
    return _not_counted(card) or ("no key results" if card.get("rollup") is None else None)


def children_of(cards: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Parent key → the keys of the cards aligned below it in its own cycle (in card order)."""
    by_key = {c["key"]: c for c in cards}
    children: dict[str, list[str]] = defaultdict(list)
    for c in cards:
        parent = by_key.get(c["parent"]) if c["parent"] is not None else None
        if parent is not None and c["parent"] != c["key"] \
                and parent.get("cycle") == c.get("cycle"):
            children[c["parent"]].append(c["key"])
    return children


def roll_up(cards: Sequence[Mapping[str, Any]],
            final: Collection[str] = frozenset()) -> dict[str, RollUp]:
    """Each objective's roll-up, keyed by objective. `cards` are scorecard cards (key,
    cycle, parent, okr_type, status, key_results with progress, expected and weight);
    children are the cards here whose parent is a card of their cycle. The roll-up's track
    is `final` for an objective of a cycle in `final` (over, or closed, at the cards' instant:
    scoring.final)."""
    by_key = {c["key"]: c for c in cards}
    children = children_of(cards)
    done: dict[str, tuple[float, float] | None] = {}

    def visit(top: str) -> None:
        # Depth first without recursion; an alignment cycle (refused when recorded) is cut
        # where it closes, so every objective is finished once.
        stack, on_path = [top], {top}
        while stack:
            key = stack[-1]
            waiting = [c for c in children[key] if c not in done and c not in on_path
                       and counts_in_parent(by_key[c])]
            if waiting:
                stack.extend(waiting)
                on_path.update(waiting)
                continue
            stack.pop()
            on_path.discard(key)
            if key in done:
                continue
            # Its key results' terms, then its children's, each sum in that order (as
            # scoring.objective_score sums the pairs).
            score, exp, total = scoring.weighted_sums(by_key[key]["key_results"])
            for c in children[key]:
                got = done.get(c)
                if got is not None and counts_in_parent(by_key[c]):
                    score += got[0] * CHILD_WEIGHT
                    exp += got[1] * CHILD_WEIGHT
                    total += CHILD_WEIGHT
            done[key] = None if total <= 0 else (score / total, exp / total)

    for c in cards:
        if c["key"] not in done:
            visit(c["key"])
    return {key: _rollup(got, by_key[key].get("cycle") in final) for key, got in done.items()}


def _rollup(got: tuple[float, float] | None, is_final: bool) -> RollUp:
    if got is None:
        return {"rollup": None, "rollup_expected": None, "rollup_track": None}
    return {"rollup": got[0], "rollup_expected": got[1],
            "rollup_track": scoring.status(got[0], got[1], is_final)}


def with_rollups(cards: list[dict[str, Any]],
                 final: Collection[str] = frozenset()) -> list[dict[str, Any]]:
    """The cards, each with its roll-up fields added (in place) — point in time as the cards
    are: the tree and the scores are those of the cards' instant, at which the cycles in
    `final` are over or closed (their tracks say `final`)."""
    rolled = roll_up(cards, final)
    for c in cards:
        c.update(rolled[c["key"]])
    return cards


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def team_summaries(cards: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per team (objectives without a team under ""): how many objectives and key results,
    the mean of its graded objectives' own scores and expectations (learning and abandoned
    objectives, and objectives without key results, left out), the track from those two
    (`final` when every one of those objectives' tracks is: their cycles are over or closed),
    and its key results by status (a key result whose cycle is over or closed counts in none
    of the tracks)."""
    teams: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for c in cards:
        teams[c["team"] or ""].append(c)
    out = []
    for team in sorted(teams):
        group = teams[team]
        scored = [c for c in group if counts_in_parent(c) and c["score"] is not None]
        score = _mean([c["score"] for c in scored])
        expected = _mean([c["expected"] for c in scored])
        krs = [kr for c in group for kr in c["key_results"]]
        out.append({"team": team, "objectives": len(group), "key_results": len(krs),
                    "scored_objectives": len(scored), "score": score, "expected": expected,
                    "track": None if score is None or expected is None
                    else scoring.status(score, expected,
                                        all(c["track"] == FINAL for c in scored)),
                    **{s.value: sum(1 for kr in krs if kr["status"] == s) for s in Status}})
    return out


def department_summaries(cards: Sequence[Mapping[str, Any]],
                         tree: Sequence[Mapping[str, Any]] | None = None
                         ) -> list[dict[str, Any]]:
    """The company- and department-level objectives with their roll-ups, and how many
    objectives and which teams their subtree holds — in their own cycle, as the roll-up
    counts them (the cards must carry roll-ups). `tree` (key, cycle, parent, team of every
    objective at the cards' instant) is the alignment a filtered scorecard's cards were rolled
    up over: a department's subtree is counted there, not among the cards shown."""
    by_key = {c["key"]: c for c in [*(tree or ()), *cards]}
    children = children_of(list(by_key.values()))
    out = []
    for c in sorted(cards, key=lambda c: (SUMMARY_LEVELS.index(c["level"])
                                          if c["level"] in SUMMARY_LEVELS else 9, c["key"])):
        if c["level"] not in SUMMARY_LEVELS:
            continue
        below, stack = set(), list(children[c["key"]])
        while stack:
            key = stack.pop()
            if key not in below and key != c["key"]:
                below.add(key)
                stack.extend(children[key])
        teams = sorted({by_key[k]["team"] for k in below | {c["key"]} if by_key[k]["team"]})
        out.append({"key": c["key"], "title": c["title"], "level": c["level"],
                    "team": c["team"], "owner": c["owner"], "cycle": c["cycle"],
                    "score": c["score"], "rollup": c["rollup"],
                    "rollup_expected": c["rollup_expected"], "rollup_track": c["rollup_track"],
                    "objectives_below": len(below), "teams": teams})
    return out


def summaries(cards: Sequence[Mapping[str, Any]],
              tree: Sequence[Mapping[str, Any]] | None = None
              ) -> dict[str, list[dict[str, Any]]]:
    """Team and department summaries of a scorecard whose cards carry roll-ups (`tree`: the
    whole alignment a filtered one was rolled up over, see `department_summaries`)."""
    return {"teams": team_summaries(cards), "departments": department_summaries(cards, tree)}
