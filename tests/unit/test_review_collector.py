"""A review is built with Python's cyclic garbage collector paused (its ~10^6 short-lived
objects hold no cycles), and the collector is left as the review found it."""

import gc
from datetime import UTC, datetime

import pytest

from okr.cli.reviews import review_of
from okr.domain.errors import NotFound

NOW = datetime(2025, 11, 1, tzinfo=UTC)


def test_a_review_pauses_the_collector_while_it_reads_and_enables_it_again() -> None:
    seen: list[bool] = []

    def facts_of(cycle: str, as_of: datetime, known_at: datetime) -> list:
        seen.append(gc.isenabled())
        return []  # no such cycle: the review fails, and must still give the collector back

    assert gc.isenabled()
    with pytest.raises(NotFound):
        review_of(facts_of, "2025-Q4", NOW, NOW)
    assert seen == [False]
    assert gc.isenabled()


def test_a_review_leaves_a_paused_collector_paused() -> None:
    gc.disable()
    try:
        with pytest.raises(NotFound):
            review_of(lambda *_: [], "2025-Q4", NOW, NOW)
        assert not gc.isenabled()
    finally:
        gc.enable()
