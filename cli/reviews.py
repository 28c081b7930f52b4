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
    from okr.cli.answers import CycleNotFound
    from okr.collector import paused
    from okr.domain.periods import canonical_cycle_key
    from okr.domain.review import ReviewPoint, UnknownCycle, review

    key = canonical_cycle_key(cycle)
    facts = facts_of(key, as_of, known_at)  # (Projection.review_facts pauses the collector
    if not facts:                           # while it makes them, not while a read waits)
        raise CycleNotFound(key, listed=False)
    try:
        with paused():
            said = review(facts, key, ReviewPoint(as_of, known_at), also)
    except UnknownCycle:  # known then, but not in force as of then: not in that view either
        raise CycleNotFound(key, listed=False) from None
    return said, cycle_zone(facts, key)


def compare(data: dict[str, Any], earlier: "Callable[[], dict[str, Any]]",
            compared_at: datetime) -> None:
    """Add to the review `data` what was restated since `compared_at`: the differences from
    `earlier()`, the same review as known then. A cycle not yet known then is compared with
    nothing — every item of it became known since — rather than refusing the whole review
    (`compared_cycle_known` says which)."""
    from okr.domain.errors import NotFound
    from okr.domain.review import restatements

    try:
        before, known = earlier(), True
    except NotFound:
        before, known = {"objectives": []}, False
    data["restatements"] = restatements(before, data)
    data["compared_known_at"] = compared_at
    data["compared_cycle_known"] = known


def cycle_zone(facts: "Sequence[Fact]", cycle: str) -> str:
    """The organisation's zone recorded on the cycle when it was added (UTC for a cycle
    added before cycles recorded one)."""
    for f in facts:
        if f.type == "CycleAdded" and f.data.get("key") == cycle:
            return str(f.data.get("timezone") or "UTC")
    return "UTC"
