"""Field-level changes: each fact with the state of its item before and after it.

Used by the audit trail ("target 40 → 25 on 12 Aug by ana, reason …") and by reviews (which
revisions of a committed plan moved the goalposts).
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from okr.domain.events import MEASUREMENTS
from okr.domain.history import APPLY, Fact, World, position_of

# Bookkeeping a change listing should not show.
_HIDDEN = {"check_ins", "readings", "created_at", "plan_revision"}
_SINGULAR = {"cycles": "cycle", "objectives": "objective", "key_results": "key_result",
             "initiatives": "initiative", "kpis": "kpi", "users": "user"}


@dataclass(frozen=True)
class Change:
    """One fact and what it changed on its item."""

    fact: Fact
    kind: str
    key: str
    diff: dict[str, tuple[Any, Any]]  # field → (before, after)


def _copied(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a row whose lists and dicts (phases, tags, the latest check-in) are copies
    too: what `copy.deepcopy` gives for rows made of the facts' JSON data and datetimes
    (immutable, so shared), at a fraction of its cost (a review copies a row twice for
    each of a full-scale quarter's ~350 plan revisions)."""
    return {k: _copied_value(v) for k, v in row.items()}


def _copied_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copied_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copied_value(x) for x in v]
    return v


def _visible(row: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (row or {}).items() if k not in _HIDDEN}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)}


def changes(facts: Iterable[Fact], only: Callable[[Fact], bool] | None = None
            ) -> Iterator[tuple[World, Change]]:
    """Walk the facts in position order; yield the world *before* each fact and its change
    (for the facts `only` selects, default all).

    The world before a fact is everything recorded earlier, so at a revision it is the state
    the reviser saw (check-ins and readings are never effective later than recorded). Each
    item keeps only its latest check-in or reading (`latest_only`): a change never lists
    them, scoring reads only the latest, and copying a row stays cheap however long its
    history.
    """
    world = World(latest_only=True)
    for fact in sorted(facts, key=position_of):
        if only is None or only(fact):
            table, key = world.keys.get(fact.aggregate_id, ("", ""))
            before = _copied(_visible(world.table(table).get(key))) if table else {}
            yield world, _change(world, fact, before)
        APPLY[fact.type](world, fact)


def _change(world: World, fact: Fact, before: dict[str, Any]) -> Change:
    """The change a fact makes, computed on a scratch copy of its row."""
    if fact.type in MEASUREMENTS:
        table, key = world.keys[fact.aggregate_id]
        diff = {k: (None, v) for k, v in fact.data.items() if k not in _HIDDEN}
        diff["effective_at"] = (None, fact.effective_at)
        return Change(fact, _SINGULAR[table], key, diff)
    scratch = World(keys=dict(world.keys))
    if fact.aggregate_id in world.keys:
        table, key = world.keys[fact.aggregate_id]
        scratch.table(table)[key] = _copied(world.table(table)[key])
    APPLY[fact.type](scratch, fact)
    table, key = scratch.keys[fact.aggregate_id]
    after = _visible(scratch.table(table)[key])
    return Change(fact, _SINGULAR[table], key, _diff(before, after))


def trail_rows(facts: Iterable[Fact], wanted: Callable[[Fact], bool]) -> list[dict[str, Any]]:
    """The audit trail of the facts `wanted`, oldest first: when each was recorded and took
    effect, who recorded it and for whom, why, and the fields it changed (`okr audit trail`,
    the web's trail page and its API)."""
    return [{"position": c.fact.position, "recorded_at": c.fact.recorded_at,
             "effective_at": c.fact.effective_at, "actor": c.fact.actor,
             "on_behalf_of": c.fact.on_behalf_of, "event": c.fact.type, "kind": c.kind,
             "key": c.key, "reason": c.fact.reason,
             "changes": {k: {"before": b, "after": a} for k, (b, a) in c.diff.items()}}
            for _, c in changes(facts, wanted)]
