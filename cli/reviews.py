"""The review of a cycle, from the facts the projection gives for it: `okr review`, `okr retro`
and the web's review page all build it here, so they say the same."""

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    from okr.domain.errors import NotFound
    from okr.domain.periods import canonical_cycle_key
    from okr.domain.review import ReviewPoint, UnknownCycle, review

    key = canonical_cycle_key(cycle)
    with without_cycle_collection():
        facts = facts_of(key, as_of, known_at)
        if not facts:
            raise NotFound(f"cycle {cycle!r} not found")
        try:
            return review(facts, key, ReviewPoint(as_of, known_at), also)
        except UnknownCycle as exc:
            raise NotFound(str(exc)) from None


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cyclic garbage collector paused, then left as it was found. A full-scale
    review holds ~43,000 facts and makes some 10^6 small dicts and tuples, none in a cycle
    (reference counting frees them): the collector found nothing to free there and took
    ~0.2 s of the review's ~1.1 s, rescanning the facts at each full collection
    (docs/benchmarks.md, issue 20)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
