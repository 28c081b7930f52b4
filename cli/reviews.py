"""The review of a cycle, from the facts the projection gives for it: `okr review`, `okr retro`
and the web's review page all build it here, so they say the same."""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from okr.cli.context import State

if TYPE_CHECKING:
    from okr.domain.history import Fact


def cycle_facts(st: State, cycle: str, as_of: datetime, known_at: datetime) -> "list[Fact]":
    """The facts a review of the cycle at (as_of, known_at) reads, from the projection."""
    from okr.cli.reads import open_projection

    with open_projection(st) as proj:
        return proj.review_facts(cycle, as_of, known_at)


def review_of(facts_of: "Callable[[str, datetime, datetime], list[Fact]]", cycle: str,
              as_of: datetime, known_at: datetime, also: "Sequence[datetime]" = ()
              ) -> dict[str, Any]:
    """The review of a cycle at (as_of, known_at) from the facts `facts_of(cycle key, as_of,
    known_at)` gives (the projection's review_facts); NotFound for a cycle unknown then. The
    web's review page reads it through here too, so both say the same."""
    return zoned_review(facts_of, cycle, as_of, known_at, also)[0]


def zoned_review(facts_of: "Callable[[str, datetime, datetime], list[Fact]]", cycle: str,
                 as_of: datetime, known_at: datetime, also: "Sequence[datetime]" = ()
                 ) -> tuple[dict[str, Any], str]:
    """`review_of`, and the zone the cycle was added in: the one its days are said in (as
    `okr list cycles` says them). The review itself, printed as JSON, keeps UTC instants."""
    from okr.collector import paused
    from okr.domain.errors import NotFound
    from okr.domain.periods import canonical_cycle_key
    from okr.domain.review import ReviewPoint, UnknownCycle, review

    key = canonical_cycle_key(cycle)
    facts = facts_of(key, as_of, known_at)  # (Projection.review_facts pauses the collector
    if not facts:                           # while it makes them, not while a read waits)
        raise NotFound(f"cycle {cycle!r} not found")
    try:
        with paused():
            said = review(facts, key, ReviewPoint(as_of, known_at), also)
    except UnknownCycle as exc:
        raise NotFound(str(exc)) from None
    return said, cycle_zone(facts, key)


def cycle_zone(facts: "Sequence[Fact]", cycle: str) -> str:
    """The organisation's zone recorded on the cycle when it was added (UTC for a cycle
    added before cycles recorded one)."""
    for f in facts:
        if f.type == "CycleAdded" and f.data.get("key") == cycle:
            return str(f.data.get("timezone") or "UTC")
    return "UTC"
